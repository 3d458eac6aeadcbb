# Stand-ins for the ESP32's `machine`, `bluetooth`, `esp32`, `neopixel` and the build
# module, in MicroPython-compatible Python: prepended to programs run under the
# MicroPython WASM VM (hardware/node/mp_run.mjs) by bench/bench_build.py and
# tests/test_esp32_port.py. Set SENSE (the actuator sense pin) before use; the
# fingerprint UART answers every command with an R503 "OK" acknowledge, the SPI bus has
# no MFRC522 on it (set CARD_UID to a 7-byte UID first: then it has one, with that card
# in the field, answering REQA, anticollision, SELECT and HLTA as an NTAG 424 without its
# key would: a UID-only read), the ADC reads 1.95 V, I2C has no device, machine.mem32
# reads 0 (an ESP32 with no eFuse burnt). `bluetooth` and `neopixel` (sys.modules) offer
# the calls firmware/ports/esp32/ble.py and board.py make; `bluetooth` keeps in the heap
# what MicroPython's own module keeps there (the IRQ ring buffer, each characteristic's
# value buffer); NimBLE's RAM is outside the MicroPython heap. `esp32` (NVS) is defined
# but not in sys.modules: the app keeps using the identity file, as before.
#
# Interned names (bench/bench_heap_modules.py counts the app's names as a board would):
# everything here is interned before the app starts, so a name the app uses counts as
# the app's only if it is not here. The stand-ins therefore use, where the app can see
# them, only names a stock ESP32_GENERIC image has built in (in its ROM qstrs or its
# frozen modules' pool), and for their own state names the app does not use
# (tests/test_stand_in_names.py checks: every identifier here that the deployed firmware
# also uses is in BUILT_IN below or is a Python keyword or builtin). The classes take the
# keyword parameters of the MicroPython ESP32 docs (docs.micropython.org: machine.Pin,
# UART, SPI, I2C, ADC, PWM, WDT, RTC, machine.mem32, bluetooth.BLE, esp32.NVS, neopixel),
# so an app keyword the real API lacks fails here too. Built in on the image:
#   machine module: machine Pin UART SPI I2C ADC PWM WDT RTC mem32 reset_cause
#     PWRON_RESET WDT_RESET; Pin(id, mode, pull, value) IN OUT PULL_UP PULL_DOWN
#     IRQ_RISING IRQ_FALLING value irq(handler, trigger); UART(id, baudrate, bits,
#     parity, stop, tx, rx, txbuf, rxbuf, timeout, timeout_char) any read write init;
#     SPI(id, baudrate, polarity, phase, bits, firstbit, sck, mosi, miso) MSB write
#     write_readinto; I2C(id, scl, sda, freq, timeout) writeto_mem readfrom_mem_into
#     (addr, memaddr, buf); ADC(pin) atten read_uv ATTN_11DB; PWM(dest, freq, duty_u16)
#     deinit; WDT(id, timeout) feed; RTC datetime
#   bluetooth module: bluetooth BLE UUID active config(gap_name, mtu) irq
#     gatts_register_services gatts_set_buffer(value_handle, len, append) gap_advertise
#     (interval_us, adv_data, resp_data, connectable) gatts_read gatts_notify
#     (conn_handle, value_handle, data)
#   esp32 module: esp32 NVS(namespace) get_blob(key, buffer) set_blob(key, value) commit
#   neopixel (frozen from micropython-lib): neopixel NeoPixel(pin, n, bpp, timing) write
#   core names, on every image: self _ __init__ sys modules pop values data key n
# Not built in, and here anyway: the build module (build, as the app's callers name it)
# and its MODE BOARD VERSION WDT_MS and "dev" (on a board, armlock_build.py interns
# them: 6 names the figure leaves out).
# ruff: noqa: N802, N801
import sys as _sys

BUILT_IN = (
    "machine Pin UART SPI I2C ADC PWM WDT RTC mem32 reset_cause PWRON_RESET WDT_RESET "
    "id mode pull value IN OUT PULL_UP PULL_DOWN IRQ_RISING IRQ_FALLING irq handler trigger "
    "baudrate bits parity stop tx rx txbuf rxbuf timeout timeout_char any read write init "
    "polarity phase firstbit sck mosi miso MSB write_readinto scl sda freq writeto_mem "
    "readfrom_mem_into addr memaddr buf pin atten read_uv ATTN_11DB dest duty_u16 deinit "
    "feed datetime bluetooth BLE UUID active config gap_name mtu gatts_register_services "
    "gatts_set_buffer value_handle len append gap_advertise interval_us adv_data resp_data "
    "connectable gatts_read gatts_notify conn_handle data esp32 NVS namespace get_blob "
    "set_blob key buffer commit neopixel NeoPixel n bpp timing self _ __init__ sys modules "
    "pop values").split()
