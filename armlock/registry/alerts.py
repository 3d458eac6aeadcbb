"""Alerts the armourer must see: stored ones (tamper, lockout, audit problems, loss
reports) and computed ones (a lock not docked when due)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from armlock.registry.models import Alert, AlertAck, Device, Dock, Token, Weapon
from armlock.registry.records import attribute, now_s

# audit record codes that raise an alert when a lock reports them
AUDIT_ALERTS = {"tamper": "tamper", "lockout": "lockout", "fix_implausible": "spoofing",
                "fault": "fault", "time": "time"}


def raise_alert(s: Session, kind: str, message: str, device_id: str | None = None,
                weapon_id: int | None = None, key: str | None = None,
                at: int | None = None) -> Alert | None:
    """Add an alert unless one with the same `key` exists; returns the new one or None."""
    if key is not None and s.scalar(select(Alert.id).where(Alert.key == key)) is not None:
        return None
    if weapon_id is None and device_id is not None:
        weapon_id = s.scalar(select(Weapon.id).where(Weapon.device_id == device_id))
    a = Alert(kind=kind, device_id=device_id, weapon_id=weapon_id, message=message,
              at=now_s() if at is None else at, key=key)
    s.add(a)
    return a


def acknowledge(s: Session, actor: str, alert_id: int, note: str | None = None) -> AlertAck:
    """Mark an alert as handled (the alert itself is kept)."""
    ack = AlertAck(alert_id=alert_id, at=now_s(), by=actor, note=note)
    s.add(ack)
    attribute(s, actor, "alert ack", f"alert {alert_id}", note=note)
    return ack


def open_alerts(s: Session) -> list[Alert]:
    """Alerts nobody acknowledged yet, newest first."""
    acked = select(AlertAck.alert_id)
    return list(s.scalars(select(Alert).where(Alert.id.not_in(acked))
                          .order_by(Alert.at.desc(), Alert.id.desc())))


@dataclass
class Overdue:
    """A lock whose permit ran out, or whose dock interval passed, without a dock."""

    device_id: str
    weapon_id: int | None
    due_at: int
    last_dock: int | None

    @property
    def message(self) -> str:
        return f"{self.device_id} not docked since it was due"


def overdue(s: Session, now: int | None = None) -> list[Overdue]:
    """Locks past their due time: the end of their newest permit, or last dock +
    dock interval, whichever is earlier (only locks that were ever issued a permit)."""
    now = now_s() if now is None else now
    last_dock = dict(s.execute(select(Dock.device_id, func.max(Dock.at))
                               .group_by(Dock.device_id)).all())
    last_permit = s.execute(select(Token.device_id, func.max(Token.not_after),
                                   func.max(Token.issued_at))
                            .where(Token.kind == "permit").group_by(Token.device_id)).all()
    out = []
    weapons = dict(s.execute(select(Weapon.device_id, Weapon.id)).all())
    every = dict(s.execute(select(Device.device_id, Device.dock_every_h)).all())
    for dev, not_after, issued in last_permit:
        docked = last_dock.get(dev)
        if docked is not None and docked >= not_after:
            continue  # docked after the permit ended
        due = min(not_after, (docked or issued) + every.get(dev, 24) * 3600)
        if due < now:
            out.append(Overdue(dev, weapons.get(dev), due, docked))
    return out
