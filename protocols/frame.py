# armlock wire framing: COBS frames delimited by 0x00 (see protocols/SPEC_WIRE.md).
#
# Decoded frame:  type u8 | seq u16 BE | payload | CRC-16/CCITT-FALSE u16 BE
# On the wire:    0x00 | COBS(decoded frame) | 0x00
#
# Sans-IO and runtime-neutral (MicroPython and CPython): bytes in, frames out, no I/O,
# no clock. `encode` is a pure function; `Decoder` keeps only the partial frame.

import struct

MAX_FRAME = 1024        # largest decoded frame (header + payload + CRC), bytes
HEADER = 3              # type u8 + seq u16
OVERHEAD = 5            # header + CRC
MAX_PAYLOAD = MAX_FRAME - OVERHEAD
DELIM = 0


def _crc_table():
    t = []
    for i in range(256):
        c = i << 8
        for _ in range(8):
            c = ((c << 1) ^ 0x1021) if c & 0x8000 else (c << 1)
        t.append(c & 0xFFFF)
    return tuple(t)


_CRC_TABLE = _crc_table()


def crc16(data, crc=0xFFFF):
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no xorout)."""
    t = _CRC_TABLE
    for b in data:
        crc = ((crc << 8) & 0xFF00) ^ t[(crc >> 8) ^ b]
    return crc


def cobs_encode(data):
    """COBS-encode bytes; the result holds no 0x00 (delimiters are not added)."""
    data = bytes(data)
    n = len(data)
    out = bytearray()
    i = 0
    while True:
        j = data.find(b"\x00", i)
        end = n if j < 0 else j
        full = False
        while end - i >= 254:
            out.append(0xFF)
            out += data[i:i + 254]
            i += 254
            full = True
        if j < 0 and full and i == n:
            break
        out.append(end - i + 1)
        out += data[i:end]
        if j < 0:
            break
        i = j + 1
    return bytes(out)


class FrameError(ValueError):
    """A chunk between delimiters that is not a good frame; str() says what and why."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind          # "cobs" | "crc" | "oversize" | "truncated"
        self.message = message

    def __str__(self):
        return self.message

    def __repr__(self):
        return "FrameError(%r)" % self.message

    def __eq__(self, other):
        return isinstance(other, FrameError) and other.message == self.message

    def __hash__(self):
        return hash(self.message)


def cobs_decode(data):
    """Decode one COBS block (no delimiters); raises FrameError("cobs error ...")."""
    if type(data) is not bytes and type(data) is not bytearray:
        data = bytes(data)
    n = len(data)
    if data.find(b"\x00") >= 0:
        raise FrameError("cobs", "cobs error (0x00 inside frame)")
    out = bytearray()
    i = 0
    while i < n:
        code = data[i]
        end = i + code
        if end > n:
            raise FrameError("cobs", "cobs error (code 0x%02x at byte %d runs past end of %d bytes)"
                             % (code, i, n))
        out += data[i + 1:end]
        i = end
        if code != 0xFF and i < n:
            out.append(0)
    return out


def oversize_error(limit=MAX_FRAME):
    return FrameError("oversize", "oversize frame (>%d bytes)" % limit)


def unframe(chunk, max_frame=MAX_FRAME):
    """Decode the bytes between two delimiters into (type, seq, payload) or raise FrameError."""
    body = cobs_decode(chunk)
    n = len(body)
    if n > max_frame:
        raise oversize_error(max_frame)
    if n < OVERHEAD:
        raise FrameError("truncated", "truncated frame (%d bytes)" % n)
    got = (body[n - 2] << 8) | body[n - 1]
    want = crc16(memoryview(body)[:n - 2])
    if got != want:
        raise FrameError("crc", "crc mismatch (frame says 0x%04x, computed 0x%04x)" % (got, want))
    typ, seq = struct.unpack_from(">BH", body, 0)
    return (typ, seq, bytes(body[HEADER:n - 2]))


def encode(typ, seq, payload=b""):
    """One frame on the wire: 0x00 | COBS(type|seq|payload|crc) | 0x00."""
    if type(typ) is not int or not 0 <= typ <= 0xFF:
        raise ValueError("frame type must be an int 0..255, got %r" % (typ,))
    if type(seq) is not int or not 0 <= seq <= 0xFFFF:
        raise ValueError("frame seq must be an int 0..65535, got %r" % (seq,))
    if len(payload) > MAX_PAYLOAD:
        raise ValueError("payload too long (%d bytes > %d)" % (len(payload), MAX_PAYLOAD))
    body = bytearray(struct.pack(">BH", typ, seq))
    body += payload
    c = crc16(body)
    body.append(c >> 8)
    body.append(c & 0xFF)
    return b"\x00" + cobs_encode(body) + b"\x00"


class Decoder:
    """Incremental frame decoder: feed(bytes) -> list of (type, seq, payload) or FrameError.

    Bytes are buffered up to the next 0x00. Empty chunks (repeated delimiters) are skipped.
    A chunk that grows past the largest encoded frame is reported once as oversize and the
    rest of it is dropped up to the next 0x00, so the buffer never exceeds that bound.
    """

    def __init__(self, max_frame=MAX_FRAME):
        self.max_frame = max_frame
        self.max_encoded = max_frame + (max_frame + 253) // 254
        self._buf = bytearray()
        self._dropping = False
        self.frames = 0     # good frames returned so far
        self.errors = 0     # FrameErrors returned so far

    def pending(self):
        """Bytes buffered towards the next frame (0 while dropping an oversize chunk)."""
        return len(self._buf)

    def reset(self):
        self._buf = bytearray()
        self._dropping = False

    def _take(self, data, i, j, out):
        if self._dropping or i == j:
            return
        if len(self._buf) + (j - i) > self.max_encoded:
            self._buf = bytearray()
            self._dropping = True
            self._err(oversize_error(self.max_frame), out)
            return
        self._buf += data[i:j]

    def _err(self, e, out):
        self.errors += 1
        out.append(e)

    def _end(self, out):
        if self._dropping:
            self._dropping = False
        elif self._buf:
            chunk = self._buf
            self._buf = bytearray()
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
        i = 0
        while i < n:
            j = data.find(b"\x00", i)
            if j < 0:
                self._take(data, i, n, out)
                break
            self._take(data, i, j, out)
            self._end(out)
            i = j + 1
        return out
