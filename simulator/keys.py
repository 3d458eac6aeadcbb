"""The simulated authority's keys, all derived from the run's master (reproducible):
per-device keys (card keys, sealed commands), the authority's signing key the devices
are provisioned with (the one a compromise leaks), its successor after the rotation,
and the key update (token kind 4) that rotates a device from one to the other."""

from __future__ import annotations

import hashlib
from functools import lru_cache

from armlock.authority.signer import Signer, from_seed
from protocols.crypto import device_key
from protocols.permit import KIND_KEYS
from protocols.permit import encode as permit_encode


def master_key(seed: int) -> bytes:
    """The simulated authority's master secret (derived from the seed: reproducible)."""
    return hashlib.sha256(b"armlock-simulator-master/%d" % seed).digest()


@lru_cache(maxsize=64)
def authority(master: bytes) -> Signer:
    """The authority key devices trust from deployment (what a compromise leaks)."""
    return from_seed(b"armlock-simulator authority/" + master)


@lru_cache(maxsize=64)
def successor(master: bytes) -> Signer:
    """The authority key after the rotation."""
    return from_seed(b"armlock-simulator authority after rotation/" + master)


def rotation(master: bytes, device_id: str, serial: int, issued_at: int) -> bytes:
    """The key update, signed by the old key, that trusts the successor and revokes the
    old key on `device_id`."""
    old, new = authority(master), successor(master)
    return permit_encode({"kind": KIND_KEYS, "device_id": device_id, "serial": serial,
                          "issued_at": issued_at, "added": new.public,
                          "revoked": old.key_id}, old)


@lru_cache(maxsize=65536)
def device_key_of(master: bytes, device_id: str) -> bytes:
    """A device's key under `master` (cached: every run derives the same keys)."""
    return device_key(master, device_id)
