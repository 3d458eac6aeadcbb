"""Rule 5: consecutive failures lock the holder out, with exponential backoff, kept across
a power cycle (virtual: a restart on the same state; real: REBOOT or a reset over RTS)."""

from __future__ import annotations

import time

from firmware.core.config import DEFAULTS
from hardware.hil.authority import Authority
from hardware.hil.places import HOLDER1, STRANGER
from hardware.hil.rig import Rig

FAIL_MAX = DEFAULTS["fail_max"]
BASE = DEFAULTS["lockout_base_s"]


def fail(rig: Rig, times: int) -> None:
    """Present an unknown card `times` times; wait for every (negative) answer."""
    for _ in range(times):
        rig.rfid(STRANGER[1])
    for _ in range(times):
        rig.expect_rejected()


def test_failures_lock_out_and_a_clock_jump_does_not_end_it(rig: Rig,
                                                              authority: Authority) -> None:
    rig.load(authority.permit())
    rig.at("in")
    fail(rig, FAIL_MAX)
    assert rig.seen("indicate", what="lockout")
    rig.audit_has("lockout", f"level=1 seconds={BASE}")
    assert "lockout" in rig.status()["reasons"]
    rig.present()                                # the right holder is refused too
    rig.expect_rejected()
    rig.audit_has("cred_reject", "ignored")
    rig.advance(BASE + 1)                        # the lockout runs on the board's own timer
    rig.present()
    rig.expect_rejected()
    rig.reset(authority.reset())                 # the authority's reset clears it
    rig.present()
    rig.expect_unlock()


def test_success_resets_the_failure_count(rig: Rig, authority: Authority) -> None:
    rig.load(authority.permit())
    rig.at("in")
    fail(rig, FAIL_MAX - 1)
    rig.present()
    rig.expect_unlock()
    assert rig.status()["lockout"]["failures"] == 0
    rig.grip(True)
    rig.grip(False)
    rig.expect_relock("grip")
    fail(rig, FAIL_MAX - 1)
    rig.audit_lacks("lockout")


def test_backoff_doubles_and_survives_a_power_cycle(rig: Rig, authority: Authority) -> None:
    rig.load(authority.permit(valid_for=3600))
    rig.at("in")
    fail(rig, FAIL_MAX)
    time.sleep(BASE + 1)                         # real time: the lockout ends by itself
    fail(rig, FAIL_MAX)                          # judged again (no success in between)
    rig.audit_has("lockout", f"level=2 seconds={2 * BASE}")
    rig.power_cycle()
    st = rig.status()
    assert st["locked"] and "lockout" in st["reasons"]
    rig.at("in")
    rig.rfid(HOLDER1[1])
    rig.expect_rejected()
    rig.audit_has("boot")


def test_failed_card_and_finger_reads_count_as_failed_attempts(rig: Rig,
                                                                authority: Authority) -> None:
    """A card that fails authentication and a finger not recognised are attempts: the
    drivers report the failure, no invented credential, and the lockout comes as for a
    wrong card."""
    rig.load(authority.permit())
    rig.at("in")
    for i in range(FAIL_MAX):
        if i % 2:
            rig.finger_fail()
        else:
            rig.rfid_fail()
        rig.expect_rejected()
    rig.audit_has("cred_reject", "rfid failed: authentication failed")
    rig.audit_has("cred_reject", "finger failed: not recognised")
    rig.audit_has("lockout", f"level=1 seconds={BASE}")
    rig.present()
    rig.expect_rejected()
