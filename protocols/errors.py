# The error of the wire message layers (cbor, schema, seal, messages), the ERROR codes a
# device replies with (protocols/SPEC.md, ERROR codes), and what the CBOR encoder
# (protocols/cbor.py) and decoder (protocols/cbor_decode.py) share: the nesting limit and
# kind_of (the type name an error gives); and the P-256 error and sizes that
# protocols/p256.py and protocols/p256_math.py share. A leaf: it imports nothing but the
# wording of an error (protocols/wire_texts.py, when one is raised). MicroPython and
# CPython.

E_UNKNOWN_TYPE = 1   # type code not known, or not a host->device command
E_BAD_MESSAGE = 2    # payload not CBOR, or a field missing / of the wrong type / out of range
E_AUTH = 3           # sealed command: auth tag wrong or envelope malformed
E_REPLAY = 4         # sealed command: counter not above the last accepted one
E_MODE = 5           # command not allowed in the device's mode (STIMULUS/REBOOT outside rig/dev)
E_REFUSED = 6        # the lock core refused it (bad permit, stale serial, ...); message says why
E_BUSY = 7           # device cannot take it now; retry later
E_INTERNAL = 8       # device fault while handling it
E_BAD_FRAME = 9      # bytes between delimiters that are not a frame (CRC, COBS, size); seq 0
# (their names: protocols/message_set.py ERROR_NAMES)


class MessageError(ValueError):
    """Bad message; str() names the message and field, .code is the ERROR code to reply."""

    def __init__(self, message, code=E_BAD_MESSAGE):
        super().__init__(message)
        self.message = message
        self.code = code

    def __str__(self):
        return self.message


def message_error(text, *args):
    """A MessageError (E_BAD_MESSAGE) with TEXTS[text] (protocols/wire_texts.py, imported
    on an error only; the caller's _T_* const) formatted with args."""
    try:
        from protocols.wire_texts import TEXTS
    except MemoryError:  # no heap to word it: refused all the same, tersely
        return MessageError("bad message (text %d)" % text)
    return MessageError(TEXTS[text] % args)


SIG_LEN = 64      # P-256 signature: raw r || s
KEY_ID_LEN = 8    # P-256 key id: SHA-256 of the uncompressed point, first 8 bytes


class P256Error(ValueError):
    """A public key or signature that is malformed (not a verification failure)."""


MAX_DEPTH = 6   # deepest CBOR nesting the encoder writes and the decoder reads


def kind_of(v):
    """The wire name of v's type (for error messages): null, bool, int, str, ..."""
    if v is None:
        return "null"
    t = type(v)
    if t is bool:
        return "bool"
    if t is int:
        return "int"
    if t is str:
        return "str"
    if t is bytes or t is bytearray:
        return "bytes"
    if t is list or t is tuple:
        return "list"
    if t is dict:
        return "map"
    return t.__name__
