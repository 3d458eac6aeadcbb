"""Parameter sweeps: one scenario key over several values, locally or on Dask."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from typing import Any

from simulator.run import Result, collect, diversion_rows, execute, make_tasks, per_run_metrics
from simulator.run import run_shard as _run_shard
from simulator.scenario import Scenario, ScenarioError


def parse_param(spec: str) -> tuple[str, list[Any]]:
    """'a.b=1,2.5,x' -> ('a.b', [1, 2.5, 'x']); values read as TOML scalars."""
    name, sep, vals = spec.partition("=")
    name = name.strip()
    if not sep or not name or not vals.strip():
        raise ScenarioError(f"--param {spec!r}: expected NAME=V1,V2,...")
    out: list[Any] = []
    for raw in vals.split(","):
        raw = raw.strip()
        try:
            out.append(tomllib.loads(f"v = {raw}")["v"])
        except tomllib.TOMLDecodeError:
            out.append(raw)
    return name, out


class SweepResult:
    """Per-point results of a sweep."""

    def __init__(self, param: str, points: list[tuple[Any, Result]]) -> None:
        self.param = param
        self.points = points

    def rows(self) -> list[dict[str, Any]]:
        """Per-run rows with the swept value in column `param`."""
        out = []
        for value, res in self.points:
            for r in res.rows:
                out.append({self.param: value, **r})
        return out


def sweep(sc: Scenario, param: str, values: list[Any], runs: int, seed: int | None = None,
          policies: list[str] | None = None, profiles: list[str] | None = None,
          jobs: int = 2, dask_scheduler: str | None = None,
          progress: Callable[[int], None] | None = None,
          on_tasks: Callable[[int], None] | None = None) -> SweepResult:
    """Simulate every value of `param`; Dask when a scheduler address is given."""
    s = sc.data["scenario"]
    seed = int(seed if seed is not None else s["seed"])
    policies = list(policies or s["policies"])
    profiles = list(profiles or s["profiles"])
    scs = [sc.with_overrides({param: v}) for v in values]
    tasks: list[dict[str, Any]] = []
    owner: list[int] = []
    for i, point in enumerate(scs):
        ts = make_tasks(point, policies, profiles, runs, seed)
        tasks += ts
        owner += [i] * len(ts)
    if on_tasks:
        on_tasks(len(tasks))
    if dask_scheduler:
        results = _on_dask(tasks, dask_scheduler, progress)
    else:
        results = execute(tasks, jobs, progress)
    points = []
    for i, (value, point) in enumerate(zip(values, scs, strict=True)):
        merged = collect([r for r, o in zip(results, owner, strict=True) if o == i])
        points.append((value, Result(point, seed, runs, per_run_metrics(merged, point.data),
                                     diversion_rows(merged), 0.0)))
    return SweepResult(param, points)


def _on_dask(tasks: list[dict[str, Any]], address: str,
             progress: Callable[[int], None] | None) -> list[dict[str, Any]]:
    from distributed import Client, as_completed

    try:
        client = Client(address, timeout="10s")
    except OSError as exc:
        raise ScenarioError(f"cannot reach Dask scheduler {address!r}: {exc}") from None
    try:
        futures = client.map(_run_shard, tasks, pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        results: list[dict[str, Any] | None] = [None] * len(tasks)
        for fut in as_completed(futures):
            results[index[fut.key]] = fut.result()
            if progress:
                progress(1)
        return [r for r in results if r is not None]
    finally:
        client.close()
