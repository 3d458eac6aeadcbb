"""Enrolment workflows: weapons, lock devices, holders and their credentials.

Each function takes an open session (the caller commits) and the acting user, and writes
a `Change` row saying who did what.
"""

from __future__ import annotations

import re
import time
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from armlock.registry.db import RegistryError
from armlock.registry.models import (
    Card,
    Change,
    Device,
    Finger,
    Holder,
    Weapon,
    WeaponStatus,
)

HEX_UID = re.compile(r"^(?:[0-9A-F]{2}){4,10}$")


def now_s() -> int:
    """UTC seconds now."""
    return int(time.time())


def attribute(s: Session, actor: str, action: str, subject: str, at: int | None = None,
              **detail: Any) -> None:
    """Record that `actor` did `action` to `subject`."""
    if not actor:
        raise RegistryError("every change needs an actor (who is doing this?)")
    s.add(Change(at=now_s() if at is None else at, actor=actor, action=action,
                 subject=subject, detail=detail))


def get_device(s: Session, device_id: str) -> Device:
    dev = s.get(Device, device_id)
    if dev is None:
        raise RegistryError(f"device {device_id} is not enrolled (armlock registry device enrol)")
    return dev


def find_weapon(s: Session, serial: str, manufacturer: str | None = None) -> Weapon:
    """The weapon with this serial number (and manufacturer, when several share it)."""
    q = select(Weapon).where(Weapon.serial_number == serial)
    if manufacturer:
        q = q.where(Weapon.manufacturer == manufacturer)
    found = list(s.scalars(q))
    if not found:
        raise RegistryError(f"no weapon with serial number {serial!r} in the registry")
    if len(found) > 1:
        makers = ", ".join(sorted(w.manufacturer for w in found))
        raise RegistryError(f"serial number {serial!r} is on weapons of several "
                            f"manufacturers ({makers}): give the manufacturer")
    return found[0]


def find_holder(s: Session, service_number: str) -> Holder:
    h = s.scalar(select(Holder).where(Holder.service_number == service_number))
    if h is None:
        raise RegistryError(f"no holder with service number {service_number!r}")
    return h


def enrol_device(s: Session, actor: str, device_id: str, board: str, manifest_hash: str,
                 key_ids: list[str], serial_floor: int = 0, dock_every_h: int = 24,
                 at: int | None = None) -> Device:
    """Enrol a provisioned lock. `serial_floor`: the last serial it may have seen already
    (from the old ledger file), so new tokens are newer."""
    if s.get(Device, device_id) is not None:
        raise RegistryError(f"device {device_id} is already enrolled")
    if not re.fullmatch(r"[\x21-\x7e]{1,32}", device_id):
        raise RegistryError(f"device id {device_id!r}: 1..32 printable ASCII characters")
    at = now_s() if at is None else at
    dev = Device(device_id=device_id, board=board, manifest_hash=manifest_hash,
                 authority_key_ids=list(key_ids), provisioned_at=at, provisioned_by=actor,
                 last_serial=serial_floor, dock_every_h=dock_every_h)
    s.add(dev)
    attribute(s, actor, "device enrol", device_id, at, board=board, manifest=manifest_hash,
              key_ids=list(key_ids), serial_floor=serial_floor)
    return dev


