"""The survey's and the experiment's statistics against scipy's reference on fixed inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats as st

from neronet.reports import statistics as S

RNG = np.random.default_rng(20240522)
X = RNG.integers(0, 6, size=40).astype(float)  # ties on purpose
Y = X + RNG.integers(0, 4, size=40)


def test_tau_and_rho_match_scipy_with_ties() -> None:
    assert S.kendall_tau(X, Y) == pytest.approx(st.kendalltau(X, Y).statistic, abs=1e-12)
    assert S.spearman_rho(X, Y) == pytest.approx(st.spearmanr(X, Y).statistic, abs=1e-12)
    assert S.kendall_tau(X, -Y) == pytest.approx(st.kendalltau(X, -Y).statistic, abs=1e-12)


def test_non_finite_pairs_are_dropped_and_constants_give_nan() -> None:
    x = [1.0, 2.0, math.nan, 4.0, 3.0]
    y = [2.0, 1.0, 5.0, 4.0, math.inf]
    assert S.kendall_tau(x, y) == pytest.approx(st.kendalltau([1, 2, 4], [2, 1, 4]).statistic)
    assert math.isnan(S.kendall_tau([1, 1, 1], [1, 2, 3]))
    with pytest.raises(ValueError, match="equally long"):
        S.kendall_tau([1, 2], [1, 2, 3])


def _scipy_interval(samples: tuple, stat, seed: int, **options) -> tuple[float, float]:
    """scipy's percentile bootstrap interval of ``stat`` (4,000 resamples, as ours below)."""
    res = st.bootstrap(
        samples, stat, method="percentile", n_resamples=4000, random_state=seed, **options
    )
    return res.confidence_interval.low, res.confidence_interval.high


def _assert_interval(est: S.Estimate, interval: tuple[float, float], tolerance: float) -> None:
    """Ours and scipy's intervals agree to ``tolerance`` (different resamples)."""
    assert est.low == pytest.approx(interval[0], abs=tolerance)
    assert est.high == pytest.approx(interval[1], abs=tolerance)


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (S.kendall_interval, lambda a, b: st.kendalltau(a, b).statistic),
        (S.spearman_interval, lambda a, b: st.spearmanr(a, b).statistic),
    ],
)
def test_bootstrap_intervals_agree_with_scipy_and_are_seeded(ours, theirs) -> None:
    est = ours(X, Y, resamples=4000, seed=7)
    assert est.low < est.value < est.high and est.n == 40
    _assert_interval(est, _scipy_interval((X, Y), theirs, 1, paired=True), 0.04)
    assert ours(X, Y, resamples=4000, seed=7) == est  # same seed, same interval
    assert ours(X, Y, resamples=4000, seed=8) != est


def test_a_difference_of_taus_is_bootstrapped_on_the_same_rows_as_scipy() -> None:
    """tau(Z, Y) - tau(X, Y) with a paired bootstrap: scipy's paired bootstrap of the same
    statistic gives the same interval; a signal against itself differs by exactly 0."""
    z = Y + RNG.integers(0, 3, size=40)

    def difference(a, b, c):
        return st.kendalltau(a, c).statistic - st.kendalltau(b, c).statistic

    est = S.kendall_difference(z, X, Y, resamples=4000, seed=5)
    assert est.value == pytest.approx(difference(z, X, Y), abs=1e-12) and est.n == 40
    scipy = _scipy_interval((z, X, Y), difference, 5, paired=True, vectorized=False)
    _assert_interval(est, scipy, 0.04)
    same = S.kendall_difference(X, X, Y)
    assert (same.value, same.low, same.high) == (0.0, 0.0, 0.0)
    rows = [1.0, 2.0, 3.0, math.nan]  # a row missing one number drops out; few rows: no interval
    few = S.kendall_difference(rows, [3.0, 1.0, 2.0, 4.0], [1.0, 2.0, 3.0, 4.0])
    assert few.n == 3 and few.value == pytest.approx(1.0 - (-1 / 3)) and math.isnan(few.low)


def _scipy_partial(a, b, c) -> float:
    xy, xz, yz = (st.spearmanr(u, v).statistic for u, v in ((a, b), (a, c), (b, c)))
    return (xy - xz * yz) / math.sqrt((1 - xz * xz) * (1 - yz * yz))


