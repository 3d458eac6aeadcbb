"""An in-process board for tests: writes go to a firmware Device, its answers come back."""

from __future__ import annotations

import threading
import time
from typing import Protocol

from hardware.link.base import LinkLost, Transport


class LoopbackDevice(Protocol):
    """What LoopbackTransport drives: firmware.app.device.Device's calls."""

    def feed(self, data: bytes, mono: int, rtc: int) -> bytes: ...

    def boot(self, mono: int, rtc: int, cause: str) -> bytes: ...

    def tick(self, mono: int, rtc: int) -> bytes: ...


class LoopbackTransport(Transport):
    """An in-process board: writes go to `device.feed`, its answers come back on read.

    Time is virtual: a read that finds nothing waiting advances the board clock in
    `step_ms` steps (calling `device.tick`) up to the read's timeout, without sleeping,
    so tests that wait for timed events run at once and deterministically. `rtc` is
    UTC seconds at mono 0; `set_rtc(utc)` moves it (a board's RTC write).
    """

    name = "loopback"

    def __init__(self, device: LoopbackDevice, utc0: int | None = None, step_ms: int = 10,
                 boot_cause: str | None = None) -> None:
        super().__init__()
        self.device = device
        self.mono_ms = 0
        self.rtc_offset = int(time.time()) if utc0 is None else utc0
        self.step_ms = step_ms
        self._boot_cause = boot_cause  # boot the device on first open with this cause
        self._rx = bytearray()
        self._open_flag = False
        self.dead = False  # set True to make the device stop answering
        self._lock = threading.Lock()

    @property
    def rtc(self) -> int:
        return self.rtc_offset + self.mono_ms // 1000

    def clock(self) -> float:
        return self.mono_ms / 1000

    def set_rtc(self, utc_s: int) -> None:
        self.rtc_offset = utc_s - self.mono_ms // 1000

    @property
    def is_open(self) -> bool:
        return self._open_flag

    def _open(self) -> None:
        self._open_flag = True
        if self._boot_cause is not None:
            boot = getattr(self.device, "boot")
            self._rx += boot(self.mono_ms, self.rtc, self._boot_cause) or b""
            self._boot_cause = None

    def _close(self) -> None:
        self._open_flag = False

    def advance(self, ms: int) -> None:
        """Let `ms` of board time pass, ticking the device."""
        end = self.mono_ms + ms
        while self.mono_ms < end:
            self.mono_ms = min(end, self.mono_ms + self.step_ms)
            self._rx += self.device.tick(self.mono_ms, self.rtc) or b""

    def write(self, data: bytes) -> None:
        if not self._open_flag:
            raise LinkLost("loopback: not open")
        with self._lock:
            if not self.dead:
                self._rx += self.device.feed(bytes(data), self.mono_ms, self.rtc) or b""

    def read(self, timeout: float) -> bytes:
        if not self._open_flag:
            raise LinkLost("loopback: not open")
        with self._lock:
            budget = int(timeout * 1000)
            while not self._rx and budget > 0 and not self.dead:
                step = min(self.step_ms, budget)
                self.advance(step)
                budget -= step
            if self.dead:
                self.mono_ms += budget
            out = bytes(self._rx)
            self._rx.clear()
            return out
