"""`armlock simulate` and `armlock sweep` (registered on the main app by `register`)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich import box
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from armlock.cli.common import UserError, check_out_dir, console, err_console, friendly
from armlock.cli.scenario import warn


def _progress() -> Progress:
    return Progress("[progress.description]{task.description}", BarColumn(),
                    MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                    transient=True)


def _run_with_bar(label: str, fn: Callable[..., Any], **kw: Any) -> Any:
    """Run with a progress bar; its total grows with every batch (precision mode adds
    runs in batches)."""
    total = [0]

    def more(n: int) -> None:
        total[0] += n
        bar.update(task, total=total[0])

    with _progress() as bar:
        task = bar.add_task(label, total=None)
        return fn(progress=lambda n: bar.advance(task, n), on_tasks=more, **kw)


def _num(x: float, decimals: int) -> str:
    return f"{x:,.{decimals}f}"


def _plain(x: float) -> str:
    """A number alone: 0, 3 significant digits below 1,000, whole above."""
    if x == 0:
        return "0"
    return _num(x, max(0, 2 - math.floor(math.log10(abs(x))))) if abs(x) < 1000 else _num(x, 0)


def _short(v: tuple[float, float, float], most: int = 3) -> str:
    """'mean±half-width' for people: no exponents, the half-width to 2 significant digits
    and the mean to the same decimals (79.6, CI -170..330 -> '80±250'); a value without
    spread alone ('0.312'); an interval that ends at the estimate (a share of 0 or 100 %)
    one-sided: '100−16', '0+14'. At most `most` decimals; a spread that rounds to 0
    there is left out ('100.0')."""
    mean, lo, hi = v
    if math.isnan(mean):
        return "n/a"
    half = 0.0 if math.isnan(lo) else (hi - lo) / 2
    tiny = 1e-9 * max(1.0, abs(mean))
    if half <= tiny:
        return _plain(mean)
    sign, spread = ("−", mean - lo) if hi - mean <= tiny else (
        ("+", hi - mean) if mean - lo <= tiny else ("±", half))
    decimals = min(most, max(0, 1 - math.floor(math.log10(spread))))
    if round(spread, decimals) == 0:  # narrower than the decimals shown: the value alone
        return _num(mean, decimals)
    return f"{_num(mean, decimals)}{sign}{_num(spread, decimals)}"


SHORT = {"usable_1h": "1h %", "usable_1d": "1d %", "usable_7d": "7d %",
         "usable_30d": "30d %", "lockout_h": "lockout h", "audit_visible": "audit %",
         "availability": "avail %", "false_denials_per_1000": "f.deny/k",
         "failed_uses_per_1000": "failed/k", "interrupted_per_1000": "intr/k",
         "latency_p50_s": "p50 s", "latency_p99_s": "p99 s",
         "cost_per_weapon_year": "USD/w-yr", "battery_swaps_per_weapon_month": "swap/wm",
         "jam_alarms_per_weapon_month": "jam/wm"}
# console tables of at most six figures each: they fit 80 columns (--wide: one table)
PARTS = (("diversions usable after", ("usable_1h", "usable_1d", "usable_7d", "usable_30d",
                                      "lockout_h", "audit_visible")),
         ("legitimate user", ("availability", "false_denials_per_1000",
                              "failed_uses_per_1000", "interrupted_per_1000",
                              "latency_p50_s", "latency_p99_s")),
         ("cost and upkeep", ("cost_per_weapon_year", "battery_swaps_per_weapon_month",
                              "jam_alarms_per_weapon_month")))
PROFILE = {"fail-secure": "secure", "fail-enabled": "enabled"}
# decimals at most: shares, rates per 1,000 and hours to 0.1; seconds, USD and rates to 0.01
DECIMALS = {c: 1 for c in ("usable_1h", "usable_1d", "usable_7d", "usable_30d", "lockout_h",
                           "audit_visible", "availability", "false_denials_per_1000",
                           "failed_uses_per_1000", "interrupted_per_1000")}


def _tables(summary: list[dict[str, Any]], title: str, extra: tuple[str, ...] = (),
            wide: bool = False) -> list[Table]:
    """Console summary: mean ± CI half-width (the intervals themselves are in the files);
    three narrow tables, or one with every column when `wide`."""
    parts = PARTS if not wide else (("all", tuple(c for _p, cs in PARTS for c in cs)),)
    out = []
    for part, cols in parts:
        t = Table(title=title if wide else f"{title}: {part}", header_style="bold",
                  box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
        for col in (*extra, "policy", "profile"):
            t.add_column(col, overflow="fold")  # long names wrap; the figures never do
        for col in cols:
            t.add_column(SHORT[col], justify="right", no_wrap=True, min_width=len(SHORT[col]))
        for row in summary:
            t.add_row(*(str(row[e]) for e in extra), row["policy"],
                      PROFILE.get(row["profile"], "-"),
                      *(_short(row[n], DECIMALS.get(n, 2)) for n in cols))
        out.append(t)
    return out


def _print_tables(tables: list[Table], wide: bool) -> None:
    """Print; --wide tables take the width they need, wider than the terminal if so."""
    for table in tables:
        console.print()
        if wide:
            need = console.measure(table, options=console.options.update_width(1000)).maximum
            width = console.width
            console.width = max(width, need)  # print() never exceeds the console's width
            try:
                console.print(table, crop=False)
            finally:
                console.width = width
        else:
            console.print(table)


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


def _check_policies(policy: list[str] | None, option: str = "--policy") -> None:
    from simulator.policies import parse_policy

    for p in policy or []:
        try:
            parse_policy(p)
        except ValueError as exc:
            raise UserError(f"{option}: {exc}") from None


def _check_precision(precision: float | None, max_runs: int | None, runs: int) -> int:
    """--precision in (0, 1); --max-runs only with it and not below the first runs."""
    if precision is None:
        if max_runs is not None:
            raise UserError("--max-runs needs --precision (without it, --runs runs are made)")
        return 0
    if not 0 < precision < 1:
        raise UserError(f"--precision {precision:g}: must be between 0 and 1 (the largest "
                        "half-width allowed, as a proportion: 0.02 = 2 percentage points)")
    cap = DEFAULT_MAX_RUNS if max_runs is None else max_runs
    if cap < runs:
        raise UserError(f"--max-runs {cap}: fewer than the {runs} runs made first (--runs "
                        "or the scenario's runs)")
    return cap


def _check_baseline(baseline: str | None, policies: list[str]) -> None:
    """--baseline: a policy that is simulated (its pairs need both sides)."""
    if baseline is None:
        return
    _check_policies([baseline], "--baseline")
    if baseline not in policies:
        raise UserError(f"--baseline {baseline}: not among the simulated policies "
                        f"({', '.join(policies)}); add it with --policy")


def _precision_note(check: dict[str, Any] | None) -> None:
    from simulator.report import precision_sentence

    for text in precision_sentence(check):
        if check and check["met"]:
            console.print(text, markup=False, highlight=False, soft_wrap=True)
        else:
            err_console.print(f"[yellow]warning:[/yellow] {escape(text)}", highlight=False)


DEFAULT_MAX_RUNS = 100
WIDE_OPT = typer.Option(False, "--wide", help="One table with every column, wider than 80.")


def register(app: typer.Typer) -> None:
    """Add the simulate and sweep commands to the armlock app."""

    @app.command("simulate")
    @friendly
    def simulate(
        scenario: Path = typer.Argument(..., help="Scenario TOML file."),
        policy: list[str] = typer.Option(None, "--policy", "-p",
                                         help="Policy, e.g. none, time, geo, rfid+finger "
                                              "(repeat; default: the scenario's list)."),
        runs: int = typer.Option(None, "--runs", "-n", min=1, help="Replications (with "
                                 "--precision: the first ones)."),
        precision: float = typer.Option(None, "--precision", metavar="FLOAT",
                                        help="Add runs until every headline interval's "
                                             "half-width is at most this proportion (0.02 "
                                             "= 2 points, 20 false denials per 1,000)."),
        max_runs: int = typer.Option(None, "--max-runs", min=1, metavar="INT",
                                     help=f"With --precision: at most this many runs in "
                                          f"all (default {DEFAULT_MAX_RUNS})."),
        baseline: str = typer.Option(None, "--baseline", metavar="POLICY",
                                     help="Also pair every policy against this one "
                                          "(besides no lock)."),
        seed: int = typer.Option(None, "--seed", "-s", min=0, help="Random seed."),
        out: Path = typer.Option(Path("sim-out"), "--out", "-o", help="Output directory."),
        jobs: int = typer.Option(2, "--jobs", "-j", min=1, help="Worker processes."),
        force: bool = typer.Option(False, "--force", help="Replace earlier results in --out."),
        wide: bool = WIDE_OPT,
        as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    ) -> None:
        """Simulate a deployment under each policy x fail profile; write CSV, MD, HTML."""
        from simulator.report import summarize, write_all
        from simulator.run import simulate as run_sim

        sc = _load(scenario)
        _check_policies(policy)
        first = runs if runs is not None else int(sc.data["scenario"]["runs"])
        cap = _check_precision(precision, max_runs, first)
        _check_baseline(baseline, list(policy or sc.data["scenario"]["policies"]))
        check_out_dir(out, force)
        warn(sc.warnings)
        more = {"precision": precision, "max_runs": cap} if precision is not None else {}
        res = _run_with_bar(f"simulating {sc.name}", run_sim, sc=sc, policies=policy or None,
                            runs=runs, seed=seed, jobs=jobs, **more)
        paths = write_all(out, res, baseline=baseline)
        if as_json:
            print(json.dumps({"summary": summarize(res.rows), "sha256": res.sha256,
                              "seed": res.seed, "runs": res.runs, "versions": res.versions,
                              "precision": res.precision, "warnings": sc.warnings,
                              "files": [str(p) for p in paths.values()]}, indent=1,
                             default=str))
            return
        _print_tables(_tables(summarize(res.rows), f"{sc.name}, {res.runs} runs", wide=wide),
                      wide)
        _precision_note(res.precision)
        console.print(f"scenario sha256 {res.sha256}  seed {res.seed}  "
                      f"versions {json.dumps(res.versions)}  wall {res.wall_s:.1f} s  "
                      f"CPU {res.cpu_s:.1f} s in workers")
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
        wide: bool = WIDE_OPT,
        as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    ) -> None:
        """Run a scenario for several values of one parameter; write CSV, MD, HTML."""
        from simulator.scenario import ScenarioError
        from simulator.sweep import sweep

        sc = _load(scenario)
        _check_policies(policy)
        name, values = _sweep_points(sc, param)
        check_out_dir(out, force)
        warn(sc.warnings)
        try:
            res = _run_with_bar(f"sweeping {name}", sweep, sc=sc, param=name, values=values,
                                runs=runs, seed=seed, policies=policy or None, jobs=jobs,
                                dask_scheduler=dask_scheduler)
        except ScenarioError as exc:
            raise UserError(str(exc)) from None
        summary, paths = write_sweep(out, res)
        if as_json:
            print(json.dumps({"summary": summary, "warnings": sc.warnings,
                              "files": [str(p) for p in paths.values()]},
                             indent=1, default=str))
            return
        _print_tables(_tables(summary, f"{sc.name}: sweep of {name}", (name,), wide), wide)
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
