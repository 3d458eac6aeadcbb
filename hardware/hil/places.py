"""Places (integers in 1e-7 degrees) and credentials the verification suite uses."""

from __future__ import annotations

import math

E7 = 10**7
M_PER_DEG = 111195.08            # metres per degree of great circle (mean Earth radius)
ZONE_A = (523000000, 523200000, 130000000, 130300000)   # allowed, ~2.2 km x 2 km
HOLE_A = (523080000, 523120000, 130200000, 130260000)   # hole in A, ~440 m x 400 m
FORBID = (523020000, 523060000, 130040000, 130100000)   # forbidden, inside A
ZONE_B = (523400000, 523500000, 130000000, 130100000)   # second allowed zone
HOLDER1 = (1, "04A1B2C3D4E5F6", 3)    # (holder id, RFID card UID, fingerprint template)
HOLDER2 = (2, "04112233445566", 7)
STRANGER = (99, "04DEADBEEF0001", 42)  # listed nowhere


def dlat_e7(m: float) -> int:
    """Metres north-south as 1e-7 degrees."""
    return round(m / M_PER_DEG * E7)


def dlon_e7(m: float, lat_e7: int) -> int:
    """Metres east-west at latitude `lat_e7` as 1e-7 degrees."""
    return round(m / (M_PER_DEG * math.cos(math.radians(lat_e7 / E7))) * E7)


def box_ring(b: tuple[int, int, int, int]) -> list[tuple[int, int]]:
    """The ring of a (lat_lo, lat_hi, lon_lo, lon_hi) box."""
    la0, la1, lo0, lo1 = b
    return [(la0, lo0), (la0, lo1), (la1, lo1), (la1, lo0)]


def standard_zones() -> list[tuple[bool, list[list[tuple[int, int]]]]]:
    """Allowed A (with a hole), forbidden F inside A, allowed B."""
    return [(False, [box_ring(ZONE_A), box_ring(HOLE_A)]), (True, [box_ring(FORBID)]),
            (False, [box_ring(ZONE_B)])]


_MID = (ZONE_A[0] + ZONE_A[1]) // 2
_EAST = ZONE_A[3]


def east_of_a(m: float) -> tuple[int, int]:
    """A point `m` metres east of zone A's east edge (negative: inside), mid-edge."""
    return _MID, _EAST + dlon_e7(m, _MID)


POINTS: dict[str, tuple[int, int]] = {
    "in": (523150000, 130120000),
    "in_edge": east_of_a(-15),
    "out_far": (522700000, 130700000),
    "hole": ((HOLE_A[0] + HOLE_A[1]) // 2, (HOLE_A[2] + HOLE_A[3]) // 2),
    "forbidden": ((FORBID[0] + FORBID[1]) // 2, (FORBID[2] + FORBID[3]) // 2),
    "in_b": (523450000, 130050000),
    "spoof": (480000000, 115000000),  # Munich, ~500 km away
}
