"""Shared pieces of the command line: console, error type, debug flag."""

from __future__ import annotations

import functools
import os
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

# Exit status of every command (README "Exit status"; tests/test_cli_inputs.py checks them).
EXIT_OK = 0
EXIT_FAILED = 1    # what was run failed: HIL suite, audit chain, benchmark, virtual board
EXIT_USAGE = 2     # bad input: option, file, key, zone, permit request
EXIT_ABSENT = 3    # no device: port missing, link lost, board not answering at all
EXIT_BUSY = 4      # the port is held by another program
EXIT_TIMEOUT = 5   # the device did not answer in time
EXIT_REFUSED = 6   # the device answered with an error (refused the command)

console = Console()
err_console = Console(stderr=True, soft_wrap=True)
state: dict[str, Any] = {"debug": False}


class UserError(Exception):
    """An error the user can fix; printed as one line, exit status `code`."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
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
            code = exc.code if isinstance(exc, UserError) else EXIT_USAGE
            err_console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
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


def check_out_dir(out: Path, force: bool) -> None:
    """Refuse an --out folder that holds earlier results unless --force."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: is a file, expected a folder for the results")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise UserError(f"--out {out}: holds earlier results; give --force to replace them "
                        "or choose another folder")
