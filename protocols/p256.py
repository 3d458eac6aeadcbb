# ECDSA P-256 / SHA-256 signature verification (FIPS 186-4 section 6.4, SEC 1 v2 4.1.4)
# in pure Python that runs on MicroPython (ESP32 has hashlib.sha256, no SHA-512) and CPython.
#
# This module is what a lock keeps while it runs: the trusted keys (PublicKey, each with
# its comb table) and verify(). The curve arithmetic is in protocols/p256_math.py,
# imported only while a key is loaded or a signature verified (boot, token load); its
# names are reachable here too (p256.N, p256.comb_table, ...). Signatures are raw r || s
# (64 bytes); keys are SEC 1 points (65 bytes uncompressed or 33 bytes compressed). Every
# malformed input raises P256Error; verify() returns a bool.

import hashlib

from protocols.errors import KEY_ID_LEN, SIG_LEN, P256Error  # noqa: F401  (this API)


class PublicKey:
    """A trusted P-256 key, decoded and checked once, with its comb table (built when the
    key is loaded, so a token costs only its verification)."""

    def __init__(self, point_bytes):
        from protocols import p256_math as m
        x, y = m.decode_point(point_bytes)
        self.raw = m.encode_point(x, y)
        self.id = hashlib.sha256(self.raw).digest()[:KEY_ID_LEN]
        self.table = m.comb_table(x, y)


def decode_point(b):
    """SEC 1 point -> (x, y): 04||X||Y or 02/03||X; refuses the identity and off-curve points."""
    from protocols import p256_math as m
    return m.decode_point(b)


def verify(key, msg, sig):
    """True if sig (64 bytes r || s) is key's ECDSA P-256 signature of msg over SHA-256."""
    from protocols import p256_math as m
    return m.verify_digest(key, hashlib.sha256(msg).digest(), sig)


def __getattr__(name):
    # The curve arithmetic's other names (host API), imported on first use.
    if name[:2] == "__":
        raise AttributeError(name)
    from protocols import p256_math
    return getattr(p256_math, name)
