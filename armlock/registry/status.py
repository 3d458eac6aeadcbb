"""Weapon status history: in store, issued, lost, stolen, recovered, destroyed.

A loss or theft report raises an alert and recalls the weapon's lock at once; ITI
practice is to report within 24 h of discovery, and a later report is flagged as late.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from armlock.registry.alerts import raise_alert
from armlock.registry.db import RegistryError
from armlock.registry.models import WEAPON_STATUSES, Weapon, WeaponStatus
from armlock.registry.records import attribute, now_s
from armlock.registry.signer import Signer
from armlock.registry.tokens import issue_recall

REPORT_WITHIN_S = 24 * 3600
# from -> statuses allowed next (destroyed is final)
NEXT = {
    "in_store": {"issued", "lost", "stolen", "destroyed", "in_store"},
    "issued": {"in_store", "issued", "lost", "stolen", "destroyed"},
    "lost": {"recovered", "stolen", "destroyed"},
    "stolen": {"recovered", "destroyed"},
    "recovered": {"in_store", "destroyed"},
    "destroyed": set(),
}


def current(s: Session, weapon_id: int) -> WeaponStatus | None:
    """The newest status row of a weapon."""
    return s.scalar(select(WeaponStatus).where(WeaponStatus.weapon_id == weapon_id)
                    .order_by(WeaponStatus.id.desc()).limit(1))


def statuses(s: Session, weapon_ids: list[int] | None = None) -> dict[int, WeaponStatus]:
    """Current status of every weapon (or of `weapon_ids`): the newest row of each."""
    newest = select(func.max(WeaponStatus.id)).group_by(WeaponStatus.weapon_id)
    if weapon_ids is not None:
        newest = newest.where(WeaponStatus.weapon_id.in_(weapon_ids))
    return {r.weapon_id: r for r in s.scalars(select(WeaponStatus)
                                              .where(WeaponStatus.id.in_(newest)))}


def set_status(s: Session, actor: str, weapon: Weapon, status: str,
               holder_ids: list[int] | None = None, occurred_at: int | None = None,
               note: str | None = None, token_id: int | None = None,
               at: int | None = None, prior: str | None = None) -> WeaponStatus:
    """Append a status; refuses a transition that makes no sense (e.g. from destroyed).
    `prior`: the current status when the caller already knows it."""
    if status not in WEAPON_STATUSES:
        raise RegistryError(f"status {status!r}: one of {', '.join(WEAPON_STATUSES)}")
    if prior is None:
        cur = current(s, weapon.id)
        prior = cur.status if cur is not None else None
    if prior is not None and status not in NEXT[prior]:
        raise RegistryError(f"weapon {weapon.serial_number} is {prior}: "
                            f"cannot become {status}")
    at = now_s() if at is None else at
    row = WeaponStatus(weapon_id=weapon.id, status=status, holder_ids=holder_ids or [],
                       occurred_at=at if occurred_at is None else occurred_at, at=at,
                       by=actor, note=note, token_id=token_id)
    s.add(row)
    attribute(s, actor, f"status {status}", f"weapon {weapon.id}", at, note=note)
    return row


def report_loss(s: Session, signer: Signer, actor: str, weapon: Weapon, status: str,
                occurred_at: int, note: str | None = None,
                at: int | None = None) -> WeaponStatus:
    """Record a loss or theft, raise an alert, and recall the weapon's lock."""
    if status not in ("lost", "stolen"):
        raise RegistryError(f"a loss report is 'lost' or 'stolen', not {status!r}")
    at = now_s() if at is None else at
    if occurred_at > at:
        raise RegistryError("a loss cannot be discovered in the future")
    cur = current(s, weapon.id)
    holders = cur.holder_ids if cur is not None else []
    token = None
    if weapon.device_id is not None:
        token = issue_recall(s, signer, actor, weapon.device_id, f"weapon {status}", at=at)
    late = at - occurred_at > REPORT_WITHIN_S
    row = set_status(s, actor, weapon, status, holders, occurred_at, note,
                     token.id if token else None, at)
    hours = (at - occurred_at) / 3600
    msg = (f"{weapon.manufacturer} {weapon.model} {weapon.serial_number} reported {status} "
           f"{hours:.1f} h after discovery" + (" (LATE: ITI asks within 24 h)" if late else "")
           + (f"; recall serial {token.serial} issued" if token else "; no lock to recall"))
    raise_alert(s, "loss", msg, weapon.device_id, weapon.id, at=at)
    return row
