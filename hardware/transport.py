"""Moved to hardware.link. This alias stays only until the CLI (moving to armlock/cli)
imports hardware.link; then delete it."""

from __future__ import annotations

from hardware.link.base import LinkError, Transport
from hardware.link.factory import open_target as open_transport
from hardware.link.pty import PtyTransport
from hardware.link.serial import list_ports

__all__ = ["LinkError", "PtyTransport", "Transport", "list_ports", "open_transport"]
