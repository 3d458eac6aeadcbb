# armlock wire messages: typed payloads in frames (see protocols/SPEC.md).
#
# A payload is one CBOR map (RFC 8949 subset: unsigned/negative ints, byte and text
# strings, arrays, maps, false/true/null; definite lengths only) from field name to value.
# The encoder is deterministic (shortest heads, map keys sorted by length then bytes, the
# RFC 8949 4.2.1 order), so the same fields give the same bytes on MicroPython and CPython.
# Each message type has a schema; decode and encode both check it and raise MessageError
# naming the message and the field.
#
# AUDIT_ACK, STIMULUS and REBOOT are sealed: their frame payload is
#     counter u32 BE | CBOR map | HMAC-SHA256(device_key, type|counter|map)[:16]
# and a device refuses a counter not above the last one it accepted.

import struct

from protocols.crypto import ct_equal, hmac_sha256
from protocols.frame import MAX_PAYLOAD, Decoder, FrameError
from protocols.frame import encode as _frame_encode

PROTO_VERSION = 1

# -- type codes (bit 7 set: device -> host) ----------------------------------------------
INFO = 0x01
STATUS = 0x02
PING = 0x03
LOAD_PERMIT = 0x10
RECALL = 0x11
TAMPER_RESET = 0x12
AUDIT_READ = 0x20
AUDIT_ACK = 0x21
STIMULUS = 0x30
REBOOT = 0x31

INFO_REPLY = 0x81
STATUS_REPLY = 0x82
AUDIT_RECORDS = 0x84
OK = 0x85
ERROR = 0x86
EVENT = 0x87

# -- ERROR codes ---------------------------------------------------------------------------
E_UNKNOWN_TYPE = 1   # type code not known, or not a host->device command
E_BAD_MESSAGE = 2    # payload not CBOR, or a field missing / of the wrong type / out of range
E_AUTH = 3           # sealed command: auth tag wrong or envelope malformed
E_REPLAY = 4         # sealed command: counter not above the last accepted one
E_MODE = 5           # command not allowed in the device's mode (STIMULUS/REBOOT outside rig/dev)
E_REFUSED = 6        # the lock core refused it (bad permit, stale serial, ...); message says why
E_BUSY = 7           # device cannot take it now; retry later
E_INTERNAL = 8       # device fault while handling it
E_BAD_FRAME = 9      # bytes between delimiters that are not a frame (CRC, COBS, size); seq 0

ERROR_NAMES = {
    E_UNKNOWN_TYPE: "unknown_type", E_BAD_MESSAGE: "bad_message", E_AUTH: "auth_failed",
    E_REPLAY: "replayed", E_MODE: "not_allowed_in_mode", E_REFUSED: "refused",
    E_BUSY: "busy", E_INTERNAL: "internal", E_BAD_FRAME: "bad_frame",
}

MODES = ("field", "rig", "dev")
TAG_LEN = 16
SEAL_OVERHEAD = 4 + TAG_LEN
MAX_DEPTH = 6


class MessageError(ValueError):
    """Bad message; str() names the message and field, .code is the ERROR code to reply."""

    def __init__(self, message, code=E_BAD_MESSAGE):
        super().__init__(message)
        self.message = message
        self.code = code

    def __str__(self):
        return self.message


# -- schemas -------------------------------------------------------------------------------
# A field spec is (name, kind, optional, arg):
#   "int"   arg = (lo, hi) inclusive        "bool"  arg = None
#   "str"   arg = tuple of allowed values or None
#   "bytes" arg = (min_len, max_len) or None
#   "list"  arg = item kind ("str" | "bytes")
#   "map"   arg = tuple of field specs (nested)
# An optional field may be absent or null; decoding gives None for it.

U8 = (0, 0xFF)
U16 = (0, 0xFFFF)
U32 = (0, 0xFFFFFFFF)
U64 = (0, 0xFFFFFFFFFFFFFFFF)
LAT = (-900000000, 900000000)
LON = (-1800000000, 1800000000)
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
    ("lat_e7", "int", 0, LAT),
    ("lon_e7", "int", 0, LON),
)

