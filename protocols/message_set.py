# armlock wire messages: the whole message set (protocols/SPEC.md): the schema of every
# message, decode of whole messages, ERROR fields and STIMULUS -> core event. What a lock
# keeps while it runs (the type codes, the EVENT/OK/ERROR schemas and the encoder) is in
# protocols/messages.py, which also reaches every name here; a device imports this
# module when a host sends a frame (firmware/app/commands.py). Both take the type codes
# and the schema step from protocols/msg_types.py: this module never imports messages.py
# (its encoder: messages.encode_msg / encode_payload; the ERROR codes: protocols/errors.py).
#
# A payload is one CBOR map (protocols/cbor.py) from field name to value; each message type
# has a schema (checked by protocols/schema.py on encode and decode, MessageError naming
# the message and the field). AUDIT_ACK, STIMULUS and REBOOT are sealed
# (protocols/seal.py): counter u32 BE | CBOR map | HMAC-SHA256(device_key,
# type|counter|map)[:16], and a device refuses a counter not above the last it accepted.
# The names of those modules that hosts use are available here too, through __getattr__
# (the seal is imported only for a sealed command: LOAD_PERMIT does not load it).

from protocols import errors as _e
from protocols import msg_types as _t
from protocols import schema as _schema
from protocols.cbor_decode import decode as cbor_decode
from protocols.errors import MessageError
from protocols.frame import MAX_PAYLOAD, Decoder, FrameError
from protocols.msg_types import AUDIT_RECORDS, U32, U64, encode_fields, specs_of

try:
    from micropython import const  # pyright: ignore[reportAssignmentType]
except ImportError:  # CPython
    def const(x):
        return x

MODES = ("field", "rig", "dev")

# -- schemas (field specs: protocols/schema.py) ---------------------------------------------
_U8 = const((0, 0xFF))        # (private consts: no names on the device)
_U16 = const((0, 0xFFFF))
_LAT = const((-900000000, 900000000))
_LON = const((-1800000000, 1800000000))
TOKEN = (1, MAX_PAYLOAD)

# Fields are listed in CBOR key order (shorter name first, then bytewise): the encoder
# writes them in list order, which makes the encoding deterministic (tests check the order).
_PERMIT_SUMMARY = (
    ("zones", "list", 0, "str"),
    ("serial", "int", 0, U64),
    ("holders", "list", 0, "str"),
    ("not_after", "int", 0, U64),
    ("not_before", "int", 0, U64),
    ("fail_profile", "str", 0, ("fail-secure", "fail-enabled")),
)
_LOCKOUT = (("until", "int", 0, U64), ("failures", "int", 0, U32))
_TAMPER = (("source", "str", 1, None), ("latched", "bool", 0, None))
_FIX = (
    ("utc_s", "int", 1, U64),
    ("hacc_m", "int", 0, U32),
    ("lat_e7", "int", 0, _LAT),
    ("lon_e7", "int", 0, _LON),
)

# Tagged unions: field "kind" (sorted in among the others on the wire) picks the member.
STIMULUS_KINDS = {
    "fix": _FIX,
    "nmea": (("sentence", "str", 0, None),),
    "gnss": (("sats", "int", 0, _U8), ("cn0_dbhz", "int", 0, (-1, 0xFF)),
             ("nofix_ms", "int", 0, (-1, 0xFFFFFFFF)), ("silent_ms", "int", 0, U32)),
    "rfid": (("cred", "str", 0, None), ("rtt_us", "int", 0, U32), ("strong", "bool", 0, None)),
    "rfid_fail": (("why", "str", 0, None),),
    "finger": (("score", "int", 0, U32), ("template", "int", 0, _U16)),
    "finger_fail": (("why", "str", 0, None),),
    "grip": (("held", "bool", 0, None),),
    "tamper": (("source", "str", 0, ("enclosure", "magnet")),),
    "battery": (("mv", "int", 0, _U16),),
    "time": (("utc_s", "int", 0, U64),),
    "actpos": (("locked", "bool", 0, None),),
    "fault": (("ok", "bool", 0, None),
              ("sensor", "str", 0, ("rfid", "finger", "gnss", "actuator"))),
}

