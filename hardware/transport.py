"""Byte transports from the host to a board: serial (pyserial), the virtual board's pty,
and an in-process loopback for tests. BLE lives in hardware/ble.py.

Every transport moves the same wire bytes (protocols/SPEC.md) and raises the same
errors, each with a one-line message and the exit status `armlock device` uses:
PortMissing (3), PortBusy (4), LinkLost (3), DeviceTimeout (5), DeviceError (6).
"""

from __future__ import annotations

import errno
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol

import serial
import serial.tools.list_ports

# USB bridges found on ESP32 boards: (vid, pid or None for any) -> label.
ESP32_BRIDGES: dict[tuple[int, int | None], str] = {
    (0x10C4, 0xEA60): "CP210x",
    (0x1A86, 0x7523): "CH340",
    (0x1A86, 0x55D4): "CH9102",
    (0x0403, None): "FTDI",
    (0x303A, 0x1001): "ESP32-S3/C3 USB-JTAG",
}


class LinkError(Exception):
    """A link problem with a one-line message; `exit_code` is the CLI's exit status."""

    exit_code = 1


class PortMissing(LinkError):
    """The port (or BLE device) does not exist or cannot be reached."""

    exit_code = 3


class PortBusy(LinkError):
    """The port exists but another program holds it (or we may not open it)."""

    exit_code = 4


class LinkLost(LinkError):
    """The link dropped while in use (board unplugged or reset, BLE disconnect)."""

    exit_code = 3


class DeviceTimeout(LinkError):
    """The device did not answer in time."""

    exit_code = 5


class DeviceError(LinkError):
    """The device answered with an ERROR frame."""

    exit_code = 6

    def __init__(self, code: int, message: str, where: str = "device") -> None:
        from protocols.messages import ERROR_NAMES

        self.code = code
        self.name = ERROR_NAMES.get(code, "error")
        self.message = message
        super().__init__(f"{where} answered error {code} ({self.name}): {message}")


class Transport:
    """Base: a byte pipe to one board. Subclasses implement _open, _close, write, _read."""

    name = "transport"

    def __init__(self) -> None:
        self.generation = 0  # +1 on every (re)open: a client resends idempotent requests

    @property
    def is_open(self) -> bool:
        raise NotImplementedError

    def open(self) -> Transport:
        """Open the link (no-op when open); returns self."""
        if not self.is_open:
            self._open()
            self.generation += 1
        return self

    def close(self) -> None:
        """Close the link; safe to call twice."""
        self._close()

    def write(self, data: bytes) -> None:
        """Send bytes; raises LinkLost when the link is gone."""
        raise NotImplementedError

    def read(self, timeout: float) -> bytes:
        """Bytes that arrived within `timeout` s (b"" if none); raises LinkLost."""
        raise NotImplementedError

    def clock(self) -> float:
        """Seconds on the clock that timeouts are measured with (the board's, for loopback)."""
        return time.monotonic()

    def _open(self) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Transport:
        return self.open()

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


# -- serial ---------------------------------------------------------------------------------


@dataclass
class PortInfo:
    """One serial port as `serial.tools.list_ports` sees it."""

    device: str
    description: str
    vid: int | None
    pid: int | None
    serial_number: str | None
    bridge: str | None  # label when it looks like an ESP32 USB bridge

    @property
    def usb_id(self) -> str:
        return f"{self.vid:04X}:{self.pid:04X}" if self.vid is not None else ""


def bridge_label(vid: int | None, pid: int | None) -> str | None:
    """The ESP32 USB bridge name for a vid:pid, or None."""
    if vid is None:
        return None
    return ESP32_BRIDGES.get((vid, pid)) or ESP32_BRIDGES.get((vid, None))


def list_ports(esp32_only: bool = False) -> list[PortInfo]:
    """Serial ports on this host, ESP32-looking bridges first."""
    out = []
    for p in serial.tools.list_ports.comports():
        label = bridge_label(p.vid, p.pid)
        if esp32_only and label is None:
            continue
        out.append(PortInfo(p.device, p.description or "", p.vid, p.pid, p.serial_number,
                            label))
    out.sort(key=lambda p: (p.bridge is None, p.device))
    return out


