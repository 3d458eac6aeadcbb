"""Desk checks before a permit is signed: refuse what the device would refuse, or what
nobody could use, in the user's terms (ISO 8601 UTC times, holder ids, zone and vertex).

The device's own rules are called, never copied: `firmware.core.admin.check_zones` for the
zones, `firmware.core.creds` for what a holder must present, `protocols.messages` for what
a LOAD_PERMIT frame holds.
"""

from __future__ import annotations

import functools
import types
from datetime import UTC, datetime
from typing import Any

from armlock.authority.keys import AuthorityError
from firmware.core import admin, creds, events, rules
from protocols import permit as P

U32_END = 2**32 - 1
FINGER_CAPACITY = 200  # templates in an R503 library (datasheet); --finger-capacity


def iso(ts: int) -> str:
    """UTC seconds as ISO 8601 with Z."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_device_id(device_id: str, what: str = "--device") -> str:
    """A device id a permit can carry: 1..32 printable ASCII characters, no spaces."""
    if not 1 <= len(device_id) <= P.MAX_ID:
        raise AuthorityError(f"{what} {device_id!r}: a device id has 1..{P.MAX_ID} "
                             f"characters, this one {len(device_id)}")
    bad = [c for c in device_id if not 0x21 <= ord(c) <= 0x7E]
    if bad:
        raise AuthorityError(f"{what} {device_id!r}: character {bad[0]!r} is not allowed "
                             "(printable ASCII without spaces)")
    return device_id


def check_holders(holders: list[Any], capacity: int = FINGER_CAPACITY) -> None:
    """Each holder, card and fingerprint template once; templates within the module."""
    seen: dict[int, int] = {}
    cards: dict[str, int] = {}
    tpls: dict[int, int] = {}
    for hid, rfid, finger in holders:
        if hid in seen:
            raise AuthorityError(f"holder {hid} appears twice")
        seen[hid] = 1
        for c in rfid:
            if c.upper() in cards:
                raise AuthorityError(_twice("card", c.upper(), cards[c.upper()], hid))
            cards[c.upper()] = hid
        for t in finger:
            if t >= capacity:
                raise AuthorityError(f"holder {hid}: fingerprint template {t} is beyond the "
                                     f"module's library 0..{capacity - 1} "
                                     "(--finger-capacity to change it)")
            if t in tpls:
                raise AuthorityError(_twice("fingerprint template", t, tpls[t], hid))
            tpls[t] = hid


def _twice(what: str, v: Any, first: int, hid: int) -> str:
    if first == hid:
        return f"holder {hid} lists {what} {v} twice"
    return f"{what} {v} is listed for holder {first} and holder {hid}"


def check_rule(p: P.Permit, rule_text: str) -> None:
    """Refuse a holder who cannot open the lock alone: the core needs `creds.required`
    distinct factors from one holder (`creds.satisfied`)."""
    need = creds.required(p, (), False)
    for hid, rfid, finger in p.holders:
        have = {}
        if rfid and p.factor_mask & creds.F_RFID:
            have[(hid, creds.F_RFID)] = 0
        if finger and p.factor_mask & creds.F_FINGER:
            have[(hid, creds.F_FINGER)] = 0
        if not creds.satisfied(have, hid, 0, p.window_s * 1000, need):
            kinds = " and ".join(n for n, f in (("rfid", rfid), ("finger", finger)) if f)
            raise AuthorityError(
                f"holder {hid} has only {kinds} credentials, but {rule_text} needs {need} "
                "factors from the same holder: nobody could open this permit")


def check_validity(not_before: int, not_after: int, now: int, max_s: int) -> list[str]:
    """Refuse a window that ended, is longer than `max_s` or ends past 2106; warn when it
    started before now. Returns the warnings."""
    if not_after - not_before > max_s:
        raise AuthorityError(f"validity {_days(not_after - not_before)} is longer than the "
                             f"maximum {_days(max_s)} (--max-validity to raise it)")
    if not_after > U32_END:
        raise AuthorityError(f"validity ends {_iso_far(not_after)}, after {iso(U32_END)}, "
                             "the last time a permit can hold")
    window = types.SimpleNamespace(not_before=not_before, not_after=not_after)
    if rules.validity(window, now) == events.R_EXPIRED:
        raise AuthorityError(f"validity ended {iso(not_after)}, before now ({iso(now)}): "
                             "the permit would be expired when issued")
    if not_before < now - 300:
        return [f"validity starts {iso(not_before)}, {_days(now - not_before)} before now"]
    return []


def _iso_far(ts: int) -> str:
    try:
        return iso(ts)
    except (OverflowError, ValueError, OSError):
        return f"{ts} s after 1970"


def _days(s: int) -> str:
    d, r = divmod(s, 86400)
    h, r = divmod(r, 3600)
    m, s = divmod(r, 60)
    return " ".join(f"{v}{u}" for v, u in ((d, "d"), (h, "h"), (m, "m"), (s, "s")) if v) or "0s"


def check_zones(p: P.Permit, sources: list[Any]) -> None:
    """The device's own zone check (`admin.check_zones`) on the decoded permit."""
    try:
        admin.check_zones(p.zones)
    except ValueError as exc:
        text = str(exc)
        head, _, rest = text.partition(":")
        parts = head.split()
        if len(parts) >= 2 and parts[0] == "zone" and parts[1].isdigit() and int(
                parts[1]) < len(sources):
            src = sources[int(parts[1])]
            raise AuthorityError(f"{src.file}: {text} (the device would refuse it)") from None
        raise AuthorityError(f"{text} (the device would refuse it)") from None


@functools.cache
def max_token_bytes() -> int:
    """The largest token a LOAD_PERMIT frame carries (protocols.messages decides)."""
    from protocols import messages as M

    lo, hi = 1, 4096
    while lo < hi:
        mid = (lo + hi + 1) // 2
        try:
            M.encode_payload(M.LOAD_PERMIT, {"token": bytes(mid)})
            lo = mid
        except ValueError:
            hi = mid - 1
    return lo


def check_loadable(blob: bytes, p: P.Permit) -> None:
    """Refuse a token that no LOAD_PERMIT frame can carry, saying by how many vertices."""
    limit = max_token_bytes()
    if len(blob) <= limit:
        return
    verts = sum(len(r) // 2 for _, rings in p.zones for r in rings)
    over = -(-(len(blob) - limit) // 8)
    raise AuthorityError(
        f"the permit is {len(blob)} bytes, a LOAD_PERMIT frame carries at most {limit}: its "
        f"zones have {verts} vertices, {over} too many; simplify them (--simplify METRES) or "
        "use fewer zones")
