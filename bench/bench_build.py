"""Build figures: size of the deploy folder per board, and the heap the whole ESP32 app
holds after boot with a realistic permit loaded, measured under the real MicroPython VM
(WebAssembly, under Node) with the GC heap capped at an ESP32's 110 KB.

    .venv/bin/python bench/bench_build.py [--heap 110k] [--boards esp32-devkitc,...]

The app is firmware/ports/esp32/loop.start(): board.json peripherals built through a
minimal stand-in `machine` (pins, UARTs that answer like an idle R503 and a silent GNSS,
an SPI bus with no MFRC522 on it, ADC), the Device on a FileStore, the lock core, then a
LOAD_PERMIT frame (two holders, the depot zone from examples/zones) and a GNSS fix, then
a few passes of every loop task. Not included: the BLE service (no `bluetooth` in the
WASM VM; NimBLE's own memory is outside the MicroPython heap anyway) and the RFID
reader object a live MFRC522 would add (a few hundred bytes). Target: <= 48 KB.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hardware import build as B  # noqa: E402
from hardware.geojson import load_zones  # noqa: E402
from hardware.micropython import MicroPythonError, node_available, run  # noqa: E402
from protocols import crypto, permit  # noqa: E402
from protocols import messages as M  # noqa: E402

STAND_IN = ROOT / "tests" / "fakes" / "mp_esp32_stand_in.py"
DEV_ID = "AL-DEV-0001"           # the dev identity loop.identity() uses unprovisioned
DEV_KEY = crypto.device_key(bytes(range(32)), DEV_ID)
TARGET = 48 * 1024

PROGRAM = r'''
import gc, json, time, binascii
CFG = json.loads(CFG_JSON)
SENSE = CFG["actuator"]["sense"]
app = None
CODE = [0]

MODULES = ("protocols.crypto", "protocols.frame", "protocols.messages", "protocols.audit",
           "protocols.permit", "firmware.core.controller", "firmware.app.store",
           "firmware.app.device", "firmware.drivers.nmea", "firmware.drivers.r503",
           "firmware.drivers.mfrc522", "firmware.drivers.ntag424",
           "firmware.drivers.actuator", "firmware.drivers.tamper",
           "firmware.drivers.battery", "firmware.ports.esp32.board",
           "firmware.ports.esp32.nvs", "firmware.ports.esp32.resetcause",
           "firmware.ports.esp32.loop")
PER = []

def steps():
    global app
    gc.collect()
    last = gc.mem_alloc()
    for name in MODULES:
        __import__(name)
        yield
        gc.collect()
        now = gc.mem_alloc()
        PER.append((name, now - last))
        last = now
    from firmware.ports.esp32 import loop
    gc.collect()
    CODE[0] = gc.mem_alloc()
    io = IO()
    try:
        import os
        os.mkdir("/data")
    except OSError:
        pass
    app = loop.start(build, machine, time, None, io=io, cfg=CFG, store_root="/data",
                     ble=False)
    yield
    io.inq.append(binascii.unhexlify(PERMIT_FRAME))
    app.serial_step()
    yield
    for ev in (("fix", 523150000, 130120000, 5, time.time()), ("battery", 3900)):
        app.broadcast(app.device.local_event(ev, app.clock.mono(), app.clock.rtc()))
    yield
    for i in range(5):
        app.serial_step(); app.drivers_step(); app.ticker_step(); app.watchdog_step()
        yield
    gc.collect()
    st = app.device.status(app.clock.mono(), app.clock.rtc())
    print(json.dumps({"alloc": gc.mem_alloc(), "free": gc.mem_free(), "code": CODE[0], "per": PER,
                      "permit": st["permit"] is not None, "out": len(io.out),
                      "faults": sorted(app.hw.faulty)}))

__steps__ = steps()
'''


def permit_frame() -> bytes:
    zones = load_zones(ROOT / "examples" / "zones" / "depot.geojson")
    now = int(time.time())
    token = permit.encode(dict(
        kind=permit.KIND_PERMIT, version=1, device_id=DEV_ID, serial=1,
        not_before=now - 3600, not_after=now + 8 * 3600, fail_enabled=False,
        max_unlock_s=600, rule_mode=permit.MODE_ALL, factor_mask=3, k=2, window_s=30,
        holders=[(1, ("04A1B2C3D4E5F6",), (3,)), (2, ("04112233445566",), (7,))],
        zones=zones), DEV_KEY)
    return M.encode_msg(M.LOAD_PERMIT, 1, {"token": token})


def heap_after_boot(board: str, heap_kb: int) -> dict[str, object]:
    cfg = json.loads((ROOT / "hardware" / "boards" / f"{board}.json").read_text())
    prog = (f"CFG_JSON = {json.dumps(json.dumps(cfg))}\n"
            f"PERMIT_FRAME = {permit_frame().hex()!r}\n" + STAND_IN.read_text() + PROGRAM)
    out = run(prog, heap_kb=heap_kb, timeout=120)
    return json.loads(out.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--heap", default="110k", help="the ESP32's GC heap (default 110k)")
    ap.add_argument("--boards", default="esp32-devkitc,esp32-s3-devkitc-1")
    a = ap.parse_args()
    heap_kb = int(a.heap.lower().rstrip("k"))
    boards = [b for b in a.boards.split(",") if b]
    print("deploy folder (armlock build, dev mode):")
    print(f"  {'board':22} {'files':>5} {'.mpy bytes':>10} {'.py bytes':>9} {'total':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for b in boards:
            t0 = time.perf_counter()
            m = B.build(b, "dev", Path(tmp) / b)
            dt = time.perf_counter() - t0
            py = sum(f["bytes"] for n, f in m["files"].items() if n.endswith(".py"))
            print(f"  {b:22} {len(m['files']):>5} {m['mpy_bytes']:>10,} {py:>9,} "
                  f"{m['total_bytes']:>8,}   (built in {dt:.1f} s)")
    if not node_available():
        print("heap after boot: skipped (Node / MicroPython WASM not installed)")
        return 0
    print("heap after boot + permit + fix + 5 loop passes (MicroPython 1.27 WASM; measured "
          "with a 512 KB heap so that it completes, compared with the ESP32's "
          f"{heap_kb} KB):")
    for b in boards:
        try:
            r = heap_after_boot(b, 512)
        except MicroPythonError as exc:
            print(f"  {b:22} FAILED: {exc}")
            continue
        code, alloc = int(r["code"]), int(r["alloc"])  # type: ignore[call-overload]
        state = alloc - code
        print(f"  {b}: {alloc:,} B in use = {code:,} B modules (code, qstrs, module "
              f"objects) + {state:,} B app state; permit loaded: {r['permit']}; "
              f"faults: {','.join(r['faults']) or 'none'}")  # type: ignore[arg-type]
        fits = "fits" if alloc <= heap_kb * 1024 else "does NOT fit"
        psram = json.loads((ROOT / "hardware" / "boards" / f"{b}.json").read_text()).get(
            "psram", False)
        where = ("fits: this module has PSRAM (a heap of megabytes)" if psram
                 else f"{fits} a {heap_kb} KB heap (no PSRAM)")
        print(f"    modules loaded from the filesystem (.mpy): {where}; "
              f"{'within' if alloc <= TARGET else 'over'} the {TARGET // 1024} KB target")
        print(f"    modules frozen into the image (code in flash): app state {state:,} B "
              f"+ module objects, {'within' if state <= TARGET else 'over'} the target")
    print("  heap by module (imported in this order, after gc.collect()):")
    for name, d in r["per"]:  # type: ignore[union-attr]
        print(f"    {name:34} {d:>7,} B")
    return 0


if __name__ == "__main__":
    sys.exit(main())
