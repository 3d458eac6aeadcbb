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

from armlock.cli.common import UserError, check_out_dir, console, friendly


def _progress() -> Progress:
    return Progress("[progress.description]{task.description}", BarColumn(),
                    MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                    transient=True)


def _run_with_bar(label: str, fn: Callable[..., Any], **kw: Any) -> Any:
    with _progress() as bar:
        task = bar.add_task(label, total=None)
        return fn(progress=lambda n: bar.advance(task, n),
                  on_tasks=lambda total: bar.update(task, total=total), **kw)


def _num(x: float, decimals: int) -> str:
    return f"{x:,.{decimals}f}"


def _plain(x: float) -> str:
    """A number alone: 0, 3 significant digits below 1,000, whole above."""
    if x == 0:
        return "0"
    return _num(x, max(0, 2 - math.floor(math.log10(abs(x))))) if abs(x) < 1000 else _num(x, 0)


def _short(v: tuple[float, float, float]) -> str:
    """'mean±half-width' for people: no exponents, the half-width to 2 significant digits
    and the mean to the same decimals (79.6, CI -170..330 -> '80±250'); a value without
    spread alone ('0.312')."""
    mean, lo, hi = v
    if math.isnan(mean):
        return "n/a"
    half = 0.0 if math.isnan(lo) else (hi - lo) / 2
    if half <= 1e-9 * max(1.0, abs(mean)):
        return _plain(mean)
    decimals = min(3, max(0, 1 - math.floor(math.log10(half))))
    return f"{_num(mean, decimals)}±{_num(half, decimals)}"


SHORT = {"usable_1h": "use 1h %", "usable_1d": "use 1d %", "usable_7d": "use 7d %",
         "lockout_h": "lockout h", "audit_visible": "audit %",
         "false_denials_per_1000": "f.deny/k", "failed_uses_per_1000": "failed/k",
         "interrupted_per_1000": "intr/k", "latency_p50_s": "p50 s", "latency_p99_s": "p99 s",
         "battery_swaps_per_weapon_month": "swap/wm"}
DIVERSION_COLS = ("usable_1h", "usable_1d", "usable_7d", "lockout_h", "audit_visible")
COST_COLS = ("false_denials_per_1000", "failed_uses_per_1000", "interrupted_per_1000",
             "latency_p50_s", "latency_p99_s", "battery_swaps_per_weapon_month")


def _tables(summary: list[dict[str, Any]], title: str,
            extra: tuple[str, ...] = ()) -> list[Table]:
    """Console summary in two narrow tables: mean ± CI half-width (intervals in files)."""
    out = []
    for part, cols in (("diversion", DIVERSION_COLS), ("legitimate user", COST_COLS)):
        t = Table(title=f"{title}: {part}", header_style="bold", pad_edge=False)
        for col in (*extra, "policy", "profile"):
            t.add_column(col, overflow="fold")  # long names wrap; the figures never do
        for col in cols:
            t.add_column(SHORT[col], justify="right", no_wrap=True, min_width=len(SHORT[col]))
        for row in summary:
            prof = {"fail-secure": "secure", "fail-enabled": "enabled"}.get(row["profile"], "-")
            t.add_row(*(str(row[e]) for e in extra), row["policy"], prof,
                      *(_short(row[n]) for n in cols))
        out.append(t)
    return out


def _load(path: Path) -> Any:
    from simulator.scenario import ScenarioError, load

    try:
        return load(path)
    except ScenarioError as exc:
        raise UserError(str(exc)) from None


def _sweep_points(sc: Any, spec: str) -> tuple[str, list[Any]]:
    """--param NAME=V1,V2: every value checked against the scenario; errors blame --param."""
    from simulator.scenario import ScenarioError
    from simulator.sweep import parse_param

    try:
        name, values = parse_param(spec)
    except ScenarioError as exc:
        raise UserError(str(exc)) from None
    for v in values:
        try:
            sc.with_overrides({name: v})
        except ScenarioError as exc:
            msg = str(exc)
            if msg.startswith("unknown scenario key"):
                raise UserError(f"--param {name}: {sc.path} has no such key"
                                f"{_close(sc.data, name)}") from None
            reason = msg.split(f"key {name!r}: ", 1)[-1]
            raise UserError(f"--param {name}={v}: {reason}") from None
    return name, values


def _close(data: dict[str, Any], name: str) -> str:
    import difflib

    keys: list[str] = []

    def walk(node: Any, pre: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{pre}{k}.")
        else:
            keys.append(pre[:-1])

    walk(data, "")
    near = difflib.get_close_matches(name, keys, n=1)
    return f" (did you mean {', '.join(near)}?)" if near else ""


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
        force: bool = typer.Option(False, "--force", help="Replace earlier results in --out."),
        as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    ) -> None:
        """Simulate a deployment under each policy x fail profile; write CSV, MD, HTML."""
        from simulator.report import summarize, write_all
        from simulator.run import simulate as run_sim

        sc = _load(scenario)
        _check_policies(policy)
        check_out_dir(out, force)
        res = _run_with_bar(f"simulating {sc.name}", run_sim, sc=sc, policies=policy or None,
                            runs=runs, seed=seed, jobs=jobs)
        paths = write_all(out, res)
        if as_json:
            print(json.dumps({"summary": summarize(res.rows), "sha256": res.sha256,
                              "seed": res.seed, "versions": res.versions,
                              "files": [str(p) for p in paths.values()]}, indent=1,
                             default=str))
            return
        for table in _tables(summarize(res.rows), f"{sc.name}, {res.runs} runs"):
            console.print(table)
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
        force: bool = typer.Option(False, "--force", help="Replace earlier results in --out."),
        as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    ) -> None:
        """Run a scenario for several values of one parameter; write CSV, MD, HTML."""
        from simulator.scenario import ScenarioError
        from simulator.sweep import sweep

        sc = _load(scenario)
        _check_policies(policy)
        name, values = _sweep_points(sc, param)
        check_out_dir(out, force)
        try:
            res = _run_with_bar(f"sweeping {name}", sweep, sc=sc, param=name, values=values,
                                runs=runs, seed=seed, policies=policy or None, jobs=jobs,
                                dask_scheduler=dask_scheduler)
        except ScenarioError as exc:
            raise UserError(str(exc)) from None
        summary, paths = write_sweep(out, res)
        if as_json:
            print(json.dumps({"summary": summary, "files": [str(p) for p in paths.values()]},
                             indent=1, default=str))
            return
        for table in _tables(summary, f"{sc.name}: sweep of {name}", (name,)):
            console.print(table)
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
