"""Rule 2: trusted time. A clock set back behind the persisted floor, or an RTC that
disagrees with GNSS time beyond the skew bound, holds the lock."""

from __future__ import annotations

from firmware.core.config import DEFAULTS
from hardware.hil.authority import Authority
from hardware.hil.places import POINTS
from hardware.hil.rig import Rig


def test_clock_rollback_relocks_and_denies(rig: Rig, authority: Authority) -> None:
    rig.load(authority.permit())
    rig.unlock()
    true_now = rig.now()
    rig.time(true_now - 3600)                    # behind the time floor
    ev = rig.expect_relock("rollback")           # at the board's next tick
    assert "time_untrusted" in ev["reason"]
    rig.present()
    rig.expect_denied()
    rig.audit_has("deny", "time_untrusted")
    rig.time(true_now + 1)
    rig.present()
    rig.expect_unlock()


def test_rollback_across_a_power_cycle(rig: Rig, authority: Authority) -> None:
    rig.load(authority.permit(valid_for=7200))
    later = rig.now() + 3600
    rig.time(later)
    rig.battery(3900)                            # any event: the floor is persisted now
    rig.time(later - 3600)
    rig.power_cycle(restore_clock=False)
    rig.audit_has("time", "rollback")
    assert "time_untrusted" in rig.status()["reasons"]
    rig.time(later + 1)
    rig.unlock()


def test_gnss_time_disagreeing_with_the_rtc_is_untrusted(rig: Rig, authority: Authority) -> None:
    rig.load(authority.permit())
    lat, lon = POINTS["in"]
    skew = DEFAULTS["skew_max_s"] + 1000
    rig.fix(lat, lon, 5, utc=rig.now() + skew)
    rig.present()
    rig.expect_denied()
    rig.audit_has("time", "untrusted rtc/gnss skew")
    rig.audit_has("deny", "time_untrusted")
    rig.fix(lat, lon, 5, utc=rig.now())          # agreeing GNSS time again
    rig.audit_has("time", "trusted again")
    rig.present()
    rig.expect_unlock()
