"""Deployment simulator: determinism, real-core decisions, fail profiles, metrics."""

from __future__ import annotations

import math

import pytest

from simulator import metrics, scenario
from simulator.report import summarize
from simulator.run import simulate

ZONES = """
[[zones]]
name = "depot"
kind = "depot"
polygon = [[16.27, -0.05], [16.27, -0.044], [16.276, -0.044], [16.276, -0.05]]

[[zones]]
name = "patrol"
kind = "patrol"
polygon = [[16.276, -0.1], [16.276, 0.04], [16.38, 0.04], [16.38, -0.1]]

[[zones]]
name = "abroad"
kind = "border"
polygon = [[16.0, 0.3], [16.0, 0.6], [16.6, 0.6], [16.6, 0.3]]
"""


def tiny(extra: str = "", weapons: int = 30, days: int = 6) -> scenario.Scenario:
    text = f"""
[scenario]
name = "tiny"
weapons = {weapons}
days = {days}
runs = 2
seed = 5
{ZONES}
[duty]
issue_prob = 0.6

[adversaries]
diversions_per_1000_weapon_months = 2000.0

[permits]
allowed_zones = ["depot", "patrol"]
forbidden_zones = ["abroad"]
{extra}
"""
    return scenario.loads(text, "tiny.toml")


def by_policy(res) -> dict[tuple[str, str], dict]:
    return {(r["policy"], r["profile"]): r for r in summarize(res.rows)}


def test_same_seed_gives_identical_results_whatever_the_process_count():
    sc = tiny()
    a = simulate(sc, ["none", "time+geo+rfid"], runs=2, seed=3, jobs=1)
    b = simulate(sc, ["none", "time+geo+rfid"], runs=2, seed=3, jobs=2)
    assert a.rows == b.rows
    assert a.diversions == b.diversions
    c = simulate(sc, ["time+geo+rfid"], runs=1, seed=4, jobs=1)
    key = ("time+geo+rfid", "fail-secure", 0)
    row_a = next(r for r in a.rows if (r["policy"], r["profile"], r["run"]) == key)
    row_c = next(r for r in c.rows if (r["policy"], r["profile"], r["run"]) == key)
    assert row_a != row_c  # another seed, another world


TRAFFICKING = """
[adversaries.mix]
depot_theft = 0.0
capture = 0.0
insider = 0.0
loss = 0.0
trafficking = 1.0
"""


# Isolate the rule under test: no adversary jammer/spoofer, no bad fixes, no RTC drift.
T0_ONLY = {"adversaries.tiers.T0": 1.0, **{f"adversaries.tiers.T{i}": 0.0 for i in range(1, 5)},
           "adversaries.p_corrupt_armourer": 0.0}
CLEAN = {"adversaries.p_jammer": 0.0, "adversaries.p_spoofer": 0.0, "gnss.p_bad_fix": 0.0,
         "clock.drift_ppm": 0.0, **T0_ONLY}


def test_geofence_locks_a_weapon_carried_across_the_border_and_none_does_not():
    sc = tiny(TRAFFICKING).with_overrides(CLEAN)
    res = simulate(sc, ["none", "geo", "rfid"], profiles=["fail-secure"], runs=1, seed=1,
                   jobs=1)
    s = by_policy(res)
    assert s[("none", "-")]["usable_1d"][0] == 100.0
    assert s[("geo", "fail-secure")]["usable_1d"][0] == 0.0
    # the insider keeps his valid token: without a geofence the weapon stays usable
    assert s[("rfid", "fail-secure")]["usable_1d"][0] == 100.0
    events = {r["policy"]: r["events"] for r in res.rows}
    assert events["none"] == 0 and events["geo"] > 0
    assert s[("geo", "fail-secure")]["audit_visible"][0] == 100.0


def test_time_limited_permit_expires_after_the_shift():
    sc = tiny(TRAFFICKING).with_overrides(CLEAN)
    res = simulate(sc, ["time"], profiles=["fail-secure"], runs=1, seed=2, jobs=1)
    s = by_policy(res)[("time", "fail-secure")]
    assert s["usable_1d"][0] == 0.0
    assert 0 < s["lockout_h"][0] < 24