# Tagged unions: field "kind" (sorted in among the others on the wire) picks the member.
STIMULUS_KINDS = {
    "fix": _FIX,
    "nmea": (("sentence", "str", 0, None),),
    "gnss": (("sats", "int", 0, U8), ("cn0_dbhz", "int", 0, (-1, 0xFF)),
             ("nofix_ms", "int", 0, (-1, 0xFFFFFFFF)), ("silent_ms", "int", 0, U32)),
    "rfid": (("cred", "str", 0, None), ("rtt_us", "int", 0, U32), ("strong", "bool", 0, None)),
    "rfid_fail": (("why", "str", 0, None),),
    "finger": (("score", "int", 0, U32), ("template", "int", 0, U16)),
    "finger_fail": (("why", "str", 0, None),),
    "grip": (("held", "bool", 0, None),),
    "tamper": (("source", "str", 0, ("enclosure", "magnet")),),
    "battery": (("mv", "int", 0, U16),),
    "time": (("utc_s", "int", 0, U64),),
    "actpos": (("locked", "bool", 0, None),),
    "fault": (("ok", "bool", 0, None),
              ("sensor", "str", 0, ("rfid", "finger", "gnss", "actuator"))),
}

EVENT_KINDS = {
    "actuate": (("locked", "bool", 0, None), ("reason", "str", 0, None),
                ("device_ms", "int", 0, U64), ("latency_us", "int", 0, U32)),
    "indicate": (("what", "str", 0, None), ("device_ms", "int", 0, U64)),
    "answer": (("ok", "bool", 0, None), ("device_ms", "int", 0, U64)),
    "audit": (("seq", "int", 0, U32),),
    "boot": (("device_ms", "int", 0, U64), ("reset_cause", "str", 0, None)),
    "log": (("text", "str", 0, None),),
}

# type -> (name, sealed, fields) ; fields is a tuple of specs or a {kind: specs} union
SCHEMAS = {
    INFO: ("INFO", 0, ()),
    STATUS: ("STATUS", 0, ()),
    PING: ("PING", 0, ()),
    LOAD_PERMIT: ("LOAD_PERMIT", 0, (("token", "bytes", 0, TOKEN),)),
    RECALL: ("RECALL", 0, (("token", "bytes", 0, TOKEN),)),
    TAMPER_RESET: ("TAMPER_RESET", 0, (("token", "bytes", 0, TOKEN),)),
    AUDIT_READ: ("AUDIT_READ", 0, (("count", "int", 0, (1, 255)), ("from_seq", "int", 0, U32))),
    AUDIT_ACK: ("AUDIT_ACK", 1, (("upto_seq", "int", 0, U32),)),
    STIMULUS: ("STIMULUS", 1, STIMULUS_KINDS),
    REBOOT: ("REBOOT", 1, ()),
    INFO_REPLY: ("INFO_REPLY", 0, (
        ("mode", "str", 0, MODES), ("proto", "int", 0, U16), ("runtime", "str", 0, None),
        ("device_id", "str", 0, None), ("fw_version", "str", 0, None))),
    STATUS_REPLY: ("STATUS_REPLY", 0, (
        ("locked", "bool", 0, None),
        ("permit", "map", 1, _PERMIT_SUMMARY),
        ("tamper", "map", 0, _TAMPER),
        ("lockout", "map", 0, _LOCKOUT),
        ("reasons", "list", 0, "str"),
        ("last_fix", "map", 1, _FIX),
        ("battery_mv", "int", 0, U16),
        ("last_counter", "int", 1, U32))),
    AUDIT_RECORDS: ("AUDIT_RECORDS", 0, (
        ("more", "bool", 0, None), ("records", "list", 0, "bytes"),
        ("first_seq", "int", 0, U32))),
    OK: ("OK", 0, ()),
    ERROR: ("ERROR", 0, (("code", "int", 0, (1, 255)), ("message", "str", 0, None))),
    EVENT: ("EVENT", 0, EVENT_KINDS),
}

NAMES = {}
for _t in SCHEMAS:
    NAMES[_t] = SCHEMAS[_t][0]
SEALED = tuple(t for t in SCHEMAS if SCHEMAS[t][1])


def is_command(typ):
    """True for host->device types (bit 7 clear)."""
    return typ < 0x80


