# NMEA 0183 GNSS receiver over UART -> the core's FIX / GNSS events.
#
#     ("fix", lat_e7, lon_e7, hacc_m, utc_s)   RMC status A and GGA quality > 0, same epoch
#     ("gnss", silent_ms, nofix_ms, sats, cn0)  from observe(now_ms): what the receiver
#                                               shows; the core decides ok / lost / jammed
#
# Sentence format: NMEA 0183 v4.10 section 5 ("$" talker+type, fields, "*hh" XOR
# checksum, CR LF). RMC / GGA / GSA / GSV / GNS field layouts as in the u-blox M8
# receiver description (UBX-13003221) section 31.2. Talkers: TALKERS below.
#
# Everything is integer: coordinates in 1e-7 degrees with exact decimal parsing, DOPs
# in hundredths, altitude in decimetres, UTC in seconds since 1970 by the civil-from-
# days algorithm (H. Hinnant, "chrono-compatible low-level date algorithms").
#
# hacc_m = ceil(HDOP x UERE): HDOP from the epoch's GGA, UERE (user equivalent range
# error, metres) a parameter, default 5 m. That is a 1-sigma-ish horizontal accuracy
# bound, conservative (rounded up) since the core gates on it.

try:
    from micropython import const  # pyright: ignore[reportAssignmentType]
except ImportError:  # CPython
    def const(x):
        return x

# Talkers GP (GPS), GN (combined), GL (GLONASS), GA (Galileo), BD / GB (BeiDou), GQ
# (QZSS), GI (NavIC), each followed by ",": "XY," is in it only for a talker XY. (Sets
# of letters here are strings, not tuples of strings: a tuple constant in a .mpy holds
# a heap string object per item, 32 bytes each on an ESP32.)
_TALKERS = const("GP,GN,GL,GA,BD,GB,GQ,GI,")
# Longest line, "$" to CR LF. NMEA says 82, but real receivers send more (MTK MT3339
# and SkyTraq GGA of 81-89 characters in DGPS or high-precision mode, a 91-character
# Trimble GGA): gpsd's NMEA_MAX, 102.
_MAX_LINE = const(102)
# Only satellite fixes count: GGA quality 1-5 (GPS, DGPS, PPS, RTK, float RTK); RMC /
# GNS mode A, D, P, R, F, or none (NMEA < 2.3). Refused as no fix: GGA quality 6 (dead
# reckoning), 7 (manual input), 8 (simulator); modes E, M, S, N.
_SAT_QUALITY = const("12345")
_SAT_MODES = const("ADPRF")


def days_from_civil(y, m, d):
    """Days since 1970-01-01 of a proleptic Gregorian date (integer only)."""
    y -= 1 if m <= 2 else 0
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def parse_decimal(s, places):
    """'1.25' -> 125 for places=2 (rounded half up, sign kept); None if not a number."""
    if not s:
        return None
    neg = s[0] == "-"
    if neg or s[0] == "+":
        s = s[1:]
    i = s.find(".")
    whole, frac = (s, "") if i < 0 else (s[:i], s[i + 1:])
    if not (whole or frac) or (whole and not whole.isdigit()) or (frac and not frac.isdigit()):
        return None
    v = int(whole or "0") * 10 ** places
    if frac:
        f = int(frac)
        k = len(frac)
        if k <= places:
            v += f * 10 ** (places - k)
        else:
            div = 10 ** (k - places)
            v += (2 * f + div) // (2 * div)
    return -v if neg else v


def parse_coord(s, hemi, deg_digits):
    """'ddmm.mmmm' (deg_digits=2) or 'dddmm.mmmm' (3) + hemisphere -> 1e-7 degrees.

    Exact integer maths, rounded to the nearest 1e-7 degree. None if malformed."""
    if not s or len(hemi) != 1 or hemi not in "NSEW":
        return None
    i = s.find(".")
    ip, frac = (s, "") if i < 0 else (s[:i], s[i + 1:])
    if len(ip) < 3 or not ip.isdigit() or (frac and not frac.isdigit()):
        return None
    deg = int(ip[:-2])
    mins = int(ip[-2:])
    limit = 90 if deg_digits == 2 else 180
    if mins >= 60 or deg > limit:
        return None
    k = len(frac)
    scale = 10 ** k
    m_scaled = mins * scale + (int(frac) if frac else 0)
    den = 60 * scale
    v = deg * 10000000 + (2 * m_scaled * 10000000 + den) // (2 * den)
    if v > limit * 10000000:
        return None
    return -v if hemi in "SW" else v


def parse_time(s):
    """'hhmmss(.ss)' -> (seconds of day, centiseconds of day) or None."""
    if len(s) < 6 or not s[:6].isdigit():
        return None
    h, mi, sec = int(s[0:2]), int(s[2:4]), int(s[4:6])
    if h > 23 or mi > 59 or sec > 60:
        return None
    cs = parse_decimal("0" + s[6:], 2) if len(s) > 6 else 0
    if cs is None:
        return None
    sod = h * 3600 + mi * 60 + sec
    return sod, sod * 100 + cs


