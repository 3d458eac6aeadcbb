# armlock wire messages (protocols/SPEC.md): the type codes, the messages a running lock
# sends on its own (EVENT, OK, ERROR) and the encoder of every message. MicroPython and
# CPython.
#
# The rest of the message set (the schema of every command and reply, decode, ERROR
# fields, STIMULUS -> core event) is protocols/message_set.py, imported when a host sends
# a frame; its names are reachable here too (messages.decode_msg, messages.SCHEMAS, ...),
# loaded on first use. A payload is one CBOR map checked against its schema
# (protocols/schema.py); sealed types (AUDIT_ACK, STIMULUS, REBOOT) are wrapped by
# protocols/seal.py.

from protocols import schema as _schema
from protocols.cbor import kind_of as _kind_of
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

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

PROTO_VERSION = const(1)

# -- type codes (bit 7 set: device -> host) ----------------------------------------------
INFO = const(0x01)
STATUS = const(0x02)
PING = const(0x03)
LOAD_PERMIT = const(0x10)
RECALL = const(0x11)
TAMPER_RESET = const(0x12)
AUDIT_READ = const(0x20)
AUDIT_ACK = const(0x21)
STIMULUS = const(0x30)
REBOOT = const(0x31)

INFO_REPLY = const(0x81)
STATUS_REPLY = const(0x82)
AUDIT_RECORDS = const(0x84)
OK = const(0x85)
ERROR = const(0x86)
EVENT = const(0x87)

U32 = (0, 0xFFFFFFFF)
U64 = (0, 0xFFFFFFFFFFFFFFFF)

# Field specs (protocols/schema.py), listed in CBOR key order (shorter name first, then
# bytewise): the encoder writes them in list order, which makes the encoding
# deterministic (tests check the order). A tagged union: field "kind" picks the member.
EVENT_KINDS = {
    "actuate": (("locked", "bool", 0, None), ("reason", "str", 0, None),
                ("device_ms", "int", 0, U64), ("latency_us", "int", 0, U32)),
    "indicate": (("what", "str", 0, None), ("device_ms", "int", 0, U64)),
    "answer": (("ok", "bool", 0, None), ("device_ms", "int", 0, U64)),
    "audit": (("seq", "int", 0, U32),),
    "boot": (("device_ms", "int", 0, U64), ("reset_cause", "str", 0, None)),
    "log": (("text", "str", 0, None),),
}

# (name, sealed, fields) of the three (message_set.SCHEMAS has every type)
SCHEMA_OK = ("OK", 0, ())
SCHEMA_ERROR = ("ERROR", 0, (("code", "int", 0, (1, 255)), ("message", "str", 0, None)))
SCHEMA_EVENT = ("EVENT", 0, EVENT_KINDS)


def _schema_of(typ):
    if typ == EVENT:
        return SCHEMA_EVENT
    if typ == OK:
        return SCHEMA_OK
    if typ == ERROR:
        return SCHEMA_ERROR
    from protocols import message_set
    return message_set.SCHEMAS.get(typ)


def _specs_for(typ, fields):
    # (specs, path, kind) for a message type; a union member is chosen by "kind".
    sch = _schema_of(typ)
    if sch is None:
        raise MessageError("unknown message type 0x%02x" % typ, E_UNKNOWN_TYPE)
    name = sch[0]
    specs = sch[2]
    if type(specs) is dict:
        if type(fields) is not dict:
            raise MessageError("%s: expected map, got %s" % (name, _kind_of(fields)))
        if "kind" not in fields:
            raise MessageError("%s: missing field 'kind'" % name)
        kind = fields["kind"]
        if type(kind) is not str:
            raise MessageError("%s.kind: expected str, got %s" % (name, _kind_of(kind)))
        sub = specs.get(kind)
        if sub is None:
            raise MessageError("%s.kind: '%s' is not one of %s"
                               % (name, kind, ", ".join(sorted(specs))))
        return sub, "%s(%s)" % (name, kind), kind
    return specs, name, None


def encode_payload(typ, fields, key=None, counter=None):
    """Payload bytes of a message (sealed types need key and counter)."""
    sch = _schema_of(typ)
    sealed = sch is not None and sch[1]
    if sealed and type(fields) is dict and "counter" in fields:
        fields = dict(fields)
        c = fields.pop("counter")
        if counter is None:
            counter = c
    specs, path, kind = _specs_for(typ, fields)
    present = _schema.check_map(specs, fields, path, "kind" if kind is not None else None)
    out = bytearray()
    _schema.encode_map(out, specs, fields, present, kind)
    body = bytes(out)
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
