"""Authority signing keys (host only): ECDSA P-256 over SHA-256 with ``cryptography``.

The device verifies with ``protocols.p256`` and stores only public keys, so nothing read
out of a lock can sign. Signatures are raw r || s (64 bytes, each big-endian, zero-padded);
a key id is the first 8 bytes of SHA-256 of the 65-byte uncompressed public point.
Private keys live in PKCS#8 PEM files of mode 0600 (optionally encrypted with a passphrase);
a file that group or others can read is refused, and an existing file is never overwritten.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

SIG_LEN = 64
KEY_ID_LEN = 8
_ECDSA = ec.ECDSA(hashes.SHA256())


class SigningError(ValueError):
    """A key file or signature problem the user can fix (one-line message)."""


def generate() -> ec.EllipticCurvePrivateKey:
    """A new random P-256 private key."""
    return ec.generate_private_key(ec.SECP256R1())


def public_bytes(key: ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) -> bytes:
    """The 65-byte SEC 1 uncompressed public point (04 || X || Y) a device stores."""
    pub = key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey) else key
    return pub.public_bytes(serialization.Encoding.X962,
                            serialization.PublicFormat.UncompressedPoint)


def key_id(key: ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) -> bytes:
    """The 8-byte key id: SHA-256 of the uncompressed public point, first 8 bytes."""
    return hashlib.sha256(public_bytes(key)).digest()[:KEY_ID_LEN]


def sign(key: ec.EllipticCurvePrivateKey, msg: bytes) -> bytes:
    """ECDSA P-256 / SHA-256 signature of msg as raw r || s (64 bytes)."""
    r, s = decode_dss_signature(key.sign(msg, _ECDSA))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def verify(public: bytes, msg: bytes, sig: bytes) -> bool:
    """Host-side check of a raw r || s signature against a 65-byte public point."""
    if len(sig) != SIG_LEN:
        return False
    try:
        pub = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), public)
        der = encode_dss_signature(int.from_bytes(sig[:32], "big"),
                                   int.from_bytes(sig[32:], "big"))
        pub.verify(der, msg, _ECDSA)
    except (InvalidSignature, ValueError):
        return False
    return True


def save(key: ec.EllipticCurvePrivateKey, path: Path, passphrase: bytes | None = None) -> None:
    """Write key as PKCS#8 PEM to a new file of mode 0600; never overwrite."""
    enc = (serialization.BestAvailableEncryption(passphrase) if passphrase
           else serialization.NoEncryption())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)
    try:
        with open(path, "xb", opener=_private) as f:
            f.write(pem)
    except FileExistsError:
        raise SigningError(f"{path}: signing key file exists; refusing to overwrite it") from None
    except OSError as exc:
        raise SigningError(f"{path}: cannot create signing key file ({exc.strerror})") from None


def _private(path: str, flags: int) -> int:
    fd = os.open(path, flags, 0o600)
    os.fchmod(fd, 0o600)  # whatever the umask
    return fd


def load(path: Path, passphrase: bytes | None = None) -> ec.EllipticCurvePrivateKey:
    """Read a P-256 private key PEM; refuse a file that group or others can access."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise SigningError(f"{path}: no signing key file") from None
    if st.st_mode & 0o077:
        raise SigningError(f"{path}: signing key file is accessible by group/others (mode "
                           f"{stat.S_IMODE(st.st_mode):04o}); run: chmod 600 {path}")
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), passphrase)
    except (ValueError, TypeError) as exc:
        raise SigningError(f"{path}: not a readable private key PEM ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise SigningError(f"{path}: not a P-256 (secp256r1) private key")
    return key


def save_public(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    """Write the public key as SubjectPublicKeyInfo PEM (not secret: mode 0644)."""
    path.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
