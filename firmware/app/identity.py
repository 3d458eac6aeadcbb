# Device identity: the one policy for a board nobody provisioned, and the identity-file
# format (MicroPython and CPython). The ESP32 port keeps the identity in NVS
# (firmware/ports/esp32/nvs.py) and falls back to this file off-ESP32; the virtual board
# keeps it in its storage directory. Both resolve it here:
#
#     device_id, key, authority = resolve(mode, stored)
#         # stored: (device_id, key[, authority]) or None
#
# key: the board's own 32-byte secret (seals rig commands; derives the key that unwraps
# the card keys in permits for this board: protocols/SPEC.md "Secrets"). authority: the
# 65-byte public points of the authority keys the board trusts when first booted (signed
# key updates change the trust later, in the state record). Nothing here can sign.
#
# Policy: a provisioned board uses its identity in every mode. Unprovisioned, a dev build
# takes the public development identity below (anyone can derive its key: dev use only);
# a production or rig build has no identity: key None, so the core refuses every token
# with "device not provisioned" (audited) and the lock stays locked. Nothing
# authenticates to it; provisioning it is the only way forward.
#
# identity.json = {"device_id": str (1..64 characters), "key": hex of 32 bytes,
#                  "authority": [hex of a 65-byte point, ...] (0..3; absent: none)}

import json
from binascii import hexlify, unhexlify

from protocols import crypto

FILE = "identity.json"
DEV_DEVICE_ID = "AL-VIRT-0001"      # the development identity (public: dev builds only)
DEV_MASTER = bytes(range(32))       # its master key; the device key is derived from it
# The public development authority's key (armlock/authority/signer.py dev_signer: its
# private key is derived from a published string, so dev boards trust anyone).
DEV_AUTHORITY = unhexlify(
    "04b6df40a1c8962001f642f79d8b119755f868e32be31ec9326eb218ade2dedeb45b41209cf62552d8e1"
    "28444cee32dae90fda5d536c66c29b6ce160ef0f0782b6")
MAX_AUTHORITY = 3
UNPROVISIONED = "UNPROVISIONED"     # device id of a production/rig board without identity


def dev_identity():
    """(device_id, key, authority) of the public development identity."""
    return DEV_DEVICE_ID, crypto.device_key(DEV_MASTER, DEV_DEVICE_ID), (DEV_AUTHORITY,)


def resolve(mode, stored):
    """(device_id, key, authority) the board runs with; key None = unprovisioned (see the
    header). An identity stored without authority keys trusts none: every token is
    refused until the board is provisioned again."""
    if stored is not None:
        return stored[0], stored[1], tuple(stored[2]) if len(stored) > 2 else ()
    if mode == "dev":
        return dev_identity()
    return UNPROVISIONED, None, ()


def check(device_id, key, authority=()):
    """ValueError unless this is a storable identity."""
    if type(device_id) is not str or not 1 <= len(device_id) <= 64:
        raise ValueError("device id must be 1..64 characters")
    if len(key) != 32:
        raise ValueError("device key must be 32-byte (64 hex digits)")
    if len(authority) > MAX_AUTHORITY:
        raise ValueError("at most %d authority keys" % MAX_AUTHORITY)
    for pt in authority:
        if len(pt) != 65 or pt[0] != 4:
            raise ValueError("authority key must be a 65-byte uncompressed P-256 point")


def encode(device_id, key, authority=()):
    """identity.json bytes."""
    check(device_id, key, authority)
    return json.dumps({"device_id": device_id, "key": hexlify(key).decode(),
                       "authority": [hexlify(pt).decode() for pt in authority]}).encode()


def decode(data):
    """(device_id, key, authority) from identity.json bytes; ValueError naming what is
    wrong."""
    try:
        d = json.loads(data)
        dev, key = d["device_id"], unhexlify(d["key"])
        auth = tuple([unhexlify(h) for h in d.get("authority", ())])
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ValueError("%s: damaged" % FILE)
    try:
        check(dev, key, auth)
    except ValueError as exc:
        raise ValueError("%s: %s" % (FILE, exc))
    return dev, key, auth


def wrap_key(key, device_id):
    """The key that unwraps the card keys in permits for this board (16 bytes):
    HKDF-SHA256(key, salt "armlock/v2", info "card-wrap:" + device id)."""
    return crypto.hkdf_sha256(key, b"armlock/v2", b"card-wrap:" + device_id.encode(), 16)
