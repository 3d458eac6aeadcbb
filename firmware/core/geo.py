# Geofence and position-plausibility maths of the firmware core.
#
# Runs on MicroPython and CPython; integers only (no float decides anything).
# Coordinates are ints in 1e-7 degree (lat_e7, lon_e7), lat in [-90e7, 90e7],
# lon in [-180e7, 180e7].
#
# ring: array('i') or list, flattened [lat0, lon0, lat1, lon1, ...], >= 3 vertices,
#   no closing duplicate vertex. Edges are straight in lon/lat (RFC 7946) and go
#   the SHORT way in longitude (an edge spanning exactly 180 deg goes east;
#   admin.check_ring rejects it), so a ring may cross the antimeridian. A ring whose
#   longitude winding is +/-360 deg encircles a pole: the north pole if its mean
#   vertex latitude is > 0, else the south pole.
# zone: (forbidden: bool, rings) with rings[0] the outer ring, rings[1:] holes.
#
# Boundary rule (deterministic, identical on every runtime): the crossing test
# is half-open - a vertex exactly on the point's meridian counts as west of it
# and a crossing exactly at the point's latitude does not count. So a point
# exactly on an edge may be reported in or out, but always the same way.
# Callers that need tolerance use near_boundary / position_status margins.
#
# Hot-path functions do not validate their input (speed); zones are validated once,
# when a permit is loaded, by admin.check_zones (a rare path, off the resident heap).

try:
    from micropython import const  # pyright: ignore[reportAssignmentType]
except ImportError:  # CPython
    def const(x):
        return x

FULL = 3600000000  # 360 deg in 1e-7 deg (also admin.check_ring's bounds)
HALF = 1800000000  # 180 deg
_E7 = const(10000000)  # 1 deg (the private consts: folded in, no global names)

# Metres per degree of great circle on the IUGG mean Earth radius 6371008.8 m:
# 111195.08 m/deg, kept as 11119508 / 1e9 metres per 1e-7 deg.
_M_NUM = const(11119508)
_M_DEN = const(1000000000)
_Q14 = const(16384)

# cos(d deg) * 16384, rounded, d = 0..90 (generated offline, no float at import).
_COS_Q14 = const((
    16384, 16382, 16374, 16362, 16344, 16322, 16294, 16262, 16225, 16182,
    16135, 16083, 16026, 15964, 15897, 15826, 15749, 15668, 15582, 15491,
    15396, 15296, 15191, 15082, 14968, 14849, 14726, 14598, 14466, 14330,
    14189, 14044, 13894, 13741, 13583, 13421, 13255, 13085, 12911, 12733,
    12551, 12365, 12176, 11982, 11786, 11585, 11381, 11174, 10963, 10749,
    10531, 10311, 10087, 9860, 9630, 9397, 9162, 8923, 8682, 8438,
    8192, 7943, 7692, 7438, 7182, 6924, 6664, 6402, 6138, 5872,
    5604, 5334, 5063, 4790, 4516, 4240, 3964, 3686, 3406, 3126,
    2845, 2563, 2280, 1997, 1713, 1428, 1143, 857, 572, 286,
    0,
))

OK = 0
OUTSIDE = 1
FORBIDDEN = 2


def ring_contains(ring, lat, lon):
    """True if (lat, lon) is inside ring (crossing number, ray to the north pole)."""
    half = HALF
    mhalf = -HALF
    full = FULL
    n = len(ring)
    plat = ring[n - 2]
    pr = ring[n - 1] - lon
    if pr >= half:
        pr -= full
    elif pr < mhalf:
        pr += full
    inside = False
    wind = 0
    for i in range(0, n, 2):
        clat = ring[i]
        r = ring[i + 1] - lon
        # compare with a small int first: +/-180 deg is a big int on 32-bit ports
        if r > 1000000000:
            if r >= half:
                r -= full
        elif r < -1000000000:
            if r < mhalf:
                r += full
        # pr, r in [-180, 180); d: short-way edge span in (-180, 180]
        d = r - pr
        if d > 1000000000:
            if d > half:
                d -= full
        elif d < -1000000000:
            if d <= mhalf:
                d += full
        wind += d
        # edge runs from pr to pr + d, which stays inside (-360, 360): only the
        # point's own meridian (relative 0) can be crossed.
        if (pr > 0) != (pr + d > 0):
            # latitude of the crossing above lat  <=>  num / d > 0
            num = (plat - lat) * d - (clat - plat) * pr
            if d > 0:
                if num > 0:
                    inside = not inside
            elif num < 0:
                inside = not inside
        pr = r
        plat = clat
    if wind != 0:
        # encircles a pole; the ray ends at the north pole, so a ring around the
        # north pole has its parity flipped.
        s = 0
        for i in range(0, n, 2):
            s += ring[i]
        if s > 0:
            inside = not inside
    return inside


