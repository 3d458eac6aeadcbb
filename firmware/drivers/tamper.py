# Tamper inputs -> ("tamper", source) events: an enclosure switch on a Pin IRQ with
# debounce, and a magnetometer threshold (a magnet held near the lock to move the
# actuator, the attack on the Armatix iP1).

from firmware.drivers._ticks import default_ticks_ms, ticks_diff


class EnclosureSwitch:
    """Lid switch. pin: Pin-like with value() and irq(handler, trigger); open_level: the
    level when the enclosure is open; debounce_ms: the level must hold this long.

    The IRQ handler only stores a tick (no allocation, safe in a hard IRQ); poll()
    decides. One ("tamper", "enclosure") per opening; re-armed once it is closed again."""

    def __init__(self, pin, ticks_ms=None, debounce_ms=50, open_level=1, trigger=None):
        self.pin = pin
        self.ticks_ms = ticks_ms if ticks_ms is not None else default_ticks_ms()
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
    """Magnetometer threshold. read: callable -> (x, y, z) integers (any unit, e.g.
    0.1 uT); baseline: the field at rest (earth field + board) in the same unit;
    threshold: the deviation |B - baseline| that counts as a magnet; consecutive:
    samples in a row above it before reporting (rejects a single glitch).
    Integer maths: compares squared magnitudes."""

    def __init__(self, read, threshold, baseline=(0, 0, 0), consecutive=2):
        self.read = read
        self.threshold_sq = threshold * threshold
        self.baseline = baseline
        self.consecutive = consecutive
        self._count = 0
        self._reported = False

    def deviation_sq(self, sample):
        dx = sample[0] - self.baseline[0]
        dy = sample[1] - self.baseline[1]
        dz = sample[2] - self.baseline[2]
        return dx * dx + dy * dy + dz * dz

    def poll(self):
        """Sample once -> [("tamper", "magnet")] once per episode, else []."""
        if self.deviation_sq(self.read()) > self.threshold_sq:
            self._count += 1
        else:
            self._count = 0
            self._reported = False
        if self._count >= self.consecutive and not self._reported:
            self._reported = True
            return [("tamper", "magnet")]
        return []


class Tamper:
    """All tamper sources of a board; poll() returns their events together."""

    def __init__(self, *sources):
        self.sources = [s for s in sources if s is not None]

    def poll(self):
        out = []
        for s in self.sources:
            out.extend(s.poll())
        return out
