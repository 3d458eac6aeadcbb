# Lock actuator (solenoid or hobby servo) with a lock-position sensor.
#
#     act = Actuator(SolenoidDrive(Pin(25, Pin.OUT)), Pin(26, Pin.IN))
#     (a hobby servo instead: firmware/drivers/actuator_servo.py ServoDrive)
#     act.command(False)        # unlock
#     events = act.poll()       # [("actpos", locked)] when the sensed position changed
#
# The driver only observes: the core compares the sensed position with its own command
# after actuator_settle_ms (its config) and decides tamper (forced open) or fault (stuck
# locked). The sense input is what the core sees (ACTPOS); the drive is what it asked.

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


class Actuator:
    """Drive + position sense. sense: Pin-like with value(); locked_level: the sense
    level meaning "bolt locked"."""

    def __init__(self, drive, sense, locked_level=1):
        self.drive = drive
        self.sense = sense
        self.locked_level = locked_level
        self.commanded = True
        self._last_pos = None
        self.drive.set(True)

    def command(self, locked):
        """Drive the bolt to locked (True) or unlocked (False)."""
        self.commanded = bool(locked)
        self.drive.set(self.commanded)

    def position(self):
        """Sensed position: True when the sensor says locked."""
        return self.sense.value() == self.locked_level

    def poll(self):
        """[("actpos", locked)] when the sensed position changed since the last poll (the
        first poll reports it), else []."""
        pos = self.position()
        if pos == self._last_pos:
            return []
        self._last_pos = pos
        return [("actpos", pos)]
