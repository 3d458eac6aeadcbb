"""Latency samples of one test (unlock and relock timings)."""

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
