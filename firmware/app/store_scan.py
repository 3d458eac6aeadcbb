# Scanning a FileStore (firmware/app/store.py, whose header has the formats; their
# constants: firmware/app/store_format.py): find the newest valid state slot and the
# audit ring's tail when the store is opened at boot, and read audit records back (the
# core's boot recovery, AUDIT_READ). A running lock that no host reads does not keep it
# (MicroPython and CPython).

import struct

from firmware.app import store_format as S
from firmware.core.state import crc32


def _slot_decode(data):
    """(slot_seq, blob) of a slot file's bytes; ValueError saying what is wrong."""
    if len(data) < 16:
        raise ValueError("truncated (%d bytes)" % len(data))
    if data[:4] != S.SLOT_MAGIC:
        raise ValueError("bad magic")
    seq, n = struct.unpack_from(">II", data, 4)
    if 12 + n + 4 != len(data):
        raise ValueError("length %d does not fit %d bytes" % (n, len(data)))
    if crc32(data[:-4]) != struct.unpack_from(">I", data, len(data) - 4)[0]:
        raise ValueError("CRC mismatch")
    return seq, bytes(data[12:12 + n])


def state(st):
    """Find the newest valid state record (st._cur, _seq, _blob); damaged slots go to
    st.problems; a write cut before its rename (state or permit slot) is removed."""
    for name in S.PERMITS:
        _drop_new(st, name)
    for name in S.SLOTS:
        _drop_new(st, name)
        data = st._read(name)
        if data is None:
            continue
        try:
            seq, blob = _slot_decode(data)
        except ValueError as exc:
            st.problems.append("%s: %s" % (name, exc))
            continue
        if st._cur is None or seq > st._seq:
            st._cur, st._seq, st._blob = name, seq, blob


def _drop_new(st, name):
    if st.fs.size(st.path(name + ".new")) >= 0:
        try:  # a write cut before its rename; the slot itself is intact
            st.fs.remove(st.path(name + ".new"))
        except OSError:
            pass


def ring(st):
    """Find the ring's newest intact record (st.tail) and the acknowledged seq (st.ack)."""
    st.tail = None          # (seq, hash) of the newest intact record
    st.ack = 0
    data = st._read(S.ACK)
    if data is not None:
        if len(data) == 8 and crc32(data[:4]) == struct.unpack(">I", data[4:])[0]:
            st.ack = struct.unpack(">I", data[:4])[0]
        else:
            st.problems.append("%s: damaged, nothing counted as acknowledged" % S.ACK)
    p = st.path(S.RING)
    size = st.fs.size(p)
    if size <= 0:
        return
    n = min(size // S.SLOT, st.capacity)
    f = st.fs.open(p, "rb")
    try:
        for i in range(n):
            f.seek(i * S.SLOT)
            rec = slot_rec(st, f, i)
            if rec is not None and (st.tail is None or S.rec_seq(rec) > st.tail[0]):
                st.tail = (S.rec_seq(rec), bytes(rec[len(rec) - 32:]))
    finally:
        f.close()
    if st.ack > st.last_seq():
        st.ack = st.last_seq()


def slot_rec(st, f, i):
    """The record in slot i (f positioned there), or None if empty/torn/misplaced."""
    buf = st._buf
    got = f.readinto(buf)
    if got is None or got < 5:
        return None
    n = buf[0]
    if n < S.REC_MIN or n > S.REC_MAX or n + 5 > got:
        return None
    mv = memoryview(buf)
    if crc32(mv[:1 + n]) != struct.unpack_from(">I", buf, 1 + n)[0]:
        return None
    rec = bytes(mv[1:1 + n])
    seq = S.rec_seq(rec)
    if seq < 1 or (seq - 1) % st.capacity != i:
        return None
    return rec


def read(st, from_seq, count):
    """Up to `count` consecutive stored records from `from_seq` (or the oldest still
    held, if later), oldest first; stops at the first missing one after a found one."""
    last = st.last_seq()
    s = from_seq if from_seq > st.first_seq() else st.first_seq()
    out = []
    if s > last or count <= 0:
        return out
    f = st.fs.open(st.path(S.RING), "rb")
    try:
        while s <= last and len(out) < count:
            i = (s - 1) % st.capacity
            f.seek(i * S.SLOT)
            rec = slot_rec(st, f, i)
            if rec is None or S.rec_seq(rec) != s:
                if out:
                    break
            else:
                out.append(rec)
            s += 1
    finally:
        f.close()
    return out
