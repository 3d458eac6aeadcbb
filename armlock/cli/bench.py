"""`armlock bench`: run the benchmarks in bench/ (figures, never pass/fail)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import typer

from armlock.cli.common import UserError, console, friendly

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _benches() -> dict[str, Path]:
    return {p.stem.removeprefix("bench_"): p for p in sorted(BENCH.glob("bench_*.py"))}


def register(app: typer.Typer) -> None:
    """Attach the `bench` command."""
    app.command("bench")(bench)


@friendly
def bench(names: list[str] = typer.Argument(None, help="Benchmarks to run (default: all)."),
          list_only: bool = typer.Option(False, "--list", help="List them and stop.")) -> None:
    """Run benchmarks and print their figures (median, p99, ratio to a baseline)."""
    found = _benches()
    if not found:
        raise UserError(f"no benchmarks under {BENCH} (this command needs the source tree)")
    if list_only:
        for name, path in found.items():
            doc = (path.read_text().split('"""')[1:2] or [""])[0].strip().splitlines()
            console.print(f"{name:12} {doc[0] if doc else ''}", soft_wrap=True)
        return
    unknown = [n for n in names or [] if n not in found]
    if unknown:
        raise UserError(f"unknown benchmark {', '.join(unknown)}; known: {', '.join(found)}")
    failed = []
    for name in names or list(found):
        console.rule(f"bench {name}")
        if subprocess.run([sys.executable, str(found[name])], cwd=BENCH.parent).returncode:
            failed.append(name)
    if failed:
        raise UserError(f"benchmark(s) failed: {', '.join(failed)}", code=1)
