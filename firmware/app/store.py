# Storage of one lock (MicroPython and CPython): the persistent-state record, the audit
# ring and the identity, as small files under one directory.
#
# State record: two slots, "state.a" and "state.b". Each slot file is
#     b"ALSL" | slot_seq u32 | len u32 | blob | CRC-32 of every byte before it
# and is written as "<slot>.new" then renamed over "<slot>". A save always overwrites the
# slot that does NOT hold the newest valid record, so a power cut at any byte (or between
# the write and the rename) leaves the newest valid record untouched: load() returns the
# old or the new blob, never neither. load() picks the valid slot with the highest
# slot_seq and lists the damaged ones in `problems`; if slots exist but none is intact it
# returns b"" so that the core reports the state damaged instead of booting as new.
# The record is 74..301 bytes (firmware/core/state.py; a file that small stays inline in
# littlefs metadata): the permit token is not in it.
#
# Permit slots: "permit0" and "permit1", the raw token bytes the core's SAVE_PERMIT gave,
# written as "<slot>.new" then renamed. The core always writes the slot the stored record
# does not reference, before the record that references it (with the token's length and
# CRC-32, which it checks at boot: a slot that does not match is no permit). Read at boot
# only (load_permits), never kept.
#
# Audit ring: "audit.ring", CAPACITY fixed slots of SLOT bytes; the record with sequence
# number s always lives in slot (s - 1) % CAPACITY:
#     len u8 | record (42..122 bytes) | CRC-32 of len and record | zero padding
# A slot is rewritten in place; a cut tears at most the slot being written, which fails
# its CRC and is ignored (the chain tail is then the record before it, and the core
# rewrites that sequence number). When the ring is full the oldest record is overwritten.
# Policy: records acknowledged by the host (AUDIT_ACK, kept in "audit.ack") are overwritten
# freely; overwriting a record the host never acknowledged is never silent: `lost` counts
# them (= records older than the ring that are above the ack, derived, so it costs no
# write), and the app reports it (EVENT log, STATUS when the schema has a field for it).
#
# Identity (virtual board; the ESP32 port keeps it in NVS): the file of
# firmware/app/identity.py, which also says what an unprovisioned board runs with.
#
# Filesystem calls go through `fs` (default: the real open/os), so tests can inject power
# cuts at every write, rename and remove.

import struct

try:
    import os
except ImportError:  # pragma: no cover - every port has os (MicroPython: uos)
    import uos as os  # type: ignore

from firmware.app.store_format import (  # noqa: F401  (the formats: part of this API)
    ACK,
    CAPACITY,
    IDENTITY,
    MAX_PERMIT,
    MAX_STATE,
    PERMITS,
    REC_MAX,
    REC_MIN,
    RING,
    SLOT,
    SLOT_MAGIC,
    SLOTS,
    Ring,
    rec_seq,
)
from firmware.core.state import crc32

_ZERO = bytes(SLOT)


class OsFS:
    """The real filesystem (the default `fs` of FileStore)."""

    def open(self, path, mode):
        return open(path, mode)

    def rename(self, a, b):
        try:
            os.rename(a, b)
        except OSError:
            # A filesystem that will not rename over a file: remove, then rename. Only ever
            # used on one state slot while the other holds the newest record.
            os.remove(b)
            os.rename(a, b)

    def remove(self, path):
        os.remove(path)

    def size(self, path):
        """File size in bytes, or -1 if it does not exist."""
        try:
            return os.stat(path)[6]
        except OSError:
            return -1

    def mkdir(self, path):
        try:
            os.mkdir(path)
        except OSError:
            pass


def _slot_encode(seq, blob):
    """The slot file's bytes in three pieces, written in turn (the record is not copied
    again, on every audited event, to put its header and CRC around it)."""
    head = SLOT_MAGIC + struct.pack(">II", seq, len(blob))
    return head, blob, struct.pack(">I", crc32(blob, crc32(head)))


