# The persistent state record: everything that must survive a power cut, in one
# versioned blob with a CRC-32. The port writes it so that a cut leaves the old or
# the new record (two slots, new file then rename); the core only encodes (here, on
# every persist) and decodes (recovery.decode_state: at boot only, off the resident
# heap).
#
# Layout, big-endian:
#   0  4   magic b"ALST"
#   4  1   version = 2 (version 1: the same up to the audit head, then the permit;
#          decoded and migrated: its format-1 permit is dropped, see decode)
#   5  1   flags: bit0 recalled, bit1 tamper latched
#   6  1   tamper source code (0 none, see SOURCES)
#   7  1   consecutive failures
#   8  1   lockout level (number of lockouts since the last success)
#   9  4   lockout_until (UTC s)
#   13 4   serial floor (highest token serial accepted)
#   17 4   command counter floor (wire protocol anti-replay)
#   21 4   time floor (UTC s)
#   25 4   audit seq
#   29 32  audit head hash
#   61 1   trusted authority key count T (0..3; 0: the identity's keys apply)
#   62 1   revoked key id count R (0..4, the most recent last)
#   63 65T trusted keys, SEC 1 uncompressed points
#   .. 8R  revoked key ids
#   .. 2   permit length P (0 = none)
#   .. P   permit token
#   .. 4   CRC-32 (IEEE) of every byte before it

import array
import binascii
import struct
import sys

MAGIC = b"ALST"
VERSION = 2
SOURCES = ("", "enclosure", "magnet", "actuator")
HEAD = ">4sBBBBBIIIII32s"  # the fields up to the audit head (61 bytes)
_pack = struct.pack  # bound once: encode runs on every persist

_FAST_CRC = getattr(binascii, "crc32", None)  # looked up once: called on every persist
# MicroPython: the record's tail CRC is tabled (_Tail: binascii.crc32 there is a nibble
# loop, slower than the table for a 1.6 KB permit; +0.6 KB heap per lock). CPython: the
# tail is kept in one piece and CRC'd by zlib, faster than any table (heap no concern).
TABLED = sys.implementation.name == "micropython"
ONE_PIECE = sys.implementation.name != "micropython"


def crc32(data, crc=0):
    """CRC-32 (IEEE 802.3, as zlib.crc32; crc: of the bytes before `data`): binascii's
    when the port has it."""
    if _FAST_CRC is not None:
        return _FAST_CRC(data, crc) & 0xFFFFFFFF
    return crc32_slow(data, crc)


def crc32_slow(data, crc=0):
    """CRC-32 with a nibble table, for ports built without binascii.crc32."""
    t = _nibbles()
    c = crc ^ 0xFFFFFFFF
    for b in data:
        c ^= b
        c = (c >> 4) ^ t[c & 15]
        c = (c >> 4) ^ t[c & 15]
    return c ^ 0xFFFFFFFF


_NIBBLES = []  # crc32_slow's table, built on its first call (binascii.crc32 ports: never)


def _nibbles():
    """CRC-32 (reflected polynomial 0xEDB88320) of each 4-bit value."""
    if not _NIBBLES:
        for i in range(16):
            c = i
            for _ in range(4):
                c = (c >> 1) ^ (0xEDB88320 if c & 1 else 0)
            _NIBBLES.append(c)
    return _NIBBLES


class State:
    """Plain holder of the persisted fields."""

    def __init__(self):
        self.recalled = False
        self.tamper = ""
        self.fails = 0
        self.lock_level = 0
        self.lockout_until = 0
        self.serial_floor = 0
        self.cmd_floor = 0
        self.time_floor = 0
        self.audit_seq = 0
        self.audit_head = bytes(32)
        self.permit = b""
        self.trusted = []     # 65-byte authority points, as key updates left them
        self.revoked = []     # 8-byte key ids revoked by key updates (most recent last)
        self.migrated = 0     # decode: the record version this one was migrated from
        self.dropped = 0      # decode of a version-1 record: serial of the permit dropped
        self._tail = None     # encode's cache of the bytes after the head (_Tail)


