# Building the peripherals of firmware/ports/esp32/board.py's Hardware from board.json
# (boot only: loop frees this module after boot, firmware/ports/esp32/trim.py). Nothing
# built here may keep a function of this module (a closure, a lambda): that would keep
# the module in the heap.


def load(path="board.json"):
    """The board description (dict) from the build's board.json."""
    import json
    with open(path) as f:
        return json.load(f)


def core_config(cfg):
    """Core config from the board file: the bolt's settle time is the actuator's; the
    magnet threshold is the magnetometer section's (in its units)."""
    out = {}
    a = cfg.get("actuator")
    if a and "settle_ms" in a:
        out["actuator_settle_ms"] = a["settle_ms"]
    m = cfg.get("magnetometer")
    if m and "threshold" in m:
        out["magnet_threshold"] = m["threshold"]
    return out or None


SECTIONS = ("actuator", "tamper", "gnss", "rfid", "finger", "battery", "led")


def peripherals(hw):
    """(actuator, tamper, gnss, rfid, finger, battery, led) of hw's board: None when the
    board has no such section or it failed (then logged; a FAULT for the essential
    ones). Built in that order (the fingerprint reader sets hw.touch)."""
    return tuple([_setup(hw, name, _MAKERS[name]) for name in SECTIONS])


def _setup(hw, name, make):
    if name not in hw.cfg:
        return None
    try:
        return make(hw, hw.cfg[name])
    except Exception as exc:  # a missing or dead module is a fault, not a crash
        hw.log.append((name, "%s: %s" % (type(exc).__name__, exc)))
        if name in ("actuator", "gnss", "rfid", "finger"):
            hw._fault(name, False)
        return None


def _pin_in(hw, n, pull=None):
    P = hw.machine.Pin
    if pull == "up":
        return P(n, P.IN, P.PULL_UP)
    if pull == "down":
        return P(n, P.IN, P.PULL_DOWN)
    return P(n, P.IN)


def _actuator(hw, c):
    from firmware.drivers.actuator import Actuator, SolenoidDrive
    P = hw.machine.Pin
    if c.get("kind", "solenoid") == "servo":
        from firmware.drivers.actuator_servo import ServoDrive
        pwm = hw.machine.PWM(P(c["drive"]))
        drive = ServoDrive(pwm, c.get("locked_us", 1000), c.get("unlocked_us", 2000))
    else:
        pin, level = hw.lock_pin()
        drive = SolenoidDrive(P(pin, P.OUT, value=level), c.get("energise_unlocks", True),
                              c.get("active_high", True))
    return Actuator(drive, _pin_in(hw, c["sense"], c.get("pull")),
                    c.get("locked_level", 1))


def _tamper(hw, c):
    from firmware.drivers.tamper import EnclosureSwitch, Tamper
    sw = EnclosureSwitch(_pin_in(hw, c["switch"], c.get("pull")), hw.ticks_ms,
                         c.get("debounce_ms", 50), c.get("open_level", 1))
    mag = None
    m = hw.cfg.get("magnetometer")
    if m:
        mag = _setup(hw, "magnetometer", _magnet)
    return Tamper(sw, mag)


def _magnet(hw, m):
    from firmware.drivers.tamper import QMC5883L, MagnetSensor
    P = hw.machine.Pin
    q = QMC5883L(hw.machine.I2C(m["i2c"], scl=P(m["scl"]), sda=P(m["sda"])),
                 m.get("address", 13))
    return MagnetSensor(q.read, q.read())


def _gnss(hw, c):
    from firmware.drivers.nmea import NMEA
    kw = {"baudrate": c["baud"], "rx": c["rx"], "rxbuf": 1024}
    if c.get("tx") is not None:
        kw["tx"] = c["tx"]
    return NMEA(hw.machine.UART(c["uart"], **kw), c.get("uere_m", 5))


def _rfid(hw, c):
    from firmware.drivers.mfrc522 import MFRC522
    from firmware.drivers.ntag424 import RfidReader
    P = hw.machine.Pin
    rst = P(c["rst"], P.OUT, value=1)
    spi = hw.machine.SPI(c["spi"], baudrate=c.get("baud", 4000000), polarity=0,
                           phase=0, sck=P(c["sck"]), mosi=P(c["mosi"]), miso=P(c["miso"]))
    m = MFRC522(spi, P(c["cs"], P.OUT, value=1), hw.ticks_us)
    hw.rfid_rst = rst
    m.init()
    try:  # the NTAG 424 challenge needs AES (cryptolib) and a random source
        return RfidReader(m, key_for=hw._card_key, aes=hw.aes)
    except ValueError as exc:
        hw.log.append(("rfid", "UID-only (weak): %s" % exc))
        return RfidReader(m)


def _finger(hw, c):
    from firmware.drivers.r503 import R503
    uart = hw.machine.UART(c["uart"], baudrate=c["baud"], tx=c["tx"], rx=c["rx"],
                             timeout=0)
    f = R503(uart, ticks_ms=hw.ticks_ms)
    f.verify_password()
    if c.get("touch") is not None:
        hw.touch = _pin_in(hw, c["touch"], c.get("touch_pull"))
        # R503 WAKEUP: high with no finger, low while one touches (GROW R503 manual,
        # hardware connection; docs/HARDWARE.md): poll the module only then
        hw.touch_level = c.get("touch_level", 0)
    return f


def _battery(hw, c):
    from firmware.drivers.battery import Battery
    P = hw.machine.Pin
    adc = hw.machine.ADC(P(c["adc"]))
    atten = getattr(hw.machine.ADC, "ATTN_11DB", None)
    if atten is not None:
        adc.atten(atten)
    div = c.get("divider", [2, 1])
    return Battery(adc, div[0], div[1], c.get("calibration"))


def _led(hw, c):
    P = hw.machine.Pin
    if c.get("kind", "gpio") == "neopixel":
        try:
            import neopixel
        except ImportError:
            raise ValueError("led: this firmware has no neopixel module")
        return ("np", neopixel.NeoPixel(P(c["pin"], P.OUT), 1))
    return ("pin", P(c["pin"], P.OUT, value=0 if c.get("active_high", True) else 1),
            c.get("active_high", True))


_MAKERS = {"actuator": _actuator, "tamper": _tamper, "gnss": _gnss, "rfid": _rfid,
           "finger": _finger, "battery": _battery, "led": _led}
