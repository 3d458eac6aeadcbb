"""Several locks on one bench (a rig file with two or more boards): each lock decides for
itself. A permit is bound to one device, one lock's relock or lockout is not another's."""

from __future__ import annotations

import pytest

from firmware.core.config import DEFAULTS
from hardware.hil.linked import Linked
from hardware.hil.places import STRANGER
from hardware.link.base import DeviceError


def two(devices: dict[str, Linked]) -> tuple[Linked, Linked]:
    if len(devices) < 2:
        pytest.skip("needs a rig file with two boards (--armlock-rig)")
    a, b = list(devices.values())[:2]
    return a, b


def test_a_permit_opens_only_the_lock_it_names(devices: dict[str, Linked]) -> None:
    a, b = two(devices)
    token = a.authority.permit()
    with pytest.raises(DeviceError):
        b.rig.load(token)                      # addressed to the other device
    b.rig.audit_has("permit_refused")
    a.rig.load(token)
    a.rig.unlock()
    b.rig.present()
    b.rig.expect_rejected()                    # no permit of its own: stays shut
    assert b.rig.status()["locked"] is True


def test_one_locks_relock_and_lockout_stay_its_own(devices: dict[str, Linked]) -> None:
    a, b = two(devices)
    for d in (a, b):
        d.rig.load(d.authority.permit())
        d.rig.unlock()
    a.rig.grip(True)
    a.rig.grip(False)
    a.rig.expect_relock("grip")
    assert b.rig.status()["locked"] is False
    for _ in range(DEFAULTS["fail_max"]):
        b.rig.rfid(STRANGER[1])
        b.rig.expect_rejected()
    assert "lockout" in b.rig.status()["reasons"]
    assert "lockout" not in a.rig.status()["reasons"]
