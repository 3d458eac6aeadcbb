# Battery voltage from an ADC through a resistor divider -> ("battery", millivolts).
#
# Reading: median of `samples` ADC readings (rejects spikes from the solenoid and the
# radio), in millivolts at the pin: adc.read_uv() // 1000 when the port has it (ESP32:
# factory-calibrated), else adc.read() * full_scale_mv // raw_max. Then the divider:
# battery = pin * divider_num // divider_den (e.g. 100k over 100k -> 2, 1). Then an
# optional two-point calibration (read1, true1, read2, true2) in battery millivolts:
# what this driver read and what a meter showed, at two voltages.

class Battery:
    def __init__(self, adc, divider_num=2, divider_den=1, calibration=None, samples=5,
                 full_scale_mv=3300, raw_max=4095):
        if divider_den <= 0 or divider_num <= 0:
            raise ValueError("battery: divider ratio must be positive")
        if calibration is not None and calibration[0] == calibration[2]:
            raise ValueError("battery: calibration points need two different readings")
        self.adc = adc
        self.num = divider_num
        self.den = divider_den
        self.cal = calibration
        self.samples = samples if samples > 0 else 1
        self.full_scale_mv = full_scale_mv
        self.raw_max = raw_max

    def millivolts(self):
        """Battery voltage in millivolts (int): the median pin reading times the divider
        ratio, then the calibration."""
        read_uv = getattr(self.adc, "read_uv", None)
        vals = []
        for _ in range(self.samples):
            if read_uv is not None:
                vals.append(read_uv() // 1000)
            else:
                vals.append(self.adc.read() * self.full_scale_mv // self.raw_max)
        vals.sort()
        n = len(vals)
        med = vals[n // 2] if n % 2 else (vals[n // 2 - 1] + vals[n // 2]) // 2
        mv = med * self.num // self.den
        if self.cal is None:
            return mv
        r1, t1, r2, t2 = self.cal
        num = (mv - r1) * (t2 - t1)
        den = r2 - r1
        if den < 0:
            num, den = -num, -den
        return t1 + (2 * num + den) // (2 * den)

    def event(self):
        return ("battery", self.millivolts())
