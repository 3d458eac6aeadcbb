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


def paired_ratio_diff(pairs: list[tuple[float, float, float, float]]
                      ) -> tuple[float, float, float]:
    """Difference r1 - r2 of two pooled ratios measured on the same clusters, with a
    95 % MOVER interval (Zou & Donner 2008): each ratio's cluster-adjusted Wilson limits,
    combined with the correlation of the two estimates over the paired clusters
    (linearised ratio estimator). pairs: (x1, n1, x2, n2) per cluster (weapon and run)."""
    ss1, ss2 = [0.0] * SS_LEN, [0.0] * SS_LEN
    for x1, n1, x2, n2 in pairs:
        add_cluster(ss1, x1, n1)
        add_cluster(ss2, x2, n2)
    if ss1[1] <= 0 or ss2[1] <= 0:
        return math.nan, math.nan, math.nan
    p1, l1, u1, _n1, _d1 = clustered(ss1)
    p2, l2, u2, _n2, _d2 = clustered(ss2)
    rho = _correlation(pairs, p1, ss1[1], p2, ss2[1])
    diff = p1 - p2
    dl = math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * rho * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    du = math.sqrt(max(0.0, (u1 - p1) ** 2 - 2 * rho * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2))
    return diff, max(-1.0, diff - dl), min(1.0, diff + du)


def _correlation(pairs: list[tuple[float, float, float, float]], p1: float, n1: float,
                 p2: float, n2: float) -> float:
    """Correlation of two pooled ratios over paired clusters (0 if either is constant)."""
    s11 = s22 = s12 = 0.0
    for x1, c1, x2, c2 in pairs:
        a, b = (x1 - p1 * c1) / n1, (x2 - p2 * c2) / n2
        s11 += a * a
        s22 += b * b
        s12 += a * b
    return s12 / math.sqrt(s11 * s22) if s11 > 0 and s22 > 0 else 0.0


def mover_ratio(t1: tuple[float, float, float], t2: tuple[float, float, float]
                ) -> tuple[float, float, float]:
    """Ratio t1 / t2 of two independent estimates (value, low, high) with the MOVER-R
    interval (Donner & Zou 2012): exact for either side known (low = high); unbounded
    (inf) above when t2's interval reaches 0; where the closed form does not apply (t2's
    interval wider than its value), the lower limit is low1 / high2. A side without an
    interval (NaN limits) counts as known."""
    e1, l1, u1 = (t1[0], t1[0], t1[0]) if math.isnan(t1[1]) else t1
    e2, l2, u2 = (t2[0], t2[0], t2[0]) if math.isnan(t2[1]) else t2
    if e2 <= 0 or u2 <= 0:
        return math.inf, math.nan, math.inf
    est = e1 / e2
    prod = e1 * e2
    disc = prod * prod - l1 * u2 * (2 * e1 - l1) * (2 * e2 - u2)
    den = u2 * (2 * e2 - u2)
    lo = (prod - math.sqrt(disc)) / den if disc >= 0 and den > 0 else l1 / u2  # the box
    if l2 <= 0:
        return est, lo, math.inf
    disc = prod * prod - u1 * l2 * (2 * e1 - u1) * (2 * e2 - l2)
    den = l2 * (2 * e2 - l2)
    hi = (prod + math.sqrt(disc)) / den if disc >= 0 and den > 0 else math.inf
    return est, lo, hi