JAM_PATROL = """
[[gnss.jamming]]
zone = "patrol"
start_day = 0.0
end_day = 30.0
hours = [0.0, 24.0]
"""


def test_fail_secure_and_fail_enabled_differ_under_jamming_as_expected():
    sc = tiny(JAM_PATROL + TRAFFICKING).with_overrides({"adversaries.p_jammer": 1.0, **T0_ONLY})
    res = simulate(sc, ["geo", "rfid"], runs=1, seed=1, jobs=1)
    s = by_policy(res)
    secure, enabled = s[("geo", "fail-secure")], s[("geo", "fail-enabled")]
    # a permit without zones: jamming does not deny an RFID-only lock (issue 9, item 1)
    assert s[("rfid", "fail-secure")]["false_denials_per_1000"][0] < 60
    # legitimate users in a jammed sector: fail-secure denies them, fail-enabled does not
    assert secure["false_denials_per_1000"][0] > enabled["false_denials_per_1000"][0] + 100
    # a trafficker with a jammer: fail-enabled waives the geofence, fail-secure holds
    assert enabled["usable_1d"][0] > secure["usable_1d"][0]
    assert secure["usable_1d"][0] == 0.0


def test_lockout_seconds_and_quantiles():
    probes = (60, 3600, 86400)
    assert metrics.lockout_seconds({"60": True, "3600": False}, probes) == 3600
    assert metrics.lockout_seconds({}, probes) == 0
    assert metrics.lockout_seconds({"60": True, "86400": True}, probes) == 86400
    assert metrics.quantile({100: 1, 200: 98, 900: 1}, 0.5) == 0.2
    assert metrics.quantile({100: 1, 200: 98, 900: 1}, 0.995) == 0.9
    assert math.isnan(metrics.quantile({}, 0.5))
    mean, lo, hi = metrics.mean_ci([1.0, 2.0, 3.0])
    assert mean == 2.0 and lo == pytest.approx(2 - 4.303 / math.sqrt(3))
    assert hi == pytest.approx(2 + 4.303 / math.sqrt(3))


def test_legitimate_costs_are_measured_with_sensor_time():
    res = simulate(tiny(), ["rfid+finger", "none"], profiles=["fail-secure"], runs=1,
                   seed=9, jobs=1)
    s = by_policy(res)
    both = s[("rfid+finger", "fail-secure")]
    # R503 capture 0.2 s + extraction 0.5 s + RFID exchanges + two 250 ms answers
    assert both["latency_p50_s"][0] >= 0.9
    assert s[("none", "-")]["latency_p50_s"][0] == 0.0
    assert s[("none", "-")]["false_denials_per_1000"][0] == 0.0


QUIET = {"adversaries.p_brute_force": 0.0, "adversaries.p_tamper_enclosure": 0.0,
         "adversaries.p_tamper_magnet": 0.0, "adversaries.p_sabotage": 0.0}


def mix_only(kind: str) -> str:
    shares = "\n".join(f"{k} = {1.0 if k == kind else 0.0}" for k in
                       ("depot_theft", "capture", "insider", "loss", "trafficking"))
    return "\n[adversaries.mix]\n" + shares + "\n"


@pytest.mark.parametrize("kind, defeated, helped", [
    # a captor with the holder's token: a magnet attempt latches the tamper state
    ("capture", {"adversaries.p_token_captured": 1.0, "adversaries.p_tamper_magnet": 1.0},
     {"adversaries.p_token_captured": 1.0, "adversaries.p_tamper_magnet": 0.0}),
    # a thief relaying a sleeping holder's token: the round-trip bound rejects the relay
    ("depot_theft", {"adversaries.p_relay": 1.0},
     {"adversaries.p_relay": 1.0, "sensors.rfid.relay_extra_us": 0}),
])
def test_adversary_means_meet_the_core_defences(kind, defeated, helped):
    base = tiny(mix_only(kind)).with_overrides({**CLEAN, **QUIET})
    usable = {}
    for name, over in (("defeated", defeated), ("helped", helped)):
        res = simulate(base.with_overrides(over), ["rfid"], profiles=["fail-secure"], runs=1,
                       seed=3, jobs=1)
        usable[name] = by_policy(res)[("rfid", "fail-secure")]["usable_1h"][0]
    assert usable["defeated"] == 0.0
    assert usable["helped"] == 100.0


