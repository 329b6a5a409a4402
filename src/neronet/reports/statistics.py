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
from scipy.stats import norm, rankdata
from scipy.stats import t as student_t

DEFAULT_RESAMPLES = 2000
DEFAULT_SEED = 0
PAIR_CELLS = 4_000_000
"""Pair-matrix cells of one bootstrap chunk (a few tens of MB whatever the sample size)."""
EXACT_WILCOXON_MAX = 50
"""Up to this many non-zero differences without ties, the Wilcoxon p-value is exact."""


TIE_DECIMALS = 9
"""Paired differences are rounded to this many decimals before they are tested: accuracies
read back from text differ in a float's last bits (0.37 - 0.35 is 0.020000000000000018,
0.12 - 0.10 is 0.019999999999999997), which would rank real ties apart."""

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


def _interval(
    stat: np.ndarray, value: float, n: int, level: float, cover: float | None = None
) -> Estimate:
    """The ``cover`` (default ``level``) percentile interval of the bootstrap ``stat``,
    reported as a ``level`` interval."""
    finite = stat[np.isfinite(stat)]
    if not finite.size:
        return Estimate(value, math.nan, math.nan, n, level)
    tail = (1 - (level if cover is None else cover)) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return Estimate(value, float(low), float(high), n, level)


def expanded_level(level: float, n: int) -> float:
    """The percentile level that Hesterberg's expanded percentile interval of a mean of ``n``
    values takes for a ``level`` interval: the normal quantile ``sqrt(n / (n - 1))`` times
    Student's t quantile at ``n - 1`` degrees of freedom. A plain percentile bootstrap of a
    mean is too narrow for a few pairs (about 84 % of "95 %" intervals cover the mean at
    5 normal pairs, 91 % at 10; expanded: 93 % and 96 %): it divides the spread by ``n``
    and uses the normal's tails, and the expansion undoes both (Hesterberg 2015, "What
    teachers should know about the bootstrap")."""
    quantile = math.sqrt(n / (n - 1)) * student_t.ppf((1 + level) / 2, n - 1)
    return float(1 - 2 * norm.sf(quantile))


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
    """The mean of ``a - b`` over paired runs (same run seed) with a bootstrap interval:
    the expanded percentile interval (:func:`expanded_level`), since the method comparison
    has ten pairs or fewer, where the plain one claims more than it covers. None where the
    pairs cannot bound it (:func:`_pairs_bound`)."""
    x, y = _rows(a, b)
    d = x - y
    if not _pairs_bound(len(d), level):
        return Estimate(float(d.mean()) if len(d) else math.nan, math.nan, math.nan, len(d), level)
    boot = d[_resamples(len(d), resamples, seed)].mean(axis=1)
    return _interval(boot, float(d.mean()), len(d), level, expanded_level(level, len(d)))


def _pairs_bound(n: int, level: float) -> bool:
    """Whether ``n`` pairs can bound their mean difference at ``level``: not where even
    their whole range would cover a symmetric difference's mean less often than ``level``
    (1 - 2^(1-n): five pairs or fewer at 95 %), since no bootstrap interval reaches beyond
    that range."""
    return n >= 2 and 2.0 ** (1 - n) <= 1 - level


