"""Plane geometry of zones as written (lon/lat, RFC 7946): rings that cross themselves,
holes outside their zone, and simplification to fewer vertices (shapely).

Rings here are lists of (lat_e7, lon_e7) without the closing vertex, longitudes not wrapped
(every edge shorter than 180 degrees), so the plane of lon/lat is the right one.
"""

from __future__ import annotations

import math
from typing import Any

import shapely
from shapely.geometry import LinearRing, Polygon
from shapely.validation import explain_validity

E7 = 10**7
EARTH_M_PER_DEG = 111195.08  # IUGG mean radius 6371008.8 m, as firmware/core/geo.py uses


def _xy(ring: list[tuple[int, int]]) -> list[tuple[float, float]]:
    return [(lo / E7, la / E7) for la, lo in ring]


def _orient(a: tuple[int, int], b: tuple[int, int], c: tuple[int, int]) -> int:
    v = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
    return (v > 0) - (v < 0)


def _on(a: tuple[int, int], b: tuple[int, int], c: tuple[int, int]) -> bool:
    return min(a[0], b[0]) <= c[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= c[1] <= max(
        a[1], b[1])


def _cross(p: tuple[int, int], q: tuple[int, int], r: tuple[int, int],
           s: tuple[int, int]) -> bool:
    """Segments pq and rs meet (exact integer test, touching included)."""
    d1, d2, d3, d4 = _orient(p, q, r), _orient(p, q, s), _orient(r, s, p), _orient(r, s, q)
    if d1 != d2 and d3 != d4:
        return True
    return ((d1 == 0 and _on(p, q, r)) or (d2 == 0 and _on(p, q, s))
            or (d3 == 0 and _on(r, s, p)) or (d4 == 0 and _on(r, s, q)))


def first_crossing(ring: list[tuple[int, int]]) -> tuple[int, int] | None:
    """(i, j): the first edges i->i+1 and j->j+1 (not neighbours) that meet, or None."""
    n = len(ring)
    for i in range(n):
        p, q = ring[i], ring[(i + 1) % n]
        for j in range(i + 2, n):
            if i == 0 and j == n - 1:
                continue  # neighbours through the closing vertex
            if _cross(p, q, ring[j], ring[(j + 1) % n]):
                return i, j
    return None


def ring_problem(ring: list[tuple[int, int]], idx: list[int], src: Any, r: int) -> str | None:
    """Why a ring is refused (crosses or touches itself, a bow-tie; or no area), or None."""
    lr = LinearRing(_xy(ring))
    hit = None if lr.is_simple else first_crossing(ring)  # shapely finds, integers decide
    if hit is None:
        if shapely.area(Polygon(lr)) > 0:
            return None
        return f"{src.where(r)}: ring encloses no area (its vertices lie on one line)"
    i, j = hit
    n = len(ring)
    return (f"{src.where(r, idx[i])}: the edge to vertex {idx[(i + 1) % n]} crosses the edge "
            f"from vertex {idx[j]} to vertex {idx[(j + 1) % n]} (a bow-tie: the ring crosses "
            "itself, so inside and outside are ambiguous); refused")


def polygon_problem(rings: list[list[tuple[int, int]]], src: Any) -> str | None:
    """Why a zone is refused (a hole outside it, rings that cross each other), or None."""
    if len(rings) < 2:
        return None
    poly = Polygon(_xy(rings[0]), [_xy(h) for h in rings[1:]])
    if poly.is_valid:
        return None
    why = explain_validity(poly)
    at = why[why.find("[") + 1:why.rfind("]")].split() if "[" in why else []
    near = f" near lat {float(at[1]):.7g}, lon {float(at[0]):.7g}" if len(at) == 2 else ""
    if why.startswith("Hole lies outside shell"):
        shell = Polygon(_xy(rings[0]))
        out = next((k for k in range(1, len(rings)) if not shell.covers(
            Polygon(_xy(rings[k])))), 1)
        return f"{src.where(out)}: hole lies outside the zone's outer ring 0; refused"
    return (f"{src.where()}: rings cross or touch each other{near} "
            f"({why.split('[')[0].strip().lower()}); refused")


# -- simplification ---------------------------------------------------------------------------

def _metres(ring: list[tuple[int, int]], lat0: float) -> list[tuple[float, float]]:
    k = math.cos(math.radians(lat0)) * EARTH_M_PER_DEG
    return [(lo / E7 * k, la / E7 * EARTH_M_PER_DEG) for la, lo in ring]


def _degrees(xy: Any, lat0: float) -> list[tuple[int, int]]:
    k = math.cos(math.radians(lat0)) * EARTH_M_PER_DEG
    return [(round(y / EARTH_M_PER_DEG * E7), round(x / k * E7)) for x, y in xy]


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres on the mean Earth radius."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (math.sin((p2 - p1) / 2) ** 2
         + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2)
    return 2 * 6371008.8 * math.asin(min(1.0, math.sqrt(a)))


def simplify(rings: list[list[tuple[int, int]]], metres: float
             ) -> tuple[list[list[tuple[int, int]]], float]:
    """Rings of one zone simplified (Douglas-Peucker, topology kept) with tolerance `metres`
    in a local equirectangular projection; returns (rings, largest displacement in metres:
    the farthest any original vertex lies from the simplified boundary, on the sphere).
    The projection stretches east-west distances away from the zone's middle latitude
    (about 2 % for a zone 0.1 degree tall at 70 degrees), so the tolerance is narrowed
    until the displacement measured on the sphere is within `metres`."""
    lats = [la / E7 for la, _ in rings[0]]
    lat0 = (min(lats) + max(lats)) / 2
    tol = metres
    for _ in range(8):
        out, worst = _simplified(rings, lat0, tol, metres)
        if worst <= metres:
            break
        tol *= 0.98 * metres / worst
    return out, worst


def _simplified(rings: list[list[tuple[int, int]]], lat0: float, tol: float, metres: float
                ) -> tuple[list[list[tuple[int, int]]], float]:
    poly = Polygon(_metres(rings[0], lat0), [_metres(h, lat0) for h in rings[1:]])
    simple = poly.simplify(tol, preserve_topology=True)
    if not isinstance(simple, Polygon) or simple.is_empty:
        raise ValueError(f"--simplify {metres:g}: the zone would vanish; use a smaller "
                         "tolerance")
    out = [_degrees(list(simple.exterior.coords)[:-1], lat0)]
    out += [_degrees(list(h.coords)[:-1], lat0) for h in simple.interiors]
    worst = 0.0
    boundary = simple.boundary
    for ring in rings:
        for (la, lo), (x, y) in zip(ring, _metres(ring, lat0), strict=True):
            near = boundary.interpolate(boundary.project(shapely.Point(x, y)))
            nla, nlo = _degrees([(near.x, near.y)], lat0)[0]
            worst = max(worst, haversine_m(la / E7, lo / E7, nla / E7, nlo / E7))
    return out, worst
