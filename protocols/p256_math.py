# ECDSA P-256 / SHA-256 verification, the curve arithmetic (the keys and verify() a lock
# keeps are in protocols/p256.py, the error in protocols/errors.py; this module is
# imported only while a key is loaded or a signature verified). Pure Python for
# MicroPython and CPython.
#
# The device verifies only, with public keys it trusts: both bases of u1*G + u2*Q are
# fixed, so each gets a 4-tooth comb table (Lim-Lee) of 15 affine points, built once when
# the key is loaded (the generator's is a constant below, checked by tests/test_p256.py).
# A verification is then 64 Jacobian doublings and at most 128 mixed additions, with no
# inversion (x(R) == r is checked as r * Z^2 == X mod p).

import hashlib
from binascii import unhexlify

from protocols.errors import KEY_ID_LEN, SIG_LEN, P256Error

P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
GX = 0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296
GY = 0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5

_TEETH = 4
_COLS = 64  # 256 bits / 4 teeth


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


# comb_table(GX, GY): the generator's table (15 affine points, x || y, 32 bytes each)
G_TABLE = unhexlify(
    "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c2964fe342e2fe1a7f9b8ee7"
    "eb4a7c0f9e162bce33576b315ececbb6406837bf51f50fa822bc2811aaa58492592e326e25de29493baa"
    "ad651f7e90e75cb48e14db63bff44ae8f5dba80d6f4ad4bcb3df188b34b1a65050fe82f5e41124545f46"
    "2ee7300a4bbc89d6726fb257c0de95e02789e96c98fd0d35f1fa93391ce2097992af72aac7e0d09b4644"
    "7f1ddb25ff1e3c6f5bb1eeada9d806a5aa54a291c08127a0447d739beedb5e67fb982fd588c6766efc35"
    "ff7dc297eac357c84fc9d789bd852d4825ab834131eee12e9d953a4aaff73d349b95a7fae5000c7e33c9"
    "72e25b32ef9519328a9c72ffddc6068bb91dfc60ef7fbd2b1a0a11b713949c932a1d367f611e9fc37dbb"
    "2c9bc1ee9807022c219c23183b0895ca1740196035a77376d8a8550663797b51f5d87dea6482e11238bf"
    "2936df5ec6c9bc36cae2b1920b57f4bc157164848aecb8510afa40018d9d50e59fb3d576dbdefbe144ff"
    "e216348a964ceb5d7745b21141eaa2e8f483f43e43917ccd84e70d715f26e48ecafffc5cde01eafd72eb"
    "dbecc17b0990e6a158006cee85f22cfe2844b645cac917e2731a3479a6d39677a78492762736ff834431"
    "5fc596439591a3c6b94a6cf20ffb313728be674f84749b0b881666b8babd2d27ecdf824a920c2284059b"
    "f2bab833c357f5f44e769e7672c9ddad31855f7db8c7fedb74e02f080203a56b2df48c04677c8a3e42b9"
    "9082de8306631ec0057206947281fb9ae16f3b9122a5a4c36165b824bbb078878ef61c6ce04d7fdc1ca0"
    "08a1c478d1f89e799c0ce1316ef95150dda868b9b6cb3f5d7b72c321de53142c12309def6ace570ebde0"
    "8d4f9c62b9121fe0d9760c88bc4d716b1287595c5220812ffcae5b82dd5bd54fb4967f991ed2c31a3573"
    "dd5ddea3f3901dc618d1b5b39c04e6aa7c8181f4df2564f33a57bf635f48aca868f344af6b317466efe0"
    "a423083e49f343a0a28c42ba792fe96a79fb3e72ad0c31b9c405f8540a20604ed93c24d67ff3668bfc22"
    "71f5c626cdfe17db3fb24d4a4052bf4b6f461db9663c62c3edbad7a00d1a10144ec39c28d36b4789a258"
    "2e7ffecf4d5190b0fc61862be6bd71d70cc8e724f33999bfcc5b235a27c3188d25eb1eddbae2c802e41a"
    "123202a8f62bff7aafdf5cc08526a7a474346c10a1d4cfac43104d86560ebcfc0c45f45273db33a036e0"
    "6b7e4c7019178fa0af2dd603f844b48e26b484f7a21c0a4a46fb6aaf363a66b0de3225c4744b9615b511"
    "0d1d78e5fac015404d4d3dab64131bcdfed6f668c004e4048b7b0f9806ebb0f621a01b2d")


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