def test_audit_visibility_definition():
    from simulator.adversaries import visible
    from simulator.world import Diversion

    div = Diversion("insider", 1000.0, (16.3, 0.0), 0)
    in_shift = [(1100.0, "cred_ok"), (1100.5, "unlock")]
    assert not visible(in_shift, div, shift_end=2000.0)       # looks like duty use
    assert visible(in_shift + [(2500.0, "unlock")], div, 2000.0)  # use after the shift
    assert visible([(1200.0, "deny")], div, 2000.0)            # a denial is flagged
    assert not visible([(900.0, "deny")], div, 2000.0)         # before the diversion
    assert visible([(1100.0, "cred_ok")], div, None)           # taken from store


def test_permit_template_gives_the_tokens_encode_gives():
    from hardware import fastverify
    from protocols.permit import SIG_LEN, decode, encode
    from simulator.keys import authority
    from simulator.policies import Policy
    from simulator.weapon import PermitTemplate

    signer = authority(bytes(32))
    keys = {signer.key_id: fastverify.PublicKey(signer.public)}
    pol = Policy("time+geo+rfid+finger", "fail-enabled")
    holders = pol.holders("0011223344556677", [(1, "A1B2C3D4E5F601", 1), (2, "0F0E0D0C", 2)])
    zones = [(False, [[(0, 0), (0, 400), (400, 400)]]), (True, [[(10, 20), (10, 30), (20, 30)]])]
    perm = {"max_unlock_s": 900, "window_s": 10}

    def fields(serial: int, nb: int, na: int) -> dict:
        return pol.permit_fields("W000007", serial, nb, na, perm, holders, zones)

    tpl = PermitTemplate(fields(1, 1_767_225_600, 1_767_254_400), signer)
    for serial, nb, na in ((1, 1_767_225_600, 1_767_254_400), (2, 1_767_312_000, 1_767_340_800),
                           (70_000, 4_000_000_000, 4_294_967_295), (3, 5, 5)):
        token = tpl.token(serial, nb, na)
        assert token[:-SIG_LEN] == encode(fields(serial, nb, na), signer)[:-SIG_LEN]
        p = decode(token, keys, fastverify.verify)  # the signature verifies, fields as set
        assert (p.serial, p.not_before, p.not_after, p.verified) == (serial, nb, na, True)
        forged = token[:-1] + bytes([token[-1] ^ 1])
        with pytest.raises(ValueError):
            decode(forged, keys, fastverify.verify)


def test_lock_left_open_relocks_at_the_core_deadline_without_a_periodic_tick():
    from protocols.audit import decode
    from protocols.crypto import device_key
    from protocols.permit import encode
    from simulator.device import Device
    from simulator.keys import authority
    from simulator.policies import Policy
    from simulator.sensors import Rtc

    start = 1_767_225_600
    key = device_key(bytes(32), "W000001")
    signer = authority(bytes(32))
    dev = Device("W000001", key, {}, Rtc(start, 0.0), (signer.public,))
    dev.keep_audit = True
    dev.boot(0.0)
    pol = Policy("rfid", "fail-secure")
    fields = pol.permit_fields("W000001", 1, start, start + 86400,
                               {"max_unlock_s": 60, "window_s": 10},
                               pol.holders("", [(1, "A1B2C3D4E5F601", 1)]),
                               pol.zones({}, [], []))
    dev.send(("permit", encode(fields, signer)), 10.0)
    fixes = 0
    t = 20.0
    while t < 200.0:  # fixes keep the position fresh; no other event reaches the lock
        dev.send(("fix", 162730000, -470000, 5, start + int(t)), t)
        fixes += 1
        if t == 20.0:
            dev.send(("rfid", "A1B2C3D4E5F601", 3000, True), t)
        t += 10.0
    dev.advance(t)
    assert dev.locked
    log = [(round(at, 3), decode(r)[2], decode(r)[3]) for at, r in dev.audits]
    opened = next(at for at, code, _ in log if code == "unlock")
    assert opened == 20.25  # the core's answer delay
    assert (opened + 60, "relock", "reason=timeout") in log  # exactly at max_unlock_s
    assert dev.events == 2 + fixes + 1 + 2  # boot, permit, fixes, rfid, two WAKE ticks