def type_name(typ):
    return NAMES.get(typ, "0x%02x" % typ)


# -- CBOR subset ---------------------------------------------------------------------------

def _tn(v):
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


def _head(out, major, n):
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
        raise MessageError("cbor: integer out of 64-bit range")


def _key_order(k):
    return (len(k), k)


def _cbor_enc(out, v, depth):
    if depth > MAX_DEPTH:
        raise MessageError("cbor: nested deeper than %d" % MAX_DEPTH)
    t = type(v)
    if v is None:
        out.append(0xF6)
    elif v is True:
        out.append(0xF5)
    elif v is False:
        out.append(0xF4)
    elif t is int:
        if v >= 0:
            _head(out, 0, v)
        else:
            _head(out, 1, -1 - v)
    elif t is bytes or t is bytearray:
        _head(out, 2, len(v))
        out += v
    elif t is str:
        b = v.encode()
        _head(out, 3, len(b))
        out += b
    elif t is list or t is tuple:
        _head(out, 4, len(v))
        for x in v:
            _cbor_enc(out, x, depth + 1)
    elif t is dict:
        keys = []
        for k in v:
            if type(k) is not str:
                raise MessageError("cbor: map key %r is not a str" % (k,))
            keys.append(k.encode())
        keys.sort(key=_key_order)
        _head(out, 5, len(keys))
        for kb in keys:
            _head(out, 3, len(kb))
            out += kb
            _cbor_enc(out, v[kb.decode()], depth + 1)
    else:
        raise MessageError("cbor: cannot encode a %s" % _tn(v))


def cbor_encode(v):
    """Deterministic CBOR of None/bool/int/bytes/str/list/dict(str keys)."""
    out = bytearray()
    _cbor_enc(out, v, 0)
    return bytes(out)


def _bad(i, what):
    return MessageError("cbor error at byte %d: %s" % (i, what))


def _cbor_dec(b, i, depth):
    n = len(b)
    if i >= n:
        raise _bad(i, "unexpected end")
    if depth > MAX_DEPTH:
        raise _bad(i, "nested deeper than %d" % MAX_DEPTH)
    ib = b[i]
    major = ib >> 5
    ai = ib & 31
    start = i
    i += 1
    if major == 7:
        if ai == 20:
            return False, i
        if ai == 21:
            return True, i
        if ai == 22:
            return None, i
        raise _bad(start, "simple/float value 0x%02x not supported" % ib)
    if ai < 24:
        val = ai
    elif ai <= 27:
        size = 1 << (ai - 24)
        if i + size > n:
            raise _bad(start, "unexpected end")
        val = int.from_bytes(b[i:i + size], "big")
        i += size
    else:
        raise _bad(start, "indefinite or reserved length 0x%02x not supported" % ib)
    if major == 0:
        return val, i
    if major == 1:
        return -1 - val, i
    if major == 2 or major == 3:
        if val > n - i:
            raise _bad(start, "string of %d bytes runs past end" % val)
        s = bytes(b[i:i + val])
        i += val
        if major == 3:
            try:
                s = s.decode()
            except UnicodeError:
                raise _bad(start, "text is not valid UTF-8")
        return s, i
    if major == 4:
        if val > n - i:
            raise _bad(start, "array of %d items runs past end" % val)
        items = []
        for _ in range(val):
            x, i = _cbor_dec(b, i, depth + 1)
            items.append(x)
        return items, i
    if major == 5:
        if 2 * val > n - i:
            raise _bad(start, "map of %d pairs runs past end" % val)
        d = {}
        for _ in range(val):
            kpos = i
            k, i = _cbor_dec(b, i, depth + 1)
            if type(k) is not str:
                raise _bad(kpos, "map key is a %s, not a str" % _tn(k))
            if k in d:
                raise _bad(kpos, "duplicate key '%s'" % k)
            d[k], i = _cbor_dec(b, i, depth + 1)
        return d, i
    raise _bad(start, "tag 0x%02x not supported" % ib)


def cbor_decode(b):
    """Decode exactly one CBOR item from b; raises MessageError on anything else."""
    v, i = _cbor_dec(b, 0, 0)
    if i != len(b):
        raise _bad(i, "%d trailing bytes" % (len(b) - i))
    return v


