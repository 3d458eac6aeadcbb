# CBOR, the subset the wire messages use (RFC 8949: unsigned/negative ints, byte and text
# strings, arrays, maps with str keys, false/true/null; definite lengths only). The
# encoder is deterministic (shortest heads, map keys sorted by length then bytes, the
# RFC 8949 4.2.1 order), so the same value gives the same bytes on MicroPython and
# CPython. Every failure is a MessageError (protocols/errors.py) saying where. The
# decoder is protocols/cbor_decode.py (cbor.decode reaches it), imported when a command
# is read: a lock that no host talks to only encodes.

import struct

from protocols.errors import (  # noqa: F401  (MAX_DEPTH, MessageError, kind_of: this API)
    MAX_DEPTH,
    MessageError,
    kind_of,
    message_error,
)

try:
    from micropython import const  # pyright: ignore[reportAssignmentType]
except ImportError:  # CPython
    def const(x):
        return x

# Failure texts: index in protocols/wire_texts.py TEXTS (private consts: no name on
# the device; tests/test_error_texts.py checks each against the name it has there).
_T_INT_RANGE = const(15)
_T_DEPTH = const(16)
_T_KEY_TYPE = const(17)
_T_ENCODE = const(18)


def head(out, major, n):
    m = major << 5
    if n < 24:
        out.append(m | n)
    elif n < 0x100:
        out.append(m | 24)
        out.append(n)
    elif n < 0x10000:
        out.append(m | 25)
        out += struct.pack(">H", n)
    elif n < 0x100000000:
        out.append(m | 26)
        out += struct.pack(">I", n)
    elif n < 0x10000000000000000:
        out.append(m | 27)
        out += struct.pack(">Q", n)
    else:
        raise message_error(_T_INT_RANGE)


def _key_order(k):
    return (len(k), k)


def encode_into(out, v, depth):
    if depth > MAX_DEPTH:
        raise message_error(_T_DEPTH, MAX_DEPTH)
    t = type(v)
    if v is None:
        out.append(0xF6)
    elif v is True:
        out.append(0xF5)
    elif v is False:
        out.append(0xF4)
    elif t is int:
        if v >= 0:
            head(out, 0, v)
        else:
            head(out, 1, -1 - v)
    elif t is bytes or t is bytearray:
        head(out, 2, len(v))
        out += v
    elif t is str:
        b = v.encode()
        head(out, 3, len(b))
        out += b
    elif t is list or t is tuple:
        head(out, 4, len(v))
        for x in v:
            encode_into(out, x, depth + 1)
    elif t is dict:
        keys = []
        for k in v:
            if type(k) is not str:
                raise message_error(_T_KEY_TYPE, k)
            keys.append(k.encode())
        keys.sort(key=_key_order)
        head(out, 5, len(keys))
        for kb in keys:
            head(out, 3, len(kb))
            out += kb
            encode_into(out, v[kb.decode()], depth + 1)
    else:
        raise message_error(_T_ENCODE, kind_of(v))


def encode(v):
    """Deterministic CBOR of None/bool/int/bytes/str/list/dict(str keys)."""
    out = bytearray()
    encode_into(out, v, 0)
    return bytes(out)


def __getattr__(name):
    # decode (protocols/cbor_decode.py: what reads commands), imported on first use.
    if name[:2] == "__":
        raise AttributeError(name)
    from protocols import cbor_decode
    return getattr(cbor_decode, name)
