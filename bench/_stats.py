"""The percentile every bench script reports: one definition, so a p99 means the same in each."""

from __future__ import annotations

from collections.abc import Sequence


def pct(xs: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of non-empty `xs`, by nearest rank over n - 1 gaps."""
    s = sorted(xs)
    return float(s[min(len(s) - 1, round(q / 100 * (len(s) - 1)))])
