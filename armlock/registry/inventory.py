"""Inventory: what should be in the armoury against what was docked, with discrepancies."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from armlock.registry.alerts import overdue
from armlock.registry.models import Dock, Weapon
from armlock.registry.records import now_s
from armlock.registry.status import statuses

IN_ARMOURY = ("in_store", "recovered")
AWAY = ("issued", "lost", "stolen", "destroyed")


def inventory(s: Session, since: int | None = None, now: int | None = None) -> dict[str, Any]:
    """Weapons expected in the armoury vs locks docked since `since` (default 12 h ago)."""
    now = now_s() if now is None else now
    since = now - 12 * 3600 if since is None else since
    docked = set(s.scalars(select(Dock.device_id).where(Dock.at >= since).distinct()))
    cur = statuses(s)
    rows, problems = [], []
    for w in s.scalars(select(Weapon).order_by(Weapon.serial_number)):
        st = cur[w.id].status if w.id in cur else "unknown"
        seen = w.device_id in docked if w.device_id else False
        rows.append({"serial_number": w.serial_number, "model": w.model,
                     "lock": w.device_id, "status": st, "docked": seen})
        if st in IN_ARMOURY and not seen:
            problems.append(f"{w.serial_number}: should be in the armoury ({st}) but its "
                            f"lock {w.device_id or '(none)'} was not docked")
        elif seen and st in ("lost", "stolen", "destroyed"):
            problems.append(f"{w.serial_number}: recorded {st} but its lock "
                            f"{w.device_id} was docked")
    bound = set(s.scalars(select(Weapon.device_id).where(Weapon.device_id.is_not(None))))
    for dev in sorted(docked - bound):
        problems.append(f"lock {dev} was docked but is bound to no weapon")
    for o in overdue(s, now):
        problems.append(f"{o.message} (due {o.due_at})")
    expected = sum(1 for r in rows if r["status"] in IN_ARMOURY)
    return {"since": since, "expected_in_armoury": expected,
            "docked": sum(1 for r in rows if r["docked"]), "weapons": rows,
            "discrepancies": problems}
