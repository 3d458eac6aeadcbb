"""Rule 4: a fresh, precise, plausible fix inside an allowed zone and outside every
forbidden one; zone exit relocks (with hysteresis)."""

from __future__ import annotations

import pytest

from firmware.core.config import DEFAULTS
from hardware.hil.authority import Authority
from hardware.hil.nmea import nmea_fix
from hardware.hil.places import east_of_a
from hardware.hil.rig import Rig


@pytest.mark.parametrize("place", ["in", "in_b"])
def test_inside_an_allowed_zone_unlocks(rig: Rig, authority: Authority, place: str) -> None:
    rig.load(authority.permit())
    rig.unlock(place)
    rig.audit_has("unlock")


@pytest.mark.parametrize("place, reason", [("out_far", "outside_zone"),
                                           ("hole", "outside_zone"),
                                           ("forbidden", "in_forbidden_zone")])
def test_outside_hole_or_forbidden_denies(rig: Rig, authority: Authority, place: str,
                                          reason: str) -> None:
    rig.load(authority.permit())
    rig.at(place)
    rig.present()
    rig.expect_denied()
    rig.audit_has("deny", reason)
    assert reason in rig.status()["reasons"]


def test_exit_hysteresis(rig: Rig, authority: Authority) -> None:
    rig.load(authority.permit())
    rig.at(east_of_a(-15), hacc=20)              # 15 m inside the east edge
    rig.present()
    rig.expect_unlock()
    for metres in (20, 45):                      # outside, within the 50 m hysteresis
        rig.at(east_of_a(metres), hacc=20)
        rig.no_event("actuate", 0.3, locked=True)
    rig.at(east_of_a(70), hacc=20)
    ev = rig.expect_relock("zone_exit")
    assert "outside_zone" in ev["reason"]
    rig.audit_has("relock", "outside_zone")


def test_stale_fix_relocks(rig: Rig, authority: Authority) -> None:
    rig.load(authority.permit())
    rig.unlock()
    wait = DEFAULTS["fix_max_age_s"] + 3
    ev = rig.expect_relock("stale_fix", timeout=wait, timed=True)
    assert "fix_stale" in ev["reason"]
    rig.audit_has("relock", "fix_stale")


def test_imprecise_fix_denies(rig: Rig, authority: Authority) -> None:
    rig.load(authority.permit())
    rig.at("in", hacc=DEFAULTS["hacc_max_m"] + 1)    # the only fix is not precise enough
    rig.present()
    rig.expect_denied()
    rig.audit_has("deny", "fix_imprecise")
    rig.at("in", hacc=5)
    rig.present()
    rig.expect_unlock()


@pytest.mark.parametrize("fail_enabled", [False, True], ids=["fail-secure", "fail-enabled"])
def test_spoofed_jump_relocks_under_both_profiles(rig: Rig, authority: Authority,
                                                  fail_enabled: bool) -> None:
    rig.load(authority.permit(fail_enabled=fail_enabled))
    rig.unlock()
    rig.at("spoof")                              # 500 km in a moment
    ev = rig.expect_relock("spoof")
    assert "fix_implausible" in ev["reason"]
    rig.audit_has("fix_implausible", "jump")
    rig.present()
    rig.expect_denied()


def test_fix_from_nmea_sentences(rig: Rig, authority: Authority) -> None:
    rig.load(authority.permit())
    lat, lon = 523150000, 130120000
    for line in nmea_fix(lat, lon, 5, rig.now()):
        rig.nmea(line)
    fix = rig.status()["last_fix"]
    assert (fix["lat_e7"], fix["lon_e7"], fix["hacc_m"]) == (lat, lon, 5)
    rig.present()
    rig.expect_unlock()
