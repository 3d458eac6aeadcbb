"""Decision latency and heap of the firmware core, on CPython and MicroPython (WASM).

Run: .venv/bin/python bench/bench_core.py [--n 300]

The MicroPython run loads the firmware as .mpy bytecode (as an ESP32 deploy does) in
a GC heap capped at --heap-kb (default 110 KB, an ESP32 without PSRAM).
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

# Runs unchanged on both runtimes; `clock_us` is injected. Split into a setup, a heap
# step and one step per iteration: the WASM port's GC only frees memory between calls
# from JS, so a long loop in one call would measure an ever-growing heap.
IMPORTS = r"""
import binascii, gc, hashlib, math
from protocols import crypto, permit
from firmware.core.controller import LockController
"""
SETUP = r"""
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
holders = [(h + 1, ("04%012X" % (0xA1B2C3D4E5 + h),), (h + 1,)) for h in range(10)]
zones = [(False, [ring(162700000, -400000, 300000, 50)]),
         (False, [ring(163400000, -400000, 300000, 50)]),
         (True, [ring(162700000, -100000, 20000, 50)])]
T0 = 1800000000
pub = binascii.unhexlify(AUTH_PUB)
body = permit.body(dict(kind=1, device_id=dev, serial=1, not_before=T0,
                        not_after=T0 + 86400, fail_enabled=False, max_unlock_s=600,
                        rule_mode=1, factor_mask=3, k=2, window_s=30, holders=holders,
                        zones=zones), permit.key_id(pub))
tok = body + binascii.unhexlify(AUTH_SIG)  # signed by the host (a device never signs)
del holders, zones, body
cred = "04%012X" % (0xA1B2C3D4E5 + 6)
dec, fixes, base, ticks = [], [], [], []
t = 1000
"""
BUILD = r"""
gc.collect()
before = gc.mem_alloc() if hasattr(gc, "mem_alloc") else 0
c = LockController(dev, key, None, (pub,))
c.handle(("boot", None, "power_on"), 0, T0)
"""
LOAD = r"""
c.handle(("permit", tok), 1, T0)
"""
HEAP = r"""
gc.collect()
heap = (gc.mem_alloc() - before) if hasattr(gc, "mem_alloc") else 0
"""
# What a port short of heap may do after boot and the permit load (measured, not done by
# the core): drop the rare-path module firmware/core/admin.py (and recovery.py).
DROP = r"""
import sys
import firmware.core as _fc
for _m in ("admin", "recovery"):
    sys.modules.pop("firmware.core." + _m, None)
    if _m in _fc.__dict__:
        delattr(_fc, _m)
