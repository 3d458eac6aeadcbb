"""Build figures: size of the deploy folder per board, and the heap the whole ESP32 app
holds after boot with a realistic permit loaded, measured on what is deployed: the
`armlock build` folder's .mpy files, loaded by the real MicroPython VM (1.27, WebAssembly
under Node, 32-bit: the object layout of an ESP32) with that folder as its root.

    .venv/bin/python bench/bench_build.py [--boards esp32-devkitc,...] [--no-min-heap]

The app is firmware/ports/esp32/loop.start(): board.json peripherals built through a
minimal stand-in `machine` (pins, UARTs that answer like an idle R503 and a silent GNSS,
an SPI bus with no MFRC522 on it, ADC), the Device on a FileStore, the lock core, then a
LOAD_PERMIT frame (two holders, the depot zone from examples/zones) and a GNSS fix, then
a few passes of every loop task. Figures:

- whole app: gc.mem_alloc() after all that, after gc.collect(); split into the modules
  (everything the app imported: bytecode, qstrs, module objects) and the app state;
- per module: the heap each module the app imported adds, imported leaves first (so a
  figure is the module itself, not its imports), after gc.collect();
- smallest heap: the smallest GC heap (4 KB steps) in which the whole run completes
  (the VM's heap is capped; garbage is collected between loop passes, as on a device);
- the same app from the .py sources, for comparison (what this bench measured before).

Not included: the BLE service (no `bluetooth` in the WASM VM; NimBLE's own memory is
outside the MicroPython heap, but the NusService object and its buffers are not) and
the RFID reader object a live MFRC522 would add (a few hundred bytes). Goal (issue 12):
the .mpy deploy in at most 90 KB on a stock ESP32_GENERIC image.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from armlock.authority.cards import wrap_holders  # noqa: E402
from armlock.authority.signer import dev_signer  # noqa: E402
from armlock.authority.zones import load_zones  # noqa: E402
from firmware.app.identity import DEV_DEVICE_ID, DEV_MASTER  # noqa: E402
from hardware import build as B  # noqa: E402
from hardware.micropython import MicroPythonError, MicroPythonVM, node_available  # noqa: E402
from protocols import messages as M  # noqa: E402
from protocols import permit  # noqa: E402

STAND_IN = ROOT / "tests" / "fakes" / "mp_esp32_stand_in.py"
DEV_ID = DEV_DEVICE_ID           # the dev identity loop.identity() uses unprovisioned
GOAL = 90 * 1024                 # issue 12: .mpy deploy, stock ESP32_GENERIC image
STOCK_HEAP = 112 * 1024          # stock image: 56 KB heap, grown once to about 112 KB

PROGRAM = r"""
import gc, json, sys, time, binascii
CFG = json.loads(CFG_JSON)
SENSE = CFG["actuator"]["sense"]
MODULES = json.loads(MODULES_JSON)
app = None
CODE = [0]
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
    mods = sorted(k for k in sys.modules if k.startswith(("firmware", "protocols")))
    print(json.dumps({"alloc": gc.mem_alloc(), "code": CODE[0], "per": PER,
                      "modules": mods, "permit": st["permit"] is not None,
                      "out": len(io.out), "faults": sorted(app.hw.faulty)}))

