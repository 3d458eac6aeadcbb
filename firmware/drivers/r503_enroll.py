# Enrolment and template-library management of the R503 / R307 (firmware/drivers/r503.py):
# a rig or enrolment station uses these; the lock's loop only identifies, so it never
# loads this module. Instructions: R503 user manual v1.2 section 5.

try:
    from micropython import const  # pyright: ignore[reportAssignmentType]
except ImportError:  # CPython
    def const(x):
        return x

from firmware.drivers._ticks import ticks_diff
from firmware.drivers.r503 import (
    ERRORS,
    R503,
    BadImage,
    FingerError,
    FingerTimeout,
    NoFinger,
    PacketError,
)

_REG_MODEL = const(0x05)
_STORE = const(0x06)
_DELETE_CHAR = const(0x0C)
_EMPTY = const(0x0D)
_TEMPLATE_NUM = const(0x1D)
_READ_SYS_PARA = const(0x0F)


class EnrollFail(FingerError):
    """Enrolment failed: the two captures do not merge (0x0A)."""


class BadPage(FingerError):
    """Page id outside the library (0x0B)."""


class FlashError(FingerError):
    """Module flash write/erase failed (0x18, 0x10, 0x11)."""


class R503Enroll(R503):
    """An R503 with enrolment (two captures, merge, store) and library management."""

    errors = (ERRORS[0] + b"\x0a\x0b\x10\x11\x18",
              ERRORS[1] + (EnrollFail, BadPage, FlashError, FlashError, FlashError))

    def reg_model(self):
        self.command(_REG_MODEL)

    def store(self, page, buffer_id=1):
        self.command(_STORE, bytes((buffer_id,)) + page.to_bytes(2, "big"))

    def delete(self, page, n=1):
        self.command(_DELETE_CHAR, page.to_bytes(2, "big") + n.to_bytes(2, "big"))

    def empty(self):
        self.command(_EMPTY)

    def template_count(self):
        data = self.command(_TEMPLATE_NUM)
        if len(data) < 2:
            raise PacketError(None, "packet_error",
                              "template count has %d bytes" % len(data))
        return (data[0] << 8) | data[1]

    def _wait(self, finger, wait_ms):
        """Poll GenImg until a finger gives an image (finger=True) or is lifted (False).
        A bad touch (BadImage) is a finger still there without a usable image."""
        start = self.ticks_ms()
        while True:
            try:
                self.gen_img()
                if finger:
                    return
            except NoFinger:
                if not finger:
                    return
            except BadImage:
                pass
            if ticks_diff(self.ticks_ms(), start) > wait_ms:
                raise FingerTimeout(None, "timeout", "finger %s within %d ms"
                                    % ("not placed" if finger else "not lifted", wait_ms))

    def enroll(self, page, wait_ms=10000):
        """Two captures (lift in between), merge, store at page. Raises BadPage,
        EnrollFail (merge failed: not the same finger), FingerTimeout, ..."""
        size = self.library_size()
        if page < 0 or page >= size:
            raise BadPage(0x0B, "bad_page", "page %d outside 0..%d" % (page, size - 1))
        self._wait(True, wait_ms)
        self.img2tz(1)
        self._wait(False, wait_ms)
        self._wait(True, wait_ms)
        self.img2tz(2)
        self.reg_model()
        self.store(page, 1)

    def read_sys_para(self):
        """ReadSysPara -> (status register, system id, library size, security level,
        address, packet bytes, baud rate) from the 16-byte basic parameter list."""
        d = self.command(_READ_SYS_PARA)
        if len(d) < 16:
            raise PacketError(None, "packet_error", "system parameters have %d bytes" % len(d))
        w = [(d[i] << 8) | d[i + 1] for i in range(0, 16, 2)]
        return (w[0], w[1], w[2], w[3], (w[4] << 16) | w[5], 32 << w[6], 9600 * w[7])
