# armlock wire framing: COBS frames delimited by 0x00 (see protocols/SPEC.md).
#
# Decoded frame:  type u8 | seq u16 BE | payload | CRC-16/CCITT-FALSE u16 BE
# On the wire:    0x00 | COBS(decoded frame) | 0x00
#
# Sans-IO and runtime-neutral (MicroPython and CPython): bytes in, frames out, no I/O,
# no clock. `encode` is a pure function; `Decoder` keeps only the partial frame.

from array import array

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

MAX_FRAME = const(1024)  # largest decoded frame (header + payload + CRC), bytes
_HEADER = const(3)       # type u8 + seq u16
_OVERHEAD = const(5)     # header + CRC
MAX_PAYLOAD = const(MAX_FRAME - _OVERHEAD)
_SMALL = const(128)      # a decoder's buffer between long frames (a sealed command fits)

# Failure texts: index in protocols/wire_texts.py TEXTS (private consts: no name on
# the device; tests/test_error_texts.py checks each against the name it has there).
_T_COBS_ZERO = const(0)
_T_COBS_PAST = const(1)
_T_OVERSIZE = const(2)
_T_TRUNCATED = const(3)
_T_CRC = const(4)


def _crc_table():
    t = array("H", bytes(512))  # 512 bytes of heap, not a 256-item tuple
    for i in range(256):
        c = i << 8
        for _ in range(8):
            c = ((c << 1) ^ 0x1021) if c & 0x8000 else (c << 1)
        t[i] = c & 0xFFFF
    return t


_CRC_TABLE = _crc_table()
del _crc_table                  # (run once: its code need not stay in the heap)


def crc16(data, crc=0xFFFF):
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no xorout)."""
    t = _CRC_TABLE
    for b in data:
        crc = ((crc << 8) & 0xFF00) ^ t[(crc >> 8) ^ b]
    return crc


def _cobs_into(out, k, data):
    # COBS-encode data into bytearray out from index k; returns the index after the last byte.
    n = len(data)
    mv = memoryview(data)
    i = 0
    while True:
        j = data.find(b"\x00", i)
        end = n if j < 0 else j
        full = False
        while end - i >= 254:
            out[k] = 0xFF
            out[k + 1:k + 255] = mv[i:i + 254]
            k += 255
            i += 254
            full = True
        if j < 0 and full and i == n:
            return k
        m = end - i
        out[k] = m + 1
        out[k + 1:k + 1 + m] = mv[i:end]
        k += m + 1
        if j < 0:
            return k
        i = j + 1


def _cobs_max(n):
    return n + (n + 253) // 254 + 1


def cobs_encode(data):
    """COBS-encode bytes; the result holds no 0x00 (delimiters are not added)."""
    if type(data) is not bytes and type(data) is not bytearray:
        data = bytes(data)
    out = bytearray(_cobs_max(len(data)))
    k = _cobs_into(out, 0, data)
    return bytes(memoryview(out)[:k])


class FrameError(ValueError):
    """A chunk between delimiters that is not a good frame; str() says what and why (its
    one argument, the message, as ValueError gives it)."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind          # "cobs" | "crc" | "oversize" | "truncated"
        self.message = message

    def __repr__(self):        # (MicroPython's own would add a comma: "E('m',)")
        return "FrameError(%r)" % self.message

    def __eq__(self, other):
        return isinstance(other, FrameError) and other.message == self.message

    def __hash__(self):
        return hash(self.message)


def frame_error(kind, text, *args):
    """A FrameError of `kind` with TEXTS[text] (protocols/wire_texts.py, imported on an
    error only; the caller's _T_* const) formatted with args."""
    try:
        from protocols.wire_texts import TEXTS
    except MemoryError:  # no heap to word it: refused all the same, tersely
        return FrameError(kind, "bad frame: %s (text %d)" % (kind, text))
    return FrameError(kind, TEXTS[text] % args)


def _cobs_decode(data):
    # data: bytes, bytearray or memoryview; returns (bytearray, decoded length).
    n = len(data)
    out = bytearray(n)
    i = 0
    k = 0
    while i < n:
        code = data[i]
        if code == 0:
            raise frame_error("cobs", _T_COBS_ZERO, i)
        end = i + code
        if end > n:
            raise frame_error("cobs", _T_COBS_PAST, code, i, n)
        m = code - 1
        out[k:k + m] = data[i + 1:end]
        k += m
        i = end
        if code != 0xFF and i < n:
            out[k] = 0
            k += 1
    return out, k


def cobs_decode(data):
    """Decode one COBS block (no delimiters); raises FrameError("cobs error ...")."""
    if type(data) is not bytes and type(data) is not bytearray:
        data = bytes(data)
    out, k = _cobs_decode(data)
    return bytes(memoryview(out)[:k])