# the build stand-in's (see above)
NOT_BUILT_IN = ("build", "MODE", "BOARD", "VERSION", "WDT_MS", "dev")

SENSE = -1
PINS = {}
R503_OK_REPLY = b"\xef\x01\xff\xff\xff\xff\x07\x00\x03\x00\x00\x0a"


class Pin:
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_UP = 2
    PULL_DOWN = 1
    IRQ_RISING = 1
    IRQ_FALLING = 2

    def __init__(self, id, mode=-1, pull=-1, value=None):
        self.pin_id = id
        self.level_now = value if value is not None else (1 if id == SENSE else 0)
        PINS[id] = self

    def value(self, value=None):
        if value is None:
            return self.level_now
        self.level_now = value

    def irq(self, handler=None, trigger=3):
        pass


class UART:
    def __init__(self, id, baudrate=9600, bits=8, parity=None, stop=1, tx=-1, rx=-1,
                 txbuf=256, rxbuf=256, timeout=0, timeout_char=0):
        self.inbox = b""

    def init(self, baudrate=9600, bits=8, parity=None, stop=1, tx=-1, rx=-1):
        pass

    def any(self):
        return len(self.inbox)

    def read(self, nbytes=None):
        nbytes = len(self.inbox) if nbytes is None else nbytes
        taken, self.inbox = self.inbox[:nbytes], self.inbox[nbytes:]
        return taken or None

    def write(self, buf):
        self.inbox = R503_OK_REPLY
        return len(buf)


CARD_UID = None


def _iso_crc_a(octets):
    crc_reg = 0x6363
    for octet in octets:
        octet ^= crc_reg & 0xFF
        octet = (octet ^ (octet << 4)) & 0xFF
        crc_reg = (crc_reg >> 8) ^ (octet << 8) ^ (octet << 3) ^ (octet >> 4)
    return bytes((crc_reg & 0xFF, crc_reg >> 8))


class SPI:
    """No chip (reads 0), or with CARD_UID an MFRC522 register file (datasheet 8.1.2:
    address byte, FIFO 0x09, level 0x0A, commands CalcCRC / Transceive / SoftReset)."""
    MSB = 0

    def __init__(self, id, baudrate=1000000, polarity=0, phase=0, bits=8, firstbit=0,
                 sck=None, mosi=None, miso=None):
        self.has_chip = CARD_UID is not None
        self.regfile = bytearray(64)
        self.regfile[0x37] = 0x92
        self.queue = bytearray()
        self.tag_state = "idle"
        self.cascade_at = 0

    def write(self, buf):
        if self.has_chip and len(buf):
            reg_addr = (buf[0] >> 1) & 0x3F
            for octet in buf[1:]:
                self._set(reg_addr, octet)

    def write_readinto(self, write_buf, read_buf):
        for bytepos in range(len(read_buf)):
            read_buf[bytepos] = 0
        if self.has_chip:
            for bytepos in range(1, len(write_buf)):
                reg_addr = (write_buf[bytepos - 1] >> 1) & 0x3F
                if reg_addr == 0x09:
                    read_buf[bytepos] = self.queue[0] if self.queue else 0
                    self.queue = self.queue[1:]
                else:
                    read_buf[bytepos] = (len(self.queue) if reg_addr == 0x0A
                                     else self.regfile[reg_addr])

    def _set(self, reg_addr, octet):
        regs = self.regfile
        if reg_addr == 0x09:
            self.queue.append(octet)
        elif reg_addr == 0x0A:
            if octet & 0x80:
                self.queue = bytearray()
        elif reg_addr in (0x04, 0x05):
            prior = regs[reg_addr]
            regs[reg_addr] = prior | octet & 0x7F if octet & 0x80 else prior & ~octet
        elif reg_addr == 0x01:
            regs[1] = octet & 0x2F
            if octet & 0x0F == 0x03:
                sum2 = _iso_crc_a(bytes(self.queue))
                self.queue = bytearray()
                regs[0x22], regs[0x21] = sum2[0], sum2[1]
                regs[0x05] |= 0x04
        elif reg_addr == 0x0D:
            regs[reg_addr] = octet & 0x77
            if octet & 0x80 and regs[1] & 0x0F == 0x0C:
                self._over_air(bytes(self.queue), octet & 7)
        else:
            regs[reg_addr] = octet

    def _reply_to(self, sent, nbits):
        card = CARD_UID
        uid_halves = (b"\x88" + card[:3], card[3:])
        if nbits == 7:
            if sent[0] == 0x26 and self.tag_state == "idle" or sent[0] == 0x52:
                self.tag_state, self.cascade_at = "selectable", 0
                return b"\x44\x00"
            return None
        uid_half = uid_halves[self.cascade_at] if self.cascade_at < 2 else b""
        bcc_byte = (bytes((uid_half[0] ^ uid_half[1] ^ uid_half[2] ^ uid_half[3],))
                    if uid_half else b"")
        if self.tag_state == "selectable" and sent == bytes((0x93 + 2 * self.cascade_at, 0x20)):
            return uid_half + bcc_byte
        if self.tag_state == "selectable" and sent[:2] == bytes((0x93 + 2 * self.cascade_at, 0x70)):
            self.cascade_at += 1
            if self.cascade_at == 1:
                return b"\x04" + _iso_crc_a(b"\x04")
            self.tag_state = "active"
            return b"\x00" + _iso_crc_a(b"\x00")
        if sent[:2] == b"\x50\x00":
            self.tag_state = "halted"
        return None

    def _over_air(self, sent, nbits):
        self.queue = bytearray()
        air_reply = self._reply_to(sent, nbits)
        self.regfile[0x06] = 0
        if air_reply is None:
            self.regfile[0x04] |= 0x01
        else:
            self.queue = bytearray(air_reply)
            self.regfile[0x04] |= 0x30