def test_fingerprint_scores_hold_the_datasheet_rates_at_the_calibration_threshold():
    import random

    from simulator.sensors import Finger

    f = Finger(scenario.DEFAULTS)
    rng = random.Random(7)
    n = 200_000
    dry = sum(f.genuine(rng, (False, False, False)) < 60 for _ in range(n)) / n
    wet = sum(f.genuine(rng, (True, False, False)) < 60 for _ in range(n)) / n
    assert 0.008 < dry < 0.012          # FRR 1 % dry
    assert 0.045 < wet < 0.055          # x5 wet
    imp = [f.impostor(rng) for _ in range(1_000_000)]
    assert sum(s >= 60 for s in imp) <= 30   # FAR 0.001 %: ~10 in a million
    assert sum(s >= 30 for s in imp) > 1000  # a lower threshold lets impostors in


# (policy, core config key, low value, high value, metric that must rise with the value)
THRESHOLDS = [
    ("finger", "finger_min_score", 60, 140, "false_denials_per_1000"),
    ("rfid", "relay_max_us", 8000, 60000, "usable_1h"),
]


@pytest.mark.parametrize("policy, key, low, high, metric", THRESHOLDS)
def test_simulated_outcome_moves_when_only_a_core_threshold_moves(policy, key, low, high,
                                                                  metric):
    """No lock decision in the simulator: the core's config alone moves the outcome."""
    base = tiny(mix_only("depot_theft")).with_overrides(
        {**CLEAN, "adversaries.p_relay": 1.0, "adversaries.p_brute_force": 0.0})
    got, rows = {}, {}
    for value in (low, high):
        sc = base.with_overrides({f"config.{key}": value})
        res = simulate(sc, [policy], profiles=["fail-secure"], runs=1, seed=3, jobs=1)
        got[value] = by_policy(res)[(policy, "fail-secure")][metric][0]
        rows[value] = res.rows[0]
    assert got[high] > got[low]
    for same in ("uses", "diversions"):  # the same world: only the core's rule changed
        assert rows[high][same] == rows[low][same] > 0


def test_wilson_and_paired_intervals():
    from simulator import stats

    lo, hi = stats.wilson(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)   # Wilson, not [0, 0]
    lo, hi = stats.wilson(81, 263)  # Newcombe 1998 example: 0.2553 - 0.3662
    assert (lo, hi) == (pytest.approx(0.2553, abs=1e-4), pytest.approx(0.3662, abs=1e-4))
    # paired difference: near Wald's interval for large n, inside [-1, 1] at the edge
    a, b, c, d = 400, 150, 100, 350
    n = a + b + c + d
    diff, lo, hi = stats.newcombe_paired(a, b, c, d)
    se = math.sqrt((b + c) - (b - c) ** 2 / n) / n
    assert diff == pytest.approx(0.05)
    assert lo == pytest.approx(diff - 1.96 * se, abs=0.003)
    assert hi == pytest.approx(diff + 1.96 * se, abs=0.003)
    diff, lo, hi = stats.newcombe_paired(0, 0, 20, 0)  # the second always 1, the first never
    assert diff == -1.0 and lo == -1.0 and -0.8 < hi < -0.7


