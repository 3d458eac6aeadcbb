"""`armlock demo`: the main job."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from armlock.authority.checks import iso
from armlock.cli.common import UserError, console, friendly
from armlock.tour import walkthrough
from protocols import audit


def register(app: typer.Typer) -> None:
    """Attach the `demo` command."""
    app.command("demo")(demo)


@friendly
def demo(out: Path = typer.Option(Path("out/demo"), "--out", help="Output folder."),
         core: bool = typer.Option(False, "--core", help="Only walk through the firmware core "
                                   "(no board): keys, a permit, a day at a depot."),
         runtime: str = typer.Option("micropython", "--runtime",
                                     help="Virtual board runtime: micropython or cpython.")
         ) -> None:
    """The main job: build the firmware, start a dev-mode virtual board, flash it, run the
    HIL verification suite against it and leave the report in --out. With --core: a walk
    through the firmware core's decisions and audit trail."""
    if core:
        _core_walk(out)
        return
    from armlock.tour.full import TourError, run_tour

    try:
        report = run_tour(out, progress=lambda msg: console.print(f"[dim]>[/dim] {msg}"),
                          runtime=runtime)
    except TourError as exc:
        raise UserError(str(exc), code=1) from exc
    console.print(f"report: {report.resolve()}")


def _core_walk(out: Path) -> None:
    walk = walkthrough.run(out)
    _decisions(walk)
    _audit(walk)
    problems = audit.verify(walk.records, walkthrough.DEVICE, head=walk.head)
    verdict = "[green]chain verifies[/green]" if not problems else "[red]" + "; ".join(problems)
    console.print(f"audit: {len(walk.records)} records, {verdict}")
    console.print(f"output: {out.resolve()} (master.key, permit.bin, audit.log, trace.json)")


def _decisions(walk: walkthrough.Walk) -> None:
    table = Table(title=f"Decisions of the lock controller ({walkthrough.DEVICE})")
    table.add_column("t", justify="right")
    table.add_column("what happens")
    table.add_column("event")
    table.add_column("controller says")
    table.add_column("lock")
    table.add_column("held locked by", overflow="fold")
    for s in walk.steps:
        lock = "[red]locked[/red]" if s.locked else "[green]OPEN[/green]"
        table.add_row(f"{s.t_ms / 1000:.1f}s", s.label, walkthrough.describe_event(s.event),
                      walkthrough.describe_actions(s.actions), lock,
                      (", ".join(s.reasons) or "awaiting credentials") if s.locked else "")
    console.print(table)


def _audit(walk: walkthrough.Walk) -> None:
    table = Table(title="Audit trail (SHA-256 hash chain)")
    for col in ("seq", "time (UTC)", "record", "detail"):
        table.add_column(col)
    for seq, t, code, detail in walkthrough.audit_rows(walk.records):
        table.add_row(str(seq), iso(t), code, detail)
    console.print(table)
