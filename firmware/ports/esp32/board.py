# The board's peripherals, built from board.json (hardware/boards/<name>.json, copied
# into the build by `armlock build`, which has already refused a bad pin map).
#
#     hw = Hardware(load(), machine, ticks_ms, ticks_us)
#     hw.poll(now_ms) -> list of core events (drivers' outputs, faults)
#     hw.lock(locked)                          drive the actuator (ACTUATE)
#     core_config(cfg) -> dict                 core config the board file sets
#
# A peripheral that cannot be set up (module absent, bus error) does not stop the lock:
# it is reported once as ("fault", sensor, False) and left out; the core's fail profile
# decides what that means. Read errors are reported as counts ("read_errors", sensor, n)
# on every change; the core decides when a sensor is faulty (sensor_fail_after). The
# magnetometer reports its deviation from rest; the core decides what is a magnet
# (magnet_threshold, which board.json may set). Poll rates are per peripheral (RATES, ms).
#
# RFID: the reader runs the NTAG 424 DNA challenge with the card key the loaded permit
# carries for the card (wrapped to this board; hw.card_key = callable(uid_hex) -> 16-byte
# key or None, set by the port once the Device exists); without cryptolib it can only
# read UIDs (weak).

import json

from firmware.drivers._ticks import ticks_diff

RATES = {"actuator": 50, "tamper": 50, "gnss": 50, "rfid": 200, "finger": 300,
         "battery": 10000, "gnss_observe": 1000}


def load(path="board.json"):
    """The board description (dict) from the build's board.json."""
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


def lock_level(cfg):
    """(GPIO, level) that holds the bolt locked, from the actuator section."""
    a = cfg["actuator"]
    energise = not a.get("energise_unlocks", True)
    return a["drive"], 1 if energise == a.get("active_high", True) else 0