# -- schema checks and schema-driven encoding ---------------------------------------------
# Checks make no copies; encoding walks the schema (already in key order) into one buffer.

def _where(path, name, idx):
    if idx >= 0:
        return "%s.%s[%d]" % (path, name, idx)
    return "%s.%s" % (path, name)


def _check_value(kind, arg, v, path, name, idx=-1):
    t = type(v)
    if kind == "int":
        if t is not int:
            raise MessageError("%s: expected int, got %s" % (_where(path, name, idx), _tn(v)))
        if not arg[0] <= v <= arg[1]:
            raise MessageError("%s: %d out of range %d..%d"
                               % (_where(path, name, idx), v, arg[0], arg[1]))
    elif kind == "bool":
        if t is not bool:
            raise MessageError("%s: expected bool, got %s" % (_where(path, name, idx), _tn(v)))
    elif kind == "str":
        if t is not str:
            raise MessageError("%s: expected str, got %s" % (_where(path, name, idx), _tn(v)))
        if arg is not None and v not in arg:
            raise MessageError("%s: '%s' is not one of %s"
                               % (_where(path, name, idx), v, ", ".join(arg)))
    elif kind == "bytes":
        if t is not bytes and t is not bytearray:
            raise MessageError("%s: expected bytes, got %s" % (_where(path, name, idx), _tn(v)))
        if arg is not None and not arg[0] <= len(v) <= arg[1]:
            raise MessageError("%s: length %d out of range %d..%d"
                               % (_where(path, name, idx), len(v), arg[0], arg[1]))
    elif kind == "list":
        if t is not list and t is not tuple:
            raise MessageError("%s: expected list, got %s" % (_where(path, name, idx), _tn(v)))
        for i in range(len(v)):
            _check_value(arg, None, v[i], path, name, i)
    else:  # map
        _check_map(arg, v, _where(path, name, idx))


def _check_map(specs, d, path, skip=None):
    # Check d against specs (skip: a key checked elsewhere, the union "kind");
    # returns how many spec fields are present and not null.
    if type(d) is not dict:
        raise MessageError("%s: expected map, got %s" % (path, _tn(d)))
    present = 0
    known = 1 if skip is not None else 0
    for s in specs:
        name = s[0]
        if name in d:
            known += 1
            v = d[name]
        else:
            v = None
        if v is None:
            if not s[2]:
                if name in d:
                    raise MessageError("%s.%s: expected %s, got null" % (path, name, s[1]))
                raise MessageError("%s: missing field '%s'" % (path, name))
            continue
        present += 1
        _check_value(s[1], s[3], v, path, name)
    if known != len(d):
        for k in d:
            found = k == skip
            for s in specs:
                if s[0] == k:
                    found = True
                    break
            if not found:
                raise MessageError("%s: unknown field '%s'" % (path, k))
    return present


def _specs_for(typ, fields):
    # (specs, path, kind) for a message type; a union member is chosen by "kind".
    sch = SCHEMAS.get(typ)
    if sch is None:
        raise MessageError("unknown message type 0x%02x" % typ, E_UNKNOWN_TYPE)
    name = sch[0]
    specs = sch[2]
    if type(specs) is dict:
        if type(fields) is not dict:
            raise MessageError("%s: expected map, got %s" % (name, _tn(fields)))
        if "kind" not in fields:
            raise MessageError("%s: missing field 'kind'" % name)
        kind = fields["kind"]
        if type(kind) is not str:
            raise MessageError("%s.kind: expected str, got %s" % (name, _tn(kind)))
        sub = specs.get(kind)
        if sub is None:
            raise MessageError("%s.kind: '%s' is not one of %s"
                               % (name, kind, ", ".join(sorted(specs))))
        return sub, "%s(%s)" % (name, kind), kind
    return specs, name, None


def check_fields(typ, fields):
    """Raise MessageError (naming message and field) unless fields fit the type's schema."""
    specs, path, kind = _specs_for(typ, fields)
    _check_map(specs, fields, path, "kind" if kind is not None else None)
    return fields


