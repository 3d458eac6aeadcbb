"""A small armoury for the registry tests: locks, weapons bound to them, holders."""

from __future__ import annotations

from sqlalchemy.orm import Session

from armlock.registry import demo

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
ACTOR = "armourer1"


def stock(s: Session, n: int, key_ids: tuple[str, ...] = ("k1",), at: int = T0) -> None:
    """n locks AL-0001.. on rifles SN-0001.., holders S-0001.. (see demo.stock)."""
    demo.stock(s, n, list(key_ids), ACTOR, at)
