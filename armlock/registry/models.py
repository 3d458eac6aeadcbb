"""The registry's tables (SQLAlchemy 2 typed ORM). Times are UTC seconds (BigInteger).

Tables that derive from `History` are append-only: rows are inserted, never updated or
deleted (enforced by `armlock.registry.db` in the session and by triggers in the
database). `RETENTION_YEARS` states how long each kind of record must be kept.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# ITI (International Tracing Instrument, para. 12): manufacturing records at least 30
# years, all other records (import/export, holdings, transfers) at least 20 years.
MANUFACTURING_YEARS = 30
OTHER_YEARS = 20

WEAPON_STATUSES = ("in_store", "issued", "lost", "stolen", "recovered", "destroyed")
TOKEN_KINDS = ("permit", "recall", "reset", "key_update")
ROLES = ("armourer", "auditor")


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, int: BigInteger}


class History:
    """Marker: rows of this table are never updated or deleted."""


class Device(Base):
    """A lock module, provisioned with an identity and trusted authority keys."""

    __tablename__ = "devices"
    device_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    board: Mapped[str] = mapped_column(String(64))
    manifest_hash: Mapped[str] = mapped_column(String(64))
    authority_key_ids: Mapped[list[Any]] = mapped_column(JSON)
    provisioned_at: Mapped[int]
    provisioned_by: Mapped[str] = mapped_column(String(64))
    last_serial: Mapped[int] = mapped_column(default=0)  # the serial allocator (serials.py)
    dock_every_h: Mapped[int] = mapped_column(default=24)


class Weapon(Base):
    """A weapon with the markings a trace request needs (ITI para. 8), bound to its lock."""

    __tablename__ = "weapons"
    __table_args__ = (UniqueConstraint("manufacturer", "serial_number"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    manufacturer: Mapped[str] = mapped_column(String(128))
    model: Mapped[str] = mapped_column(String(128))
    type: Mapped[str] = mapped_column(String(64))
    calibre: Mapped[str] = mapped_column(String(64))
    serial_number: Mapped[str] = mapped_column(String(64), index=True)
    year: Mapped[int | None]
    country: Mapped[str] = mapped_column(String(64))  # country of manufacture
    import_marking: Mapped[str | None] = mapped_column(String(128))
    obliterated: Mapped[bool] = mapped_column(Boolean, default=False)
    device_id: Mapped[str | None] = mapped_column(ForeignKey("devices.device_id"), unique=True)
    added_at: Mapped[int]
    added_by: Mapped[str] = mapped_column(String(64))


class Holder(Base):
    """A person who may be issued a weapon; `id` is the holder id in permits (u16)."""

    __tablename__ = "holders"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    service_number: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    unit: Mapped[str | None] = mapped_column(String(128))
    added_at: Mapped[int]
    added_by: Mapped[str] = mapped_column(String(64))


class Card(Base):
    """An RFID card: its UID and a reference to its diversified key (never the key)."""

    __tablename__ = "cards"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    holder_id: Mapped[int] = mapped_column(ForeignKey("holders.id"), index=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True)
    key_ref: Mapped[str] = mapped_column(String(128))
    enrolled_at: Mapped[int]
    enrolled_by: Mapped[str] = mapped_column(String(64))


class Finger(Base):
    """A fingerprint template stored in one lock's sensor, by its slot id there."""

    __tablename__ = "fingers"
    __table_args__ = (UniqueConstraint("device_id", "template_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    holder_id: Mapped[int] = mapped_column(ForeignKey("holders.id"), index=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.device_id"))
    template_id: Mapped[int] = mapped_column(Integer)
    enrolled_at: Mapped[int]
    enrolled_by: Mapped[str] = mapped_column(String(64))


class Shift(Base, History):
    """One issue of permits for a roster."""

    __tablename__ = "shifts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    not_before: Mapped[int]
    not_after: Mapped[int]
    issued_at: Mapped[int]
    issued_by: Mapped[str] = mapped_column(String(64))


