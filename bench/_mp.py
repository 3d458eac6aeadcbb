"""Costs of the MicroPython WASM runner, and a helper for stepped bench programs.

Run: .venv/bin/python bench/_mp.py [--n 1000]

Prints the VM start time (one ``hardware.micropython.run`` of an empty program), the
per-snippet round trip of a served VM, and the heap a few imports keep live.

The WASM VM collects garbage only between top-level calls, so a bench loop that makes
garbage must yield to the runner (``__steps__``) to behave like a device; ``stepped``
wraps a setup and a loop body into such a program.
"""

from __future__ import annotations

import argparse
import statistics
import textwrap
import time

from hardware import micropython as mp


def stepped(setup: str, body: str, n: int) -> str:
    """A program that runs ``setup`` then ``body`` ``n`` times (``i`` = index), collecting
    garbage after setup and after every iteration, as a device main loop would."""
    return (
        "def _armlock_main():\n"
        + textwrap.indent(setup.rstrip() or "pass", "    ") + "\n"
        + "    yield\n"
        + f"    for i in range({n}):\n"
        + textwrap.indent(body.rstrip() or "pass", "        ") + "\n"
        + "        yield\n"
        + "__steps__ = _armlock_main()\n"
    )


def vm_start_seconds(repeat: int = 5) -> float:
    """Median wall time of a fresh VM running an empty program."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        mp.run("pass")
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def snippet_overhead_us(n: int = 1000) -> float:
    """Mean round trip of a trivial snippet in a served VM, in microseconds."""
    with mp.MicroPythonVM() as vm:
        vm.exec("x = 0")
        t0 = time.perf_counter()
        for _ in range(n):
            vm.exec("x += 1")
        return (time.perf_counter() - t0) / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description="Costs of the MicroPython WASM runner")
    ap.add_argument("--n", type=int, default=1000, help="snippets for the overhead figure")
    args = ap.parse_args()
    print(f"VM start (run 'pass'):       {vm_start_seconds() * 1000:8.1f} ms")
    print(f"served snippet round trip:   {snippet_overhead_us(args.n):8.1f} us")
    for code in ("import protocols.crypto", "import firmware.core.events",
                 "from firmware.core.controller import LockController"):
        print(f"heap live after {code!r}: {mp.heap_used(code)} B")


if __name__ == "__main__":
    main()
