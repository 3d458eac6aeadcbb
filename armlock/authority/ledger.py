"""The serial ledger: last serial issued per device, in a JSON file next to the key file."""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from armlock.authority.keys import AuthorityError


def ledger_path(key_path: Path) -> Path:
    """The JSON ledger of last serial per device, next to the key file."""
    return key_path.with_name(key_path.name + ".serials.json")


def read_ledger(key_path: Path) -> dict[str, int]:
    """Last serial issued per device ({} when nothing was issued yet)."""
    path = ledger_path(key_path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except json.JSONDecodeError as exc:
        raise AuthorityError(f"{path}: ledger is not valid JSON ({exc.msg})") from None
    if not isinstance(data, dict) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in data.values()
    ):
        raise AuthorityError(f"{path}: ledger must map device id to last serial (int)")
    return data


@contextmanager
def _locked(key_path: Path) -> Iterator[None]:
    lock = ledger_path(key_path).with_suffix(".lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def next_serial(key_path: Path, device_id: str) -> int:
    """Reserve and record the next serial for a device (atomic file replace, locked)."""
    with _locked(key_path):
        ledger = read_ledger(key_path)
        serial = ledger.get(device_id, 0) + 1
        if serial >= 2**32:
            raise AuthorityError(f"serials for {device_id} are exhausted")
        ledger[device_id] = serial
        path = ledger_path(key_path)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(ledger, indent=1, sort_keys=True) + "\n")
        os.replace(tmp, path)
    return serial


