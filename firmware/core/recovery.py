# Recovery at boot: the audit log may be ahead of the persisted state record, because
# ports store each audit record before the state record that counts it. The restrictive
# changes announced by those newer records are rolled forward into the record, so a
# power cut between the two writes cannot undo a tamper latch, a recall or a lockout.
# Permissive changes (permit loaded, resets) are not: the host simply repeats them.
# When the state record is gone or damaged, the log still proves the highest token serial
# the device accepted, so old permits, recalls and resets cannot be replayed then either.

import binascii
import struct

from firmware.core import state as _state
from firmware.core import trust as _trust
from protocols import audit as _audit

try:
    from micropython import const  # pyright: ignore[reportAssignmentType]
except ImportError:  # CPython
    def const(x):
        return x

MAX_READ = 24   # records rolled forward at most (a cut loses at most one event's records)
# Bounds of the state record's variable part (layout: state.py), the trust record's
HEAD_LEN = 61   # struct.calcsize(state.HEAD)
MAX_TRUSTED = _trust.MAX_KEYS
MAX_REVOKED = _trust.MAX_REVOKED
_POINT = const(65)      # SEC 1 uncompressed P-256 point
_KID = const(8)         # key id
REF_LEN = 7     # struct.calcsize(state.REF): the permit reference


def boot_record(blob, tail, read_audit=None):
    """The state record to boot from, decoded (a State), with the audit chain continued
    from the log's last record when the log is ahead of the record (records are stored
    before the record that counts them) or when there is no record at all. A damaged
    record is returned unchanged (bytes: the core audits it and continues the chain from
    `tail` itself); without a tail, `blob` as given.

    When the log is ahead, the restrictive changes those newer records announce (tamper
    latched, recall, lockout) are applied to the record too, so a cut between the audit
    write and the state write cannot undo them; permissive ones (permit loaded, resets)
    are not, and the host simply repeats them."""
    if tail is None:
        return blob
    if blob is None:
        st = _state.State()
        if read_audit is not None:
            st.serial_floor, st.revoked = log_scan(read_audit, 1, tail[0])
    else:
        try:
            st = decode_state(blob)
        except ValueError:
            return blob
        if st.audit_seq >= tail[0]:
            return st
    if read_audit is not None:
        for rec in read_audit(st.audit_seq + 1, MAX_READ):
            _restrict(st, rec)
    st.audit_seq = tail[0]
    st.audit_head = tail[1]
    return st


def log_serial_floor(read_audit, first_seq, last_seq):
    """The highest token serial the stored audit log shows accepted; 0 if none."""
    return log_scan(read_audit, first_seq, last_seq)[0]


def log_scan(read_audit, first_seq, last_seq):
    """(serial floor, revoked key ids) the stored log proves: the highest token serial
    accepted and the key ids that key_update records revoked (the most recent
    MAX_REVOKED), for a state record that is lost or damaged: a revoked key stays
    revoked (the provisioned keys minus these are trusted then)."""
    floor = 0
    revoked = []
    seq = first_seq
    while seq <= last_seq:
        recs = read_audit(seq, MAX_READ)
        if not recs:
            break
        for rec in recs:
            floor = _scan_one(rec, floor, revoked)
        nxt = struct.unpack_from(">I", recs[-1], 0)[0] + 1
        if nxt <= seq:
            break
        seq = nxt
    return floor, revoked[-MAX_REVOKED:]


def _scan_one(rec, floor, revoked):
    try:
        _s, _t, code, detail, _h = _audit.decode(rec)
    except ValueError:
        return floor
    if code in ("permit_loaded", "recall", "tamper_reset", "key_update") \
            and detail.startswith("serial="):  # a token's record
        n = detail[7:].split(" ")[0]
        if n.isdigit() and int(n) > floor:
            floor = int(n)
    if code == "key_update":
        for word in detail.split(" "):
            if word.startswith("revoked=") and len(word) == 24:
                try:
                    revoked.append(binascii.unhexlify(word[8:]))
                except ValueError:
                    pass
    return floor


def _restrict(st, rec):
    try:
        _seq, t, code, detail, _h = _audit.decode(rec)
    except ValueError:
        return
    if code == "tamper" and detail.startswith("source="):
        src = detail[7:].split(" ")[0]
        if src in _state.SOURCES and src:
            st.tamper = src
    elif code == "recall":
        st.permit = b""
        st.plen = st.pcrc = 0
        st.recalled = True
    elif code == "lockout":
        kv = {}
        for part in detail.split(" "):
            i = part.find("=")
            if i > 0 and part[i + 1:].isdigit():
                kv[part[:i]] = int(part[i + 1:])
        level = kv.get("level", 0)
        if level > st.lock_level:
            st.lock_level = level if level < 256 else 255
        until = t + kv.get("seconds", 0)
        if until > st.lockout_until:
            st.lockout_until = until


