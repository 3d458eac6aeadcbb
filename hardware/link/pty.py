"""The virtual board's pseudo-terminal, opened with pyserial like a real port."""

from __future__ import annotations

from typing import Any

from hardware.link.serial import SerialTransport


class PtyTransport(SerialTransport):
    """A /dev/pts/N of a virtual board: a serial port whose DTR/RTS the board accepts."""

    def __init__(self, port: str, reconnect_s: float = 0.0, **kw: Any) -> None:
        super().__init__(port, reconnect_s=reconnect_s, **kw)