def zone_contains(rings, lat, lon):
    """True if inside the outer ring rings[0] and not inside any hole rings[1:]."""
    if not ring_contains(rings[0], lat, lon):
        return False
    for k in range(1, len(rings)):
        if ring_contains(rings[k], lat, lon):
            return False
    return True


def cos_q14(lat_e7):
    """cos(latitude) in Q14 (16384 = 1.0), table per degree with linear interpolation."""
    a = lat_e7 if lat_e7 >= 0 else -lat_e7
    if a >= 900000000:
        return 0
    deg = a // _E7
    frac = a - deg * _E7
    c0 = _COS_Q14[deg]
    return c0 + ((_COS_Q14[deg + 1] - c0) * frac + 5000000) // _E7


def isqrt(n):
    """Floor of the square root of a non-negative int (Newton on ints)."""
    if n < 0:
        raise ValueError("isqrt: negative argument %d" % n)
    if n < 2:
        return n
    # seed: a power of two above sqrt(n)
    x = 1
    m = n
    while m >= 256:
        m >>= 8
        x <<= 4
    while m > 0:
        m >>= 2
        x <<= 1
    y = (x + n // x) >> 1
    while y < x:
        x = y
        y = (x + n // x) >> 1
    return x


def wrap(d):
    # difference of two valid longitudes -> [-180, 180)
    if d >= HALF:
        return d - FULL
    if d < -HALF:
        return d + FULL
    return d


def distance_m(lat1, lon1, lat2, lon2):
    """Distance in metres (equirectangular at the mean latitude; ~0.5% under 100 km)."""
    c = cos_q14((lat1 + lat2) // 2)
    x = wrap(lon2 - lon1) * c
    y = (lat2 - lat1) * _Q14
    d = isqrt(x * x + y * y)  # 1e-7 deg * 2**14
    den = _Q14 * _M_DEN
    return (d * _M_NUM + den // 2) // den


def _margin_q(margin_m):
    # margin in the local frame unit (1e-7 deg * 2**14), rounded
    return (margin_m * _Q14 * _M_DEN + _M_NUM // 2) // _M_NUM


def _seg_near(ax, ay, bx, by, m2):
    # exact: is the segment A-B within sqrt(m2) of the origin?
    abx = bx - ax
    aby = by - ay
    dot = -(ax * abx + ay * aby)
    if dot <= 0:
        return ax * ax + ay * ay <= m2
    ab2 = abx * abx + aby * aby
    if dot >= ab2:
        return bx * bx + by * by <= m2
    cr = ax * aby - ay * abx
    return cr * cr <= m2 * ab2


def near_boundary(rings, lat, lon, margin_m):
    """True if (lat, lon) is within margin_m metres of an edge of any ring."""
    if margin_m < 0:
        return False
    half = HALF
    mhalf = -HALF
    full = FULL
    c = cos_q14(lat)
    mq = _margin_q(margin_m)
    m2 = mq * mq
    # cheap reject box in 1e-7 deg (one unit of slack each way)
    my = mq // _Q14 + 1
    mx = (mq // c + 1) if c > 0 else full
    for ring in rings:
        n = len(ring)
        pay = ring[n - 2] - lat
        pr = wrap(ring[n - 1] - lon)
        for i in range(0, n, 2):
            cy = ring[i] - lat
            r = ring[i + 1] - lon
            if r > 1000000000:
                if r >= half:
                    r -= full
            elif r < -1000000000:
                if r < mhalf:
                    r += full
            if (pay > my and cy > my) or (pay < -my and cy < -my):
                pr = r
                pay = cy
                continue
            d = r - pr
            if d > half:
                d -= full
            elif d <= mhalf:
                d += full
            rb = pr + d
            if not ((pr > mx and rb > mx) or (pr < -mx and rb < -mx)):
                if _seg_near(pr * c, pay * _Q14, rb * c, cy * _Q14, m2):
                    return True
            # edge crossing the point's antimeridian: also its copy shifted by 360
            if rb < mhalf:
                if rb + full <= mx:
                    if _seg_near((pr + full) * c, pay * _Q14, (rb + full) * c, cy * _Q14, m2):
                        return True
            elif rb >= half:
                if rb - full >= -mx:
                    if _seg_near((pr - full) * c, pay * _Q14, (rb - full) * c, cy * _Q14, m2):
                        return True
            pr = r
            pay = cy
    return False


def zone_boxes(zones):
    """Per zone, a box that proves a point outside its outer ring without the crossing
    test, or None. Compute once per permit; pass to position_status.

    Box (lo, hi, lat_min, lat_max, lon_min, lon_max), only for a ring spanning less than
    180 deg of longitude; it applies to points with lo < lon <= hi. Such a point sees
    every vertex at relative longitude v - lon in [-180, 180) without wrapping, so the
    edges form a closed, unwrapped path (winding 0) and ring_contains is False when
    lat >= lat_max (no crossing lies above the point), lat < lat_min (every crossing
    counts and there is an even number), lon >= lon_max or lon < lon_min (the path never
    crosses the point's meridian). Integers only; exact, boundary rule included.
    """
    out = []
    for z in zones:
        ring = z[1][0]
        la0 = la1 = ring[0]
        lo0 = lo1 = ring[1]
        for i in range(2, len(ring), 2):
            v = ring[i]
            if v < la0:
                la0 = v
            elif v > la1:
                la1 = v
            v = ring[i + 1]
            if v < lo0:
                lo0 = v
            elif v > lo1:
                lo1 = v
        if lo1 - lo0 < HALF:
            out.append((lo1 - HALF, lo0 + HALF, la0, la1, lo0, lo1))
        else:
            out.append(None)
    return out


def position_status(zones, lat, lon, margin_m, boxes=None):
    """0 OK, 1 outside every allowed zone, 2 inside a forbidden zone.

    margin_m > 0 is exit hysteresis: within margin_m of an allowed zone's boundary
    counts as inside it, within margin_m of a forbidden zone's boundary counts as
    outside it. margin_m == 0 is strict. No allowed zone at all gives 1.
    boxes: zone_boxes(zones) or None; the same result either way, only faster.
    """
    allowed = False
    for k in range(len(zones)):
        z = zones[k]
        rings = z[1]
        b = boxes[k] if boxes is not None else None
        if b is not None and b[0] < lon <= b[1] and (
                lat < b[2] or lat >= b[3] or lon < b[4] or lon >= b[5]):
            inside = False  # outside the outer ring, proved by the box
        elif z[0] or not allowed:
            inside = zone_contains(rings, lat, lon)
        else:
            continue
        if z[0]:
            if inside:
                if margin_m <= 0 or not near_boundary(rings, lat, lon, margin_m):
                    return FORBIDDEN
        elif not allowed:
            if inside:
                allowed = True
            elif margin_m > 0 and near_boundary(rings, lat, lon, margin_m):
                allowed = True
    return OK if allowed else OUTSIDE


def permit_status(p, lat, lon, margin_m):
    """position_status with a decoded permit's zones and its zone boxes (computed on the
    first call and kept on the permit)."""
    if p.boxes is None:
        p.boxes = zone_boxes(p.zones)
    return position_status(p.zones, lat, lon, margin_m, p.boxes)


def implied_speed_ok(lat1, lon1, t1_ms, lat2, lon2, t2_ms, vmax_mps, slack_m):
    """True if the jump between two fixes is possible: dist <= vmax * dt + slack."""
    dt = t2_ms - t1_ms
    if dt < 0:
        dt = -dt
    bound = vmax_mps * dt + slack_m * 1000
    # |x| + |y| >= isqrt(x*x + y*y) and the rounding in distance_m is monotone: a jump
    # within the bound on that overestimate is within it on the exact distance too.
    c = cos_q14((lat1 + lat2) // 2)
    x = wrap(lon2 - lon1) * c
    y = (lat2 - lat1) * _Q14
    den = _Q14 * _M_DEN
    if (((x if x >= 0 else -x) + (y if y >= 0 else -y)) * _M_NUM + den // 2) // den * 1000 \
            <= bound:
        return True
    return distance_m(lat1, lon1, lat2, lon2) * 1000 <= bound
