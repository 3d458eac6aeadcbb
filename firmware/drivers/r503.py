# Fingerprint module of the R503 / R307 / ZFM-20 family over UART (57600 8N1).
#
# Packet (R503 user manual v1.2 section 5, ZFM-20 user manual section 4):
#     EF 01 | address (4, big-endian) | PID | length (2) = len(payload) + 2 | payload |
#     checksum (2) = (PID + length bytes + payload bytes) & 0xFFFF
# PID 01 command, 02 data, 07 acknowledge, 08 end of data. An acknowledge payload
# starts with the confirmation code (names: r503_codes.py); 0 means success.
#
# The bus comes in: `uart` has write(buf), read(n) -> bytes|None, any() -> int,
# like machine.UART(1, 57600, timeout=...). Time comes in as ticks_ms.

try:
    from micropython import const  # pyright: ignore[reportAssignmentType]
except ImportError:  # CPython
    def const(x):
        return x

from firmware.drivers._ticks import default_ticks, ticks_diff

_HEADER = const(b"\xef\x01")   # every packet starts with it
_PID_COMMAND = const(0x01)
_PID_DATA = const(0x02)
_PID_ACK = const(0x07)
_PID_END = const(0x08)

_GEN_IMG = const(0x01)
_IMG2TZ = const(0x02)
_SEARCH = const(0x04)
_READ_SYS_PARA = const(0x0F)
_VFY_PWD = const(0x13)

# Failure details: index in firmware/drivers/r503_codes.py DETAILS (private consts: no name on
# the device; tests/test_error_texts.py checks each against the name it has there).
_T_SHORT = const(0)
_T_HEADER = const(1)
_T_ADDRESS = const(2)
_T_PID = const(3)
_T_LENGTH = const(4)
_T_CHECKSUM = const(5)
_T_NOT_ACK = const(6)
_T_EMPTY_ACK = const(7)
_T_SEARCH = const(8)
_T_SYS_PARA = const(9)
_T_LIBRARY = const(10)

class FingerError(Exception):
    """A confirmation code other than 0, or a link failure. .code (int or None), .name."""

    def __init__(self, code, name, detail=""):
        super().__init__("fingerprint: %s%s" % (name, (": " + detail) if detail else ""))
        self.code = code
        self.name = name


class PacketError(FingerError):
    """Malformed packet (header, address, PID, length, checksum) or code 0x01."""


class NoFinger(FingerError):
    """No finger on the sensor (0x02)."""


class NotFound(FingerError):
    """The finger matches no stored template (0x09; 0x08 for 1:1 match)."""


class BadImage(FingerError):
    """A bad touch: no image collected (0x03: finger moved, wet, partial) or one that
    could not be turned into features (0x06, 0x07, 0x15). Not a module fault."""


class WrongPassword(FingerError):
    """Module password rejected (0x13) or not yet verified (0x21)."""


class FingerTimeout(FingerError):
    """No answer from the module in time (or the module's own timeout, 0x26)."""


# code -> error class: the i-th code of ERRORS[0] raises ERRORS[1][i], other codes a
# FingerError (the enrolment codes have their classes in r503_enroll.py).
ERRORS = (b"\x01\x02\x03\x06\x07\x08\x09\x13\x15\x21\x26",
          (PacketError, NoFinger, BadImage, BadImage, BadImage, NotFound, NotFound,
           WrongPassword, BadImage, WrongPassword, FingerTimeout))


def error_for(code, errors=ERRORS):
    """The FingerError (subclass) instance for a non-zero confirmation code, named by
    firmware/drivers/r503_codes.py (imported only on an error; the port frees it)."""
    from firmware.drivers.r503_codes import code_name
    name = code_name(code) or "unknown_0x%02x" % code
    i = errors[0].find(bytes((code,)))
    return (FingerError if i < 0 else errors[1][i])(code, name, "code 0x%02x" % code)


def packet_error(detail, *args):
    """A PacketError whose detail is DETAILS[detail] (r503_codes.py, imported on a failure
    only: the texts stay off the resident heap; the caller's _T_* const) formatted with
    args."""
    from firmware.drivers.r503_codes import DETAILS
    return PacketError(None, "packet_error", DETAILS[detail] % args)


def checksum(pid, length, payload):
    s = pid + (length >> 8) + (length & 0xFF)
    for b in payload:
        s += b
    return s & 0xFFFF


def build_packet(address, pid, payload):
    """One packet: header, address, PID, length, payload, checksum."""
    length = len(payload) + 2
    return (_HEADER + address.to_bytes(4, "big") + bytes((pid, length >> 8, length & 0xFF))
            + bytes(payload) + checksum(pid, length, payload).to_bytes(2, "big"))


