"""Wire protocol figures: encode+decode time of a status-sized frame on CPython and on
MicroPython (WASM under Node), heap allocated per round trip, time on a 115200-baud wire,
and how often random noise passes the frame and message checks.

    .venv/bin/python bench/bench_wire.py [--n 2000] [--noise-chunks 100000]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._stats import pct  # noqa: E402
from hardware.micropython import (  # noqa: E402
    MicroPythonError,
    MicroPythonVM,
    compiled_root,
    heap_used,
    node_available,
)
from protocols import frame  # noqa: E402
from protocols import messages as m  # noqa: E402

BAUD = 115200
BITS_PER_BYTE = 10  # 8N1: start + 8 data + stop

STATUS = {
    "locked": False, "reasons": [],
    "permit": {"serial": 1042, "not_before": 1767225600, "not_after": 1767830400,
               "holders": ["04a1b2c3d4", "finger:3"], "zones": ["range-A"],
               "fail_profile": "fail-secure"},
    "lockout": {"failures": 0, "until": 0},
    "tamper": {"latched": False, "source": None},
    "battery_mv": 3912,
    "last_fix": {"lat_e7": 487654321, "lon_e7": -1223456789, "hacc_m": 4, "utc_s": 1767300000},
    "last_counter": 41,
}

# Runs unchanged on CPython and MicroPython: timings in microseconds per round trip.
LOOP = r'''
import gc
import time
from protocols import frame
from protocols import messages as m

try:
    import js  # MicroPython WASM: performance.now() from Node (ticks_us is ms-coarse)

    def _us():
        return js.performance.now() * 1000.0
except ImportError:
    def _us():
        return time.perf_counter_ns() / 1000.0


def _diff(a, b):
    return a - b


DEC = frame.Decoder()  # one per link, as on a device


def round_trip(fields, key):
    wire = m.encode_msg(m.STATUS_REPLY, 7, fields)
    item = DEC.feed(wire)[0]
    m.decode_msg(item)
    return wire


def sealed_trip(key, counter):
    wire = m.encode_msg(m.STIMULUS, 9, {"kind": "grip", "held": True}, key, counter)
    m.decode_msg(DEC.feed(wire)[0], key, counter - 1)


def frame_trip(payload):
    DEC.feed(frame.encode(0x82, 7, payload))


def timed(fn, n):
    gc.collect()
    out = []
    for i in range(n):
        t0 = _us()
        fn(i)
        out.append(_diff(_us(), t0))
    return out


def heap_bytes(fn):
    try:
        gc.collect()
        gc.disable()
        a0 = gc.mem_alloc()
        fn(0)
        a1 = gc.mem_alloc()
        gc.enable()
        return a1 - a0
    except AttributeError:
        return None


def run(fields, n):
    key = bytes(range(32))
    wire = round_trip(fields, key)
    payload = m.encode_payload(m.STATUS_REPLY, fields)
    rt = lambda i: round_trip(fields, key)
    fr = lambda i: frame_trip(payload)
    se = lambda i: sealed_trip(key, i + 1)
    nop = sorted(timed(lambda i: None, n))[n // 2]
    return {"wire_bytes": len(wire), "payload_bytes": len(payload), "timer_us": nop,
            "status_us": timed(rt, n), "frame_us": timed(fr, n), "sealed_us": timed(se, n),
            "status_heap": heap_bytes(rt), "frame_heap": heap_bytes(fr),
            "sealed_heap": heap_bytes(se)}
'''

def run_cpython(n: int) -> dict:
    ns: dict = {}
    exec(compile(LOOP, "wire_loop", "exec"), ns)
    return ns["run"](STATUS, n)


def run_micropython(n: int) -> dict | None:
    """Timings in the WASM VM from .py sources, and the heap kept by importing the wire
    modules from .py and from .mpy (mpy-cross). The timed loops run in one call, in
    which this WASM build collects no garbage, so the GC heap starts at 8 MB and may grow."""
    if not node_available():
        return None
    imports = "from protocols import frame, messages"
    try:
        with MicroPythonVM(heap_kb=8 * 1024, grow=True, timeout=600, only=["protocols"]) as vm:
            vm.exec(LOOP, name="wire_loop")
            vm.set_global("fields", STATUS)
            out = vm.eval_json("run(fields, %d)" % n)
        out["import_heap"] = heap_used(imports, heap_kb=1024)
        with tempfile.TemporaryDirectory() as tmp:
            out["import_heap_mpy"] = heap_used(imports, heap_kb=1024,
                                               root=compiled_root(Path(tmp)))
    except (MicroPythonError, TimeoutError) as exc:
        print("MicroPython run failed:", str(exc.args[0])[-2000:], file=sys.stderr)
        return None
    return out


def noise_pass_rate(chunks: int, seed: int = 1) -> dict:
    """Random byte chunks between 0x00s: how many pass the frame checks, then the message."""
    rng = random.Random(seed)
    d = frame.Decoder()
    frames = messages = 0
    for _ in range(chunks):
        size = rng.randrange(1, 120)
        chunk = bytes(rng.randrange(1, 256) for _ in range(size))
        for item in d.feed(chunk + b"\x00"):
            if isinstance(item, tuple):
                frames += 1
                try:
                    m.decode_msg(item)
                    messages += 1
                except (m.MessageError, frame.FrameError):
                    pass
    return {"chunks": chunks, "frames_passed": frames, "messages_passed": messages}


def report(name: str, r: dict) -> None:
    """Print median/p99 per operation, with the timer's own cost (timer_us) subtracted."""
    t = r["timer_us"]
    print(f"  {name:12} timer overhead {t:.1f} us per sample (subtracted below)")
    for key, label in (("status_us", "STATUS_REPLY encode+frame+decode"),
                       ("frame_us", "frame only (encode+Decoder, same payload)"),
                       ("sealed_us", "sealed STIMULUS (HMAC) encode+decode")):
        xs = [x - t for x in r[key]]
        print(f"  {name:12} {label:44} median {statistics.median(xs):8.1f} us"
              f"   p99 {pct(xs, 99):8.1f} us   (n={len(xs)})")
    if r.get("import_heap") is not None:
        print(f"  {name:12} heap kept after importing frame+messages(+crypto): "
              f"{r['import_heap']} bytes from .py, {r.get('import_heap_mpy')} bytes from .mpy")
    for key in ("status_heap", "frame_heap", "sealed_heap"):
        if r.get(key) is not None:
            print(f"  {name:12} heap allocated per round trip ({key[:-5]}): {r[key]} bytes")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="round trips per measurement")
    ap.add_argument("--noise-chunks", type=int, default=100_000)
    a = ap.parse_args()
    cp = run_cpython(a.n)
    t0 = time.perf_counter()
    mp = run_micropython(a.n)
    mp_wall = time.perf_counter() - t0
    wire = cp["wire_bytes"]
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cpus (timings share it)")
    print(f"status-sized frame: STATUS_REPLY with permit summary and fix, payload "
          f"{cp['payload_bytes']} B, {wire} B on the wire (COBS + delimiters)")
    print(f"  on a {BAUD}-baud 8N1 wire: {wire * BITS_PER_BYTE / BAUD * 1e3:.2f} ms"
          f" ({wire} B x {BITS_PER_BYTE} bits)")
    report("CPython", cp)
    if mp is None:
        print("  MicroPython WASM: not available (node / package missing)")
    else:
        report("MicroPy WASM", mp)
        print(f"  (MicroPython run incl. VM start: {mp_wall:.1f} s)")
    if a.noise_chunks:
        nz = noise_pass_rate(a.noise_chunks)
        print(f"noise: {nz['chunks']} random chunks (1-119 B) between 0x00s -> "
              f"{nz['frames_passed']} passed COBS+CRC, {nz['messages_passed']} passed the "
              f"message schema")


if __name__ == "__main__":
    main()
