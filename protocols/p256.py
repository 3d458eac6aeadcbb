# ECDSA P-256 / SHA-256 signature verification (FIPS 186-4 section 6.4, SEC 1 v2 4.1.4)
# in pure Python that runs on MicroPython (ESP32 has hashlib.sha256, no SHA-512) and CPython.
#
# The device verifies only, with public keys it trusts: both bases of u1*G + u2*Q are
# fixed, so each gets a 4-tooth comb table (Lim-Lee) of 15 affine points, built once when
# the key is loaded. A verification is then 64 Jacobian doublings and at most 128 mixed
# additions, with no inversion (x(R) == r is checked as r * Z^2 == X mod p).
# Signatures are raw r || s (64 bytes); keys are SEC 1 points (65 bytes uncompressed or
# 33 bytes compressed). Every malformed input raises P256Error; verify() returns a bool.

import hashlib

P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
GX = 0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296
GY = 0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5

SIG_LEN = 64
KEY_ID_LEN = 8
_TEETH = 4
_COLS = 64  # 256 bits / 4 teeth


class P256Error(ValueError):
    """A public key or signature that is malformed (not a verification failure)."""


def _dbl(x, y, z):
    # dbl-2001-b (a = -3), Jacobian; z == 0 (infinity) stays infinity.
    p = P
    d = z * z % p
    g = y * y % p
    b = x * g % p
    a = 3 * (x - d) * (x + d) % p
    x3 = (a * a - 8 * b) % p
    return x3, (a * (4 * b - x3) - 8 * g * g) % p, 2 * y * z % p


def _madd(x1, y1, z1, t, o):
    # Jacobian (x1, y1, z1) + the affine point at byte o of table t (x || y, 32 bytes each),
    # with the exceptional cases (infinity, equal or opposite points) handled.
    x2 = int.from_bytes(t[o:o + 32], "big")
    y2 = int.from_bytes(t[o + 32:o + 64], "big")
    if not z1:
        return x2, y2, 1
    p = P
    zz = z1 * z1 % p
    h = x2 * zz % p - x1
    r = y2 * z1 * zz % p - y1
    if not h:
        return _dbl(x2, y2, 1) if not r else (1, 1, 0)
    hh = h * h % p
    hhh = h * hh % p
    v = x1 * hh % p
    x3 = (r * r - hhh - 2 * v) % p
    return x3, (r * (v - x3) - y1 * hhh) % p, z1 * h % p


def _affine(pts):
    # Jacobian points (none at infinity) -> bytes x0 || y0 || x1 || y1 ... (32 bytes each).
    out = bytearray()
    for x, y, z in pts:
        zi = pow(z, P - 2, P)
        zi2 = zi * zi % P
        out.extend((x * zi2 % P).to_bytes(32, "big"))
        out.extend((y * zi2 * zi % P).to_bytes(32, "big"))
    return bytes(out)


def comb_table(x, y):
    """The 15 affine points sum(bit_k(i) * 2^(64k) * Q) for i = 1..15, as 15 * 64 bytes."""
    teeth = [(x, y, 1)]
    for _ in range(_TEETH - 1):
        t = teeth[-1]
        for _ in range(_COLS):
            t = _dbl(t[0], t[1], t[2])
        teeth.append(t)
    aff = _affine(teeth)
    pts = []
    for i in range(1, 1 << _TEETH):
        acc = (1, 1, 0)
        for k in range(_TEETH):
            if i >> k & 1:
                acc = _madd(acc[0], acc[1], acc[2], aff, 64 * k)
        pts.append(acc)
    return _affine(pts)


def _on_curve(x, y):
    return (y * y - (x * x * x - 3 * x + B)) % P == 0


