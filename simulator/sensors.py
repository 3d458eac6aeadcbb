"""Sensor and environment models: GNSS (noise, jamming, spoofing), fingerprint, RFID,
battery and RTC drift. They produce the events a real board would feed the core."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from statistics import NormalDist
from typing import Any

from simulator.world import DAY, HOUR, M_PER_DEG, Zone

_exp, _cos, _sin, _log, _sqrt, _radians = (math.exp, math.cos, math.sin, math.log, math.sqrt,
                                           math.radians)
_TWOPI = 2.0 * math.pi


def _gauss(rng: random.Random) -> float:
    """rng.gauss(0, 1), the same draws and value (random.Random.gauss's Box-Muller pair,
    its cached second value included), without the keyword handling."""
    z = rng.gauss_next  # type: ignore[attr-defined]
    rng.gauss_next = None  # type: ignore[attr-defined]
    if z is None:
        r = rng.random
        x2pi = r() * _TWOPI
        g2rad = _sqrt(-2.0 * _log(1.0 - r()))
        z = _cos(x2pi) * g2rad
        rng.gauss_next = _sin(x2pi) * g2rad  # type: ignore[attr-defined]
    return z


def _in_period(t: float, item: dict[str, Any]) -> bool:
    day = t / DAY
    if not item["start_day"] <= day < item["end_day"]:
        return False
    h0, h1 = item["hours"]
    hour = (t % DAY) / HOUR
    return h0 <= hour < h1 if h0 <= h1 else hour >= h0 or hour < h1


class Gnss:
    """GNSS environment: what the receiver reports at a place and time."""

    def __init__(self, data: dict[str, Any], zones: dict[str, Zone]) -> None:
        self.g = g = data["gnss"]
        self.hacc_m = g["hacc_m"]
        self.p_bad = g["p_bad_fix"]
        self.jam = [(zones[j["zone"]], j) for j in g["jamming"]]
        self.spoof = [(zones[s["zone"]], s) for s in g["spoofing"]]

    def jammed(self, lat: float, lon: float, t: float) -> bool:
        for z, item in self.jam:
            if _in_period(t, item) and z.contains(lat, lon):
                return True
        return False

    def spoofed(self, lat: float, lon: float, t: float) -> tuple[float, float] | None:
        for z, item in self.spoof:
            if _in_period(t, item) and z.contains(lat, lon):
                return float(item["target"][0]), float(item["target"][1])
        return None

    def jam_onset(self, track: Callable[[float], tuple[float, float]], lo: float,
                  hi: float) -> float:
        """When jamming began along `track` between lo (clear) and hi (jammed), to ~1 s."""
        while hi - lo > 1.0:
            mid = (lo + hi) / 2
            if self.jammed(*track(mid), mid):
                hi = mid
            else:
                lo = mid
        return hi

    def observation(self, rng: random.Random, jammed: bool,
                    nofix_ms: int) -> tuple[str, int, int, int, int]:
        """What the receiver's driver reports: (GNSS, silent_ms, nofix_ms, sats, cn0_dbhz).

        The receiver keeps sending NMEA at 1 Hz either way (silent_ms < 1 s). Clear sky:
        a fix every second, ``sats_ok`` satellites, strongest C/N0 around ``cn0_dbhz``.
        Jammed: no fix since `nofix_ms` ago, 0..``jammed_sats_max`` satellites, strongest
        C/N0 around ``jammed_cn0_dbhz``. The core classifies; this only observes.
        """
        g = self.g
        silent = rng.randrange(1000)
        if jammed:
            sats = rng.randint(0, g["jammed_sats_max"])
            cn0 = rng.gauss(g["jammed_cn0_dbhz"], g["cn0_sd_db"])
        else:
            nofix_ms = rng.randrange(1000)
            sats = rng.randint(g["sats_ok"][0], g["sats_ok"][1])
            cn0 = rng.gauss(g["cn0_dbhz"], g["cn0_sd_db"])
        cn0_i = max(0, round(cn0)) if g["reports_cn0"] else -1
        return ("gnss", silent, nofix_ms, sats, cn0_i)

    def fix(self, rng: random.Random, lat: float, lon: float) -> tuple[int, int, int]:
        """A noisy fix (lat_e7, lon_e7, hacc_m) of a true position.

        Runs once per fix: random.gauss and world.offset are inlined (the same draws
        and arithmetic, so the same stream and values as calling them)."""
        if rng.random() < self.p_bad:
            hacc = rng.uniform(40, 150)
        else:
            hacc = self.hacc_m * _exp(_gauss(rng) * 0.4)
        sd = hacc / 1.5
        north = _gauss(rng) * sd
        east = _gauss(rng) * sd
        la = lat + north / M_PER_DEG
        lo = lon + east / (M_PER_DEG * max(0.01, _cos(_radians(lat))))
        return round(la * 1e7), round(lo * 1e7), max(1, round(hacc))


class Finger:
    """Fingerprint module (R503-like): timing and match scores; the core's threshold decides.

    Scores are drawn on the module's scale and sent to the core unchanged; whether a score
    opens the lock is the core's ``finger_min_score`` alone. Calibration (docs/SOURCES.md):
    the datasheet's FAR < 0.001 % and FRR < 1 % hold at the module's default threshold
    ``calib_score`` (60, the core's default ``finger_min_score``).

    * impostor score = floor(X), X exponential with P(X >= calib_score) = far, i.e.
      mean calib_score / ln(1 / far) (about 5.2 at the defaults);
    * genuine score = floor(max(0, Y)), Y normal with sd ``genuine_sd`` and mean set so
      P(Y < calib_score) = FRR of the finger's condition (dry: frr; wet, dirty, gloved
      multiply it), so a bad condition moves the whole genuine distribution down.

    Below ``calib_score`` the module itself answers "not found" (the driver reports
    FINGER_FAIL); at or above it, the score goes to the core. A core threshold above
    ``calib_score`` then rejects more genuine fingers and fewer impostors; one below it
    changes nothing, as on the module.
    """

    def __init__(self, data: dict[str, Any]) -> None:
        self.f = f = data["sensors"]["finger"]
        self.calib = float(f["calib_score"])
        self.sd = float(f["genuine_sd"])
        self.imp_mean = self.calib / math.log(1.0 / min(max(f["far"], 1e-300), 1 - 1e-12))
        self._mean: dict[tuple[bool, bool, bool], float] = {}

    def seconds(self, templates: int) -> float:
        f = self.f
        return f["capture_s"] + f["extract_s"] + f["match_ms_per_template"] * templates / 1000

    def frr(self, wet: bool, dirty: bool, gloved: bool) -> float:
        """FRR at the calibration threshold under these conditions."""
        f = self.f
        r = f["frr"]
        r *= f["wet_factor"] if wet else 1.0
        r *= f["dirty_factor"] if dirty else 1.0
        r *= f["gloved_factor"] if gloved else 1.0
        return min(1.0, r)

    def genuine_mean(self, cond: tuple[bool, bool, bool]) -> float:
        """Mean genuine score under `cond` (cached: eight conditions)."""
        m = self._mean.get(cond)
        if m is None:
            frr = min(max(self.frr(*cond), 1e-12), 1 - 1e-12)
            m = self.calib - self.sd * NormalDist().inv_cdf(frr)
            self._mean[cond] = m
        return m

    def genuine(self, rng: random.Random, cond: tuple[bool, bool, bool]) -> int:
        """The enrolled holder's score under finger conditions `cond` (wet, dirty, gloved)."""
        return max(0, math.floor(rng.gauss(self.genuine_mean(cond), self.sd)))

    def event(self, template_id: int, score: int) -> tuple[Any, ...]:
        """What the driver reports: the match, or "not found" when the module's own
        search threshold (``calib_score``) was not reached (R503 NotFound)."""
        if score < self.calib:
            return ("finger_fail", "not found")
        return ("finger", template_id, score)

    def impostor(self, rng: random.Random) -> int:
        """Best score of another person's finger against an enrolled template."""
        return math.floor(rng.expovariate(1.0 / self.imp_mean))


