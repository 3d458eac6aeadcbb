# Simulated peripherals and storage of the virtual board (MicroPython and CPython).
#
# Peripherals are plain objects whose state is set by STIMULUS messages (dev/rig mode) and
# by the app's own actions (the actuator follows ACTUATE unless something forces it).
# Storage is a directory of small files: on the MicroPython VM it is /storage (mirrored to
# <state-dir>/storage by the board host after every step), under CPython the host dir.
# Every record is written as "<name>.new" then renamed over "<name>", so a cut leaves the
# old or the new record (littlefs and POSIX rename both replace atomically).

import os

try:
    from firmware.drivers.nmea import NMEA
except ImportError:  # the GNSS driver is optional for the virtual board
    NMEA = None


def _join(root, name):
    return root + "/" + name


class Storage:
    """Named byte records under `root`, each replaced atomically."""

    def __init__(self, root):
        self.root = root.rstrip("/")
        try:
            os.mkdir(self.root)
        except OSError:
            pass

    def path(self, name):
        return _join(self.root, name)

    def read(self, name):
        """The record's bytes, or None if it was never written."""
        try:
            with open(self.path(name), "rb") as f:
                return f.read()
        except OSError:
            return None

    def write(self, name, data):
        """Replace the record: write a new file, then rename it over the old one."""
        p = self.path(name)
        with open(p + ".new", "wb") as f:
            f.write(data)
        os.rename(p + ".new", p)

    def append(self, name, data):
        with open(self.path(name), "ab") as f:
            f.write(data)


class AuditLog:
    """Audit records appended to one file, each as length u8 | record bytes.

    An index of (seq, offset) is built when the log is opened; a torn last record (cut
    during an append) is dropped by rewriting the valid prefix."""

    NAME = "audit.log"

    def __init__(self, store, seq_of):
        self.store = store
        self.seq_of = seq_of       # record bytes -> its sequence number
        self.index = []            # (seq, offset of the length byte)
        self.size = 0
        self.last = None           # bytes of the newest record
        data = store.read(self.NAME) or b""
        i = 0
        n = len(data)
        while i < n:
            m = data[i]
            if m == 0 or i + 1 + m > n:
                break
            rec = data[i + 1:i + 1 + m]
            try:
                self.index.append((seq_of(rec), i))
            except ValueError:
                break
            self.last = rec
            i += 1 + m
        self.size = i
        if i < n:  # torn or damaged tail: keep the good prefix only
            store.write(self.NAME, data[:i])

    def append(self, rec):
        if not 0 < len(rec) < 256:
            raise ValueError("audit record length %d not in 1..255" % len(rec))
        self.store.append(self.NAME, bytes((len(rec),)) + rec)
        self.index.append((self.seq_of(rec), self.size))
        self.size += 1 + len(rec)
        self.last = rec

    def read(self, from_seq, count):
        """Up to `count` records with seq >= from_seq, oldest first."""
        k = 0
        while k < len(self.index) and self.index[k][0] < from_seq:
            k += 1
        if k == len(self.index) or count <= 0:
            return []
        out = []
        with open(self.store.path(self.NAME), "rb") as f:
            f.seek(self.index[k][1])
            for _ in range(min(count, len(self.index) - k)):
                m = f.read(1)[0]
                out.append(f.read(m))
        return out


class Actuator:
    """The lock actuator with position sense. A magnet (stimulus actpos) can move it."""

    def __init__(self):
        self.commanded = True   # locked
        self.sensed = True

    def drive(self, locked):
        self.commanded = locked
        self.sensed = locked

    def force(self, locked):
        self.sensed = locked


class Peripherals:
    """Everything STIMULUS can touch; `apply` returns the core events a stimulus causes."""

    def __init__(self):
        self.actuator = Actuator()
        self.battery_mv = 3900
        self.gnss_status = "ok"
        self.last_fix = None      # (lat_e7, lon_e7, hacc_m, utc_s)
        self.tamper = None
        self.grip = False
        self.faults = {}
        self.nmea = NMEA() if NMEA is not None else None

    def apply(self, f, event, now_ms):
        """Update the simulated hardware for STIMULUS fields `f` (whose core event is
        `event`, possibly None) and return the list of core events to feed."""
        k = f["kind"]
        if k == "nmea":
            if self.nmea is None:
                raise ValueError("STIMULUS(nmea): no NMEA driver on this board")
            line = f["sentence"].strip() + "\r\n"
            return self._note(self.nmea.feed(line.encode(), now_ms))
        if k == "battery":
            self.battery_mv = f["mv"]
        elif k == "actpos":
            self.actuator.force(f["locked"])
        elif k == "tamper":
            self.tamper = f["source"]
        elif k == "grip":
            self.grip = f["held"]
        elif k == "fault":
            self.faults[f["sensor"]] = f["ok"]
        return self._note([event] if event is not None else [])

    def _note(self, events):
        for ev in events:
            if ev[0] == "fix":
                self.last_fix = (ev[1], ev[2], ev[3], ev[4])
            elif ev[0] == "gnss":
                self.gnss_status = ev[1]
        return events
