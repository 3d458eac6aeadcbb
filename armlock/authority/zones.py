"""Read GeoJSON zone files into the permit zone structure (integers in 1e-7 degrees).

Accepted: Polygon, MultiPolygon, Feature, FeatureCollection. A feature whose properties have
``"forbidden": true`` or ``"kind": "forbidden"`` / ``"no-go"`` is a forbidden zone; everything
else is an allowed zone. GeoJSON positions are [lon, lat]; zones are (lat, lon). Numbers are
converted exactly (decimal, round half even) and holes are kept.

Edges are straight lines in longitude/latitude as written (RFC 7946 section 3.1.1): an edge
from -170 to +170 is 340 degrees wide. The device reads every edge the short way round, so an
edge spanning 180 degrees or more means one thing here and another there: it is refused, with
the two ways to write a zone that crosses the antimeridian (split it at 180, RFC 7946 section
3.1.9, or continue past 180, e.g. 190 for -170). Longitudes beyond +-180 are wrapped once
every edge is known to be shorter than 180 degrees.

Safe repairs, each reported in a note: a vertex equal to the one before it (exactly, or after
rounding to 1e-7 degrees) is dropped, and a ring whose last position is not its first is
closed. Everything else that is wrong is refused with the file, zone, ring and vertex named.
"""

from __future__ import annotations

import json
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from armlock.authority import shapes
from protocols import permit as P

Ring = list[tuple[int, int]]
Zone = tuple[bool, list[Ring]]
FORBIDDEN_KINDS = ("forbidden", "no-go")
E7 = 10**7
HALF_TURN = 180 * E7
HOW_TO_CROSS = ("to cross the antimeridian, split the zone at 180 (RFC 7946 3.1.9) or "
                "continue past 180 (e.g. 190 for -170)")


class GeoJSONError(ValueError):
    """Malformed zone file; the message names the file and the zone, ring and vertex."""


class Source:
    """Where a zone came from: file, JSON path of its polygon, and its index in the permit."""

    def __init__(self, file: str, path: str, index: int) -> None:
        self.file, self.path, self.index = file, path, index

    def where(self, ring: int | None = None, vertex: int | None = None) -> str:
        """'f.geojson: zone 2 ring 0 vertex 5 (features[1].geometry.coordinates[0][5])'."""
        text = f"zone {self.index}"
        path = self.path
        if ring is not None:
            text += f" ring {ring}"
            path += f"[{ring}]"
            if vertex is not None:
                text += f" vertex {vertex}"
                path += f"[{vertex}]"
        return f"{self.file}: {text} ({path})"


class ZoneSet:
    """Zones read from files, with where each came from and the repairs made."""

    def __init__(self) -> None:
        self.zones: list[Zone] = []
        self.sources: list[Source] = []
        self.notes: list[str] = []
        self.written: list[list[Ring]] = []  # rings as written (lon not wrapped), per zone

    def add(self, forbidden: bool, written: list[Ring], src: Source) -> None:
        """Append a zone from rings as written (every edge shorter than 180 degrees)."""
        self.written.append(written)
        self.zones.append((forbidden, [[(la, _wrap(lo)) for la, lo in r] for r in written]))
        self.sources.append(src)


def _wrap(lon: int) -> int:
    while lon > HALF_TURN:
        lon -= 2 * HALF_TURN
    while lon < -HALF_TURN:
        lon += 2 * HALF_TURN
    return lon


class _Ctx:
    def __init__(self, name: str, out: ZoneSet) -> None:
        self.name = name
        self.out = out

    def fail(self, where: str, msg: str) -> GeoJSONError:
        return GeoJSONError(f"{self.name}: {where}: {msg}" if where else f"{self.name}: {msg}")


def _e7(value: Any, lim: int, what: str, fail: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, float)):
        raise fail(f"{what} must be a number, got {json.dumps(value, default=str)}")
    try:
        e7 = int((Decimal(value) * E7).to_integral_value(ROUND_HALF_EVEN))
    except (InvalidOperation, ValueError, OverflowError):
        raise fail(f"{what} {value} is not a finite number") from None
    if not -lim * E7 <= e7 <= lim * E7:
        raise fail(f"{what} {value} is outside -{lim}..{lim}")
    return e7


def _positions(coords: Any, src: Source, r: int) -> Ring:
    if not isinstance(coords, list):
        raise GeoJSONError(f"{src.where(r)}: ring must be an array of positions")
    ring: Ring = []
    for i, pos in enumerate(coords):
        def fail(msg: str, i: int = i) -> GeoJSONError:
            return GeoJSONError(f"{src.where(r, i)}: {msg}")
        if not isinstance(pos, list) or len(pos) < 2:
            raise fail("position must be [lon, lat]")
        lon = _e7(pos[0], 360, "longitude", fail)
        lat = _e7(pos[1], 90, "latitude", fail)
        ring.append((lat, lon))
    return ring


