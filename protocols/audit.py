# Audit records: a SHA-256 hash chain, one record per decision or state change.
# Runs on MicroPython (device side: `Chain.append`) and CPython (host side: `verify`).
#
# Record, big-endian:
#   0  u32  seq        1, 2, 3 ... without gaps
#   4  u32  time       trusted UTC seconds (RTC reading if time is untrusted, 0 if none)
#   8  u8   code       see CODES
#   9  u8   n          length of detail (0..80)
#   10 n    detail     ASCII, "key=value key=value"
#   .. 32   hash       SHA-256(previous hash || bytes 0 .. 10+n)
# The first record's previous hash is genesis(device_id).

import hashlib
import struct

CODES = (
    "boot", "unlock", "relock", "cred_ok", "cred_reject", "deny", "lockout",
    "permit_loaded", "permit_refused", "recall", "tamper", "tamper_reset",
    "battery", "gnss", "fix_implausible", "time", "fail_profile", "state",
    "zone", "reset_refused", "actuator", "fault", "command_refused", "key_update",
)
CODE = {}
for _i, _name in enumerate(CODES):
    CODE[_name] = _i + 1

MAX_DETAIL = 80
HEAD_LEN = 10
_pack, _sha256 = struct.pack, hashlib.sha256  # bound once: Chain.append runs per record
HASH_LEN = 32


def genesis(device_id):
    """The chain's starting hash for one device."""
    return hashlib.sha256(b"armlock-audit/v1:" + device_id.encode()).digest()


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


class Chain:
    """Device side: numbers and links records. State is (seq, head) only."""

    def __init__(self, device_id, seq=0, head=None):
        self.seq = seq
        self.head = head if head is not None else genesis(device_id)

    def append(self, time_s, code, detail):
        """Return the encoded record for (time, code, detail) and advance the chain
        (encode, inlined: one record per audited event)."""
        self.seq = seq = self.seq + 1
        d = detail.encode()
        n = len(d)
        if n > 80:  # MAX_DETAIL
            d = d[:80]
            n = 80
        body = _pack(">IIBB", seq, time_s, CODE[code], n) + d
        self.head = h = _sha256(self.head + body).digest()
        return body + h


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
