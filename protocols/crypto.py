# HMAC-SHA256 (RFC 2104), HKDF-SHA256 (RFC 5869) and the armlock device-key derivation.
#
# Runs on MicroPython and CPython and needs only hashlib: the ESP32 MicroPython build has
# no `hmac` module. Every device gets its own key, diversified from the authority master
# key with HKDF and the device id, so a key read out of one lock opens no other lock.

import hashlib

try:
    from micropython import const  # pyright: ignore[reportAssignmentType]
except ImportError:  # CPython
    def const(x):
        return x

_BLOCK = const(64)  # SHA-256 block size in bytes
_IPAD = const(0x36)
_OPAD = const(0x5C)

DEVICE_KEY_SALT = b"armlock/v1"
DEVICE_KEY_INFO = b"device:"


def _pads(key):
    # RFC 2104: keys longer than the block are hashed first, then zero-padded.
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    ipad = bytearray(_BLOCK)
    opad = bytearray(_BLOCK)
    n = len(key)
    for i in range(_BLOCK):
        b = key[i] if i < n else 0
        ipad[i] = b ^ _IPAD
        opad[i] = b ^ _OPAD
    return ipad, opad


_last = [None, None, None]  # the pads of the last key used: a device uses one key


def hmac_sha256(key, msg):
    """HMAC-SHA256 of msg under key (both bytes-like); returns 32 bytes."""
    key = bytes(key)
    if key != _last[0]:
        _last[1], _last[2] = _pads(key)
        _last[0] = key
    ipad, opad = _last[1], _last[2]
    inner = hashlib.sha256(ipad)
    inner.update(msg)
    outer = hashlib.sha256(opad)
    outer.update(inner.digest())
    return outer.digest()


def hkdf_sha256(ikm, salt, info, length):
    """HKDF-SHA256 extract-then-expand (RFC 5869); returns `length` bytes (<= 8160)."""
    if length < 0 or length > 255 * 32:
        raise ValueError("hkdf length out of range")
    if not salt:
        salt = bytes(32)
    prk = hmac_sha256(salt, ikm)
    out = bytearray()
    t = b""
    i = 1
    while len(out) < length:
        t = hmac_sha256(prk, t + info + bytes((i,)))
        out.extend(t)
        i += 1
    return bytes(out[:length])


def device_key(master, device_id):
    """The 32-byte key of one device: HKDF(master, salt "armlock/v1", info "device:" + id)."""
    if isinstance(device_id, str):
        device_id = device_id.encode()
    return hkdf_sha256(master, DEVICE_KEY_SALT, DEVICE_KEY_INFO + device_id, 32)


def ct_equal(a, b):
    """Compare two byte strings in time that depends only on their lengths."""
    if len(a) != len(b):
        return False
    diff = 0
    for i in range(len(a)):
        diff |= a[i] ^ b[i]
    return diff == 0
