"""Stand-ins for the ESP32 port's MicroPython modules: `machine`, `esp32`, `micropython`,
`time` and the generated `armlock_build`, with one ordered log of hardware operations.

`FakeMachine.log` records, in order, every pin drive, PWM start, watchdog creation and
feed, RTC write, reset and (through FakeMicropython, given the same log) kbd_intr call,
so tests can assert what happened first. Peripherals can be attached before the app
builds them: `attach_pin(n, pin)`, `attach_uart(id, uart)`, `attach_spi(id, spi)`.
"""

from __future__ import annotations

import time as _time
import types
from typing import Any

from .fake_machine import FakeADC, FakeClock, FakePin, FakePWM, FakeUART

Log = list[tuple[Any, ...]]


class MPin(FakePin):
    """machine.Pin with a mode; output writes go to the shared log."""

    IN, OUT, OPEN_DRAIN = 1, 3, 7
    PULL_UP, PULL_DOWN = 2, 1

    def __init__(self, n: int, log: Log, value: int = 0) -> None:
        super().__init__(value)
        self.n = n
        self.log = log
        self.mode: int | None = None
        self.pull: int | None = None

    def value(self, v: int | None = None) -> int | None:
        if v is not None:
            self.log.append(("pin", self.n, 1 if v else 0))
        return super().value(v)


class PinFactory:
    """`machine.Pin`: Pin(n, mode=-1, pull=-1, value=None) returns the one object of pin n."""

    IN, OUT, OPEN_DRAIN = MPin.IN, MPin.OUT, MPin.OPEN_DRAIN
    PULL_UP, PULL_DOWN = MPin.PULL_UP, MPin.PULL_DOWN
    IRQ_RISING, IRQ_FALLING = FakePin.IRQ_RISING, FakePin.IRQ_FALLING

    def __init__(self, machine: FakeMachine) -> None:
        self.m = machine

    def __call__(self, n: int, mode: int = -1, pull: int = -1, value: int | None = None) -> Any:
        pin = self.m.pins.get(n)
        if pin is None:
            pin = self.m.pins[n] = MPin(n, self.m.log)
        if mode != -1 and isinstance(pin, MPin):
            pin.mode = mode
            if mode == self.OUT:
                self.m.log.append(("pin_out", n, value))
        if pull != -1 and isinstance(pin, MPin):
            pin.pull = pull
        if value is not None:
            pin.value(value)
        return pin


class FakeWDT:
    def __init__(self, log: Log, timeout: int) -> None:
        self.log = log
        self.timeout = timeout
        self.feeds = 0
        log.append(("wdt", timeout))

    def feed(self) -> None:
        self.feeds += 1
        self.log.append(("feed",))


class FakeRTC:
    def __init__(self, log: Log) -> None:
        self.log = log
        self.set_to: tuple[int, ...] | None = None

    def datetime(self, dt: tuple[int, ...] | None = None) -> tuple[int, ...] | None:
        if dt is None:
            return self.set_to
        self.set_to = tuple(dt)
        self.log.append(("rtc", tuple(dt)))
        return None


class FakePWMOut(FakePWM):
    """FakePWM on a pin, logging its setup and every duty change."""

    def __init__(self, log: Log, pin: Any, freq: int = 0, duty_u16: int | None = None) -> None:
        super().__init__()
        self.log = log
        self.pin = pin
        self.frequency = freq
        log.append(("pwm", getattr(pin, "n", None), freq, duty_u16))
        if duty_u16 is not None:
            self.duties.append(duty_u16)

    def duty_u16(self, d: int | None = None) -> int | None:
        if d is not None:
            self.log.append(("duty", getattr(self.pin, "n", None), d))
        return super().duty_u16(d)


class DeadSPI:
    """An SPI bus with nothing on it: reads all zeros (MFRC522 VersionReg 0x00)."""

    def write(self, buf: bytes) -> None:
        pass

    def write_readinto(self, out: bytes, inbuf: bytearray) -> None:
        for i in range(len(inbuf)):
            inbuf[i] = 0


