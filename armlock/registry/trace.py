"""Answering a trace request, and exporting a weapon's full record (JSON-ready dicts).

A trace says who held the weapon when, where it was last seen, every event of its lock,
and whether the record is intact (the stored chain verifies from its first record, and no
upload from the lock was ever refused).
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from armlock.registry.models import (
    RETENTION_YEARS,
    AuditRecord,
    AuditUpload,
    Change,
    Device,
    Dock,
    Holder,
    Position,
    Token,
    Weapon,
    WeaponStatus,
)
from armlock.registry.records import find_weapon
from armlock.registry.signer import iso
from protocols import audit as A

HOLDER_RE = re.compile(r"\bholder=(\d+)")
MARKINGS = ("manufacturer", "model", "type", "calibre", "serial_number", "year", "country",
            "import_marking", "obliterated")


def _holdings(s: Session, w: Weapon) -> list[dict[str, Any]]:
    rows = list(s.scalars(select(WeaponStatus).where(WeaponStatus.weapon_id == w.id)
                          .order_by(WeaponStatus.id)))
    names = {h.id: (h.service_number, h.name) for h in s.scalars(select(Holder))} if rows else {}
    out = []
    for i, r in enumerate(rows):
        until = rows[i + 1].occurred_at if i + 1 < len(rows) else None
        out.append({"status": r.status, "from": iso(r.occurred_at),
                    "until": iso(until) if until is not None else None,
                    "holders": [{"id": h, "service_number": names.get(h, ("?", ""))[0],
                                 "name": names.get(h, ("?", "?"))[1]} for h in r.holder_ids],
                    "recorded_by": r.by, "note": r.note})
    return out


def integrity(s: Session, device_id: str) -> dict[str, Any]:
    """Whether the lock's stored chain verifies, and any refused uploads."""
    raws = list(s.scalars(select(AuditRecord.raw).where(
        AuditRecord.device_id == device_id, AuditRecord.accepted).order_by(AuditRecord.seq)))
    problems: list[str] = []
    if raws:
        first = A.decode(raws[0])
        problems = (A.verify(raws, device_id) if first[0] == 1 else
                    [f"stored chain starts at seq {first[0]}"] +
                    A.verify(raws[1:], device_id, first_prev=first[4]))
    refused = list(s.scalars(select(AuditUpload).where(
        AuditUpload.device_id == device_id, AuditUpload.accepted.is_(False))))
    for up in refused:
        problems.append(f"upload {up.id} at {iso(up.received_at)} refused: "
                        + "; ".join(up.problems[:3]))
    return {"intact": not problems, "records": len(raws), "problems": problems}


def _holder_of(detail: str | None, names: dict[int, str]) -> dict[str, str]:
    m = HOLDER_RE.search(detail or "")
    return {"holder": names.get(int(m.group(1)), "?")} if m else {}


def _events(s: Session, device_id: str) -> list[dict[str, Any]]:
    rows = s.execute(select(AuditRecord.seq, AuditRecord.time_s, AuditRecord.code,
                            AuditRecord.detail, AuditRecord.accepted, AuditRecord.flag)
                     .where(AuditRecord.device_id == device_id)
                     .order_by(AuditRecord.accepted.desc(), AuditRecord.seq, AuditRecord.id)).all()
    ids = {int(m.group(1)) for r in rows if (m := HOLDER_RE.search(r[3] or ""))}
    names = dict(s.execute(select(Holder.id, Holder.service_number)
                           .where(Holder.id.in_(ids))).all()) if ids else {}
    return [{"seq": q, "time": iso(t) if t else None, "code": c, "detail": d,
             **_holder_of(d, names), **({} if ok else {"evidence": f or "refused upload"})}
            for q, t, c, d, ok, f in rows]


def last_seen(s: Session, device_id: str) -> dict[str, Any] | None:
    """The newest position the lock reported, and its newest dock."""
    pos = s.scalar(select(Position).where(Position.device_id == device_id)
                   .order_by(Position.id.desc()).limit(1))
    dock = s.scalar(select(Dock).where(Dock.device_id == device_id)
                    .order_by(Dock.id.desc()).limit(1))
    if pos is None and dock is None:
        return None
    out: dict[str, Any] = {}
    if pos is not None:
        out.update(lat=pos.lat_e7 / 1e7, lon=pos.lon_e7 / 1e7, hacc_m=pos.hacc_m,
                   fix_time=iso(pos.fix_utc) if pos.fix_utc else None,
                   reported_at=iso(pos.at))
    if dock is not None:
        out.update(docked_at=iso(dock.at), dock_port=dock.port)
    return out


def trace(s: Session, serial: str, manufacturer: str | None = None) -> dict[str, Any]:
    """The answer to a trace request for the weapon with this serial number."""
    w = find_weapon(s, serial, manufacturer)
    out: dict[str, Any] = {"weapon": {k: getattr(w, k) for k in MARKINGS},
                           "recorded": iso(w.added_at), "recorded_by": w.added_by,
                           "lock": w.device_id, "holdings": _holdings(s, w)}
    out["status"] = out["holdings"][-1]["status"] if out["holdings"] else None
    if w.device_id is not None:
        out["last_seen"] = last_seen(s, w.device_id)
        out["integrity"] = integrity(s, w.device_id)
        out["lock_events"] = _events(s, w.device_id)
    return out


def export_weapon(s: Session, serial: str, manufacturer: str | None = None) -> dict[str, Any]:
    """Everything the registry holds on a weapon, raw records and tokens included."""
    w = find_weapon(s, serial, manufacturer)
    out = trace(s, serial, manufacturer)
    out["retention_years"] = {"weapon markings": RETENTION_YEARS["weapons"],
                              "other records": RETENTION_YEARS["tokens"]}
    if w.device_id is not None:
        d = s.get(Device, w.device_id)
        assert d is not None
        out["device"] = {"device_id": d.device_id, "board": d.board,
                         "manifest_hash": d.manifest_hash,
                         "authority_key_ids": d.authority_key_ids,
                         "provisioned": iso(d.provisioned_at), "provisioned_by": d.provisioned_by}
        out["tokens"] = [{"kind": t.kind, "serial": t.serial, "signer_key_id": t.signer_key_id,
                          "not_before": iso(t.not_before),
                          "not_after": iso(t.not_after) if t.not_after else None,
                          "holders": t.holders, "zones": t.zones, "reason": t.reason,
                          "issued": iso(t.issued_at), "issued_by": t.issued_by,
                          "token_hex": t.blob.hex()}
                         for t in s.scalars(select(Token).where(Token.device_id == w.device_id)
                                            .order_by(Token.serial))]
        out["audit_raw_hex"] = [r.hex() for r in s.scalars(
            select(AuditRecord.raw).where(AuditRecord.device_id == w.device_id)
            .order_by(AuditRecord.id))]
        out["positions"] = [{"lat": p.lat_e7 / 1e7, "lon": p.lon_e7 / 1e7, "at": iso(p.at)}
                            for p in s.scalars(select(Position).where(
                                Position.device_id == w.device_id).order_by(Position.id))]
    subjects = [f"weapon {w.id}"] + ([w.device_id] if w.device_id else [])
    out["changes"] = [{"at": iso(c.at), "actor": c.actor, "action": c.action,
                       "subject": c.subject, "detail": c.detail}
                      for c in s.scalars(select(Change).where(Change.subject.in_(subjects))
                                         .order_by(Change.id))]
    return out
