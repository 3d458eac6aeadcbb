"""Issuing a permit at the desk: every check before the serial is reserved and the token
signed, so what is issued is what the device loads and someone can open.

    blob, notes = desk.issue_permit(key_path, fields, zones, Desk(max_validity_s=7 * 86400))
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from armlock.authority import checks, tokens
from armlock.authority.keys import AuthorityError
from armlock.authority.zones import ZoneSet
from protocols import permit as P

DAY = 86400


class _Trial:
    """A stand-in signer for the trial encoding (nothing is verified there)."""
    key_id = bytes(P.KID_LEN)

    @staticmethod
    def sign(msg: bytes) -> bytes:
        return b"\x01" * P.SIG_LEN


_TRIAL = _Trial()


class Desk:
    """What the issuing office allows beyond the token format."""

    def __init__(self, max_validity_s: int = 30 * DAY,
                 finger_capacity: int = checks.FINGER_CAPACITY) -> None:
        self.max_validity_s = max_validity_s
        self.finger_capacity = finger_capacity


def _trial(fields: dict[str, Any]) -> tuple[bytes, P.Permit]:
    """The token as it will be (same length; the signature and card keys aside), decoded."""
    try:
        blob = P.encode(dict(fields, serial=1), _TRIAL)
    except P.PermitError as exc:
        raise AuthorityError(str(exc)) from None
    return blob, P.decode(blob, None)


def check_token(fields: dict[str, Any], rule_text: str = "the factor rule",
                sources: list[Any] | None = None) -> None:
    """The desk's checks of the token the fields make, as the device will decode it:
    every holder can meet the factor rule, zones pass the device's own check (`sources`
    name them in errors), and the token fits a LOAD_PERMIT frame."""
    blob, p = _trial(fields)
    checks.check_rule(p, rule_text)
    checks.check_zones(p, sources or [])
    checks.check_loadable(blob, p)


def issue_permit(key_path: Path, fields: dict[str, Any], zones: ZoneSet | None,
                 desk: Desk | None = None, rule_text: str = "the factor rule",
                 now: int | None = None) -> tuple[bytes, list[str]]:
    """Check a permit request (device id, holders, validity, zones as the device checks
    them, frame size) and sign it; returns (token, notes: repairs and warnings)."""
    desk = desk or Desk()
    now = int(time.time()) if now is None else now
    checks.check_device_id(fields["device_id"])
    checks.check_holders(fields["holders"], desk.finger_capacity)
    notes = checks.check_validity(fields["not_before"], fields["not_after"], now,
                                  desk.max_validity_s)
    if zones is not None:
        fields = dict(fields, zones=zones.zones)
        notes = zones.notes + notes
    check_token(fields, rule_text, zones.sources if zones is not None else [])
    return tokens.issue(key_path, fields), notes