class Token(Base, History):
    """Every token signed for a lock; (device_id, serial) is unique by construction."""

    __tablename__ = "tokens"
    __table_args__ = (UniqueConstraint("device_id", "serial"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.device_id"))
    serial: Mapped[int]
    signer_key_id: Mapped[str] = mapped_column(String(64))
    not_before: Mapped[int]
    not_after: Mapped[int | None]
    zones: Mapped[list[Any]] = mapped_column(JSON, default=list)
    holders: Mapped[list[Any]] = mapped_column(JSON, default=list)
    blob: Mapped[bytes] = mapped_column(LargeBinary)
    shift_id: Mapped[int | None] = mapped_column(ForeignKey("shifts.id"), index=True)
    reason: Mapped[str | None] = mapped_column(String(256))
    issued_at: Mapped[int]
    issued_by: Mapped[str] = mapped_column(String(64))
    notes = ()  # the issuing warnings of a token just issued (not stored; see tokens.py)


class AuditUpload(Base, History):
    """One read of a lock's audit log; refused uploads are kept with their problems."""

    __tablename__ = "audit_uploads"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.device_id"), index=True)
    received_at: Mapped[int]
    received_by: Mapped[str] = mapped_column(String(64))
    count: Mapped[int]
    accepted: Mapped[bool] = mapped_column(Boolean)
    problems: Mapped[list[Any]] = mapped_column(JSON, default=list)


class AuditRecord(Base, History):
    """One audit record as received. Accepted ones form the device's chain (unique seq);
    refused ones are evidence, with `flag` saying what was wrong."""

    __tablename__ = "audit_records"
    __table_args__ = (
        Index("ix_audit_chain", "device_id", "seq", unique=True,
              sqlite_where=text("accepted"), postgresql_where=text("accepted")),
        Index("ix_audit_device_time", "device_id", "time_s"),
    )
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.device_id"))
    upload_id: Mapped[int] = mapped_column(ForeignKey("audit_uploads.id"), index=True)
    seq: Mapped[int | None]
    time_s: Mapped[int | None]
    code: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(String(96))
    hash: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    accepted: Mapped[bool] = mapped_column(Boolean)
    flag: Mapped[str | None] = mapped_column(String(32))


class WeaponStatus(Base, History):
    """A weapon's status from `at` on (the newest row is the current status)."""

    __tablename__ = "weapon_status"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    weapon_id: Mapped[int] = mapped_column(ForeignKey("weapons.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    holder_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    occurred_at: Mapped[int]
    at: Mapped[int]
    by: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    token_id: Mapped[int | None] = mapped_column(ForeignKey("tokens.id"))


class Position(Base, History):
    """A last-known position a lock reported (its last fix, read at a dock)."""

    __tablename__ = "positions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.device_id"), index=True)
    fix_utc: Mapped[int | None]
    lat_e7: Mapped[int]
    lon_e7: Mapped[int]
    hacc_m: Mapped[int | None]
    source: Mapped[str] = mapped_column(String(32))
    at: Mapped[int]


class Dock(Base, History):
    """One docking of a lock: what was loaded, how many records were pulled, the outcome."""

    __tablename__ = "docks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.device_id"), index=True)
    port: Mapped[str] = mapped_column(String(128))
    at: Mapped[int]
    by: Mapped[str] = mapped_column(String(64))
    token_id: Mapped[int | None] = mapped_column(ForeignKey("tokens.id"))
    upload_id: Mapped[int | None] = mapped_column(ForeignKey("audit_uploads.id"))
    acked_upto: Mapped[int | None]
    status: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    outcome: Mapped[str] = mapped_column(String(256))


class Alert(Base, History):
    """Something the armourer must look at (tamper, lockout, audit problem, loss...)."""

    __tablename__ = "alerts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    device_id: Mapped[str | None] = mapped_column(String(32), index=True)
    weapon_id: Mapped[int | None] = mapped_column(ForeignKey("weapons.id"))
    message: Mapped[str] = mapped_column(Text)
    at: Mapped[int]
    key: Mapped[str | None] = mapped_column(String(160), unique=True)  # dedupe key


class AlertAck(Base, History):
    """An alert seen and handled by someone."""

    __tablename__ = "alert_acks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), index=True)
    at: Mapped[int]
    by: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)


class Change(Base, History):
    """Who changed what, when: every workflow writes one row."""

    __tablename__ = "changes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[int]
    actor: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(128))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class User(Base):
    """A dashboard user (scrypt password hash)."""

    __tablename__ = "users"
    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    pw_hash: Mapped[bytes] = mapped_column(LargeBinary)
    salt: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[int]


class WebSession(Base):
    """A signed-in browser: random token (cookie) -> user, until `expires_at`."""

    __tablename__ = "web_sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(ForeignKey("users.username"))
    expires_at: Mapped[int]


HISTORY_TABLES = tuple(sorted(m.__tablename__ for m in Base.__subclasses__()
                              if issubclass(m, History)))
RETENTION_YEARS = {t: OTHER_YEARS for t in HISTORY_TABLES} | {
    "weapons": MANUFACTURING_YEARS, "devices": OTHER_YEARS, "holders": OTHER_YEARS,
    "cards": OTHER_YEARS, "fingers": OTHER_YEARS}
