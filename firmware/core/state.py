# The persistent state record: everything that must survive a power cut, in one
# versioned blob with a CRC-32. The port writes it so that a cut leaves the old or
# the new record (two slots, new file then rename); the core only encodes/decodes.
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
MAX_TRUSTED = 3
MAX_REVOKED = 4
POINT = 65
KID = 8
SOURCES = ("", "enclosure", "magnet", "actuator")
_HEAD = ">4sBBBBBIIIII32s"
_HEAD_LEN = struct.calcsize(_HEAD)  # 61
_pack = struct.pack  # bound once: encode runs on every persist

_T = (0x00000000, 0x1DB71064, 0x3B6E20C8, 0x26D930AC, 0x76DC4190, 0x6B6B51F4,
      0x4DB26158, 0x5005713C, 0xEDB88320, 0xF00F9344, 0xD6D6A3E8, 0xCB61B38C,
      0x9B64C2B0, 0x86D3D2D4, 0xA00AE278, 0xBDBDF21C)


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
    c = crc ^ 0xFFFFFFFF
    for b in data:
        c ^= b
        c = (c >> 4) ^ _T[c & 15]
        c = (c >> 4) ^ _T[c & 15]
    return c ^ 0xFFFFFFFF


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
        _HEAD, MAGIC, VERSION, (1 if st.recalled else 0) | (2 if tamper else 0),
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


def decode(blob):
    """Return a State from record bytes; ValueError saying what is damaged. A version-1
    record (format-1 permits) is migrated: every field is kept except its permit, which
    no device accepts any more (st.migrated = 1, st.dropped = that permit's serial)."""
    if len(blob) < _HEAD_LEN + 6:
        raise ValueError("state record truncated (%d bytes)" % len(blob))
    if crc32(blob[:-4]) != struct.unpack_from(">I", blob, len(blob) - 4)[0]:
        raise ValueError("state record CRC mismatch")
    f = struct.unpack_from(_HEAD, blob, 0)
    if f[0] != MAGIC:
        raise ValueError("state record has bad magic")
    if f[1] != VERSION and f[1] != 1:
        raise ValueError("state record version %d not supported (this firmware reads 1, 2)"
                         % f[1])
    if f[3] >= len(SOURCES):
        raise ValueError("state record tamper source %d unknown" % f[3])
    st = State()
    st.recalled = bool(f[2] & 1)
    st.tamper = SOURCES[f[3]] if f[2] & 2 else ""
    st.fails, st.lock_level, st.lockout_until = f[4], f[5], f[6]
    st.serial_floor, st.cmd_floor, st.time_floor = f[7], f[8], f[9]
    st.audit_seq, st.audit_head = f[10], f[11]
    o = _HEAD_LEN
    if f[1] == 1:
        return _v1(st, blob, o)
    nt, nr = blob[o], blob[o + 1]
    if nt > MAX_TRUSTED or nr > MAX_REVOKED:
        raise ValueError("state record key counts %d/%d out of range" % (nt, nr))
    o += 2
    if o + POINT * nt + KID * nr + 2 + 4 > len(blob):
        raise ValueError("state record keys truncated")
    st.trusted = [bytes(blob[o + POINT * i:o + POINT * i + POINT]) for i in range(nt)]
    o += POINT * nt
    st.revoked = [bytes(blob[o + KID * i:o + KID * i + KID]) for i in range(nr)]
    o += KID * nr
    n = struct.unpack_from(">H", blob, o)[0]
    if o + 2 + n + 4 != len(blob):
        raise ValueError("state record permit length %d does not fit" % n)
    st.permit = bytes(blob[o + 2:o + 2 + n])
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


def intact(blob):
    """True when `blob` decodes as a state record."""
    try:
        decode(blob)
    except ValueError:
        return False
    return True