def test_partial_rho_is_the_partial_correlation_of_scipys_rhos_and_bootstrapped_alike() -> None:
    z = X + RNG.integers(0, 5, size=40)
    est = S.spearman_partial(z, Y, X, resamples=4000, seed=4)
    assert est.value == pytest.approx(_scipy_partial(z, Y, X), abs=1e-12) and est.n == 40
    scipy = _scipy_interval((z, Y, X), _scipy_partial, 4, paired=True, vectorized=False)
    _assert_interval(est, scipy, 0.04)


def test_partial_rho_removes_what_both_owe_to_the_third() -> None:
    """Two signals that agree only through a third: their rho is large, their partial rho
    given the third near 0; one the third ranks perfectly has nothing left (nan)."""
    rng = np.random.default_rng(3)
    size = rng.normal(size=300)
    signal, robust = size + rng.normal(size=300), size + rng.normal(size=300)
    assert S.spearman_rho(signal, robust) > 0.4
    assert abs(S.spearman_partial(signal, robust, size, resamples=200).value) < 0.06
    assert math.isnan(S.spearman_partial(2 * size + 1, robust, size, resamples=200).value)
    own = robust + 0.5 * rng.normal(size=300)  # and a signal with its own share keeps it
    assert S.spearman_partial(own, robust, size, resamples=200).value > 0.4


def test_paired_difference_interval_is_scipys_percentile_bootstrap_expanded() -> None:
    """Hesterberg's expanded percentile interval: scipy's percentile bootstrap at the
    level whose normal quantile is sqrt(n / (n - 1)) times Student's t quantile."""
    est = S.paired_difference(Y, X, resamples=4000, seed=3)
    assert est.value == pytest.approx(float(np.mean(Y - X))) and est.level == 0.95
    wider = S.expanded_level(0.95, 40)
    t = st.t.ppf(0.975, 39) * math.sqrt(40 / 39)
    assert wider == pytest.approx(st.norm.cdf(t) - st.norm.cdf(-t)) and wider > 0.95
    scipy = _scipy_interval((Y - X,), np.mean, 3, confidence_level=wider)
    _assert_interval(est, scipy, 0.08)
    assert est.text() == f"{est.value:.2f} [{est.low:.2f}, {est.high:.2f}]"


def test_paired_difference_intervals_cover_as_they_claim_over_few_pairs() -> None:
    """Over normal differences with mean 0, the "95 %" interval of six and ten pairs
    covers the mean about 95 % of the time (the plain percentile bootstrap: 86-91 %); five
    pairs or fewer get none (their whole range covers a symmetric mean 1 - 2^(1-n) of the
    time, under 95 %)."""
    g = np.random.default_rng(5)
    for n in (6, 10):
        trials = [S.paired_difference(g.normal(size=n), np.zeros(n), seed=i) for i in range(600)]
        covered = np.mean([e.low <= 0 <= e.high for e in trials])
        assert covered == pytest.approx(0.95, abs=0.03)  # 3 standard errors
    few = S.paired_difference([0.5, 0.4, 0.3, 0.6, 0.2], [0.1] * 5)
    assert few.value == pytest.approx(0.3) and few.text() == "0.30 [no interval]"
    assert S.paired_difference([0.52], [0.50]).text() == "0.02 [no interval]"
    assert math.isnan(S.paired_difference([], []).value)


def test_median_difference_resamples_each_group_as_scipys_unpaired_bootstrap() -> None:
    g = np.random.default_rng(9)  # unequal groups, as the survey's statuses; a nan dropped
    ill, ok = g.normal(0.4, 0.15, size=19), g.normal(0.33, 0.1, size=31)
    est = S.median_difference(ill, np.append(ok, math.nan), resamples=4000, seed=2)
    assert est.value == pytest.approx(float(np.median(ill) - np.median(ok))) and est.n == 50

    def difference(a, b, axis):
        return np.median(a, axis=axis) - np.median(b, axis=axis)

    _assert_interval(est, _scipy_interval((ill, ok), difference, 3), 0.02)
    assert S.median_difference(ill, ok, resamples=4000, seed=2) == est
    alone = S.median_difference([0.5], [0.1, 0.2, 0.3])  # one value: a median, no interval
    assert alone.value == pytest.approx(0.3) and math.isnan(alone.low)
    assert math.isnan(S.median_difference([], [0.1, 0.2]).value)


