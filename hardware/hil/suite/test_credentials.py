"""Rule 3: the holder's credentials satisfy the permit's factor rule within its window,
each within its quality bound (fingerprint score, RFID strength, relay round-trip bound)."""

from __future__ import annotations

import time

from firmware.core.config import DEFAULTS
from hardware.hil.authority import Authority
from hardware.hil.places import HOLDER1, HOLDER2, STRANGER
from hardware.hil.rig import Rig


def test_all_of_needs_both_factors(rig: Rig, authority: Authority) -> None:
    rig.load(authority.permit())
    rig.at("in")
    rig.rfid(HOLDER1[1])
    rig.wait_event("answer", ok=True)
    rig.no_event("actuate", 0.25, locked=False)   # one factor of two: stays locked
    rig.finger(HOLDER1[2])
    rig.expect_unlock()
    codes = [(r[2], r[3]) for r in rig.audit()]
    assert ("cred_ok", "rfid holder=1") in codes and ("cred_ok", "finger holder=1") in codes


def test_factors_outside_the_window_do_not_combine(rig: Rig, authority: Authority) -> None:
    rig.load(authority.permit(window_s=1))
    rig.at("in")
    rig.rfid(HOLDER1[1])
    time.sleep(1.3)                              # the window is measured on the board
    rig.finger(HOLDER1[2])
    rig.wait_event("answer", ok=True)
    rig.no_event("actuate", 0.25, locked=False)
    rig.audit_lacks("unlock")
    rig.rfid(HOLDER1[1])                         # within 1 s of the finger now
    rig.expect_unlock()


def test_any_of_rule_opens_with_one_factor(rig: Rig, authority: Authority) -> None:
    rig.load(authority.permit(rule="any"))
    rig.at("in")
    rig.finger(HOLDER2[2])
    rig.expect_unlock()
    rig.audit_has("unlock", "holder=2")


def test_factors_of_two_holders_do_not_combine(rig: Rig, authority: Authority) -> None:
    rig.load(authority.permit())
    rig.at("in")
    rig.rfid(HOLDER1[1])
    rig.finger(HOLDER2[2])
    rig.wait_event("answer", ok=True)
    rig.wait_event("answer", ok=True)
    rig.no_event("actuate", 0.25, locked=False)
    rig.audit_lacks("unlock")


def test_unknown_credentials_are_rejected(rig: Rig, authority: Authority) -> None:
    rig.load(authority.permit())
    rig.at("in")
    rig.rfid(STRANGER[1])
    rig.expect_rejected()
    rig.finger(STRANGER[2])
    rig.expect_rejected()
    rig.audit_has("cred_reject", "unknown rfid credential")
    rig.audit_has("cred_reject", "unknown fingerprint template")
    assert rig.status()["lockout"]["failures"] == 2


def test_weak_match_and_cloneable_card_are_rejected(rig: Rig, authority: Authority) -> None:
    rig.load(authority.permit())
    rig.at("in")
    rig.finger(HOLDER1[2], score=59)
    rig.expect_rejected()
    rig.rfid(HOLDER1[1], strong=False)
    rig.expect_rejected()
    rig.audit_has("cred_reject", "match score 59 below 60")
    rig.audit_has("cred_reject", "weak rfid")
    rig.audit_lacks("unlock")


def test_factor_not_in_permit_is_rejected(rig: Rig, authority: Authority) -> None:
    rig.load(authority.permit(factors=("rfid",)))
    rig.at("in")
    rig.finger(HOLDER1[2])
    rig.expect_rejected()
    rig.audit_has("cred_reject", "fingerprint not a factor")
    rig.rfid(HOLDER1[1])
    rig.expect_unlock()


def test_relayed_rfid_is_rejected(rig: Rig, authority: Authority) -> None:
    rig.load(authority.permit(factors=("rfid",)))
    rig.at("in")
    rig.rfid(HOLDER1[1], rtt_us=9000)            # over the 8000 us relay bound
    rig.expect_rejected()
    rig.audit_has("cred_reject", "relay suspected rtt_us=9000")
    rig.rfid(HOLDER1[1], rtt_us=7900)
    rig.expect_unlock()


def test_unlock_times_out(rig: Rig, authority: Authority) -> None:
    rig.load(authority.permit(max_unlock_s=1))
    rig.unlock()
    rig.expect_relock("timeout", timeout=4, timed=True)
    rig.audit_has("relock", "reason=timeout")


def test_grip_release_relocks(rig: Rig, authority: Authority) -> None:
    rig.load(authority.permit())
    rig.unlock()
    rig.grip(True)
    rig.no_event("actuate", 0.2, locked=True)
    rig.grip(False)
    rig.expect_relock("grip")
    rig.audit_has("relock", "grip_released")


def test_faulty_sensor_under_each_fail_profile(rig: Rig, authority: Authority) -> None:
    rig.fault("finger", False)
    rig.load(authority.permit())                 # fail-secure: still needs both
    rig.at("in")
    rig.rfid(HOLDER1[1])
    rig.wait_event("answer", ok=True)
    rig.no_event("actuate", 0.25, locked=False)
    rig.load(authority.permit(fail_enabled=True))  # fail-enabled: the dead sensor is waived
    rig.rfid(HOLDER1[1])
    rig.expect_unlock()
    rig.audit_has("fault", "finger failed")


def test_yes_and_no_take_the_same_time(rig: Rig, authority: Authority) -> None:
    """Every credential is answered answer_ms after it arrived, refused or not: a quick "no"
    would tell an attacker which guesses fail."""
    rig.load(authority.permit())
    rig.at("in")
    floor_s = DEFAULTS["answer_ms"] / 1000
    for cred, ok in ((STRANGER[1], False), (HOLDER1[1], True)):
        sent = time.perf_counter()
        rig.rfid(cred)
        ev = rig.wait_event("answer", ok=ok)
        assert ev["_rx"] - sent >= floor_s