def _repair(ring: Ring, src: Source, r: int, notes: list[str]) -> tuple[Ring, list[int]]:
    """Drop repeats, close the ring; return (ring without closing vertex, written indices)."""
    if len(ring) > 1 and ring[0] == ring[-1]:
        ring = ring[:-1]
    elif len(ring) >= P.MIN_VERTICES:
        notes.append(f"{src.where(r)}: ring was not closed (the last position must repeat "
                     "the first); closed it")
    keep: list[int] = []
    for i, v in enumerate(ring):
        if keep and ring[keep[-1]] == v:
            notes.append(f"{src.where(r, i)}: equals vertex {keep[-1]} at 1e-7 degrees "
                         "(a repeat); dropped it")
            continue
        keep.append(i)
    while len(keep) > 1 and ring[keep[-1]] == ring[keep[0]]:
        notes.append(f"{src.where(r, keep[-1])}: equals vertex {keep[0]} at 1e-7 degrees "
                     "(a repeat); dropped it")
        keep.pop()
    out = [ring[i] for i in keep]
    if len(out) < P.MIN_VERTICES:
        raise GeoJSONError(f"{src.where(r)}: ring has {len(out)} distinct vertices, need >= "
                           f"{P.MIN_VERTICES}")
    if len(out) > P.MAX_VERTICES:
        raise GeoJSONError(f"{src.where(r)}: ring has {len(out)} vertices, a permit holds at "
                           f"most {P.MAX_VERTICES} per ring (try --simplify METRES)")
    return out, keep


def _check_spans(ring: Ring, idx: list[int], src: Source, r: int) -> None:
    n = len(ring)
    for i in range(n):
        j = (i + 1) % n
        span = abs(ring[j][1] - ring[i][1])
        if span >= HALF_TURN:
            raise GeoJSONError(
                f"{src.where(r, idx[i])}: the edge to vertex {idx[j]} spans "
                f"{span / E7:g} degrees of longitude (from {ring[i][1] / E7:g} to "
                f"{ring[j][1] / E7:g}); RFC 7946 reads it as that wide, the device as the "
                f"short way round: ambiguous, refused; {HOW_TO_CROSS}")


def _polygon(coords: Any, ctx: _Ctx, path: str, forbidden: bool) -> None:
    out = ctx.out
    src = Source(ctx.name, path, len(out.zones))
    if not isinstance(coords, list) or not coords:
        raise GeoJSONError(f"{src.where()}: polygon must be a non-empty array of rings")
    if len(coords) > P.MAX_RINGS:
        raise GeoJSONError(f"{src.where()}: polygon has {len(coords)} rings, a permit holds "
                           f"at most {P.MAX_RINGS}")
    rings = [_positions(c, src, r) for r, c in enumerate(coords)]
    _accept(rings, src, forbidden, out, closed=False)


def _accept(rings: list[Ring], src: Source, forbidden: bool, out: ZoneSet,
            closed: bool) -> None:
    """Repair, check and add one zone; `closed`: rings come without the closing vertex."""
    good = []
    for r, raw in enumerate(rings):
        ring, idx = _repair(raw + raw[:1] if closed else raw, src, r, out.notes)
        _check_spans(ring, idx, src, r)
        why = shapes.ring_problem(ring, idx, src, r)
        if why:
            raise GeoJSONError(why)
        good.append(ring)
    why = shapes.polygon_problem(good, src)
    if why:
        raise GeoJSONError(why)
    out.add(forbidden, good, src)


def simplified(zs: ZoneSet, metres: float) -> tuple[ZoneSet, list[str]]:
    """Every zone simplified with tolerance `metres` (shapes.simplify), checked again;
    returns the new set and one line per zone: vertices before and after, the largest
    displacement."""
    out = ZoneSet()
    lines = []
    for (forbidden, _), written, src in zip(zs.zones, zs.written, zs.sources, strict=True):
        try:
            rings, moved = shapes.simplify(written, metres)
        except ValueError as exc:
            raise GeoJSONError(f"{src.where()}: {exc}") from None
        before = sum(len(r) for r in written)
        _accept(rings, src, forbidden, out, closed=True)
        after = sum(len(r) for r in out.written[-1])
        lines.append(f"{src.where()}: {before} -> {after} vertices, largest displacement "
                     f"{moved:,.0f} m")
    out.notes = zs.notes + out.notes
    return out, lines


def _geometry(geom: Any, forbidden: bool, ctx: _Ctx, where: str) -> None:
    if not isinstance(geom, dict):
        raise ctx.fail(where, "geometry must be an object")
    kind = geom.get("type")
    coords = geom.get("coordinates")
    cw = f"{where}.coordinates" if where else "coordinates"
    if kind == "Polygon":
        _polygon(coords, ctx, cw, forbidden)
    elif kind == "MultiPolygon":
        if not isinstance(coords, list) or not coords:
            raise ctx.fail(cw, "MultiPolygon must be a non-empty array of polygons")
        for i, c in enumerate(coords):
            _polygon(c, ctx, f"{cw}[{i}]", forbidden)
    else:
        raise ctx.fail(where, f"geometry type {kind!r} is not a zone (Polygon or MultiPolygon)")


