# The persistent state record: everything that must survive a power cut, in one
# versioned blob with a CRC-32. The port writes it so that a cut leaves the old or
# the new record (two slots, new file then rename); the core only encodes (here, on
# every persist) and decodes (recovery.decode_state: at boot only, off the resident
# heap). The permit token is not in it (it changes rarely, the record on every audited
# event): the core writes the token to one of two permit slots (SAVE_PERMIT, always the
# slot the durable record does not reference, before the PERSIST of the record that
# references it) and the record names the slot, the token's length and its CRC-32.
#
# Layout, big-endian:
#   0  4   magic b"ALST"
#   4  1   version = 3 (older versions are decoded and migrated, see recovery.py:
#          2 = the same up to the keys, then permit length u16 and the token inline;
#          1 = the same up to the audit head, then a format-1 permit, dropped)
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
#   .. 1   permit slot S (0 or 1) holding the token
#   .. 2   permit length P (0 = none)
#   .. 4   CRC-32 (IEEE) of the P token bytes in slot S (0 when P = 0)
#   .. 4   CRC-32 (IEEE) of every byte before it
# 74 bytes without key updates, at most 301.

import binascii
import struct

MAGIC = b"ALST"
VERSION = 3
SOURCES = ("", "enclosure", "magnet", "actuator")
HEAD = ">4sBBBBBIIIII32s"  # the fields up to the audit head (61 bytes)
REF = ">BHI"               # the permit reference: slot, length, CRC-32 (7 bytes)
_FLAT = HEAD + "2sBHI"     # head, key counts 0/0, the reference: a record without keys
_NO_KEYS = b"\x00\x00"
_pack = struct.pack  # bound once: encode runs on every persist

_FAST_CRC = getattr(binascii, "crc32", None)  # looked up once: called on every persist


def crc32(data, crc=0):
    """CRC-32 (IEEE 802.3, as zlib.crc32; crc: of the bytes before `data`): binascii's
    when the port has it."""
    if _FAST_CRC is not None:
        return _FAST_CRC(data, crc) & 0xFFFFFFFF
    from firmware.core.crc import crc32_slow  # a port without it (crc.py)
    return crc32_slow(data, crc)


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
        self.trusted = []     # 65-byte authority points, as key updates left them
        self.revoked = []     # 8-byte key ids revoked by key updates (most recent last)
        self.slot = 0         # the permit reference: slot, token length (0: none), CRC-32
        self.plen = 0
        self.pcrc = 0
        self.permit = b""     # decode of a version-2 record only: its token (boot moves it)
        self.migrated = 0     # decode: the record version this one was migrated from
        self.dropped = 0      # decode of a version-1 record: serial of the permit dropped


def encode(st):
    """Return the record bytes for State `st` (called on every audited event: one pack,
    a plain one without key updates)."""
    tamper, fails, level = st.tamper, st.fails, st.lock_level
    tr, rv = st.trusted, st.revoked
    fmt, keys = _FLAT, _NO_KEYS
    if tr or rv:
        keys = bytes((len(tr), len(rv))) + b"".join([bytes(k) for k in tr + rv])
        fmt = HEAD + "%dsBHI" % len(keys)
    rec = _pack(
        fmt, MAGIC, VERSION, (1 if st.recalled else 0) | (2 if tamper else 0),
        SOURCES.index(tamper) if tamper else 0, fails if fails < 255 else 255,
        level if level < 255 else 255, st.lockout_until, st.serial_floor, st.cmd_floor,
        st.time_floor, st.audit_seq, st.audit_head, keys, st.slot, st.plen, st.pcrc)
    return rec + _pack(">I", crc32(rec))
