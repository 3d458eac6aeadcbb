# Device identity: the one policy for a board nobody provisioned, and the identity-file
# format (MicroPython and CPython). The ESP32 port keeps the identity in NVS
# (firmware/ports/esp32/nvs.py) and falls back to this file off-ESP32; the virtual board
# keeps it in its storage directory. Both resolve it here:
#
#     device_id, key = resolve(mode, stored)   # stored: (device_id, key) or None
#
# Policy: a provisioned board uses its identity in every mode. Unprovisioned, a dev build
# takes the public development identity below (anyone can derive its key: dev use only);
# a production or rig build has no identity: key None, so the core refuses every token
# with "device not provisioned" (audited) and the lock stays locked. Nothing
# authenticates to it; provisioning it is the only way forward.
#
# identity.json = {"device_id": str (1..64 characters), "key": hex of 32 bytes}

import json
from binascii import hexlify, unhexlify

from protocols import crypto

FILE = "identity.json"
DEV_DEVICE_ID = "AL-VIRT-0001"      # the development identity (public: dev builds only)
DEV_MASTER = bytes(range(32))       # its master key; the device key is derived from it
UNPROVISIONED = "UNPROVISIONED"     # device id of a production/rig board without identity


def dev_identity():
    """(device_id, key) of the public development identity."""
    return DEV_DEVICE_ID, crypto.device_key(DEV_MASTER, DEV_DEVICE_ID)


def resolve(mode, stored):
    """(device_id, key) the board runs with; key None = unprovisioned (see the header)."""
    if stored is not None:
        return stored
    if mode == "dev":
        return dev_identity()
    return UNPROVISIONED, None


def check(device_id, key):
    """ValueError unless this is a storable identity."""
    if type(device_id) is not str or not 1 <= len(device_id) <= 64:
        raise ValueError("device id must be 1..64 characters")
    if len(key) != 32:
        raise ValueError("device key must be 32-byte (64 hex digits)")


def encode(device_id, key):
    """identity.json bytes."""
    check(device_id, key)
    return json.dumps({"device_id": device_id, "key": hexlify(key).decode()}).encode()


def decode(data):
    """(device_id, key) from identity.json bytes; ValueError naming what is wrong."""
    try:
        d = json.loads(data)
        dev, key = d["device_id"], unhexlify(d["key"])
    except (ValueError, KeyError, TypeError):
        raise ValueError("%s: damaged" % FILE)
    try:
        check(dev, key)
    except ValueError as exc:
        raise ValueError("%s: %s" % (FILE, exc))
    return dev, key
