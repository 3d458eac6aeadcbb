"""Rule 1: a permit that authenticates, is the newest seen, is not recalled and whose
validity window contains trusted time. Each test checks the actuator and the audit."""

from __future__ import annotations

import pytest

from hardware.hil.authority import Authority
from hardware.hil.places import HOLDER1
from hardware.hil.rig import Rig
from hardware.link.base import DeviceError
from protocols import messages as M


def test_valid_permit_unlocks(rig: Rig, authority: Authority) -> None:
    rig.load(authority.permit())
    ev = rig.unlock()
    assert ev["reason"] == "authorised"
    assert rig.status()["locked"] is False
    rig.audit_has("permit_loaded")
    rig.audit_has("unlock", f"holder={HOLDER1[0]}")


def test_expired_permit_is_refused(rig: Rig, authority: Authority) -> None:
    with pytest.raises(DeviceError) as err:
        rig.load(authority.permit(starts_in=-7200, valid_for=3600))
    assert err.value.code == M.E_REFUSED and "expired" in err.value.message
    rig.at("in")
    rig.present()
    rig.expect_rejected()
    rig.audit_has("permit_refused", "expired")
    rig.audit_lacks("unlock")


def test_permit_expiry_relocks(rig: Rig, authority: Authority) -> None:
    rig.load(authority.permit(valid_for=120))
    rig.unlock()
    rig.advance(121)  # the board notices at its next tick
    ev = rig.expect_relock("expiry", timed=True)
    assert "permit_expired" in ev["reason"]
    rig.audit_has("relock", "permit_expired")
    assert "permit_expired" in rig.status()["reasons"]


def test_not_yet_valid_permit_denies_then_opens_in_its_window(rig: Rig,
                                                                authority: Authority) -> None:
    rig.load(authority.permit(starts_in=600))
    rig.at("in")
    rig.present()
    rig.expect_denied()
    rig.audit_has("deny", "permit_not_yet_valid")
    rig.advance(601)
    rig.present()
    rig.expect_unlock()


def test_forged_permit_is_refused(rig: Rig, authority: Authority) -> None:
    with pytest.raises(DeviceError) as err:
        rig.load(authority.forged())
    assert err.value.code == M.E_REFUSED and "signature does not verify" in err.value.message
    other = Authority.create(authority.key_path.parent / "other").bind(authority.device_id)
    with pytest.raises(DeviceError):
        rig.load(other.permit())  # signed by another authority: a key the board does not trust
    rig.at("in")
    rig.present()
    rig.expect_rejected()
    # the second unauthenticated refusal inside the 60 s window is only counted (its
    # "N more in" summary comes when the window ends: protocols/SPEC.md, "Refusals")
    refused = [r for r in rig.audit() if r[2] == "permit_refused"]
    assert [r[3] for r in refused] == [err.value.message]
    rig.audit_lacks("permit_loaded")


def test_permit_for_another_device_is_refused(rig: Rig, authority: Authority) -> None:
    other = Authority(authority.key_path).bind(authority.device_id + "-X")
    with pytest.raises(DeviceError) as err:
        rig.load(other.permit())
    assert "token is for device" in err.value.message
    rig.audit_has("permit_refused", "token is for device")


def test_replayed_older_permit_is_refused(rig: Rig, authority: Authority) -> None:
    old = authority.permit()
    new = authority.permit(valid_for=1800)
    rig.load(new)
    with pytest.raises(DeviceError) as err:
        rig.load(old)
    assert "replayed" in err.value.message
    with pytest.raises(DeviceError):
        rig.load(new)  # the same token twice is a replay too
    rig.audit_has("permit_refused", "replayed")
    assert rig.status()["permit"]["not_after"] - rig.status()["permit"]["not_before"] == 1800
    rig.unlock()


def test_recall_relocks_and_disables(rig: Rig, authority: Authority) -> None:
    permit = authority.permit()
    rig.load(permit)
    rig.unlock()
    rig.recall(authority.recall())
    ev = rig.expect_relock("recall")
    assert ev["locked"] is True
    st = rig.status()
    assert st["locked"] and "recalled" in st["reasons"] and st["permit"] is None
    rig.wait_event("indicate", what="disabled")
    with pytest.raises(DeviceError):
        rig.load(permit)  # older than the recall
    rig.present()
    rig.expect_rejected()
    rig.audit_has("recall")
    rig.audit_has("relock", "recalled")
