"""Charts for the HTML report, as base64 PNG: bars per metric, a Pareto chart (usable
diversion against false denials, cost as colour), the scenario's zones on a map, and
sweep lines with interval bands. Units on every axis; labels are kept inside the figure
(bbox_inches="tight")."""

from __future__ import annotations

import base64
import io
import math
from typing import Any

COLOURS = {"-": "#888888", "fail-secure": "#2b6cb0", "fail-enabled": "#dd6b20"}
ZONE_COLOURS = {"depot": "#2f855a", "base": "#2f855a", "patrol": "#3182ce",
                "border": "#c53030", "nogo": "#c53030", "town": "#805ad5", "area": "#a0aec0"}


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None}, bbox_inches="tight")
    _plt().close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _v(x: float) -> float:
    return 0.0 if math.isnan(x) else x


def bars(summary: list[dict[str, Any]], name: str, label: str, unit: str) -> str:
    """One bar per policy x profile with its 95 % interval."""
    plt = _plt()
    names = [f"{r['policy']}\n{r['profile']}" if r["profile"] != "-" else r["policy"]
             for r in summary]
    means = [_v(r[name][0]) for r in summary]
    errs = [[max(0.0, _v(r[name][0]) - _v(r[name][1])) if not math.isnan(r[name][1]) else 0.0
             for r in summary],
            [max(0.0, _v(r[name][2]) - _v(r[name][0])) if not math.isnan(r[name][2]) else 0.0
             for r in summary]]
    fig, ax = plt.subplots(figsize=(max(6, 0.7 * len(names)), 3.2), dpi=80)
    ax.bar(range(len(names)), means, yerr=errs, color=[COLOURS.get(r["profile"], "#888888")
                                                       for r in summary], capsize=3)
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel(unit or "count")
    ax.set_title(label, fontsize=10)
    return _png(fig)


def pareto(summary: list[dict[str, Any]]) -> str:
    """Usable after 7 d (%) against false denials per 1,000 tries; colour = USD/weapon-year."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=80)
    xs = [_v(r["false_denials_per_1000"][0]) for r in summary]
    ys = [_v(r["usable_7d"][0]) for r in summary]
    cs = [_v(r["cost_per_weapon_year"][0]) for r in summary]
    for r, x, y in zip(summary, xs, ys, strict=True):
        fd, u = r["false_denials_per_1000"], r["usable_7d"]
        if not (math.isnan(fd[1]) or math.isnan(u[1])):
            ax.errorbar(x, y, xerr=[[x - fd[1]], [fd[2] - x]], yerr=[[y - u[1]], [u[2] - y]],
                        fmt="none", ecolor="#cccccc", lw=0.8, zorder=1)
    sc = ax.scatter(xs, ys, c=cs, cmap="viridis", s=60, zorder=2,
                    marker="o", edgecolors=[COLOURS.get(r["profile"], "#888") for r in summary])
    seen: dict[tuple[int, int], int] = {}
    for r, x, y in zip(summary, xs, ys, strict=True):
        tag = r["policy"] + ("" if r["profile"] == "-" else f" ({r['profile'][5:]})")
        cell = (round(x / 20), round(y / 5))  # points this close share a label column
        k = seen.get(cell, 0)
        seen[cell] = k + 1
        ax.annotate(tag, (x, y), fontsize=7, xytext=(5, 3 - 9 * k), textcoords="offset points")
    fig.colorbar(sc, ax=ax, label="cost (USD per weapon-year)")
    ax.set_xlabel("false denials (per 1,000 tries)")
    ax.set_ylabel("usable after 7 days (% of diversions)")
    ax.set_title("Pareto: diversion against burden on users (lower left is better)",
                 fontsize=10)
    return _png(fig)


def zone_map(zones: list[dict[str, Any]]) -> str:
    """The scenario's zones: polygons and labels, axes in degrees, a scale bar."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 6), dpi=80)
    lats = [p[0] for z in zones for p in z["polygon"]]
    for z in zones:
        pts = z["polygon"] + z["polygon"][:1]
        col = ZONE_COLOURS.get(z["kind"], "#718096")
        ax.fill([p[1] for p in pts], [p[0] for p in pts], alpha=0.15, color=col)
        ax.plot([p[1] for p in pts], [p[0] for p in pts], color=col, lw=1)
        if z["kind"] == "area":  # a wide GNSS area: label its corner, not its middle
            at = (min(p[1] for p in z["polygon"]), max(p[0] for p in z["polygon"]))
            ax.annotate(f"{z['name']} ({z['kind']})", at, fontsize=7, va="top",
                        xytext=(3, -3), textcoords="offset points")
            continue
        cy = sum(p[0] for p in z["polygon"]) / len(z["polygon"])
        cx = sum(p[1] for p in z["polygon"]) / len(z["polygon"])
        ax.annotate(f"{z['name']} ({z['kind']})", (cx, cy), fontsize=7, ha="center",
                    bbox={"boxstyle": "round,pad=0.1", "fc": "white", "alpha": 0.6, "lw": 0})
    mid = (min(lats) + max(lats)) / 2 if lats else 0.0
    ax.set_aspect(1 / max(0.01, math.cos(math.radians(mid))))
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    km = _nice_km((x1 - x0) * 111.195 * math.cos(math.radians(mid)) / 4)
    deg = km / (111.195 * math.cos(math.radians(mid)))
    bx, by = x0 + (x1 - x0) * 0.05, y0 + (y1 - y0) * 0.05
    ax.plot([bx, bx + deg], [by, by], color="black", lw=3)
    ax.annotate(f"{km:g} km", (bx + deg / 2, by), xytext=(0, 4), textcoords="offset points",
                ha="center", fontsize=8)
    ax.set_xlabel("longitude (degrees E)")
    ax.set_ylabel("latitude (degrees N)")
    ax.set_title("Scenario zones", fontsize=10)
    return _png(fig)


def _nice_km(x: float) -> float:
    if x <= 0:
        return 1.0
    p = 10 ** math.floor(math.log10(x))
    return max(m * p for m in (1, 2, 5) if m * p <= x) if x >= p else p


def sweep_lines(summary: list[dict[str, Any]], param: str, name: str, label: str,
                unit: str) -> str:
    """Metric against the swept value, one line per policy x profile, interval bands."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4), dpi=80)
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in summary:
        groups.setdefault((r["policy"], r["profile"]), []).append(r)
    for (pol, prof), rs in groups.items():
        pts = [(float(r[param]), r[name]) for r in rs if isinstance(r[param], (int, float))]
        if not pts:
            continue
        pts.sort()
        x = [p[0] for p in pts]
        line = ax.plot(x, [_v(p[1][0]) for p in pts], marker="o", ms=3,
                       label=pol if prof == "-" else f"{pol} / {prof}")[0]
        if all(not math.isnan(p[1][1]) for p in pts):
            ax.fill_between(x, [p[1][1] for p in pts], [p[1][2] for p in pts],
                            color=line.get_color(), alpha=0.15)
    ax.set_xlabel(param)
    ax.set_ylabel(f"{label} ({unit})" if unit else label)
    ax.legend(fontsize=7, loc="best")
    return _png(fig)
