# The on-flash formats of firmware/app/store.py (its header describes them) and what
# every store knows of its audit ring: a leaf that store.py (which re-exports it),
# store_scan.py and memstore.py import, so neither imports store.py. MicroPython and
# CPython.

import struct

SLOT_MAGIC = b"ALSL"
SLOTS = ("state.a", "state.b")
RING = "audit.ring"
ACK = "audit.ack"
IDENTITY = "identity.json"  # identity.FILE
CAPACITY = 512
SLOT = 128
REC_MIN = 42      # audit record: 10 head + 0 detail + 32 hash
REC_MAX = 122     # 10 head + 80 detail + 32 hash
MAX_STATE = 512   # a state record is 74..301 bytes (firmware/core/state.py)
PERMITS = ("permit0", "permit1")  # the permit slots 0 and 1 (SAVE_PERMIT)
MAX_PERMIT = 65535  # the record's permit length field (u16)


def rec_seq(rec):
    """Sequence number of an audit record (its first 4 bytes, big-endian)."""
    return struct.unpack_from(">I", rec, 0)[0]


class Ring:
    """What every store knows of its audit ring from `tail`, `capacity` and `ack`."""

    def __init__(self, capacity):
        self.capacity = capacity
        self.tail = None          # (seq, hash) of the newest stored record
        self.ack = 0              # highest seq the host acknowledged

    def last_seq(self):
        """Sequence number of the newest stored audit record (0 if none)."""
        return self.tail[0] if self.tail is not None else 0

    def first_seq(self):
        """Oldest sequence number the ring can still hold (1 until it wraps)."""
        last = self.last_seq()
        return last - self.capacity + 1 if last > self.capacity else 1

    def audit_tail(self):
        """(seq, hash) of the newest stored audit record, or None (for the boot event)."""
        return self.tail

    def lost(self):
        """Records overwritten by the ring before the host acknowledged them. (A method,
        not a property: on MicroPython a class with a property makes every attribute
        store on its instances look through the class first, and a store sets `tail` on
        every audit append.)"""
        gone = self.last_seq() - self.capacity
        return gone - self.ack if gone > self.ack else 0
