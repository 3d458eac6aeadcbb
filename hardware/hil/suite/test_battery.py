"""Battery: low warns and still works; critical is a malfunction handled by the fail
profile (fail-secure holds the lock, fail-enabled waives it)."""

from __future__ import annotations

from firmware.core.config import DEFAULTS
from hardware.hil.authority import Authority
from hardware.hil.rig import Rig

LOW = DEFAULTS["battery_low_mv"] - 100
CRITICAL = DEFAULTS["battery_critical_mv"] - 100


def test_low_battery_warns_and_still_unlocks(rig: Rig, authority: Authority) -> None:
    rig.load(authority.permit())
    rig.battery(LOW)
    rig.wait_event("indicate", what="battery_low")
    rig.unlock()
    rig.audit_has("battery", f"low mv={LOW}")


def test_critical_battery_relocks_under_fail_secure(rig: Rig, authority: Authority) -> None:
    rig.load(authority.permit())
    rig.unlock()
    rig.battery(CRITICAL)
    ev = rig.expect_relock("battery")
    assert "battery_critical" in ev["reason"]
    rig.present()
    rig.expect_denied()
    rig.audit_has("battery", "critical")
    rig.audit_has("deny", "battery_critical")
    rig.battery(DEFAULTS["battery_low_mv"] + 400)  # fresh battery
    rig.present()
    rig.expect_unlock()


def test_critical_battery_is_waived_under_fail_enabled(rig: Rig, authority: Authority) -> None:
    rig.load(authority.permit(fail_enabled=True))
    rig.unlock()
    rig.battery(CRITICAL)
    rig.no_event("actuate", 0.25, locked=True)
    rig.audit_has("fail_profile", "fail-enabled waives battery_critical")
