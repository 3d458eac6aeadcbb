# Permit tokens: the decoder (protocols/SPEC.md; the token format and the decoded Permit
# are in protocols/permit_types.py, re-exported by protocols/permit.py). Imported when a
# token is decoded (boot, LOAD_PERMIT): a running lock does not keep it.
#
# Runs on MicroPython and CPython. Decoding checks the structure (lengths and counts), then
# the signer and the signature, then every value; any failure raises PermitError naming
# the field and byte offset. Zone and ring indices are 0-based (ring 0 is the outer ring).
#
# The verifier is injected (decode(..., verify=fn)): protocols.p256.verify by default;
# a host may pass one with identical results (hardware/fastverify.py), the decision and
# every check stay here.

import binascii
import hashlib
import struct
from array import array

from protocols import p256, p256_math
from protocols import permit_types as _t
from protocols.permit_types import Permit, PermitError, key_id

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

# The format's limits: const names with a leading underscore are no globals on
# MicroPython (a token decode then grows no large globals table, one block of the heap
# while it is at its fullest); their public names (permit.MAX_ZONES, ...) are served by
# __getattr__ below.
_WRAP_LEN = const(16)      # an RFID credential's card key, wrapped to the device (AES block)
_POINT_LEN = const(65)     # SEC 1 uncompressed P-256 point
_MAX_ID = const(32)
_MAX_HOLDERS = const(32)
_MAX_ZONES = const(8)
_MAX_RINGS = const(8)
_MIN_VERTICES = const(3)
_MAX_VERTICES = const(512)
_MIN_CRED = const(4)
_MAX_CRED = const(16)
_LAT_MAX = const(900000000)
_LON_MAX = const(1800000000)
_ID_AT = const(15)         # device id offset (after magic, version, kind, key id, n)
_MIN_TOKEN = const(_ID_AT + 1 + 12 + 64)  # a one-character recall: id, 12, SIG_LEN (64)

MAGIC = b"ALPM"
_V1_REFUSED = (const("format 1 (HMAC) tokens are no longer accepted: re-issue with a signed "
              "authority key"))
KIND_NAMES = ("", "permit", "recall", "tamper reset", "key update")

_HEAD = const((("serial", 4), ("not_before", 4), ("not_after", 4)))
_RULE = const((("fail profile", 1), ("max unlock duration", 2), ("factor rule mode", 1),
               ("factor mask", 1), ("k", 1), ("factor window", 2)))


def _popcount(x):
    n = 0
    while x:
        n += x & 1
        x >>= 1
    return n


def _need(o, size, limit, what, args=None):
    # `what` is formatted with `args` only on failure: no string work on the good path.
    if o + size > limit:
        raise PermitError("permit truncated at byte %d (%s)" % (o, what % args if args else what))


def _fixed(o, names, limit):
    for name, size in names:
        _need(o, size, limit, name)
        o += size
    return o


def _header(b, limit):
    # Checks magic, version, kind, key id and device id; returns (kind, device_id, offset
    # after the id). The key id is at bytes 6..13.
    if len(b) >= 4 and bytes(b[0:4]) != MAGIC:
        raise PermitError("not an armlock permit (bad magic at byte 0)")
    _need(0, 4, limit, "magic")
    _need(4, 1, limit, "format version")
    if b[4] == 1:
        raise PermitError(_V1_REFUSED)
    if b[4] != _t.VERSION:
        raise PermitError("unsupported permit format version %d at byte 4" % b[4])
    _need(5, 1, limit, "kind")
    kind = b[5]
    if kind < _t.KIND_PERMIT or kind > _t.KIND_KEYS:
        raise PermitError("unknown permit kind %d at byte 5" % kind)
    _need(6, _t.KID_LEN, limit, "signer key id")
    _need(14, 1, limit, "device id length")
    n = b[14]
    if n < 1 or n > _MAX_ID:
        raise PermitError("device id length %d at byte 14 out of range 1..%d" % (n, _MAX_ID))
    _need(_ID_AT, n, limit, "device id")
    for i in range(_ID_AT, _ID_AT + n):
        if b[i] < 0x21 or b[i] > 0x7E:
            raise PermitError("device id byte at %d is not printable ASCII" % i)
    return kind, bytes(b[_ID_AT:_ID_AT + n]).decode(), _ID_AT + n


