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
            "prevented 7 d (pp)", "n weapon-runs", "extra false denials / 1000 tries",
            "extra USD / weapon-year", "USD per prevented usable diversion (7 d)"]
    rows = []
    for p in pairs:
        pct = [tuple(100 * x for x in p["prevented_" + k]) for k in ("3600s", "86400s",
                                                                     "604800s")]
        c = p["cost_per_prevented"]
        fd = p.get("extra_false_denials_per_1000", (math.nan,) * 3)
        rows.append([p["policy"], p["profile"], str(p["n_pairs"]),
                     *(_ci(v, 0) for v in pct), str(p.get("n_weapon_runs", "n/a")),
                     _ci(fd, 1), _ci(p["extra_cost_per_weapon_year"], 2),
                     f"{_money(c[0])} [{_money(c[1])}, {_money(c[2])}]"])
    base = "no lock" if baseline == "none" else baseline
    note = (f"Paired by weapon and run against {base} (common random numbers). Prevented "
            f"= usable under {base} minus usable under the policy, in percentage points, "
            "Newcombe interval over n pairs (diversions). Extra false denials = the "
            f"policy's pooled rate minus {base}'s on the same weapon-runs, MOVER interval "
            "with cluster-adjusted Wilson limits. Extra cost: paired by run, Student t. Cost "
            "per prevented usable diversion: the ratio of the two (field diversion rate), "
            "MOVER-R interval carrying both the cost's and the share's variation; negative: "
            f"the policy costs less than {base} and prevents more.")
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
    by_col = [tier_usable(diversions, col) for _o, col in TIER_OFFSETS]
    head = ["policy", "profile", "tier", "n", *(f"usable {o} %" for o, _c in TIER_OFFSETS)]
    rows = []
    for key in sorted(by_col[0]):
        cells = [f"{v[0]:.0f} [{v[1]:.0f}, {v[2]:.0f}]" for v, _n in (u[key] for u in by_col)]
        rows.append([*key, str(by_col[0][key][1]), *cells])
    note = ("Attacker tiers of docs/THREATS.md (T0 no tools, T1 laptop and cable, T2 SDR "
            "and relays, T3 fault-injection lab, T4 workshop; simulator/platform.py). A "
            "weapon counts as usable when the core opened it or the platform did not hold "
            "(reflash, lab, removal). Wilson 95 % intervals, n diversions.")
    return "Usable diversions by attacker tier", note, head, rows


def _cell(v: tuple[float, float, float], n: int | str, nd: int = 1) -> str:
    """'est [lo, hi] (n)': the compact form of the headline table."""
    if math.isnan(v[0]):
        return "-"
    if math.isnan(v[1]):
        return f"{v[0]:.{nd}f} ({n})"
    return f"{v[0]:.{nd}f} [{v[1]:.{nd}f}, {v[2]:.{nd}f}] ({n})"


def _money_cell(v: tuple[float, float, float], n: int) -> str:
    if math.isnan(v[0]):
        return "-"
    return f"{_money(v[0])} [{_money(v[1])}, {_money(v[2])}] ({n})"


def tier_usable(diversions: list[dict[str, Any]], col: str = "usable_604800s"
                ) -> dict[tuple[str, str, str], tuple[tuple[float, float, float], int]]:
    """(policy, profile, tier) -> (usable % with its Wilson interval, n diversions)."""
    groups: dict[tuple[str, str, str], list[int]] = {}
    for d in diversions:
        key = (d["policy"], d["profile"], d.get("tier", "T0"))
        groups.setdefault(key, []).append(int(d[col]))
    out = {}
    for key, xs in groups.items():
        lo, hi = wilson(sum(xs), len(xs))
        out[key] = ((100 * sum(xs) / len(xs), 100 * lo, 100 * hi), len(xs))
    return out


