# Audit records: a SHA-256 hash chain, one record per decision or state change.
# Runs on MicroPython and CPython. Device side: `Chain.append` (protocols/audit_chain.py,
# re-exported here: all a running lock holds); host side and the boot's recovery:
# `decode`, `verify` (this module, which the ESP32 port frees after use: trim.py).
#
# Record, big-endian:
#   0  u32  seq        1, 2, 3 ... without gaps
#   4  u32  time       trusted UTC seconds (RTC reading if time is untrusted, 0 if none)
#   8  u8   code       CODE[name] (CODES: the names in number order)
#   9  u8   n          length of detail (0..80)
#   10 n    detail     ASCII, "key=value key=value"
#   .. 32   hash       SHA-256(previous hash || bytes 0 .. 10+n)
# The first record's previous hash is genesis(device_id).

import hashlib
import struct

# the codes, sizes, genesis and Chain a lock writes with (all a running lock holds)
from protocols.audit_chain import (  # noqa: F401  (this API)
    CODE,
    HASH_LEN,
    HEAD_LEN,
    MAX_DETAIL,
    Chain,
    genesis,
)

CODES = tuple(sorted(CODE, key=CODE.get))  # the names, code n at n - 1


def encode(seq, time_s, code, detail, prev_hash):
    """Return (record bytes, its hash)."""
    d = detail.encode()
    if len(d) > MAX_DETAIL:
        d = d[:MAX_DETAIL]
    body = struct.pack(">IIBB", seq, time_s, CODE[code], len(d)) + d
    h = hashlib.sha256(prev_hash + body).digest()
    return body + h, h


def decode(rec):
    """Return (seq, time_s, code name, detail, hash); ValueError if malformed."""
    if len(rec) < HEAD_LEN + HASH_LEN:
        raise ValueError("audit record truncated (%d bytes)" % len(rec))
    seq, t, c, n = struct.unpack_from(">IIBB", rec, 0)
    if len(rec) != HEAD_LEN + n + HASH_LEN:
        raise ValueError("audit record %d: length %d, header says %d"
                         % (seq, len(rec), HEAD_LEN + n + HASH_LEN))
    if c < 1 or c > len(CODES):
        raise ValueError("audit record %d: unknown code %d" % (seq, c))
    detail = bytes(rec[HEAD_LEN:HEAD_LEN + n]).decode()
    return seq, t, CODES[c - 1], detail, bytes(rec[HEAD_LEN + n:])


def verify(records, device_id, head=None, first_prev=None):
    """Check a run of records; return a list of problems (empty if the chain holds).

    `records` must start at seq 1 unless `first_prev` (the hash before the first
    given record) is passed. `head` is the device's reported chain head: a mismatch
    means records were removed from the end.
    """
    problems = []
    prev = first_prev if first_prev is not None else genesis(device_id)
    expect = None if first_prev is not None else 1
    for i, rec in enumerate(records):
        try:
            seq, _t, _c, _d, h = decode(rec)
        except ValueError as exc:
            problems.append("record #%d: %s" % (i, exc))
            return problems
        if expect is not None and seq != expect:
            what = "missing" if seq > expect else "out of order"
            problems.append("record #%d: seq %d where %d expected (%s)" % (i, seq, expect, what))
        body = rec[:len(rec) - HASH_LEN]
        if hashlib.sha256(prev + body).digest() != h:
            problems.append("record seq %d: hash does not chain (altered, removed or reordered)"
                            % seq)
        prev = h
        expect = seq + 1
    if head is not None and prev != head:
        problems.append("chain ends before the device's head (records removed at the end)")
    return problems
