"""One simulated lock: the real firmware core, carried by the core's own Host (the one
action carrier, firmware/core/host.py), plus the board's clock and wakes.

Ticks are delivered exactly at the times the core asks for with WAKE, but lazily: a
due wake is handled just before the next event that happens after it, so a weapon in
storage costs nothing between events. The core announces its earliest due time
whenever it changes (WAKE None: nothing due), so no periodic tick is needed. Nothing
here decides whether the lock opens.
"""

from __future__ import annotations

from typing import Any

from firmware.core.controller import LockController
from firmware.core.host import Host
from hardware import fastverify
from protocols.audit import CODES
from simulator.sensors import Rtc

MAX_TICKS_PER_STEP = 256
_TICK = ("tick",)
_GNSS_CODE = CODES.index("gnss") + 1  # byte 8 of an audit record (protocols/audit.py)


def mono_ms(t: float) -> int:
    """Monotonic milliseconds of simulated time t (nearest ms)."""
    return int(t * 1000 + 0.5)


class Device(Host):
    """A LockController driven in simulated seconds `t` (float, since boot)."""

    def __init__(self, device_id: str, key: bytes, config: dict[str, Any], rtc: Rtc,
                 trusted: tuple[bytes, ...]) -> None:
        """`trusted`: the authority public keys the board is provisioned with; tokens
        are verified with hardware.fastverify (the core's rules, OpenSSL arithmetic)."""
        super().__init__(LockController(device_id, key, config, authority=trusted,
                                        verify=fastverify))
        self.device_id = device_id
        self.key = key
        self.rtc = rtc
        self.events = 0
        self.audits: list[tuple[float, bytes]] = []
        self.keep_audit = False
        self.trail: list[bytes] | None = None  # audit records of the current try, if set
        self.audit_count = 0
        self.last_answer_ms = 0
        self.answer_at_ms = 0
        self.last_ms = 0
        self.last_ok: bool | None = None
        self.battery_low = False  # the lock indicated battery_low (armourer swaps)
        self.gnss_alarms = {"jammed": 0, "lost": 0}  # the core's GNSS classifications
        self._t = 0.0
        self._ms = 0

    def boot(self, t: float) -> None:
        self._handle(("boot", None, "power_on"), t)

    def send(self, event: tuple[Any, ...], t: float) -> list[tuple[Any, ...]]:
        """Deliver due ticks, then `event` at time t; return its actions."""
        ms = int(t * 1000 + 0.5)  # mono_ms(t), inlined: once per event
        if self.wake_at is not None and self.wake_at <= ms:
            self.advance_ms(ms)
        return self._handle(event, t, ms)

    def advance(self, t: float) -> None:
        """Deliver every tick the core asked for up to time t."""
        if self.wake_at is not None:
            self.advance_ms(mono_ms(t))

    def advance_ms(self, ms: int) -> None:
        """Deliver every tick the core asked for up to monotonic `ms`."""
        n = 0
        while self.wake_at is not None and self.wake_at <= ms:
            at = max(self.wake_at, self.last_ms)  # a due already past means: now
            self.wake_at = None
            n += 1
            if n > MAX_TICKS_PER_STEP:  # a wake chain this dense: catch up at t
                at = ms
            self._handle(_TICK, at / 1000, at)

    def _handle(self, event: tuple[Any, ...], t: float,
                ms: int | None = None) -> list[tuple[Any, ...]]:
        if ms is None:
            ms = mono_ms(t)
        if ms < self.last_ms:
            raise RuntimeError(f"simulated time ran backwards: {ms} ms < {self.last_ms} ms")
        self.last_ms = ms
        self._t = t
        self._ms = ms
        self.events += 1
        self.last_ok = None
        return self.handle(event, ms, self.rtc.read(t))

    # -- the core's actions (Host) ----------------------------------------------------
    def audit(self, record: bytes) -> None:
        self.audit_count += 1
        if record[8] == _GNSS_CODE:  # detail (length at byte 9) starts with the status
            detail = bytes(record[10:10 + record[9]])
            for status in self.gnss_alarms:
                if detail.startswith(status.encode()):
                    self.gnss_alarms[status] += 1
        if self.keep_audit:
            self.audits.append((self._t, record))
        if self.trail is not None:
            self.trail.append(record)

    def answer(self, at_ms: int, ok: bool) -> None:
        self.last_answer_ms = at_ms - self._ms
        self.answer_at_ms = at_ms
        self.last_ok = ok

    def set_rtc(self, utc_s: int, rtc_s: int) -> None:
        self.rtc.set(self._t, utc_s)  # the board's RTC is set; no offset kept

    def indicate(self, what: str) -> None:
        if what == "battery_low":
            self.battery_low = True

    def audit_seq(self) -> int:
        return int(self.ctl.audit_seq)
