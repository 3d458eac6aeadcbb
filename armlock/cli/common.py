"""Shared pieces of the command line: console, error type, debug flag."""

from __future__ import annotations

import functools
import os
import stat
import sys
from collections.abc import Callable
from typing import Any

from rich.console import Console

console = Console()
err_console = Console(stderr=True, soft_wrap=True)
state: dict[str, Any] = {"debug": False}


class UserError(Exception):
    """An error the user can fix; printed as one line, exit status `code`."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def friendly(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn UserError (and ValueError from parsers) into a one-line error and exit status."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (UserError, ValueError) as exc:
            if state.get("debug"):
                raise
            code = exc.code if isinstance(exc, UserError) else 2
            err_console.print(f"[red]error:[/red] {exc}", highlight=False)
            sys.exit(code)

    return wrapper


def check_port_path(port: str, what: str = "--port") -> None:
    """Refuse a --port path that is plainly no serial port (a directory, a regular file,
    /dev/null), without opening it (opening resets many boards)."""
    if port.startswith("ble:") or not os.path.exists(port):
        return  # BLE, or absent: the transport reports it (exit 3)
    st = os.stat(port)
    if stat.S_ISDIR(st.st_mode):
        raise UserError(f"{what} {port}: is a directory, expected a serial port such as "
                        "/dev/ttyUSB0")
    if not stat.S_ISCHR(st.st_mode):
        raise UserError(f"{what} {port}: is a file, not a serial port (expected a device "
                        "such as /dev/ttyUSB0)")
    cls = f"/sys/dev/char/{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}/subsystem"
    if os.path.exists(cls) and os.path.basename(os.path.realpath(cls)) != "tty":
        raise UserError(f"{what} {port}: is a {os.path.basename(os.path.realpath(cls))} "
                        "device, not a serial port (expected a device such as /dev/ttyUSB0)")
