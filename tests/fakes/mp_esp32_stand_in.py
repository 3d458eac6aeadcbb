# Stand-ins for the ESP32's `machine` and the build module, in MicroPython-compatible
# Python: prepended to programs run under the MicroPython WASM VM (hardware/node/mp_run.mjs)
# by bench/bench_build.py and tests/test_esp32_port.py. Set SENSE (the actuator sense pin)
# before use; the fingerprint UART answers every command with an R503 "OK" acknowledge,
# the SPI bus has no MFRC522 on it, the ADC reads 1.95 V, I2C has no device.
# ruff: noqa: N802, N801

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


class SPI:
    def __init__(self, sid, **kw):
        pass

    def write(self, b):
        pass

    def write_readinto(self, o, i):
        for k in range(len(i)):
            i[k] = 0


class ADC:
    ATTN_11DB = 3

    def __init__(self, pin):
        pass

    def atten(self, a):
        pass

    def read_uv(self):
        return 1950000


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
