# The sealed envelope of AUDIT_ACK, STIMULUS and REBOOT (protocols/SPEC.md, section 5):
#     counter u32 BE | payload | HMAC-SHA256(device_key, type|counter|payload)[:16]
# A device refuses a counter not above the last one it accepted; the tag is checked first.

import struct

from protocols.crypto import ct_equal, hmac_sha256
from protocols.errors import E_AUTH, E_REPLAY, MessageError

TAG_LEN = 16
SEAL_OVERHEAD = 4 + TAG_LEN


def _mac(key, typ, counter, body):
    msg = bytearray(struct.pack(">BI", typ, counter))
    msg += body
    return hmac_sha256(key, msg)[:TAG_LEN]


def seal(key, counter, typ, payload):
    """counter u32 | payload | HMAC-SHA256(key, type|counter|payload)[:16]."""
    if type(counter) is not int or not 1 <= counter <= 0xFFFFFFFF:
        raise MessageError("seal: counter must be an int 1..4294967295, got %r" % (counter,))
    out = bytearray(struct.pack(">I", counter))
    out += payload
    out += _mac(key, typ, counter, payload)
    return bytes(out)


def open_sealed(key, last_counter, typ, data, name=None):
    """Check a sealed payload; returns (counter, payload) or raises MessageError (E_AUTH/E_REPLAY)
    naming the message `name` (default: its type code).

    The tag is checked before the counter, so an unauthenticated sender learns nothing
    about the device's counter.
    """
    if name is None:
        name = "0x%02x" % typ
    if len(data) < SEAL_OVERHEAD:
        raise MessageError("%s: sealed payload too short (%d bytes < %d)"
                           % (name, len(data), SEAL_OVERHEAD), E_AUTH)
    counter = struct.unpack_from(">I", data, 0)[0]
    body = bytes(data[4:len(data) - TAG_LEN])
    tag = bytes(data[len(data) - TAG_LEN:])
    if not ct_equal(tag, _mac(key, typ, counter, body)):
        raise MessageError("%s: auth tag mismatch (wrong key or altered command)" % name, E_AUTH)
    if counter <= last_counter:
        raise MessageError("replayed command (counter %d <= %d)" % (counter, last_counter),
                           E_REPLAY)
    return counter, body