class Rfid:
    """RFID reader (MFRC522-like) and token: timing, read failures, round trip."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.r = data["sensors"]["rfid"]

    def seconds(self) -> float:
        return self.r["exchange_ms"] * self.r["exchanges"] / 1000

    def read_ok(self, rng: random.Random) -> bool:
        return rng.random() >= self.r["read_fail"]

    def rtt_us(self, rng: random.Random, relay: bool = False) -> int:
        rtt = self.r["rtt_us"] * rng.uniform(0.8, 1.2)
        if relay:
            rtt += self.r["relay_extra_us"] * rng.uniform(0.8, 1.5)
        return int(rtt)


class Battery:
    """A pack with linear voltage in state of charge, and a spare on the charger."""

    def __init__(self, data: dict[str, Any]) -> None:
        b = data["battery"]
        self.b = b
        self.cap = b["capacity_mah"]
        self.charge = self.cap
        self.t = 0.0
        self.gnss_on = False
        self.spare_ready_at = 0.0
        self.swaps = 0
        self.used_mah = 0.0  # drawn from the packs in total (the duty cycle's consumption)

    def advance(self, t: float) -> None:
        dt_h = max(0.0, t - self.t) / HOUR
        ma = self.b["standby_ua"] / 1000 + (self.b["gnss_ma"] if self.gnss_on else 0.0)
        self.used_mah += ma * dt_h
        self.charge = max(0.0, self.charge - ma * dt_h)
        self.t = max(self.t, t)

    def use(self) -> None:
        self.used_mah += self.b["unlock_mah"]
        self.charge = max(0.0, self.charge - self.b["unlock_mah"])

    def mv(self) -> int:
        b = self.b
        return int(b["empty_mv"] + (b["full_mv"] - b["empty_mv"]) * self.charge / self.cap)

    def swap(self, t: float) -> bool:
        """Swap in the charged spare if it is ready; True if swapped."""
        if t < self.spare_ready_at:
            return False
        self.charge = self.cap
        self.spare_ready_at = t + self.b["recharge_h"] * HOUR
        self.swaps += 1
        return True


class Rtc:
    """Board RTC with a constant drift; corrected when the core asks (SET_RTC)."""

    def __init__(self, start_utc: int, ppm: float) -> None:
        self.base = float(start_utc)
        self.t0 = 0.0
        self.rate = 1.0 + ppm / 1e6

    def read(self, t: float) -> int:
        return int(self.base + (t - self.t0) * self.rate)

    def set(self, t: float, utc_s: int) -> None:
        self.base = float(utc_s)
        self.t0 = t


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Approximate distance between two (lat, lon) points."""
    return math.hypot((b[0] - a[0]) * M_PER_DEG,
                      (b[1] - a[1]) * M_PER_DEG * math.cos(math.radians(a[0])))
