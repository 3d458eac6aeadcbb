# Audit records, the side a lock runs: the codes and the chain that numbers and links
# each record (the record layout: protocols/audit.py). Hosts and the boot's recovery
# read records through protocols/audit.py (encode, decode, verify), which re-exports
# these names; a running lock only writes, so it holds this module alone and the port
# frees the reader (firmware/ports/esp32/trim.py).

import hashlib
import struct

# The record's code byte: name -> number (the numbers are the format; protocols/audit.py
# makes CODES, the names in number order, for hosts). A dict literal: its short names are
# interned, where a tuple constant in a .mpy would hold a heap string object per name.
CODE = {
    "boot": 1, "unlock": 2, "relock": 3, "cred_ok": 4, "cred_reject": 5, "deny": 6,
    "lockout": 7, "permit_loaded": 8, "permit_refused": 9, "recall": 10, "tamper": 11,
    "tamper_reset": 12, "battery": 13, "gnss": 14, "fix_implausible": 15, "time": 16,
    "fail_profile": 17, "state": 18, "zone": 19, "reset_refused": 20, "actuator": 21,
    "fault": 22, "command_refused": 23, "key_update": 24,
}

MAX_DETAIL = 80
HEAD_LEN = 10
HASH_LEN = 32
_pack, _sha256 = struct.pack, hashlib.sha256  # bound once: Chain.append runs per record


def genesis(device_id):
    """The chain's starting hash for one device."""
    return _sha256(b"armlock-audit/v1:" + device_id.encode()).digest()


class Chain:
    """Device side: numbers and links records. State is (seq, head) only."""

    def __init__(self, device_id, seq=0, head=None):
        self.seq = seq
        self.head = head if head is not None else genesis(device_id)

    def append(self, time_s, code, detail):
        """Return the encoded record for (time, code, detail) and advance the chain
        (audit.encode, inlined: one record per audited event)."""
        self.seq = seq = self.seq + 1
        d = detail.encode()
        n = len(d)
        if n > 80:  # MAX_DETAIL
            d = d[:80]
            n = 80
        body = _pack(">IIBB", seq, time_s, CODE[code], n) + d
        self.head = h = _sha256(self.head + body).digest()
        return body + h