def headline(summary: list[dict[str, Any]], pairs: list[dict[str, Any]],
             diversions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The headline figures per (policy, profile), each (estimate, low, high) with its n:
    usable after 7 d overall and by attacker tier, false denials per 1,000 tries,
    mission availability, cost per weapon-year, cost per prevented usable diversion
    (paired against no lock). Long form: one dict per figure."""
    tiers = tier_usable(diversions)
    pair = {(p["policy"], p["profile"]): p for p in pairs}
    nan3 = (math.nan,) * 3
    out: list[dict[str, Any]] = []
    for r in summary:
        key = (r["policy"], r["profile"])
        p = pair.get(key)
        items = [("usable_7d", "all", r["usable_7d"], r["n"]["diversions"], "diversions")]
        items += [("usable_7d", tier, *tiers[(*key, tier)], "diversions")
                  for tier in sorted({t for (a, b, t) in tiers if (a, b) == key})]
        items += [("false_denials_per_1000", "", r["false_denials_per_1000"],
                   r["n"]["tries"], "tries"),
                  ("availability", "", r["availability"], r["n"]["uses"], "uses"),
                  ("cost_per_weapon_year", "", r["cost_per_weapon_year"], r["runs"], "runs"),
                  ("cost_per_prevented_7d", "", tuple(p["cost_per_prevented"]) if p else nan3,
                   int(p["n_pairs"]) if p else 0, "pairs")]
        out += [{"policy": key[0], "profile": key[1], "metric": m, "tier": tier,
                 "mean": v[0], "ci95_low": v[1], "ci95_high": v[2], "n": n, "n_of": n_of}
                for m, tier, v, n, n_of in items]
    return out


def _fig(fs: dict[tuple[str, str], dict[str, Any]], metric: str, tier: str = "",
         nd: int = 1) -> str:
    """One headline figure as a cell ('-' when absent)."""
    f = fs.get((metric, tier))
    if f is None:
        return "-"
    v = (f["mean"], f["ci95_low"], f["ci95_high"])
    if metric == "cost_per_prevented_7d":
        return _money_cell(v, f["n"])
    return _cell(v, f["n"], nd)


def headline_section(figures: list[dict[str, Any]]) -> Section:
    """The headline figures as one compact table (a column per attacker tier present)."""
    tiers = sorted({f["tier"] for f in figures if f["metric"] == "usable_7d"} - {"all"})
    by: dict[tuple[str, str], dict[tuple[str, str], dict[str, Any]]] = {}
    for f in figures:
        by.setdefault((f["policy"], f["profile"]), {})[(f["metric"], f["tier"])] = f
    head = ["policy", "profile", "U7 all %", *(f"U7 {t} %" for t in tiers), "FD/1000",
            "avail %", "USD/w-yr", "USD/prev"]
    rows = []
    for (pol, prof), fs in by.items():
        rows.append([pol, prof, _fig(fs, "usable_7d", "all", 0),
                     *(_fig(fs, "usable_7d", t, 0) for t in tiers),
                     _fig(fs, "false_denials_per_1000"), _fig(fs, "availability"),
                     _fig(fs, "cost_per_weapon_year", nd=2),
                     _fig(fs, "cost_per_prevented_7d")])
    note = ("Each cell: estimate [95 % interval] (n). U7: share of diverted weapons usable "
            "7 days after the diversion, all tiers and by attacker tier (T0 no tools, T1 "
            "laptop and cable, T2 SDR and relays, T3 fault-injection lab, T4 workshop; n "
            "diversions; cluster-adjusted Wilson for all, Wilson by tier). FD/1000: false "
            "denials per 1,000 tries of the rostered holder (n tries). avail: mission "
            "availability, share of uses opened in time (n uses). USD/w-yr: cost per "
            "weapon-year (Student t over runs, n runs). USD/prev: USD per prevented usable "
            "diversion after 7 days, paired against no lock at the field diversion rate "
            "(MOVER-R, n pairs).")
    return "Headline figures", note, head, rows


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
