"""GNSS malfunction (lost, jammed, no fix) under each fail profile: fail-secure holds the
lock, fail-enabled waives the position check; both decisions are audited."""

from __future__ import annotations

import pytest

from hardware.hil.authority import Authority
from hardware.hil.rig import Rig

# What a driver reports in each case (the board's core classifies it):
OBSERVED = {
    "lost": {"silent_ms": 5000, "nofix_ms": 5000, "sats": 0},     # receiver silent 5 s
    "jammed": {"silent_ms": 0, "nofix_ms": 31000, "sats": 2,     # talks, no fix for 31 s,
               "cn0_dbhz": 22},                                   # 2 satellites, all weak
}


@pytest.mark.parametrize("status", ["lost", "jammed"])
def test_fail_secure_relocks_on_gnss_loss(rig: Rig, authority: Authority, status: str) -> None:
    rig.load(authority.permit())
    rig.unlock()
    rig.gnss(**OBSERVED[status])
    ev = rig.expect_relock("gnss_" + status)
    assert "gnss_lost" in ev["reason"]
    rig.audit_has("gnss", status)
    rig.audit_has("fail_profile", "fail-secure holds for gnss_lost")
    rig.present()
    rig.expect_denied()


@pytest.mark.parametrize("status", ["lost", "jammed"])
def test_fail_enabled_keeps_working_on_gnss_loss(rig: Rig, authority: Authority,
                                                 status: str) -> None:
    rig.load(authority.permit(fail_enabled=True))
    rig.unlock()
    rig.gnss(**OBSERVED[status])
    rig.no_event("actuate", 0.25, locked=True)
    rig.audit_has("fail_profile", "fail-enabled waives gnss_lost")
    rig.grip(True)
    rig.grip(False)
    rig.expect_relock("grip")
    rig.present()                                # still jammed: the holder can open again
    ev = rig.expect_unlock()
    assert ev["reason"] == "authorised"
    rig.audit_has("unlock", "waived=gnss_lost")


def test_no_fix_under_each_profile(rig: Rig, authority: Authority) -> None:
    rig.load(authority.permit())
    rig.present()
    rig.expect_denied()
    rig.audit_has("deny", "no_fix")
    rig.load(authority.permit(fail_enabled=True))
    rig.present()
    rig.expect_unlock()
    rig.audit_has("unlock", "waived=no_fix")


def test_gnss_recovery_restores_the_position_check(rig: Rig, authority: Authority) -> None:
    rig.load(authority.permit())
    rig.gnss(**OBSERVED["jammed"])
    rig.at("in")                                 # a fix means the receiver works again
    rig.present()
    rig.expect_unlock()
    rig.audit_has("gnss", "ok")
