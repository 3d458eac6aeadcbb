# armlock wire messages: the type codes, the schemas of the messages a running lock sends
# on its own (EVENT, OK, ERROR) and the schema step of encoding and decoding. The leaf of
# protocols/messages.py (the encoder a lock keeps; it re-exports all of this) and
# protocols/message_set.py (the whole set, imported when a host sends a frame): neither
# imports the other at module level, and message_set never imports messages.
# MicroPython and CPython.

from protocols import schema as _schema
from protocols.errors import E_UNKNOWN_TYPE, MessageError, kind_of, message_error

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

# Failure texts: index in protocols/wire_texts.py TEXTS (private consts: no name on
# the device; tests/test_error_texts.py checks each against the name it has there).
_T_EXPECTED = const(5)
_T_MISSING = const(10)
_T_KIND_TYPE = const(12)
_T_KIND_VALUE = const(13)

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


def specs_of(typ, sch, fields):
    """(specs, path, kind) of a message of type typ with schema sch (None: unknown type,
    MessageError); a union member is chosen by the field "kind"."""
    if sch is None:
        raise MessageError("unknown message type 0x%02x" % typ, E_UNKNOWN_TYPE)
    name = sch[0]
    specs = sch[2]
    if type(specs) is dict:
        if type(fields) is not dict:
            raise message_error(_T_EXPECTED, name, "map", kind_of(fields))
        if "kind" not in fields:
            raise message_error(_T_MISSING, name, "kind")
        kind = fields["kind"]
        if type(kind) is not str:
            raise message_error(_T_KIND_TYPE, name, kind_of(kind))
        sub = specs.get(kind)
        if sub is None:
            raise message_error(_T_KIND_VALUE, name, kind, ", ".join(sorted(specs)))
        return sub, "%s(%s)" % (name, kind), kind
    return specs, name, None


def encode_fields(typ, sch, fields):
    """The CBOR map of fields checked against schema sch (not sealed, no size limit)."""
    specs, path, kind = specs_of(typ, sch, fields)
    present = _schema.check_map(specs, fields, path, "kind" if kind is not None else None)
    out = bytearray()
    _schema.encode_map(out, specs, fields, present, kind)
    return bytes(out)
