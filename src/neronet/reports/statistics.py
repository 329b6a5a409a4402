"""Rank correlations, paired differences and their uncertainty, for the survey and experiments.

Why its own module: the survey asks "does a search-time signal rank
architectures the way their final robustness does" (Kendall's tau-b and
Spearman's rho, each with a bootstrap 95 % interval, and the partial rho that holds
a third variable such as size fixed), and the method comparison
asks "is method A better than method B over paired runs" (the mean paired
difference with a bootstrap interval, the Wilcoxon signed-rank test, Holm's
correction over the comparisons, and the smallest difference those runs could have
detected). Every statistic is computed here (numpy, and scipy's distributions), so
the tests can hold it against scipy's reference implementations on fixed inputs
instead of trusting one to test itself. Bootstraps are seeded: the same data
give the same interval on any machine.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq
from scipy.stats import nct, norm, rankdata
from scipy.stats import t as student_t

DEFAULT_RESAMPLES = 2000
DEFAULT_SEED = 0
PAIR_CELLS = 4_000_000
"""Pair-matrix cells of one bootstrap chunk (a few tens of MB whatever the sample size)."""
EXACT_WILCOXON_MAX = 50
"""Up to this many non-zero differences without ties, the Wilcoxon p-value is exact."""


MIN_INTERVAL_PAIRS = 10
"""Fewer pairs than this get no correlation interval: a percentile bootstrap of a handful
of points resamples the same few ranks (four points give "[1.00, 1.00]"), an interval
that claims a certainty the data cannot give."""


@dataclass(frozen=True)
class Estimate:
    """A statistic and its bootstrap percentile interval (``level``, e.g. 0.95); the
    interval is NaN where there is none (too few pairs)."""

    value: float
    low: float
    high: float
    n: int
    level: float = 0.95

    def text(self, digits: int = 2) -> str:
        """``0.41 [0.28, 0.53]``: the value and its interval, for tables (``0.41 [no
        interval]`` without one)."""
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            return f"{self.value:.{digits}f} [no interval]"
        return f"{self.value:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


def _rows(*samples: Sequence[float]) -> tuple[np.ndarray, ...]:
    """The samples as arrays, cut to the rows where every one is finite."""
    arrays = [np.asarray(v, dtype=float) for v in samples]
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1 or arrays[0].ndim != 1:
        found = " ".join(str(a.shape) for a in arrays)
        raise ValueError(f"paired samples must be equally long 1-D lists, got {found}")
    keep = np.logical_and.reduce([np.isfinite(a) for a in arrays])
    return tuple(a[keep] for a in arrays)


def _tau_b(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Kendall's tau-b along the last axis (rows are samples): the concordance of the pair
    signs over the geometric mean of the untied pairs of each variable; nan when one of
    them is constant."""
    sx = np.sign(x[..., :, None] - x[..., None, :])
    sy = np.sign(y[..., :, None] - y[..., None, :])
    num = (sx * sy).sum(axis=(-2, -1))
    den = np.sqrt((sx * sx).sum(axis=(-2, -1)) * (sy * sy).sum(axis=(-2, -1)))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _rho(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's rho along the last axis: Pearson's r of the average ranks."""
    rx = rankdata(x, axis=-1)
    ry = rankdata(y, axis=-1)
    rx = rx - rx.mean(axis=-1, keepdims=True)
    ry = ry - ry.mean(axis=-1, keepdims=True)
    den = np.sqrt((rx * rx).sum(axis=-1) * (ry * ry).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (rx * ry).sum(axis=-1) / np.where(den > 0, den, 1.0), np.nan)


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-b of the finite pairs (scipy.stats.kendalltau's default variant)."""
    a, b = _rows(x, y)
    return float(_tau_b(a, b)) if len(a) >= 2 else math.nan


def spearman_rho(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation of the finite pairs (ties get average ranks)."""
    a, b = _rows(x, y)
    return float(_rho(a, b)) if len(a) >= 2 else math.nan


def _interval(stat: np.ndarray, value: float, n: int, level: float) -> Estimate:
    finite = stat[np.isfinite(stat)]
    if not finite.size:
        return Estimate(value, math.nan, math.nan, n, level)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return Estimate(value, float(low), float(high), n, level)


def _resamples(n: int, resamples: int, seed: int) -> np.ndarray:
    """Bootstrap indices, ``(resamples, n)``, from a seeded generator."""
    return np.random.default_rng(seed).integers(0, n, size=(resamples, n))


def _bootstrap(
    n: int, statistic: Callable[[np.ndarray], np.ndarray], resamples: int, seed: int
) -> np.ndarray:
    """``statistic(index)`` over seeded bootstrap resamples of ``n`` rows, in chunks so
    that tau's pair matrices stay a few tens of MB whatever ``n``."""
    index = _resamples(n, resamples, seed)
    chunk = max(1, PAIR_CELLS // (n * n))
    return np.concatenate([statistic(i) for i in np.split(index, range(chunk, resamples, chunk))])


def _estimate(
    n: int, statistic: Callable[[np.ndarray], np.ndarray], resamples: int, seed: int, level: float
) -> Estimate:
    """``statistic(rows)`` over all ``n`` rows, with a percentile interval over seeded
    bootstrap resamples of the rows (none below :data:`MIN_INTERVAL_PAIRS`, nothing at all
    below two rows)."""
    if n < 2:
        return Estimate(math.nan, math.nan, math.nan, n, level)
    value = float(statistic(np.arange(n)))
    if n < MIN_INTERVAL_PAIRS:
        return Estimate(value, math.nan, math.nan, n, level)
    return _interval(_bootstrap(n, statistic, resamples, seed), value, n, level)


def _correlation(
    fn: str, x: Sequence[float], y: Sequence[float], resamples: int, seed: int, level: float
) -> Estimate:
    a, b = _rows(x, y)
    stat = _tau_b if fn == "tau" else _rho
    return _estimate(len(a), lambda i: stat(a[i], b[i]), resamples, seed, level)


def kendall_difference(
    x: Sequence[float],
    baseline: Sequence[float],
    y: Sequence[float],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    level: float = 0.95,
) -> Estimate:
    """Kendall's tau-b of ``x`` against ``y`` minus that of ``baseline`` against ``y``, on
    the rows where all three are known, with a paired bootstrap interval (each resample
    scores both signals on the same rows). Whether one signal ranks ``y`` better than
    another, which two overlapping intervals of their own cannot say."""
    a, b, c = _rows(x, baseline, y)
    return _estimate(
        len(c), lambda i: _tau_b(a[i], c[i]) - _tau_b(b[i], c[i]), resamples, seed, level
    )


def _partial_rho(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Spearman's partial rho of ``x`` and ``y`` given ``z`` along the last axis, from the
    three rho's; nan where ``z`` ranks ``x`` or ``y`` perfectly (nothing is left)."""
    xy, xz, yz = _rho(x, y), _rho(x, z), _rho(y, z)
    den = np.sqrt((1 - xz * xz) * (1 - yz * yz))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 1e-12, (xy - xz * yz) / np.where(den > 1e-12, den, 1.0), np.nan)


def spearman_partial(
    x: Sequence[float],
    y: Sequence[float],
    z: Sequence[float],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    level: float = 0.95,
) -> Estimate:
    """Spearman's partial rho of ``x`` and ``y`` with ``z`` held fixed (the partial
    correlation of the average ranks, ``(r_xy - r_xz r_yz) / sqrt((1 - r_xz^2)(1 -
    r_yz^2))``), on the rows where all three are known, with a bootstrap interval over
    resampled rows: whether a signal ranks ``y`` by more than what both share with ``z``
    (the survey's ``z``: the network's size, which itself ranks robustness). Rho's rather
    than Kendall's partial: two signals that agree only through ``z`` get a partial rho
    near 0, while Kendall's partial tau stays well above it (about 0.11 where each is
    ``z`` plus as much independent noise)."""
    a, b, c = _rows(x, y, z)
    return _estimate(len(c), lambda i: _partial_rho(a[i], b[i], c[i]), resamples, seed, level)


def kendall_interval(
    x: Sequence[float],
    y: Sequence[float],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    level: float = 0.95,
) -> Estimate:
    """Kendall's tau-b with a bootstrap percentile interval over resampled pairs."""
    return _correlation("tau", x, y, resamples, seed, level)


def spearman_interval(
    x: Sequence[float],
    y: Sequence[float],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    level: float = 0.95,
) -> Estimate:
    """Spearman's rho with a bootstrap percentile interval over resampled pairs."""
    return _correlation("rho", x, y, resamples, seed, level)


def paired_difference(
    a: Sequence[float],
    b: Sequence[float],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    level: float = 0.95,
) -> Estimate:
    """The mean of ``a - b`` over paired runs (same run seed) with a bootstrap interval."""
    x, y = _rows(a, b)
    d = x - y
    if not len(d):
        return Estimate(math.nan, math.nan, math.nan, 0, level)
    boot = d[_resamples(len(d), resamples, seed)].mean(axis=1)
    return _interval(boot, float(d.mean()), len(d), level)


def median_difference(
    a: Sequence[float],
    b: Sequence[float],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    level: float = 0.95,
) -> Estimate:
    """The median of ``a`` minus the median of ``b``, two unpaired groups (the survey's
    ill-fitted and healthy architectures), with a bootstrap interval that resamples each
    group on its own; ``n`` counts both groups' finite values. Two medians moving with
    every few rows say nothing until the interval says how far they could move."""
    (x,), (y,) = _rows(a), _rows(b)
    n = len(x) + len(y)
    if not (len(x) and len(y)):
        return Estimate(math.nan, math.nan, math.nan, n, level)
    value = float(np.median(x) - np.median(y))
    if min(len(x), len(y)) < 2:
        return Estimate(value, math.nan, math.nan, n, level)
    rng = np.random.default_rng(seed)
    boot = np.median(x[rng.integers(0, len(x), size=(resamples, len(x)))], axis=1) - np.median(
        y[rng.integers(0, len(y), size=(resamples, len(y)))], axis=1
    )
    return _interval(boot, value, n, level)


@dataclass(frozen=True)
class SignedRank:
    """A two-sided Wilcoxon signed-rank test: ``statistic`` min(W+, W-), its p-value,
    the differences used (zeros dropped) and whether the p-value is exact."""

    statistic: float
    pvalue: float
    n: int
    exact: bool


def _signed_rank_null(doubled: np.ndarray) -> np.ndarray:
    """The exact null distribution of 2 W+ for these doubled ranks (integers: average
    ranks of ties are multiples of 1/2): counts of sign assignments by their sum, over 2^n."""
    counts = np.zeros(int(doubled.sum()) + 1)
    counts[0] = 1.0
    for r in doubled:
        counts[r:] = counts[r:] + counts[: len(counts) - r].copy()
    return counts / counts.sum()


def wilcoxon(a: Sequence[float], b: Sequence[float]) -> SignedRank:
    """Wilcoxon signed-rank test of ``a - b`` (two-sided), zero differences dropped.

    Up to 50 non-zero differences the p-value is exact: the null distribution of
    W+ given the observed ranks (ties included, by their average ranks), so paired
    accuracies measured on a few hundred images, which tie often, keep an exact
    test. scipy's default agrees without ties; with ties it is the same exact
    distribution up to 13 pairs (its permutation test) and the normal approximation
    above. Beyond 50: the normal approximation with the tie correction and no
    continuity correction (scipy's defaults). No non-zero difference: p = 1.
    """
    x, y = _rows(a, b)
    d = x - y
    d = d[d != 0]
    n = len(d)
    if n == 0:
        return SignedRank(0.0, 1.0, 0, True)
    ranks = rankdata(np.abs(d))
    w_plus = float(ranks[d > 0].sum())
    total = n * (n + 1) / 2
    statistic = min(w_plus, total - w_plus)
    if n <= EXACT_WILCOXON_MAX:
        null = _signed_rank_null(np.rint(2 * ranks).astype(np.int64))
        observed = round(2 * w_plus)
        below, above = null[: observed + 1].sum(), null[observed:].sum()
        return SignedRank(statistic, float(min(1.0, 2 * min(below, above))), n, True)
    _, counts = np.unique(np.abs(d), return_counts=True)
    var = n * (n + 1) * (2 * n + 1) / 24 - (counts**3 - counts).sum() / 48
    z = (statistic - total / 2) / math.sqrt(var) if var > 0 else 0.0
    return SignedRank(statistic, min(1.0, float(2 * norm.cdf(-abs(z)))), n, False)


WILCOXON_EFFICIENCY = 3 / math.pi
"""The Wilcoxon signed-rank test's asymptotic efficiency relative to the t-test under normal
differences: it needs about 1 / 0.955 times the pairs for the same power."""


def _t_power(effect: float, n: float, alpha: float) -> float:
    """The two-sided one-sample t-test's power at standardised effect ``effect`` with ``n``
    observations (the noncentral t; each tail as an upper tail, which stays finite where
    scipy's lower-tail cdf gives nan at one degree of freedom)."""
    df, shift = n - 1, effect * math.sqrt(n)
    critical = student_t.ppf(1 - alpha / 2, df)
    return float(nct.sf(critical, df, shift) + nct.sf(critical, df, -shift))


def detectable_difference(
    a: Sequence[float], b: Sequence[float], *, power: float = 0.8, alpha: float = 0.05
) -> float:
    """The smallest mean of ``a - b`` that the two-sided Wilcoxon signed-rank test at
    ``alpha`` would detect with probability ``power`` over this many pairs, were the
    differences normal with the spread observed: a design's sensitivity, which a
    comparison whose interval spans 0 needs, since "no difference found" means little
    until one knows how large a difference the runs could have found.

    Normal theory: the paired t-test's effect (noncentral t) over the pairs times the
    Wilcoxon test's efficiency (:data:`WILCOXON_EFFICIENCY`), in the differences' sample
    std (simulated: power 0.80 at 10 and 20 pairs). inf where no outcome of the exact test
    reaches ``alpha`` (2 / 2^n above it: five pairs or fewer at 0.05); nan below two pairs.
    """
    if not 0 < alpha < power < 1:
        raise ValueError(f"need 0 < alpha < power < 1, got alpha {alpha}, power {power}")
    x, y = _rows(a, b)
    d = x - y
    n = len(d)
    if n < 2:
        return math.nan
    if 2.0 ** (1 - n) > alpha:
        return math.inf
    m = n * WILCOXON_EFFICIENCY
    high = 1.0
    while _t_power(high, m, alpha) < power:
        high *= 2
    effect = brentq(lambda e: _t_power(e, m, alpha) - power, 0.0, high, xtol=1e-10)
    return float(effect * np.std(d, ddof=1))


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error over the comparisons), in the
    order given: the i-th smallest p times (m - i + 1), kept monotone, at most 1."""
    p = np.asarray(pvalues, dtype=float)
    order = np.argsort(p, kind="stable")
    m = len(p)
    scaled = np.maximum.accumulate(p[order] * (m - np.arange(m)))
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(scaled, 1.0)
    return [float(v) for v in adjusted]
