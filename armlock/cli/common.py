"""Shared pieces of the command line: console, error type, debug flag."""

from __future__ import annotations

import functools
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