def oversize_error(limit=MAX_FRAME):
    return frame_error("oversize", _T_OVERSIZE, limit)


def unframe(chunk, max_frame=MAX_FRAME):
    """Decode the bytes between two delimiters into (type, seq, payload) or raise FrameError."""
    body, n = _cobs_decode(memoryview(chunk))
    if n > max_frame:
        raise oversize_error(max_frame)
    if n < _OVERHEAD:
        raise frame_error("truncated", _T_TRUNCATED, n)
    mv = memoryview(body)
    got = (body[n - 2] << 8) | body[n - 1]
    want = crc16(mv[:n - 2])
    if got != want:
        raise frame_error("crc", _T_CRC, got, want)
    return (body[0], (body[1] << 8) | body[2], bytes(mv[_HEADER:n - 2]))


def encode(typ, seq, payload=b""):
    """One frame on the wire: 0x00 | COBS(type|seq|payload|crc) | 0x00."""
    if type(typ) is not int or not 0 <= typ <= 0xFF:
        raise ValueError("frame type must be an int 0..255, got %r" % (typ,))
    if type(seq) is not int or not 0 <= seq <= 0xFFFF:
        raise ValueError("frame seq must be an int 0..65535, got %r" % (seq,))
    n = len(payload)
    if n > MAX_PAYLOAD:
        raise ValueError("payload too long (%d bytes > %d)" % (n, MAX_PAYLOAD))
    body = bytearray(n + _OVERHEAD)
    body[0] = typ
    body[1] = seq >> 8
    body[2] = seq & 0xFF
    body[_HEADER:_HEADER + n] = payload
    c = crc16(memoryview(body)[:_HEADER + n])
    body[_HEADER + n] = c >> 8
    body[_HEADER + n + 1] = c & 0xFF
    out = bytearray(_cobs_max(n + _OVERHEAD) + 2)
    k = _cobs_into(out, 1, body)
    out[k] = 0
    return bytes(memoryview(out)[:k + 1])


class Decoder:
    """Incremental frame decoder: feed(bytes) -> list of (type, seq, payload) or FrameError.

    Bytes are buffered up to the next 0x00 in a buffer of _SMALL bytes, so byte-at-a-time
    UART reads of a command cause no reallocation; a longer frame (a permit) gets one of
    max_encoded bytes, dropped again once the frame is out (a lock keeps a decoder per
    link: a full-size buffer each would hold 1 KB of heap). Empty chunks (repeated delimiters)
    are skipped. A chunk that grows past the largest encoded frame is reported once as
    oversize and the rest of it is dropped up to the next 0x00.
    """

    def __init__(self, max_frame=MAX_FRAME):
        self.max_frame = max_frame
        self.max_encoded = max_frame + (max_frame + 253) // 254
        self._buf = bytearray(_SMALL)
        self._n = 0
        self._dropping = False
        self.frames = 0     # good frames returned so far
        self.errors = 0     # FrameErrors returned so far

    def pending(self):
        """Bytes buffered towards the next frame (0 while dropping an oversize chunk)."""
        return self._n

    def reset(self):
        """Forget any partial frame (e.g. after the transport reconnects)."""
        self._n = 0
        self._dropping = False

    def _err(self, e, out):
        self.errors += 1
        out.append(e)

    def _chunk(self, chunk, out):
        try:
            f = unframe(chunk, self.max_frame)
        except FrameError as e:
            self._err(e, out)
            return
        self.frames += 1
        out.append(f)

    def feed(self, data):
        if type(data) is not bytes and type(data) is not bytearray:
            data = bytes(data)
        out = []
        n = len(data)
        mv = memoryview(data)
        i = 0
        while i < n:
            j = data.find(b"\x00", i)
            end = n if j < 0 else j
            m = end - i
            if self._dropping:
                pass
            elif self._n + m > self.max_encoded:
                self._n = 0
                self._dropping = True
                self._err(oversize_error(self.max_frame), out)
            elif j >= 0 and self._n == 0:
                if m:
                    self._chunk(mv[i:j], out)   # whole chunk in hand: no copy
            elif m:
                k = self._n + m
                if k > len(self._buf):
                    big = bytearray(self.max_encoded)
                    big[:self._n] = self._buf[:self._n]
                    self._buf = big
                self._buf[self._n:k] = mv[i:end]
                self._n = k
            if j < 0:
                break
            if self._n:
                k = self._n
                self._n = 0
                self._chunk(memoryview(self._buf)[:k], out)
                if len(self._buf) > _SMALL:
                    self._buf = bytearray(_SMALL)
            self._dropping = False
            i = j + 1
        return out
