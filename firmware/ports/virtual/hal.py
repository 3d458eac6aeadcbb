# Simulated hardware of the virtual board (MicroPython and CPython).
#
# The device application (firmware/app/device.py) turns STIMULUS messages into core
# events itself, as the ESP32 port's drivers turn sensor readings into them; what the
# board still needs is somewhere for the core's outputs to land: the actuator it drives
# (with a position sense a magnet could move: STIMULUS actpos tells the core so), the
# indicator and the credential answer signal. Their state is kept for inspection.


class Actuator:
    """The lock actuator; `sensed` is the position sense, equal to the drive here."""

    def __init__(self):
        self.commanded = True   # locked
        self.sensed = True
        self.moves = 0

    def drive(self, locked):
        if locked != self.commanded:
            self.moves += 1
        self.commanded = locked
        self.sensed = locked


class Peripherals:
    """The outputs of the board: actuator, indicator, credential answers."""

    def __init__(self):
        self.actuator = Actuator()
        self.indicated = None     # last INDICATE ("ready", "denied", "lockout", ...)
        self.answers = 0          # credential answers signalled
        self.last_answer = None

    def indicate(self, what):
        self.indicated = what

    def answer(self, ok):
        self.answers += 1
        self.last_answer = ok
