"""`armlock simulate` and `armlock sweep` (registered on the main app by `register`)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from hardware.cli.common import UserError, console, friendly
from simulator.metrics import METRICS


def _progress() -> Progress:
    return Progress("[progress.description]{task.description}", BarColumn(),
                    MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                    transient=True)


def _run_with_bar(label: str, fn: Callable[..., Any], **kw: Any) -> Any:
    with _progress() as bar:
        task = bar.add_task(label, total=None)
        return fn(progress=lambda n: bar.advance(task, n),
                  on_tasks=lambda total: bar.update(task, total=total), **kw)


def _short(v: tuple[float, float, float]) -> str:
    mean, lo, hi = v
    if math.isnan(mean):
        return "n/a"
    nd = 0 if abs(mean) >= 100 else 1 if abs(mean) >= 10 else 2
    return f"{mean:.{nd}f}" if math.isnan(lo) else f"{mean:.{nd}f}±{(hi - lo) / 2:.{nd}f}"


def _table(summary: list[dict[str, Any]], title: str, extra: tuple[str, ...] = ()) -> Table:
    """Console summary: mean ± CI half-width (full intervals are in the files)."""
    short = ("use1h%", "use1d%", "use7d%", "lock h", "fden/k", "fail/k", "intr/k", "p50 s",
             "p99 s", "swap/wm", "audit%")
    t = Table(title=title, header_style="bold", pad_edge=False)
    for col in extra:
        t.add_column(col, no_wrap=True)
    t.add_column("policy", no_wrap=True)
    t.add_column("profile", no_wrap=True)
    for col in short:
        t.add_column(col, justify="right")
    for row in summary:
        prof = {"fail-secure": "secure", "fail-enabled": "enabled"}.get(row["profile"], "-")
        t.add_row(*(str(row[e]) for e in extra), row["policy"], prof,
                  *(_short(row[n]) for n, _l, _u in METRICS))
    return t


def _load(path: Path) -> Any:
    from simulator.scenario import ScenarioError, load

    try:
        return load(path)
    except ScenarioError as exc:
        raise UserError(str(exc)) from None


def _check_policies(policy: list[str] | None) -> None:
    from simulator.policies import parse_policy

    for p in policy or []:
        try:
            parse_policy(p)
        except ValueError as exc:
            raise UserError(f"--policy: {exc}") from None


def register(app: typer.Typer) -> None:
    """Add the simulate and sweep commands to the armlock app."""

    @app.command("simulate")
    @friendly
    def simulate(
        scenario: Path = typer.Argument(..., help="Scenario TOML file."),
        policy: list[str] = typer.Option(None, "--policy", "-p",
                                         help="Policy, e.g. none, time, geo, rfid+finger "
                                              "(repeat; default: the scenario's list)."),
        runs: int = typer.Option(None, "--runs", "-n", min=1, help="Replications."),
        seed: int = typer.Option(None, "--seed", "-s", min=0, help="Random seed."),
        out: Path = typer.Option(Path("sim-out"), "--out", "-o", help="Output directory."),
        jobs: int = typer.Option(2, "--jobs", "-j", min=1, help="Worker processes."),
    ) -> None:
        """Simulate a deployment under each policy x fail profile; write CSV, MD, HTML."""
        from simulator.report import summarize, write_all
        from simulator.run import simulate as run_sim

        sc = _load(scenario)
        _check_policies(policy)
        res = _run_with_bar(f"simulating {sc.name}", run_sim, sc=sc, policies=policy or None,
                            runs=runs, seed=seed, jobs=jobs)
        paths = write_all(out, res)
        console.print(_table(summarize(res.rows), f"{sc.name}: mean [95 % CI] over "
                                                  f"{res.runs} runs"))
        console.print(f"scenario sha256 {res.sha256}  seed {res.seed}  "
                      f"versions {json.dumps(res.versions)}  wall {res.wall_s:.1f} s")
        console.print("wrote " + ", ".join(str(p) for p in paths.values()))

    @app.command("sweep")
    @friendly
    def sweep_cmd(
        scenario: Path = typer.Argument(..., help="Scenario TOML file."),
        param: str = typer.Option(..., "--param", help="NAME=V1,V2,... (dotted scenario "
                                                       "key, e.g. adversaries.p_jammer)."),
        runs: int = typer.Option(3, "--runs", "-n", min=1, help="Replications per value."),
        policy: list[str] = typer.Option(None, "--policy", "-p", help="Policies (repeat)."),
        seed: int = typer.Option(None, "--seed", "-s", min=0, help="Random seed."),
        out: Path = typer.Option(Path("sweep-out"), "--out", "-o", help="Output directory."),
        jobs: int = typer.Option(2, "--jobs", "-j", min=1, help="Local worker processes."),
        dask_scheduler: str = typer.Option(None, "--dask-scheduler",
                                           help="Dask scheduler address (tcp://host:8786); "
                                                "default: local processes."),
    ) -> None:
        """Run a scenario for several values of one parameter; write CSV, MD, HTML."""
        from simulator.scenario import ScenarioError
        from simulator.sweep import parse_param, sweep

        sc = _load(scenario)
        _check_policies(policy)
        try:
            name, values = parse_param(param)
            res = _run_with_bar(f"sweeping {name}", sweep, sc=sc, param=name, values=values,
                                runs=runs, seed=seed, policies=policy or None, jobs=jobs,
                                dask_scheduler=dask_scheduler)
        except ScenarioError as exc:
            raise UserError(str(exc)) from None
        summary, paths = write_sweep(out, res)
        console.print(_table(summary, f"{sc.name}: sweep of {name}", (name,)))
        console.print("wrote " + ", ".join(str(p) for p in paths.values()))


def write_sweep(out: Path, res: Any) -> tuple[list[dict[str, Any]], dict[str, Path]]:
    """Write sweep.csv, sweep_runs.csv, sweep.md, sweep.html; return the summary."""
    from simulator.report import html_report, markdown, summarize, write_csv, write_rows

    out.mkdir(parents=True, exist_ok=True)
    name = res.param
    rows = res.rows()
    summary = summarize(rows, (name, "policy", "profile"))
    first = res.points[0][1]
    prov = {**first.provenance(), "param": name, "values": [v for v, _ in res.points]}
    prov.pop("overrides", None)
    paths = {n: out / n for n in ("sweep.csv", "sweep_runs.csv", "sweep.md", "sweep.html")}
    write_csv(paths["sweep.csv"], summary, prov, (name,))
    write_rows(paths["sweep_runs.csv"], rows)
    title = f"armlock sweep: {first.scenario}, {name}"
    paths["sweep.md"].write_text(markdown(summary, prov, title, (name,)))
    paths["sweep.html"].write_text(html_report(summary, prov, title, (name,)))
    return summary, paths