def add_weapon(s: Session, actor: str, *, manufacturer: str, model: str, type: str,
               calibre: str, serial_number: str, country: str, year: int | None = None,
               import_marking: str | None = None, obliterated: bool = False,
               device_id: str | None = None, at: int | None = None) -> Weapon:
    """Record a weapon's markings, bind it to its lock, and put it in store."""
    for name, v in (("manufacturer", manufacturer), ("model", model), ("type", type),
                    ("calibre", calibre), ("serial number", serial_number),
                    ("country of manufacture", country)):
        if not v or not v.strip():
            raise RegistryError(f"weapon {name} is required")
    if device_id is not None:
        get_device(s, device_id)
        if s.scalar(select(Weapon).where(Weapon.device_id == device_id)) is not None:
            raise RegistryError(f"device {device_id} is already bound to another weapon")
    if s.scalar(select(Weapon).where(Weapon.manufacturer == manufacturer,
                                     Weapon.serial_number == serial_number)) is not None:
        raise RegistryError(f"{manufacturer} serial number {serial_number} is already recorded")
    at = now_s() if at is None else at
    w = Weapon(manufacturer=manufacturer, model=model, type=type, calibre=calibre,
               serial_number=serial_number, year=year, country=country,
               import_marking=import_marking, obliterated=obliterated, device_id=device_id,
               added_at=at, added_by=actor)
    s.add(w)
    s.flush()
    s.add(WeaponStatus(weapon_id=w.id, status="in_store", holder_ids=[], occurred_at=at,
                       at=at, by=actor, note="recorded"))
    attribute(s, actor, "weapon add", f"weapon {w.id}", at, serial=serial_number,
              manufacturer=manufacturer, device=device_id)
    return w


def add_holder(s: Session, actor: str, service_number: str, name: str,
               unit: str | None = None, holder_id: int | None = None,
               at: int | None = None) -> Holder:
    """Add a person; `holder_id` (1..65535, the id in permits) defaults to the next free."""
    if s.scalar(select(Holder).where(Holder.service_number == service_number)):
        raise RegistryError(f"holder {service_number} already exists")
    if holder_id is None:
        holder_id = (s.scalar(select(func.max(Holder.id))) or 0) + 1
    if not 1 <= holder_id <= 0xFFFF:
        raise RegistryError(f"holder id {holder_id} out of range 1..65535")
    if s.get(Holder, holder_id) is not None:
        raise RegistryError(f"holder id {holder_id} is taken")
    at = now_s() if at is None else at
    h = Holder(id=holder_id, service_number=service_number, name=name, unit=unit,
               added_at=at, added_by=actor)
    s.add(h)
    attribute(s, actor, "holder add", f"holder {holder_id}", at, service_number=service_number)
    return h


def enrol_card(s: Session, actor: str, service_number: str, uid: str,
               key_ref: str | None = None, at: int | None = None) -> Card:
    """Give a holder an RFID card. `key_ref` names its diversified key (default: the
    NTAG 424 DNA key diversified from the authority for this UID)."""
    h = find_holder(s, service_number)
    uid = uid.upper().replace(":", "")
    if not HEX_UID.match(uid):
        raise RegistryError(f"card UID {uid!r}: 4..10 bytes as hex")
    if s.scalar(select(Card).where(Card.uid == uid)):
        raise RegistryError(f"card {uid} is already enrolled")
    at = now_s() if at is None else at
    c = Card(holder_id=h.id, uid=uid, key_ref=key_ref or f"ntag424:diversified:{uid}",
             enrolled_at=at, enrolled_by=actor)
    s.add(c)
    attribute(s, actor, "holder enrol-card", f"holder {h.id}", at, uid=uid)
    return c


def enrol_finger(s: Session, actor: str, service_number: str, device_id: str,
                 template_id: int, at: int | None = None) -> Finger:
    """Record that a holder's fingerprint is template `template_id` on lock `device_id`."""
    h = find_holder(s, service_number)
    get_device(s, device_id)
    if not 0 <= template_id <= 0xFFFF:
        raise RegistryError(f"template id {template_id} out of range 0..65535")
    if s.scalar(select(Finger).where(Finger.device_id == device_id,
                                     Finger.template_id == template_id)):
        raise RegistryError(f"template {template_id} on {device_id} is already taken")
    at = now_s() if at is None else at
    f = Finger(holder_id=h.id, device_id=device_id, template_id=template_id,
               enrolled_at=at, enrolled_by=actor)
    s.add(f)
    attribute(s, actor, "holder enrol-finger", f"holder {h.id}", at, device=device_id,
              template=template_id)
    return f