class FileStore(Ring):
    """State slots, audit ring and identity under directory `root`."""

    def __init__(self, root, fs=None, capacity=CAPACITY):
        self.root = root.rstrip("/") or "/"
        self.fs = fs if fs is not None else OsFS()
        Ring.__init__(self, capacity)
        self.problems = []        # damaged slots and records found when opening
        self._cur = None          # slot name holding the newest valid state record
        self._seq = 0             # its slot_seq
        self._blob = None
        self._buf = bytearray(SLOT)
        self.fs.mkdir(self.root)
        from firmware.app import store_scan  # what only opening and reading back need
        store_scan.state(self)
        store_scan.ring(self)

    def path(self, name):
        return self.root + "/" + name

    def _read(self, name):
        p = self.path(name)
        if self.fs.size(p) < 0:
            return None
        f = self.fs.open(p, "rb")
        try:
            return f.read()
        finally:
            f.close()

    def _replace(self, name, data):
        """Write `data` (bytes, or a tuple of them in turn) to "<name>.new" then rename it
        over `name`."""
        p = self.path(name)
        f = self.fs.open(p + ".new", "wb")
        try:
            if type(data) is tuple:
                for d in data:
                    f.write(d)
            else:
                f.write(data)
        finally:
            f.close()
        self.fs.rename(p + ".new", p)

    # -- state ---------------------------------------------------------------------------
    def load_state(self):
        """The newest valid state record (bytes); None if no slot was ever written; b""
        if slots exist but none is intact (the core then reports the state damaged and
        waits for an authority reset, instead of booting as new)."""
        if self._blob is None and self.problems and self.problems[0][:6] == "state.":
            return b""
        return self._blob

    def save_state(self, blob):
        """Write the record into the slot not holding the newest one (see the header)."""
        blob = bytes(blob)
        if len(blob) > MAX_STATE:
            raise ValueError("state record too long (%d bytes > %d)" % (len(blob), MAX_STATE))
        target = SLOTS[1] if self._cur == SLOTS[0] else SLOTS[0]
        self._replace(target, _slot_encode(self._seq + 1, blob))
        self._cur, self._seq, self._blob = target, self._seq + 1, blob

    def save_permit(self, slot, token):
        """Write a permit token to permit slot `slot` (0 or 1), new file then rename."""
        if slot != 0 and slot != 1:
            raise ValueError("permit slot %r not 0 or 1" % (slot,))
        if len(token) > MAX_PERMIT:
            raise ValueError("permit too long (%d bytes > %d)" % (len(token), MAX_PERMIT))
        self._replace(PERMITS[slot], bytes(token))

    def load_permits(self):
        """(slot 0, slot 1): the stored permit tokens, bytes or None (never written)."""
        return (self._read(PERMITS[0]), self._read(PERMITS[1]))

    # -- audit ring ----------------------------------------------------------------------
    def append_audit(self, rec):
        """Store one audit record in its slot (overwriting the oldest when full)."""
        n = len(rec)
        if n < REC_MIN or n > REC_MAX:
            raise ValueError("audit record length %d not in %d..%d" % (n, REC_MIN, REC_MAX))
        seq = rec_seq(rec)
        if seq < 1:
            raise ValueError("audit record seq 0")
        buf = self._buf
        buf[0] = n
        buf[1:1 + n] = rec
        struct.pack_into(">I", buf, 1 + n, crc32(memoryview(buf)[:1 + n]))
        buf[5 + n:SLOT] = _ZERO[5 + n:]
        p = self.path(RING)
        off = ((seq - 1) % self.capacity) * SLOT
        size = self.fs.size(p)
        if size < 0:
            f = self.fs.open(p, "wb")
            size = 0
        else:
            f = self.fs.open(p, "r+b")
        try:
            if off > size:  # growing past a gap (a slot torn at the end): fill with zeros
                f.seek(size)
                while size < off:
                    k = off - size if off - size < SLOT else SLOT
                    f.write(bytes(k))
                    size += k
            f.seek(off)
            f.write(buf)
        finally:
            f.close()
        self.tail = (seq, bytes(rec[n - 32:]))

    def read_audit(self, from_seq, count):
        """Up to `count` consecutive stored records from `from_seq` (or the oldest still
        held, if later), oldest first; stops at the first missing one after a found one."""
        from firmware.app import store_scan
        return store_scan.read(self, from_seq, count)

    def ack_audit(self, upto_seq):
        """The host stored every record up to `upto_seq`: they may be overwritten."""
        upto = upto_seq if upto_seq < self.last_seq() else self.last_seq()
        if upto <= self.ack:
            return self.ack
        b = struct.pack(">I", upto)
        self._replace(ACK, b + struct.pack(">I", crc32(b)))
        self.ack = upto
        return upto

    # -- identity --------------------------------------------------------------------------
    def load_identity(self):
        """(device_id, key, authority) from identity.json, or None if the board was never
        provisioned. ValueError if the file is damaged."""
        data = self._read(IDENTITY)
        if data is None:
            return None
        from firmware.app import identity
        return identity.decode(data)

    def save_identity(self, device_id, key, authority=()):
        """Provision the board (new file then rename)."""
        from firmware.app import identity
        self._replace(IDENTITY, identity.encode(device_id, key, authority))


def __getattr__(name):
    # MemStore (tests, simulator: firmware/app/memstore.py), imported on first use.
    if name == "MemStore":
        from firmware.app.memstore import MemStore
        return MemStore
    raise AttributeError(name)