def _count(b, o, limit, what, lo, hi, args=None):
    _need(o, 1, limit, what, args)
    c = b[o]
    if c < lo or c > hi:
        raise PermitError("%s %d at byte %d out of range %d..%d" % (
            what % args if args else what, c, o, lo, hi))
    return c


def _walk(b, limit):
    # Structure only: lengths and counts, no values. Returns the offset where the
    # signature starts.
    kind, _, o = _header(b, limit)
    o = _fixed(o, _HEAD, limit)
    if kind == _t.KIND_KEYS:
        return _fixed(o, (("added key", _POINT_LEN), ("revoked key id", _t.KID_LEN)), limit)
    if kind != _t.KIND_PERMIT:
        return o
    o = _fixed(o, _RULE, limit)
    nh = _count(b, o, limit, "holder count", 1, _MAX_HOLDERS)
    o += 1
    for h in range(nh):
        _need(o, 2, limit, "holder %d id", (h,))
        o += 2
        r = _count(b, o, limit, "holder %d rfid count", 0, 255, (h,))
        o += 1
        for c in range(r):
            L = _count(b, o, limit, "holder %d rfid %d length", _MIN_CRED, _MAX_CRED, (h, c))
            _need(o + 1, L + _WRAP_LEN, limit, "holder %d rfid %d", (h, c))
            o += 1 + L + _WRAP_LEN
        f = _count(b, o, limit, "holder %d fingerprint count", 0, 255, (h,))
        o += 1
        _need(o, 2 * f, limit, "holder %d fingerprint templates", (h,))
        o += 2 * f
    nz = _count(b, o, limit, "zone count", 0, _MAX_ZONES)
    o += 1
    for z in range(nz):
        _need(o, 1, limit, "zone %d flags", (z,))
        nr = _count(b, o + 1, limit, "zone %d ring count", 1, _MAX_RINGS, (z,))
        o += 2
        for r in range(nr):
            _need(o, 2, limit, "zone %d ring %d vertex count", (z, r))
            nv = (b[o] << 8) | b[o + 1]
            if nv < _MIN_VERTICES or nv > _MAX_VERTICES:
                raise PermitError("zone %d ring %d vertex count %d at byte %d out of range "
                                  "%d..%d" % (z, r, nv, o, _MIN_VERTICES, _MAX_VERTICES))
            _need(o + 2, 8 * nv, limit, "zone %d ring %d vertices", (z, r))
            o += 2 + 8 * nv
    return o


def _check_len(b):
    if len(b) >= 5 and b[4] == 1 and bytes(b[0:4]) == MAGIC:
        raise PermitError(_V1_REFUSED)
    if len(b) < _MIN_TOKEN:
        raise PermitError("permit too short: %d bytes, a token has at least %d" % (
            len(b), _MIN_TOKEN))


def peek(blob):
    """(kind, device id, signer key id) of a token, from its header only (not verified)."""
    _check_len(blob)
    kind, dev, _ = _header(blob, len(blob) - _t.SIG_LEN)
    return kind, dev, bytes(blob[6:6 + _t.KID_LEN])


def peek_device_id(blob):
    """The device id a token is addressed to (not verified)."""
    return peek(blob)[1]


def _check_rule(p, o):
    if p.max_unlock_s < 1:
        raise PermitError("max unlock duration 0 at byte %d, need >= 1 s" % (o + 1))
    if p.rule_mode > _t.MODE_KOFN:
        raise PermitError("factor rule mode %d at byte %d unknown" % (p.rule_mode, o + 3))
    m = p.factor_mask
    if m < 1 or m > (_t.F_RFID | _t.F_FINGER):
        raise PermitError("factor mask 0x%02x at byte %d invalid" % (m, o + 4))
    n = _popcount(m)
    k = p.k
    if p.rule_mode == _t.MODE_ANY:
        ok = k == 1
    elif p.rule_mode == _t.MODE_ALL:
        ok = k == n
    else:
        ok = 1 <= k <= n
    if not ok:
        raise PermitError("k %d at byte %d does not fit rule mode %d with %d factors" % (
            k, o + 5, p.rule_mode, n))
    if k >= 2 and p.window_s < 1:
        raise PermitError("factor window 0 at byte %d, need >= 1 s when k >= 2" % (o + 6))