def decode_point(b):
    """SEC 1 point -> (x, y): 04||X||Y or 02/03||X; refuses the identity and off-curve points."""
    n = len(b)
    if n == 1 and b[0] == 0:
        raise P256Error("public key is the identity point")
    if n == 65 and b[0] == 4:
        x = int.from_bytes(b[1:33], "big")
        y = int.from_bytes(b[33:65], "big")
    elif n == 33 and b[0] in (2, 3):
        x = int.from_bytes(b[1:33], "big")
        y = pow((x * x * x - 3 * x + B) % P, (P + 1) // 4, P) if x < P else 0
        if y & 1 != b[0] & 1:
            y = P - y
    else:
        raise P256Error("public key is %d bytes (want 65 uncompressed or 33 compressed)" % n)
    if x >= P or y >= P:
        raise P256Error("public key coordinate out of range")
    if not _on_curve(x, y):
        raise P256Error("public key is not a point on P-256")
    return x, y


def encode_point(x, y):
    """The 65-byte SEC 1 uncompressed encoding of (x, y)."""
    return b"\x04" + x.to_bytes(32, "big") + y.to_bytes(32, "big")


def key_id(point_bytes):
    """The 8-byte id of a public key: SHA-256 of its uncompressed encoding, first 8 bytes."""
    x, y = decode_point(point_bytes)
    return hashlib.sha256(encode_point(x, y)).digest()[:KEY_ID_LEN]


_G = []  # the generator's comb table, built on first use


def _g_table():
    if not _G:
        _G.append(comb_table(GX, GY))
    return _G[0]


class PublicKey:
    """A trusted P-256 key, decoded and checked once, with its comb table. The first key
    loaded also builds the generator's table, so trust-store load at boot pays for both
    and a permit load pays only the verification."""

    def __init__(self, point_bytes):
        x, y = decode_point(point_bytes)
        _g_table()
        self.raw = encode_point(x, y)
        self.id = hashlib.sha256(self.raw).digest()[:KEY_ID_LEN]
        self.table = comb_table(x, y)


def _digits(u):
    # Comb column j (63..0) of scalar u -> 4-bit digit: bit k from tooth k (bits 64k..64k+63).
    b = u.to_bytes(32, "big")
    out = bytearray(_COLS)
    for j in range(_COLS):
        i = 31 - (j >> 3)
        s = j & 7
        out[j] = ((b[i] >> s) & 1) | ((b[i - 8] >> s) & 1) << 1 | (
            (b[i - 16] >> s) & 1) << 2 | ((b[i - 24] >> s) & 1) << 3
    return out


def _scalars(digest, sig):
    if len(sig) != SIG_LEN:
        raise P256Error("signature is %d bytes (want %d: r || s)" % (len(sig), SIG_LEN))
    r = int.from_bytes(sig[:32], "big")
    s = int.from_bytes(sig[32:], "big")
    if not 0 < r < N:
        raise P256Error("signature r is zero or not below the group order")
    if not 0 < s < N:
        raise P256Error("signature s is zero or not below the group order")
    if len(digest) != 32:
        raise P256Error("digest is %d bytes (want the 32 of SHA-256)" % len(digest))
    w = pow(s, N - 2, N)
    e = int.from_bytes(digest, "big") % N
    return r, e * w % N, r * w % N


def verify_digest(key, digest, sig):
    """True if sig (r || s) is key's signature of the 32-byte SHA-256 digest."""
    r, u1, u2 = _scalars(digest, sig)
    tg, tq = _g_table(), key.table
    d1, d2 = _digits(u1), _digits(u2)
    x, y, z = 1, 1, 0
    for j in range(_COLS - 1, -1, -1):
        x, y, z = _dbl(x, y, z)
        i = d1[j]
        if i:
            x, y, z = _madd(x, y, z, tg, 64 * i - 64)
        i = d2[j]
        if i:
            x, y, z = _madd(x, y, z, tq, 64 * i - 64)
    if not z:
        return False
    zz = z * z % P
    if r * zz % P == x:
        return True
    return r + N < P and (r + N) * zz % P == x


def verify(key, msg, sig):
    """True if sig (64 bytes r || s) is key's ECDSA P-256 signature of msg over SHA-256."""
    return verify_digest(key, hashlib.sha256(msg).digest(), sig)