def _fill_none(specs, d):
    # After a check: give absent optional fields the value None, in nested maps too.
    for s in specs:
        v = d.get(s[0])
        if v is None:
            d[s[0]] = None
        elif s[1] == "map":
            _fill_none(s[3], v)


def _enc_key(out, name):
    b = name.encode()
    _head(out, 3, len(b))
    out += b


def _enc_map(out, specs, d, present, kind=None):
    # present: number of non-null fields; kind: the union tag, written in key order.
    if kind is not None:
        present += 1
    _head(out, 5, present)
    for s in specs:
        if kind is not None and (len(s[0]) > 4 or (len(s[0]) == 4 and s[0] > "kind")):
            _enc_key(out, "kind")
            _cbor_enc(out, kind, 1)
            kind = None
        v = d.get(s[0])
        if v is None:
            continue
        _enc_key(out, s[0])
        if s[1] == "map":
            n = 0
            for x in s[3]:
                if v.get(x[0]) is not None:
                    n += 1
            _enc_map(out, s[3], v, n)
        else:
            _cbor_enc(out, v, 1)
    if kind is not None:
        _enc_key(out, "kind")
        _cbor_enc(out, kind, 1)


# -- sealed envelope -----------------------------------------------------------------------

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


def open_sealed(key, last_counter, typ, data):
    """Check a sealed payload; returns (counter, payload) or raises MessageError (E_AUTH/E_REPLAY).

    The tag is checked before the counter, so an unauthenticated sender learns nothing
    about the device's counter.
    """
    name = type_name(typ)
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


# -- messages ------------------------------------------------------------------------------

def encode_payload(typ, fields, key=None, counter=None):
    """Payload bytes of a message (sealed types need key and counter)."""
    sealed = typ in SCHEMAS and SCHEMAS[typ][1]
    if sealed and type(fields) is dict and "counter" in fields:
        fields = dict(fields)
        c = fields.pop("counter")
        if counter is None:
            counter = c
    specs, path, kind = _specs_for(typ, fields)
    present = _check_map(specs, fields, path, "kind" if kind is not None else None)
    out = bytearray()
    _enc_map(out, specs, fields, present, kind)
    body = bytes(out)
    if sealed:
        if key is None or counter is None:
            raise MessageError("%s is sealed: encoding needs key and counter" % type_name(typ),
                               E_AUTH)
        body = seal(key, counter, typ, body)
    if len(body) > MAX_PAYLOAD:
        raise MessageError("%s: payload too long (%d bytes > %d)"
                           % (type_name(typ), len(body), MAX_PAYLOAD))
    return body


def encode_msg(typ, seq, fields=None, key=None, counter=None):
    """A full frame (0x00-delimited COBS) carrying the message."""
    if fields is None:
        fields = {}
    return _frame_encode(typ, seq, encode_payload(typ, fields, key, counter))


def decode_payload(typ, payload, key=None, last_counter=0):
    """Fields of a payload; sealed types are opened (needs key) and get a 'counter' field."""
    sch = SCHEMAS.get(typ)
    if sch is None:
        raise MessageError("unknown message type 0x%02x" % typ, E_UNKNOWN_TYPE)
    counter = None
    if sch[1]:
        if key is None:
            raise MessageError("%s is sealed: no device key to open it" % sch[0], E_AUTH)
        counter, payload = open_sealed(key, last_counter, typ, payload)
    try:
        raw = cbor_decode(payload)
    except MessageError as e:
        raise MessageError("%s: payload %s" % (sch[0], e.message))
    specs, path, kind = _specs_for(typ, raw)
    _check_map(specs, raw, path, "kind" if kind is not None else None)
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
                           % (typ, type_name(typ)), E_UNKNOWN_TYPE)
    return typ, seq, decode_payload(typ, payload, key, last_counter)


def _head_len(n):
    return 1 if n < 24 else 2 if n < 0x100 else 3 if n < 0x10000 else 5


def records_that_fit(first_seq, records, budget=MAX_PAYLOAD):
    """How many of records (from the first) fit in one AUDIT_RECORDS payload."""
    size = len(encode_payload(AUDIT_RECORDS, {"first_seq": first_seq, "records": [],
                                              "more": True}))
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
        code = E_BAD_FRAME
    else:
        code = E_INTERNAL
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
