"""The link layer's base: the Transport every byte pipe to a board extends, and its errors.

Every transport moves the same wire bytes (protocols/SPEC.md) and raises the same
errors, each with a one-line message and the exit status `armlock device` uses:
PortMissing (3), PortBusy (4), LinkLost (3), DeviceTimeout (5), DeviceError (6).
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any


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


class quiet:
    """Suppress errors while cleaning up (closing a half-open port)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, et: Any, e: Any, tb: Any) -> bool:
        return et is not None and issubclass(et, Exception)