class FakeMachine(types.ModuleType):
    """The `machine` module. cause: what reset_cause() returns."""

    PWRON_RESET, HARD_RESET, WDT_RESET, DEEPSLEEP_RESET, SOFT_RESET = 1, 2, 3, 4, 5

    def __init__(self, clock: FakeClock | None = None, cause: int = 1,
                 log: Log | None = None) -> None:
        super().__init__("machine")
        self.clock = clock or FakeClock()
        self.cause = cause
        self.log: Log = log if log is not None else []
        self.pins: dict[int, Any] = {}
        self.uarts: dict[int, Any] = {}
        self.spis: dict[int, Any] = {}
        self.adc_samples: dict[int, list[int]] = {}
        self.wdt: FakeWDT | None = None
        self.rtc = FakeRTC(self.log)
        self.resets = 0
        self.Pin = PinFactory(self)
        self.ADC = self._adc_factory()

    # -- attaching simulated modules -------------------------------------------------------
    def attach_pin(self, n: int, pin: Any) -> None:
        self.pins[n] = pin

    def attach_uart(self, uart_id: int, uart: Any) -> None:
        self.uarts[uart_id] = uart

    def attach_spi(self, spi_id: int, spi: Any) -> None:
        self.spis[spi_id] = spi

    # -- the module's API -----------------------------------------------------------------
    def UART(self, uart_id: int, **kw: Any) -> Any:  # noqa: N802 - MicroPython name
        u = self.uarts.get(uart_id)
        if u is None:
            u = self.uarts[uart_id] = FakeUART()
        u.config = kw
        return u

    def SPI(self, spi_id: int, **kw: Any) -> Any:  # noqa: N802
        return self.spis.get(spi_id) or DeadSPI()

    def I2C(self, i2c_id: int, **kw: Any) -> Any:  # noqa: N802
        raise OSError(19, "ENODEV: no I2C device")

    def PWM(self, pin: Any, freq: int = 0, duty_u16: int | None = None) -> FakePWMOut:  # noqa: N802
        return FakePWMOut(self.log, pin, freq, duty_u16)

    def WDT(self, id: int = 0, timeout: int = 5000) -> FakeWDT:  # noqa: N802, A002
        self.wdt = FakeWDT(self.log, timeout)
        return self.wdt

    def RTC(self) -> FakeRTC:  # noqa: N802
        return self.rtc

    def reset_cause(self) -> int:
        return self.cause

    def reset(self) -> None:
        self.resets += 1
        self.log.append(("reset",))

    def _adc_factory(self) -> Any:
        machine = self

        class ADC(FakeADC):
            ATTN_11DB = 3

            def __init__(self, pin: Any) -> None:
                n = getattr(pin, "n", 0)
                super().__init__(machine.adc_samples.get(n, [1_950_000]))
                self.attn = None

            def atten(self, a: int) -> None:
                self.attn = a

        return ADC


class FakeNVS:
    """esp32.NVS over a dict shared per namespace; set_blob is lost unless commit() runs."""

    flash: dict[str, dict[str, bytes]] = {}

    def __init__(self, namespace: str) -> None:
        self.ns = namespace
        self.staged: dict[str, bytes] = {}
        self.commits = 0

    def set_blob(self, key: str, value: bytes) -> None:
        self.staged[key] = bytes(value)

    def get_blob(self, key: str, buf: bytearray) -> int:
        stored = {**self.flash.get(self.ns, {}), **self.staged}
        if key not in stored:
            raise OSError(-4354, "ESP_ERR_NVS_NOT_FOUND")
        v = stored[key]
        if len(buf) < len(v):
            raise OSError(-4364, "ESP_ERR_NVS_INVALID_LENGTH")
        buf[: len(v)] = v
        return len(v)

    def commit(self) -> None:
        self.flash.setdefault(self.ns, {}).update(self.staged)
        self.staged = {}
        self.commits += 1


def fake_esp32(flash: dict[str, dict[str, bytes]] | None = None,
               reset_reason: int | None = None) -> types.ModuleType:
    """An `esp32` module whose NVS keeps its committed data in `flash`."""
    mod = types.ModuleType("esp32")
    store = flash if flash is not None else {}
    mod.NVS = type("NVS", (FakeNVS,), {"flash": store})  # type: ignore[attr-defined]
    if reset_reason is not None:
        mod.reset_reason = lambda: reset_reason  # type: ignore[attr-defined]
    return mod


def fake_micropython(log: Log) -> types.ModuleType:
    """`micropython` with kbd_intr logged and const."""
    mod = types.ModuleType("micropython")
    mod.kbd_intr = lambda c: log.append(("kbd_intr", c))  # type: ignore[attr-defined]
    mod.const = lambda x: x  # type: ignore[attr-defined]
    return mod


class FakeTime(types.ModuleType):
    """`time` of a MicroPython port on a FakeClock; epoch 2000 like the ESP32 port."""

    def __init__(self, clock: FakeClock, utc0: int = 1_767_225_600, epoch: int = 2000) -> None:
        super().__init__("time")
        self.clock = clock
        self.utc0 = utc0           # UTC seconds (1970 epoch) when the clock reads 0
        self.offset = 946_684_800 if epoch == 2000 else 0

    def ticks_ms(self) -> int:
        return self.clock.ticks_ms()

    def ticks_us(self) -> int:
        return self.clock.ticks_us()

    def ticks_diff(self, a: int, b: int) -> int:
        half = 1 << 29
        return ((a - b + half) & ((1 << 30) - 1)) - half

    def time(self) -> int:
        return self.utc0 + self.clock.now_us // 1_000_000 - self.offset

    def sleep_ms(self, ms: int) -> None:
        self.clock.advance(ms * 1000)

    def gmtime(self, secs: int) -> tuple[int, ...]:
        t = _time.gmtime(secs + self.offset)
        return (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, t.tm_wday,
                t.tm_yday)


def build_module(mode: str = "dev", lock_pin: int = 25, lock_level: int = 0,
                 servo_duty: int | None = None, wdt_ms: int = 8000,
                 board: str = "esp32-devkitc") -> types.ModuleType:
    """The `armlock_build` module that `armlock build` generates."""
    mod = types.ModuleType("armlock_build")
    mod.MODE, mod.BOARD, mod.VERSION = mode, board, "0.1.0-test"  # type: ignore[attr-defined]
    mod.LOCK_PIN, mod.LOCK_LEVEL = lock_pin, lock_level  # type: ignore[attr-defined]
    mod.LOCK_SERVO_DUTY, mod.WDT_MS = servo_duty, wdt_ms  # type: ignore[attr-defined]
    return mod
