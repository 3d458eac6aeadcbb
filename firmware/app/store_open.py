# Opening a FileStore (firmware/app/store.py, whose header has the formats): find the
# newest valid state slot and the audit ring's tail. Imported once, when the store is
# opened at boot; a running lock does not keep it (MicroPython and CPython).

import struct

from firmware.app import store as S
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
    st.problems; a write cut before its rename is removed."""
    for name in S.SLOTS:
        if st.fs.size(st.path(name + ".new")) >= 0:
            try:  # a write cut before its rename; the slot itself is intact
                st.fs.remove(st.path(name + ".new"))
            except OSError:
                pass
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
            rec = st._slot_rec(f, i)
            if rec is not None and (st.tail is None or S._rec_seq(rec) > st.tail[0]):
                st.tail = (S._rec_seq(rec), bytes(rec[len(rec) - 32:]))
    finally:
        f.close()
    if st.ack > st.last_seq():
        st.ack = st.last_seq()
