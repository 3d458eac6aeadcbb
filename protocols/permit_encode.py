# Permit tokens: the encoder (protocols/SPEC.md; the format is in protocols/permit.py,
# the decoder in protocols/permit_decode.py). For host tools and test vectors; it runs on
# MicroPython too, but a lock never imports it.

import binascii
import struct

from protocols.permit_decode import (
    FACTORS,
    LON_MAX,
    MAGIC,
    MODE_ALL,
    MODE_ANY,
    MODE_KOFN,
    NO_CARD_KEY,
    POINT_LEN,
    WRAP_LEN,
    PermitError,
    _popcount,
    decode,
)
from protocols.permit_types import KID_LEN, KIND_KEYS, KIND_PERMIT, NO_KID, SIG_LEN, VERSION


def factor_rule(rule, factors, k=None):
    """(rule_mode, factor_mask, k) for a rule "any" | "all" | "k-of-n" over `factors`
    (a list of "rfid" / "finger"); "k-of-n" needs 1 <= k <= len(factors).
    ValueError naming what is wrong."""
    mask = 0
    for name in factors:
        bit = FACTORS.get(name)
        if bit is None:
            raise ValueError("unknown factor %r (rfid, finger)" % (name,))
        mask |= bit
    if not mask:
        raise ValueError("name at least one factor (rfid, finger)")
    n = _popcount(mask)
    if rule == "any":
        return MODE_ANY, mask, 1
    if rule == "all":
        return MODE_ALL, mask, n
    if rule != "k-of-n":
        raise ValueError("rule %r: expected any, all or k-of-n" % (rule,))
    if type(k) is not int or not 1 <= k <= n:
        raise ValueError("k-of-n with %d factor(s) needs 1 <= k <= %d, got %r" % (n, n, k))
    return MODE_KOFN, mask, k



def _u(fields, name, bits, default=None):
    v = fields.get(name, default)
    if v is None:
        raise PermitError("field %s missing" % name)
    v = int(v)
    if v < 0 or v >= (1 << bits):
        raise PermitError("field %s = %d does not fit u%d" % (name, v, bits))
    return v


def _cred_bytes(c):
    # An rfid credential: hex UID (no card key) or (uid, wrapped card key).
    if isinstance(c, (tuple, list)):
        w = bytes(c[1])
        if len(w) != WRAP_LEN:
            raise PermitError("wrapped card key is %d bytes, need %d" % (len(w), WRAP_LEN))
        return _uid_bytes(c[0]), w
    return _uid_bytes(c), NO_CARD_KEY


def _uid_bytes(c):
    if isinstance(c, str):
        try:
            return binascii.unhexlify(c)
        except (ValueError, TypeError):
            raise PermitError("rfid credential %r is not hex" % c)
    return bytes(c)


def _ring_pairs(ring):
    # A ring is a list of (lat, lon) pairs or a flat sequence lat0, lon0, lat1, ...
    if len(ring) and isinstance(ring[0], int):
        return list(ring)
    flat = []
    for v in ring:
        flat.append(v[0])
        flat.append(v[1])
    return flat


def _enc_holders(out, holders):
    out.append(_len8(holders, "holders"))
    for h in holders:
        hid, creds, tpls = h[0], h[1], h[2]
        out.extend(struct.pack(">H", _u({"holder id": hid}, "holder id", 16)))
        out.append(_len8(creds, "rfid credentials"))
        for c in creds:
            cb, wrapped = _cred_bytes(c)
            out.append(_len8(cb, "rfid credential"))
            out.extend(cb)
            out.extend(wrapped)
        out.append(_len8(tpls, "fingerprint templates"))
        for t in tpls:
            out.extend(struct.pack(">H", _u({"template id": t}, "template id", 16)))


def _enc_zones(out, zones):
    out.append(_len8(zones, "zones"))
    for z in zones:
        out.append(1 if z[0] else 0)
        out.append(_len8(z[1], "rings"))
        for ring in z[1]:
            flat = _ring_pairs(ring)
            nv = len(flat) // 2
            out.extend(struct.pack(">H", _u({"vertex count": nv}, "vertex count", 16)))
            for v in flat:
                v = int(v)
                if v < -LON_MAX or v > LON_MAX:
                    raise PermitError("coordinate %d out of range" % v)
            out.extend(struct.pack(">%di" % len(flat), *flat))


def _len8(seq, what):
    if len(seq) > 255:
        raise PermitError("too many %s (%d)" % (what, len(seq)))
    return len(seq)


def body(fields, key_id):
    """The signed part of a token from a dict named like Permit's attributes (recall,
    reset and key update take `not_before` or `issued_at`; a key update `added` (65-byte
    point) and `revoked` (key id or None)), naming the signer `key_id`."""
    kind = _u(fields, "kind", 8, KIND_PERMIT)
    did = fields.get("device_id")
    if isinstance(did, str):
        did = did.encode()
    if not did:
        raise PermitError("field device_id missing")
    if len(key_id) != KID_LEN:
        raise PermitError("signer key id is %d bytes, need %d" % (len(key_id), KID_LEN))
    nb = fields.get("not_before", fields.get("issued_at"))
    out = bytearray(MAGIC)
    out.append(_u(fields, "version", 8, VERSION))
    out.append(kind)
    out.extend(key_id)
    out.append(_len8(did, "device id bytes"))
    out.extend(did)
    nb = _u({"not_before": nb}, "not_before", 32)
    na = nb if kind != KIND_PERMIT else _u(fields, "not_after", 32)
    out.extend(struct.pack(">III", _u(fields, "serial", 32), nb, na))
    if kind == KIND_PERMIT:
        out.append(1 if fields.get("fail_enabled") else 0)
        out.extend(struct.pack(">H", _u(fields, "max_unlock_s", 16)))
        out.append(_u(fields, "rule_mode", 8))
        out.append(_u(fields, "factor_mask", 8))
        out.append(_u(fields, "k", 8))
        out.extend(struct.pack(">H", _u(fields, "window_s", 16)))
        _enc_holders(out, fields.get("holders") or ())
        _enc_zones(out, fields.get("zones") or ())
    elif kind == KIND_KEYS:
        added = _raw(fields.get("added") or b"")
        if len(added) != POINT_LEN:
            raise PermitError("field added must be a 65-byte public point")
        out.extend(added)
        revoked = _raw(fields.get("revoked") or NO_KID)
        if len(revoked) != KID_LEN:
            raise PermitError("field revoked must be a %d-byte key id" % KID_LEN)
        out.extend(revoked)
    return bytes(out)



def _raw(v):
    # bytes, or hex text (JSON test vectors)
    return binascii.unhexlify(v) if isinstance(v, str) else bytes(v)


def encode(fields, signer):
    """Build and sign a token (see body); signer: .key_id (8 bytes) and .sign(msg) -> 64
    bytes r || s. Validates the result by decoding it (raises PermitError)."""
    msg = body(fields, signer.key_id)
    sig = bytes(signer.sign(msg))
    if len(sig) != SIG_LEN:
        raise PermitError("signer gave %d signature bytes, need %d" % (len(sig), SIG_LEN))
    blob = msg + sig
    decode(blob, None)
    return blob
