"""Target specs: the one parser of what the user names as a board, and the one factory.

A target spec is one of
  virtual | virtual-cpython         a virtual board the harness starts (hardware.virtual)
  pty:PATH                          the pty of a virtual board that is already running
  serial:PORT                       a serial port (/dev/ttyUSB0, COM3, /dev/serial/by-id/...)
  usb:SERIAL_NUMBER                 the serial port whose USB serial number (or physical
                                    location, e.g. 1-1.4) this is; found again on replug
  ble:ADDRESS                       a board over BLE (MAC, or a platform UUID on macOS)
  rfc2217://HOST:PORT               a serial port shared over the network (RFC 2217, e.g.
                                    esp_rfc2217_server or the virtual board's bridge)
  a bare port path                  /dev/pts/N (or a link to one) is a pty, else serial
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from hardware.link.base import Transport

VIRTUAL_RUNTIMES = {"virtual": "micropython", "virtual-cpython": "cpython"}
KINDS = ("pty", "serial", "usb", "ble")
_PORT_PATH = re.compile(r"^(/|\.|COM\d+$)")
FORMS = ("virtual, virtual-cpython, pty:PATH, serial:PORT, usb:SERIAL, ble:ADDRESS, "
         "rfc2217://HOST:PORT or a port path")


@dataclass(frozen=True)
class TargetSpec:
    """A parsed target: kind is virtual, pty, serial, usb, ble or url (rfc2217://)."""

    kind: str
    where: str = ""            # runtime for virtual; else the port, serial number or address

    @property
    def spawns(self) -> bool:
        """True when the harness starts (and may restart or add) boards itself."""
        return self.kind == "virtual"

    @property
    def is_virtual(self) -> bool:
        """True for a virtual board (one we start, or a pty of one already running)."""
        return self.kind in ("virtual", "pty")

    @property
    def has_port(self) -> bool:
        """True for targets reached through a serial port (pty, serial, usb, url)."""
        return self.kind in ("pty", "serial", "usb", "url")

    def __str__(self) -> str:
        if self.kind == "virtual":
            return "virtual" if self.where == "micropython" else "virtual-cpython"
        if self.kind == "url":
            return self.where
        return f"{self.kind}:{self.where}"


def parse_target(spec: str | TargetSpec, what: str = "target") -> TargetSpec:
    """The TargetSpec for `spec` (see the module docstring); ValueError names `what`."""
    if isinstance(spec, TargetSpec):
        return spec
    if spec in VIRTUAL_RUNTIMES:
        return TargetSpec("virtual", VIRTUAL_RUNTIMES[spec])
    if spec.startswith("rfc2217://") and len(spec) > len("rfc2217://"):
        return TargetSpec("url", spec)
    kind, sep, where = spec.partition(":")
    if sep and kind in KINDS and where:
        return TargetSpec(kind, where)
    if _PORT_PATH.match(spec):
        pts = spec.startswith("/dev/pts/") or os.path.realpath(spec).startswith("/dev/pts/")
        return TargetSpec("pty" if pts else "serial", spec)
    raise ValueError(f"{what} {spec!r}: use {FORMS}")


def open_target(spec: str | TargetSpec, reconnect_s: float = 0.0, **kw: Any) -> Transport:
    """A transport (not opened) for a pty, serial, usb or ble target spec."""
    t = parse_target(spec)
    if t.kind == "ble":
        from hardware.link.ble import BleTransport

        return BleTransport(t.where, **kw)
    if t.kind == "pty":
        from hardware.link.pty import PtyTransport

        return PtyTransport(t.where, reconnect_s=reconnect_s, **kw)
    from hardware.link.serial import SerialTransport

    if t.kind == "serial":
        return SerialTransport(t.where, reconnect_s=reconnect_s, **kw)
    if t.kind == "usb":
        return SerialTransport.by_usb(t.where, reconnect_s=reconnect_s, **kw)
    if t.kind == "url":
        import serial

        tr = SerialTransport(t.where, reconnect_s=reconnect_s, serial_class=lambda: (
            serial.serial_for_url(t.where, do_not_open=True)), **kw)
        tr.write_timeout = None  # pyserial's rfc2217 client has no write timeout
        tr.poll = True           # ... and each timeout change is a round trip
        return tr
    raise ValueError(f"target {t}: a virtual board is started by hardware.virtual, "
                     "then reached through its pty")


def check_port(spec: str | TargetSpec) -> None:
    """Open and close a port target once; raises PortMissing/PortBusy with one line."""
    t = parse_target(spec)
    if not t.has_port:
        return
    tr = open_target(t)
    try:
        tr.open()
    finally:
        tr.close()
