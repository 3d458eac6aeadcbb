"""Intervals that hold for proportions: Wilson with a cluster design effect, Newcombe's
paired difference, and a run-level t interval for means.

Ratio metrics (false denials per try, failed uses per use...) are pooled over every
weapon of every run. Tries of one weapon are not independent (the same holder, hands,
place), so each weapon-run is a cluster: the variance of the pooled ratio comes from the
cluster totals (ratio estimator, linearised), the design effect is that variance over
the binomial one, and the Wilson interval uses n / deff. Diversions (one per weapon at
most) are clusters of one: deff is then 1.
"""

from __future__ import annotations

import math

Z95 = 1.959964
# cluster sufficient statistics: [sum x, sum n, sum x^2, sum n^2, sum x*n, clusters]
SS_LEN = 6

# two-sided 95 % Student t quantiles, df = 1..30; 1.96 beyond
_T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
        2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
        2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def wilson(x: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion x/n (n may be an effective, non-integer n)."""
    if n <= 0:
        return math.nan, math.nan
    p = min(1.0, max(0.0, x / n))
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, min(p, mid - half)), min(1.0, max(p, mid + half))


def add_cluster(ss: list[float], x: float, n: float) -> None:
    """Add one cluster's totals (x successes of n trials) to sufficient statistics."""
    if n <= 0:
        return
    ss[0] += x
    ss[1] += n
    ss[2] += x * x
    ss[3] += n * n
    ss[4] += x * n
    ss[5] += 1


def design_effect(ss: list[float]) -> float:
    """Variance of the pooled ratio over the binomial variance (>= 1)."""
    sx, sn, sxx, snn, sxn, m = ss
    if m < 2 or sn <= 0:
        return 1.0
    p = sx / sn
    binom = p * (1 - p) / sn
    if binom <= 0:
        return 1.0
    resid = sxx - 2 * p * sxn + p * p * snn  # sum of (x_i - p n_i)^2
    var = m / (m - 1) * resid / (sn * sn)
    return max(1.0, var / binom)


def clustered(ss: list[float]) -> tuple[float, float, float, int, float]:
    """(p, low, high, n, deff): pooled proportion with a cluster-adjusted Wilson interval."""
    sx, sn = ss[0], ss[1]
    if sn <= 0:
        return math.nan, math.nan, math.nan, 0, math.nan
    deff = design_effect(ss)
    lo, hi = wilson(sx / sn * (sn / deff), sn / deff)
    return sx / sn, lo, hi, int(sn), deff


def newcombe_paired(a: int, b: int, c: int, d: int) -> tuple[float, float, float]:
    """Difference p1 - p2 of paired proportions with Newcombe's (1998, method 10) interval.

    a: both 1, b: first 1 only, c: second 1 only, d: both 0.
    """
    n = a + b + c + d
    if n == 0:
        return math.nan, math.nan, math.nan
    p1, p2 = (a + b) / n, (a + c) / n
    l1, u1 = wilson(a + b, n)
    l2, u2 = wilson(a + c, n)
    den = (a + b) * (c + d) * (a + c) * (b + d)
    phi = (a * d - b * c) / math.sqrt(den) if den else 0.0
    dl = math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    du = math.sqrt(max(0.0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2))
    diff = p1 - p2
    return diff, max(-1.0, diff - dl), min(1.0, diff + du)


def mean_ci(values: list[float]) -> tuple[float, float, float]:
    """(mean, low, high) with a Student t 95 % interval; NaNs ignored."""
    xs = [v for v in values if not math.isnan(v)]
    n = len(xs)
    if n == 0:
        return math.nan, math.nan, math.nan
    mean = sum(xs) / n
    if n == 1:
        return mean, math.nan, math.nan
    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
    t = _T95[n - 2] if n - 1 <= len(_T95) else 1.96
    half = t * sd / math.sqrt(n)
    return mean, mean - half, mean + half
