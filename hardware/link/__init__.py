"""Byte links from the host to a board: one Transport base (base.py), one module per
transport (serial, pty, loopback, ble) and one factory of target specs (factory.py).

Import what you use from its module; the common names are re-exported here.
"""

from __future__ import annotations

from hardware.link.base import (
    DeviceError,
    DeviceTimeout,
    LinkError,
    LinkLost,
    PortBusy,
    PortMissing,
    Transport,
)
from hardware.link.factory import TargetSpec, check_port, open_target, parse_target
from hardware.link.serial import PortInfo, list_ports

__all__ = ["DeviceError", "DeviceTimeout", "LinkError", "LinkLost", "PortBusy", "PortMissing",
           "PortInfo", "TargetSpec", "Transport", "check_port", "list_ports", "open_target",
           "parse_target"]