class SerialTransport(Transport):
    """A board on a serial port (USB-UART bridge, USB-JTAG, or a pty).

    Opening never resets an ESP32: DTR and RTS are set False before the port is opened
    (pyserial applies them at open), so the auto-reset circuit sees no edge. The port is
    locked exclusively. With `reconnect_s` > 0, open() waits that long for a missing port
    and a read that finds the port gone (board reset, re-enumeration) reopens it.
    """

    def __init__(self, port: str, baudrate: int = 115200, reconnect_s: float = 0.0,
                 exclusive: bool = True,
                 serial_class: Callable[[], serial.Serial] = serial.Serial) -> None:
        super().__init__()
        self.port = port
        self.name = port
        self.baudrate = baudrate
        self.reconnect_s = reconnect_s
        self.exclusive = exclusive
        self.serial_class = serial_class
        self._ser: serial.Serial | None = None

    @property
    def is_open(self) -> bool:
        return self._ser is not None and self._ser.is_open

    def _open(self) -> None:
        deadline = time.monotonic() + self.reconnect_s
        while True:
            try:
                self._ser = self._open_once()
                return
            except PortMissing:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)

    def _open_once(self) -> serial.Serial:
        s = self.serial_class()
        s.baudrate = self.baudrate
        s.timeout = 0
        s.write_timeout = 2.0
        s.dtr = False  # before open: no reset pulse into the ESP32 EN/IO0 circuit
        s.rts = False
        s.exclusive = self.exclusive
        s.port = self.port
        try:
            s.open()
        except (serial.SerialException, OSError) as exc:
            with _quiet():
                s.close()
            raise self._classify(exc) from None
        return s

    def _classify(self, exc: Exception) -> LinkError:
        code = getattr(exc, "errno", None)
        text = str(exc)
        if code == errno.ENOENT or "No such file" in text:
            return PortMissing(f"port missing: {self.port} does not exist "
                               "(board unplugged? `armlock device ports` lists ports)")
        if code in (errno.EBUSY, errno.EAGAIN) or "exclusively lock" in text:
            return PortBusy(f"port busy: {self.port} is open in another program "
                            "(close the monitor / mpremote / other armlock first)")
        if code == errno.EACCES:
            return PortBusy(f"port not permitted: no access to {self.port} "
                            "(add your user to the dialout group)")
        return PortMissing(f"cannot open {self.port}: {text}")

    def _close(self) -> None:
        s, self._ser = self._ser, None
        if s is not None:
            with _quiet():
                s.close()

    def write(self, data: bytes) -> None:
        s = self._require()
        try:
            s.write(data)
            s.flush()
        except (serial.SerialException, OSError) as exc:
            self._lost(exc)
            # one retry after a reconnect: the bytes never left the host
            self._require().write(data)

    def read(self, timeout: float) -> bytes:
        s = self._require()
        try:
            s.timeout = max(0.0, timeout)
            first = s.read(1)
            if not first:
                return b""
            s.timeout = 0
            return first + s.read(s.in_waiting or 0)
        except (serial.SerialException, OSError) as exc:
            self._lost(exc)
            return b""

    def _require(self) -> serial.Serial:
        if self._ser is None:
            raise LinkLost(f"{self.port}: not open")
        return self._ser

    def _lost(self, exc: Exception) -> None:
        """The port went away: reopen within reconnect_s, else raise LinkLost."""
        self._close()
        if self.reconnect_s <= 0:
            raise LinkLost(f"link lost: {self.port} went away ({exc})") from None
        try:
            self.open()
        except PortMissing:
            raise LinkLost(f"link lost: {self.port} went away and did not come back within "
                           f"{self.reconnect_s:g} s") from None


class PtyTransport(SerialTransport):
    """The virtual board's pseudo-terminal, opened with pyserial like a real port."""

    def __init__(self, port: str, reconnect_s: float = 0.0, **kw: Any) -> None:
        super().__init__(port, reconnect_s=reconnect_s, **kw)


# -- loopback -------------------------------------------------------------------------------


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


class _quiet:
    """Suppress errors while cleaning up (closing a half-open port)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, et: Any, e: Any, tb: Any) -> bool:
        return et is not None and issubclass(et, Exception)


def open_transport(spec: str, reconnect_s: float = 0.0, **kw: Any) -> Transport:
    """A transport for 'ble:ADDRESS', a /dev/pts/N pty, or a serial port path (not opened)."""
    if spec.startswith("ble:"):
        from hardware.ble import BleTransport

        return BleTransport(spec[4:], **kw)
    if spec.startswith("/dev/pts/") or os.path.realpath(spec).startswith("/dev/pts/"):
        return PtyTransport(spec, reconnect_s=reconnect_s, **kw)
    return SerialTransport(spec, reconnect_s=reconnect_s, **kw)
