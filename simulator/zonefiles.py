"""Zones from GeoJSON files, and a plausibility check of a scenario's zone layout.

Coordinate order: inline ``[[zones]] polygon`` pairs are ``[lat, lon]`` (latitude
first, as the rest of the scenario file); GeoJSON files are ``[lon, lat]``, as RFC 7946
says. A zone file is a FeatureCollection (or one Feature) of Polygons whose properties
give ``name`` and ``kind``; the outer ring is the zone (holes are refused).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

FAR_KM = 1000.0  # a zone farther than this from every other zone is suspicious


class ZoneFileError(ValueError):
    """A zone file that cannot be used (the message says where and why)."""


def load_zone_file(path: Path) -> list[dict[str, Any]]:
    """Zones (name, kind, polygon as [lat, lon] pairs) from a GeoJSON file."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ZoneFileError(f"cannot read {path} ({exc.strerror})") from None
    except json.JSONDecodeError as exc:
        raise ZoneFileError(f"{path}: not JSON ({exc})") from None
    feats = doc.get("features") if isinstance(doc, dict) and doc.get(
        "type") == "FeatureCollection" else [doc]
    if not isinstance(feats, list) or not feats:
        raise ZoneFileError(f"{path}: expected a Feature or a FeatureCollection")
    return [_zone(path, i, f) for i, f in enumerate(feats)]


def _zone(path: Path, i: int, f: Any) -> dict[str, Any]:
    where = f"{path}: feature {i}"
    if not isinstance(f, dict) or f.get("type") != "Feature":
        raise ZoneFileError(f"{where}: not a Feature")
    props = f.get("properties") or {}
    geom = f.get("geometry") or {}
    if not isinstance(props.get("name"), str) or not isinstance(props.get("kind"), str):
        raise ZoneFileError(f"{where}: properties need a name and a kind")
    if geom.get("type") != "Polygon":
        raise ZoneFileError(f"{where} ({props['name']}): geometry must be a Polygon, "
                            f"got {geom.get('type')!r}")
    rings = geom.get("coordinates")
    if not isinstance(rings, list) or len(rings) != 1:
        raise ZoneFileError(f"{where} ({props['name']}): one outer ring, no holes")
    ring = rings[0]
    if not all(isinstance(p, list) and len(p) >= 2 for p in ring):
        raise ZoneFileError(f"{where} ({props['name']}): positions must be [lon, lat]")
    if len(ring) > 1 and ring[0] == ring[-1]:
        ring = ring[:-1]  # GeoJSON closes its rings
    return {"name": props["name"], "kind": props["kind"],
            "polygon": [[p[1], p[0]] for p in ring]}  # [lon, lat] -> [lat, lon]


def _centre(z: dict[str, Any]) -> tuple[float, float]:
    pts = z["polygon"]
    return sum(p[0] for p in pts) / len(pts), sum(p[1] for p in pts) / len(pts)


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    la1, lo1, la2, lo2 = map(math.radians, (*a, *b))
    h = (math.sin((la2 - la1) / 2) ** 2
         + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2)
    return 2 * 6371.0 * math.asin(math.sqrt(min(1.0, h)))


def far_zones(zones: list[dict[str, Any]], limit_km: float = FAR_KM) -> list[str]:
    """Warnings for zones farther than limit_km from every other zone (a swapped
    latitude/longitude, or a typo, puts a zone on another continent)."""
    centres = [(z["name"], _centre(z)) for z in zones if z["polygon"]]
    out = []
    for name, c in centres:
        dists = [_km(c, o) for n, o in centres if n != name]
        if dists and min(dists) > limit_km:
            out.append(f"zone {name!r} lies {min(dists):,.0f} km from the nearest other "
                       f"zone (centre {c[0]:.4f}, {c[1]:.4f} as lat, lon): check the "
                       "coordinate order (inline [lat, lon], GeoJSON [lon, lat])")
    return out