def _holders(p, b, o):
    nh = b[o]
    o += 1
    seen = {}
    for h in range(nh):
        hid = struct.unpack_from(">H", b, o)[0]
        if hid in seen:
            raise PermitError("holder %d id %d at byte %d repeated" % (h, hid, o))
        seen[hid] = 1
        o += 2
        creds = []
        nc = b[o]
        o += 1
        for c in range(nc):
            L = b[o]
            cid = binascii.hexlify(b[o + 1:o + 1 + L]).decode().upper()
            if cid in p.rfid_index:
                raise PermitError("holder %d rfid %d at byte %d repeated" % (h, c, o))
            p.rfid_index[cid] = hid
            wrapped = b[o + 1 + L:o + 1 + L + _WRAP_LEN]
            if any(wrapped):  # all zeros: UID-only, no card key
                p.card_keys[cid] = wrapped
            creds.append(cid)
            o += 1 + L + _WRAP_LEN
        nf = b[o]
        o += 1
        tpls = struct.unpack_from(">%dH" % nf, b, o) if nf else ()
        for t in range(nf):
            if tpls[t] in p.finger_index:
                raise PermitError("holder %d fingerprint %d template %d at byte %d repeated" % (
                    h, t, tpls[t], o + 2 * t))
            p.finger_index[tpls[t]] = hid
        o += 2 * nf
        if creds and not p.factor_mask & _t.F_RFID:
            raise PermitError("holder %d lists rfid credentials but the factor mask excludes rfid"
                              % h)
        if nf and not p.factor_mask & _t.F_FINGER:
            raise PermitError("holder %d lists fingerprints but the factor mask excludes them" % h)
        if not creds and not nf:
            raise PermitError("holder %d (id %d) has no credential" % (h, hid))
        p.holders.append((hid, tuple(creds), tpls))
    return o


