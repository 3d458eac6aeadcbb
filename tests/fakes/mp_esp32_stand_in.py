# Stand-ins for the ESP32's `machine` and the build module, in MicroPython-compatible
# Python: prepended to programs run under the MicroPython WASM VM (hardware/node/mp_run.mjs)
# by bench/bench_build.py and tests/test_esp32_port.py. Set SENSE (the actuator sense pin)
# before use; the fingerprint UART answers every command with an R503 "OK" acknowledge,
# the SPI bus has no MFRC522 on it (set CARD_UID to a 7-byte UID first: then it has one,
# with that card in the field, answering REQA, anticollision, SELECT and HLTA as an
# NTAG 424 without its key would: a UID-only read), the ADC reads 1.95 V, I2C has no
# device. `bluetooth` (sys.modules) offers the calls firmware/ports/esp32/ble.py makes;
# it keeps in the heap what MicroPython's own module keeps there (the IRQ ring buffer,
# each characteristic's value buffer); NimBLE's RAM is outside the MicroPython heap.
# ruff: noqa: N802, N801
import sys as _sys

SENSE = -1
PINS = {}
ACK = b"\xef\x01\xff\xff\xff\xff\x07\x00\x03\x00\x00\x0a"


class Pin:
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_UP = 2
    PULL_DOWN = 1
    IRQ_RISING = 1
    IRQ_FALLING = 2

    def __init__(self, n, mode=-1, pull=-1, value=None):
        self.n = n
        self.v = value if value is not None else (1 if n == SENSE else 0)
        PINS[n] = self

    def value(self, v=None):
        if v is None:
            return self.v
        self.v = v

    def irq(self, handler=None, trigger=3):
        pass


class UART:
    def __init__(self, uid, **kw):
        self.rx = b""

    def any(self):
        return len(self.rx)

    def read(self, n=None):
        n = len(self.rx) if n is None else n
        out, self.rx = self.rx[:n], self.rx[n:]
        return out or None

    def write(self, b):
        self.rx = ACK
        return len(b)


CARD_UID = None


def _crc_a(data):
    crc = 0x6363
    for b in data:
        b ^= crc & 0xFF
        b = (b ^ (b << 4)) & 0xFF
        crc = (crc >> 8) ^ (b << 8) ^ (b << 3) ^ (b >> 4)
    return bytes((crc & 0xFF, crc >> 8))


class SPI:
    """No chip (reads 0), or with CARD_UID an MFRC522 register file (datasheet 8.1.2:
    address byte, FIFO 0x09, level 0x0A, commands CalcCRC / Transceive / SoftReset)."""

    def __init__(self, sid, **kw):
        self.chip = CARD_UID is not None
        self.regs = bytearray(64)
        self.regs[0x37] = 0x92
        self.fifo = bytearray()
        self.card = "idle"
        self.level = 0

    def write(self, b):
        if self.chip and len(b):
            reg = (b[0] >> 1) & 0x3F
            for v in b[1:]:
                self._write(reg, v)

    def write_readinto(self, o, i):
        for k in range(len(i)):
            i[k] = 0
        if self.chip:
            for k in range(1, len(o)):
                reg = (o[k - 1] >> 1) & 0x3F
                if reg == 0x09:
                    i[k] = self.fifo[0] if self.fifo else 0
                    self.fifo = self.fifo[1:]
                else:
                    i[k] = len(self.fifo) if reg == 0x0A else self.regs[reg]

    def _write(self, reg, v):
        if reg == 0x09:
            self.fifo.append(v)
        elif reg == 0x0A:
            if v & 0x80:
                self.fifo = bytearray()
        elif reg in (0x04, 0x05):
            self.regs[reg] = self.regs[reg] | v & 0x7F if v & 0x80 else self.regs[reg] & ~v
        elif reg == 0x01:
            self.regs[1] = v & 0x2F
            if v & 0x0F == 0x03:
                crc = _crc_a(bytes(self.fifo))
                self.fifo = bytearray()
                self.regs[0x22], self.regs[0x21] = crc[0], crc[1]
                self.regs[0x05] |= 0x04
        elif reg == 0x0D:
            self.regs[reg] = v & 0x77
            if v & 0x80 and self.regs[1] & 0x0F == 0x0C:
                self._air(bytes(self.fifo), v & 7)
        else:
            self.regs[reg] = v

    def _answer(self, frame, bits):
        uid = CARD_UID
        parts = (b"\x88" + uid[:3], uid[3:])
        if bits == 7:
            if frame[0] == 0x26 and self.card == "idle" or frame[0] == 0x52:
                self.card, self.level = "ready", 0
                return b"\x44\x00"
            return None
        part = parts[self.level] if self.level < 2 else b""
        bcc = bytes((part[0] ^ part[1] ^ part[2] ^ part[3],)) if part else b""
        if self.card == "ready" and frame == bytes((0x93 + 2 * self.level, 0x20)):
            return part + bcc
        if self.card == "ready" and frame[:2] == bytes((0x93 + 2 * self.level, 0x70)):
            self.level += 1
            if self.level == 1:
                return b"\x04" + _crc_a(b"\x04")
            self.card = "active"
            return b"\x00" + _crc_a(b"\x00")
        if frame[:2] == b"\x50\x00":
            self.card = "halt"
        return None

    def _air(self, frame, bits):
        self.fifo = bytearray()
        ans = self._answer(frame, bits)
        self.regs[0x06] = 0
        if ans is None:
            self.regs[0x04] |= 0x01
        else:
            self.fifo = bytearray(ans)
            self.regs[0x04] |= 0x30


class ADC:
    ATTN_11DB = 3

    def __init__(self, pin):
        pass

    def atten(self, a):
        pass

    def read_uv(self):
        return 1950000


class _BLE:
    def __init__(self):
        self.ring = bytearray(128)     # modbluetooth's IRQ ring buffer (heap)
        self.bufs = {}                 # handle -> value buffer (heap in MicroPython)

    def active(self, on=None):
        return True

    def config(self, **kw):
        pass

    def gatts_register_services(self, services):
        out = []
        for _, chars in services:
            hs = []
            for _c in chars:
                h = len(self.bufs) + 1
                self.bufs[h] = bytearray(20)
                hs.append(h)
            out.append(tuple(hs))
        return tuple(out)

    def gatts_set_buffer(self, h, n, append=False):
        self.bufs[h] = bytearray(n)

    def irq(self, handler):
        self.handler = handler

    def gap_advertise(self, interval_us, adv_data=None, resp_data=None, connectable=True):
        pass

    def gatts_read(self, h):
        return b""

    def gatts_notify(self, conn, h, data):
        pass


class bluetooth:
    BLE = _BLE

    class UUID:
        def __init__(self, v):
            self.v = v


_sys.modules["bluetooth"] = bluetooth


class RTC:
    def datetime(self, t=None):
        pass


class I2C:
    def __init__(self, *a, **k):
        raise OSError(19)


class machine:
    Pin = Pin
    UART = UART
    SPI = SPI
    ADC = ADC
    I2C = I2C
    PWRON_RESET = 1
    WDT_RESET = 3

    @staticmethod
    def RTC():
        return RTC()

    @staticmethod
    def reset_cause():
        return 1


class build:
    MODE = "dev"
    BOARD = "bench"
    VERSION = "bench"
    WDT_MS = 0


class IO:
    def __init__(self):
        self.inq = []
        self.out = bytearray()

    def read(self):
        return self.inq.pop(0) if self.inq else b""

    def write(self, b):
        self.out += b
