"""`armlock scenario new NAME` and `armlock scenario check FILE` (simulator/template.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from armlock.cli.common import UserError, console, err_console, friendly

app = typer.Typer(help="Write and check simulation scenarios (TOML).", no_args_is_help=True)


def warn(warnings: list[str]) -> None:
    """Print a scenario's warnings (what loads but looks wrong) on stderr."""
    for w in warnings:
        err_console.print(f"[yellow]warning:[/yellow] {escape(w)}", highlight=False)


def summary_line(sc: Any) -> str:
    """One line: what the scenario simulates."""
    s = sc.data["scenario"]
    return (f"{sc.path}: scenario {sc.name!r} is valid: {s['weapons']:,} weapons x "
            f"{s['days']} days, {len(s['policies'])} policies x {len(s['profiles'])} "
            f"profiles, {s['runs']} runs, {len(sc.data['zones'])} zones, "
            f"{len(sc.warnings)} warning(s)")


@app.command("new")
@friendly
def new(name: str = typer.Argument(..., help="Scenario name (letters, digits, _ . -)."),
        out: Path = typer.Option(None, "--out", "-o", help="File to write (default "
                                 "NAME.toml here)."),
        force: bool = typer.Option(False, "--force", help="Replace an existing file."),
        ) -> None:
    """Write a commented scenario template that loads as it is."""
    from simulator.scenario import ScenarioError
    from simulator.template import write_template

    path = out if out is not None else Path(f"{name}.toml")
    try:
        write_template(path, name, force=force)
    except ScenarioError as exc:
        raise UserError(str(exc)) from None
    console.print(f"wrote {path}: scenario {name!r} (check it with `armlock scenario check "
                  f"{path}`)", markup=False, highlight=False, soft_wrap=True)


@app.command("check")
@friendly
def check_cmd(file: Path = typer.Argument(..., help="Scenario TOML file."),
              as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
              ) -> None:
    """Validate a scenario: exit 2 with file, line and key on an error; warnings printed."""
    from simulator.scenario import ScenarioError
    from simulator.template import check

    try:
        sc = check(file)
    except ScenarioError as exc:
        raise UserError(str(exc)) from None
    if as_json:
        s = sc.data["scenario"]
        print(json.dumps({"file": str(file), "valid": True, "name": sc.name,
                          "sha256": sc.sha256, "weapons": s["weapons"], "days": s["days"],
                          "runs": s["runs"], "policies": s["policies"],
                          "profiles": s["profiles"],
                          "zones": [z["name"] for z in sc.data["zones"]],
                          "warnings": sc.warnings}, indent=1))
        return
    warn(sc.warnings)
    console.print(summary_line(sc), markup=False, highlight=False, soft_wrap=True)
