"""Latency samples of one test: unlock and relock timings, and answer delays."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Sample:
    """One unlock or relock: host round trip (None for timer-driven ones) and device latency."""

    op: str
    rtt_ms: float | None
    device_us: int | None

    def as_dict(self) -> dict[str, Any]:
        return {"op": self.op, "rtt_ms": self.rtt_ms, "device_us": self.device_us}


@dataclass
class Recorder:
    """Latency samples of one test."""

    samples: list[Sample] = field(default_factory=list)

    def add(self, op: str, rtt_ms: float | None, device_us: int | None) -> None:
        self.samples.append(Sample(op, rtt_ms, device_us))


CREDENTIALS = ("rfid", "finger", "rfid_fail", "finger_fail")
SURE_MS = 5.0   # an answer whose arrival is known to within this is timed


def answer_delays(sent: list[tuple[str, float]], log: list[dict[str, Any]]
                  ) -> list[tuple[str, float]]:
    """(ok, ms) for each answer event: the board answers every credential once, in order,
    so the n-th answer belongs to the n-th credential sent (a power cycle drops the ones
    still waiting). Answers read late (the test was not reading when they came, so their
    arrival is known to less than SURE_MS) are paired but not timed. Each is "accept",
    "refuse", or "unlock" for the accepted credential that opened the lock (it came with
    the actuator EVENT, carrying the unlock's work: timed apart so that it is not read as
    an accept/refuse difference)."""
    opened = [ev["_rx"] for ev in log if ev.get("kind") == "actuate"
              and ev.get("locked") is False and "_rx" in ev]
    timeline = [(t, 0, what) for what, t in sent if what in CREDENTIALS]
    timeline += [(ev["_rx"], 1, ev) for ev in log
                 if ev.get("kind") in ("answer", "_power_cycle") and "_rx" in ev]
    waiting: list[float] = []
    out = []
    for t, _order, item in sorted(timeline, key=lambda x: (x[0], x[1])):
        if isinstance(item, str):
            waiting.append(t)
        elif item["kind"] == "_power_cycle":
            waiting.clear()
        elif waiting:
            sent_at = waiting.pop(0)
            if item.get("_rx_ms", 0.0) > SURE_MS:
                continue
            kind = "refuse" if not item["ok"] else (
                "unlock" if any(abs(t - o) < 0.002 for o in opened) else "accept")
            out.append((kind, round((t - sent_at) * 1000, 3)))
    return out
