"""Counters kept while simulating, run-level metrics, and 95 % confidence intervals.

Definitions (per run; the report gives the mean over runs and a t-based 95 % CI):

* ``usable_1h/1d/7d/30d``: share of diverted weapons the unauthorised holder could open
  (through the core, or past it where the platform did not hold: simulator/platform.py)
  at 1 h, 1 day, 7 days, 30 days after the diversion (probe at exactly that offset).
* ``lockout_h``: time from diversion to lockout: offset of the first failed probe after
  the last successful one (0 if never opened); restricted mean, censored at 7 days
  (168 h = still usable at 7 days).
* ``false_denials_per_1000``: tries by the rostered holder, on duty, that did not open
  the lock (read failure, reject, lockout, fail-secure hold...) per 1,000 tries.
* ``failed_uses_per_1000``: uses abandoned after all tries failed, per 1,000 uses.
* ``interrupted_per_1000``: uses where the lock closed while held (zone, fix, expiry).
* ``latency_p50_s/p99_s``: from the first tap/touch to the open lock, over successful
  uses, including sensor time (R503 capture + extraction + match, RFID exchanges),
  retries and the core's answer delay.
* ``battery_swaps_per_weapon_month``: pack swaps at the armoury per 30 weapon-days.
* ``audit_visible``: share of diversions whose device log reveals them (adversaries.visible).
* ``availability``: share of uses (contact events) in which the lock opened for its
  authorised user within ``duty.in_time_s`` of the first try.
* ``jam_alarms_per_weapon_month``: times the core classified the receiver's
  observations as jamming (audit ``gnss jammed``) per 30 weapon-days.
* ``cost_per_weapon_year``: simulator/costs.py (parts, labour, the simulated battery
  draw and permits issued), USD.
* denials by cause (``deny_<cause>``, simulator/causes.py): why each false denial
  happened, as the core's audit records of that try state it.

Shares and rates (usable_*, false denials, failed / interrupted uses, availability)
are pooled over all weapons and runs with a cluster-adjusted Wilson interval
(simulator/stats.py); the others are means over runs with a Student t interval.
"""

from __future__ import annotations

import math
from typing import Any

from simulator.causes import CAUSES
from simulator.stats import SS_LEN, add_cluster, mean_ci

__all__ = ["mean_ci", "Tally", "run_metrics", "quantile", "lockout_seconds"]

METRICS = (
    ("usable_1h", "usable after 1 h", "%"),
    ("usable_1d", "usable after 1 d", "%"),
    ("usable_7d", "usable after 7 d", "%"),
    ("usable_30d", "usable after 30 d", "%"),
    ("lockout_h", "diversion to lockout (h, mean, cap 168)", "h"),
    ("false_denials_per_1000", "false denials / 1000 tries", ""),
    ("failed_uses_per_1000", "failed uses / 1000", ""),
    ("interrupted_per_1000", "interrupted uses / 1000", ""),
    ("latency_p50_s", "unlock latency p50 (s)", "s"),
    ("latency_p99_s", "unlock latency p99 (s)", "s"),
    ("battery_swaps_per_weapon_month", "battery swaps / weapon-month", ""),
    ("audit_visible", "diversions visible in audit", "%"),
    ("availability", "mission availability", "%"),
    ("cost_per_weapon_year", "cost per weapon-year (USD)", "USD"),
    ("jam_alarms_per_weapon_month", "GNSS jamming alarms / weapon-month", ""),
)
METRIC_KEYS = tuple(m[0] for m in METRICS)
PERCENT = frozenset(m[0] for m in METRICS if m[2] == "%")
COUNTERS = ("tries", "denials", "uses", "uses_failed", "interrupted", "unavailable", "swaps",
            "weapon_s", "events", "sim_events", "audit_records", "diversions", "permits",
            "battery_uah", "gnss_jammed", "gnss_lost") + tuple("deny_" + c for c in CAUSES)
# pooled shares: metric -> (numerator counter, denominator counter, scale); per weapon
RATIOS = {
    "false_denials_per_1000": ("denials", "tries", 1000.0),
    "failed_uses_per_1000": ("uses_failed", "uses", 1000.0),
    "interrupted_per_1000": ("interrupted", "uses", 1000.0),
    "availability": ("unavailable", "uses", 100.0),  # reported as 100 - share
}
SHARES = {"usable_1h": 3600, "usable_1d": 86400, "usable_7d": 604800, "usable_30d": 2592000}

