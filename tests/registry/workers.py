"""Processes the registry's concurrency and crash tests start (and kill).

    python -m tests.registry.workers shift URL KEY ROSTER
    python -m tests.registry.workers dock URL KEY PORT COUNTERS
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from armlock.registry import db
from armlock.registry.dock import dock_one
from armlock.registry.shift import ShiftSpec, issue_shift, read_roster
from armlock.registry.signer import Signer
from armlock.registry.tokens import issue_token

ACTOR = "worker"


def issue_many(url: str, key: str, devices: list[str], n: int, barrier: Any) -> list[
        tuple[str, int]]:
    """Issue n recalls, one transaction each, round-robin over `devices`."""
    factory = db.sessions(db.connect(url))
    signer = Signer(Path(key))
    barrier.wait()
    out = []
    for i in range(n):
        dev = devices[i % len(devices)]
        with db.transaction(factory) as s:
            out.append((dev, issue_token(s, signer, ACTOR, "recall", dev).serial))
    return out


def _shift(url: str, key: str, roster: str) -> None:
    factory = db.sessions(db.connect(url))
    with db.transaction(factory) as s:
        issue_shift(s, Signer(Path(key)), ACTOR, read_roster(Path(roster).read_text()),
                    ShiftSpec("crash test"))
    print("committed", flush=True)


def _dock(url: str, key: str, port: str, counters: str) -> None:
    factory = db.sessions(db.connect(url))
    r = dock_one(factory, Signer(Path(key)), port, ACTOR, counters=Path(counters))
    print("docked", r.ok, r.error, flush=True)


if __name__ == "__main__":
    cmd, *args = sys.argv[1:]
    {"shift": _shift, "dock": _dock}[cmd](*args)
