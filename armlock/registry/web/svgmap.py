"""An offline map as inline SVG: zone polygons of current permits and last-known points.

Equirectangular, east-west scaled by cos(mean latitude), fitted to what is drawn; no
tiles, no network. Coordinates in zones are 1e-7 degrees (lat, lon) as in permits.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from typing import Any

W, H, PAD = 800, 520, 30


@dataclass
class Point:
    label: str
    lat: float
    lon: float
    css: str = "point"


def _frame(lats: list[float], lons: list[float]) -> Callable[[float, float], tuple[float, float]]:
    lat0, lat1 = min(lats), max(lats)
    lon0, lon1 = min(lons), max(lons)
    k = math.cos(math.radians((lat0 + lat1) / 2))
    span_x = max((lon1 - lon0) * k, 1e-6)
    span_y = max(lat1 - lat0, 1e-6)
    scale = min((W - 2 * PAD) / span_x, (H - 2 * PAD) / span_y)

    def xy(lat: float, lon: float) -> tuple[float, float]:
        return (PAD + (lon - lon0) * k * scale, H - PAD - (lat - lat0) * scale)
    return xy


def render(zones: list[tuple[str, list[Any]]], points: list[Point]) -> str:
    """SVG text for `zones` [(label, [forbidden, rings])] and `points`."""
    lats = [p.lat for p in points]
    lons = [p.lon for p in points]
    for _label, (_forbidden, rings) in zones:
        for ring in rings:
            lats += [v[0] / 1e7 for v in ring]
            lons += [v[1] / 1e7 for v in ring]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" class="map" '
           f'role="img" aria-label="last-known positions">',
           f'<rect width="{W}" height="{H}" class="sea"/>']
    if not lats:
        out.append(f'<text x="{W // 2}" y="{H // 2}" text-anchor="middle">'
                   "no positions or zones recorded yet</text></svg>")
        return "".join(out)
    xy = _frame(lats, lons)
    for label, (forbidden, rings) in zones:
        d = " ".join("M " + " L ".join("%.1f %.1f" % xy(v[0] / 1e7, v[1] / 1e7) for v in ring)
                     + " Z" for ring in rings)
        css = "zone forbidden" if forbidden else "zone"
        out.append(f'<path class="{css}" fill-rule="evenodd" d="{d}">'
                   f"<title>{escape(label)}</title></path>")
    for p in points:
        x, y = xy(p.lat, p.lon)
        out.append(f'<circle class="{p.css}" cx="{x:.1f}" cy="{y:.1f}" r="6">'
                   f"<title>{escape(p.label)} {p.lat:.5f}, {p.lon:.5f}</title></circle>"
                   f'<text x="{x + 8:.1f}" y="{y - 8:.1f}" class="label">{escape(p.label)}</text>')
    out.append("</svg>")
    return "".join(out)
