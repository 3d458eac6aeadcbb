"""One simulated lock: the real firmware core plus the board around it (clock, wakes).

Ticks are delivered exactly at the times the core asks for with WAKE, but lazily: a
due wake is handled just before the next event that happens after it, so a weapon in
storage costs nothing between events. The core announces its earliest due time
whenever it changes, so no periodic tick is needed. A relock (ACTUATE locked) without a
new WAKE cancels the wake the board holds: a locked core with no unlock pending has
nothing due (controller._schedule), so that tick would change nothing the simulator
measures. Nothing here decides whether the lock opens.
"""

from __future__ import annotations

from typing import Any

from firmware.core.controller import LockController
from simulator.sensors import Rtc

MAX_TICKS_PER_STEP = 256
_TICK = ("tick",)


def mono_ms(t: float) -> int:
    """Monotonic milliseconds of simulated time t (nearest ms)."""
    return int(t * 1000 + 0.5)


class Device:
    """A LockController driven in simulated seconds `t` (float, since boot)."""

    def __init__(self, device_id: str, key: bytes, config: dict[str, Any], rtc: Rtc) -> None:
        self.c = LockController(device_id, key, config)
        self.rtc = rtc
        self.wake: int | None = None
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

    @property
    def locked(self) -> bool:
        return bool(self.c.locked)

    def boot(self, t: float) -> None:
        self._handle(("boot", None, "power_on"), t)

    def send(self, event: tuple[Any, ...], t: float) -> list[tuple[Any, ...]]:
        """Deliver due ticks, then `event` at time t; return its actions."""
        ms = int(t * 1000 + 0.5)  # mono_ms(t), inlined: once per event
        if self.wake is not None and self.wake <= ms:
            self.advance_ms(ms)
        return self._handle(event, t, ms)

    def advance(self, t: float) -> None:
        """Deliver every tick the core asked for up to time t."""
        if self.wake is not None:
            self.advance_ms(mono_ms(t))

    def advance_ms(self, ms: int) -> None:
        """Deliver every tick the core asked for up to monotonic `ms`."""
        n = 0
        while self.wake is not None and self.wake <= ms:
            at = max(self.wake, self.last_ms)  # a due already past means: now
            self.wake = None
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
        actions = self.c.handle(event, ms, self.rtc.read(t))
        self.events += 1
        self.last_ok = None
        for a in actions:
            kind = a[0]
            if kind == "audit":
                self.audit_count += 1
                if self.keep_audit:
                    self.audits.append((t, a[1]))
                if self.trail is not None:
                    self.trail.append(a[1])
            elif kind == "wake":
                self.wake = a[1]  # the core always announces its earliest due time
            elif kind == "actuate":
                if a[1]:
                    self.wake = None  # relocked: nothing due unless a WAKE follows
            elif kind == "answer":
                self.last_answer_ms = a[1] - ms
                self.answer_at_ms = a[1]
                self.last_ok = a[2]
            elif kind == "set_rtc":
                self.rtc.set(t, a[1])
            elif kind == "indicate" and a[1] == "battery_low":
                self.battery_low = True
        return actions

    def audit_seq(self) -> int:
        return int(self.c.chain.seq)

