# The schema engine of the wire messages: checks a field map against a tuple of field
# specs and encodes it in CBOR key order into one buffer (checks make no copies). The
# schemas themselves, the message set, are in protocols/messages.py.
#
# A field spec is (name, kind, optional, arg):
#   "int"   arg = (lo, hi) inclusive        "bool"  arg = None
#   "str"   arg = tuple of allowed values or None
#   "bytes" arg = (min_len, max_len) or None
#   "list"  arg = item kind ("str" | "bytes")
#   "map"   arg = tuple of field specs (nested)
# An optional field may be absent or null; decoding gives None for it.

from protocols import cbor
from protocols.errors import message_error

try:
    from micropython import const  # pyright: ignore[reportAssignmentType]
except ImportError:  # CPython
    def const(x):
        return x

# Failure texts: index in protocols/wire_texts.py TEXTS (private consts: no name on
# the device; tests/test_error_texts.py checks each against the name it has there).
_T_EXPECTED = const(5)
_T_RANGE = const(6)
_T_NOT_ONE_OF = const(7)
_T_LENGTH = const(8)
_T_NULL = const(9)
_T_MISSING = const(10)
_T_UNKNOWN = const(11)


def _where(path, name, idx):
    if idx >= 0:
        return "%s.%s[%d]" % (path, name, idx)
    return "%s.%s" % (path, name)


def _expected(what, v, path, name, idx):
    return message_error(_T_EXPECTED, _where(path, name, idx), what, cbor.kind_of(v))


def check_value(kind, arg, v, path, name, idx=-1):
    """MessageError naming path.name[idx] unless v fits the field kind and arg."""
    t = type(v)
    if kind == "int":
        if t is not int:
            raise _expected("int", v, path, name, idx)
        if not arg[0] <= v <= arg[1]:
            raise message_error(_T_RANGE, _where(path, name, idx), v, arg[0], arg[1])
    elif kind == "bool":
        if t is not bool:
            raise _expected("bool", v, path, name, idx)
    elif kind == "str":
        if t is not str:
            raise _expected("str", v, path, name, idx)
        if arg is not None and v not in arg:
            raise message_error(_T_NOT_ONE_OF, _where(path, name, idx), v, ", ".join(arg))
    elif kind == "bytes":
        if t is not bytes and t is not bytearray:
            raise _expected("bytes", v, path, name, idx)
        if arg is not None and not arg[0] <= len(v) <= arg[1]:
            raise message_error(_T_LENGTH, _where(path, name, idx), len(v), arg[0], arg[1])
    elif kind == "list":
        if t is not list and t is not tuple:
            raise _expected("list", v, path, name, idx)
        for i in range(len(v)):
            check_value(arg, None, v[i], path, name, i)
    else:  # map
        check_map(arg, v, _where(path, name, idx))


def check_map(specs, d, path, skip=None):
    # Check d against specs (skip: a key checked elsewhere, the union "kind");
    # returns how many spec fields are present and not null.
    if type(d) is not dict:
        raise message_error(_T_EXPECTED, path, "map", cbor.kind_of(d))
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
                    raise message_error(_T_NULL, path, name, s[1])
                raise message_error(_T_MISSING, path, name)
            continue
        present += 1
        check_value(s[1], s[3], v, path, name)
    if known != len(d):
        for k in d:
            found = k == skip
            for s in specs:
                if s[0] == k:
                    found = True
                    break
            if not found:
                raise message_error(_T_UNKNOWN, path, k)
    return present


def _enc_key(out, name):
    b = name.encode()
    cbor.head(out, 3, len(b))
    out += b


def encode_map(out, specs, d, present, kind=None):
    # present: number of non-null fields; kind: the union tag, written in key order.
    if kind is not None:
        present += 1
    cbor.head(out, 5, present)
    for s in specs:
        if kind is not None and (len(s[0]) > 4 or (len(s[0]) == 4 and s[0] > "kind")):
            _enc_key(out, "kind")
            cbor.encode_into(out, kind, 1)
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
            encode_map(out, s[3], v, n)
        else:
            cbor.encode_into(out, v, 1)
    if kind is not None:
        _enc_key(out, "kind")
        cbor.encode_into(out, kind, 1)
