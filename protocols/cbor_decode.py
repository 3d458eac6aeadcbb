# CBOR decoding, the subset of protocols/cbor.py (definite lengths, str map keys, no
# floats or tags); every failure is a MessageError saying where. Imported when a command
# is read (protocols/message_set.py). MicroPython and CPython.

from protocols.errors import MAX_DEPTH, MessageError, kind_of


def _bad(i, what):
    return MessageError("cbor error at byte %d: %s" % (i, what))


def _decode(b, i, depth):
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
            x, i = _decode(b, i, depth + 1)
            items.append(x)
        return items, i
    if major == 5:
        if 2 * val > n - i:
            raise _bad(start, "map of %d pairs runs past end" % val)
        d = {}
        for _ in range(val):
            kpos = i
            k, i = _decode(b, i, depth + 1)
            if type(k) is not str:
                raise _bad(kpos, "map key is a %s, not a str" % kind_of(k))
            if k in d:
                raise _bad(kpos, "duplicate key '%s'" % k)
            d[k], i = _decode(b, i, depth + 1)
        return d, i
    raise _bad(start, "tag 0x%02x not supported" % ib)


def decode(b):
    """Decode exactly one CBOR item from b; raises MessageError on anything else."""
    v, i = _decode(b, 0, 0)
    if i != len(b):
        raise _bad(i, "%d trailing bytes" % (len(b) - i))
    return v
