"""Paired comparisons in the report: false denials paired by weapon, and the cost per
prevented usable diversion carrying the cost's run-to-run variation (issue 11)."""

from __future__ import annotations

import math
import random

import pytest

from simulator import stats
from simulator.compare import cost_per_prevented, paired
from simulator.report import summarize
from simulator.run import simulate
from tests.test_simulator import tiny


def test_mover_ratio_is_exact_when_either_side_is_known():
    assert stats.mover_ratio((10, 8, 12), (2, 2, 2)) == (5.0, 4.0, 6.0)
    est, lo, hi = stats.mover_ratio((10, 10, 10), (2, 1.6, 2.5))
    assert (est, lo, hi) == (5.0, pytest.approx(4.0), pytest.approx(6.25))
    est, lo, hi = stats.mover_ratio((10, 8, 12), (2, 1.6, 2.5))  # both vary: wider than each
    assert lo < 4.0 - 0.3 and hi > 6.25 + 0.3
    assert stats.mover_ratio((10, 8, 12), (2, -0.5, 3.0))[2] == math.inf  # may prevent none


def test_cost_per_prevented_widens_with_the_cost_spread():
    share = (0.5, 0.4, 0.6)
    fixed = cost_per_prevented((100.0, math.nan, math.nan), share, 10.0)
    spread = cost_per_prevented((100.0, 60.0, 140.0), share, 10.0)
    assert fixed[0] == spread[0] == pytest.approx(100 / (0.01 * 0.5))
    assert fixed[1] == pytest.approx(100 / 0.006) and fixed[2] == pytest.approx(100 / 0.004)
    assert spread[1] < fixed[1] - 1000 and spread[2] > fixed[2] + 1000


def test_paired_false_denials_are_narrower_than_unpaired_when_weapons_agree():
    rng = random.Random(4)
    pairs = []
    for _ in range(200):  # weapons differ a lot; the policy adds about one denial in 50
        tries = rng.randint(5, 40)
        hard = rng.random() < 0.3  # a weapon whose holder struggles under both policies
        x2 = sum(rng.random() < (0.4 if hard else 0.02) for _ in range(tries))
        x1 = min(tries, x2 + sum(rng.random() < 0.02 for _ in range(tries)))
        pairs.append((x1, tries, x2, tries))
    diff, lo, hi = stats.paired_ratio_diff(pairs)
    x1 = sum(p[0] for p in pairs)
    x2 = sum(p[2] for p in pairs)
    assert diff == pytest.approx((x1 - x2) / sum(p[1] for p in pairs))
    shuffled = [(a, n, c, m) for (a, n, _c, _m), (_a, _n, c, m)
                in zip(pairs, rng.sample(pairs, len(pairs)), strict=True)]
    _d, ulo, uhi = stats.paired_ratio_diff(shuffled)  # same margins, pairing destroyed
    assert lo > 0 > ulo  # only the pairing shows the extra denials
    assert hi - lo < 0.4 * (uhi - ulo)


def test_report_pairs_false_denials_and_cost_against_none_and_a_baseline():
    res = simulate(tiny(), ["none", "time", "rfid"], profiles=["fail-secure"], runs=2,
                   seed=3, jobs=1)
    summary = {(r["policy"], r["profile"]): r for r in summarize(res.rows)}
    pairs = {p["policy"]: p for p in paired(summarize(res.rows), res.diversions, 10.0,
                                            rows=res.rows)}
    own = summary[("time", "fail-secure")]["false_denials_per_1000"][0]
    fd = pairs["time"]["extra_false_denials_per_1000"]
    assert fd[0] == pytest.approx(own) and fd[1] < fd[0] < fd[2]  # none denies nobody
    assert pairs["time"]["n_weapon_runs"] == 2 * 30
    cost = pairs["time"]["extra_cost_per_weapon_year"]
    assert cost[1] < cost[0] < cost[2]  # permits per shift: the cost varies by run
    assert pairs["time"]["cost_per_prevented"] == cost_per_prevented(
        cost, pairs["time"]["prevented_604800s"], 10.0)
    vs_rfid = paired(summarize(res.rows), res.diversions, 10.0, "rfid", res.rows)
    assert [p["policy"] for p in vs_rfid] == ["time"]
    assert vs_rfid[0]["baseline"] == "rfid"
    assert len(vs_rfid[0]["extra_false_denials_per_1000"]) == 3