def _zones(p, b, o):
    nz = b[o]
    o += 1
    allowed = 0
    for z in range(nz):
        flags = b[o]
        if flags > 1:
            raise PermitError("zone %d flags 0x%02x at byte %d has unknown bits" % (z, flags, o))
        if not flags:
            allowed += 1
        nr = b[o + 1]
        o += 2
        rings = []
        for r in range(nr):
            nv = struct.unpack_from(">H", b, o)[0]
            o += 2
            # Check on the unpacked tuple: reading back from the array would allocate a long
            # int for every |value| >= 2**30 on MicroPython (small ints are 31-bit).
            vals = struct.unpack_from(">%di" % (2 * nv), b, o)
            for i in range(0, 2 * nv, 2):
                v = vals[i]
                if v < -_LAT_MAX or v > _LAT_MAX:
                    raise PermitError("zone %d ring %d vertex %d latitude %d at byte %d out of "
                                      "range" % (z, r, i // 2, v, o + 4 * i))
                v = vals[i + 1]
                if v < -_LON_MAX or v > _LON_MAX:
                    raise PermitError("zone %d ring %d vertex %d longitude %d at byte %d out of "
                                      "range" % (z, r, i // 2, v, o + 4 * i + 4))
            ring = array("i", vals)
            vals = None
            rings.append(ring)
            o += 8 * nv
        p.zones.append((flags == 1, rings))
    if nz and not allowed:
        raise PermitError("permit has no allowed zone (all %d zones are forbidden)" % nz)
    return o


def _signature(p, b, end, keys, verify):
    # The signer must be trusted now; r and s in 1..n-1; the signature must verify.
    kid = bytes(b[6:6 + _t.KID_LEN])
    key = keys.get(kid)
    if key is None:
        raise PermitError("token signed by unknown key %s" % binascii.hexlify(kid).decode())
    sig = b[end:]
    r = int.from_bytes(sig[:32], "big")
    s = int.from_bytes(sig[32:], "big")
    if not 0 < r < p256_math.N or not 0 < s < p256_math.N:
        raise PermitError("signature at byte %d malformed (r or s zero or not below the "
                          "group order)" % end)
    if not verify(key, memoryview(b)[:end], sig):
        raise PermitError("signature does not verify (forged, altered or another key's)")
    p.verified = True


def decode(blob, keys, verify=None):
    """Parse and validate a token. keys: {key id: verifier key} the device trusts now; the
    signer and the signature are checked before any value is read. keys None (host
    inspection only): not checked, and .verified is False. verify(key, msg, sig) -> bool
    (default protocols.p256.verify)."""
    b = blob if isinstance(blob, bytes) else bytes(blob)
    limit = len(b) - _t.SIG_LEN
    _check_len(b)
    end = _walk(b, limit)
    if end < limit:
        raise PermitError("permit has %d trailing bytes at byte %d" % (
            limit - end, end + _t.SIG_LEN))
    p = Permit()
    p.signature = b[end:]
    p.key_id = bytes(b[6:6 + _t.KID_LEN])
    if keys is not None:
        _signature(p, b, end, keys, verify if verify is not None else p256.verify)
    p.digest = _sha256(memoryview(b)[:end])
    p.kind, p.device_id, o = _header(b, limit)
    p.serial, p.not_before, p.not_after = struct.unpack_from(">III", b, o)
    if p.serial == 0:
        raise PermitError("serial 0 at byte %d, need >= 1" % o)
    if p.not_before > p.not_after:
        raise PermitError("not_before %d after not_after %d at byte %d" % (
            p.not_before, p.not_after, o + 4))
    if p.kind != _t.KIND_PERMIT:
        if p.not_before != p.not_after:
            raise PermitError("%s token needs not_after == not_before at byte %d"
                              % (KIND_NAMES[p.kind], o + 8))
        if p.kind == _t.KIND_KEYS:
            _key_update(p, b, o + 12)
        return p
    o += 12
    fail, p.max_unlock_s, p.rule_mode, p.factor_mask, p.k, p.window_s = struct.unpack_from(
        ">BHBBBH", b, o)
    if fail > 1:
        raise PermitError("fail profile %d at byte %d unknown (0 or 1)" % (fail, o))
    p.fail_enabled = fail == 1
    _check_rule(p, o)
    o = _holders(p, b, o + 8)
    _zones(p, b, o)
    return p


def _sha256(data):
    return hashlib.sha256(data).digest()


def _key_update(p, b, o):
    pt = bytes(b[o:o + _POINT_LEN])
    if pt[0] != 4:
        raise PermitError("added key at byte %d is not an uncompressed point (04..)" % o)
    try:
        p256_math.decode_point(pt)
    except ValueError as exc:
        raise PermitError("added key at byte %d: %s" % (o, exc))
    p.added = pt
    p.revoked = bytes(b[o + _POINT_LEN:o + _POINT_LEN + _t.KID_LEN])
    if p.revoked == key_id(pt):
        raise PermitError("key update at byte %d revokes the key it adds" % (o + _POINT_LEN))


def __getattr__(name):
    # Host API: the limits by their public names, the tables host tools use, the codes of
    # protocols/permit_types.py.
    v = {"WRAP_LEN": _WRAP_LEN, "POINT_LEN": _POINT_LEN, "MAX_ID": _MAX_ID,
         "MAX_HOLDERS": _MAX_HOLDERS, "MAX_ZONES": _MAX_ZONES, "MAX_RINGS": _MAX_RINGS,
         "MIN_VERTICES": _MIN_VERTICES, "MAX_VERTICES": _MAX_VERTICES, "MIN_CRED": _MIN_CRED,
         "MAX_CRED": _MAX_CRED, "LAT_MAX": _LAT_MAX, "LON_MAX": _LON_MAX,
         "MIN_TOKEN": _MIN_TOKEN, "NO_CARD_KEY": bytes(_WRAP_LEN),
         "FACTORS": {"rfid": _t.F_RFID, "finger": _t.F_FINGER},
         "RULES": ("any", "all", "k-of-n")}.get(name, _t)
    if v is _t:
        if name[:2] == "__":
            raise AttributeError(name)
        return getattr(_t, name)
    return v