# type -> (name, sealed, fields) ; fields is a tuple of specs or a {kind: specs} union
SCHEMAS = {
    _t.INFO: ("INFO", 0, ()),
    _t.STATUS: ("STATUS", 0, ()),
    _t.PING: ("PING", 0, ()),
    _t.LOAD_PERMIT: ("LOAD_PERMIT", 0, (("token", "bytes", 0, TOKEN),)),
    _t.RECALL: ("RECALL", 0, (("token", "bytes", 0, TOKEN),)),
    _t.TAMPER_RESET: ("TAMPER_RESET", 0, (("token", "bytes", 0, TOKEN),)),
    _t.AUDIT_READ: ("AUDIT_READ", 0, (("count", "int", 0, (1, 255)), ("from_seq", "int", 0, U32))),
    _t.AUDIT_ACK: ("AUDIT_ACK", 1, (("upto_seq", "int", 0, U32),)),
    _t.STIMULUS: ("STIMULUS", 1, STIMULUS_KINDS),
    _t.REBOOT: ("REBOOT", 1, ()),
    _t.INFO_REPLY: ("INFO_REPLY", 0, (
        ("mode", "str", 0, MODES), ("proto", "int", 0, _U16), ("runtime", "str", 0, None),
        ("device_id", "str", 0, None), ("fw_version", "str", 0, None))),
    _t.STATUS_REPLY: ("STATUS_REPLY", 0, (
        ("locked", "bool", 0, None),
        ("permit", "map", 1, _PERMIT_SUMMARY),
        ("tamper", "map", 0, _TAMPER),
        ("lockout", "map", 0, _LOCKOUT),
        ("reasons", "list", 0, "str"),
        ("last_fix", "map", 1, _FIX),
        ("battery_mv", "int", 0, _U16),
        ("last_counter", "int", 1, U32))),
    _t.AUDIT_RECORDS: ("AUDIT_RECORDS", 0, (
        ("more", "bool", 0, None), ("records", "list", 0, "bytes"),
        ("first_seq", "int", 0, U32))),
    _t.OK: _t.SCHEMA_OK,
    _t.ERROR: _t.SCHEMA_ERROR,
    _t.EVENT: _t.SCHEMA_EVENT,
}



def __getattr__(name):
    # Host API, built or imported on use (a device decoding a command needs none of it):
    # NAMES, SEALED, ERROR_NAMES; the type codes and schema step (protocols/msg_types.py),
    # the seal (protocols/seal.py), the CBOR encoder.
    if name == "NAMES":
        return {t: SCHEMAS[t][0] for t in SCHEMAS}
    if name == "SEALED":
        return tuple(t for t in SCHEMAS if SCHEMAS[t][1])
    if name == "ERROR_NAMES":  # ERROR code (protocols/errors.py) -> name (protocols/SPEC.md)
        return {_e.E_UNKNOWN_TYPE: "unknown_type", _e.E_BAD_MESSAGE: "bad_message",
                _e.E_AUTH: "auth_failed", _e.E_REPLAY: "replayed",
                _e.E_MODE: "not_allowed_in_mode", _e.E_REFUSED: "refused", _e.E_BUSY: "busy",
                _e.E_INTERNAL: "internal", _e.E_BAD_FRAME: "bad_frame"}
    if name == "cbor_encode":
        from protocols.cbor import encode
        return encode
    if name == "MAX_DEPTH":
        return _e.MAX_DEPTH
    if name in ("seal", "SEAL_OVERHEAD", "TAG_LEN"):
        from protocols import seal
        return getattr(seal, name)
    if name[:2] != "__" and hasattr(_t, name):
        return getattr(_t, name)
    raise AttributeError(name)


def is_command(typ):
    """True for host->device types (bit 7 clear)."""
    return typ < 0x80


def type_name(typ):
    sch = SCHEMAS.get(typ)
    return sch[0] if sch is not None else "0x%02x" % typ


def check_fields(typ, fields):
    """Raise MessageError (naming message and field) unless fields fit the type's schema."""
    specs, path, kind = specs_of(typ, SCHEMAS.get(typ), fields)
    _schema.check_map(specs, fields, path, "kind" if kind is not None else None)
    return fields


def open_sealed(key, last_counter, typ, data):
    """Check a sealed payload (protocols/seal.py); returns (counter, payload) or raises
    MessageError (E_AUTH/E_REPLAY) naming the message type."""
    from protocols.seal import open_sealed
    return open_sealed(key, last_counter, typ, data, type_name(typ))


