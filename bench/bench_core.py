"""Decision latency and heap of the firmware core, on CPython and MicroPython (WASM).

Run: .venv/bin/python bench/bench_core.py [--n 300]

A realistic permit: 10 holders (RFID + fingerprint), 3 allowed/forbidden zones of 50
vertices. One decision = the credential that completes the factor rule plus the tick at
its answer deadline that opens the lock. Printed as median and p99 with a baseline (one
SHA-256 of 64 bytes) measured in the same process, and heap after building the
controller and loading the permit (gc.mem_alloc, MicroPython only).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time

# Runs unchanged on both runtimes; `clock_us` is injected.
BODY = r'''
import gc, hashlib, math
from protocols import crypto, permit
from firmware.core.controller import LockController

def ring(clat, clon, r, n):
    pts = []
    for i in range(n):
        a = 6.283185307179586 * i / n
        rr = r if i % 2 == 0 else r * 8 // 10
        pts.append((clat + int(rr * math.sin(a)), clon + int(rr * math.cos(a))))
    return pts

master = bytes(range(32))
dev = "AL-BENCH"
key = crypto.device_key(master, dev)
holders = []
for h in range(10):
    holders.append((h + 1, ("04%012X" % (0xA1B2C3D4E5 + h),), (h + 1,)))
zones = [(False, [ring(162700000, -400000, 300000, 50)]),
         (False, [ring(163400000, -400000, 300000, 50)]),
         (True, [ring(162700000, -100000, 20000, 50)])]
T0 = 1800000000
fields = dict(kind=1, version=1, device_id=dev, serial=1, not_before=T0, not_after=T0 + 86400,
              fail_enabled=False, max_unlock_s=600, rule_mode=1, factor_mask=3, k=2,
              window_s=30, holders=holders, zones=zones)
tok = permit.encode(fields, key)
del fields, holders, zones
gc.collect()
before = gc.mem_alloc() if hasattr(gc, "mem_alloc") else 0
c = LockController(dev, key)
c.handle(("boot", None, "power_on"), 0, T0)
c.handle(("permit", tok), 1, T0)
gc.collect()
heap = (gc.mem_alloc() - before) if hasattr(gc, "mem_alloc") else 0
dec, fixes, base = [], [], []
t = 1000
cred = "04%012X" % (0xA1B2C3D4E5 + 6)
for i in range(N):
    t0 = clock_us(); c.handle(("fix", 162700000 + i, -400000, 4, None), t, T0 + t // 1000)
    fixes.append(clock_us() - t0)
    c.handle(("rfid", cred, 1500, True), t + 100, T0 + t // 1000)
    t0 = clock_us()
    acts = c.handle(("finger", 7, 150), t + 200, T0 + t // 1000)
    acts2 = c.handle(("tick",), t + 450, T0 + t // 1000)
    dec.append(clock_us() - t0)
    assert ("actuate", False) in acts2, acts2
    c.handle(("grip", True), t + 500, T0 + t // 1000)
    c.handle(("grip", False), t + 600, T0 + t // 1000)
    t0 = clock_us(); hashlib.sha256(b"x" * 64).digest(); base.append(clock_us() - t0)
    t += 1000
print("RESULT", json.dumps({"dec": dec, "fix": fixes, "base": base, "heap": heap}))
'''

MP_PRELUDE = "import time, json\nclock_us = time.ticks_us\nN = %d\n"


def _stats(xs: list[float]) -> tuple[float, float]:
    xs = sorted(xs)
    return statistics.median(xs), xs[min(len(xs) - 1, math.ceil(0.99 * len(xs)) - 1)]


def run_cpython(n: int) -> dict:
    out: list[str] = []
    env = {"clock_us": lambda: time.perf_counter_ns() / 1000, "N": n, "json": json,
           "print": lambda *a: out.append(" ".join(map(str, a)))}
    exec(BODY, env)
    return json.loads(out[-1].split(" ", 1)[1])


def run_micropython(n: int, heap_kb: int) -> dict:
    from hardware.micropython import run as mp_run

    text = mp_run(MP_PRELUDE % n + BODY, heap_kb=heap_kb)
    line = [x for x in text.splitlines() if x.startswith("RESULT ")][-1]
    return json.loads(line.split(" ", 1)[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--heap-kb", type=int, default=110)
    args = ap.parse_args()
    rows = [("CPython", run_cpython(args.n)), ("MicroPython WASM", run_micropython(
        args.n, args.heap_kb))]
    print(f"{'runtime':18} {'decision med/p99 us':>22} {'fix+geofence med/p99 us':>26} "
          f"{'sha256 base us':>15} {'ratio':>7} {'heap KB':>8}")
    for name, r in rows:
        dm, dp = _stats(r["dec"])
        fm, fp = _stats(r["fix"])
        bm, _ = _stats(r["base"])
        heap = f"{r['heap'] / 1024:.1f}" if r["heap"] else "-"
        print(f"{name:18} {dm:10.1f} /{dp:9.1f} {fm:12.1f} /{fp:11.1f} {bm:15.1f} "
              f"{dm / bm if bm else float('nan'):7.1f} {heap:>8}")
    print("targets: MicroPython median decision <= 500 us; heap <= 24 KB")


if __name__ == "__main__":
    main()