def _is_forbidden(props: Any, ctx: _Ctx, where: str) -> bool:
    if props is None:
        return False
    if not isinstance(props, dict):
        raise ctx.fail(where, "properties must be an object or null")
    kind = props.get("kind")
    return props.get("forbidden") is True or (
        isinstance(kind, str) and kind.lower() in FORBIDDEN_KINDS)


def _feature(feat: Any, ctx: _Ctx, where: str) -> None:
    if not isinstance(feat, dict) or feat.get("type") != "Feature":
        raise ctx.fail(where, "expected a Feature object")
    pre = f"{where}." if where else ""
    forbidden = _is_forbidden(feat.get("properties"), ctx, pre + "properties")
    if feat.get("geometry") is None:
        raise ctx.fail(pre + "geometry", "feature has no geometry")
    _geometry(feat["geometry"], forbidden, ctx, pre + "geometry")


def read_doc(doc: Any, name: str, out: ZoneSet) -> None:
    """Add the zones of a parsed GeoJSON document (floats parsed as Decimal) to `out`."""
    ctx = _Ctx(name, out)
    if not isinstance(doc, dict):
        raise ctx.fail("", "top level must be a GeoJSON object")
    kind = doc.get("type")
    if kind == "FeatureCollection":
        feats = doc.get("features")
        if not isinstance(feats, list) or not feats:
            raise ctx.fail("features", "must be a non-empty array")
        for i, f in enumerate(feats):
            _feature(f, ctx, f"features[{i}]")
    elif kind == "Feature":
        _feature(doc, ctx, "")
    elif kind in ("Polygon", "MultiPolygon"):
        _geometry(doc, False, ctx, "")
    else:
        raise ctx.fail("type", f"{kind!r} is not Polygon, MultiPolygon, Feature or "
                       "FeatureCollection")


def read_file(path: Path, out: ZoneSet) -> None:
    """Add the zones of a GeoJSON file to `out`; GeoJSONError names the file on bad input."""
    name = str(path)
    if Path(path).is_dir():
        raise GeoJSONError(f"{name}: is a directory, expected a GeoJSON file")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise GeoJSONError(f"{name}: not a GeoJSON text file (not UTF-8)") from None
    except OSError as exc:
        raise GeoJSONError(f"{name}: cannot read ({exc.strerror})") from None
    try:
        doc = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise GeoJSONError(f"{name}: line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    read_doc(doc, name, out)


def parse_zones(doc: Any, name: str = "<geojson>") -> list[Zone]:
    """Zones from a parsed GeoJSON document (parse floats as Decimal for exactness)."""
    out = ZoneSet()
    read_doc(doc, name, out)
    return out.zones


def load_zones(path: Path) -> list[Zone]:
    """Zones from one GeoJSON file."""
    out = ZoneSet()
    read_file(path, out)
    return out.zones


def read_all(paths: list[Path]) -> ZoneSet:
    """Zones of several files, in order, checked against the permit's zone limit."""
    out = ZoneSet()
    for p in paths:
        read_file(p, out)
    names = ", ".join(map(str, paths))
    if len(out.zones) > P.MAX_ZONES:
        raise GeoJSONError(f"{len(out.zones)} zones in {names}; a permit holds at most "
                           f"{P.MAX_ZONES}")
    out.notes += swap_warnings(out)
    if out.zones and all(f for f, _ in out.zones):
        raise GeoJSONError(f"every zone in {names} is forbidden; a permit with zones needs "
                           "at least one allowed zone (or give no --zone at all)")
    return out


def _centre(rings: list[Ring]) -> tuple[float, float]:
    ring = rings[0]
    return (sum(la for la, _ in ring) / len(ring) / E7, sum(lo for _, lo in ring) / len(ring) / E7)


def swap_warnings(zs: ZoneSet, far_m: float = 1_000_000) -> list[str]:
    """Warn about a zone far (> far_m) from every other zone that would lie near one with
    latitude and longitude swapped: GeoJSON positions are [lon, lat]."""
    centres = [_centre(w) for w in zs.written]
    out = []
    for k, (la, lo) in enumerate(centres):
        others = [c for i, c in enumerate(centres) if i != k]
        if not others or not -90 <= lo <= 90:
            continue
        d = min(shapes.haversine_m(la, lo, a, b) for a, b in others)
        ds = min(shapes.haversine_m(lo, la, a, b) for a, b in others)
        if d > far_m and ds < d / 10:
            out.append(f"{zs.sources[k].where()}: lies {d / 1000:,.0f} km from the other "
                       "zones, but next to them with latitude and longitude swapped; GeoJSON "
                       "positions are [lon, lat]: check the file")
    if len(out) == 2 == len(centres):  # two zones: either may be the swapped one
        files = ", ".join(dict.fromkeys(src.file for src in zs.sources))
        apart = shapes.haversine_m(*centres[0], *centres[1])
        out = [f"{files}: zones 0 and 1 lie "
               f"{apart / 1000:,.0f} km apart, but next to each other with latitude and longitude "
               "of one swapped; GeoJSON positions are [lon, lat]: check the files"]
    return out


def load_all(paths: list[Path]) -> list[Zone]:
    """The zones of read_all(paths)."""
    return read_all(paths).zones
