"""The permit authority on the host: master key file, serial ledger, issuing and inspecting.

The master key never leaves the key file; each device gets a key derived from it with HKDF
(``cryptography``), equal to ``protocols.crypto.device_key`` used on the device.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from protocols import permit as P
from protocols.crypto import DEVICE_KEY_INFO, DEVICE_KEY_SALT

KEY_ENV = "ARMLOCK_KEY"
DEFAULT_KEY_FILE = "armlock-master.key"
KEY_LEN = 32
KIND_NAMES = {P.KIND_PERMIT: "permit", P.KIND_RECALL: "recall", P.KIND_RESET: "tamper-reset"}
MODE_NAMES = {P.MODE_ANY: "any-of", P.MODE_ALL: "all-of", P.MODE_KOFN: "k-of-n"}


class AuthorityError(ValueError):
    """A key, ledger or token problem the user can fix (one-line message)."""


def default_key_path() -> Path:
    """$ARMLOCK_KEY, else ./armlock-master.key."""
    return Path(os.environ.get(KEY_ENV) or DEFAULT_KEY_FILE)


def create_master_key(path: Path) -> bytes:
    """Write 32 random bytes as hex to a new file of mode 0600; never overwrite."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise AuthorityError(f"{path}: key file exists; refusing to overwrite it") from None
    except OSError as exc:
        raise AuthorityError(f"{path}: cannot create key file ({exc.strerror})") from None
    key = secrets.token_bytes(KEY_LEN)
    with os.fdopen(fd, "w") as f:
        os.fchmod(f.fileno(), 0o600)
        f.write(key.hex() + "\n")
    return key


def load_master_key(path: Path) -> bytes:
    """Read the master key; refuse a file that group or others can read or write."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise AuthorityError(
            f"{path}: no key file (create one with `armlock keys init`, or set {KEY_ENV})"
        ) from None
    if st.st_mode & 0o077:
        raise AuthorityError(
            f"{path}: key file is accessible by group/others (mode {stat.S_IMODE(st.st_mode):04o});"
            f" run: chmod 600 {path}"
        )
    text = path.read_text().strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise AuthorityError(f"{path}: key file is not hex") from None
    if len(key) != KEY_LEN:
        raise AuthorityError(f"{path}: key is {len(key)} bytes, need {KEY_LEN}")
    return key


def derive_device_key(master: bytes, device_id: str) -> bytes:
    """HKDF-SHA256(master, salt b"armlock/v1", info b"device:" + id), with `cryptography`."""
    hkdf = HKDF(hashes.SHA256(), 32, DEVICE_KEY_SALT, DEVICE_KEY_INFO + device_id.encode())
    return hkdf.derive(master)


# -- serial ledger ----------------------------------------------------------------------------

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


# -- issuing ----------------------------------------------------------------------------------

def issue(key_path: Path, fields: dict[str, Any]) -> bytes:
    """Sign a token (any kind) for fields["device_id"] with the next serial from the ledger.

    The fields are validated before a serial is reserved; a token once returned has its
    serial recorded, so the next one for the device is larger.
    """
    master = load_master_key(key_path)
    device_id = fields["device_id"]
    key = derive_device_key(master, device_id)
    P.encode(dict(fields, serial=1), key)  # validate first: a bad request burns no serial
    return P.encode(dict(fields, serial=next_serial(key_path, device_id)), key)


def issue_recall(key_path: Path, device_id: str, now: int | None = None) -> bytes:
    """A recall token: the device drops its permit and refuses older ones."""
    return issue(key_path, {"kind": P.KIND_RECALL, "device_id": device_id,
                            "not_before": int(time.time()) if now is None else now})


def issue_reset(key_path: Path, device_id: str, now: int | None = None) -> bytes:
    """An authority tamper-reset token: clears a latched tamper on the device."""
    return issue(key_path, {"kind": P.KIND_RESET, "device_id": device_id,
                            "not_before": int(time.time()) if now is None else now})


# -- inspecting -------------------------------------------------------------------------------

def iso(ts: int) -> str:
    """UTC seconds as ISO 8601 with Z."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _status(p: P.Permit, now: int) -> str:
    if p.kind != P.KIND_PERMIT:
        return "issued"
    if now < p.not_before:
        return "not yet valid"
    if now > p.not_after:
        return "expired"
    return "valid"


def _zone_dict(forbidden: bool, rings: list[Any]) -> dict[str, Any]:
    outer = rings[0]
    lats, lons = outer[0::2], outer[1::2]
    return {
        "kind": "forbidden" if forbidden else "allowed",
        "vertices": [len(r) // 2 for r in rings],
        "bbox": [min(lats) / 1e7, min(lons) / 1e7, max(lats) / 1e7, max(lons) / 1e7],
        "rings": [[[r[i] / 1e7, r[i + 1] / 1e7] for i in range(0, len(r), 2)] for r in rings],
    }


def describe(p: P.Permit, now: int, ledger_last: int | None = None) -> dict[str, Any]:
    """A JSON-ready description of a decoded token, with status relative to `now`."""
    d: dict[str, Any] = {
        "kind": KIND_NAMES[p.kind], "device_id": p.device_id, "serial": p.serial,
        "verified": p.verified, "status": _status(p, now), "mac": p.mac.hex(),
    }
    if p.kind != P.KIND_PERMIT:
        d["issued_at"] = iso(p.not_before)
    else:
        factors = [n for bit, n in ((P.F_RFID, "rfid"), (P.F_FINGER, "finger"))
                   if p.factor_mask & bit]
        d.update({
            "not_before": iso(p.not_before), "not_after": iso(p.not_after),
            "fail_profile": "fail-enabled" if p.fail_enabled else "fail-secure",
            "max_unlock_s": p.max_unlock_s, "rule": MODE_NAMES[p.rule_mode], "k": p.k,
            "factors": factors, "window_s": p.window_s,
            "holders": [{"id": h, "rfid": list(c), "finger": list(t)} for h, c, t in p.holders],
            "zones": [_zone_dict(f, r) for f, r in p.zones],
        })
    if ledger_last is not None and p.serial < ledger_last:
        d["superseded"] = (f"serial {p.serial} < last issued {ledger_last}: a device that "
                           "loaded a newer token refuses this one")
    return d


def inspect(blob: bytes, key_path: Path | None, now: int | None = None,
            device_id: str | None = None) -> dict[str, Any]:
    """Verify (with the master key at key_path) and describe a token; key_path None skips
    verification. Raises PermitError/AuthorityError with one line on any problem."""
    now = int(time.time()) if now is None else now
    target = P.peek_device_id(blob)
    if device_id is not None and target != device_id:
        raise AuthorityError(f"token is for device {target}, not {device_id}")
    if key_path is None:
        return describe(P.decode(blob, None), now)
    key = derive_device_key(load_master_key(key_path), target)
    p = P.decode(blob, key)
    return describe(p, now, read_ledger(key_path).get(target))
