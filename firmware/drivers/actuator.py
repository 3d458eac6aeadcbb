# Lock actuator (solenoid or hobby servo) with a lock-position sensor.
#
#     act = Actuator(SolenoidDrive(Pin(25, Pin.OUT)), Pin(26, Pin.IN), ticks_ms)
#     act.command(False)        # unlock
#     events = act.poll()       # [("actpos", locked)] on a sensed change,
#                               # [("tamper", "actuator")] if the sensed position still
#                               # disagrees with the command settle_ms after it, or if it
#                               # moves away from the command later (forced, e.g. magnet)
#
# The sense input is the truth the core sees (ACTPOS); the drive is what we asked.

from firmware.drivers._ticks import default_ticks_ms, ticks_diff


class SolenoidDrive:
    """A solenoid on a Pin (through a driver transistor). energise_unlocks=True is the
    fail-secure wiring: no power, spring holds the bolt locked."""

    def __init__(self, pin, energise_unlocks=True, active_high=True):
        self.pin = pin
        self.energise_unlocks = energise_unlocks
        self.active_high = active_high

    def set(self, locked):
        energise = (not locked) if self.energise_unlocks else locked
        self.pin.value(1 if energise == self.active_high else 0)


class ServoDrive:
    """A hobby servo on machine.PWM at 50 Hz; positions as pulse widths in microseconds."""

    def __init__(self, pwm, locked_us=1000, unlocked_us=2000, period_us=20000):
        self.pwm = pwm
        self.locked_us = locked_us
        self.unlocked_us = unlocked_us
        self.period_us = period_us
        pwm.freq(1000000 // period_us)

    def duty_for(self, pulse_us):
        """duty_u16 for a pulse width (integer, rounded)."""
        return (pulse_us * 65535 + self.period_us // 2) // self.period_us

    def set(self, locked):
        self.pwm.duty_u16(self.duty_for(self.locked_us if locked else self.unlocked_us))


class Actuator:
    """Drive + position sense. sense: Pin-like with value(); locked_level: the sense
    level meaning "bolt locked"; settle_ms: time the bolt may take to move."""

    def __init__(self, drive, sense, ticks_ms=None, settle_ms=300, locked_level=1):
        self.drive = drive
        self.sense = sense
        self.ticks_ms = ticks_ms if ticks_ms is not None else default_ticks_ms()
        self.settle_ms = settle_ms
        self.locked_level = locked_level
        self.commanded = True
        self._since = self.ticks_ms()
        self._last_pos = None
        self._reported = False
        self.drive.set(True)

    def command(self, locked):
        """Drive the bolt to locked (True) or unlocked (False)."""
        locked = bool(locked)
        self.drive.set(locked)
        if locked != self.commanded:
            self.commanded = locked
            self._since = self.ticks_ms()
            self._reported = False

    def position(self):
        """Sensed position: True when the sensor says locked."""
        return self.sense.value() == self.locked_level

    def disagrees(self):
        """True when the sensed position differs from the command after settle_ms."""
        if ticks_diff(self.ticks_ms(), self._since) < self.settle_ms:
            return False
        return self.position() != self.commanded

    def poll(self):
        """Events since the last poll: ("actpos", locked) on change, then
        ("tamper", "actuator") once per disagreement episode."""
        out = []
        pos = self.position()
        if pos != self._last_pos:
            self._last_pos = pos
            out.append(("actpos", pos))
        if self.disagrees():
            if not self._reported:
                self._reported = True
                out.append(("tamper", "actuator"))
        elif pos == self.commanded:
            self._reported = False
        return out
