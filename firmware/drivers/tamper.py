# Tamper inputs: an enclosure switch on a Pin IRQ with debounce -> ("tamper",
# "enclosure"), and a magnetometer that reports how far the field is from rest ->
# ("magnet", deviation); the core decides what is a magnet held near the lock to move
# the actuator (the attack on the Armatix iP1).

from firmware.drivers._ticks import default_ticks, ticks_diff


class EnclosureSwitch:
    """Lid switch. pin: Pin-like with value() and irq(handler, trigger); open_level: the
    level when the enclosure is open; debounce_ms: the level must hold this long.

    The IRQ handler only stores a tick (no allocation, safe in a hard IRQ); poll()
    decides. One ("tamper", "enclosure") per opening; re-armed once it is closed again."""

    def __init__(self, pin, ticks_ms=None, debounce_ms=50, open_level=1, trigger=None):
        self.pin = pin
        self.ticks_ms = ticks_ms if ticks_ms is not None else default_ticks(False)
        self.debounce_ms = debounce_ms
        self.open_level = open_level
        self._edge_at = self.ticks_ms()
        self._pending = True          # check the level once at start
        self._reported = False
        if trigger is None:
            trigger = getattr(pin, "IRQ_RISING", 1) | getattr(pin, "IRQ_FALLING", 2)
        pin.irq(handler=self._irq, trigger=trigger)

    def _irq(self, pin):
        self._edge_at = self.ticks_ms()
        self._pending = True

    def poll(self):
        """[("tamper", "enclosure")] once the open level has held debounce_ms, else []."""
        if not self._pending:
            return []
        if ticks_diff(self.ticks_ms(), self._edge_at) < self.debounce_ms:
            return []
        self._pending = False
        if self.pin.value() != self.open_level:
            self._reported = False
            return []
        if self._reported:
            return []
        self._reported = True
        return [("tamper", "enclosure")]


class MagnetSensor:
    """Magnetometer observation. read: callable -> (x, y, z) integers (any unit, e.g.
    0.1 uT); baseline: the field at rest (earth field + board) in the same unit.
    poll() reports ("magnet", deviation): |B - baseline| (integer), the smaller of the
    last two samples (one glitching sample is not an observation), whenever it changed
    by at least `step` units since the last report. The core decides what is a magnet
    (config magnet_threshold)."""

    def __init__(self, read, baseline=(0, 0, 0), step=100):
        self.read = read
        self.baseline = baseline
        self.step = step
        self._prev = 0
        self._reported = 0

    def poll(self):
        """Sample once -> [("magnet", deviation)] when it changed by >= step, else []."""
        sample = self.read()
        dx = sample[0] - self.baseline[0]
        dy = sample[1] - self.baseline[1]
        dz = sample[2] - self.baseline[2]
        d = isqrt(dx * dx + dy * dy + dz * dz)
        seen = d if d < self._prev else self._prev
        self._prev = d
        if abs(seen - self._reported) < self.step:
            return []
        self._reported = seen
        return [("magnet", seen)]


class QMC5883L:
    """QMC5883L magnetometer on machine.I2C: continuous mode, 200 Hz, 8 G, OSR 512
    (datasheet 9.2.3); read() -> (x, y, z), signed 16-bit, from registers 0..5."""

    def __init__(self, i2c, addr=13):
        self.i2c = i2c
        self.addr = addr
        self.buf = bytearray(6)
        i2c.writeto_mem(addr, 0x0B, b"\x01")
        i2c.writeto_mem(addr, 0x09, b"\x1d")

    def read(self):
        b = self.buf
        self.i2c.readfrom_mem_into(self.addr, 0x00, b)
        return tuple(int.from_bytes(bytes(b[i:i + 2]), "little") - (
            65536 if b[i + 1] & 0x80 else 0) for i in (0, 2, 4))


def isqrt(n):
    """floor(sqrt(n)) for an integer n >= 0 (Newton; MicroPython has no math.isqrt)."""
    x = n
    y = (x + 1) >> 1
    while y < x:
        x = y
        y = (x + n // x) >> 1
    return x


class Tamper:
    """All tamper sources of a board; poll() returns their events together."""

    def __init__(self, *sources):
        self.sources = [s for s in sources if s is not None]

    def poll(self):
        out = []
        for s in self.sources:
            out.extend(s.poll())
        return out
