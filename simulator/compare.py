"""Paired comparisons against a baseline policy (default ``none``), and the summary
sentences a report leads with.

Every weapon's world (shifts, diversion, the new holder's means) comes from its own
random stream, the same under every policy (common random numbers), so a diverted
weapon under policy A and under the baseline is a pair: the difference in "usable
after 7 d" is a paired difference (Newcombe's interval, simulator/stats.py) over n
pairs. Cost per prevented usable diversion = extra cost per weapon-year / (field
diversion rate x prevented share); its interval comes from the prevented share's.
"""

from __future__ import annotations

import math
from typing import Any

from simulator.costs import per_prevented
from simulator.stats import newcombe_paired

CHECK = ("usable_3600s", "usable_86400s", "usable_604800s")


def _pairs(diversions: list[dict[str, Any]], key: tuple[str, str], base: tuple[str, str],
           col: str) -> tuple[int, int, int, int]:
    """(a, b, c, d) of the paired 2x2 table: baseline usable x policy usable."""
    mine = {(d["run"], d["weapon"]): d[col] for d in diversions
            if (d["policy"], d["profile"]) == key}
    theirs = {(d["run"], d["weapon"]): d[col] for d in diversions
              if (d["policy"], d["profile"]) == base}
    a = b = c = d = 0
    for k, v in theirs.items():
        if k not in mine:
            continue
        u_base, u_pol = bool(v), bool(mine[k])
        if u_base and u_pol:
            a += 1
        elif u_base:
            b += 1
        elif u_pol:
            c += 1
        else:
            d += 1
    return a, b, c, d


def paired(summary: list[dict[str, Any]], diversions: list[dict[str, Any]],
           real_rate: float, baseline: str = "none") -> list[dict[str, Any]]:
    """Per policy x profile: prevented share of usable diversions (at 1 h, 1 d, 7 d) vs
    the baseline, extra cost per weapon-year, cost per prevented usable diversion."""
    rows = {(r["policy"], r["profile"]): r for r in summary}
    out = []
    for key, row in rows.items():
        # the baseline under the same fail profile (no lock has none)
        base = (baseline, key[1]) if (baseline, key[1]) in rows else (baseline, "-")
        if key[0] == baseline or base not in rows:
            continue
        res: dict[str, Any] = {"policy": key[0], "profile": key[1], "baseline": baseline}
        for col in CHECK:
            a, b, c, d = _pairs(diversions, key, base, col)
            res["prevented_" + col[7:]] = newcombe_paired(a, b, c, d)  # base - policy
            res["n_pairs"] = a + b + c + d
        extra = row["cost_per_weapon_year"][0] - rows[base]["cost_per_weapon_year"][0]
        res["extra_cost_per_weapon_year"] = extra
        p, lo, hi = res["prevented_604800s"]
        res["cost_per_prevented"] = (per_prevented(extra, p, real_rate),
                                     per_prevented(extra, hi, real_rate),
                                     per_prevented(extra, lo, real_rate))
        out.append(res)
    return out


def _pct(v: tuple[float, float, float]) -> str:
    return f"{v[0]:.0f} % [{v[1]:.0f}, {v[2]:.0f}]"


def _money(x: float) -> str:
    return "unbounded" if math.isinf(x) or math.isnan(x) else f"${x:,.0f}"


def sentences(summary: list[dict[str, Any]], pairs: list[dict[str, Any]]) -> list[str]:
    """A few sentences computed from the numbers: per fail profile, the policy with the
    fewest usable diversions after 7 days, what it costs and what it denies."""
    base = next((r for r in summary if r["policy"] == "none"), None)
    out = []
    for prof in ("fail-secure", "fail-enabled"):
        cand = [r for r in summary if r["profile"] == prof]
        if not cand:
            continue
        best = min(cand, key=lambda r: (_nan_hi(r["usable_7d"][0]),
                                        r["cost_per_weapon_year"][0]))
        u = best["usable_7d"]
        fd = best["false_denials_per_1000"]
        start = (f"from {base['usable_7d'][0]:.0f} % (no lock) " if base else "")
        text = (f"Under {prof}, {best['policy']} cuts usable diversions after 7 days "
                f"{start}to {_pct(u)} (n = {best['n']['diversions']} diversions) at "
                f"{_money(best['cost_per_weapon_year'][0])} per weapon-year; false denials "
                f"{fd[0]:.1f} [{fd[1]:.1f}, {fd[2]:.1f}] per 1,000 tries "
                f"(n = {best['n']['tries']}), availability {best['availability'][0]:.1f} %.")
        pr = next((p for p in pairs if (p["policy"], p["profile"]) == (best["policy"], prof)),
                  None)
        if pr is not None:
            c = pr["cost_per_prevented"]
            text += (f" Cost per prevented usable diversion (field rate, paired vs none, "
                     f"n = {pr['n_pairs']}): {_money(c[0])} [{_money(c[1])}, "
                     f"{_money(c[2])}].")
        out.append(text)
    return out


def _nan_hi(x: float) -> float:
    return math.inf if math.isnan(x) else x