# -- messages ------------------------------------------------------------------------------

def decode_payload(typ, payload, key=None, last_counter=0):
    """Fields of a payload; sealed types are opened (needs key) and get a 'counter' field."""
    sch = SCHEMAS.get(typ)
    if sch is None:
        raise MessageError("unknown message type 0x%02x" % typ, _e.E_UNKNOWN_TYPE)
    counter = None
    if sch[1]:
        if key is None:
            raise MessageError("%s is sealed: no device key to open it" % sch[0], _e.E_AUTH)
        counter, payload = open_sealed(key, last_counter, typ, payload)
    try:
        raw = cbor_decode(payload)
    except MessageError as e:
        raise MessageError("%s: payload %s" % (sch[0], e.message))
    specs, path, kind = specs_of(typ, sch, raw)
    _schema.check_map(specs, raw, path, "kind" if kind is not None else None)
    _fill_none(specs, raw)
    fields = raw
    if counter is not None:
        fields["counter"] = counter
    return fields


def decode_msg(frame, key=None, last_counter=0, commands_only=False):
    """(type, seq, fields) from a frame: a (type, seq, payload) tuple from Decoder, or the
    wire bytes of exactly one frame. Raises MessageError (FrameError for bad wire bytes).
    commands_only: refuse device->host types (what a device should pass)."""
    if type(frame) is tuple:
        typ, seq, payload = frame
    else:
        got = Decoder().feed(bytes(frame) + b"\x00")
        if len(got) != 1:
            raise FrameError("count", "expected exactly one frame, got %d" % len(got))
        if type(got[0]) is not tuple:
            raise got[0]
        typ, seq, payload = got[0]
    if commands_only and not is_command(typ):
        raise MessageError("type 0x%02x (%s) is not a host->device command"
                           % (typ, type_name(typ)), _e.E_UNKNOWN_TYPE)
    return typ, seq, decode_payload(typ, payload, key, last_counter)


def _fill_none(specs, d):
    # After a check: give absent optional fields the value None, in nested maps too.
    for s in specs:
        v = d.get(s[0])
        if v is None:
            d[s[0]] = None
        elif s[1] == "map":
            _fill_none(s[3], v)


def _head_len(n):
    return 1 if n < 24 else 2 if n < 0x100 else 3 if n < 0x10000 else 5


def records_that_fit(first_seq, records, budget=MAX_PAYLOAD):
    """How many of records (from the first) fit in one AUDIT_RECORDS payload."""
    size = len(encode_fields(AUDIT_RECORDS, SCHEMAS[AUDIT_RECORDS],
                             {"first_seq": first_seq, "records": [], "more": True}))
    n = 0
    for r in records:
        size += _head_len(len(r)) + len(r) + _head_len(n + 1) - _head_len(n)
        if size > budget:
            break
        n += 1
    return n


def error_fields(exc):
    """ERROR fields for an exception raised while handling a command: a MessageError keeps
    its code, a FrameError is bad_frame, anything else internal."""
    if isinstance(exc, MessageError):
        code = exc.code
    elif isinstance(exc, FrameError):
        code = _e.E_BAD_FRAME
    else:
        code = _e.E_INTERNAL
    return {"code": code, "message": str(exc)}


# -- STIMULUS -> core event -----------------------------------------------------------------

def stimulus_event(f):
    """The firmware/core event tuple a checked STIMULUS stands for, or None ("nmea" goes to
    the GNSS driver, "time" sets the board RTC)."""
    k = f["kind"]
    if k == "fix":
        return ("fix", f["lat_e7"], f["lon_e7"], f["hacc_m"], f["utc_s"])
    if k == "gnss":
        return ("gnss", f["silent_ms"], f["nofix_ms"], f["sats"], f["cn0_dbhz"])
    if k == "rfid_fail" or k == "finger_fail":
        return (k, f["why"])
    if k == "rfid":
        return ("rfid", f["cred"], f["rtt_us"], f["strong"])
    if k == "finger":
        return ("finger", f["template"], f["score"])
    if k == "grip":
        return ("grip", f["held"])
    if k == "tamper":
        return ("tamper", f["source"])
    if k == "battery":
        return ("battery", f["mv"])
    if k == "actpos":
        return ("actpos", f["locked"])
    if k == "fault":
        return ("fault", f["sensor"], f["ok"])
    return None
