"""Issuing a shift: one permit per rostered weapon, for everyone on the roster, in one
transaction (all permits are recorded, or none is).

A roster is CSV with a header: `holder` (service number) and `weapon` (serial number),
optionally `manufacturer`. Several rows for one weapon put several holders on its
permit. Each holder's credentials come from the registry: every card of the holder and
the fingerprint templates enrolled on that weapon's lock.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from armlock.registry.db import RegistryError
from armlock.registry.models import Card, Finger, Holder, Shift, Token, Weapon
from armlock.registry.records import attribute, find_holder, find_weapon, now_s
from armlock.registry.signer import Signer
from armlock.registry.status import set_status, statuses
from armlock.registry.tokens import issue_token
from protocols import permit as P

ISSUABLE = ("in_store", "issued", "recovered")


@dataclass
class ShiftSpec:
    """What every permit of the shift allows."""

    name: str
    hours: float = 8.0
    start: int | None = None  # UTC seconds; None: now
    zones: list[Any] = field(default_factory=list)
    rule: str = "all"  # "all", "any" or "k-of-n" of `factors`
    k: int | None = None  # for "k-of-n"
    factors: tuple[str, ...] = ("rfid", "finger")
    fail_enabled: bool = False
    max_unlock_s: int = 600
    window_s: int = 30


def read_roster(text: str) -> list[dict[str, str]]:
    """Roster rows from CSV text (RegistryError naming the line on a bad row)."""
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or not {"holder", "weapon"} <= set(reader.fieldnames):
        raise RegistryError("roster: the header must name the columns holder,weapon")
    rows = []
    for n, row in enumerate(reader, start=2):
        if not (row.get("holder") or "").strip() or not (row.get("weapon") or "").strip():
            raise RegistryError(f"roster line {n}: holder and weapon are both required")
        rows.append({k: (v or "").strip() for k, v in row.items() if k})
    if not rows:
        raise RegistryError("roster: no rows")
    return rows


def rule_fields(spec: ShiftSpec) -> tuple[int, int, int]:
    """(rule_mode, factor_mask, k) of the permit fields for the spec's rule."""
    try:
        return P.factor_rule(spec.rule, list(spec.factors), spec.k)
    except ValueError as exc:
        raise RegistryError(f"shift rule: {exc}") from None


def _credentials(s: Session, h: Holder, device_id: str, mask: int,
                 k: int) -> tuple[int, tuple[str, ...], tuple[int, ...]]:
    """The holder's permit entry; RegistryError if fewer than k factors are enrolled."""
    cards = tuple(s.scalars(select(Card.uid).where(Card.holder_id == h.id)
                            .order_by(Card.id))) if mask & P.F_RFID else ()
    fingers = tuple(s.scalars(select(Finger.template_id).where(
        Finger.holder_id == h.id, Finger.device_id == device_id)
        .order_by(Finger.id))) if mask & P.F_FINGER else ()
    missing = [n for bit, n, have in ((P.F_RFID, "card", cards), (P.F_FINGER,
               f"fingerprint on {device_id}", fingers)) if mask & bit and not have]
    if bin(mask).count("1") - len(missing) < k:
        raise RegistryError(f"holder {h.service_number} has no {' and no '.join(missing)}")
    return h.id, cards, fingers


def _by_weapon(s: Session, rows: list[dict[str, str]]) -> dict[int, tuple[Weapon, list[Holder]]]:
    out: dict[int, tuple[Weapon, list[Holder]]] = {}
    for row in rows:
        w = find_weapon(s, row["weapon"], row.get("manufacturer") or None)
        h = find_holder(s, row["holder"])
        entry = out.setdefault(w.id, (w, []))
        if h not in entry[1]:
            entry[1].append(h)
    return out


def issue_shift(s: Session, signer: Signer, actor: str, rows: list[dict[str, str]],
                spec: ShiftSpec, at: int | None = None) -> tuple[Shift, list[Token]]:
    """Issue the shift's permits (caller commits; any error leaves nothing issued)."""
    at = now_s() if at is None else at
    start = at if spec.start is None else spec.start
    end = start + int(spec.hours * 3600)
    mode, mask, k = rule_fields(spec)
    shift = Shift(name=spec.name, not_before=start, not_after=end, issued_at=at, issued_by=actor)
    s.add(shift)
    s.flush()
    tokens = []
    by_weapon = _by_weapon(s, rows)
    now_status = statuses(s, list(by_weapon))
    # devices in id order: two shifts issued at once lock device rows in the same order
    for w, holders in sorted(by_weapon.values(), key=lambda e: e[0].device_id or ""):
        if w.device_id is None:
            raise RegistryError(f"weapon {w.serial_number} has no lock bound to it")
        st = now_status.get(w.id)
        if st is not None and st.status not in ISSUABLE:
            raise RegistryError(f"weapon {w.serial_number} is {st.status}: not issued")
        with s.no_autoflush:
            creds = [_credentials(s, h, w.device_id, mask, k) for h in holders]
        fields = dict(not_before=start, not_after=end, fail_enabled=spec.fail_enabled,
                      max_unlock_s=spec.max_unlock_s, rule_mode=mode, factor_mask=mask, k=k,
                      window_s=spec.window_s, holders=creds, zones=spec.zones)
        tok = issue_token(s, signer, actor, "permit", w.device_id, fields, at, shift.id)
        set_status(s, actor, w, "issued", [h.id for h in holders], at, f"shift {spec.name}",
                   tok.id, at, prior=st.status if st else None)
        tokens.append(tok)
    attribute(s, actor, "issue-shift", f"shift {shift.id}", at, name=spec.name,
              permits=len(tokens))
    return shift, tokens


def shift_permit(s: Session, device_id: str, now: int) -> Token | None:
    """The newest permit of a device still valid at `now` (what a dock loads)."""
    return s.scalar(select(Token).where(Token.device_id == device_id, Token.kind == "permit",
                                        Token.not_after >= now)
                    .order_by(Token.serial.desc()).limit(1))
