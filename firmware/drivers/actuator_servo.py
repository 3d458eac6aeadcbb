# The lock actuator as a hobby servo (firmware/drivers/actuator.py's Actuator drives it
# like a SolenoidDrive): only boards whose actuator is a servo load (and get) this file.

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