def parse_date(s):
    """'ddmmyy' -> days since 1970 (yy < 80 -> 20yy, else 19yy) or None."""
    if len(s) != 6 or not s.isdigit():
        return None
    d, m, yy = int(s[0:2]), int(s[2:4]), int(s[4:6])
    y = 2000 + yy if yy < 80 else 1900 + yy
    if m == 2:
        days = 29 if (y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)) else 28
    else:
        days = 30 if m in (4, 6, 9, 11) else 31
    if m < 1 or m > 12 or d < 1 or d > days:
        return None
    return days_from_civil(y, m, d)


def check_sentence(line):
    """'$..*hh' bytes -> the body between '$' and '*' as str, or None if the checksum
    is missing or wrong (NMEA 0183: XOR of every character between them)."""
    if len(line) < 9 or line[0] != 0x24 or line[-3] != 0x2A:
        return None
    x = 0
    for b in line[1:-3]:
        x ^= b
    try:
        want = int(bytes(line[-2:]).decode(), 16)
    except ValueError:
        return None
    if x != want:
        return None
    return bytes(line[1:-3]).decode()


class NMEA:
    """Incremental NMEA reader. feed(bytes, now_ms) -> list of events; poll(now_ms)
    reads the UART given at construction.

    uere_m: user equivalent range error for hacc; max_line: longest accepted line."""

    def __init__(self, uart=None, uere_m=5, max_line=_MAX_LINE):
        self.uart = uart
        self.uere_m = uere_m
        self.max_line = max_line
        self._buf = bytearray()
        self._in = False
        self.good = 0                 # sentences with a valid checksum
        self.bad = 0                  # bad checksum or malformed fields
        self.dropped = 0              # overlong lines, control characters
        self.sats = 0                 # satellites used (GGA)
        self.quality = 0              # GGA fix quality
        self.hdop_c = None            # HDOP x 100 (GGA)
        self.alt_dm = None            # altitude above MSL, decimetres (GGA)
        self.fix_type = 1             # GSA: 1 none, 2 2D, 3 3D
        self.pdop_c = self.gsa_hdop_c = self.vdop_c = None
        self.state = None             # None until known, then "fix" or "lost"
        self.last_fix_ms = None
        self.last_heard_ms = None
        self._rmc = None              # (cs_of_day, lat, lon, utc_s) of the current epoch
        self._gga = None              # (cs_of_day, hdop_c)
        self.cn0_dbhz = -1            # strongest C/N0 in GSV, dB-Hz (-1: not reported)
        self._now = 0

    # -- bytes in --------------------------------------------------------------------
    def poll(self, now_ms):
        if self.uart is None:
            return []
        n = self.uart.any()
        if not n:
            return []
        return self.feed(self.uart.read(n) or b"", now_ms)

    def feed(self, data, now_ms):
        """Assemble lines across calls; partial sentences wait, garbage is skipped."""
        self._now = now_ms
        out = []
        for b in data:
            if b == 0x24:                                  # '$' starts a sentence
                if self._in and self._buf:
                    self.dropped += 1
                self._buf = bytearray(b"$")
                self._in = True
            elif not self._in:
                continue
            elif b == 0x0D or b == 0x0A:
                self._in = False
                self._sentence(self._buf, out)
            elif b < 0x20 or b > 0x7E or len(self._buf) >= self.max_line - 2:
                self._in = False
                self.dropped += 1
            else:
                self._buf.append(b)
        return out

    def _sentence(self, line, out):
        body = check_sentence(line)
        if body is None:
            self.bad += 1
            return
        self.good += 1
        self.last_heard_ms = self._now
        fields = body.split(",")
        tag = fields[0]
        if len(tag) != 5 or tag[:2] + "," not in _TALKERS:
            return
        kind = tag[2:]
        ok = True
        if kind == "RMC":
            ok = self._rmc_in(fields, out)
        elif kind == "GGA":
            ok = self._gga_in(fields, out)
        elif kind == "GNS":
            ok = self._gns_in(fields, out)
        elif kind == "GSA":
            ok = self._gsa_in(fields)
        elif kind == "GSV":
            ok = self._gsv_in(fields)
        if not ok:
            self.bad += 1

    # -- sentences ---------------------------------------------------------------------
    # GSV gives cn0_dbhz (strongest C/N0 in view, -1 until a GSV cycle came, 0 when none
    # of the satellites in view is tracked) and in_view (satellites in view).
    in_view = 0
    _sky = None                       # (talker, signal) -> (in view, best C/N0), last cycle
    _cycle = None                     # (talker, signal, messages, next, in view, best)

    def _rmc_in(self, f, out):
        if len(f) < 10 or len(f[2]) != 1 or f[2] not in "AV":
            return False
        mode = f[12][:1] if len(f) > 12 else ""
        if f[2] == "V" or (mode and mode not in _SAT_MODES):
            self._rmc = None
            self.state = "lost"  # observe() reports it; how long without a fix is the core's call
            return True
        t = parse_time(f[1])
        days = parse_date(f[9])
        lat = parse_coord(f[3], f[4], 2)
        lon = parse_coord(f[5], f[6], 3)
        if t is None or days is None or lat is None or lon is None:
            return False
        self._rmc = (t[1], lat, lon, days * 86400 + t[0])
        self._try_fix(out)
        return True

    def _gga_in(self, f, out):
        if len(f) < 10 or len(f[6]) != 1 or not f[6].isdigit():
            return False
        self.quality = int(f[6])
        self.sats = int(f[7]) if f[7].isdigit() else 0
        self.hdop_c = parse_decimal(f[8], 2)
        self.alt_dm = parse_decimal(f[9], 1)
        return self._epoch(f[1], f[6] in _SAT_QUALITY, out)

    def _gns_in(self, f, out):
        """GNS: one mode letter per constellation; a fix if one is a satellite mode and
        none says estimated, manual or simulated (N = no fix for that constellation)."""
        if len(f) < 9 or not f[6] or not f[6].isalpha():
            return False
        sat = False
        for c in f[6]:
            if c in "EMS":
                sat = False
                break
            sat = sat or c in _SAT_MODES
        self.sats = int(f[7]) if f[7].isdigit() else 0
        self.hdop_c = parse_decimal(f[8], 2)
        return self._epoch(f[1], sat, out)

    def _epoch(self, time_field, sat, out):
        """The GGA / GNS part of an epoch: a satellite fix with its time and HDOP, or no
        fix (a receiver without a fix may leave the time empty)."""
        if not sat:
            self._gga = None
            self.state = "lost"
            return True
        t = parse_time(time_field)
        if t is None or self.hdop_c is None:
            return False
        self._gga = (t[1], self.hdop_c)
        self._try_fix(out)
        return True

    def _gsv_in(self, f):
        """GSV: messages, this message, satellites in view, then up to four (PRN,
        elevation, azimuth, C/N0) groups, then (NMEA 4.10) the signal id."""
        if len(f) < 4 or not (f[1].isdigit() and f[2].isdigit() and f[3].isdigit()):
            return False
        total, num, n = int(f[1]), int(f[2]), int(f[3])
        if num < 1 or num > total:
            return False
        sig = f[-1] if (len(f) - 4) % 4 == 1 else ""
        key = (f[0][:2], sig)
        best = 0
        for i in range(7, len(f) - (1 if sig else 0), 4):
            if f[i]:
                if not f[i].isdigit():
                    return False
                best = max(best, int(f[i]))
        c = self._cycle
        if num == 1:
            c = (key, total, 1, n, best)
        elif c is None or c[:2] != (key, total) or c[2] + 1 != num:
            self._cycle = None
            return True                       # a cycle we joined late: wait for the next
        else:
            c = (key, total, num, n, max(c[4], best))
        self._cycle = c
        if num != total:
            return True
        self._cycle = None         # a whole cycle: (in view, best C/N0) of this signal
        if self._sky is None:
            self._sky = {}
        self._sky[key] = (n, c[4])
        views = {}
        cn0 = 0
        for (talker, _), (k, b) in self._sky.items():
            views[talker] = max(views.get(talker, 0), k)
            cn0 = max(cn0, b)
        self.in_view = sum(views.values())
        self.cn0_dbhz = cn0
        return True

    def _gsa_in(self, f):
        if len(f) < 18 or len(f[2]) != 1 or f[2] not in "123":
            return False
        self.fix_type = int(f[2])
        self.pdop_c = parse_decimal(f[15], 2)
        self.gsa_hdop_c = parse_decimal(f[16], 2)
        self.vdop_c = parse_decimal(f[17], 2)
        return True

    def _try_fix(self, out):
        if self._rmc is None or self._gga is None or self._rmc[0] != self._gga[0]:
            return
        _, lat, lon, utc_s = self._rmc
        hacc = (self._gga[1] * self.uere_m + 99) // 100
        self._rmc = self._gga = None
        self.state = "fix"
        self.last_fix_ms = self._now
        out.append(("fix", lat, lon, hacc if hacc > 0 else 1, utc_s))

    # -- what the receiver shows (the core classifies it) --------------------------------
    def observe(self, now_ms):
        """("gnss", silent_ms, nofix_ms, sats, cn0_dbhz): ms since the receiver last sent a
        valid sentence (since boot if never), ms since its last fix (-1: none yet),
        satellites used (GGA) and the strongest C/N0 (-1 unless GSV reports it)."""
        heard = self.last_heard_ms
        silent = max(0, now_ms - (heard if heard is not None else 0))
        nofix = -1 if self.last_fix_ms is None else max(0, now_ms - self.last_fix_ms)
        return ("gnss", silent, nofix, self.sats, self.cn0_dbhz)
