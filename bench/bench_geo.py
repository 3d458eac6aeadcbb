"""Benchmark position_status (3 zones x 50 vertices) on CPython and MicroPython WASM.

Prints median, p90 and p99 per call (p99 is sensitive to host load: a call of
~0.3 ms is often preempted on a busy machine), and a baseline (an empty call timed the same way,
in the same process) so the clock and call overhead can be subtracted.

    .venv/bin/python bench/bench_geo.py [--n 2000]
"""

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hardware.micropython import (  # noqa: E402
    MicroPythonError,
    MicroPythonUnavailable,
    MicroPythonVM,
)

# Runs unchanged in CPython and MicroPython; `clock()` (ms, float) and `geo` are
# injected by the host (in MicroPython: js.performance.now; ticks_us ticks in whole ms).
BENCH_CODE = """
def _lcg(s):
    return (s * 1103515245 + 12345) & 0x7FFFFFFF

def _circle(clat, clon, rad, n, seed):
    from array import array
    pts = array("i")
    for k in range(n):
        seed = _lcg(seed)
        r = rad - rad // 8 + (seed % (rad // 4))
        # polygon of n vertices on a rough circle, integer-only (octant trick)
        t = k * 4096 // n
        q = t // 1024
        u = t % 1024
        a = r * (1024 - u) // 1024
        b = r * u // 1024
        dx, dy = ((a, b), (-b, a), (-a, -b), (b, -a))[q]
        lon = clon + dx
        if lon >= 1800000000:
            lon -= 3600000000
        elif lon < -1800000000:
            lon += 3600000000
        pts.append(clat + dy)
        pts.append(lon)
    return pts

def _zones(clat, clon):
    return [
        (False, [_circle(clat, clon, 1000000, 50, 1)]),
        (True, [_circle(clat + 300000, clon + 200000, 300000, 50, 2)]),
        (False, [_circle(clat - 1800000, clon + 500000, 900000, 50, 3)]),
    ]

def _empty(zones, lat, lon, margin):
    return 0

def _measure(fn, zones, pts, margin):
    ts = []
    for i in range(0, len(pts), 2):
        t0 = clock()
        fn(zones, pts[i], pts[i + 1], margin)
        ts.append(clock() - t0)
    ts.sort()
    n = len(ts)
    return [ts[n // 2] * 1000, ts[n * 9 // 10] * 1000, ts[min(n - 1, n * 99 // 100)] * 1000]

def run(n):
    out = []
    for name, clat, clon in (("lon8", 470000000, 80000000), ("lon179.9", -170000000, 1799000000)):
        zones = _zones(clat, clon)
        pts = []
        seed = 7
        for _ in range(n):
            seed = _lcg(seed)
            pts.append(clat - 3000000 + seed % 4500000)
            seed = _lcg(seed)
            lon = clon - 1200000 + seed % 3000000
            if lon >= 1800000000:
                lon -= 3600000000
            pts.append(lon)
        statuses = [0, 0, 0]
        for i in range(0, len(pts), 2):
            statuses[geo.position_status(zones, pts[i], pts[i + 1], 0)] += 1
        _measure(geo.position_status, zones, pts[:200], 0)  # warm up
        base = _measure(_empty, zones, pts, 0)
        for margin in (0, 50):
            st = _measure(geo.position_status, zones, pts, margin)
            out.append([name, margin, st, base, statuses])
    return out
"""

def run_cpython(n: int) -> list:
    """Run the bench in this CPython process."""
    from firmware.core import geo

    ns: dict = {"geo": geo, "clock": lambda: time.perf_counter_ns() / 1e6}
    exec(BENCH_CODE, ns)
    return ns["run"](n)


def run_micropython(n: int) -> list:
    """Run the bench in the MicroPython WASM VM under Node (clock: performance.now).

    run() is one call, in which this WASM build collects no garbage (it allocates about
    90 MB at n=2000), so the GC heap starts at 16 MB and may grow."""
    code = ("import js\nfrom firmware.core import geo\nclock = js.performance.now\n"
            + BENCH_CODE)
    try:
        with MicroPythonVM(heap_kb=16 * 1024, grow=True, timeout=600,
                           only=["firmware/core/geo.py"]) as vm:
            vm.exec(code)
            return vm.eval_json("run(%d)" % n)
    except (MicroPythonError, MicroPythonUnavailable, TimeoutError) as exc:
        raise SystemExit("micropython bench failed: %s" % exc) from exc


def report(runtime: str, rows: list) -> None:
    """Print one line per (location, margin)."""
    for name, margin, (med, p90, p99), (bmed, _, bp99), statuses in rows:
        print(
            f"{runtime:11} {name:9} margin={margin:<3} position_status median={med:7.1f} us "
            f"p90={p90:7.1f} p99={p99:8.1f} | baseline median={bmed:5.2f} us p99={bp99:5.2f} "
            f"| ok/out/forbidden={statuses}"
        )


def main() -> None:
    """Parse arguments and run both runtimes."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="points per configuration")
    args = ap.parse_args()
    print("3 zones x 50 vertices (allowed, forbidden inside it, second allowed); "
          f"{args.n} points per row")
    report("CPython", run_cpython(args.n))
    report("MicroPython", run_micropython(args.n))


if __name__ == "__main__":
    main()