class ADC:
    ATTN_11DB = 3

    def __init__(self, pin):
        pass

    def atten(self, atten):
        pass

    def read_uv(self):
        return 1950000


class PWM:
    def __init__(self, dest, freq=None, duty_u16=None):
        pass

    def deinit(self):
        pass


class WDT:
    def __init__(self, id=0, timeout=5000):
        pass

    def feed(self):
        pass


class _BLE:
    def __init__(self):
        self.irq_ring = bytearray(128)   # modbluetooth's IRQ ring buffer (heap)
        self.values = {}                 # handle -> value buffer (heap in MicroPython)

    def active(self, active=None):
        return True

    def config(self, gap_name=None, mtu=None):
        pass

    def gatts_register_services(self, services_definition):
        handles = []
        for _, characteristics in services_definition:
            of_service = []
            for _char in characteristics:
                hnd = len(self.values) + 1
                self.values[hnd] = bytearray(20)
                of_service.append(hnd)
            handles.append(tuple(of_service))
        return tuple(handles)

    def gatts_set_buffer(self, value_handle, len, append=False):
        self.values[value_handle] = bytearray(len)

    def irq(self, handler):
        self.handler = handler

    def gap_advertise(self, interval_us, adv_data=None, resp_data=None, connectable=True):
        pass

    def gatts_read(self, value_handle):
        return b""

    def gatts_notify(self, conn_handle, value_handle, data=None):
        pass


class bluetooth:
    BLE = _BLE

    class UUID:
        def __init__(self, value):
            self.value = value


_sys.modules["bluetooth"] = bluetooth


class neopixel:
    class NeoPixel:
        def __init__(self, pin, n, bpp=3, timing=1):
            self.pixels = [(0, 0, 0)] * n

        def __setitem__(self, led_no, rgb):
            self.pixels[led_no] = rgb

        def write(self):
            pass


_sys.modules["neopixel"] = neopixel


class esp32:
    class NVS:
        def __init__(self, namespace):
            self.blobs = {}

        def get_blob(self, key, buffer):
            if key not in self.blobs:
                raise OSError(-0x1102)        # ESP_ERR_NVS_NOT_FOUND
            taken = self.blobs[key]
            buffer[:len(taken)] = taken
            return len(taken)

        def set_blob(self, key, value):
            self.blobs[key] = bytes(value)

        def commit(self):
            pass


class RTC:
    def datetime(self, datetimetuple=None):
        pass


class I2C:
    def __init__(self, id, scl=None, sda=None, freq=400000, timeout=50000):
        raise OSError(19)

    def writeto_mem(self, addr, memaddr, buf):
        pass

    def readfrom_mem_into(self, addr, memaddr, buf):
        pass


class _Mem32:
    def __getitem__(self, reg_addr):
        return 0


class machine:
    Pin = Pin
    UART = UART
    SPI = SPI
    ADC = ADC
    I2C = I2C
    PWM = PWM
    WDT = WDT
    mem32 = _Mem32()
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
        self.sent = bytearray()

    def read(self):
        return self.inq.pop(0) if self.inq else b""

    def write(self, buf):
        self.sent += buf
