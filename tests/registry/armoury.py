"""A small armoury for the registry tests: locks, weapons bound to them, holders."""

from __future__ import annotations

from sqlalchemy.orm import Session

from armlock.registry import records as R

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
ACTOR = "armourer1"


def device_id(i: int) -> str:
    return f"AL-{i:04d}"


def holder_uid(i: int) -> str:
    return f"04{i:012X}"


def stock(s: Session, n: int, key_ids: tuple[str, ...] = ("k1",), at: int = T0) -> None:
    """n locks AL-0001.., each on a rifle SN-000i, and n holders S-000i with a card and a
    fingerprint template (slot i) on the lock of the same number."""
    for i in range(1, n + 1):
        dev = device_id(i)
        R.enrol_device(s, ACTOR, dev, "esp32-devkitc", "ab" * 32, list(key_ids), at=at)
        R.add_weapon(s, ACTOR, manufacturer="Acme Arms", model="AR-7", type="rifle",
                     calibre="5.56x45mm", serial_number=f"SN-{i:04d}", country="BE",
                     year=2020, import_marking="IM-DE-21", device_id=dev, at=at)
        R.add_holder(s, ACTOR, f"S-{i:04d}", f"Holder {i}", unit="1st coy", at=at)
        R.enrol_card(s, ACTOR, f"S-{i:04d}", holder_uid(i), at=at)
        R.enrol_finger(s, ACTOR, f"S-{i:04d}", dev, i % 200, at=at)
