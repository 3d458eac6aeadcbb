"""Running simulations: weapon shards in processes, small SimPy worlds within a shard.

Weapons never interact, so a (policy, profile, run) is split into weapon shards that run
in separate processes and are merged afterwards; every weapon draws from its own random
streams, so results do not depend on the number of shards or processes. Within a shard,
weapons are simulated in groups of GROUP, one SimPy world per group: the same results
as one world for the whole shard, but the working set of a group stays in the CPU
caches and the garbage collector scans a small heap (about 25 % less CPU at 5,000
weapons per shard).
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import platform
import time
from collections.abc import Callable, Iterable
from importlib import metadata
from typing import Any

import simpy

from firmware.core import config as core_config
from simulator import costs
from simulator.keys import master_key
from simulator.metrics import Tally, run_metrics
from simulator.policies import Policy
from simulator.report import summarize
from simulator.scenario import Scenario
from simulator.weapon import Context, Weapon

Task = dict[str, Any]
GROUP = 4  # weapons per SimPy world (they never interact: any grouping gives equal results)


def versions() -> dict[str, str]:
    """Versions recorded with every result."""
    try:
        armlock = metadata.version("armlock")
    except metadata.PackageNotFoundError:
        armlock = "0+unknown"
    return {"armlock": armlock, "simpy": simpy.__version__,
            "python": platform.python_version()}


def run_shard(task: Task) -> dict[str, Any]:
    """Simulate weapons task['lo']:task['hi'] of one (policy, profile, run)."""
    t0 = time.perf_counter()
    c0 = time.process_time()
    data = task["data"]
    policy = Policy(task["policy"], task["profile"])
    overrides = dict(data["config"])
    cfg = core_config.merge(overrides)
    ctx = Context(data, policy, task["seed"], task["run"], master_key(task["seed"]), cfg,
                  overrides)
    tally = Tally()
    lo, hi = task["lo"], task["hi"]
    for first in range(lo, hi, GROUP):
        env = simpy.Environment()
        for idx in range(first, min(first + GROUP, hi)):
            env.process(Weapon(ctx, idx, tally).process(env))
        env.run()
    return {"key": (task["policy"], task["profile"], task["run"]), "tally": tally.to_dict(),
            "wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0}


def make_tasks(sc: Scenario, policies: Iterable[str], profiles: Iterable[str], runs: int,
               seed: int, shards: int = 1, first_run: int = 0) -> list[Task]:
    """Every (policy, profile, run, shard) for runs first_run .. first_run + runs - 1;
    ``none`` runs once per run (it has no fail profile)."""
    data = sc.data
    n = int(data["scenario"]["weapons"])
    shards = max(1, min(shards, n))
    bounds = [(n * i // shards, n * (i + 1) // shards) for i in range(shards)]
    tasks: list[Task] = []
    for pol in policies:
        profs = ["fail-secure"] if pol == "none" else list(profiles)
        for prof in profs:
            for r in range(first_run, first_run + runs):
                for lo, hi in bounds:
                    tasks.append({"data": data, "policy": pol, "profile": prof, "run": r,
                                  "seed": seed, "lo": lo, "hi": hi})
    return tasks


def execute(tasks: list[Task], jobs: int,
            progress: Callable[[int], None] | None = None) -> list[dict[str, Any]]:
    """Run tasks in `jobs` processes (1: in this process); results in task order."""
    if jobs <= 1 or len(tasks) == 1:
        out = []
        for task in tasks:
            out.append(run_shard(task))
            if progress:
                progress(1)
        return out
    ctx = mp.get_context("fork" if hasattr(os, "fork") else "spawn")
    results: list[dict[str, Any] | None] = [None] * len(tasks)
    with ctx.Pool(jobs) as pool:
        for i, res in pool.imap_unordered(_indexed, list(enumerate(tasks))):
            results[i] = res
            if progress:
                progress(1)
    return [r for r in results if r is not None]


def _indexed(item: tuple[int, Task]) -> tuple[int, dict[str, Any]]:
    return item[0], run_shard(item[1])


def collect(results: list[dict[str, Any]]) -> dict[tuple[str, str, int], Tally]:
    """Merge shard tallies into one tally per (policy, profile, run)."""
    merged: dict[tuple[str, str, int], Tally] = {}
    for res in results:
        key = tuple(res["key"])
        tally = merged.setdefault(key, Tally())  # type: ignore[arg-type]
        tally.merge(Tally.from_dict(res["tally"]))
    for tally in merged.values():
        tally.divs.sort(key=lambda d: d["weapon"])
    return merged  # type: ignore[return-value]


def per_run_metrics(merged: dict[tuple[str, str, int], Tally],
                    data: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (policy, profile, run) with metric values, costs and counters."""
    rows = []
    for (pol, prof, run), tally in sorted(merged.items()):
        row: dict[str, Any] = {"policy": pol, "profile": "-" if pol == "none" else prof,
                               "run": run}
        row.update(run_metrics(tally))
        cost = costs.per_weapon_year(data, Policy(pol, prof), tally.c)
        row["cost_per_weapon_year"] = cost.pop("total")
        row.update({f"cost_{k}": v for k, v in cost.items()})
        row.update({k: v for k, v in tally.c.items()})
        row["_ss"] = tally.ss  # cluster statistics for pooled intervals (not written)
        rows.append(row)
    return rows


