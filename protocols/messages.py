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
# protocols/msg_types.py (the leaf both import), re-exported here.

from protocols.errors import (  # noqa: F401  (the ERROR codes are part of this API)
    E_AUTH,
    E_BAD_FRAME,
    E_BAD_MESSAGE,
    E_BUSY,
    E_INTERNAL,
    E_MODE,
    E_REFUSED,
    E_REPLAY,
    E_UNKNOWN_TYPE,
    MessageError,
)
from protocols.frame import MAX_PAYLOAD
from protocols.frame import encode as _frame_encode
from protocols.msg_types import (  # noqa: F401  (type codes and schemas: part of this API)
    AUDIT_ACK,
    AUDIT_READ,
    AUDIT_RECORDS,
    ERROR,
    EVENT,
    EVENT_KINDS,
    INFO,
    INFO_REPLY,
    LOAD_PERMIT,
    OK,
    PING,
    PROTO_VERSION,
    REBOOT,
    RECALL,
    SCHEMA_ERROR,
    SCHEMA_EVENT,
    SCHEMA_OK,
    STATUS,
    STATUS_REPLY,
    STIMULUS,
    TAMPER_RESET,
    U32,
    U64,
    encode_fields,
)


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
        raise MessageError("%s: payload too long (%d bytes > %d)"
                           % (sch[0], len(body), MAX_PAYLOAD))
    return body


def encode_msg(typ, seq, fields=None, key=None, counter=None):
    """A full frame (0x00-delimited COBS) carrying the message."""
    if fields is None:
        fields = {}
    return _frame_encode(typ, seq, encode_payload(typ, fields, key, counter))


def __getattr__(name):
    # The rest of the message set (protocols/message_set.py), imported on first use.
    if name[:2] == "__":
        raise AttributeError(name)
    from protocols import message_set
    return getattr(message_set, name)