class Hardware:
    """All peripherals of one board. machine: the machine module (or a fake)."""

    def __init__(self, cfg, machine, ticks_ms=None, ticks_us=None, aes=None):
        self.cfg = cfg
        self.aes = aes                # cryptolib.aes-like factory (None: cryptolib)
        self.machine = machine
        if ticks_ms is None:
            from firmware.drivers._ticks import default_ticks_ms
            ticks_ms = default_ticks_ms()
        self.ticks_ms = ticks_ms
        self.ticks_us = ticks_us
        self.pending = []             # events to report at the next poll
        self.errors = {}              # sensor -> consecutive errors
        self.faulty = {}              # sensor -> True while a FAULT is reported
        self.last = {}                # poll name -> tick of the last poll
        self.log = []                 # (sensor, message) of setup problems
        self.card_key = None          # callable(uid_hex) -> card key or None (the port's)
        self.actuator = self._setup("actuator", self._actuator)
        self.tamper = self._setup("tamper", self._tamper)
        self.gnss = self._setup("gnss", self._gnss)
        self.rfid = self._setup("rfid", self._rfid)
        self.finger = self._setup("finger", self._finger)
        self.touch = None
        self.touch_level = 1
        self.battery = self._setup("battery", self._battery)
        self.led = self._setup("led", self._led)

    # -- setup ---------------------------------------------------------------------------
    def _setup(self, name, make):
        if name not in self.cfg:
            return None
        try:
            return make(self.cfg[name])
        except Exception as exc:  # a missing or dead module is a fault, not a crash
            self.log.append((name, "%s: %s" % (type(exc).__name__, exc)))
            if name in ("actuator", "gnss", "rfid", "finger"):
                self._fault(name, False)
            return None

    def _pin_in(self, n, pull=None):
        P = self.machine.Pin
        if pull == "up":
            return P(n, P.IN, P.PULL_UP)
        if pull == "down":
            return P(n, P.IN, P.PULL_DOWN)
        return P(n, P.IN)

    def _actuator(self, c):
        from firmware.drivers.actuator import Actuator, ServoDrive, SolenoidDrive
        P = self.machine.Pin
        if c.get("kind", "solenoid") == "servo":
            pwm = self.machine.PWM(P(c["drive"]))
            drive = ServoDrive(pwm, c.get("locked_us", 1000), c.get("unlocked_us", 2000))
        else:
            pin, level = lock_level(self.cfg)
            drive = SolenoidDrive(P(pin, P.OUT, value=level), c.get("energise_unlocks", True),
                                  c.get("active_high", True))
        return Actuator(drive, self._pin_in(c["sense"], c.get("pull")),
                        c.get("locked_level", 1))

    def _tamper(self, c):
        from firmware.drivers.tamper import EnclosureSwitch, Tamper
        sw = EnclosureSwitch(self._pin_in(c["switch"], c.get("pull")), self.ticks_ms,
                             c.get("debounce_ms", 50), c.get("open_level", 1))
        mag = None
        m = self.cfg.get("magnetometer")
        if m:
            mag = self._setup("magnetometer", self._magnet)
        return Tamper(sw, mag)

    def _magnet(self, m):
        from firmware.drivers.tamper import MagnetSensor
        P = self.machine.Pin
        i2c = self.machine.I2C(m["i2c"], scl=P(m["scl"]), sda=P(m["sda"]))
        addr = m.get("address", 13)
        # QMC5883L: continuous mode, 200 Hz, 8 G, OSR 512 (datasheet 9.2.3); data at 0..5
        i2c.writeto_mem(addr, 0x0B, b"\x01")
        i2c.writeto_mem(addr, 0x09, b"\x1d")
        buf = bytearray(6)

        def read():
            i2c.readfrom_mem_into(addr, 0x00, buf)
            return tuple(int.from_bytes(bytes(buf[i:i + 2]), "little") - (
                65536 if buf[i + 1] & 0x80 else 0) for i in (0, 2, 4))
        base = read()
        return MagnetSensor(read, base)

    def _gnss(self, c):
        from firmware.drivers.nmea import NMEA
        kw = {"baudrate": c["baud"], "rx": c["rx"], "rxbuf": 1024}
        if c.get("tx") is not None:
            kw["tx"] = c["tx"]
        return NMEA(self.machine.UART(c["uart"], **kw), c.get("uere_m", 5))

    def _rfid(self, c):
        from firmware.drivers.mfrc522 import MFRC522
        from firmware.drivers.ntag424 import RfidReader
        P = self.machine.Pin
        rst = P(c["rst"], P.OUT, value=1)
        spi = self.machine.SPI(c["spi"], baudrate=c.get("baud", 4000000), polarity=0,
                               phase=0, sck=P(c["sck"]), mosi=P(c["mosi"]), miso=P(c["miso"]))
        m = MFRC522(spi, P(c["cs"], P.OUT, value=1), self.ticks_us)
        self.rfid_rst = rst
        m.init()
        try:  # the NTAG 424 challenge needs AES (cryptolib) and a random source
            return RfidReader(m, key_for=self._card_key, aes=self.aes)
        except ValueError as exc:
            self.log.append(("rfid", "UID-only (weak): %s" % exc))
            return RfidReader(m)

    def _card_key(self, uid_hex):
        return self.card_key(uid_hex) if self.card_key is not None else None

    def _finger(self, c):
        from firmware.drivers.r503 import R503
        uart = self.machine.UART(c["uart"], baudrate=c["baud"], tx=c["tx"], rx=c["rx"],
                                 timeout=0)
        f = R503(uart, ticks_ms=self.ticks_ms)
        f.verify_password()
        if c.get("touch") is not None:
            self.touch = self._pin_in(c["touch"], c.get("touch_pull"))
            self.touch_level = c.get("touch_level", 1)
        return f

    def _battery(self, c):
        from firmware.drivers.battery import Battery
        P = self.machine.Pin
        adc = self.machine.ADC(P(c["adc"]))
        atten = getattr(self.machine.ADC, "ATTN_11DB", None)
        if atten is not None:
            adc.atten(atten)
        div = c.get("divider", [2, 1])
        return Battery(adc, div[0], div[1], c.get("calibration"))

    def _led(self, c):
        P = self.machine.Pin
        if c.get("kind", "gpio") == "neopixel":
            try:
                import neopixel
            except ImportError:
                raise ValueError("led: this firmware has no neopixel module")
            return ("np", neopixel.NeoPixel(P(c["pin"], P.OUT), 1))
        return ("pin", P(c["pin"], P.OUT, value=0 if c.get("active_high", True) else 1),
                c.get("active_high", True))

    # -- outputs -------------------------------------------------------------------------
    def lock(self, locked):
        """Drive the bolt (ACTUATE). Without an actuator the pin is still driven."""
        if self.actuator is not None:
            self.actuator.command(locked)
            return
        pin, level = lock_level(self.cfg)
        P = self.machine.Pin
        P(pin, P.OUT, value=level if locked else 1 - level)

    def indicate(self, what):
        """Status LED: on when ready (unlocked), off otherwise (covert by design)."""
        on = what == "ready"
        if self.led is None:
            return
        if self.led[0] == "np":
            self.led[1][0] = (0, 16, 0) if on else (0, 0, 0)
            self.led[1].write()
        else:
            self.led[1].value(1 if on == self.led[2] else 0)

    # -- inputs --------------------------------------------------------------------------
    def _fault(self, sensor, ok):
        """Report ("fault", sensor, ok) on a change of the sensor's health only."""
        if self.faulty.get(sensor, False) == (not ok):
            return
        self.faulty[sensor] = not ok
        self.pending.append(("fault", sensor, ok))

    def _error(self, sensor):
        n = self.errors.get(sensor, 0) + 1
        self.errors[sensor] = n
        self.pending.append(("read_errors", sensor, n))  # the core decides (config)

    def _fine(self, sensor):
        if self.errors.get(sensor):
            self.errors[sensor] = 0
            self.pending.append(("read_errors", sensor, 0))
        if self.faulty.get(sensor):
            self._fault(sensor, True)

    def _due(self, name, now):
        last = self.last.get(name)
        if last is not None and ticks_diff(now, last) < RATES[name]:
            return False
        self.last[name] = now
        return True

    def poll(self, mono_ms):
        """Core events from every peripheral that is due; mono_ms is the app's clock."""
        now = self.ticks_ms()
        out = self.pending
        self.pending = []
        if self.actuator is not None and self._due("actuator", now):
            out.extend(self.actuator.poll())
        if self.tamper is not None and self._due("tamper", now):
            out.extend(self.tamper.poll())
        if self.gnss is not None and self._due("gnss", now):
            out.extend(self.gnss.poll(mono_ms))
            if self._due("gnss_observe", now):
                out.append(self.gnss.observe(mono_ms))
        if self.rfid is not None and self._due("rfid", now):
            self._poll_rfid(out)
        if self.finger is not None and self._due("finger", now):
            self._poll_finger(out)
        if self.battery is not None and self._due("battery", now):
            out.append(self.battery.event())
        if self.pending:
            out.extend(self.pending)
            self.pending = []
        return out

    def _poll_rfid(self, out):
        from firmware.drivers.mfrc522 import AuthError, NoCardError
        reader = self.rfid
        if reader is None:
            return
        try:
            out.append(reader.event())
        except NoCardError:
            self._fine("rfid")
            return
        except AuthError:
            # a card that failed the challenge: a failed presentation for the core
            out.append(("rfid_fail", "card failed authentication"))
        except Exception:
            self._error("rfid")
            return
        self._fine("rfid")

    def _poll_finger(self, out):
        from firmware.drivers.r503 import BadImage, NoFinger, NotFound
        finger = self.finger
        if finger is None:
            return
        if self.touch is not None and self.touch.value() != self.touch_level:
            return
        try:
            out.append(finger.event())
        except (NoFinger, BadImage):
            pass
        except NotFound:
            out.append(("finger_fail", "finger not recognised"))  # nobody enrolled it
        except Exception:
            self._error("finger")
            return
        self._fine("finger")