class Result:
    """Outcome of a simulation: per-run rows, diversion rows and provenance."""

    def __init__(self, sc: Scenario, seed: int, runs: int, rows: list[dict[str, Any]],
                 diversions: list[dict[str, Any]], wall_s: float) -> None:
        self.scenario = sc.name
        self.scenario_path = sc.path
        self.sha256 = sc.sha256
        self.overrides = dict(sc.overrides)
        self.seed = seed
        self.runs = runs
        self.rows = rows
        self.diversions = diversions
        self.wall_s = wall_s
        self.cpu_s = 0.0  # CPU seconds summed over worker processes
        self.precision: dict[str, Any] | None = None  # precision mode: target and outcome
        self.versions = versions()
        self.weapons = int(sc.data["scenario"]["weapons"])
        self.zones = list(sc.data["zones"])
        self.real_rate = float(sc.data["costs"]["real_diversions_per_1000_weapon_years"])
        self.days = int(sc.data["scenario"]["days"])

    def provenance(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "scenario_sha256": self.sha256, "seed": self.seed,
                "runs": self.runs, "weapons": self.weapons, "days": self.days,
                **({"overrides": self.overrides} if self.overrides else {}),
                **({"precision": self.precision} if self.precision else {}), **self.versions}


def simulate(sc: Scenario, policies: list[str] | None = None, runs: int | None = None,
             seed: int | None = None, jobs: int = 2, profiles: list[str] | None = None,
             progress: Callable[[int], None] | None = None,
             on_tasks: Callable[[int], None] | None = None,
             precision: float | None = None, max_runs: int = 100) -> Result:
    """Simulate every policy x fail profile x run of a scenario.

    With `precision` (e.g. 0.02): after the first `runs`, add runs (doubling, at most
    `max_runs` in all) until every headline interval's half-width is at most that
    (as a proportion: 0.02 = 2 percentage points, or 20 false denials per 1,000 tries);
    ``Result.precision`` says whether it was met and which interval was widest.
    """
    s = sc.data["scenario"]
    policies = list(policies or s["policies"])
    profiles = list(profiles or s["profiles"])
    runs = int(runs if runs is not None else s["runs"])
    seed = int(seed if seed is not None else s["seed"])
    t0 = time.perf_counter()
    results: list[dict[str, Any]] = []
    done = 0
    step = runs
    while True:
        per_key = len(policies) * len(profiles) * step
        # several shards per process: a process that finishes early takes the next one
        shards = max(1, min(16, (4 * jobs + per_key - 1) // max(1, per_key)))
        tasks = make_tasks(sc, policies, profiles, step, seed, shards, first_run=done)
        if on_tasks:
            on_tasks(len(tasks))
        results += execute(tasks, jobs, progress)
        done += step
        merged = collect(results)
        rows = per_run_metrics(merged, sc.data)
        if precision is None:
            break
        check = precision_check(rows, precision)
        check.update(runs=done, max_runs=max_runs)
        if check["met"] or done >= max_runs:
            break
        step = min(done, max_runs - done)
    res = Result(sc, seed, done, rows, diversion_rows(merged), time.perf_counter() - t0)
    res.cpu_s = sum(r["cpu_s"] for r in results)
    if precision is not None:
        res.precision = check
    return res


HEADLINE = {"usable_7d": 100.0, "false_denials_per_1000": 1000.0, "availability": 100.0}


def precision_check(rows: list[dict[str, Any]], target: float) -> dict[str, Any]:
    """Is every headline interval's half-width (as a proportion) <= target?"""
    worst = ("", "", "", 0.0)
    for row in summarize(rows):
        for name, scale in HEADLINE.items():
            _est, lo, hi = row[name]
            half = (hi - lo) / 2 / scale if not (math.isnan(lo) or math.isnan(hi)) else 1.0
            if half > worst[3]:
                worst = (row["policy"], row["profile"], name, half)
    return {"target": target, "met": worst[3] <= target, "worst_policy": worst[0],
            "worst_profile": worst[1], "worst_metric": worst[2], "worst_half_width": worst[3]}


def diversion_rows(merged: dict[tuple[str, str, int], Tally]) -> list[dict[str, Any]]:
    """One row per diversion per (policy, profile, run)."""
    from simulator.adversaries import PROBES

    rows = []
    for (pol, prof, run), tally in sorted(merged.items()):
        for d in tally.divs:
            row = {"policy": pol, "profile": "-" if pol == "none" else prof, "run": run,
                   "weapon": d["weapon"], "kind": d["kind"], "tier": d["tier"],
                   "t_s": round(d["t"], 3),
                   "lockout_s": d["lockout_s"], "visible": int(d["visible"])}
            row.update({f"usable_{off}s": int(bool(d["usable"].get(str(off))))
                        for off in PROBES})
            rows.append(row)
    return rows