@pytest.mark.parametrize("n", [6, 10, 30])
def test_wilcoxon_exact_matches_scipy(n: int) -> None:
    a = RNG.normal(size=n)
    b = a + RNG.normal(0.4, 1.0, size=n)
    ours, ref = S.wilcoxon(a, b), st.wilcoxon(a, b)
    assert ours.exact and ours.n == n
    assert ours.statistic == ref.statistic
    assert ours.pvalue == pytest.approx(ref.pvalue, rel=1e-9)


def test_wilcoxon_with_ties_and_zeros_matches_scipys_permutation_test() -> None:
    a = np.arange(1.0, 11.0)
    b = a - np.array([1, 1, 2, -2, 3, 0, 4, 4, -1, 5.0])  # a zero, tied magnitudes
    ours, ref = S.wilcoxon(a, b), st.wilcoxon(a, b)
    assert ours.n == 9 and ours.statistic == ref.statistic
    assert ours.pvalue == pytest.approx(ref.pvalue, rel=1e-9)


def test_wilcoxon_large_samples_use_scipys_normal_approximation() -> None:
    a = RNG.normal(size=80)
    b = np.round(a + RNG.normal(0.2, 1.0, size=80), 1)
    ours, ref = S.wilcoxon(a, b), st.wilcoxon(a, b)
    assert not ours.exact
    assert ours.pvalue == pytest.approx(ref.pvalue, rel=1e-9)
    assert S.wilcoxon([1.0, 2.0], [1.0, 2.0]).pvalue == 1.0  # nothing differs


@pytest.mark.parametrize("n", [6, 8, 10, 20])
def test_the_detectable_difference_is_found_four_times_in_five_by_scipys_wilcoxon(n: int) -> None:
    g = np.random.default_rng(n)
    a, b = g.normal(0.40, 0.10, size=n), g.normal(0.38, 0.10, size=n)
    delta, spread = S.detectable_difference(a, b), float(np.std(a - b, ddof=1))
    simulated = g.normal(delta, spread, size=(4000, n))  # differences as observed, shifted
    found = st.wilcoxon(simulated, axis=1).pvalue < 0.05
    assert found.mean() == pytest.approx(0.8, abs=0.025)  # 4 standard errors
    assert S.detectable_difference(2 * a, 2 * b) == pytest.approx(2 * delta)
    assert S.detectable_difference(a, b, power=0.5) < delta
    stricter = S.detectable_difference(a, b, alpha=0.0125)  # Holm's first step over four
    if n == 6:  # at best p = 2 / 2^6 = 0.031
        assert math.isinf(stricter)
        return
    found = st.wilcoxon(g.normal(stricter, spread, size=(4000, n)), axis=1).pvalue < 0.0125
    assert stricter > delta and found.mean() == pytest.approx(0.8, abs=0.025)


def test_too_few_pairs_can_detect_nothing_and_pairs_that_tie_are_left_out() -> None:
    assert [S.min_pairs(a) for a in (0.05, 0.0125, 0.005)] == [6, 8, 9]  # 2 / 2^n <= alpha
    assert math.isinf(S.detectable_difference([1, 2, 3, 4, 5], [0, 0, 0, 0, 0]))  # p >= 1/16
    assert math.isinf(S.detectable_difference([1, 2, 3, 4, 5, 6, 7, 8], [0] * 8, alpha=0.005))
    assert math.isnan(S.detectable_difference(range(6), range(6)))  # no pair differs
    assert math.isnan(S.detectable_difference([0.5], [0.4]))
    a, b = (
        np.array([0.3, 0.5, 0.2, 0.6, 0.4, 0.35, 0.55]),
        np.array([0.2, 0.4, 0.3, 0.4] + [0.1] * 3),
    )
    tied = S.detectable_difference([*a, 0.7, 0.8, 0.9], [*b, 0.7, 0.8, 0.9])
    assert tied == S.detectable_difference(a, b)  # as the test, which drops them


