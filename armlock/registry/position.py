"""Warnings when a permit's zones are far from where its lock was last seen (issue 14):
a zone drawn with latitude and longitude swapped lies thousands of km away, and the lock
would refuse to unlock anywhere its holder goes."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from armlock.authority.shapes import haversine_m
from armlock.registry.models import Position
from protocols import permit as P

FAR_M = 100_000  # a permitted zone whose nearest vertex is further than this is suspect


def _nearest_m(lat: float, lon: float, ring: list[int], swap: bool = False) -> float:
    pts = [(ring[i], ring[i + 1]) for i in range(0, len(ring) - 1, 2)]
    return min(haversine_m(lat, lon, (b if swap else a) / 1e7, (a if swap else b) / 1e7)
               for a, b in pts)


def zone_warnings(s: Session, device_id: str, blob: bytes) -> list[str]:
    """One warning per permitted zone of the permit `blob` whose nearest vertex is more than
    FAR_M from the device's last known position (none when the registry knows none)."""
    pos = s.scalar(select(Position).where(Position.device_id == device_id)
                   .order_by(Position.at.desc(), Position.id.desc()).limit(1))
    if pos is None:
        return []
    lat, lon = pos.lat_e7 / 1e7, pos.lon_e7 / 1e7
    out = []
    for i, (forbidden, rings) in enumerate(P.decode(blob, None).zones):
        if forbidden or not rings or not rings[0]:
            continue
        d = _nearest_m(lat, lon, rings[0])
        if d <= FAR_M:
            continue
        hint = (": latitude and longitude swapped?"
                if _nearest_m(lat, lon, rings[0], swap=True) <= FAR_M else "")
        out.append(f"{device_id}: zone {i} is {d / 1000:.0f} km from the lock's last known "
                   f"position ({lat:.5f}, {lon:.5f}){hint}")
    return out