class Tally:
    """Counters of one shard (or a merge of shards) of one run."""

    def __init__(self) -> None:
        self.c: dict[str, int] = dict.fromkeys(COUNTERS, 0)
        self.latency_ms: dict[int, int] = {}
        self.divs: list[dict[str, Any]] = []
        self.ss: dict[str, list[float]] = {k: [0.0] * SS_LEN for k in (*RATIOS, *SHARES)}

    def add_weapon(self, counts: dict[str, int]) -> None:
        """Add one weapon's counters, and its totals as a cluster of every ratio."""
        c = self.c
        for k, v in counts.items():
            c[k] += v
        for name, (num, den, _scale) in RATIOS.items():
            add_cluster(self.ss[name], counts[num], counts[den])

    def add_diversion(self, usable: dict[str, bool]) -> None:
        for name, off in SHARES.items():
            add_cluster(self.ss[name], 1.0 if usable.get(str(off)) else 0.0, 1.0)

    def add_latency(self, seconds: float) -> None:
        ms = int(round(seconds * 1000))
        self.latency_ms[ms] = self.latency_ms.get(ms, 0) + 1

    def merge(self, other: Tally) -> None:
        for k, v in other.c.items():
            self.c[k] = self.c.get(k, 0) + v
        for k, v in other.latency_ms.items():
            self.latency_ms[k] = self.latency_ms.get(k, 0) + v
        self.divs.extend(other.divs)
        for k, v in other.ss.items():
            mine = self.ss[k]
            for i in range(SS_LEN):
                mine[i] += v[i]

    def to_dict(self) -> dict[str, Any]:
        return {"c": self.c, "latency_ms": self.latency_ms, "divs": self.divs, "ss": self.ss}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Tally:
        t = cls()
        t.c = dict(d["c"])
        t.latency_ms = {int(k): v for k, v in d["latency_ms"].items()}
        t.divs = list(d["divs"])
        t.ss = {k: list(v) for k, v in d["ss"].items()}
        return t


def quantile(hist: dict[int, int], q: float) -> float:
    """q-quantile (nearest rank) of a histogram of integer milliseconds, in seconds."""
    total = sum(hist.values())
    if total == 0:
        return math.nan
    rank = max(1, math.ceil(q * total))
    seen = 0
    for ms in sorted(hist):
        seen += hist[ms]
        if seen >= rank:
            return ms / 1000
    return max(hist) / 1000


def _ratio(num: float, den: float, scale: float = 1.0) -> float:
    return scale * num / den if den else math.nan


def run_metrics(t: Tally) -> dict[str, float]:
    """Metric values of one run from its merged tally."""
    c = t.c
    divs = t.divs
    m: dict[str, float] = {}
    for name, off in SHARES.items():
        m[name] = _ratio(sum(1 for d in divs if d["usable"].get(str(off))), len(divs), 100)
    m["lockout_h"] = _ratio(sum(min(d["lockout_s"], 604800) for d in divs), len(divs)) / 3600
    m["false_denials_per_1000"] = _ratio(c["denials"], c["tries"], 1000)
    m["failed_uses_per_1000"] = _ratio(c["uses_failed"], c["uses"], 1000)
    m["interrupted_per_1000"] = _ratio(c["interrupted"], c["uses"], 1000)
    m["latency_p50_s"] = quantile(t.latency_ms, 0.5)
    m["latency_p99_s"] = quantile(t.latency_ms, 0.99)
    m["battery_swaps_per_weapon_month"] = _ratio(c["swaps"], c["weapon_s"], 30 * 86400)
    m["audit_visible"] = _ratio(sum(1 for d in divs if d["visible"]), len(divs), 100)
    m["availability"] = 100.0 - _ratio(c["unavailable"], c["uses"], 100)
    m["jam_alarms_per_weapon_month"] = _ratio(c["gnss_jammed"], c["weapon_s"], 30 * 86400)
    return m


def lockout_seconds(usable: dict[str, bool], probes: tuple[int, ...]) -> float:
    """Offset of the first failed probe after the last usable one; censored = 7 d."""
    last_ok = None
    for off in probes:
        if usable.get(str(off)):
            last_ok = off
    if last_ok is None:
        return 0.0
    later = [off for off in probes if off > last_ok]
    return float(later[0]) if later else float(probes[-1])
