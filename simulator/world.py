"""The world: zones, routes and per-weapon timelines (shifts, uses, diversions).

Geometry here is the simulator's own (float, local equirectangular) and only places
people and GNSS effects; whether a lock may open is decided by the firmware core.
Each weapon's timeline comes from its own random stream, so it is the same under
every policy (common random numbers) and independent of how weapons are sharded.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import random
from typing import Any

M_PER_DEG = 111195.08
DAY = 86400.0
HOUR = 3600.0


def rng_for(seed: int, run: int, weapon: int, stream: str) -> random.Random:
    """An independent, reproducible random stream."""
    h = hashlib.sha256(f"{seed}/{run}/{weapon}/{stream}".encode()).digest()
    return random.Random(int.from_bytes(h[:8], "big"))


class Zone:
    """A named polygon in degrees, with its ring in 1e-7 degrees for permits."""

    def __init__(self, name: str, kind: str, polygon: list[list[float]]) -> None:
        self.name = name
        self.kind = kind
        self.poly = [(float(a), float(b)) for a, b in polygon]
        self.ring_e7 = [(round(a * 1e7), round(b * 1e7)) for a, b in self.poly]
        lats = [p[0] for p in self.poly]
        lons = [p[1] for p in self.poly]
        self.bbox = (min(lats), min(lons), max(lats), max(lons))

    def contains(self, lat: float, lon: float) -> bool:
        """Even-odd point-in-polygon (simulator placement only)."""
        a, b, c, d = self.bbox
        if not (a <= lat <= c and b <= lon <= d):
            return False
        inside = False
        pts = self.poly
        j = len(pts) - 1
        for i in range(len(pts)):
            yi, xi = pts[i]
            yj, xj = pts[j]
            if (yi > lat) != (yj > lat) and lon < (xj - xi) * (lat - yi) / (yj - yi) + xi:
                inside = not inside
            j = i
        return inside

    def random_point(self, rng: random.Random) -> tuple[float, float]:
        """A uniform point inside (rejection sampling in the bounding box)."""
        a, b, c, d = self.bbox
        for _ in range(1000):
            lat, lon = rng.uniform(a, c), rng.uniform(b, d)
            if self.contains(lat, lon):
                return lat, lon
        return self.poly[0]

    def centre(self) -> tuple[float, float]:
        a, b, c, d = self.bbox
        return (a + c) / 2, (b + d) / 2


def offset(lat: float, lon: float, north_m: float, east_m: float) -> tuple[float, float]:
    """Move a point by metres north/east."""
    dlat = north_m / M_PER_DEG
    dlon = east_m / (M_PER_DEG * max(0.01, math.cos(math.radians(lat))))
    return lat + dlat, lon + dlon


class Route:
    """Piecewise-linear track: sorted (t, lat, lon) points."""

    def __init__(self, points: list[tuple[float, float, float]]) -> None:
        self.points = points
        self.times = [p[0] for p in points]

    def at(self, t: float) -> tuple[float, float]:
        pts = self.points
        i = bisect.bisect_left(self.times, t)
        if i == 0:
            return pts[0][1], pts[0][2]
        if i == len(pts):
            return pts[-1][1], pts[-1][2]
        (t0, a0, b0), (t1, a1, b1) = pts[i - 1], pts[i]
        f = (t - t0) / (t1 - t0) if t1 > t0 else 1.0
        return a0 + (a1 - a0) * f, b0 + (b1 - b0) * f


class Shift:
    """One issue of a weapon: holder, conditions, route and use times."""

    def __init__(self, start: float, end: float, holder: int, route: Route,
                 uses: list[float], wet: bool, dirty: bool, gloved: bool) -> None:
        self.start = start
        self.end = end
        self.holder = holder
        self.route = route
        self.uses = uses
        self.wet = wet
        self.dirty = dirty
        self.gloved = gloved


class Diversion:
    """How, when and where a weapon left authorised hands, and what the new holder has."""

    def __init__(self, kind: str, t: float, where: tuple[float, float], holder: int) -> None:
        self.kind = kind
        self.t = t
        self.where = where
        self.holder = holder
        self.dest: tuple[float, float] = where
        self.speed = 1.0
        self.caps: dict[str, Any] = {}

    def position(self, t: float) -> tuple[float, float]:
        """Where the weapon is at time t (leaves 10 min after the diversion)."""
        start = self.t + 600
        if t <= start:
            return self.where
        (a0, b0), (a1, b1) = self.where, self.dest
        dist = math.hypot((a1 - a0) * M_PER_DEG,
                          (b1 - b0) * M_PER_DEG * math.cos(math.radians(a0)))
        f = min(1.0, (t - start) * self.speed / dist) if dist > 0 else 1.0
        return a0 + (a1 - a0) * f, b0 + (b1 - b0) * f


class World:
    """Zones and timeline generation for one scenario."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.zones = {z["name"]: Zone(z["name"], z["kind"], z["polygon"]) for z in data["zones"]}
        self.duty = data["duty"]
        self.adv = data["adversaries"]
        self.days = int(data["scenario"]["days"])
        self.home = self.zones[self.duty["home_zone"]]
        self.patrols = [self.zones[n] for n in self.duty["patrol_zones"]]
        self.towns = [z for z in self.zones.values() if z.kind == "town"]
        self.borders = [z for z in self.zones.values() if z.kind == "border"]

    def shifts(self, rng: random.Random) -> list[Shift]:
        """The weapon's issues over the horizon, in time order."""
        d = self.duty
        out: list[Shift] = []
        last_end = -1.0
        for day in range(self.days):
            if rng.random() >= d["issue_prob"]:
                continue
            start = day * DAY + rng.choice(d["shift_start_hours"]) * HOUR
            end = start + d["shift_hours"] * HOUR
            if start < last_end + HOUR:
                continue
            last_end = end
            holder = 0 if rng.random() < 0.8 else rng.randrange(d["holders_per_weapon"])
            wet, dirty, gloved = (rng.random() < d["p_wet"], rng.random() < d["p_dirty"],
                                  rng.random() < d["p_gloved"])
            route = self._route(rng, start, end)
            out.append(Shift(start, end, holder, route, self._uses(rng, start, end),
                             wet, dirty, gloved))
        return out

    def _route(self, rng: random.Random, start: float, end: float) -> Route:
        home = self.home.random_point(rng)
        zone = rng.choice(self.patrols)
        n = int(self.duty["waypoints"])
        t0, t1 = start + 900, end - 900
        pts = [(start, *home), (t0, *home)]
        for i in range(n):
            pts.append((t0 + (t1 - t0) * (i + 1) / (n + 1), *zone.random_point(rng)))
        pts += [(t1, *home), (end, *home)]
        return Route(pts)

    def _uses(self, rng: random.Random, start: float, end: float) -> list[float]:
        n = _poisson(rng, self.duty["uses_per_shift"])
        lo, hi = start + 600, end - 600 - self.duty["use_minutes"] * 60
        if hi <= lo or n == 0:
            return []
        times = sorted(rng.uniform(lo, hi) for _ in range(n))
        gap = self.duty["use_minutes"] * 60 + 60
        out: list[float] = []
        for t in times:
            if not out or t - out[-1] >= gap:
                out.append(t)
        return out

    def diversion(self, rng: random.Random, shifts: list[Shift]) -> Diversion | None:
        """At most one diversion per weapon over the horizon, or None."""
        a = self.adv
        rate = a["diversions_per_1000_weapon_months"] / 1000 * self.days / 30
        if rng.random() >= 1 - math.exp(-rate):
            return None
        kinds = list(a["mix"])
        kind = rng.choices(kinds, weights=[a["mix"][k] for k in kinds])[0]
        if kind != "depot_theft" and not shifts:
            kind = "depot_theft"
        if kind == "depot_theft":
            t = _night_in_store(rng, self.days, shifts)
            div = Diversion(kind, t, self.home.random_point(rng), 0)
        else:
            s = rng.choice(shifts)
            t = rng.uniform(s.start + 1800, s.end - 1800)
            div = Diversion(kind, t, s.route.at(t), s.holder)
        self._destination(rng, div)
        return div

    def _destination(self, rng: random.Random, div: Diversion) -> None:
        a = self.adv
        div.speed = a["vehicle_mps"]
        if div.kind == "loss":
            return
        if div.kind == "trafficking" and self.borders:
            div.dest = rng.choice(self.borders).random_point(rng)
        elif div.kind == "insider" and self.towns:
            div.dest = rng.choice(self.towns).random_point(rng)
        else:
            bearing = rng.uniform(0, 2 * math.pi)
            km = a["hideout_km"] * 1000
            div.dest = offset(*div.where, km * math.cos(bearing), km * math.sin(bearing))


def _poisson(rng: random.Random, lam: float) -> int:
    """Knuth's method (small means)."""
    if lam <= 0:
        return 0
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _night_in_store(rng: random.Random, days: int, shifts: list[Shift]) -> float:
    """A night-time moment (01:00-04:00) when the weapon is in the armoury, if any."""
    t = 0.0
    for _ in range(20):
        t = rng.randrange(days) * DAY + rng.uniform(1, 4) * HOUR
        if not any(s.start <= t <= s.end for s in shifts):
            return t
    return t
