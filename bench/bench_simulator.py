"""Benchmark: 10,000 weapons x 30 days with every event source on, next to bare SimPy.

Prints wall time, controller events and SimPy events per second, and a bare SimPy
baseline (the same number of trivial timeout events) measured in the same run.
Device-days per CPU second depend on the scenario: a weapon in a depot sends the core
about 2 events a day, one drawn for a daily patrol about 20. So the bench prints the
events per device-day and the CPU microseconds per controller event next to it; with
--split (one process) also the share of CPU spent in the firmware core (Host.handle:
the controller and its actions, the permit's signature check included) against the
simulator's side (world, sensors, the armourer's signing, SimPy). Figures only, no
assertions. Usage:

    .venv/bin/python bench/bench_simulator.py [--weapons 10000] [--days 30] [--jobs 2] [--repeat 5]
        [--scenario simulator/scenarios/sahel_depot.toml] [--policy time+geo+rfid+finger]
        [--split]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import simpy  # noqa: E402

from simulator import scenario  # noqa: E402
from simulator.run import simulate  # noqa: E402


def bare_simpy(n_events: int, procs: int = 1000) -> float:
    """Seconds to process n_events trivial timeouts spread over `procs` processes."""
    env = simpy.Environment()
    per = max(1, n_events // procs)

    def proc(env: simpy.Environment):
        for _ in range(per):
            yield env.timeout(1)

    for _ in range(procs):
        env.process(proc(env))
    t0 = time.perf_counter()
    env.run()
    return time.perf_counter() - t0


def _time_core() -> list[float]:
    """Accumulate CPU seconds spent in Host.handle (the core and its actions) into the
    returned list's one element; in this process only."""
    from firmware.core.host import Host

    acc = [0.0]
    orig = Host.handle
    clock = time.process_time

    def handle(self, ev, mono_ms, rtc_s):  # type: ignore[no-untyped-def]
        t0 = clock()
        try:
            return orig(self, ev, mono_ms, rtc_s)
        finally:
            acc[0] += clock() - t0

    Host.handle = handle  # type: ignore[method-assign]
    return acc


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--scenario", default=str(ROOT / "simulator/scenarios/sahel_depot.toml"))
    ap.add_argument("--weapons", type=int, default=10_000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--policy", default="time+geo+rfid+finger")
    ap.add_argument("--profile", default="fail-secure")
    ap.add_argument("--repeat", type=int, default=1,
                    help="run N times and print the median device-days/CPU-s (host noise)")
    ap.add_argument("--split", action="store_true",
                    help="time the firmware core apart (forces --jobs 1)")
    args = ap.parse_args()
    core = _time_core() if args.split else None
    if core is not None:
        args.jobs = 1

    sc = scenario.load(args.scenario).with_overrides(
        {"scenario.weapons": args.weapons, "scenario.days": args.days})
    print(f"scenario {sc.name} ({sc.sha256[:12]}), {args.weapons} weapons x {args.days} days, "
          f"policy {args.policy} / {args.profile}, {args.jobs} processes, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    rates = []
    for _ in range(max(1, args.repeat)):
        res = simulate(sc, [args.policy], runs=1, seed=1, jobs=args.jobs,
                       profiles=[args.profile])
        rates.append(args.weapons * args.days / res.cpu_s)
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    every = sum(b.ru_utime + b.ru_stime - a.ru_utime - a.ru_stime
                for a, b in ((r0, r1), (c0, c1))) / len(rates)   # per run
    row = res.rows[0]
    ctrl, sim = int(row["events"]), int(row["sim_events"])
    wall = res.wall_s
    days = args.weapons * args.days
    print(f"wall time                 {wall:8.1f} s   (target <= 60 s; load average now "
          f"{os.getloadavg()[0]:.1f})")
    print(f"CPU time in workers       {res.cpu_s:8.1f} s   (/ {args.jobs} = "
          f"{res.cpu_s / args.jobs:.1f} s on idle cores)")
    print(f"CPU time, all processes   {every:8.1f} s   (getrusage: this process and its "
          f"children, per run)")
    print(f"device-days               {days:8d}   {days / wall:10.0f} /s wall, "
          f"{days / res.cpu_s:.0f} /CPU-s")
    if len(rates) > 1:
        print(f"device-days /CPU-s, {len(rates)} runs: median {statistics.median(rates):.0f} "
              f"(min {min(rates):.0f}, max {max(rates):.0f})")
    print(f"controller events         {ctrl:8d}   {ctrl / wall:10.0f} /s wall, "
          f"{ctrl / res.cpu_s:.0f} /CPU-s")
    print(f"events per device-day     {ctrl / days:8.2f}   CPU per event "
          f"{res.cpu_s / ctrl * 1e6:.1f} us (all of it: core and simulator)")
    if core is not None:
        in_core = core[0]
        print(f"CPU in the firmware core  {in_core:8.1f} s   ({in_core / res.cpu_s:.0%}; "
              f"{in_core / ctrl * 1e6:.1f} us/event; simulator side "
              f"{(res.cpu_s - in_core) / ctrl * 1e6:.1f} us/event, timer included)")
        print(f"device-days /CPU-s if the simulator side cost nothing: "
              f"{days / in_core:.0f}")
    print(f"SimPy episodes (timeouts) {sim:8d}   {sim / wall:10.0f} /s")
    print(f"diversions simulated      {int(row['diversions']):8d}")
    print(f"audit records             {int(row['audit_records']):8d}")
    base = bare_simpy(ctrl)
    print(f"bare SimPy, {ctrl} timeouts, 1 process: {base:.2f} s = {ctrl / base:.0f} events/s")
    print(f"simulated controller events/s vs bare SimPy events/s: "
          f"{ctrl / wall:.0f} vs {ctrl / base:.0f} ({(ctrl / wall) / (ctrl / base):.3f}x)")


if __name__ == "__main__":
    main()