class R503:
    """R503/R307 fingerprint module.

    uart: machine.UART-like; address/password: module settings (defaults FFFFFFFF, 0);
    ticks_ms: millisecond tick callable; timeout_ms: answer timeout for one command;
    capacity: template pages searched by identify(); None (default): the library
    size the module reports (ReadSysPara: R503 200, R307 1,000), read on first use.
    Enrolment and library management: firmware/drivers/r503_enroll.py (not loaded by
    the lock's loop)."""

    errors = ERRORS          # code -> error class table (error_for)

    def __init__(self, uart, address=0xFFFFFFFF, password=0, ticks_ms=None,
                 timeout_ms=1500, capacity=None):
        self.uart = uart
        self.address = address
        self.password = password
        self.ticks_ms = ticks_ms if ticks_ms is not None else default_ticks(False)
        self.timeout_ms = timeout_ms
        self.capacity = capacity

    # -- link ----------------------------------------------------------------------------
    def _read_exact(self, n, start, started):
        """n bytes or, after timeout_ms: PacketError (short packet) if the packet had
        started (started, or some bytes came), else FingerTimeout (no answer)."""
        buf = b""
        while len(buf) < n:
            chunk = self.uart.read(n - len(buf)) if self.uart.any() else None
            if chunk:
                buf += chunk
            elif ticks_diff(self.ticks_ms(), start) > self.timeout_ms:
                if started or buf:
                    raise packet_error(_T_SHORT, len(buf), n)
                raise FingerTimeout(None, "timeout", "no answer in %d ms" % self.timeout_ms)
        return buf

    def read_packet(self):
        """Read one packet -> (pid, payload). Raises PacketError naming what was wrong."""
        start = self.ticks_ms()
        head = self._read_exact(9, start, False)
        if head[:2] != _HEADER:
            raise packet_error(_T_HEADER, head[0], head[1])
        addr = int.from_bytes(head[2:6], "big")
        if addr != self.address:
            raise packet_error(_T_ADDRESS, addr, self.address)
        pid = head[6]
        if pid not in (_PID_ACK, _PID_DATA, _PID_END):
            raise packet_error(_T_PID, pid)
        length = (head[7] << 8) | head[8]
        if length < 2 or length > 258:
            raise packet_error(_T_LENGTH, length)
        rest = self._read_exact(length, start, True)
        payload = rest[:-2]
        got = (rest[-2] << 8) | rest[-1]
        want = checksum(pid, length, payload)
        if got != want:
            raise packet_error(_T_CHECKSUM, got, want)
        return pid, payload

    def command(self, instruction, params=b""):
        """Send one command and return the acknowledge data after the confirmation code.

        Raises error_for(code) for a non-zero code, PacketError, FingerTimeout."""
        while self.uart.any():                  # drop stale bytes from an earlier failure
            self.uart.read(self.uart.any())
        self.uart.write(build_packet(self.address, _PID_COMMAND, bytes((instruction,)) + params))
        pid, payload = self.read_packet()
        if pid != _PID_ACK:
            raise packet_error(_T_NOT_ACK, pid)
        if len(payload) < 1:
            raise packet_error(_T_EMPTY_ACK)
        if payload[0] != 0:
            raise error_for(payload[0], self.errors)
        return payload[1:]

    # -- instructions ------------------------------------------------------------------
    def verify_password(self):
        self.command(_VFY_PWD, self.password.to_bytes(4, "big"))

    def gen_img(self):
        self.command(_GEN_IMG)

    def img2tz(self, buffer_id):
        self.command(_IMG2TZ, bytes((buffer_id,)))

    def search(self, buffer_id=1, start=0, count=None):
        """1:N search -> (page id, match score)."""
        if count is None:
            count = self.library_size() - start
        data = self.command(_SEARCH, bytes((buffer_id,)) + start.to_bytes(2, "big")
                            + count.to_bytes(2, "big"))
        if len(data) < 4:
            raise packet_error(_T_SEARCH, len(data))
        return (data[0] << 8) | data[1], (data[2] << 8) | data[3]

    def library_size(self):
        """Template pages: the capacity given, else the module's own (read once)."""
        if self.capacity is None:                # ReadSysPara word 2 (see r503_enroll)
            d = self.command(_READ_SYS_PARA)
            if len(d) < 16:
                raise packet_error(_T_SYS_PARA, len(d))
            size = (d[4] << 8) | d[5]
            if size < 1:
                raise packet_error(_T_LIBRARY, size)
            self.capacity = size
        return self.capacity

    # -- high level ---------------------------------------------------------------------
    def identify(self):
        """Capture, extract and search once -> (template_id, score).

        Raises NoFinger, BadImage, NotFound (or another FingerError)."""
        size = self.library_size()
        self.gen_img()
        self.img2tz(1)
        return self.search(1, 0, size)

    def event(self):
        """The core event ("finger", template_id, score) of identify()."""
        page, score = self.identify()
        return ("finger", page, score)
