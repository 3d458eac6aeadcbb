"""firmware/core/host.py: the one carrier of the core's actions, and what the actions
carry (ACTUATE with its reason, WAKE None cancelling)."""

from __future__ import annotations

from typing import Any

from conftest import DEVICE, KEY, T0, Rig, audit_details, controller, make_permit

from firmware.core.controller import LockController
from firmware.core.host import Host


class Recorder(Host):
    """A host that records what it was asked to do, by method."""

    def __init__(self, ctl: LockController) -> None:
        super().__init__(ctl)
        self.calls: list[tuple[Any, ...]] = []

    def actuate(self, locked: bool, reason: str, mono_ms: int) -> None:
        self.calls.append(("actuate", locked, reason, mono_ms))

    def persist(self, blob: bytes) -> None:
        self.calls.append(("persist",))

    def save_permit(self, slot: int, token: bytes) -> None:
        self.calls.append(("save_permit", slot))

    def audit(self, record: bytes) -> None:
        self.calls.append(("audit",))

    def answer(self, at_ms: int, ok: bool) -> None:
        self.calls.append(("answer", at_ms, ok))

    def wake(self, at_ms: int | None) -> None:
        super().wake(at_ms)
        self.calls.append(("wake", at_ms))

    def indicate(self, what: str) -> None:
        self.calls.append(("indicate", what))

    def result(self, ok: bool, message: str) -> None:
        self.calls.append(("result", ok, message))


def test_host_dispatches_every_action_in_order_and_keeps_locked_and_wake() -> None:
    h = Recorder(controller(DEVICE, KEY))
    acts = h.handle(("boot", None, "power_on"), 0, T0)
    assert h.calls[0] == ("actuate", True, "boot", 0)
    assert [c[0] for c in h.calls] == [a[0] for a in acts]
    h.calls.clear()
    acts = h.handle(("permit", make_permit(1)), 10, T0)
    assert ("result", True, "permit 1 loaded") in h.calls
    assert [c[0] for c in h.calls] == [a[0] for a in acts]
    assert ("save_permit", 1) in h.calls
    assert h.locked and h.wake_at is None


def test_default_set_rtc_keeps_an_offset_the_core_sees_in_later_readings() -> None:
    """Hosts without an RTC of their own keep SET_RTC as an offset (the walkthrough used to
    ignore it, so its core never saw the resynced time)."""
    h = Host(controller(DEVICE, KEY, {"resync_fixes": 1}))
    h.handle(("boot", None, "power_on"), 0, T0 - 5000)   # RTC 5000 s behind
    h.handle(("fix", 0, 0, 5, T0), 1000, T0 - 5000)
    assert h.rtc_offset == 5000
    assert h.ctl.status()["time"] == T0 - 5000 + 5000


def test_actuate_carries_boot_authorised_and_the_relock_reason_of_the_audit_record() -> None:
    r = Rig()
    assert [a for a in r.boot() if a[0] == "actuate"] == [("actuate", True, "boot")]
    r.send(("permit", make_permit(1)))
    r.fix("in")
    assert [a for a in r.unlock() if a[0] == "actuate"] == [("actuate", False, "authorised")]
    acts = r.send(("tamper", "magnet"))
    assert [a for a in acts if a[0] == "actuate"] == [("actuate", True, "tamper_magnet")]
    assert audit_details(acts, "relock") == ["reason=tamper_magnet"]


def test_joined_relock_reasons_are_carried_exactly_as_audited() -> None:
    r = Rig()
    r.ready()
    r.unlock()
    r.advance(16_000)                      # the fix goes stale as the battery dies
    acts = r.send(("battery", 3200))
    act = [a for a in acts if a[0] == "actuate"]
    assert act and act[0][1] is True and act[0][2] == "battery_critical,fix_stale"
    assert audit_details(acts, "relock") == ["reason=" + act[0][2]]


def test_a_relock_cancels_the_announced_wake_with_wake_none() -> None:
    r = Rig()
    r.ready()
    r.unlock()
    assert r.wake_at is not None              # open: timeout, fix age and expiry are due
    acts = r.send(("grip", True))
    acts = r.send(("grip", False))
    assert ("actuate", True, "grip_released") in acts
    assert ("wake", None) in acts and r.wake_at is None


def test_no_wake_none_when_nothing_was_announced() -> None:
    r = Rig()
    acts = r.boot() + r.send(("permit", make_permit(1))) + r.send(("tick",))
    assert [a for a in acts if a[0] == "wake"] == []