def test_differences_that_tie_in_exact_arithmetic_tie_in_the_test() -> None:
    """Accuracies read back from text: 0.37 - 0.35 and 0.12 - 0.10 differ in a float's last
    bits, yet are one tie, as in scipy's exact test of the same differences in whole
    points (as floats: ranks 3 and 2, W+ 19 and p 0.375)."""
    a = [0.37, 0.10, 0.55, 0.43, 0.61, 0.29, 0.50]
    b = [0.35, 0.12, 0.52, 0.40, 0.65, 0.28, 0.44]
    points = np.subtract(np.rint(np.multiply(a, 100)), np.rint(np.multiply(b, 100)))
    ref = st.wilcoxon(points, method=st.PermutationMethod(n_resamples=np.inf))
    ours = S.wilcoxon(a, b)
    assert ours.statistic == ref.statistic == 8.5  # W-: 2.5 + 6, the tied 2s share a rank
    assert ours.pvalue == pytest.approx(ref.pvalue, rel=1e-9)


def test_holm_adjusts_step_down_in_the_given_order() -> None:
    # sorted: 0.01*4, 0.03*3, 0.04*2 (-> 0.09 kept monotone), 0.2*1
    assert S.holm([0.01, 0.04, 0.03, 0.2]) == pytest.approx([0.04, 0.09, 0.09, 0.2])
    assert S.holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])
    assert S.holm([]) == []


def test_too_few_pairs_get_a_value_but_no_interval() -> None:
    few = S.MIN_INTERVAL_PAIRS - 1
    est = S.kendall_interval(X[:few], Y[:few])
    assert est.value == pytest.approx(st.kendalltau(X[:few], Y[:few]).statistic)
    assert math.isnan(est.low) and math.isnan(est.high) and est.n == few
    assert est.text().endswith("[no interval]")
    assert math.isfinite(S.spearman_interval(X, Y).low)  # 40 pairs: an interval


def test_the_size_slope_is_scipys_regression_on_log_size_bootstrapped_alike() -> None:
    sizes = 10 ** (4 + 2.5 * RNG.random(40))
    robust = 0.1 * np.log10(sizes) + 0.05 * RNG.normal(size=40)
    est = S.size_slope(sizes, robust, resamples=4000, seed=2)
    assert est.value == pytest.approx(st.linregress(np.log10(sizes), robust).slope, abs=1e-12)

    def slope(x: np.ndarray, y: np.ndarray) -> float:
        return st.linregress(x, y).slope

    scipy = _scipy_interval((np.log10(sizes), robust), slope, 2, paired=True, vectorized=False)
    _assert_interval(est, scipy, 0.01)


def test_a_difference_at_equal_size_removes_what_the_size_line_gives() -> None:
    """Each pair's difference less the reference line's slope times its log10 size ratio:
    the plain paired difference (interval and all) where sizes are equal, nothing where a
    lead is all size, and a wider interval where the line itself is uncertain."""
    g = np.random.default_rng(8)
    ref_sizes = 10 ** np.linspace(4, 6.5, 12)
    exact = (ref_sizes, 0.1 * np.log10(ref_sizes))
    noisy = (ref_sizes, exact[1] + 0.08 * g.normal(size=12))
    b = 0.3 + 0.05 * g.normal(size=10)
    sb = 10 ** (4.5 + g.random(10))
    a = b + 0.04 * g.normal(size=10)
    same = S.difference_at_size(a, b, sb, sb, noisy)
    plain = S.paired_difference(a, b)
    assert (same.value, same.low, same.high) == pytest.approx((plain.value, plain.low, plain.high))
    sa = sb * 10 ** g.random(10)
    ratio = np.log10(sa / sb)
    slope = st.linregress(np.log10(noisy[0]), noisy[1]).slope
    held = S.difference_at_size(a, b, sa, sb, noisy)
    assert held.value == pytest.approx(np.mean(a - b) - slope * np.mean(ratio))
    all_size = S.difference_at_size(b + 0.1 * ratio, b, sa, sb, exact)
    assert (all_size.value, all_size.low, all_size.high) == pytest.approx((0, 0, 0), abs=1e-12)
    sure = S.difference_at_size(a, b, sa, sb, (exact[0], exact[1] + (noisy[1] - exact[1]) / 20))
    assert held.high - held.low > sure.high - sure.low
    few = S.difference_at_size(a[:5], b[:5], sa[:5], sb[:5], noisy)
    assert math.isfinite(few.value) and math.isnan(few.low)
