"""Read GeoJSON zone files into the permit zone structure (integers in 1e-7 degrees).

Accepted: Polygon, MultiPolygon, Feature, FeatureCollection. A feature whose properties have
``"forbidden": true`` or ``"kind": "forbidden"`` / ``"no-go"`` is a forbidden zone; everything
else is an allowed zone. GeoJSON positions are [lon, lat]; zones are (lat, lon). Numbers are
converted exactly (decimal, round half even), the closing duplicate vertex is dropped and
holes are kept.
"""

from __future__ import annotations

import json
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from protocols import permit as P

Ring = list[tuple[int, int]]
Zone = tuple[bool, list[Ring]]
FORBIDDEN_KINDS = ("forbidden", "no-go")


class GeoJSONError(ValueError):
    """Malformed zone file; the message names the file and the JSON path."""


class _Ctx:
    def __init__(self, name: str) -> None:
        self.name = name

    def fail(self, where: str, msg: str) -> GeoJSONError:
        return GeoJSONError(f"{self.name}: {where}: {msg}" if where else f"{self.name}: {msg}")


def _e7(value: Any, lo: int, hi: int, what: str, ctx: _Ctx, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        raise ctx.fail(where, f"{what} must be a number, got {json.dumps(value, default=str)}")
    try:
        e7 = int((Decimal(value) * 10**7).to_integral_value(ROUND_HALF_EVEN))
    except InvalidOperation:
        raise ctx.fail(where, f"{what} {value} is not a finite number") from None
    if not lo * 10**7 <= e7 <= hi * 10**7:
        raise ctx.fail(where, f"{what} {value} out of range {lo}..{hi}")
    return e7


def _ring(coords: Any, ctx: _Ctx, where: str) -> Ring:
    if not isinstance(coords, list):
        raise ctx.fail(where, "ring must be an array of positions")
    ring: Ring = []
    for i, pos in enumerate(coords):
        w = f"{where}[{i}]"
        if not isinstance(pos, list) or len(pos) < 2:
            raise ctx.fail(w, "position must be [lon, lat]")
        lon = _e7(pos[0], -180, 180, "longitude", ctx, w)
        lat = _e7(pos[1], -90, 90, "latitude", ctx, w)
        ring.append((lat, lon))
    if len(ring) > 1 and ring[0] == ring[-1]:
        ring.pop()
    if len(ring) < P.MIN_VERTICES:
        raise ctx.fail(where, f"ring has {len(ring)} vertices, need >= {P.MIN_VERTICES}")
    if len(ring) > P.MAX_VERTICES:
        raise ctx.fail(where, f"ring has {len(ring)} vertices, at most {P.MAX_VERTICES} fit")
    return ring


def _polygon(coords: Any, ctx: _Ctx, where: str) -> list[Ring]:
    if not isinstance(coords, list) or not coords:
        raise ctx.fail(where, "polygon must be a non-empty array of rings")
    if len(coords) > P.MAX_RINGS:
        raise ctx.fail(where, f"polygon has {len(coords)} rings, at most {P.MAX_RINGS}")
    return [_ring(r, ctx, f"{where}[{i}]") for i, r in enumerate(coords)]


def _geometry(geom: Any, forbidden: bool, ctx: _Ctx, where: str) -> list[Zone]:
    if not isinstance(geom, dict):
        raise ctx.fail(where, "geometry must be an object")
    kind = geom.get("type")
    coords = geom.get("coordinates")
    cw = f"{where}.coordinates" if where else "coordinates"
    if kind == "Polygon":
        return [(forbidden, _polygon(coords, ctx, cw))]
    if kind == "MultiPolygon":
        if not isinstance(coords, list) or not coords:
            raise ctx.fail(cw, "MultiPolygon must be a non-empty array of polygons")
        return [(forbidden, _polygon(c, ctx, f"{cw}[{i}]")) for i, c in enumerate(coords)]
    raise ctx.fail(where, f"geometry type {kind!r} is not a zone (Polygon or MultiPolygon)")


def _is_forbidden(props: Any, ctx: _Ctx, where: str) -> bool:
    if props is None:
        return False
    if not isinstance(props, dict):
        raise ctx.fail(where, "properties must be an object or null")
    kind = props.get("kind")
    return props.get("forbidden") is True or (
        isinstance(kind, str) and kind.lower() in FORBIDDEN_KINDS)


def _feature(feat: Any, ctx: _Ctx, where: str) -> list[Zone]:
    if not isinstance(feat, dict) or feat.get("type") != "Feature":
        raise ctx.fail(where, "expected a Feature object")
    pre = f"{where}." if where else ""
    forbidden = _is_forbidden(feat.get("properties"), ctx, pre + "properties")
    if feat.get("geometry") is None:
        raise ctx.fail(pre + "geometry", "feature has no geometry")
    return _geometry(feat["geometry"], forbidden, ctx, pre + "geometry")


def parse_zones(doc: Any, name: str = "<geojson>") -> list[Zone]:
    """Zones from a parsed GeoJSON document (parse floats as Decimal for exactness)."""
    ctx = _Ctx(name)
    if not isinstance(doc, dict):
        raise ctx.fail("", "top level must be a GeoJSON object")
    kind = doc.get("type")
    if kind == "FeatureCollection":
        feats = doc.get("features")
        if not isinstance(feats, list) or not feats:
            raise ctx.fail("features", "must be a non-empty array")
        zones = [z for i, f in enumerate(feats) for z in _feature(f, ctx, f"features[{i}]")]
    elif kind == "Feature":
        zones = _feature(doc, ctx, "")
    elif kind in ("Polygon", "MultiPolygon"):
        zones = _geometry(doc, False, ctx, "")
    else:
        raise ctx.fail("type", f"{kind!r} is not Polygon, MultiPolygon, Feature or "
                       "FeatureCollection")
    return zones


def load_zones(path: Path) -> list[Zone]:
    """Zones from a GeoJSON file; GeoJSONError names the file and JSON path on bad input."""
    name = str(path)
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise GeoJSONError(f"{name}: cannot read ({exc.strerror})") from None
    try:
        doc = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise GeoJSONError(f"{name}: line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    return parse_zones(doc, name)


def load_all(paths: list[Path]) -> list[Zone]:
    """Zones of several files, in order, checked against the permit's zone limit."""
    zones = [z for p in paths for z in load_zones(p)]
    if len(zones) > P.MAX_ZONES:
        raise GeoJSONError(f"{len(zones)} zones in {', '.join(map(str, paths))}; a permit "
                           f"holds at most {P.MAX_ZONES}")
    if zones and all(f for f, _ in zones):
        raise GeoJSONError("every zone is forbidden; a permit needs at least one allowed zone")
    return zones
