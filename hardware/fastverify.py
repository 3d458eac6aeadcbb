"""A host-side ECDSA P-256 verifier with the interface of protocols.p256 (`PublicKey`,
`verify`), on ``cryptography`` (OpenSSL): the same decisions, thousands of times faster,
for hosts that run many locks (the simulator, HIL models). The core injects it with
``LockController(..., verify=hardware.fastverify)``; every check but the curve arithmetic
stays in protocols/permit.py. tests/test_fastverify.py holds both to equal results on the
NIST CAVP vectors and on mutated tokens."""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from protocols import p256

_ECDSA = ec.ECDSA(hashes.SHA256())


class PublicKey:
    """A trusted key, checked by protocols.p256 rules (P256Error on a bad point)."""

    def __init__(self, point_bytes: bytes) -> None:
        x, y = p256.decode_point(bytes(point_bytes))
        self.raw = p256.encode_point(x, y)
        self.key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), self.raw)


def verify(key: PublicKey, msg: bytes | memoryview, sig: bytes) -> bool:
    """True if sig (64 bytes r || s) is key's signature of msg; malformed r, s raise
    P256Error as protocols.p256.verify does."""
    if len(sig) != p256.SIG_LEN:
        raise p256.P256Error("signature is %d bytes (want %d: r || s)" % (len(sig), p256.SIG_LEN))
    r = int.from_bytes(sig[:32], "big")
    s = int.from_bytes(sig[32:], "big")
    if not 0 < r < p256.N:
        raise p256.P256Error("signature r is zero or not below the group order")
    if not 0 < s < p256.N:
        raise p256.P256Error("signature s is zero or not below the group order")
    try:
        key.key.verify(encode_dss_signature(r, s), bytes(msg), _ECDSA)
    except InvalidSignature:
        return False
    return True
