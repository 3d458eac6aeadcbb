"""Rule 5: a tamper (enclosure, magnet, actuator forced) relocks and latches until an
authority reset token clears it; the latch survives a power cycle."""

from __future__ import annotations

import pytest

from hardware.hil.authority import Authority
from hardware.hil.rig import Rig
from hardware.link.base import DeviceError


@pytest.mark.parametrize("source", ["magnet", "enclosure"])
def test_tamper_relocks_latches_and_authority_resets(rig: Rig, authority: Authority,
                                                     source: str) -> None:
    rig.load(authority.permit())
    rig.unlock()
    rig.tamper(source)
    ev = rig.expect_relock("tamper_" + source)
    assert ev["locked"] is True
    st = rig.status()
    assert st["tamper"] == {"latched": True, "source": source}
    rig.present()
    rig.expect_rejected()
    reset = authority.reset()
    rig.reset(reset)
    assert rig.status()["tamper"]["latched"] is False
    with pytest.raises(DeviceError):
        rig.reset(reset)                         # a reset token works once
    rig.present()
    rig.expect_unlock()
    rig.audit_has("tamper", f"source={source} latched")
    rig.audit_has("tamper_reset")


def test_forced_actuator_latches(rig: Rig, authority: Authority) -> None:
    rig.load(authority.permit())
    rig.actpos(False)                            # moved open while it should be locked
    rig.wait_event("indicate", what="tamper")
    assert rig.status()["tamper"]["source"] == "actuator"
    rig.audit_has("tamper", "source=actuator")


def test_tamper_latch_survives_a_power_cycle(rig: Rig, authority: Authority) -> None:
    rig.load(authority.permit())
    rig.tamper("enclosure")
    rig.wait_event("indicate", what="tamper")
    rig.power_cycle()
    assert rig.status()["tamper"]["latched"] is True
    rig.at("in")
    rig.present()
    rig.expect_rejected()
    rig.reset(authority.reset())
    rig.present()
    rig.expect_unlock()
