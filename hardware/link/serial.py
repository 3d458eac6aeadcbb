"""A board on a serial port (USB-UART bridge or USB-JTAG) through pyserial, and the port list."""

from __future__ import annotations

import errno
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import serial
import serial.tools.list_ports

from hardware.link.base import LinkError, LinkLost, PortBusy, PortMissing, Transport, quiet

# USB bridges found on ESP32 boards: (vid, pid or None for any) -> label.
ESP32_BRIDGES: dict[tuple[int, int | None], str] = {
    (0x10C4, 0xEA60): "CP210x",
    (0x1A86, 0x7523): "CH340",
    (0x1A86, 0x55D4): "CH9102",
    (0x0403, None): "FTDI",
    (0x303A, 0x1001): "ESP32-S3/C3 USB-JTAG",
}



@dataclass
class PortInfo:
    """One serial port as `serial.tools.list_ports` sees it."""

    device: str
    description: str
    vid: int | None
    pid: int | None
    serial_number: str | None
    bridge: str | None  # label when it looks like an ESP32 USB bridge
    location: str | None = None  # physical USB path (e.g. 1-1.4:1.0): stays with the socket

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
                            label, getattr(p, "location", None)))
    out.sort(key=lambda p: (p.bridge is None, p.device))
    return out


def find_port(ident: str, ports: Callable[[], list[PortInfo]] = list_ports) -> str | None:
    """The device path of the port whose USB serial number or location is `ident`."""
    for p in ports():
        loc = (p.location or "").split(":")[0]
        if ident in (p.serial_number, p.location, loc):
            return p.device
    return None


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
        self.find: Callable[[], str | None] | None = None  # finds the port again at each open
        self.write_timeout: float | None = 2.0  # None where pyserial has none (rfc2217)
        self.poll = False  # read by polling (where changing the timeout is a network trip)
        self._ser: serial.Serial | None = None

    @classmethod
    def by_usb(cls, ident: str, reconnect_s: float = 0.0,
               ports: Callable[[], list[PortInfo]] = list_ports, **kw: Any) -> SerialTransport:
        """The port with USB serial number (or location) `ident`, looked up at every open,
        so a board that re-enumerates as another /dev/ttyUSBn is found again."""
        t = cls(f"usb:{ident}", reconnect_s=reconnect_s, **kw)
        t.find = lambda: find_port(ident, ports)
        return t

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
        device = self.port
        if self.find is not None:
            found = self.find()
            if found is None:
                raise PortMissing(f"port missing: no serial port has USB serial number or "
                                  f"location {self.port[4:]} (board unplugged?)")
            device = found
        s = self.serial_class()
        s.baudrate = self.baudrate
        s.timeout = 0
        s.write_timeout = self.write_timeout
        s.dtr = False  # before open: no reset pulse into the ESP32 EN/IO0 circuit
        s.rts = False
        s.exclusive = self.exclusive
        s.port = device
        try:
            s.open()
        except (serial.SerialException, OSError) as exc:
            with quiet():
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
            with quiet():
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
            if self.poll:
                return self._read_polling(s, timeout)
            s.timeout = max(0.0, timeout)
            first = s.read(1)
            if not first:
                return b""
            s.timeout = 0
            return first + s.read(s.in_waiting or 0)
        except (serial.SerialException, OSError) as exc:
            self._lost(exc)
            return b""

    @staticmethod
    def _read_polling(s: serial.Serial, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        while True:
            n = s.in_waiting
            if n:
                return bytes(s.read(n))
            if time.monotonic() >= deadline:
                return b""
            time.sleep(0.002)

    def set_lines(self, dtr: bool, rts: bool) -> None:
        """Drive the bridge's DTR and RTS lines (on ESP32 boards: IO0 and EN)."""
        s = self._require()
        s.dtr = dtr
        s.rts = rts

    def pulse_reset(self, hold_s: float = 0.1) -> None:
        """Reset the ESP32 over the USB bridge: EN low through RTS, as esptool does."""
        self.set_lines(dtr=False, rts=True)
        time.sleep(hold_s)
        self.set_lines(dtr=False, rts=False)

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
