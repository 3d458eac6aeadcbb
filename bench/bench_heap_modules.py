"""Where the heap of the ESP32 app goes (the bench_build.py run: the deployed .mpy files
in the 32-bit MicroPython WASM VM): per module, the heap its import adds and the names
(qstrs) it interns; per step, the qstrs it interns; and the VM's qstr pools, which are
allocated whole (each twice the last) when the last one fills, so one name more can
cost a pool of thousands of bytes.

    .venv/bin/python bench/bench_heap_modules.py [--board esp32-devkitc]

The pool sizes are the VM's; on a real image the first dynamic pool follows the size of
its frozen qstr pool, so the names at which a new pool comes differ there: the room left
unused in the last pool (printed under the steady figure, and part of it) is the VM's.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_build as BB  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--board", default="esp32-devkitc")
    ap.add_argument("--shared", action="store_true",
                    help="list the names the bench interned before the app that it uses")
    a = ap.parse_args()
    if not BB.node_available():
        print("skipped: Node / MicroPython WASM not installed")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / a.board
        BB.B.build(a.board, "production", out)
        found = BB.run_app(BB.program(a.board, []), out)
        mods = BB.leaves_first(list(found["modules"]))
        prog = BB.program(a.board, mods)
        for old, new in (("        PER[i][1] = now - last\n",
                          "        PER[i][1] = now - last\n        micropython.qstr_info()\n"),
                         ("def live():\n    gc.collect()\n",
                          "def live():\n    gc.collect()\n    micropython.qstr_info()\n")):
            assert old in prog, old
            prog = prog.replace(old, new)
        with BB.MicroPythonVM(heap_kb=512, root=out, timeout=300, grow=True) as vm:
            lines = vm.exec(prog, name="<bench_heap_modules>").strip().splitlines()
        mpy = {p.relative_to(out).with_suffix("").as_posix().replace("/", "."): p.stat().st_size
               for p in out.rglob("*.mpy")}
        shared = BB.shared_names(lines, out)
    r = json.loads(lines[-1])
    q = BB.qstr_pools(lines)  # before the imports, after each module, after each step, end
    n = len(r["per"])
    sizes = BB.pool_sizes()
    print(f"{a.board}: steady {r['alloc']:,} B, modules {r['code']:,} B; dynamic qstrs "
          f"{q[0]['n_qstr']} before the app, {q[-1]['n_qstr']} at the end, "
          f"{q[-1]['n_pool']} pools, {q[-1]['n_total_bytes']:,} B")
    napp, end = q[-1]["n_qstr"] - q[0]["n_qstr"], q[-1]["n_qstr"]
    extra = BB.board_pools(napp, end, sizes, len(shared))
    nboard = napp + len(shared)
    slack = BB.pool_slack(nboard, sizes)
    print(f"  at a board (the app's {nboard:,} names first: {napp:,} interned in the run, "
          f"{len(shared)} the bench interned before it): qstr pools {extra:+,} B, steady "
          f"{r['alloc'] + extra:,} B" + (f"; of the last pool {slack[1]:,} of {slack[2]:,} "
                                          "names unused" if slack else ""))
    if a.shared:
        print("  names the bench interned before the app: " + " ".join(shared))
    print(f"  {'module':40} {'heap B':>7} {'qstrs':>6} {'.mpy B':>7}")
    rows = [(d, name, q[i + 1]["n_qstr"] - q[i]["n_qstr"]) for i, (name, d) in enumerate(r["per"])]
    for d, name, nq in sorted(rows, reverse=True):
        print(f"  {name:40} {d:>7,} {nq:>6} {mpy.get(name, 0):>7,}")
    print("  qstrs interned per step (heap: live after the step):")
    for i, (step, live, _) in enumerate(r["steps"]):
        a_, b_ = q[n + i], q[n + i + 1]
        print(f"    {step:30} {b_['n_qstr'] - a_['n_qstr']:>5} qstrs  live {live:>8,} B")
    print("  qstr pools of this VM (a new one at the dynamic qstr count, its bytes):")
    print("    " + ", ".join(f"{at}: {size:,} B" for at, size in sizes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