def test_clustered_tries_widen_the_interval_by_the_design_effect():
    from simulator import stats

    indep, clump = [0.0] * stats.SS_LEN, [0.0] * stats.SS_LEN
    for i in range(100):  # 100 weapons x 10 tries, 50 denials in all
        stats.add_cluster(indep, 1 if i % 2 else 0, 10)      # spread over weapons
        stats.add_cluster(clump, 10 if i < 5 else 0, 10)     # five weapons fail always
    p1, lo1, hi1, n1, d1 = stats.clustered(indep)
    p2, lo2, hi2, n2, d2 = stats.clustered(clump)
    assert p1 == p2 == 0.05 and n1 == n2 == 1000
    assert d2 > 5 * d1 and hi2 - lo2 > 2 * (hi1 - lo1)


def test_denial_causes_come_from_the_core_audit_records():
    from simulator.causes import cause

    assert cause([("cred_reject", "finger match score 41 below 60")]) == "finger_reject"
    assert cause([("cred_reject", "rfid ignored: lockout,fix_stale")]) == "lockout"
    assert cause([("cred_ok", "rfid holder=1"),
                  ("deny", "holder=1 reasons=fix_stale,gnss_lost")]) == "gnss_jam_loss"
    assert cause([("cred_ok", "rfid holder=1")]) == "other"


def test_cost_per_weapon_year_follows_parts_permits_and_battery_draw():
    sc = tiny()
    res = simulate(sc, ["none", "time", "rfid", "finger"], profiles=["fail-secure"], runs=1,
                   seed=2, jobs=1)
    row = {r["policy"]: r for r in res.rows}
    assert row["none"]["cost_per_weapon_year"] == 0.0
    # the time policy re-issues a permit every shift: the armourer's time shows
    assert row["time"]["cost_permits"] > 5 * row["rfid"]["cost_permits"]
    assert row["rfid"]["battery_uah"] > 0 and row["rfid"]["cost_battery"] > 0
    dearer = simulate(sc.with_overrides({"costs.price.fingerprint": 112.0}), ["finger", "rfid"],
                      profiles=["fail-secure"], runs=1, seed=2, jobs=1)
    after = {r["policy"]: r for r in dearer.rows}
    life = sc.data["costs"]["service_life_years"]
    assert after["finger"]["cost_capex"] == pytest.approx(row["finger"]["cost_capex"]
                                                          + 100 / life)
    assert after["rfid"]["cost_per_weapon_year"] == row["rfid"]["cost_per_weapon_year"]


def test_report_leads_with_a_computed_summary_and_pairs_against_no_lock(tmp_path):
    from simulator.report import write_all

    res = simulate(tiny(TRAFFICKING).with_overrides(CLEAN), ["none", "geo", "rfid"],
                   profiles=["fail-secure"], runs=1, seed=1, jobs=1)
    text = write_all(tmp_path, res, baseline="rfid")["summary.md"].read_text()
    against_rfid = text[text.index("## Paired against rfid"):]
    assert "| geo | fail-secure |" in against_rfid.split("\n## ")[0]
    assert text.index("## Summary") < text.index("- scenario:")
    n = by_policy(res)[("geo", "fail-secure")]["n"]["diversions"]
    assert n > 0
    assert ("Under fail-secure, geo cuts usable diversions after 7 days from 100 % (no lock) "
            "to 0 % [0, ") in text and f"(n = {n} diversions)" in text
    assert f"| geo | fail-secure | {n} | 100 [" in text  # paired: all prevented, n pairs


