# NXP MFRC522 13.56 MHz reader over SPI, with the ISO/IEC 14443-3 type A card
# layer (REQA, anticollision and select at cascade levels 1 and 2, HLTA) and a
# minimal ISO/IEC 14443-4 (ISO-DEP) block exchange for challenge-response cards.
#
# Register map, SPI address format and commands: NXP MFRC522 datasheet rev 3.9,
# sections 8.1.2 (SPI), 9 (registers) and 10 (commands). Card layer: ISO/IEC
# 14443-3:2018 section 6 (type A), ISO/IEC 14443-4 section 7 (block format).
#
# The bus comes in: `spi` has write(buf) / write_readinto(out, in) like
# machine.SPI, `cs` has value(v) like machine.Pin (chip select, active low).
# Runs on MicroPython (ESP32) and on CPython against tests/fakes/fake_mfrc522.py.

try:
    from micropython import const  # pyright: ignore[reportAssignmentType]
except ImportError:  # CPython
    def const(x):
        return x

from firmware.drivers._ticks import default_ticks, ticks_diff
from firmware.drivers.rfid_errors import (  # noqa: F401  (this driver's errors)
    AuthError,
    ChipError,
    CollisionError,
    CRCError,
    NoCardError,
    ProtocolError,
    RfidError,
    error,
    hexlify,
)

# -- registers (datasheet table 20) -----------------------------------------------
_COMMAND = const(0x01)
_COM_IEN = const(0x02)
_DIV_IEN = const(0x03)
_COM_IRQ = const(0x04)
_DIV_IRQ = const(0x05)
_ERROR = const(0x06)
_STATUS1 = const(0x07)
_STATUS2 = const(0x08)
_FIFO_DATA = const(0x09)
_FIFO_LEVEL = const(0x0A)
_CONTROL = const(0x0C)
_BIT_FRAMING = const(0x0D)
_COLL = const(0x0E)
_MODE = const(0x11)
_TX_MODE = const(0x12)
_RX_MODE = const(0x13)
_TX_CONTROL = const(0x14)
_TX_ASK = const(0x15)
_CRC_RESULT_H = const(0x21)
_CRC_RESULT_L = const(0x22)
_MOD_WIDTH = const(0x24)
_TMODE = const(0x2A)
_TPRESCALER = const(0x2B)
_TRELOAD_H = const(0x2C)
_TRELOAD_L = const(0x2D)
_VERSION = const(0x37)

# -- commands (datasheet table 149) ------------------------------------------------
_CMD_IDLE = const(0x00)
_CMD_CALC_CRC = const(0x03)
_CMD_TRANSCEIVE = const(0x0C)
_CMD_SOFT_RESET = const(0x0F)

# -- bits ----------------------------------------------------------------------------
_IRQ_TIMER = const(0x01)
_IRQ_ERR = const(0x02)
_IRQ_IDLE = const(0x10)
_IRQ_RX = const(0x20)
_DIV_IRQ_CRC = const(0x04)
_ERR_PROTOCOL = const(0x01)
_ERR_PARITY = const(0x02)
_ERR_CRC = const(0x04)
_ERR_COLL = const(0x08)
_ERR_BUFFER_OVFL = const(0x10)
_START_SEND = const(0x80)
_FLUSH_BUFFER = const(0x80)
_POWER_DOWN = const(0x10)          # CommandReg PowerDown bit

# -- ISO 14443-3 A ---------------------------------------------------------------------
_PICC_REQA = const(0x26)
_PICC_WUPA = const(0x52)
_PICC_HLTA = const(0x50)
_CASCADE_TAG = const(0x88)
_SAK_CASCADE = const(0x04)
_SAK_ISO14443_4 = const(0x20)

# Timer (datasheet 8.5): period = (2 x TPrescaler + 1) x (TReload + 1) / 13.56 MHz,
# started by TAuto at the end of sending. TPrescaler 0x0A9: 25 us a tick; TReload 999:
# 25 ms, the timeout until a card announces its own (ISO/IEC 14443-3 layer, RATS).
_TIMER_PRESCALER = const(0x0A9)
_TIMEOUT_US = const(25000)
_FC_HZ = const(13560000)

