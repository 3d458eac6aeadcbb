"""The simulated authority's keys: the master key of a run, per-device keys (cached),
and the master key before a rotation (what a compromise leaked)."""

from __future__ import annotations

import hashlib
from functools import lru_cache

from protocols.crypto import device_key, hmac_sha256


def master_key(seed: int) -> bytes:
    """The simulated authority's master key (derived from the seed: reproducible)."""
    return hashlib.sha256(b"armlock-simulator-master/%d" % seed).digest()


def master_stale(master: bytes) -> bytes:
    """The authority's key before its rotation (what a compromise leaked)."""
    return hmac_sha256(master, b"armlock-simulator: key before rotation")


@lru_cache(maxsize=65536)
def device_key_of(master: bytes, device_id: str) -> bytes:
    """A device's key under `master` (cached: every run derives the same keys)."""
    return device_key(master, device_id)
