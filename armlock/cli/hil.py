"""`armlock hil`: run the verification suite against a board and write the report."""

from __future__ import annotations

from pathlib import Path

import typer

from armlock.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    UserError,
    check_out_dir,
    check_port_path,
    console,
    friendly,
)


def register(app: typer.Typer) -> None:
    """Attach the `hil` command."""
    app.command("hil")(hil)


@friendly
def hil(
    target: str = typer.Option("virtual", "--target", help="virtual, virtual-cpython, "
                               "pty:PATH, serial:PORT or ble:ADDRESS."),
    out: Path = typer.Option(Path("out/hil"), "--out", help="Output folder."),
    k: str = typer.Option(None, "-k", help="Only tests matching this pytest -k expression."),
    key: Path = typer.Option(None, "--key", help="Authority master key the board was "
                             "provisioned with (pty/serial/ble targets)."),
    gnss_port: str = typer.Option(None, "--gnss-port", help="Serial port wired to the "
                                  "board's GNSS UART (fixes sent as NMEA)."),
    human: bool = typer.Option(False, "--human", help="Also run tests that need a person."),
    force: bool = typer.Option(False, "--force", help="Replace earlier results in --out."),
    rig: Path = typer.Option(None, "--rig", help="Rig file (TOML) naming the bench's boards "
                             "(replaces --target, --key and --gnss-port)."),
    retries: int = typer.Option(None, "--retries", help="Run a test again up to N (0..5) "
                                "times after an infrastructure error, never after a failure "
                                "(default: the rig file's retries, else 0)."),
) -> None:
    """Run the HIL verification suite; write JUnit XML, results.json, report.md/.html."""
    from hardware.hil import run_suite
    from hardware.hil.rigfile import MAX_RETRIES

    if rig is not None:
        _check_rig(rig, target, key, gnss_port)
    else:
        _check_target(target)
    if retries is not None and not 0 <= retries <= MAX_RETRIES:
        raise UserError(f"--retries {retries}: must be 0..{MAX_RETRIES}")
    check_out_dir(out, force)
    code = run_suite(target, out, k=k, key=key, gnss_port=gnss_port, human=human, rig=rig,
                     retries=retries)
    report = out / "report.html"
    if code == 5:
        raise UserError(f"-k {k!r}: no test of the suite matches" if k else
                        "the suite has no tests (pytest exit code 5)")
    if report.exists():
        console.print(f"report: {report.resolve()} (also report.md, results.json, junit.xml)",
                      highlight=False)
    elif code not in (0, 1):
        raise UserError(f"the suite did not run (pytest exit code {code})", code=EXIT_FAILED)
    raise typer.Exit(EXIT_OK if code == 0 else EXIT_FAILED)


def _check_target(target: str) -> None:
    """Refuse a target spec that is malformed, or a port that is missing, busy or no port."""
    from hardware.link import LinkError, check_port, parse_target

    try:
        spec = parse_target(target, what="--target")
    except ValueError as exc:
        raise UserError(str(exc)) from None
    kind, _, path = target.partition(":")
    if kind in ("serial", "pty") and path:
        check_port_path(path, "--target")
    try:
        check_port(spec)
    except LinkError as exc:
        raise UserError(str(exc), code=exc.exit_code) from None


def _check_rig(rig: Path, target: str, key: Path | None, gnss_port: str | None) -> None:
    """Refuse a rig file that does not load, or one given with the options it replaces.
    Its ports are not opened here: a missing port is the suite's infrastructure error."""
    from hardware.hil.rigfile import RigFileError, load_rig

    given = [o for o, v in (("--target", target != "virtual"), ("--key", key is not None),
                            ("--gnss-port", gnss_port is not None)) if v]
    if given:
        raise UserError(f"--rig {rig}: the rig file names each board's target, key and GNSS "
                        f"port; drop {', '.join(given)}")
    try:
        load_rig(rig)
    except RigFileError as exc:
        raise UserError(f"--rig: {exc}") from None
