"""Stand-ins for MicroPython `machine` objects and `time.ticks_*`, for driver tests."""

from __future__ import annotations

from collections.abc import Callable

TICKS_MASK = (1 << 30) - 1


class FakeClock:
    """A settable microsecond clock; ticks_us/ticks_ms wrap at 2**30 like MicroPython.

    `step_us` is added on every reading, so polling loops make progress."""

    def __init__(self, start_us: int = 0, step_us: int = 0) -> None:
        self.now_us = start_us
        self.step_us = step_us

    def advance(self, us: int) -> None:
        self.now_us += us

    def ticks_us(self) -> int:
        self.now_us += self.step_us
        return self.now_us & TICKS_MASK

    def ticks_ms(self) -> int:
        self.now_us += self.step_us
        return (self.now_us // 1000) & TICKS_MASK


class FakePin:
    """machine.Pin with value(), on()/off(), irq(); `drive(v)` plays the outside world."""

    IRQ_RISING = 1
    IRQ_FALLING = 2

    def __init__(self, value: int = 0, on_change: Callable[[int], None] | None = None) -> None:
        self._value = value
        self.on_change = on_change
        self.history: list[int] = []
        self._handler: Callable[[FakePin], None] | None = None
        self._trigger = 0

    def value(self, v: int | None = None) -> int | None:
        if v is None:
            return self._value
        v = 1 if v else 0
        self.history.append(v)
        if v != self._value:
            self._value = v
            if self.on_change is not None:
                self.on_change(v)
        return None

    def on(self) -> None:
        self.value(1)

    def off(self) -> None:
        self.value(0)

    def irq(self, handler: Callable[[FakePin], None] | None = None, trigger: int = 3) -> None:
        self._handler = handler
        self._trigger = trigger

    def drive(self, v: int) -> None:
        """Change the input level from outside, firing the IRQ handler on a matching edge."""
        old, self._value = self._value, 1 if v else 0
        edge = 0 if self._value == old else (
            self.IRQ_RISING if self._value > old else self.IRQ_FALLING)
        if edge & self._trigger and self._handler is not None:
            self._handler(self)


class FakeADC:
    """machine.ADC with read_uv() (or read() when `raw_only`) from a list of samples."""

    def __init__(self, samples_uv: list[int], raw_only: bool = False) -> None:
        self.samples = list(samples_uv)
        self.i = 0
        if raw_only:
            self.read_uv = None  # type: ignore[assignment]

    def _next(self) -> int:
        v = self.samples[self.i % len(self.samples)]
        self.i += 1
        return v

    def read_uv(self) -> int:
        return self._next()

    def read(self) -> int:
        return self._next()


class FakePWM:
    """machine.PWM recording duty_u16 and freq settings."""

    def __init__(self) -> None:
        self.duties: list[int] = []
        self.frequency = 0

    def freq(self, f: int | None = None) -> int | None:
        if f is None:
            return self.frequency
        self.frequency = f
        return None

    def duty_u16(self, d: int | None = None) -> int | None:
        if d is None:
            return self.duties[-1] if self.duties else 0
        self.duties.append(d)
        return None


class FakeUART:
    """machine.UART backed by a device: `device.receive(bytes)` gets what the host
    writes; whatever the device puts in `rx` the host reads back."""

    def __init__(self, device: object | None = None) -> None:
        self.device = device
        self.rx = bytearray()
        self.written = bytearray()

    def write(self, data: bytes) -> int:
        self.written += data
        if self.device is not None:
            self.device.receive(bytes(data))  # type: ignore[attr-defined]
        return len(data)

    def any(self) -> int:
        return len(self.rx)

    def read(self, n: int | None = None) -> bytes | None:
        if not self.rx:
            return None
        n = len(self.rx) if n is None else min(n, len(self.rx))
        out = bytes(self.rx[:n])
        del self.rx[:n]
        return out

    def feed(self, data: bytes) -> None:
        """Bytes arriving from the device side."""
        self.rx += data
