"""Report sections beyond the main table: each a (title, note, header, rows) that renders
to Markdown and HTML alike. Every section states its n."""

from __future__ import annotations

import html
import math
from typing import Any

from simulator.causes import CAUSES
from simulator.costs import COMPONENTS
from simulator.stats import wilson

Section = tuple[str, str, list[str], list[list[str]]]

DEFINITIONS = [
    "usable after 1 h / 1 d / 7 d: share of diverted weapons the unauthorised holder "
    "opened at that offset after the diversion (the real firmware core decided).",
    "false denials per 1,000 tries: tries by the rostered holder on duty that did not "
    "open the lock; availability: share of uses (contact events) in which the lock "
    "opened within duty.in_time_s of the first try.",
    "Intervals: 95 %. Shares and rates are pooled over weapons and runs with a Wilson "
    "interval widened by the cluster design effect (tries of one weapon are not "
    "independent); other metrics are means over runs (Student t). n is given per table.",
    "Policies without a personal credential (time, geo, time+geo) are met by a unit "
    "token issued with the weapon, so whoever holds the weapon has it; only the time "
    "and place limits bind.",
    "Diversion rates are inflated for statistical power: the usable-diversion metrics "
    "are conditional on a diversion; cost per prevented usable diversion uses the field "
    "rate costs.real_diversions_per_1000_weapon_years instead.",
    "Sources of every default: docs/SOURCES.md and simulator/data/costs.toml.",
]


def _ci(v: tuple[float, float, float], nd: int = 1, unit: str = "") -> str:
    if math.isnan(v[0]):
        return "n/a"
    if math.isnan(v[1]):
        return f"{v[0]:.{nd}f}{unit}"
    return f"{v[0]:.{nd}f}{unit} [{v[1]:.{nd}f}, {v[2]:.{nd}f}]"


def _money(x: float) -> str:
    return "n/a" if math.isnan(x) else "unbounded" if math.isinf(x) else f"{x:,.0f}"


def paired_section(pairs: list[dict[str, Any]], baseline: str = "none") -> Section:
    head = ["policy", "profile", "n pairs", "prevented 1 h (pp)", "prevented 1 d (pp)",
            "prevented 7 d (pp)", "extra USD / weapon-year", "USD per prevented usable "
            "diversion (7 d)"]
    rows = []
    for p in pairs:
        pct = [tuple(100 * x for x in p["prevented_" + k]) for k in ("3600s", "86400s",
                                                                     "604800s")]
        c = p["cost_per_prevented"]
        rows.append([p["policy"], p["profile"], str(p["n_pairs"]),
                     *(_ci(v, 0) for v in pct), f"{p['extra_cost_per_weapon_year']:.2f}",
                     f"{_money(c[0])} [{_money(c[1])}, {_money(c[2])}]"])
    base = "no lock" if baseline == "none" else baseline
    note = (f"Paired by weapon and run against {base} (common random numbers); "
            f"prevented = usable under {base} minus usable under the policy, in "
            "percentage points, Newcombe interval; cost columns are extra over it.")
    return f"Paired against {base}", note, head, rows


def causes_section(rows_in: list[dict[str, Any]], group: tuple[str, ...] = ("policy",
                                                                            "profile")
                   ) -> Section:
    """Denials per 1,000 tries by cause, pooled over runs."""
    acc: dict[tuple[Any, ...], dict[str, int]] = {}
    for r in rows_in:
        g = acc.setdefault(tuple(r[k] for k in group), {"tries": 0})
        g["tries"] += int(r["tries"])
        for c in CAUSES:
            g[c] = g.get(c, 0) + int(r.get("deny_" + c, 0))
    used = [c for c in CAUSES if any(g.get(c) for g in acc.values())]
    head = [*group, "n tries", *used]
    rows = [[*map(str, key), str(g["tries"]),
             *(f"{1000 * g[c] / g['tries']:.1f}" if g["tries"] else "n/a" for c in used)]
            for key, g in acc.items()]
    note = ("Why each false denial happened, as the core's audit records of the try "
            "state it (simulator/causes.py); per 1,000 tries, pooled over runs.")
    return "False denials by cause", note, head, rows


def cost_section(summary: list[dict[str, Any]]) -> Section:
    head = ["policy", "profile", "runs", *COMPONENTS, "total USD / weapon-year"]
    rows = [[r["policy"], r["profile"], str(r["runs"]),
             *(f"{r['cost_' + k][0]:.2f}" for k in COMPONENTS),
             _ci(r["cost_per_weapon_year"], 2)] for r in summary if "cost_capex" in r]
    note = ("simulator/costs.py; parts and labour from simulator/data/costs.toml "
            "(most prices assumed); battery from the simulated draw, permits as issued.")
    return "Cost per weapon-year", note, head, rows


TIER_OFFSETS = (("1 h", "usable_3600s"), ("1 d", "usable_86400s"), ("7 d", "usable_604800s"),
                ("30 d", "usable_2592000s"))


def tier_section(diversions: list[dict[str, Any]]) -> Section:
    """Usable after 1 h / 1 d / 7 d / 30 d by attacker tier, pooled over runs (Wilson)."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for d in diversions:
        groups.setdefault((d["policy"], d["profile"], d.get("tier", "T0")), []).append(d)
    head = ["policy", "profile", "tier", "n", *(f"usable {o} %" for o, _c in TIER_OFFSETS)]
    rows = []
    for (pol, prof, tier), ds in sorted(groups.items()):
        cells = []
        for _o, col in TIER_OFFSETS:
            x = sum(int(d[col]) for d in ds)
            lo, hi = wilson(x, len(ds))
            cells.append(f"{100 * x / len(ds):.0f} [{100 * lo:.0f}, {100 * hi:.0f}]")
        rows.append([pol, prof, tier, str(len(ds)), *cells])
    note = ("Attacker tiers of docs/THREATS.md (T0 no tools, T1 laptop and cable, T2 SDR "
            "and relays, T3 fault-injection lab, T4 workshop; simulator/platform.py). A "
            "weapon counts as usable when the core opened it or the platform did not hold "
            "(reflash, lab, removal). Wilson 95 % intervals, n diversions.")
    return "Usable diversions by attacker tier", note, head, rows


def to_markdown(sec: Section) -> str:
    title, note, head, rows = sec
    lines = ["", f"## {title}", "", note, "", "| " + " | ".join(head) + " |",
             "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def to_html(sec: Section) -> str:
    e = html.escape
    title, note, head, rows = sec
    return (f"<h2>{e(title)}</h2><p>{e(note)}</p><table><tr>"
            + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr>"
            + "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in rows)
            + "</table>")