def test_headline_table_gives_every_figure_with_its_interval_and_n(tmp_path):
    """One row per policy and profile: usable after 7 d overall and by tier, false
    denials, availability, cost per weapon-year and per prevented diversion, each with
    its interval and n; the CSV holds the same figures as the summary and the tiers."""
    import csv

    from simulator.report import write_all

    res = simulate(tiny(TRAFFICKING).with_overrides(CLEAN), ["none", "geo", "rfid"],
                   profiles=["fail-secure"], runs=2, seed=1, jobs=1)
    paths = write_all(tmp_path, res)
    text = paths["summary.md"].read_text()
    table = text[text.index("## Headline figures"):].split("\n## ")[0]
    assert text.index("## Headline figures") < text.index("## Paired against no lock")
    with paths["headline.csv"].open() as f:
        figs = {(r["policy"], r["metric"], r["tier"]): r for r in csv.DictReader(f)}
    row = by_policy(res)[("geo", "fail-secure")]
    fd = figs[("geo", "false_denials_per_1000", "")]
    assert float(fd["mean"]) == pytest.approx(row["false_denials_per_1000"][0], abs=1e-6)
    assert int(fd["n"]) == row["n"]["tries"] and fd["n_of"] == "tries"
    assert int(figs[("geo", "cost_per_weapon_year", "")]["n"]) == 2
    u7 = figs[("geo", "usable_7d", "all")]
    assert int(u7["n"]) == row["n"]["diversions"] > 0
    by_tier = [r for k, r in figs.items() if k[:2] == ("geo", "usable_7d") and k[2] != "all"]
    assert sum(int(r["n"]) for r in by_tier) == int(u7["n"])
    tier = by_tier[0]
    assert float(tier["ci95_low"]) <= float(tier["mean"]) <= float(tier["ci95_high"])
    prev = figs[("geo", "cost_per_prevented_7d", "")]
    assert prev["n_of"] == "pairs" and int(prev["n"]) == int(u7["n"])
    geo = next(line for line in table.splitlines() if line.startswith("| geo |"))
    assert f"({row['n']['tries']})" in geo and f"({u7['n']})" in geo
    assert geo.count("[") == 5 + len(by_tier)  # every figure has its interval
    assert "| none | - |" in table and table.count("\n|---") == 1


def test_precision_mode_adds_runs_until_the_target_or_the_cap():
    sc = tiny(weapons=10, days=3)
    loose = simulate(sc, ["rfid"], profiles=["fail-secure"], runs=1, seed=1, jobs=1,
                     precision=0.9, max_runs=8)
    assert loose.runs == 1 and loose.precision["met"]
    tight = simulate(sc, ["rfid"], profiles=["fail-secure"], runs=1, seed=1, jobs=1,
                     precision=0.001, max_runs=4)
    assert tight.runs == 4 and not tight.precision["met"]
    assert sorted({r["run"] for r in tight.rows}) == [0, 1, 2, 3]
    first = simulate(sc, ["rfid"], profiles=["fail-secure"], runs=4, seed=1, jobs=1)
    assert first.rows == tight.rows  # added runs are the runs a longer job would make
    from simulator.report import precision_sentence
    assert "NOT met" in precision_sentence(tight.precision)[0]


def test_the_core_not_the_simulator_classifies_jamming():
    """The simulator feeds observations (no fix since, satellites, C/N0); moving the core's
    jam_cn0_max below the jammed C/N0 turns its jamming alarms into 'lost'."""
    base = tiny(JAM_PATROL).with_overrides(CLEAN)
    got = {}
    for cn0_max in (30, 10):
        sc = base.with_overrides({"config.jam_cn0_max": cn0_max})
        res = simulate(sc, ["geo"], profiles=["fail-secure"], runs=1, seed=4, jobs=1)
        got[cn0_max] = res.rows[0]
    assert got[30]["gnss_jammed"] > 10 and got[10]["gnss_jammed"] == 0
    assert got[10]["gnss_lost"] >= got[30]["gnss_jammed"]
    assert got[30]["uses"] == got[10]["uses"]


def tiers_only(tier: str) -> dict:
    return {f"adversaries.tiers.T{i}": 1.0 if f"T{i}" == tier else 0.0 for i in range(5)}


def usable(sc, policy: str, col: str = "usable_1d") -> float:
    res = simulate(sc, [policy], profiles=["fail-secure"], runs=1, seed=6, jobs=1)
    return by_policy(res)[(policy, "fail-secure")][col][0]


