# pyright: reportAttributeAccessIssue=false, reportIndexIssue=false, reportCallIssue=false
# (the peripherals' types come from setup.py's table: pyright sees their union.)
# The board's peripherals, built from board.json (hardware/boards/<name>.json, copied
# into the build by `armlock build`, which has already refused a bad pin map).
#
#     hw = Hardware(load(), machine, ticks_ms, ticks_us)
#     hw.poll(now_ms) -> list of core events (drivers' outputs, faults)
#     hw.lock(locked)                          drive the actuator (ACTUATE)
#     setup.core_config(cfg) -> dict           core config the board file sets (boot)
#
# A peripheral that cannot be set up (module absent, bus error) does not stop the lock:
# it is reported once as ("fault", sensor, False) and left out; the core's fail profile
# decides what that means. Read errors are reported as counts ("read_errors", sensor, n)
# on every change; the core decides when a sensor is faulty (sensor_fail_after). The
# magnetometer reports its deviation from rest; the core decides what is a magnet
# (magnet_threshold, which board.json may set). Poll periods are per peripheral (_..._MS, ms).
#
# RFID: the reader runs the NTAG 424 DNA challenge with the card key the loaded permit
# carries for the card (wrapped to this board; hw.card_key = callable(uid_hex) -> 16-byte
# key or None, set by the port once the Device exists); without cryptolib it can only
# read UIDs (weak).

try:
    from micropython import const  # pyright: ignore[reportAssignmentType]
except ImportError:  # CPython
    def const(x):
        return x

from firmware.drivers._ticks import ticks_diff

# poll periods, ms
_ACTUATOR_MS = const(50)
_TAMPER_MS = const(50)
_GNSS_MS = const(50)
_GNSS_OBSERVE_MS = const(1000)
_RFID_MS = const(200)
_FINGER_MS = const(300)
_BATTERY_MS = const(10000)


def lock_level(cfg):
    """(GPIO, level) that holds the bolt locked, from the actuator section."""
    a = cfg["actuator"]
    energise = not a.get("energise_unlocks", True)
    return a["drive"], 1 if energise == a.get("active_high", True) else 0


class Hardware:
    """All peripherals of one board. machine: the machine module (or a fake). They are
    built by firmware/ports/esp32/setup.py (boot only: trim.BOOT frees it after)."""

    def __init__(self, cfg, machine, ticks_ms=None, ticks_us=None, aes=None):
        self.cfg = cfg                # the board file: setup.py reads it, during __init__ only
        # (GPIO, level) that holds the bolt locked (a board file without an actuator: None)
        self.locked_at = lock_level(cfg) if "actuator" in cfg else None
        self.aes = aes                # cryptolib.aes-like factory (None: cryptolib)
        self.machine = machine
        if ticks_ms is None:
            from firmware.drivers._ticks import default_ticks
            ticks_ms = default_ticks(False)
        self.ticks_ms = ticks_ms
        self.ticks_us = ticks_us
        self.pending = []             # events to report at the next poll
        self.errors = {}              # sensor -> consecutive errors
        self.faulty = {}              # sensor -> True while a FAULT is reported
        self.last = {}                # poll name -> tick of the last poll
        self.log = []                 # (sensor, message) of setup problems
        self.card_key = None          # callable(uid_hex) -> card key or None (the port's)
        self.device = None            # or the Device whose permit gives the card keys
        self.touch = None             # the fingerprint module's touch line (setup sets it)
        self.touch_level = 0          # its level while a finger is on the sensor
        from firmware.ports.esp32 import setup
        (self.actuator, self.tamper, self.gnss, self.rfid, self.finger, self.battery,
         self.led) = setup.peripherals(self)
        self.cfg = None               # not kept: the parsed board file held ~1.7 KB

    def lock_pin(self):
        """lock_level of this board (setup.py calls it: it does not import this module)."""
        return self.locked_at

    def _card_key(self, uid_hex):
        if self.card_key is not None:
            return self.card_key(uid_hex)
        d = self.device
        return d.card_key(uid_hex, self.aes) if d is not None else None

    # -- outputs -------------------------------------------------------------------------
    def lock(self, locked):
        """Drive the bolt (ACTUATE). Without an actuator the pin is still driven."""
        if self.actuator is not None:
            self.actuator.command(locked)
            return
        if self.locked_at is None:   # no actuator in the board file: no pin to drive
            return
        pin, level = self.locked_at
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

    def _due(self, name, now, period):
        last = self.last.get(name)
        if last is not None and ticks_diff(now, last) < period:
            return False
        self.last[name] = now
        return True

    def poll(self, mono_ms):
        """Core events from every peripheral that is due; mono_ms is the app's clock."""
        now = self.ticks_ms()
        out = self.pending
        self.pending = []
        if self.actuator is not None and self._due("actuator", now, _ACTUATOR_MS):
            out.extend(self.actuator.poll())
        if self.tamper is not None and self._due("tamper", now, _TAMPER_MS):
            out.extend(self.tamper.poll())
        if self.gnss is not None and self._due("gnss", now, _GNSS_MS):
            out.extend(self.gnss.poll(mono_ms))
            if self._due("gnss_observe", now, _GNSS_OBSERVE_MS):
                out.append(self.gnss.observe(mono_ms))
        if self.rfid is not None and self._due("rfid", now, _RFID_MS):
            self._poll_rfid(out)
        if self.finger is not None and self._due("finger", now, _FINGER_MS):
            self._poll_finger(out)
        if self.battery is not None and self._due("battery", now, _BATTERY_MS):
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