def encode(st):
    """Return the record bytes for State `st`. Called on every audited event (the audit
    head is persisted): the part after the head (keys, permit, ~1.7 KB) is kept with
    the CRC-32 it contributes, so an unchanged permit is neither copied twice nor CRC'd
    again (_Tail). Same bytes as the plain layout (tests check both)."""
    t = st._tail
    if t is None or t.permit is not st.permit or t.trusted != st.trusted \
            or t.revoked != st.revoked:
        t = st._tail = _Tail(st)
    tamper, fails, level = st.tamper, st.fails, st.lock_level
    head = _pack(
        HEAD, MAGIC, VERSION, (1 if st.recalled else 0) | (2 if tamper else 0),
        SOURCES.index(tamper) if tamper else 0, fails if fails < 255 else 255,
        level if level < 255 else 255, st.lockout_until, st.serial_floor, st.cmd_floor,
        st.time_floor, st.audit_seq, st.audit_head)
    if not ONE_PIECE or _FAST_CRC is None:
        return b"".join((head, t.keys, t.permit, t.crc(head)))
    rest = t.rest
    if rest is None:
        rest = t.rest = t.keys + t.permit
    crc = _FAST_CRC(rest, _FAST_CRC(head)) & 0xFFFFFFFF
    return b"".join((head, rest, _pack(">I", crc)))


class _Tail:
    """Record bytes after the head, for one (trusted, revoked, permit), and the CRC of a
    record with any head: CRC-32 is affine in its start value, crc32(tail, c) =
    A(c) ^ crc32(tail, 0) with A linear, so A is tabled per nibble of c (512 bytes,
    built on the second record with this tail: a one-off encode does not pay for it)."""

    def __init__(self, st):
        permit = st.permit
        if type(permit) is not bytes:
            permit = bytes(permit)  # bytes.join takes bytes only on MicroPython
        self.permit = permit
        self.trusted = list(st.trusted)
        self.revoked = list(st.revoked)
        keys = bytes((len(self.trusted), len(self.revoked)))
        if self.trusted or self.revoked:
            keys += b"".join([bytes(k) for k in self.trusted + self.revoked])
        self.keys = keys + struct.pack(">H", len(permit))
        self.uses = 0
        self.table = None  # type: tuple | None
        # keys + permit, where ONE_PIECE
        self.rest = None  # type: bytes | None

    def crc(self, head):
        """The record's last 4 bytes: CRC-32 of head + tail, big-endian."""
        tb = self.table
        if tb is None:
            if _FAST_CRC is None:
                return _pack(">I", crc32_slow(head + self.keys + self.permit))
            self.uses += 1
            if self.uses < 2 or not TABLED:
                c = _FAST_CRC(self.permit, _FAST_CRC(self.keys, _FAST_CRC(head)))
                return _pack(">I", c & 0xFFFFFFFF)
            tb = self._build()
        hi, lo, o = self.k_hi, self.k_lo, 0
        th, tl = tb
        # binascii.crc32 is unsigned on MicroPython; 16-bit halves stay small ints there
        for x in _pack(">I", _FAST_CRC(head)):
            i = o + (x >> 4)
            j = o + 16 + (x & 15)
            hi ^= th[i] ^ th[j]
            lo ^= tl[i] ^ tl[j]
            o += 32
        return _pack(">HH", hi, lo)

    def _build(self):
        # A(1 << b) for each bit b of c; row (byte k of c, high/low nibble, value v)
        tail = self.keys + self.permit
        k0 = _FAST_CRC(tail, 0) & 0xFFFFFFFF
        self.k_hi, self.k_lo = k0 >> 16, k0 & 0xFFFF
        col = [(_FAST_CRC(tail, 1 << b) & 0xFFFFFFFF) ^ k0 for b in range(32)]
        th = array.array("H", bytes(256))
        tl = array.array("H", bytes(256))
        for k in range(4):
            for half in range(2):
                low = 24 - 8 * k + (0 if half else 4)  # bit of c the nibble starts at
                for v in range(16):
                    a = 0
                    for j in range(4):
                        if v >> j & 1:
                            a ^= col[low + j]
                    th[(k * 2 + half) * 16 + v] = a >> 16
                    tl[(k * 2 + half) * 16 + v] = a & 0xFFFF
        self.table = (th, tl)
        return self.table
