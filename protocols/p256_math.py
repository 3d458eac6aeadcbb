# ECDSA P-256 / SHA-256 verification, the curve arithmetic (the keys and verify() a lock
# keeps are in protocols/p256.py, the error in protocols/errors.py; this module is
# imported only while a key is loaded or a signature verified). Pure Python for
# MicroPython and CPython.
#
# The device verifies only, with public keys it trusts: both bases of u1*G + u2*Q are
# fixed, so each gets a 4-tooth comb table (Lim-Lee) of 15 affine points (3 bytes objects
# of 5), built once when the key is loaded (the generator's is a constant below, checked
# by tests/test_p256.py).
# A verification is then 64 Jacobian doublings and at most 128 mixed additions, with no
# inversion (x(R) == r is checked as r * Z^2 == X mod p).

import hashlib

from protocols.errors import KEY_ID_LEN, SIG_LEN, P256Error

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
GX = 0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296
GY = 0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5

_TEETH = const(4)
_COLS = const(64)  # 256 bits / 4 teeth
# A table is 3 bytes objects of 5 points (320 bytes) rather than one of 960: the boot builds
# a key's while its heap is at its fullest and most cut up, where a free run of 960 bytes
# is the first thing missing (a 64-bit unix build failed the key load there).
_PER = const(5)
_CHUNKS = const(3)


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
    # Jacobian points (none at infinity) -> bytes x0 || y0 || x1 || y1 ... (32 bytes each),
    # joined once at the end (one block of the result's size, no growing copies).
    parts = []
    for x, y, z in pts:
        zi = pow(z, P - 2, P)
        zi2 = zi * zi % P
        parts.append((x * zi2 % P).to_bytes(32, "big"))
        parts.append((y * zi2 * zi % P).to_bytes(32, "big"))
    return b"".join(parts)


def comb_table(x, y):
    """The 15 affine points sum(bit_k(i) * 2^(64k) * Q) for i = 1..15, in _CHUNKS bytes
    objects of _PER points: point i is at byte 64 * ((i - 1) % _PER) of chunk (i - 1) // _PER."""
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
    return tuple([_affine(pts[i:i + _PER]) for i in range(0, len(pts), _PER)])


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


