"""Transactional serial allocation: the registry's replacement for the ledger file.

The next serial of a device is taken with one atomic UPDATE ... RETURNING on its row,
inside the caller's transaction: concurrent issuers queue on the row lock (PostgreSQL)
or the database write lock (SQLite, BEGIN IMMEDIATE), and a transaction that rolls
back gives its serial back unused (no token left the registry with it). The tokens
table's UNIQUE (device_id, serial) makes a duplicate impossible even if this were wrong.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from armlock.registry.db import RegistryError
from armlock.registry.models import Device

MAX_SERIAL = 2**32 - 1
_devices = Device.__table__


def allocate(s: Session, device_id: str) -> int:
    """Reserve the next serial for `device_id` in the current transaction."""
    stmt = (update(_devices).where(_devices.c.device_id == device_id)
            .values(last_serial=_devices.c.last_serial + 1)
            .returning(_devices.c.last_serial))
    serial = s.execute(stmt).scalar_one_or_none()
    if serial is None:
        raise RegistryError(f"device {device_id} is not enrolled (armlock registry device enrol)")
    if serial > MAX_SERIAL:
        raise RegistryError(f"serials for {device_id} are exhausted")
    return int(serial)
