# Permit token: the decoded Permit, its error and the codes of the format
# (protocols/SPEC.md). The leaf of the three permit modules: protocols/permit.py (what a
# running lock holds; it re-exports all of this), protocols/permit_decode.py and
# protocols/permit_encode.py import it, so neither imports permit.py. MicroPython and
# CPython.

import hashlib

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

VERSION = const(2)
SIG_LEN = const(64)
KID_LEN = const(8)
MAX_KEYS = const(3)    # authority keys a device trusts at once

KIND_PERMIT = const(1)
KIND_RECALL = const(2)
KIND_RESET = const(3)
KIND_KEYS = const(4)

MODE_ANY = const(0)
MODE_ALL = const(1)
MODE_KOFN = const(2)

# Credential factors (bits of factor_mask) and rule modes: defined here only; the core,
# the CLI, the HIL fixtures and the simulator all take them from protocols.permit.
F_RFID = const(1)
F_FINGER = const(2)

NO_KID = bytes(KID_LEN)  # key update: no key revoked


class PermitError(ValueError):
    """A token that is malformed, truncated, forged or for another device."""


class Permit:
    """A decoded token. Rings are array('i') of flattened [lat0, lon0, lat1, lon1, ...]."""

    def __init__(self):
        self.version = VERSION
        self.kind = KIND_PERMIT
        self.device_id = ""
        self.serial = 0
        self.not_before = 0
        self.not_after = 0
        self.fail_enabled = False
        self.max_unlock_s = 0
        self.rule_mode = MODE_ANY
        self.factor_mask = 0
        self.k = 0
        self.window_s = 0
        self.holders = []
        self.zones = []
        self.rfid_index = {}
        self.finger_index = {}
        self.card_keys = {}   # rfid hex -> 16-byte wrapped card key (UID-only: absent)
        self.key_id = b""
        self.added = b""      # key update: the 65-byte point trusted from now on
        self.revoked = b""    # key update: the key id no longer trusted (zeros: none)
        self.verified = False
        self.signature = b""
        self.digest = b""     # SHA-256 of the signed bytes (dedupe; not the signature)
        self.boxes = None  # geo.zone_boxes(zones), set by the controller on first use

    def __repr__(self):
        return "<Permit kind=%d device=%s serial=%d [%d, %d] holders=%d zones=%d>" % (
            self.kind, self.device_id, self.serial, self.not_before, self.not_after,
            len(self.holders), len(self.zones))


def key_id(point):
    """The 8-byte id of a 65-byte public point: SHA-256 of it, first 8 bytes."""
    return hashlib.sha256(point).digest()[:KID_LEN]