# comb_table(GX, GY): the generator's table (15 affine points, x || y, 32 bytes each, in
# 3 chunks), bytes literals: the .mpy holds the 960 bytes themselves (hex would add 1,920)
G_TABLE = (
    (b"\x6b\x17\xd1\xf2\xe1\x2c\x42\x47\xf8\xbc\xe6\xe5\x63\xa4\x40\xf2\x77\x03\x7d\x81"
     b"\x2d\xeb\x33\xa0\xf4\xa1\x39\x45\xd8\x98\xc2\x96\x4f\xe3\x42\xe2\xfe\x1a\x7f\x9b"
     b"\x8e\xe7\xeb\x4a\x7c\x0f\x9e\x16\x2b\xce\x33\x57\x6b\x31\x5e\xce\xcb\xb6\x40\x68"
     b"\x37\xbf\x51\xf5\x0f\xa8\x22\xbc\x28\x11\xaa\xa5\x84\x92\x59\x2e\x32\x6e\x25\xde"
     b"\x29\x49\x3b\xaa\xad\x65\x1f\x7e\x90\xe7\x5c\xb4\x8e\x14\xdb\x63\xbf\xf4\x4a\xe8"
     b"\xf5\xdb\xa8\x0d\x6f\x4a\xd4\xbc\xb3\xdf\x18\x8b\x34\xb1\xa6\x50\x50\xfe\x82\xf5"
     b"\xe4\x11\x24\x54\x5f\x46\x2e\xe7\x30\x0a\x4b\xbc\x89\xd6\x72\x6f\xb2\x57\xc0\xde"
     b"\x95\xe0\x27\x89\xe9\x6c\x98\xfd\x0d\x35\xf1\xfa\x93\x39\x1c\xe2\x09\x79\x92\xaf"
     b"\x72\xaa\xc7\xe0\xd0\x9b\x46\x44\x7f\x1d\xdb\x25\xff\x1e\x3c\x6f\x5b\xb1\xee\xad"
     b"\xa9\xd8\x06\xa5\xaa\x54\xa2\x91\xc0\x81\x27\xa0\x44\x7d\x73\x9b\xee\xdb\x5e\x67"
     b"\xfb\x98\x2f\xd5\x88\xc6\x76\x6e\xfc\x35\xff\x7d\xc2\x97\xea\xc3\x57\xc8\x4f\xc9"
     b"\xd7\x89\xbd\x85\x2d\x48\x25\xab\x83\x41\x31\xee\xe1\x2e\x9d\x95\x3a\x4a\xaf\xf7"
     b"\x3d\x34\x9b\x95\xa7\xfa\xe5\x00\x0c\x7e\x33\xc9\x72\xe2\x5b\x32\xef\x95\x19\x32"
     b"\x8a\x9c\x72\xff\xdd\xc6\x06\x8b\xb9\x1d\xfc\x60\xef\x7f\xbd\x2b\x1a\x0a\x11\xb7"
     b"\x13\x94\x9c\x93\x2a\x1d\x36\x7f\x61\x1e\x9f\xc3\x7d\xbb\x2c\x9b\xc1\xee\x98\x07"
     b"\x02\x2c\x21\x9c\x23\x18\x3b\x08\x95\xca\x17\x40\x19\x60\x35\xa7\x73\x76\xd8\xa8"),
    (b"\x55\x06\x63\x79\x7b\x51\xf5\xd8\x7d\xea\x64\x82\xe1\x12\x38\xbf\x29\x36\xdf\x5e"
     b"\xc6\xc9\xbc\x36\xca\xe2\xb1\x92\x0b\x57\xf4\xbc\x15\x71\x64\x84\x8a\xec\xb8\x51"
     b"\x0a\xfa\x40\x01\x8d\x9d\x50\xe5\x9f\xb3\xd5\x76\xdb\xde\xfb\xe1\x44\xff\xe2\x16"
     b"\x34\x8a\x96\x4c\xeb\x5d\x77\x45\xb2\x11\x41\xea\xa2\xe8\xf4\x83\xf4\x3e\x43\x91"
     b"\x7c\xcd\x84\xe7\x0d\x71\x5f\x26\xe4\x8e\xca\xff\xfc\x5c\xde\x01\xea\xfd\x72\xeb"
     b"\xdb\xec\xc1\x7b\x09\x90\xe6\xa1\x58\x00\x6c\xee\x85\xf2\x2c\xfe\x28\x44\xb6\x45"
     b"\xca\xc9\x17\xe2\x73\x1a\x34\x79\xa6\xd3\x96\x77\xa7\x84\x92\x76\x27\x36\xff\x83"
     b"\x44\x31\x5f\xc5\x96\x43\x95\x91\xa3\xc6\xb9\x4a\x6c\xf2\x0f\xfb\x31\x37\x28\xbe"
     b"\x67\x4f\x84\x74\x9b\x0b\x88\x16\x66\xb8\xba\xbd\x2d\x27\xec\xdf\x82\x4a\x92\x0c"
     b"\x22\x84\x05\x9b\xf2\xba\xb8\x33\xc3\x57\xf5\xf4\x4e\x76\x9e\x76\x72\xc9\xdd\xad"
     b"\x31\x85\x5f\x7d\xb8\xc7\xfe\xdb\x74\xe0\x2f\x08\x02\x03\xa5\x6b\x2d\xf4\x8c\x04"
     b"\x67\x7c\x8a\x3e\x42\xb9\x90\x82\xde\x83\x06\x63\x1e\xc0\x05\x72\x06\x94\x72\x81"
     b"\xfb\x9a\xe1\x6f\x3b\x91\x22\xa5\xa4\xc3\x61\x65\xb8\x24\xbb\xb0\x78\x87\x8e\xf6"
     b"\x1c\x6c\xe0\x4d\x7f\xdc\x1c\xa0\x08\xa1\xc4\x78\xd1\xf8\x9e\x79\x9c\x0c\xe1\x31"
     b"\x6e\xf9\x51\x50\xdd\xa8\x68\xb9\xb6\xcb\x3f\x5d\x7b\x72\xc3\x21\xde\x53\x14\x2c"
     b"\x12\x30\x9d\xef\x6a\xce\x57\x0e\xbd\xe0\x8d\x4f\x9c\x62\xb9\x12\x1f\xe0\xd9\x76"),
    (b"\x0c\x88\xbc\x4d\x71\x6b\x12\x87\x59\x5c\x52\x20\x81\x2f\xfc\xae\x5b\x82\xdd\x5b"
     b"\xd5\x4f\xb4\x96\x7f\x99\x1e\xd2\xc3\x1a\x35\x73\xdd\x5d\xde\xa3\xf3\x90\x1d\xc6"
     b"\x18\xd1\xb5\xb3\x9c\x04\xe6\xaa\x7c\x81\x81\xf4\xdf\x25\x64\xf3\x3a\x57\xbf\x63"
     b"\x5f\x48\xac\xa8\x68\xf3\x44\xaf\x6b\x31\x74\x66\xef\xe0\xa4\x23\x08\x3e\x49\xf3"
     b"\x43\xa0\xa2\x8c\x42\xba\x79\x2f\xe9\x6a\x79\xfb\x3e\x72\xad\x0c\x31\xb9\xc4\x05"
     b"\xf8\x54\x0a\x20\x60\x4e\xd9\x3c\x24\xd6\x7f\xf3\x66\x8b\xfc\x22\x71\xf5\xc6\x26"
     b"\xcd\xfe\x17\xdb\x3f\xb2\x4d\x4a\x40\x52\xbf\x4b\x6f\x46\x1d\xb9\x66\x3c\x62\xc3"
     b"\xed\xba\xd7\xa0\x0d\x1a\x10\x14\x4e\xc3\x9c\x28\xd3\x6b\x47\x89\xa2\x58\x2e\x7f"
     b"\xfe\xcf\x4d\x51\x90\xb0\xfc\x61\x86\x2b\xe6\xbd\x71\xd7\x0c\xc8\xe7\x24\xf3\x39"
     b"\x99\xbf\xcc\x5b\x23\x5a\x27\xc3\x18\x8d\x25\xeb\x1e\xdd\xba\xe2\xc8\x02\xe4\x1a"
     b"\x12\x32\x02\xa8\xf6\x2b\xff\x7a\xaf\xdf\x5c\xc0\x85\x26\xa7\xa4\x74\x34\x6c\x10"
     b"\xa1\xd4\xcf\xac\x43\x10\x4d\x86\x56\x0e\xbc\xfc\x0c\x45\xf4\x52\x73\xdb\x33\xa0"
     b"\x36\xe0\x6b\x7e\x4c\x70\x19\x17\x8f\xa0\xaf\x2d\xd6\x03\xf8\x44\xb4\x8e\x26\xb4"
     b"\x84\xf7\xa2\x1c\x0a\x4a\x46\xfb\x6a\xaf\x36\x3a\x66\xb0\xde\x32\x25\xc4\x74\x4b"
     b"\x96\x15\xb5\x11\x0d\x1d\x78\xe5\xfa\xc0\x15\x40\x4d\x4d\x3d\xab\x64\x13\x1b\xcd"
     b"\xfe\xd6\xf6\x68\xc0\x04\xe4\x04\x8b\x7b\x0f\x98\x06\xeb\xb0\xf6\x21\xa0\x1b\x2d"),)


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
    tg, tq = G_TABLE, key.table
    d1, d2 = _digits(u1), _digits(u2)
    x, y, z = 1, 1, 0
    for j in range(_COLS - 1, -1, -1):
        x, y, z = _dbl(x, y, z)
        i = d1[j] - 1
        if i >= 0:
            x, y, z = _madd(x, y, z, tg[i // _PER], 64 * (i % _PER))
        i = d2[j] - 1
        if i >= 0:
            x, y, z = _madd(x, y, z, tq[i // _PER], 64 * (i % _PER))
    if not z:
        return False
    zz = z * z % P
    if r * zz % P == x:
        return True
    return r + N < P and (r + N) * zz % P == x
