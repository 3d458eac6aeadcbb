# armlock wire messages (protocols/SPEC.md): the type codes, the messages a running lock
# sends on its own (EVENT, OK, ERROR) and the encoder of every message. MicroPython and
# CPython.
#
# The rest of the message set (the schema of every command and reply, decode, ERROR
# fields, STIMULUS -> core event) is protocols/message_set.py, imported when a host sends
# a frame; its names are reachable here too (messages.decode_msg, messages.SCHEMAS, ...),
# loaded on first use. A payload is one CBOR map checked against its schema
# (protocols/schema.py); sealed types (AUDIT_ACK, STIMULUS, REBOOT) are wrapped by
# protocols/seal.py. The type codes, the three schemas above and the schema step are in
# protocols/msg_types.py (the leaf both import), the ERROR codes in protocols/errors.py;
# all are reachable here (messages.INFO, messages.E_AUTH, ...).

from protocols import errors as _errors
from protocols import msg_types as _types
from protocols.errors import E_AUTH, MessageError, message_error
from protocols.frame import MAX_PAYLOAD
from protocols.frame import encode as _frame_encode
from protocols.msg_types import (
    ERROR,
    EVENT,
    OK,
    SCHEMA_ERROR,
    SCHEMA_EVENT,
    SCHEMA_OK,
    encode_fields,
)

try:
    from micropython import const  # pyright: ignore[reportAssignmentType]
except ImportError:  # CPython
    def const(x):
        return x

# Failure texts: index in protocols/wire_texts.py TEXTS (private consts: no name on
# the device; tests/test_error_texts.py checks each against the name it has there).
_T_TOO_LONG = const(14)


def _schema_of(typ):
    if typ == EVENT:
        return SCHEMA_EVENT
    if typ == OK:
        return SCHEMA_OK
    if typ == ERROR:
        return SCHEMA_ERROR
    from protocols import message_set
    return message_set.SCHEMAS.get(typ)


def encode_payload(typ, fields, key=None, counter=None):
    """Payload bytes of a message (sealed types need key and counter)."""
    sch = _schema_of(typ)
    sealed = sch is not None and sch[1]
    if sealed and type(fields) is dict and "counter" in fields:
        fields = dict(fields)
        c = fields.pop("counter")
        if counter is None:
            counter = c
    body = encode_fields(typ, sch, fields)
    if sealed:
        if key is None or counter is None:
            raise MessageError("%s is sealed: encoding needs key and counter" % sch[0],
                               E_AUTH)
        from protocols.seal import seal
        body = seal(key, counter, typ, body)
    if len(body) > MAX_PAYLOAD:
        raise message_error(_T_TOO_LONG, sch[0], len(body), MAX_PAYLOAD)
    return body


def encode_msg(typ, seq, fields=None, key=None, counter=None):
    """A full frame (0x00-delimited COBS) carrying the message."""
    if fields is None:
        fields = {}
    return _frame_encode(typ, seq, encode_payload(typ, fields, key, counter))


def __getattr__(name):
    # The type codes and schemas (protocols/msg_types.py) and the ERROR codes
    # (protocols/errors.py), not copied here (heap); then the rest of the message set
    # (protocols/message_set.py), imported on first use.
    if name[:2] == "__":
        raise AttributeError(name)
    v = getattr(_types, name, _errors)
    if v is _errors:
        v = getattr(_errors, name, _errors)
    if v is not _errors:
        return v
    from protocols import message_set
    return getattr(message_set, name)
