"""The `armlock` command: one entry point for keys, permits, devices, HIL and simulation.

Each command group lives in its own module and is registered here. Errors a user can
cause are printed as one line without a traceback unless `--debug` is given.
"""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from armlock.cli.common import UserError, console, err_console, state

app = typer.Typer(
    name="armlock",
    help="Authorisation-lock firmware, virtual board, HIL harness and deployment simulator.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            v = version("armlock")
        except PackageNotFoundError:
            v = "(not installed)"
        console.print(f"armlock {v}", highlight=False)
        raise typer.Exit()


@app.callback()
def _root(debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors."),
          _v: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                  help="Print the version and exit.")) -> None:
    state["debug"] = debug


def _register() -> None:
    """Attach every command group."""
    from armlock.cli import bench, board, build, demo, device, hil, keys, permit, simulate

    app.add_typer(keys.app, name="keys")
    app.add_typer(permit.app, name="permit")
    app.add_typer(device.app, name="device")
    for mod in (demo, board, build, hil, bench, simulate):
        mod.register(app)


_PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True}


@app.command("registry", context_settings=_PASS_THROUGH, add_help_option=False)
def _registry(ctx: typer.Context) -> None:
    """The armoury registry: weapons, locks, holders, shifts, docks, traces, dashboard
    (`armlock registry -h`)."""
    from armlock.registry.cli import app as registry_app  # loaded only when used (~1 s)

    registry_app(args=ctx.args, prog_name="armlock registry",
                 help_option_names=["-h", "--help"])


_register()


def main() -> None:
    """Console-script entry point."""
    try:
        app(standalone_mode=True)
    except UserError as exc:
        if state.get("debug"):
            raise
        err_console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        sys.exit(exc.code)