# Failure texts: index in firmware/drivers/rfid_texts.py TEXTS (private consts: no name on
# the device; tests/test_error_texts.py checks each against the name it has there).
_T_RESET = const(0)
_T_VERSION = const(1)
_T_CRC_UNIT = const(2)
_T_COLLISION = const(3)
_T_NO_IRQ = const(4)
_T_CRC_CHIP = const(5)
_T_ERROR_REG = const(6)
_T_EMPTY = const(7)
_T_SHORT = const(8)
_T_CRC_A = const(9)
_T_ATQA = const(10)
_T_ANTICOLL = const(11)
_T_BCC = const(12)
_T_SAK = const(13)
_T_CASCADE = const(14)
_T_UID_LONG = const(15)


class MFRC522:
    """MFRC522 register access, command engine, CRC coprocessor and 14443-A cards.

    spi: object with write(buf) and write_readinto(out, inbuf).
    cs: chip-select pin object with value(v); driven low for each transfer.
    ticks_us: microsecond tick callable (default time.ticks_us).
    """

    def __init__(self, spi, cs, ticks_us=None, poll_guard_us=60000):
        self.spi = spi
        self.cs = cs
        self.ticks_us = ticks_us if ticks_us is not None else default_ticks(True)
        self.poll_guard_us = poll_guard_us
        self.last_rtt_us = 0
        self.timeout_us = _TIMEOUT_US    # receive timeout programmed in the chip timer
        self.fwt_us = None              # the card's FWT + delta FWT, after RATS
        self._block = 0
        self._out = bytearray(2)
        self._in = bytearray(2)
        self.cs.value(1)

    # -- register level (datasheet 8.1.2.1-8.1.2.3) --------------------------------------
    # (one 2-byte buffer pair for every register access: polling ComIrqReg allocates
    # nothing, so an idle reader does not churn the heap)
    def write_reg(self, reg, value):
        b = self._out
        b[0] = (reg << 1) & 0x7E
        b[1] = value & 0xFF
        self.cs.value(0)
        try:
            self.spi.write(b)
        finally:
            self.cs.value(1)

    def read_reg(self, reg):
        b = self._out
        b[0] = ((reg << 1) & 0x7E) | 0x80
        b[1] = 0
        self.cs.value(0)
        try:
            self.spi.write_readinto(b, self._in)
        finally:
            self.cs.value(1)
        return self._in[1]

    def write_fifo(self, data):
        self.cs.value(0)
        try:
            self.spi.write(bytes(((_FIFO_DATA << 1) & 0x7E,)) + bytes(data))
        finally:
            self.cs.value(1)

    def read_fifo(self, n):
        addr = ((_FIFO_DATA << 1) & 0x7E) | 0x80
        out = bytearray(n + 1)
        for i in range(n):
            out[i] = addr
        buf = bytearray(n + 1)
        self.cs.value(0)
        try:
            self.spi.write_readinto(out, buf)
        finally:
            self.cs.value(1)
        return bytes(buf[1:])

    # -- chip setup -------------------------------------------------------------------------
    def init(self):
        """Soft reset (then wait for PowerDown to clear, datasheet 10.3.1.10), set the
        25 ms receive timer, 100% ASK, CRC preset 6363h, antenna on.

        Returns the VersionReg value (0x91 v1.0, 0x92 v2.0, clones differ)."""
        self.write_reg(_COMMAND, _CMD_SOFT_RESET)
        start = self.ticks_us()
        while self.read_reg(_COMMAND) & _POWER_DOWN:
            if ticks_diff(self.ticks_us(), start) > 50000:
                raise error(ChipError, _T_RESET)
        version = self.read_reg(_VERSION)
        if version in (0x00, 0xFF):
            raise error(ChipError, _T_VERSION, version)
        self.set_timeout(_TIMEOUT_US)
        self.write_reg(_TX_ASK, 0x40)                              # Force100ASK
        self.write_reg(_MODE, 0x3D)                                # CRC preset 6363h
        tx = self.read_reg(_TX_CONTROL)                            # antenna on
        if tx & 0x03 != 0x03:
            self.write_reg(_TX_CONTROL, tx | 0x03)
        return version

    def set_timeout(self, us):
        """Program the receive timer (TAuto: it starts when sending ends) for at least us
        microseconds: 25 us ticks, a coarser prescaler past 65536 ticks (1.6 s)."""
        presc = _TIMER_PRESCALER
        while True:
            tick = 100 * (2 * presc + 1)                 # one tick is tick / 1356 us
            ticks = (us * (_FC_HZ // 10000) + tick - 1) // tick
            if ticks <= 0x10000 or presc >= 0x7FF:
                break
            presc = 2 * presc + 1
        reload = min(max(ticks, 1), 0x10000) - 1
        self.write_reg(_TMODE, 0x80 | (presc >> 8))              # TAuto, prescaler hi
        self.write_reg(_TPRESCALER, presc & 0xFF)
        self.write_reg(_TRELOAD_H, reload >> 8)
        self.write_reg(_TRELOAD_L, reload & 0xFF)
        self.timeout_us = us

    # -- command engine -------------------------------------------------------------------
    def calc_crc(self, data):
        """CRC_A of data by the chip's CRC coprocessor -> 2 bytes, low byte first."""
        self.write_reg(_COMMAND, _CMD_IDLE)
        self.write_reg(_DIV_IRQ, _DIV_IRQ_CRC)          # clear CRCIRq
        self.write_reg(_FIFO_LEVEL, _FLUSH_BUFFER)
        self.write_fifo(data)
        self.write_reg(_COMMAND, _CMD_CALC_CRC)
        start = self.ticks_us()
        done = 0
        for _ in range(5000):
            done = self.read_reg(_DIV_IRQ) & _DIV_IRQ_CRC
            if done or ticks_diff(self.ticks_us(), start) > self.poll_guard_us:
                break
        if not done:
            raise error(ChipError, _T_CRC_UNIT)
        self.write_reg(_COMMAND, _CMD_IDLE)
        return bytes((self.read_reg(_CRC_RESULT_L), self.read_reg(_CRC_RESULT_H)))

    def transceive(self, data, tx_last_bits=0, check_collision=True):
        """Send data (last byte with tx_last_bits valid bits, 0 = 8), return
        (answer bytes, valid bits in the last byte, 0 = 8). Sets last_rtt_us to the
        time from StartSend to the end of reception as seen by polling.

        Raises NoCardError on timer expiry, CollisionError, CRCError, ProtocolError."""
        self.write_reg(_COMMAND, _CMD_IDLE)
        self.write_reg(_COM_IRQ, 0x7F)                   # clear all interrupt request bits
        self.write_reg(_FIFO_LEVEL, _FLUSH_BUFFER)
        self.write_fifo(data)
        self.write_reg(_BIT_FRAMING, tx_last_bits & 0x07)
        self.write_reg(_COMMAND, _CMD_TRANSCEIVE)
        start = self.ticks_us()
        self.write_reg(_BIT_FRAMING, _START_SEND | (tx_last_bits & 0x07))
        irq = 0
        guard = max(self.poll_guard_us, 2 * self.timeout_us)
        for _ in range(1000000):
            irq = self.read_reg(_COM_IRQ)
            if irq & (_IRQ_RX | _IRQ_IDLE | _IRQ_TIMER):
                break
            if ticks_diff(self.ticks_us(), start) > guard:
                break
        end = self.ticks_us()
        self.last_rtt_us = ticks_diff(end, start)
        self.write_reg(_BIT_FRAMING, self.read_reg(_BIT_FRAMING) & ~_START_SEND & 0xFF)
        self.write_reg(_COMMAND, _CMD_IDLE)
        err = self.read_reg(_ERROR)
        if err & _ERR_COLL and check_collision:
            raise error(CollisionError, _T_COLLISION, self.read_reg(_COLL))
        if not irq & (_IRQ_RX | _IRQ_IDLE):
            if irq & _IRQ_TIMER:
                raise NoCardError("rfid: no answer within %d us" % self.timeout_us)
            raise error(ChipError, _T_NO_IRQ, guard, irq)
        if err & _ERR_CRC:
            raise error(CRCError, _T_CRC_CHIP)
        if err & (_ERR_PROTOCOL | _ERR_PARITY | _ERR_BUFFER_OVFL):
            raise error(ProtocolError, _T_ERROR_REG, err)
        n = self.read_reg(_FIFO_LEVEL) & 0x7F
        last_bits = self.read_reg(_CONTROL) & 0x07
        if n == 0:
            raise error(ProtocolError, _T_EMPTY)
        return self.read_fifo(n), last_bits

    def transceive_crc(self, data):
        """Send data + CRC_A, check and strip the answer's CRC_A."""
        data = bytes(data)
        ans, bits = self.transceive(data + self.calc_crc(data))
        if bits != 0 or len(ans) < 3:
            raise error(ProtocolError, _T_SHORT, len(ans), bits)
        if self.calc_crc(ans[:-2]) != ans[-2:]:
            raise error(CRCError, _T_CRC_A, len(ans))
        return ans[:-2]

    # -- ISO/IEC 14443-3 type A ----------------------------------------------------------
    def request(self, wake=False):
        """REQA (or WUPA) as a 7-bit short frame -> ATQA (2 bytes)."""
        ans, bits = self.transceive(bytes((_PICC_WUPA if wake else _PICC_REQA,)), 7)
        if len(ans) != 2 or bits != 0:
            raise error(ProtocolError, _T_ATQA, len(ans), bits)
        return ans

    def anticollision(self, level):
        """ANTICOLLISION at cascade level (0, 1, 2) with NVB 20h -> 4 UID bytes (BCC checked)."""
        ans, bits = self.transceive(bytes((0x93 + 2 * level, 0x20)))
        if len(ans) != 5 or bits != 0:
            raise error(ProtocolError, _T_ANTICOLL, len(ans))
        if ans[0] ^ ans[1] ^ ans[2] ^ ans[3] != ans[4]:
            raise error(ProtocolError, _T_BCC, level + 1)
        return ans[:4]

    def select_level(self, level, part):
        """SELECT at cascade level with 4 UID bytes -> SAK."""
        bcc = part[0] ^ part[1] ^ part[2] ^ part[3]
        ans = self.transceive_crc(bytes((0x93 + 2 * level, 0x70)) + bytes(part) + bytes((bcc,)))
        if len(ans) != 1:
            raise error(ProtocolError, _T_SAK, len(ans))
        return ans[0]

    def select(self, wake=False):
        """REQA (WUPA if wake: halted cards answer too), then anticollision + select
        through the cascade levels -> (uid bytes, sak)."""
        if self.timeout_us != _TIMEOUT_US:                # an earlier card's FWT
            self.set_timeout(_TIMEOUT_US)
            self.fwt_us = None
        self.request(wake)
        uid = b""
        for level in range(3):
            part = self.anticollision(level)
            sak = self.select_level(level, part)
            if sak & _SAK_CASCADE:
                if part[0] != _CASCADE_TAG:
                    raise error(ProtocolError, _T_CASCADE)
                uid += part[1:]
                continue
            uid += part
            self._block = 0
            return uid, sak
        raise error(ProtocolError, _T_UID_LONG)

    def halt(self):
        """HLTA. A card that understood stays silent, so the timeout is success."""
        data = bytes((_PICC_HLTA, 0x00))
        try:
            self.transceive(data + self.calc_crc(data))
        except NoCardError:
            return True
        return False

    # -- ISO/IEC 14443-4 (firmware/drivers/isodep.py, loaded for strong reads only) -----
    def deselect(self):
        """S(DESELECT) for an ISO-DEP card: it goes to HALT. Silence is tolerated."""
        from firmware.drivers import isodep
        return isodep.deselect(self)

    def rats(self, fsdi=5):
        """RATS (isodep.rats): the ATS; the timer then waits the card's FWT."""
        from firmware.drivers import isodep
        return isodep.rats(self, fsdi)

    def exchange_apdu(self, apdu):
        """One APDU in an I-block -> the answer's INF field (isodep.exchange_apdu)."""
        from firmware.drivers import isodep
        return isodep.exchange_apdu(self, apdu)