def test_a_laptop_reflashes_an_unhardened_board_and_not_a_hardened_one():
    base = tiny(mix_only("depot_theft")).with_overrides({**CLEAN, **tiers_only("T1"),
                                                         "adversaries.p_relay": 0.0,
                                                         "platform.hardened": False})
    assert usable(base, "rfid") == 100.0                      # platform did not hold
    # a lab has the laptop too: an unhardened board falls to it in hours, not weeks
    assert usable(base.with_overrides(tiers_only("T3")), "rfid") == 100.0
    assert usable(base.with_overrides({"platform.hardened": True}), "rfid") == 0.0
    # a lab breaks a hardened rev 3 board too, after its (assumed) two weeks
    lab = base.with_overrides({"platform.hardened": True, **tiers_only("T3")})
    assert usable(lab, "rfid", "usable_7d") == 0.0
    assert usable(lab, "rfid", "usable_30d") == 100.0


def test_a_careful_spoofer_holds_the_place_but_cannot_hold_the_time():
    """Through the core's real checks: no jump, so the geofence is fooled; GNSS time held
    back against the RTC is refused (skew), so a time-limited permit still expires."""
    base = tiny(TRAFFICKING).with_overrides({**CLEAN, **tiers_only("T2"),
                                             "platform.hardened": True})  # no reflash
    assert usable(tiny(TRAFFICKING).with_overrides(CLEAN), "geo") == 0.0
    assert usable(base, "geo") == 100.0
    assert usable(base, "time+geo") == 0.0


def test_insider_tokens_go_through_the_core():
    base = tiny(TRAFFICKING).with_overrides(CLEAN)
    corrupt = base.with_overrides({"adversaries.p_corrupt_armourer": 1.0})
    assert usable(base, "time") == 0.0
    assert usable(corrupt, "time") == 100.0                   # a fresh real permit daily
    assert usable(corrupt, "time", "usable_30d") == 0.0       # he issued 7 days of them
    thief = tiny(mix_only("depot_theft")).with_overrides(
        {**CLEAN, **QUIET, "adversaries.p_key_compromised": 1.0,
         "adversaries.p_relay": 0.0, "platform.key_rotation_days": 1000.0})
    assert usable(thief, "rfid", "usable_30d") == 100.0       # minted, and trusted
    assert usable(thief, "finger", "usable_30d") == 0.0       # no reader to present it to
    # rotated at once: a device diverted after the compromise took the key update and
    # refuses the minted permit; one diverted before it still trusts the stolen key
    rotated = thief.with_overrides({"platform.key_rotation_days": 0.0})
    assert 0.0 < usable(rotated, "rfid", "usable_30d") < 100.0


def test_after_the_key_rotation_a_minted_permit_is_refused_by_the_core():
    from protocols.crypto import device_key
    from protocols.permit import encode
    from simulator.device import Device
    from simulator.keys import authority, rotation, successor
    from simulator.policies import Policy
    from simulator.sensors import Rtc

    master, start = bytes(range(32)), 1_767_225_600
    pol = Policy("rfid", "fail-enabled")
    fields = pol.permit_fields("W000003", 1000, start, start + 86400,
                               {"max_unlock_s": 60, "window_s": 10},
                               [(99, ("0A0B0C0D0E0F10",), ())], [])
    stolen = encode(fields, authority(master))  # what the stolen key mints
    results = {}
    for name in ("not rotated", "rotated"):
        dev = Device("W000003", device_key(master, "W000003"), {}, Rtc(start, 0.0),
                     (authority(master).public,))
        dev.boot(0.0)
        if name == "rotated":
            acts = dev.send(("permit", rotation(master, "W000003", 1, start)), 1.0)
            assert [a[1] for a in acts if a[0] == "result"] == [True]
        acts = dev.send(("permit", stolen), 2.0)
        results[name] = next(a[1:] for a in acts if a[0] == "result")
    assert results["not rotated"][0] is True
    assert results["rotated"][0] is False and "revoked" in results["rotated"][1]
    fields["serial"] = 1001  # the authority's new key is trusted after the rotation
    acts = dev.send(("permit", encode(fields, successor(master))), 3.0)
    assert next(a[1] for a in acts if a[0] == "result") is True
