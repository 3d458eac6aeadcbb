# MicroPython program (also valid CPython): plays tapes recorded by tests/fakes/replay.py
# back to the drivers and prints one result line per scenario. The test prepends
#     TAPES_JSON = '<json>'
# mapping scenario name -> tape. A driver that makes a different call than the one
# recorded fails with "tape <name> step <i>: ...".
import json

from firmware.drivers import (
    actuator,
    battery,
    mfrc522,
    nmea,
    ntag424,
    r503,
    r503_codes,
    r503_enroll,
    tamper,
)

TAPES = json.loads(globals()["TAPES_JSON"])   # prepended by the test


def unhex(s):
    out = bytearray(len(s) // 2)
    for i in range(len(out)):
        out[i] = int(s[2 * i:2 * i + 2], 16)
    return bytes(out)


class Player:
    def __init__(self, name):
        self.name = name
        self.items = TAPES[name]
        self.i = 0

    def next(self, kind, detail=None):
        if self.i >= len(self.items):
            raise AssertionError("tape %s step %d: extra call %s" % (self.name, self.i, kind))
        item = self.items[self.i]
        if item[0] != kind or (detail is not None and item[1] != detail):
            raise AssertionError("tape %s step %d: recorded %s, driver did %s %s"
                                 % (self.name, self.i, item, kind, detail))
        self.i += 1
        return item

    def done(self):
        return "%s consumed %d/%d" % (self.name, self.i, len(self.items))

    # bus, pins, clock, cipher, random
    def write(self, buf):
        if self.items[self.i][0] == "uw":
            self.next("uw", mfrc522.hexlify(buf))
            return len(buf)
        self.next("w", mfrc522.hexlify(buf))

    def write_readinto(self, out, inbuf):
        item = self.next("wr", mfrc522.hexlify(out))
        data = unhex(item[2])
        for i in range(len(data)):
            inbuf[i] = data[i]

    def value(self, v=None):
        self.next("cs", v)

    def ticks(self):
        return self.next("t")[1]

    def random(self, n):
        return unhex(self.next("rnd")[1])

    def any(self):
        return self.next("ua")[1]

    def read(self, n):
        item = self.next("ur", n)
        return None if item[2] is None else unhex(item[2])

    def aes(self, key, mode, iv=None):
        player = self

        class Cipher:
            def encrypt(self, data):
                return unhex(player.next("aes", mfrc522.hexlify(data))[2])

            def decrypt(self, data):
                return unhex(player.next("aes", mfrc522.hexlify(data))[2])
        return Cipher()


def outcome(fn):
    try:
        return repr(fn())
    except Exception as e:  # noqa: BLE001
        return type(e).__name__


def rfid(name, key):
    p = Player(name)
    drv = mfrc522.MFRC522(p, p, ticks_us=p.ticks)
    drv.init()
    rd = ntag424.RfidReader(drv, key_for=lambda uid: key, aes=p.aes, random=p.random)
    print(name, outcome(rd.read), p.done())


def finger(name):
    p = Player(name)
    drv = r503_enroll.R503Enroll(p, ticks_ms=p.ticks, timeout_ms=200)
    print(name, outcome(drv.identify), outcome(drv.template_count), p.done())


rfid("rfid_strong", bytes(range(16)))
rfid("rfid_weak", None)
rfid("rfid_wrong_key", bytes(16))
rfid("rfid_none", bytes(16))
finger("finger_ok")
finger("finger_bad_checksum")

gps = nmea.NMEA()
lines = (b"$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A\r\n"
         b"$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47\r\n")
events = []
for i in range(len(lines)):
    events.extend(gps.feed(lines[i:i + 1], 0))
print("nmea", events)
print("nmea_s", nmea.parse_coord("3351.37901", "S", 2), nmea.parse_coord("15112.7830", "W", 3),
      nmea.days_from_civil(2024, 2, 29), nmea.parse_decimal("-12.345", 2))


class Pin:
    def __init__(self, v):
        self.v = v

    def value(self, v=None):
        if v is None:
            return self.v
        self.v = v

    def irq(self, handler=None, trigger=3):
        self.handler = handler


class Adc:
    def __init__(self, s):
        self.s = s
        self.i = 0

    def read_uv(self):
        self.i += 1
        return self.s[(self.i - 1) % len(self.s)]


now = [0]
coil, sense = Pin(0), Pin(1)
act = actuator.Actuator(actuator.SolenoidDrive(coil), sense)
act.command(False)
now[0] = 400
print("actuator", coil.value(), act.poll())
lid = Pin(1)
sw = tamper.EnclosureSwitch(lid, lambda: now[0], debounce_ms=50)
now[0] = 500
print("tamper", sw.poll(), tamper.MagnetSensor(lambda: (0, 0, 2000)).poll(),
      tamper.isqrt(10**12 + 7))
print("battery", battery.Battery(Adc([1850000, 1900000, 200000]), 2, 1, (3600, 3650, 4100, 4200),
                                 samples=3).millivolts())
print("r503_codes", [r503.error_for(c).name for c in r503_codes.codes() if c][:5])
