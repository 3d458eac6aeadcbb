"""Authority signers (host only): what signs tokens, by key id.

A `Signer` wraps a P-256 private key (hardware/signing.py: key files, raw r || s
signatures) with the interface protocols.permit.encode takes: `.key_id` and `.sign(msg)`.
`dev_signer()` is the public development authority: its private key is derived from a
published string, so anyone can sign for a board that trusts it (dev builds and tests
only; firmware/app/identity.py gives dev boards its public key).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from hardware import signing
from protocols import p256

DEV_SEED = b"armlock development authority (public: dev builds only)"


class Signer:
    """One authority signing key."""

    def __init__(self, key: ec.EllipticCurvePrivateKey) -> None:
        self.key = key
        self.public = signing.public_bytes(key)
        self.key_id = signing.key_id(key)

    def sign(self, msg: bytes) -> bytes:
        """ECDSA P-256 / SHA-256, raw r || s."""
        return signing.sign(self.key, bytes(msg))


def from_seed(seed: bytes) -> Signer:
    """A deterministic signer from a seed (tests, vectors and the dev authority only)."""
    d = int.from_bytes(hashlib.sha256(seed).digest(), "big") % p256.N
    return Signer(ec.derive_private_key(d or 1, ec.SECP256R1()))


def dev_signer() -> Signer:
    """The public development authority (see the module docstring)."""
    return from_seed(DEV_SEED)


def load_signer(path: Path, passphrase: bytes | None = None) -> Signer:
    """The signer of a P-256 key file (hardware/signing.py rules)."""
    return Signer(signing.load(path, passphrase))
