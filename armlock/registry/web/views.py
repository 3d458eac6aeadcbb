"""What the dashboard pages show, as plain data (queries only; no HTML here)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from armlock.registry.alerts import open_alerts, overdue
from armlock.registry.models import Change, Dock, Holder, Position, Token, Weapon
from armlock.registry.signer import iso
from armlock.registry.status import statuses
from armlock.registry.web.svgmap import Point, render


def weapons(s: Session) -> list[dict[str, Any]]:
    """Every weapon with its status, holders and the lock's last dock."""
    cur = statuses(s)
    names = {h.id: f"{h.service_number} {h.name}" for h in s.scalars(select(Holder))}
    docked = dict(s.execute(select(Dock.device_id, func.max(Dock.at))
                            .group_by(Dock.device_id)).all())
    out = []
    for w in s.scalars(select(Weapon).order_by(Weapon.serial_number)):
        st = cur.get(w.id)
        out.append({"serial": w.serial_number, "desc": f"{w.manufacturer} {w.model}",
                    "type": w.type, "calibre": w.calibre, "lock": w.device_id or "-",
                    "status": st.status if st else "?",
                    "holders": [names.get(h, str(h)) for h in (st.holder_ids if st else [])],
                    "last_dock": iso(docked[w.device_id]) if w.device_id in docked else "never"})
    return out


def alerts(s: Session) -> list[dict[str, Any]]:
    """Open stored alerts, then locks overdue for docking."""
    rows = [{"id": a.id, "kind": a.kind, "device": a.device_id or "-", "message": a.message,
             "at": iso(a.at)} for a in open_alerts(s)]
    rows += [{"id": None, "kind": "not docked", "device": o.device_id, "message": o.message,
              "at": iso(o.due_at)} for o in overdue(s)]
    return rows


def changes(s: Session, limit: int = 200) -> list[dict[str, Any]]:
    return [{"at": iso(c.at), "actor": c.actor, "action": c.action, "subject": c.subject,
             "detail": c.detail}
            for c in s.scalars(select(Change).order_by(Change.id.desc()).limit(limit))]


def map_svg(s: Session, now: int) -> str:
    """Zones of the permits valid now and each lock's newest reported position."""
    zones = []
    for t in s.scalars(select(Token).where(Token.kind == "permit", Token.not_after >= now,
                                           Token.not_before <= now)):
        zones += [(f"{t.device_id} permit {t.serial}", z) for z in t.zones]
    newest = select(func.max(Position.id)).group_by(Position.device_id)
    serials = dict(s.execute(select(Weapon.device_id, Weapon.serial_number)).all())
    points = [Point(f"{serials.get(p.device_id, '?')} ({p.device_id})", p.lat_e7 / 1e7,
                    p.lon_e7 / 1e7) for p in s.scalars(select(Position)
                                                       .where(Position.id.in_(newest)))]
    return render(zones, points)