del _fc, _m
"""
DROPPED = r"""
gc.collect()
dropped = gc.mem_alloc() - before
"""
STEP = r"""
for _ in range(BATCH):
    r = T0 + t // 1000
    t0 = clock_us(); c.handle(("fix", 162700000 + t // 1000, -400000, 4, None), t, r)
    fixes.append(clock_us() - t0)
    c.handle(("rfid", cred, 1500, True), t + 100, r)
    t0 = clock_us()
    c.handle(("finger", 7, 150), t + 200, r)
    t1 = clock_us()
    acts = c.handle(("tick",), t + 450, r)
    t2 = clock_us()
    dec.append(t2 - t0)
    ticks.append(t2 - t1)
    assert ("actuate", False, "authorised") in acts, acts
    c.handle(("grip", True), t + 500, r)
    c.handle(("grip", False), t + 600, r)
    t0 = clock_us(); hashlib.sha256(b"x" * 64).digest(); base.append(clock_us() - t0)
    t += 1000
if EMIT:
    print(json.dumps([dec.pop(), fixes.pop(), base.pop(), ticks.pop()]))
"""
REPORT = r"""
print("RESULT", json.dumps({"dec": dec, "fix": fixes, "base": base, "heap": heap}))
"""
# MicroPython's ticks_us only ticks in whole ms in the WASM build: use JS performance.now.
MP_PRELUDE = ("import json, js\nclock_us = lambda: js.performance.now() * 1000\nBATCH = %d\n"
              "EMIT = True\n")
BATCH = 1


def _signed_setup() -> str:
    """SETUP with the authority's public key and the signature of its token body, made
    here with `cryptography` (the body encodes to the same bytes on both runtimes)."""
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from armlock.authority.signer import from_seed
    auth = from_seed(b"bench authority")
    env: dict = {"AUTH_PUB": auth.public.hex(), "AUTH_SIG": "00" * 64}
    exec(IMPORTS + SETUP, env)
    sig = auth.sign(env["tok"][:-64])
    return "AUTH_PUB = %r\nAUTH_SIG = %r\n" % (auth.public.hex(), sig.hex()) + SETUP


def _stats(xs: list[float]) -> tuple[float, float]:
    xs = sorted(xs)
    return statistics.median(xs), xs[min(len(xs) - 1, math.ceil(0.99 * len(xs)) - 1)]


def run_cpython(n: int) -> dict:
    env = {"clock_us": lambda: time.perf_counter_ns() / 1000, "BATCH": BATCH, "json": json,
           "EMIT": False}
    out: list[str] = []
    env["print"] = lambda *a: out.append(" ".join(map(str, a)))
    for code in [IMPORTS, _signed_setup(), BUILD, LOAD, HEAP] + [STEP] * (n // BATCH) + [REPORT]:
        exec(code, env)
    return json.loads(out[-1].split(" ", 1)[1])


def run_micropython(n: int, heap_kb: int) -> dict:
    """Run in the WASM VM with the code loaded from .mpy files, as on an ESP32."""
    import tempfile
    from pathlib import Path

    from hardware.micropython import MicroPythonVM, compiled_root

    with tempfile.TemporaryDirectory() as tmp, \
            MicroPythonVM(heap_kb=heap_kb, timeout=300, root=compiled_root(Path(tmp)),
                          grow=True) as vm:
        # grow: boot (comb tables) and the permit's signature check make garbage that this
        # WASM VM can only collect between calls (an ESP32 collects it as it goes); the
        # heap printed is what stays live after gc.collect, the figure a device keeps.
        vm.exec(MP_PRELUDE % BATCH + IMPORTS)
        imports = int(vm.exec("gc.collect()\nprint(gc.mem_alloc())"))
        for code in [_signed_setup(), BUILD, LOAD, HEAP, DROP, DROPPED]:
            vm.exec(code)
        rows = [json.loads(vm.exec(STEP)) for _ in range(n // BATCH)]
        heap = int(vm.exec("print(heap)"))
        dropped = int(vm.exec("print(dropped)"))
    cols = list(zip(*rows, strict=True))
    return {"dec": cols[0], "fix": cols[1], "base": cols[2], "heap": heap, "imports": imports,
            "dropped": dropped}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--heap-kb", type=int, default=110)
    args = ap.parse_args()
    rows = [("CPython", run_cpython(args.n)), ("MicroPython WASM", run_micropython(
        args.n, args.heap_kb))]
    print(f"{'runtime':18} {'decision med/p99 us':>22} {'fix+geofence med/p99 us':>26} "
          f"{'sha256 base us':>15} {'ratio':>7} {'heap KB':>8} {'dropped':>8} {'code KB':>8}")
    for name, r in rows:
        dm, dp = _stats(r["dec"])
        fm, fp = _stats(r["fix"])
        bm, _ = _stats(r["base"])
        heap = f"{r['heap'] / 1024:.1f}" if r["heap"] else "-"
        code = f"{r['imports'] / 1024:.1f}" if r.get("imports") else "-"
        drop = f"{r['dropped'] / 1024:.1f}" if r.get("dropped") else "-"
        print(f"{name:18} {dm:10.1f} /{dp:9.1f} {fm:12.1f} /{fp:11.1f} {bm:15.1f} "
              f"{dm / bm if bm else float('nan'):7.1f} {heap:>8} {drop:>8} {code:>8}")
    print("heap = controller + loaded permit (gc.mem_alloc delta), with the modules boot and "
          "the permit load imported (firmware/core/admin.py); dropped = the same once a port "
          "drops those from sys.modules; code = core and protocol modules imported from .mpy")
    print("targets: MicroPython median decision <= 500 us; heap <= 24 KB")


if __name__ == "__main__":
    main()
