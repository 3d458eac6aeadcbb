"""Benchmark: a sweep on a Dask LocalCluster with 1 and then 2 worker processes.

Prints wall time per cluster size, the speed-up from 1 to 2 workers, and checks that
both give the rows of local processes (the same seed: the same results). Figures only.
Usage (reduced size by default; the national-scale run is the same call with bigger
numbers on a real cluster, see docs/SIMULATOR.md):

    .venv/bin/python bench/bench_dask.py [--weapons 2000] [--days 30] [--values 0,0.5]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from simulator import scenario  # noqa: E402
from simulator.sweep import sweep  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--scenario", default=str(ROOT / "simulator/scenarios/sahel_depot.toml"))
    ap.add_argument("--weapons", type=int, default=2000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--param", default="adversaries.p_jammer")
    ap.add_argument("--values", default="0,0.5")
    ap.add_argument("--policy", action="append", default=None)
    args = ap.parse_args()
    from distributed import LocalCluster

    sc = scenario.load(args.scenario).with_overrides(
        {"scenario.weapons": args.weapons, "scenario.days": args.days})
    values = [float(v) for v in args.values.split(",")]
    policies = args.policy or ["time+geo+rfid"]
    kw = {"param": args.param, "values": values, "runs": 2, "seed": 1,
          "policies": policies, "profiles": ["fail-secure"]}
    print(f"{sc.name}: {args.weapons} weapons x {args.days} days, {len(values)} values x "
          f"{len(policies)} policies x 2 runs; {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}")
    walls = {}
    rows = {}
    for n in (1, 2):
        cluster = LocalCluster(n_workers=n, processes=True, threads_per_worker=1,
                               dashboard_address=":0")
        try:
            t0 = time.perf_counter()
            res = sweep(sc, dask_scheduler=str(cluster.scheduler_address), **kw)
            walls[n] = time.perf_counter() - t0
            rows[n] = res.rows()
        finally:
            cluster.close()
        days = args.weapons * args.days * len(values) * len(policies) * 2
        print(f"{n} worker(s): wall {walls[n]:7.1f} s, {days / walls[n]:9.0f} device-days/s")
    print(f"speed-up 1 -> 2 workers: {walls[1] / walls[2]:.2f}x (ideal 2.00x on 2 idle cores)")
    print(f"same rows on 1 and 2 workers: {rows[1] == rows[2]}")


if __name__ == "__main__":
    main()
