"""The limits every HIL measurement is held to (the OpenHTF idea: a measurement is
declared with its unit and limits, and passes or fails on its own), in one table with the
requirement each one checks: the lock's five rules (shared/ARCHITECTURE.md), the NIJ 2016
baseline (NCJ 250377) items 4.18.x, and the attack list (shared/REFERENCES.md).

Measurements come from the rig's samples (hardware/hil/measure.py): per operation, the
host round trip (ms) and the decision latency the board reports (us, shown in ms here),
and the delay of each credential's answer. The answer deadline (the core's `answer_ms`,
250 ms) is a deliberate equal-time delay: it is reported on its own, not as slowness.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any

from firmware.core.config import DEFAULTS

ANSWER_MS = DEFAULTS["answer_ms"]


@dataclass(frozen=True)
class Limit:
    """One declared measurement: `ops` (glob over sample ops) and `field` select the
    samples; every sample must lie in [low, high] (`unit`); `stat` "all" checks each
    sample, "median_gap" the gap between the medians of two op groups."""

    id: str
    what: str
    ops: str
    field: str
    unit: str
    high: float | None
    requirement: str
    low: float | None = None
    stat: str = "all"
    versus: str = ""            # second op glob for median_gap


LIMITS: tuple[Limit, ...] = (
    Limit("relock_grip_device", "relock after grip release, device side", "relock:grip",
          "device_ms", "ms", 50, "rule: relock on grip release; NIJ 4.18.1 (fires only in "
          "the control of the authorised holder)"),
    Limit("relock_tamper_device", "relock on tamper (enclosure, magnet, actuator forced)",
          "relock:tamper*", "device_ms", "ms", 50, "rule 5 (tamper latch); attack: magnets "
          "moving the actuator"),
    Limit("relock_other_device", "relock on timeout, zone exit, expiry, recall, lost trust",
          "relock:*", "device_ms", "ms", 50, "rules 1, 2, 4, 5 (relock on every lost "
          "condition)"),
    Limit("unlock_decision_device", "unlock decision, device side (event in -> actuator)",
          "unlock", "device_ms", "ms", 5, "rules 1-5 decided at once; NIJ 4.18.6 (adds no "
          "time to grasp, draw and fire)"),
    Limit("unlock_host", "unlock, host round trip (includes the answer deadline)", "unlock",
          "rtt_ms", "ms", ANSWER_MS + 150, "NIJ 4.18.6; the deadline is reported apart",
          low=ANSWER_MS),
    Limit("answer_deadline", "answer delay after a credential, host side", "answer:*",
          "rtt_ms", "ms", ANSWER_MS + 100, "rule 5 (responses take equal time)",
          low=ANSWER_MS),
    Limit("answer_equal_time", "accept vs refuse answer delay, gap of the medians (the "
          "answer that opens the lock is timed as answer:unlock)",
          "answer:accept", "rtt_ms", "ms", 5, "rule 5 (no timing oracle); attack: "
          "fingerprint moulds tried until one passes", stat="median_gap",
          versus="answer:refuse"),
)


def _values(samples: list[dict[str, Any]], ops: str, field: str) -> list[float]:
    out = []
    for s in samples:
        if not fnmatch.fnmatchcase(s["op"], ops):
            continue
        if field == "device_ms":
            v = s.get("device_us")
            v = None if v is None else v / 1000
        else:
            v = s.get(field)
        if v is not None:
            out.append(float(v))
    return out


def _median(xs: list[float]) -> float:
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def _claimed(limit: Limit, op: str) -> bool:
    """A sample op is checked by the most specific limit of its field only."""
    return fnmatch.fnmatchcase(op, limit.ops)


def evaluate(samples: list[dict[str, Any]],
             limits: tuple[Limit, ...] = LIMITS) -> list[dict[str, Any]]:
    """One row per limit: n, the value judged (worst sample or median gap), pass/fail,
    or "no data" when the run measured nothing for it."""
    rows = []
    for lim in limits:
        pool = [s for s in samples if _owner(s["op"], lim.field, limits) is lim]
        if lim.stat == "median_gap":
            a = _values(samples, lim.ops, lim.field)
            b = _values(samples, lim.versus, lim.field)
            n = min(len(a), len(b))
            value = abs(_median(a) - _median(b)) if n else None
        else:
            vals = _values(pool, lim.ops, lim.field)
            n = len(vals)
            value = _worst(vals, lim) if vals else None
        rows.append({"id": lim.id, "what": lim.what, "unit": lim.unit, "low": lim.low,
                     "high": lim.high, "n": n, "value": None if value is None
                     else round(value, 3), "result": _judge(value, lim),
                     "requirement": lim.requirement})
    return rows


def _owner(op: str, field: str, limits: tuple[Limit, ...]) -> Limit | None:
    """The first limit (table order: specific before general) that claims `op`."""
    for lim in limits:
        if lim.stat == "all" and lim.field == field and _claimed(lim, op):
            return lim
    return None


def _worst(vals: list[float], lim: Limit) -> float:
    """The sample furthest beyond (or nearest to) the limits."""
    def beyond(v: float) -> float:
        return max(v - lim.high if lim.high is not None else float("-inf"),
                   lim.low - v if lim.low is not None else float("-inf"))

    return max(vals, key=beyond)


def _judge(value: float | None, lim: Limit) -> str:
    if value is None:
        return "no data"
    if lim.high is not None and value > lim.high:
        return "fail"
    if lim.low is not None and value < lim.low:
        return "fail"
    return "pass"


def summary(rows: list[dict[str, Any]]) -> dict[str, int]:
    """Counts of pass / fail / no data."""
    out: dict[str, int] = {}
    for r in rows:
        out[r["result"]] = out.get(r["result"], 0) + 1
    return out