def _slope(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The least-squares slope of ``y`` on ``x`` along the last axis; nan where ``x`` is
    constant."""
    dx = x - x.mean(axis=-1, keepdims=True)
    dy = y - y.mean(axis=-1, keepdims=True)
    den = (dx * dx).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (dx * dy).sum(axis=-1) / np.where(den > 0, den, 1.0), np.nan)


def size_slope(
    sizes: Sequence[float],
    values: Sequence[float],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    level: float = 0.95,
) -> Estimate:
    """How much ``values`` (e.g. AutoAttack accuracy) rise per tenfold size: the
    least-squares slope on ``log10(sizes)`` (positive sizes, e.g. parameter counts), with
    a bootstrap interval over resampled rows. The line :func:`difference_at_size` holds
    fixed: a survey's architectures, whose robustness rises with their size, say how much
    of a method's lead its networks' size alone would give."""
    s, v = _rows(sizes, values)
    x = np.log10(s)
    return _estimate(len(x), lambda i: _slope(x[i], v[i]), resamples, seed, level)


def difference_at_size(
    a: Sequence[float],
    b: Sequence[float],
    size_a: Sequence[float],
    size_b: Sequence[float],
    reference: tuple[Sequence[float], Sequence[float]],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    level: float = 0.95,
) -> Estimate:
    """The mean paired difference of ``a - b`` at equal size: each pair's difference less
    what the size difference alone gives, ``slope * log10(size_a / size_b)``, with the
    slope of the ``reference`` rows (sizes, values; :func:`size_slope`). Two methods
    whose networks differ in size differ in robustness for that reason too; this is the
    rest. The interval resamples the pairs (expanded as :func:`paired_difference`'s) and
    the reference rows together, so the slope's own uncertainty is in it; none where
    :func:`paired_difference` gives none."""
    x, y, sx, sy = _rows(a, b, size_a, size_b)
    rs, rv = _rows(*reference)
    d, ds, rx = x - y, np.log10(sx) - np.log10(sy), np.log10(rs)
    n = len(d)
    slope = float(_slope(rx, rv)) if len(rx) >= 2 else math.nan
    value = float((d - slope * ds).mean()) if n else math.nan
    if not _pairs_bound(n, level) or not math.isfinite(slope):
        return Estimate(value, math.nan, math.nan, n, level)
    pairs = _resamples(n, resamples, seed)
    rows = _resamples(len(rx), resamples, seed + 1)
    slopes = _slope(rx[rows], rv[rows])
    boot = (d[pairs] - slopes[:, None] * ds[pairs]).mean(axis=1)
    return _interval(boot, value, n, level, expanded_level(level, n))


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
    every few rows say nothing until the interval says how far they could move. No
    interval while a group has fewer than :data:`MIN_INTERVAL_PAIRS` values: the bootstrap
    median of a handful takes a few values only (two groups of two cover the difference
    about 65 % of the time)."""
    (x,), (y,) = _rows(a), _rows(b)
    n = len(x) + len(y)
    if not (len(x) and len(y)):
        return Estimate(math.nan, math.nan, math.nan, n, level)
    value = float(np.median(x) - np.median(y))
    if min(len(x), len(y)) < MIN_INTERVAL_PAIRS:
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


def _differences(a: Sequence[float], b: Sequence[float]) -> np.ndarray:
    """The non-zero differences ``a - b`` of the finite pairs, rounded to
    :data:`TIE_DECIMALS` (the signed-rank test drops zeros, Wilcoxon's own method)."""
    x, y = _rows(a, b)
    d = np.round(x - y, TIE_DECIMALS)
    return d[d != 0]


def _two_sided(null: np.ndarray, observed: int) -> float:
    """The exact two-sided p-value of ``observed`` under the ``null`` probabilities."""
    return float(min(1.0, 2 * min(null[: observed + 1].sum(), null[observed:].sum())))


def _normal_p(statistic: float, n: int, ties: float = 0.0) -> float:
    """The normal approximation's two-sided p-value of min(W+, W-) over ``n`` differences
    (``ties``: the tie correction's sum of t^3 - t), no continuity correction."""
    var = n * (n + 1) * (2 * n + 1) / 24 - ties / 48
    z = (statistic - n * (n + 1) / 4) / math.sqrt(var) if var > 0 else 0.0
    return min(1.0, float(2 * norm.cdf(-abs(z))))


def wilcoxon(a: Sequence[float], b: Sequence[float]) -> SignedRank:
    """Wilcoxon signed-rank test of ``a - b`` (two-sided), zero differences dropped, the
    differences rounded to :data:`TIE_DECIMALS` first.

    Up to 50 non-zero differences the p-value is exact: the null distribution of
    W+ given the observed ranks (ties included, by their average ranks), so paired
    accuracies measured on a few hundred images, which tie often, keep an exact
    test. scipy's default agrees without ties; with ties it is the same exact
    distribution up to 13 pairs (its permutation test) and the normal approximation
    above. Beyond 50: the normal approximation with the tie correction and no
    continuity correction (scipy's defaults). No non-zero difference: p = 1.
    """
    d = _differences(a, b)
    n = len(d)
    if n == 0:
        return SignedRank(0.0, 1.0, 0, True)
    ranks = rankdata(np.abs(d))
    w_plus = float(ranks[d > 0].sum())
    statistic = min(w_plus, n * (n + 1) / 2 - w_plus)
    if n <= EXACT_WILCOXON_MAX:
        null = _signed_rank_null(np.rint(2 * ranks).astype(np.int64))
        return SignedRank(statistic, _two_sided(null, round(2 * w_plus)), n, True)
    _, counts = np.unique(np.abs(d), return_counts=True)
    return SignedRank(
        statistic, _normal_p(statistic, n, float((counts**3 - counts).sum())), n, False
    )


DETECTABLE_DRAWS = 10_000
"""Simulated experiments per power estimate (its standard error near 0.8: 0.004)."""


def _rejected(n: int, alpha: float) -> np.ndarray:
    """Per value of W+ (0 to n(n+1)/2), whether :func:`wilcoxon` rejects at ``alpha`` over
    ``n`` untied differences with that W+."""
    total = n * (n + 1) // 2
    if n <= EXACT_WILCOXON_MAX:
        null = _signed_rank_null(2 * np.arange(1, n + 1))[::2]  # 2 W+ is even without ties
        p = [_two_sided(null, w) for w in range(total + 1)]
    else:
        p = [_normal_p(min(w, total - w), n) for w in range(total + 1)]
    return np.asarray(p) <= alpha


def _power(effect: float, noise: np.ndarray, rejected: np.ndarray) -> float:
    """The share of the simulated experiments (rows of standard normal ``noise`` shifted
    by ``effect``) in which the signed-rank test rejects."""
    d = noise + effect
    ranks = np.abs(d).argsort(axis=1).argsort(axis=1) + 1
    return float(rejected[(ranks * (d > 0)).sum(axis=1)].mean())


def min_pairs(alpha: float) -> int:
    """The fewest differing pairs whose best outcome of the exact two-sided signed-rank
    test (every difference one sign: p = 2 / 2^n) reaches ``alpha``; below it the test
    can find nothing (six at 0.05)."""
    n = 2
    while 2.0 ** (1 - n) > alpha:
        n += 1
    return n


def detectable_difference(
    a: Sequence[float], b: Sequence[float], *, power: float = 0.8, alpha: float = 0.05
) -> float:
    """The smallest mean of ``a - b`` that the two-sided Wilcoxon signed-rank test at
    ``alpha`` would detect with probability ``power`` over as many pairs that differ as
    these, were those differences normal with the spread observed: a design's
    sensitivity, which a comparison whose interval spans 0 needs, since "no difference
    found" means little until one knows how large a difference the runs could have found.

    Simulated rather than from normal theory (the t-test's power times the test's
    efficiency 3/pi, which promises 0.67 instead of 0.8 at six pairs): the exact test's
    rejection region (:func:`wilcoxon`'s p-value of each W+) over
    :data:`DETECTABLE_DRAWS` seeded experiments, the same draws at every shift, so the
    answer is a function of the data. Pairs that do not differ are left out as the test
    leaves them. inf where no outcome of the test reaches ``alpha`` (2 / 2^n above it:
    five differing pairs or fewer at 0.05); nan below two.
    """
    if not 0 < alpha < power < 1:
        raise ValueError(f"need 0 < alpha < power < 1, got alpha {alpha}, power {power}")
    d = _differences(a, b)
    n = len(d)
    if n < 2:
        return math.nan
    if n < min_pairs(alpha):
        return math.inf
    noise = np.random.default_rng(DEFAULT_SEED).standard_normal((DETECTABLE_DRAWS, n))
    rejected = _rejected(n, alpha)
    high = 1.0
    while _power(high, noise, rejected) < power:
        high *= 2
    effect = brentq(lambda e: _power(e, noise, rejected) - power, 0.0, high, xtol=1e-6)
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
