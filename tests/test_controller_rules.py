"""The lock controller, rule by rule and relock trigger by relock trigger.

Every test drives firmware.core.controller.LockController through the `Rig` of
conftest.py and asserts both the actuator commands and the audit records.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest
from conftest import (
    HOLDER1_FINGER,
    HOLDER1_RFID,
    HOLDER2_FINGER,
    HOLDER2_RFID,
    OTHER_DEVICE,
    POINTS,
    ROGUE,
    T0,
    ZONE_B,
    Rig,
    actuations,
    audit_codes,
    audit_details,
    box_ring,
    flip_bit,
    kinds,
    make_permit,
    make_recall,
    make_reset,
    permit_fields,
)

from protocols import permit

FAIL_ENABLED = dict(fail_enabled=True)


def rig_with(token: bytes, where: str = "in", config: dict[str, Any] | None = None) -> Rig:
    r = Rig(config)
    r.ready(token, where)
    return r


def assert_denied(acts: list[tuple], reason: str) -> None:
    """No unlock; a deny record that names `reason`."""
    assert actuations(acts) == []
    denies = audit_details(acts, "deny")
    assert denies and reason in denies[-1], (acts, denies)


def assert_creds_refused(r: Rig, reason: str) -> None:
    """Credentials are answered "no" without being evaluated, naming `reason`."""
    acts = r.present()
    assert ("answer", r.mono + 250, False) in acts
    assert reason in audit_details(acts, "cred_reject")[-1]
    assert actuations(r.settle_answer()) == [] and r.locked


def assert_unlocked(acts: list[tuple]) -> None:
    assert actuations(acts) == [False]
    assert "unlock" in audit_codes(acts)


def assert_relocked(acts: list[tuple], reason: str) -> None:
    assert actuations(acts) == [True]
    rel = audit_details(acts, "relock")
    assert rel and reason in rel[-1], (acts, rel)


def result(acts: list[tuple]) -> tuple:
    """The single RESULT action of a PERMIT event."""
    res = [a for a in acts if a[0] == "result"]
    assert len(res) == 1, acts
    return res[0]


def refused(acts: list[tuple], words: str) -> None:
    res = [a for a in acts if a[0] == "result"]
    assert len(res) == 1 and res[0][1] is False and words in res[0][2], res
    # audited, or counted into the window of refusals (aggregated: test_refusals.py)
    assert audit_codes(acts) in (["permit_refused"], [])
    assert actuations(acts) == []


# -- rule 1: permits ---------------------------------------------------------------------

def test_valid_permit_loads_and_allows_unlock(rig: Rig) -> None:
    rig.boot()
    acts = rig.send(("permit", make_permit(1)))
    assert ("result", True, "permit 1 loaded") in acts
    assert audit_codes(acts) == ["permit_loaded"]
    assert "persist" in kinds(acts)
    rig.fix("in")
    acts = rig.unlock()
    assert_unlocked(acts)
    assert audit_details(acts, "unlock")[0].startswith("holder=1 serial=1")


def test_expired_permit_is_refused_and_does_not_raise_the_serial_floor(rig: Rig) -> None:
    rig.boot()
    refused(rig.send(("permit", make_permit(5, not_before=T0 - 7200, not_after=T0 - 1))),
            "expired")
    assert rig.c.status()["permit"] is None
    assert result(rig.send(("permit", make_permit(2))))[1] is True


def test_not_yet_valid_permit_loads_but_does_not_open(rig: Rig) -> None:
    rig.ready(make_permit(1, not_before=T0 + 3600, not_after=T0 + 7200))
    assert_denied(rig.unlock(), "permit_not_yet_valid")
    assert rig.locked


def test_permit_becomes_valid_at_not_before(rig: Rig) -> None:
    rig.ready(make_permit(1, not_before=T0 + 60, not_after=T0 + 7200))
    rig.advance(60_000)
    rig.fix("in")
    assert_unlocked(rig.unlock())


@pytest.mark.parametrize("bit", [0, 40, 8 * 20 + 3, 8 * 60, -1, -8 * 16])
def test_forged_permit_is_refused_and_state_unchanged(ready_rig: Rig, bit: int) -> None:
    tok = make_permit(2, not_after=T0 + 20 * 3600)
    bad = flip_bit(tok, bit % (8 * len(tok)))
    before = ready_rig.c.status()
    acts = ready_rig.send(("permit", bad))
    res = [a for a in acts if a[0] == "result"]
    assert res and res[0][1] is False
    assert audit_codes(acts) in (["permit_refused"], [])
    after = ready_rig.c.status()
    assert after["permit"] == before["permit"]
    assert_unlocked(ready_rig.unlock())


def test_permit_for_another_device_is_refused(ready_rig: Rig) -> None:
    other = permit.encode(dict(permit_fields(2), device_id=OTHER_DEVICE), ROGUE)
    refused(ready_rig.send(("permit", other)), OTHER_DEVICE)
    # our device id, but signed with a key this lock does not trust
    wrong_key = make_permit(3, key=ROGUE)
    refused(ready_rig.send(("permit", wrong_key)), "unknown key")
    assert ready_rig.c.status()["permit"]["serial"] == 1


@pytest.mark.parametrize("serial", [3, 2])
def test_replayed_permit_same_or_lower_serial_is_refused(rig: Rig, serial: int) -> None:
    rig.ready(make_permit(3))
    refused(rig.send(("permit", make_permit(serial))), "replayed")
    assert rig.c.status()["permit"]["serial"] == 3


def test_recall_disables_until_a_newer_permit(ready_rig: Rig) -> None:
    r = ready_rig
    assert_unlocked(r.unlock())
    acts = r.send(("permit", make_recall(2)))
    assert_relocked(acts, "recalled")
    assert "recall" in audit_codes(acts)
    assert ("indicate", "disabled") in acts
    assert r.c.status()["reasons"][0] == "recalled"
    acts = r.present()
    assert ("answer", r.mono + 250, False) in acts
    assert "recalled" in audit_details(acts, "cred_reject")[0]
    # a permit older than the recall is a replay
    refused(r.send(("permit", make_permit(1))), "replayed")
    # recall survives a reboot
    r.advance(1000)
    r.reboot()
    assert "recalled" in r.c.status()["reasons"]
    assert result(r.send(("permit", make_permit(3)))) == ("result", True, "permit 3 loaded")
    r.fix("in")
    assert_unlocked(r.unlock())


def test_new_permit_replaces_loaded_one_and_relocks(ready_rig: Rig) -> None:
    r = ready_rig
    r.unlock()
    acts = r.send(("permit", make_permit(2)))
    assert_relocked(acts, "permit_replaced")
    assert "permit_loaded" in audit_codes(acts)


def test_credentials_checked_against_old_permit_do_not_open_with_a_new_one(
        ready_rig: Rig) -> None:
    # regression: a decision pending at the answer deadline survived a permit change
    r = ready_rig
    r.present(1)
    r.at(50, ("permit", make_permit(2, holders=[(9, ("0499999999",), (44,))])))
    acts = r.settle_answer()
    assert actuations(acts) == [] and r.locked


def test_position_is_rechecked_against_a_newly_loaded_permit(ready_rig: Rig) -> None:
    # regression: the zone status of the last fix was cached from the previous permit
    r = ready_rig
    r.send(("permit", make_permit(2, zones=[(False, [box_ring(ZONE_B)])])))
    assert_denied(r.unlock(), "outside_zone")


# -- rule 3: credentials -----------------------------------------------------------------

def test_any_of_one_factor_is_enough() -> None:
    r = rig_with(make_permit(1, rule_mode=permit.MODE_ANY, k=1))
    r.send(("rfid", HOLDER1_RFID, 1000, True))
    assert_unlocked(r.settle_answer())


def test_all_of_needs_every_factor(ready_rig: Rig) -> None:
    r = ready_rig
    acts = r.send(("rfid", HOLDER1_RFID, 1000, True))
    assert ("answer", r.mono + 250, True) in acts
    r.advance(5000)
    assert actuations(r.send(("tick",))) == []
    assert r.locked
    acts = r.send(("finger", HOLDER1_FINGER, 100))
    assert audit_codes(acts) == ["cred_ok"]
    assert_unlocked(r.settle_answer())


@pytest.mark.parametrize(("k", "opens_with_one"), [(1, True), (2, False)])
def test_k_of_n(k: int, opens_with_one: bool) -> None:
    r = rig_with(make_permit(1, rule_mode=permit.MODE_KOFN, k=k))
    r.send(("finger", HOLDER1_FINGER, 90))
    acts = r.settle_answer()
    assert actuations(acts) == ([False] if opens_with_one else [])
    if not opens_with_one:
        r.send(("rfid", HOLDER1_RFID, 500, True))
        assert_unlocked(r.settle_answer())


@pytest.mark.parametrize(("gap_ms", "opens"), [(30_000, True), (30_001, False)])
def test_factor_window(ready_rig: Rig, gap_ms: int, opens: bool) -> None:
    r = ready_rig
    r.fix("in")
    r.send(("rfid", HOLDER1_RFID, 1000, True))
    r.advance(gap_ms)
    r.fix("in")
    r.send(("finger", HOLDER1_FINGER, 100))
    acts = r.settle_answer()
    assert actuations(acts) == ([False] if opens else [])


def test_factors_of_two_holders_do_not_combine(ready_rig: Rig) -> None:
    r = ready_rig
    r.send(("rfid", HOLDER1_RFID, 1000, True))
    r.at(1000, ("finger", HOLDER2_FINGER, 100))
    assert actuations(r.settle_answer()) == []
    r.send(("rfid", HOLDER2_RFID, 1000, True))
    assert_unlocked(r.settle_answer())
    assert "holder=2" in audit_details(r.log[-1][2], "unlock")[0]


def test_another_holders_credential_does_not_cancel_a_factor(ready_rig: Rig) -> None:
    """Two soldiers at one rack: holder 2's finger between holder 1's factors."""
    r = ready_rig
    r.send(("rfid", HOLDER1_RFID, 1000, True))
    r.at(1000, ("finger", HOLDER2_FINGER, 100))
    r.at(1000, ("finger", HOLDER1_FINGER, 100))
    assert_unlocked(r.settle_answer())
    assert "holder=1" in audit_details(r.log[-1][2], "unlock")[0]


@pytest.mark.parametrize(("ev", "why"), [
    (("rfid", "04DEADBEEF0000", 1000, True), "unknown rfid"),
    (("finger", 99, 100), "unknown fingerprint"),
    (("rfid", HOLDER1_RFID, 1000, False), "weak rfid"),
    (("rfid", HOLDER1_RFID, 8001, True), "relay suspected"),
    (("finger", HOLDER1_FINGER, 59), "score 59 below 60"),
])
def test_bad_credential_is_rejected_audited_and_counted(ready_rig: Rig, ev: tuple,
                                                        why: str) -> None:
    r = ready_rig
    acts = r.send(ev)
    assert ("answer", r.mono + 250, False) in acts
    assert why in audit_details(acts, "cred_reject")[0]
    assert r.c.status()["lockout"]["failures"] == 1
    assert "persist" in kinds(acts)
    # the rejected factor does not count towards an unlock
    other = ("finger", HOLDER1_FINGER, 100) if ev[0] == "rfid" else \
        ("rfid", HOLDER1_RFID, 1000, True)
    r.at(1000, other)
    assert actuations(r.settle_answer()) == []


@pytest.mark.parametrize(("ev", "ok"), [
    (("rfid", HOLDER1_RFID, 8000, True), True),
    (("finger", HOLDER1_FINGER, 60), True),
    (("rfid", HOLDER1_RFID.lower(), 1000, True), True),
])
def test_credential_at_its_bound_is_accepted(ready_rig: Rig, ev: tuple, ok: bool) -> None:
    acts = ready_rig.send(ev)
    assert ("answer", ready_rig.mono + 250, ok) in acts
    assert audit_codes(acts) == ["cred_ok"]


def test_weak_rfid_allowed_when_configured() -> None:
    r = rig_with(make_permit(1), config={"allow_weak_rfid": True})
    r.send(("rfid", HOLDER1_RFID, 1000, False))
    r.at(1000, ("finger", HOLDER1_FINGER, 100))
    assert_unlocked(r.settle_answer())


def test_every_credential_is_answered_at_the_same_deadline(rig: Rig) -> None:
    rig.boot()
    deadlines = []
    acts = rig.send(("rfid", HOLDER1_RFID, 1000, True))       # no permit
    deadlines.append([a for a in acts if a[0] == "answer"][0][1] - rig.mono)
    rig.send(("permit", make_permit(1)))
    rig.fix("in")
    for ev in [("rfid", HOLDER1_RFID, 1000, True), ("finger", 99, 100),
               ("rfid", "0400000000", 1000, True), ("finger", 1, 10),
               ("finger", HOLDER1_FINGER, 100)]:  # ok, bad, bad, bad -> lockout, locked out
        rig.advance(100)
        acts = rig.send(ev)
        ans = [a for a in acts if a[0] == "answer"]
        assert len(ans) == 1
        deadlines.append(ans[0][1] - rig.mono)
    assert deadlines == [250] * 6
    assert "lockout" in rig.c.status()["reasons"]


# -- rule 4: position --------------------------------------------------------------------

@pytest.mark.parametrize(("where", "reason"), [
    ("in", None), ("in_edge", None), ("in_b", None),
    ("out_far", "outside_zone"), ("out_near", "outside_zone"),
    ("hole_deep", "outside_zone"), ("hole_edge", "outside_zone"),
    ("forbid_deep", "in_forbidden_zone"), ("forbid_edge", "in_forbidden_zone"),
])
def test_geofence_decides_at_unlock(where: str, reason: str | None) -> None:
    r = Rig()
    r.ready(where=where)
    acts = r.unlock()
    if reason is None:
        assert_unlocked(acts)
    else:
        assert_denied(acts, reason)


@pytest.mark.parametrize(("where", "stays_open"), [
    ("out_near", True), ("hole_edge", True), ("forbid_edge", True),
    ("out_beyond", False), ("hole_deep", False), ("forbid_deep", False), ("out_far", False),
])
def test_exit_hysteresis_while_open(ready_rig: Rig, where: str, stays_open: bool) -> None:
    r = ready_rig
    assert_unlocked(r.unlock())
    r.advance(200_000)  # long enough for any of these moves to be plausible
    acts = r.fix(where)
    if stays_open:
        assert actuations(acts) == [] and not r.locked
    else:
        assert_relocked(acts, "forbidden" if "forbid" in where else "outside_zone")


def test_stale_fix_denies_and_wake_relocks_when_fix_goes_stale(ready_rig: Rig) -> None:
    r = ready_rig
    fix_mono = r.mono
    assert_unlocked(r.unlock())
    assert r.wake_at == fix_mono + 15_001
    acts = r.tick_to_wake()
    assert_relocked(acts, "fix_stale")
    assert "fail-secure holds for fix_stale" in audit_details(acts, "fail_profile")
    assert_denied(r.unlock(), "fix_stale")


@pytest.mark.parametrize(("hacc", "opens"), [(30, True), (31, False), (500, False)])
def test_fix_precision_bound(ready_rig: Rig, hacc: int, opens: bool) -> None:
    rig = ready_rig
    rig.advance(16_000)  # the precise fix of ready_rig is stale now
    rig.fix("in", hacc=hacc)
    acts = rig.unlock()
    if opens:
        assert_unlocked(acts)
    else:
        assert_denied(acts, "fix_imprecise")


def test_imprecise_fix_does_not_replace_a_fresh_precise_one(ready_rig: Rig) -> None:
    rig = ready_rig
    rig.advance(1000)
    rig.fix("in", hacc=500)
    assert_unlocked(rig.unlock())


def test_permit_without_zones_needs_no_fix() -> None:
    """A permit with no zones does not limit where: no GNSS needed (rule 4 vacuous)."""
    r = Rig()
    r.boot()
    acts = r.send(("permit", make_permit(1, zones=[])))
    assert ("result", True, "permit 1 loaded") in acts
    assert_unlocked(r.unlock())


def test_implausible_jump_is_refused_then_recovers(ready_rig: Rig) -> None:
    r = ready_rig
    assert_unlocked(r.unlock())
    r.advance(1000)
    acts = r.fix("spoof")
    assert "fix_implausible" in audit_codes(acts)
    assert_relocked(acts, "fix_implausible")
    assert_denied(r.unlock(), "fix_implausible")
    # a jump to a nearby allowed place 1 s later is also implausible (still spoofed) ...
    r.advance(1000)
    r.fix("in_b")
    assert "fix_implausible" in r.c.status()["reasons"]
    # ... but a fix consistent with the last good one clears it
    r.advance(1000)
    acts = r.fix("in")
    assert audit_details(acts, "fix_implausible") == ["cleared"]
    assert_unlocked(r.unlock())


def test_spoofing_is_not_waived_by_fail_enabled() -> None:
    r = rig_with(make_permit(1, **FAIL_ENABLED))
    r.advance(1000)
    r.fix("spoof")
    assert_denied(r.unlock(), "fix_implausible")


def test_far_move_is_plausible_given_enough_time(ready_rig: Rig) -> None:
    r = ready_rig
    r.advance(600_000)  # 10 minutes: 4 km at 70 m/s is possible
    acts = r.fix("out_far")
    assert "fix_implausible" not in audit_codes(acts)
    assert_denied(r.unlock(), "outside_zone")


# GNSS observations (silent_ms, nofix_ms, sats, cn0_dbhz) the core classifies as
GNSS_SEEN = {"lost": ("gnss", 5000, 5000, 0, -1), "jammed": ("gnss", 200, 31_000, 2, -1)}


@pytest.mark.parametrize("status", ["lost", "jammed"])
def test_gnss_loss_fail_secure_locks(ready_rig: Rig, status: str) -> None:
    r = ready_rig
    assert_unlocked(r.unlock())
    acts = r.at(100, GNSS_SEEN[status])
    assert [d.split(" ")[0] for d in audit_details(acts, "gnss")] == [status]
    assert_relocked(acts, "gnss_lost")
    assert "fail-secure holds for gnss_lost" in audit_details(acts, "fail_profile")
    assert_denied(r.unlock(), "gnss_lost")


@pytest.mark.parametrize("status", ["lost", "jammed"])
def test_gnss_loss_fail_enabled_opens_and_is_audited(status: str) -> None:
    r = rig_with(make_permit(1, **FAIL_ENABLED))
    r.send(GNSS_SEEN[status])
    acts = r.unlock()
    assert_unlocked(acts)
    assert "fail-enabled waives gnss_lost" in audit_details(acts, "fail_profile")
    assert "waived=gnss_lost" in audit_details(acts, "unlock")[0]


def test_fail_enabled_still_holds_outside_the_zone() -> None:
    r = rig_with(make_permit(1, **FAIL_ENABLED), where="out_far")
    assert_denied(r.unlock(), "outside_zone")


# -- rule 2: time ------------------------------------------------------------------------

def test_clock_rollback_after_reboot_locks_and_is_audited(ready_rig: Rig) -> None:
    r = ready_rig
    r.advance(400_000)
    r.send(("tick",))  # the time floor advances (and is persisted)
    floor = r.c.status()["time_floor"]
    assert floor == r.utc
    r.advance(1000)
    r.rtc_err = -1000  # the RTC lost its time
    acts = r.reboot()
    assert f"rollback rtc={r.rtc} floor={floor}" in audit_details(acts, "time")
    assert "time=untrusted" in audit_details(acts, "boot")[0]
    assert r.c.status()["time_trusted"] is False
    r.fix("in", utc=None)
    assert_denied(r.unlock(), "time_untrusted")


def test_rollback_recovers_with_consistent_gnss_time(ready_rig: Rig) -> None:
    r = ready_rig
    r.advance(400_000)
    r.send(("tick",))
    r.rtc_err = -1000
    r.reboot()
    time_acts = []
    for _ in range(3):
        r.advance(1000)
        time_acts += r.fix("in")
    assert any(a[0] == "set_rtc" and a[1] == r.utc for a in time_acts)
    assert any("resync" in d for d in audit_details(time_acts, "time"))
    assert r.c.status()["time_trusted"] is True
    assert_unlocked(r.unlock())


def test_gnss_time_within_skew_bound_corrects_the_clock(ready_rig: Rig) -> None:
    r = ready_rig
    r.rtc_err = 100
    r.advance(1000)
    acts = r.fix("in")
    assert audit_codes(acts) == [] and r.c.status()["time"] == r.utc
    assert_unlocked(r.unlock())


def test_skew_beyond_bound_untrusts_time_and_relocks(ready_rig: Rig) -> None:
    r = ready_rig
    assert_unlocked(r.unlock())
    r.advance(1000)
    acts = r.fix("in", utc=r.utc + 500)
    assert "untrusted rtc/gnss skew=500" in audit_details(acts, "time")
    assert_relocked(acts, "time_untrusted")
    assert_denied(r.unlock(), "time_untrusted")


def test_resync_after_consistent_gnss_time_and_rtc_stays_set(ready_rig: Rig) -> None:
    # regression: after SET_RTC the controller kept its correction on top of the new RTC
    r = ready_rig
    r.rtc_err = -5000
    acts: list[tuple] = []
    for _ in range(3):
        r.advance(1000)
        acts += r.fix("in")
    assert [a for a in acts if a[0] == "set_rtc"] == [("set_rtc", r.utc)]
    assert r.rtc_err == 0
    for _ in range(5):
        r.advance(1000)
        acts = r.fix("in")
        assert audit_codes(acts) == [], acts
        assert r.c.status()["time"] == r.utc and r.c.status()["time_trusted"]
    assert_unlocked(r.unlock())


def test_gnss_time_behind_the_floor_never_resyncs(ready_rig: Rig) -> None:
    r = ready_rig
    r.advance(400_000)
    r.send(("tick",))
    for _ in range(5):
        r.advance(1000)
        r.fix("in", utc=r.utc - 86400)
    assert r.c.status()["time_trusted"] is False
    assert r.c.status()["time"] >= r.c.status()["time_floor"]


# -- rule 5: lockout ---------------------------------------------------------------------

def fail(r: Rig, n: int) -> list[tuple]:
    acts: list[tuple] = []
    for _ in range(n):
        r.advance(300)
        acts += r.send(("finger", 99, 100))
    return acts


def test_lockout_after_fail_max_failures(ready_rig: Rig) -> None:
    r = ready_rig
    acts = fail(r, 3)
    assert audit_details(acts, "lockout") == ["level=1 seconds=30"]
    assert ("indicate", "lockout") in acts
    assert r.c.status()["lockout"]["until"] == r.utc + 30
    # valid credentials are answered "no" and not even evaluated while locked out
    acts = r.present()
    assert ("answer", r.mono + 250, False) in acts
    assert "lockout" in audit_details(acts, "cred_reject")[0]
    assert actuations(r.settle_answer()) == [] and r.locked
    r.advance(30_000)
    r.fix("in")
    assert_unlocked(r.unlock())


@pytest.mark.parametrize(("cap", "lengths"),
                         [(3600, [30, 60, 120, 240]), (100, [30, 60, 100, 100])])
def test_lockout_backs_off_exponentially_with_cap(cap: int, lengths: list[int]) -> None:
    r = rig_with(make_permit(1), config={"lockout_cap_s": cap})
    got = []
    for _ in lengths:
        acts = fail(r, 3)
        d = audit_details(acts, "lockout")[0]
        got.append(int(d.split("seconds=")[1]))
        r.advance((got[-1] + 1) * 1000)
    assert got == lengths


def test_lockout_survives_reboot(ready_rig: Rig) -> None:
    r = ready_rig
    fail(r, 3)
    r.advance(1000)
    r.reboot()
    assert "lockout" in r.c.status()["reasons"]
    r.fix("in")
    acts = r.present()
    assert ("answer", r.mono + 250, False) in acts
    assert r.locked


def test_success_resets_the_failure_count(ready_rig: Rig) -> None:
    r = ready_rig
    fail(r, 2)
    assert r.c.status()["lockout"]["failures"] == 2
    r.fix("in")
    assert_unlocked(r.unlock())
    assert r.c.status()["lockout"]["failures"] == 0
    r.send(("grip", True))
    r.send(("grip", False))
    acts = fail(r, 2)
    assert "lockout" not in audit_codes(acts)


# -- rule 5: tamper latch -----------------------------------------------------------------

@pytest.mark.parametrize("source", ["enclosure", "magnet", "actuator"])
def test_tamper_latches_until_authority_reset(ready_rig: Rig, source: str) -> None:
    r = ready_rig
    assert_unlocked(r.unlock())
    if source == "actuator":
        r.send(("grip", True))
        r.send(("grip", False))            # relocked
        relocked = r.mono
        assert audit_codes(r.at(100, ("actpos", False))) == []  # the bolt may still move
        acts = r.tick_to_wake()            # ... but it is not in after settling: forced
        assert r.mono == relocked + 300    # actuator_settle_ms
    else:
        acts = r.at(100, ("tamper", source))
        assert_relocked(acts, "tamper_" + source)
    assert audit_details(acts, "tamper") == [f"source={source} latched"]
    assert ("indicate", "tamper") in acts
    assert r.c.status()["tamper"] == source
    r.fix("in")
    acts = r.present()
    assert ("answer", r.mono + 250, False) in acts
    assert r.c.status()["lockout"]["failures"] == 0
    # the latch survives a reboot
    r.advance(1000)
    r.reboot()
    assert "tamper_latched" in r.c.status()["reasons"]
    # a permit does not clear it; an authority reset does
    r.send(("permit", make_permit(2)))
    r.fix("in")
    assert_creds_refused(r, "tamper_latched")
    acts = r.send(("permit", make_reset(3)))
    assert ("result", True, "authority reset (serial 3)") in acts
    assert audit_codes(acts) == ["tamper_reset"]
    r.fix("in")
    assert_unlocked(r.unlock())


def test_actuator_position_agreeing_is_no_tamper(ready_rig: Rig) -> None:
    r = ready_rig
    assert r.send(("actpos", True)) == []
    r.unlock()
    assert audit_codes(r.send(("actpos", False))) == []
    assert r.c.status()["tamper"] == ""


def test_reset_token_replay_is_refused(ready_rig: Rig) -> None:
    r = ready_rig
    r.send(("tamper", "magnet"))
    r.send(("permit", make_reset(2)))
    r.send(("tamper", "magnet"))
    refused(r.send(("permit", make_reset(2))), "replayed")
    assert r.c.status()["tamper"] == "magnet"


# -- rule 5: battery ---------------------------------------------------------------------

def test_battery_low_warns_and_still_opens(ready_rig: Rig) -> None:
    r = ready_rig
    acts = r.send(("battery", 3450))
    assert audit_details(acts, "battery") == ["low mv=3450"]
    assert ("indicate", "battery_low") in acts
    assert_unlocked(r.unlock())


def test_battery_critical_fail_secure_locks(ready_rig: Rig) -> None:
    r = ready_rig
    assert_unlocked(r.unlock())
    acts = r.send(("battery", 3300))
    assert audit_details(acts, "battery") == ["critical mv=3300"]
    assert_relocked(acts, "battery_critical")
    assert "fail-secure holds for battery_critical" in audit_details(acts, "fail_profile")
    assert_denied(r.unlock(), "battery_critical")
    r.send(("battery", 3900))
    r.fix("in")
    assert_unlocked(r.unlock())


def test_battery_critical_fail_enabled_keeps_working() -> None:
    r = rig_with(make_permit(1, **FAIL_ENABLED))
    assert_unlocked(r.unlock())
    acts = r.send(("battery", 3200))
    assert actuations(acts) == []
    assert "fail-enabled waives battery_critical" in audit_details(acts, "fail_profile")
    r.send(("grip", True))
    assert_relocked(r.send(("grip", False)), "grip_released")
    r.fix("in")
    assert_unlocked(r.unlock())


# -- relock triggers -----------------------------------------------------------------------

def test_unlock_timeout(rig: Rig) -> None:
    rig.ready(make_permit(1, max_unlock_s=5))
    assert_unlocked(rig.unlock())
    opened = rig.mono
    assert rig.wake_at == opened + 5000
    rig.advance(4000)
    rig.fix("in")
    assert not rig.locked
    assert rig.wake_at == opened + 5000
    assert_relocked(rig.tick_to_wake(), "timeout")


def test_grip_release_relocks(ready_rig: Rig) -> None:
    r = ready_rig
    r.unlock()
    assert r.send(("grip", True)) == []
    assert_relocked(r.at(500, ("grip", False)), "grip_released")


def test_grip_held_through_the_unlock_then_released_relocks(ready_rig: Rig) -> None:
    # regression: the grip state was forgotten at unlock, so this release did nothing
    r = ready_rig
    r.send(("grip", True))
    assert_unlocked(r.unlock())
    assert_relocked(r.at(500, ("grip", False)), "grip_released")


def test_permit_expiry_while_open_relocks_at_wake() -> None:
    r = rig_with(make_permit(1, not_before=T0 - 60, not_after=T0 + 12))
    assert_unlocked(r.unlock())
    assert r.wake_at is not None
    while not r.locked:
        acts = r.tick_to_wake()
    assert_relocked(acts, "permit_expired")
    assert r.utc == T0 + 13


def test_recall_while_open_relocks(ready_rig: Rig) -> None:
    r = ready_rig
    r.unlock()
    assert_relocked(r.send(("permit", make_recall(2))), "recalled")


def test_fault_of_actuator_locks_both_profiles() -> None:
    for fe in (False, True):
        r = rig_with(make_permit(1, fail_enabled=fe))
        assert_unlocked(r.unlock())
        acts = r.send(("fault", "actuator", False))
        assert audit_details(acts, "fault") == ["actuator failed"]
        assert_relocked(acts, "actuator_fault")


def test_fail_enabled_discounts_a_failed_sensor_from_the_factor_rule() -> None:
    r = rig_with(make_permit(1, **FAIL_ENABLED))
    r.send(("fault", "finger", False))
    r.send(("rfid", HOLDER1_RFID, 1000, True))
    assert_unlocked(r.settle_answer())
    r2 = rig_with(make_permit(1))
    r2.send(("fault", "finger", False))
    r2.send(("rfid", HOLDER1_RFID, 1000, True))
    assert actuations(r2.settle_answer()) == []


# -- malformed events ----------------------------------------------------------------------

MALFORMED = [
    ("fix", "52.3", 130000000, 5, None), ("fix", 523000000, 130000000, 5), ("fix",),
    ("fix", True, 130000000, 5, None), ("fix", 523000000, 130000000, 5.0, None),
    ("fix", 523000000, 130000000, 5, "now"), ("fix", 950000000, 0, 5, None),
    ("rfid", 1234, 1000, True), ("rfid", HOLDER1_RFID, "1000", True),
    ("rfid", HOLDER1_RFID, 1000, 1), ("rfid", HOLDER1_RFID),
    ("finger", "3", 100), ("finger", 3, 99.5), ("finger",),
    ("permit", 12345), ("permit", None), ("permit", "ALPM not bytes"), ("permit",),
    ("gnss", "maybe"), ("gnss", None), ("gnss", "jammed"), ("gnss", 0, 0, 5, 1.5),
    ("gnss", -1, 0, 5, 40), ("gnss", 0, -2, 5, 40), ("gnss", 0, 0, 5),
    ("rfid_fail", None), ("rfid_fail",), ("finger_fail", 3),
    ("grip", 1), ("grip", None), ("actpos", "yes"), ("tamper", "actuator"),
    ("tamper", "cat"), ("tamper", ["magnet"]), ("battery", 3.3), ("battery", True),
    ("fault", "radio", False), ("fault", "gnss", 0), ("boot", None, "again"),
]


@pytest.mark.parametrize("ev", MALFORMED, ids=[repr(e)[:40] for e in MALFORMED])
def test_malformed_event_changes_nothing(ready_rig: Rig, ev: tuple) -> None:
    r = ready_rig
    r.send(("rfid", HOLDER1_RFID, 1000, True))   # one factor in, to see it is kept
    before = r.c.status()
    acts = r.send(ev)
    assert len(acts) == 1 and acts[0][0] == "result" and acts[0][1] is False, acts
    assert r.c.status() == before
    r.at(1000, ("finger", HOLDER1_FINGER, 100))
    assert_unlocked(r.settle_answer())


NEEDS = [
    (("fix", "52.3", 130000000, 5, None),
     "fix needs (lat_e7:int, lon_e7:int, hacc_m:int, utc_s:int|None)"),
    (("fix", 950000000, 0, 5, None), "coordinates out of range"),
    (("fix", 523000000, 130000000, 5), "tuple index out of range"),
    (("gnss", 0, 0, 5, 1.5), "gnss needs (silent_ms:int, nofix_ms:int, sats:int, cn0_dbhz:int)"),
    (("gnss", -1, 0, 5, 40), "gnss observation out of range (silent_ms >= 0, nofix_ms >= -1, "
                             "sats >= 0, cn0_dbhz >= -1)"),
    (("rfid", 1234, 1000, True), "rfid needs (cred:str, rtt_us:int, strong:bool)"),
    (("finger", 3, 99.5), "finger needs (template:int, score:int)"),
    (("rfid_fail", None), "rfid_fail needs why:str"),
    (("finger_fail", 3), "finger_fail needs why:str"),
    (("grip", 1), "grip needs held:bool"),
    (("actpos", "yes"), "actpos needs locked:bool"),
    (("tamper", "cat"), "tamper source must be one of enclosure,magnet"),
    (("magnet", -1), "magnet needs deviation:int >= 0"),
    (("read_errors", "radio", 1), "read_errors needs (sensor in rfid|finger|gnss|actuator, "
                                  "consecutive:int >= 0)"),
    (("battery", 3.3), "battery needs millivolts:int"),
    (("fault", "radio", False), "fault needs (sensor in rfid|finger|gnss|actuator|ble, ok:bool)"),
    (("permit", None), "permit needs token:bytes"),
]


@pytest.mark.parametrize("ev,needs", NEEDS, ids=[repr(e)[:40] for e, _ in NEEDS])
def test_malformed_event_result_says_what_it_needs(ready_rig: Rig, ev: tuple,
                                                   needs: str) -> None:
    assert ready_rig.send(ev) == [("result", False, "malformed %s event: %s" % (ev[0], needs))]


@pytest.mark.parametrize("ev", [("nonsense",), (), "tick", None, ["tick"]])
def test_unknown_event_is_refused(ready_rig: Rig, ev: Any) -> None:
    before = ready_rig.c.status()
    acts = ready_rig.send(ev)
    assert len(acts) == 1 and acts[0][:2] == ("result", False)
    assert ready_rig.c.status() == before


def test_events_before_boot_are_refused(rig: Rig) -> None:
    assert rig.send(("tick",)) == [("result", False, "not booted")]


# -- damaged state record ------------------------------------------------------------------

def test_damaged_state_record_keeps_locked_until_authority_reset(ready_rig: Rig) -> None:
    r = ready_rig
    r.send(("tamper", "magnet"))
    r.advance(1000)
    damaged = flip_bit(r.blob, 8 * 30 + 1)
    acts = r.reboot(damaged)
    assert actuations(acts) == [True]
    assert audit_details(acts, "state") == ["damaged: state record CRC mismatch"]
    assert "persist" not in kinds(acts)        # the damaged record is kept as evidence
    assert r.c.status()["reasons"][0] == "state_damaged"
    r.fix("in")
    refused(r.send(("permit", make_permit(2))), "only an authority reset")
    acts = r.present()
    assert ("answer", r.mono + 250, False) in acts
    # regression: the first boot overwrote the damaged record with a blank one, so a
    # second reboot came up clean, without the tamper latch and with serial floor 0
    r.advance(1000)
    r.reboot()
    assert "state_damaged" in r.c.status()["reasons"]
    acts = r.send(("permit", make_reset(5)))
    assert ("result", True, "authority reset (serial 5)") in acts
    assert "persist" in kinds(acts)
    r.advance(1000)
    r.reboot()
    assert r.c.status()["reasons"] == ["no_permit"]
    refused(r.send(("permit", make_permit(4))), "replayed")
    r.send(("permit", make_permit(6)))
    r.fix("in")
    assert_unlocked(r.unlock())


@pytest.mark.parametrize("cut", [0, 1, 10, 60, -5, -1])
def test_truncated_state_record_is_damaged(ready_rig: Rig, cut: int) -> None:
    r = ready_rig
    blob = r.blob
    assert blob is not None
    acts = r.reboot(blob[:cut])  # cut 0: an empty record is damaged, not a first boot
    assert "state" in audit_codes(acts)
    assert "state_damaged" in r.c.status()["reasons"]


# -- observations the core classifies (drivers observe, the core decides) ------------------

def test_a_bolt_stuck_locked_is_a_fault_not_a_tamper_latch(ready_rig: Rig) -> None:
    r = ready_rig
    r.send(("actpos", True))
    acts = r.unlock()
    assert_unlocked(acts)
    opened = r.mono
    assert r.wake_at == opened + 300          # the core looks again once the bolt had time
    acts = r.tick_to_wake()                # ... and it never moved
    assert audit_details(acts, "actuator") == ["stuck locked: sensed locked 300 ms after "
                                               "unlock"]
    assert_relocked(acts, "actuator_fault")
    assert "tamper" not in audit_codes(acts) and r.c.status()["tamper"] == ""
    r.advance(1000)
    assert_unlocked(r.unlock())            # a malfunction: the next authorisation retries
    assert audit_codes(r.send(("actpos", False))) == []   # it moved this time


def test_a_bolt_that_moves_within_the_settle_time_is_not_classified(ready_rig: Rig) -> None:
    r = ready_rig
    r.send(("actpos", True))
    r.unlock()
    acts = r.at(200, ("actpos", False))    # reached open after 200 ms
    assert audit_codes(acts) == [] and not r.locked
    r.send(("grip", True))
    acts = r.send(("grip", False))
    assert_relocked(acts, "grip_released")
    assert audit_codes(r.at(250, ("actpos", True))) == []
    assert r.c.status()["tamper"] == "" and r.c.status()["reasons"] == []


def test_settle_time_is_core_config() -> None:
    r = rig_with(make_permit(1), config={"actuator_settle_ms": 2000})
    r.send(("actpos", True))
    r.unlock()
    opened = r.mono
    assert r.wake_at == opened + 2000
    assert audit_codes(r.at(1500, ("tick",))) == []
    assert_relocked(r.tick_to_wake(), "actuator_fault")


def test_forcing_the_bolt_open_while_locked_latches_at_once(ready_rig: Rig) -> None:
    r = ready_rig
    r.advance(5000)                        # locked long ago: nothing is moving
    acts = r.send(("actpos", False))
    assert audit_details(acts, "tamper") == ["source=actuator latched"]


def test_a_host_cannot_latch_the_actuator_itself(ready_rig: Rig) -> None:
    acts = ready_rig.send(("tamper", "actuator"))
    assert acts[0][:2] == ("result", False) and ready_rig.c.status()["tamper"] == ""


def jam_rig(config: dict[str, Any] | None = None) -> Rig:
    r = rig_with(make_permit(1), config=config)
    r.advance(31_000)
    return r


def gnss_audit(acts: list[tuple]) -> list[str]:
    return [d.split(" ")[0] for d in audit_details(acts, "gnss")]


def test_jamming_is_decided_by_core_thresholds_jam_max_sats_moves_it() -> None:
    seen = ("gnss", 100, 31_000, 5, -1)    # alive, no fix for 31 s, 5 satellites
    assert gnss_audit(jam_rig().send(seen)) == ["lost"]                  # 5 > 3
    assert gnss_audit(jam_rig({"jam_max_sats": 5}).send(seen)) == ["jammed"]


def test_jamming_is_decided_by_core_thresholds_jam_no_fix_s_moves_it() -> None:
    seen = ("gnss", 100, 20_000, 2, -1)
    assert gnss_audit(jam_rig().send(seen)) == ["lost"]                  # 20 s < 30 s
    assert gnss_audit(jam_rig({"jam_no_fix_s": 15}).send(seen)) == ["jammed"]


def test_a_strong_satellite_means_not_jammed_when_the_receiver_reports_cn0() -> None:
    assert gnss_audit(jam_rig().send(("gnss", 100, 31_000, 2, 28))) == ["jammed"]
    assert gnss_audit(jam_rig().send(("gnss", 100, 31_000, 2, 42))) == ["lost"]
    assert gnss_audit(jam_rig({"jam_cn0_max": 45}).send(("gnss", 100, 31_000, 2, 42))) \
        == ["jammed"]


def test_a_silent_receiver_is_lost_not_jammed_and_a_fresh_fix_is_ok() -> None:
    r = jam_rig()
    acts = r.send(("gnss", 4000, 40_000, 0, -1))
    assert audit_details(acts, "gnss") == ["lost silent_ms=4000 nofix_ms=40000 sats=0 cn0=-1"]
    assert "gnss_lost" in r.c.status()["reasons"]
    assert gnss_audit(r.send(("gnss", 100, 900, 8, 44))) == ["ok"]
    assert r.send(("gnss", 100, 900, 8, 44)) == []             # no change, nothing said


def test_no_fix_since_boot_is_no_gnss_alarm() -> None:
    r = Rig()
    r.boot()
    r.send(("permit", make_permit(1)))
    assert gnss_audit(r.at(60_000, ("gnss", 100, -1, 0, -1))) == []
    assert "no_fix" in r.c.status()["reasons"] and "gnss_lost" not in r.c.status()["reasons"]


@pytest.mark.parametrize(("kind", "why"), [("rfid_fail", "card failed authentication"),
                                           ("finger_fail", "finger not recognised")])
def test_failed_reads_count_toward_lockout(ready_rig: Rig, kind: str, why: str) -> None:
    r = ready_rig
    for _ in range(3):
        acts = r.at(1000, (kind, why))
        assert ("answer", r.mono + 250, False) in acts
        assert audit_details(acts, "cred_reject") == [f"{kind[:-5]} failed: {why}"]
    assert "lockout" in audit_codes(acts) and ("indicate", "lockout") in acts
    assert r.c.status()["lockout"]["level"] == 1
    assert_creds_refused(r, "lockout")


def test_failed_reads_mix_with_refused_credentials_in_one_count(ready_rig: Rig) -> None:
    r = ready_rig
    r.send(("rfid_fail", "card failed authentication"))
    r.at(1000, ("finger", 99, 100))                   # nobody's template
    acts = r.at(1000, ("finger_fail", "finger not recognised"))
    assert "lockout" in audit_codes(acts)


def test_a_failed_read_without_permit_is_answered_but_not_counted(rig: Rig) -> None:
    rig.boot()
    for _ in range(4):
        acts = rig.at(1000, ("rfid_fail", "read failed"))
        assert audit_details(acts, "cred_reject")[0].startswith("rfid ignored: no_permit")
    assert rig.c.status()["lockout"]["failures"] == 0


# -- the rare paths' module ------------------------------------------------------------------

def test_decisions_need_no_rare_module_and_rare_audits_bring_it_back(
        ready_rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a lock does every second (fixes, GNSS and battery readings that change
    nothing, a holder's unlock, the ticks to the relock) runs without admin.py, which
    the ESP32 port drops after use (issue 12); a rare audit imports it again and reads
    as before."""
    import firmware.core
    r = ready_rig
    monkeypatch.delitem(sys.modules, "firmware.core.admin")
    monkeypatch.delattr(firmware.core, "admin")
    for _ in range(3):  # a second of a lock: a fix, a GNSS and a battery reading, a tick
        r.at(1000, ("fix",) + POINTS["in"] + (5, r.utc))
        r.send(("gnss", 200, 0, 9, 40))
        r.send(("battery", 3900))
        r.send(("tick",))
    assert_unlocked(r.unlock())
    while not r.locked:  # open until max_unlock_s, then the timeout relock
        r.advance(1000)
        r.fix("in")
        r.send(("tick",))
    assert [a[3] for a in r.audits() if a[2] == "relock"] == ["reason=timeout"]
    assert "firmware.core.admin" not in sys.modules
    acts = r.send(("battery", 3450))
    assert audit_details(acts, "battery") == ["low mv=3450"]
    assert "firmware.core.admin" in sys.modules


def test_a_lockout_needs_no_import(ready_rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    """Attack: a guesser who keeps the heap tight so that any import fails (the port
    resets on MemoryError, before the failure is persisted) must still be locked out at
    fail_max: the lockout path imports nothing."""
    import firmware.core
    r = ready_rig
    monkeypatch.setitem(sys.modules, "firmware.core.admin", None)  # any import raises
    monkeypatch.delattr(firmware.core, "admin", raising=False)
    acts: list = []
    for _ in range(r.c._cfg["fail_max"]):
        acts = r.at(1000, ("finger", 99, 100))            # nobody's template
    assert audit_details(acts, "lockout") == ["level=1 seconds=%d" % r.c._cfg["lockout_base_s"]]
    assert r.c._st.lock_level == 1 and ("indicate", "lockout") in acts  # status() imports