__steps__ = steps()
"""


def permit_frame() -> bytes:
    zones = load_zones(ROOT / "examples" / "zones" / "depot.geojson")
    now = int(time.time())
    token = permit.encode(dict(
        kind=permit.KIND_PERMIT, device_id=DEV_ID, serial=1,
        not_before=now - 3600, not_after=now + 8 * 3600, fail_enabled=False,
        max_unlock_s=600, rule_mode=permit.MODE_ALL, factor_mask=3, k=2, window_s=30,
        holders=wrap_holders(DEV_MASTER, DEV_ID, [(1, ("04A1B2C3D4E5F6",), (3,)),
                                                  (2, ("04112233445566",), (7,))]),
        zones=zones), dev_signer())
    return M.encode_msg(M.LOAD_PERMIT, 1, {"token": token})


def program(board: str, modules: list[str]) -> str:
    """The bench program for one board: stand-ins, then PROGRAM importing `modules` first."""
    cfg = json.loads((ROOT / "hardware" / "boards" / f"{board}.json").read_text())
    return (f"CFG_JSON = {json.dumps(json.dumps(cfg))}\n"
            f"MODULES_JSON = {json.dumps(json.dumps(modules))}\n"
            f"PERMIT_FRAME = {permit_frame().hex()!r}\n" + STAND_IN.read_text() + PROGRAM)


def run_app(prog: str, root: Path, heap_kb: int) -> dict[str, object]:
    """Run the bench program in a fresh VM whose files come from `root` (a build folder:
    its .mpy files; the repo: the .py sources) with the GC heap capped at heap_kb."""
    with MicroPythonVM(heap_kb=heap_kb, root=root, timeout=120) as vm:
        out = vm.exec(prog, name="<bench_build>")
    return json.loads(out.strip().splitlines()[-1])


def _source(module: str) -> Path | None:
    base = ROOT / module.replace(".", "/")
    for p in (base.with_suffix(".py"), base / "__init__.py"):
        if p.is_file():
            return p
    return None


def leaves_first(modules: list[str]) -> list[str]:
    """`modules` ordered so that every module comes after the ones it imports (from the
    sources' import statements; a cycle is broken where it is found)."""
    known = set(modules)
    deps: dict[str, list[str]] = {}
    for mod in modules:
        src = _source(mod)
        found: list[str] = []
        tree = ast.parse(src.read_text()) if src else ast.Module(body=[], type_ignores=[])
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found += [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        deps[mod] = sorted({d for d in found if d in known and d != mod})
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(mod: str) -> None:
        if state.get(mod):
            return
        state[mod] = 1
        for d in deps[mod]:
            visit(d)
        state[mod] = 2
        order.append(mod)
    for mod in sorted(modules):
        visit(mod)
    return order


def smallest_heap_kb(prog: str, root: Path, lo: int = 32, hi: int = 512,
                     step: int = 4) -> int | None:
    """Smallest heap (a multiple of `step` KB in lo..hi) the program completes in."""
    def runs(kb: int) -> bool:
        try:
            run_app(prog, root, kb)
        except MicroPythonError as exc:
            if exc.exc_type != "MemoryError":
                raise
            return False
        return True
    if not runs(hi):
        return None
    lo_k, hi_k = lo // step, hi // step        # invariant: hi_k runs
    while lo_k < hi_k:
        mid = (lo_k + hi_k) // 2
        if runs(mid * step):
            hi_k = mid
        else:
            lo_k = mid + 1
    return hi_k * step


def deploy_table(boards: list[str], tmp: Path) -> dict[str, Path]:
    """Build every board (dev mode) into tmp and print the deploy-folder sizes."""
    print("deploy folder (armlock build, dev mode):")
    print(f"  {'board':22} {'files':>5} {'.mpy bytes':>10} {'.py bytes':>9} {'total':>8}")
    outs = {}
    for b in boards:
        t0 = time.perf_counter()
        outs[b] = tmp / b
        m = B.build(b, "dev", outs[b])
        dt = time.perf_counter() - t0
        py = sum(f["bytes"] for n, f in m["files"].items() if n.endswith(".py"))
        print(f"  {b:22} {len(m['files']):>5} {m['mpy_bytes']:>10,} {py:>9,} "
              f"{m['total_bytes']:>8,}   (built in {dt:.1f} s)")
    return outs


def report_board(board: str, out: Path, min_heap: bool) -> None:
    """Heap figures of one board's deployed app (and of its .py sources)."""
    found = run_app(program(board, []), out, 512)
    modules = leaves_first(list(found["modules"]))  # type: ignore[call-overload]
    prog = program(board, modules)
    r = run_app(prog, out, 512)
    code, alloc = int(r["code"]), int(r["alloc"])  # type: ignore[call-overload]
    src = run_app(prog, ROOT, 512)
    psram = json.loads((ROOT / "hardware" / "boards" / f"{board}.json").read_text()).get(
        "psram", False)
    print(f"  {board}: {alloc:,} B in use = {code:,} B modules ({len(modules)} .mpy files: "
          f"bytecode, qstrs, module objects) + {alloc - code:,} B app state")
    print(f"    permit loaded: {r['permit']}; faults: {','.join(r['faults']) or 'none'}"  # type: ignore[arg-type]
          f"; from the .py sources instead: {int(src['alloc']):,} B")  # type: ignore[call-overload]
    if min_heap:
        kb = smallest_heap_kb(prog, out)
        print(f"    smallest heap it runs in: {kb} KB" if kb else "    does not run in 512 KB")
    where = ("this module has PSRAM (a heap of megabytes)" if psram else
             f"{'fits' if alloc <= STOCK_HEAP else 'does NOT fit'} a stock ESP32_GENERIC "
             f"heap (56 KB growing to ~{STOCK_HEAP // 1024} KB, shared with NimBLE)")
    print(f"    {where}; {'within' if alloc <= GOAL else 'over'} the {GOAL // 1024} KB goal")
    print("    heap by module (imported leaves first, after gc.collect()):")
    for name, d in sorted(r["per"], key=lambda x: -x[1]):  # type: ignore[union-attr]
        if d >= 1024:
            print(f"      {name:36} {d:>7,} B")
    small = [d for _, d in r["per"] if d < 1024]  # type: ignore[union-attr]
    print(f"      {len(small)} modules under 1 KB each {sum(small):>12,} B")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--boards", default="esp32-devkitc,esp32-s3-devkitc-1")
    ap.add_argument("--no-min-heap", action="store_true",
                    help="skip the search for the smallest heap (a dozen VM runs a board)")
    a = ap.parse_args()
    boards = [b for b in a.boards.split(",") if b]
    with tempfile.TemporaryDirectory() as tmp:
        outs = deploy_table(boards, Path(tmp))
        if not node_available():
            print("heap after boot: skipped (Node / MicroPython WASM not installed)")
            return 0
        print("heap of the deployed app (build folder's .mpy files as the VM's root) after "
              "boot + permit + fix + 5 loop passes, MicroPython 1.27 WASM (32-bit):")
        for b in boards:
            try:
                report_board(b, outs[b], not a.no_min_heap)
            except MicroPythonError as exc:
                print(f"  {b:22} FAILED: {exc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