# -- decoding the state record (state.py has the layout and the encoder; this runs at
# boot only) --------------------------------------------------------------------------

def decode_state(blob):
    """Return a State from record bytes; ValueError saying what is damaged. Older
    versions are migrated (st.migrated = the version): version 2 keeps every field, its
    inline token in st.permit (the core moves it to a permit slot); version 1 keeps every
    field except its format-1 permit, which no device accepts any more (st.dropped =
    that permit's serial)."""
    if len(blob) < HEAD_LEN + 6:
        raise ValueError("state record truncated (%d bytes)" % len(blob))
    if _state.crc32(blob[:-4]) != struct.unpack_from(">I", blob, len(blob) - 4)[0]:
        raise ValueError("state record CRC mismatch")
    f = struct.unpack_from(_state.HEAD, blob, 0)
    if f[0] != _state.MAGIC:
        raise ValueError("state record has bad magic")
    if f[1] < 1 or f[1] > _state.VERSION:
        raise ValueError("state record version %d not supported (this firmware reads 1..%d)"
                         % (f[1], _state.VERSION))
    if f[3] >= len(_state.SOURCES):
        raise ValueError("state record tamper source %d unknown" % f[3])
    st = _state.State()
    st.recalled = bool(f[2] & 1)
    st.tamper = _state.SOURCES[f[3]] if f[2] & 2 else ""
    st.fails, st.lock_level, st.lockout_until = f[4], f[5], f[6]
    st.serial_floor, st.cmd_floor, st.time_floor = f[7], f[8], f[9]
    st.audit_seq, st.audit_head = f[10], f[11]
    o = HEAD_LEN
    if f[1] == 1:
        return _v1(st, blob, o)
    nt, nr = blob[o], blob[o + 1]
    if nt > MAX_TRUSTED or nr > MAX_REVOKED:
        raise ValueError("state record key counts %d/%d out of range" % (nt, nr))
    o += 2
    if o + _POINT * nt + _KID * nr + 2 + 4 > len(blob):
        raise ValueError("state record keys truncated")
    st.trusted = [bytes(blob[o + _POINT * i:o + _POINT * i + _POINT]) for i in range(nt)]
    o += _POINT * nt
    st.revoked = [bytes(blob[o + _KID * i:o + _KID * i + _KID]) for i in range(nr)]
    o += _KID * nr
    if f[1] == 2:
        return _v2(st, blob, o)
    if o + REF_LEN + 4 != len(blob):
        raise ValueError("state record permit reference does not fit")
    st.slot, st.plen, st.pcrc = struct.unpack_from(_state.REF, blob, o)
    if st.slot > 1:
        raise ValueError("state record permit slot %d out of range" % st.slot)
    return st


def _v2(st, blob, o):
    # version 2: permit length and the token inline after the keys
    n = struct.unpack_from(">H", blob, o)[0]
    if o + 2 + n + 4 != len(blob):
        raise ValueError("state record permit length %d does not fit" % n)
    st.permit = bytes(blob[o + 2:o + 2 + n])
    st.migrated = 2
    return st


def _v1(st, blob, o):
    # version 1: permit length and permit right after the audit head
    n = struct.unpack_from(">H", blob, o)[0]
    if o + 2 + n + 4 != len(blob):
        raise ValueError("state record permit length %d does not fit" % n)
    st.migrated = 1
    if n >= 19:  # a format-1 token: serial at 7 + id length
        i = 7 + blob[o + 2 + 6]
        st.dropped = struct.unpack_from(">I", blob, o + 2 + i)[0] if i + 4 <= n else 0
    return st


def permit_token(st, permits):
    """The token record `st` references: b"" for none; None when the slot it names
    (`permits`: the stored (slot 0, slot 1), bytes or None) does not hold exactly that
    token (missing, damaged or replaced: its length or CRC-32 differ)."""
    if st.migrated:
        return st.permit
    if not st.plen:
        return b""
    tok = permits[st.slot] if permits is not None and len(permits) == 2 else None
    if tok is None or len(tok) != st.plen or _state.crc32(tok) != st.pcrc:
        return None
    return bytes(tok)
