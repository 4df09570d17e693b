"""Benchmark statistics: scipy reference values, hand-computed cases and the edge cases users hit.

Coverage, size and power are simulated in test_coverage.py; this file checks that each
function computes what its docstring says, against scipy where scipy has the same thing.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from loadgen.analysis.stats import (
    EFFICIENCY_FORMULA,
    SPEEDUP_FORMULA,
    accuracy_delta,
    compression_ratio,
    efficiency_score,
    gated_speedup,
    log_contrast,
    mann_whitney,
    min_queries_for_percentile_interval,
    noise_warnings,
    outlier_runs,
    percentile_interval,
    ratio_interval,
    robust_ratio,
    speedup,
    summarize_runs,
)

A = np.array([10.2, 9.8, 10.5, 10.1, 9.9, 10.4, 10.0, 10.3])
B = np.array([9.1, 9.6, 9.3, 9.0, 9.4, 9.8, 9.2])


# ---------------------------------------------------------------- ratios on logs


def test_ratio_is_welch_on_logs_with_scipys_interval() -> None:
    ref = stats.ttest_ind(np.log(A), np.log(B), equal_var=False)
    ci = ref.confidence_interval(0.95)
    found = ratio_interval(A, B, higher_is_better=False, cv_floor=0.0)
    assert found.ratio == pytest.approx(math.exp(np.mean(np.log(A)) - np.mean(np.log(B))), rel=1e-12)
    assert (found.interval.low, found.interval.high) == pytest.approx((math.exp(ci.low), math.exp(ci.high)), rel=1e-9)
    assert found.interval.level == 0.95 and found.interval.method == "Welch t on log run figures"


def test_ratio_orientation_b_better_is_above_one() -> None:
    assert ratio_interval(A, B, higher_is_better=False).ratio > 1  # B takes less time
    assert ratio_interval(A, B, higher_is_better=True).ratio < 1  # B delivers less throughput
    forward = ratio_interval(A, B, higher_is_better=False).interval
    backward = ratio_interval(B, A, higher_is_better=False).interval
    assert (forward.low, forward.high) == pytest.approx((1 / backward.high, 1 / backward.low), rel=1e-9)


def test_paired_is_a_one_sample_t_on_log_ratios() -> None:
    a, b = A[:7], B
    ref = stats.ttest_1samp(np.log(a) - np.log(b), 0.0)
    found = log_contrast(a, b, higher_is_better=False, paired=True, cv_floor=0.0)
    assert found.df == 6 and found.paired and found.method.startswith("paired t")
    assert found.estimate / found.se == pytest.approx(ref.statistic, rel=1e-12)
    with pytest.raises(ValueError, match="equal run counts"):
        log_contrast(A, B, higher_is_better=False, paired=True)


def test_zero_variance_is_floored_not_infinitely_precise() -> None:
    """[1, 1, 1] against [0.999] x 3 used to print 1.00x faster [1.00, 1.00] with p = 0."""
    found = log_contrast([1.0] * 3, [0.999] * 3, higher_is_better=False)
    assert found.se > 0 and math.isfinite(found.df)
    interval = found.interval(0.95)
    assert interval.low < 1 < interval.high  # 0.1% is well inside the 0.5% run-to-run floor
    unfloored = log_contrast([1.0] * 3, [0.999] * 3, higher_is_better=False, cv_floor=0.0)
    assert unfloored.se == 0


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0.5, 2.0), min_size=2, max_size=10), st.booleans())
def test_identical_samples_give_ratio_one_inside_the_interval(values: list[float], higher: bool) -> None:
    found = ratio_interval(values, values, higher_is_better=higher)
    assert found.ratio == pytest.approx(1.0) and found.interval.contains(1.0)


# ---------------------------------------------------------------- Mann-Whitney


def _enumerated_p(a: list[float], b: list[float]) -> float:
    """Brute force: every split of the pooled values, midranks, two-sided as 2 x the smaller tail."""
    pooled = np.concatenate([a, b])
    ranks = stats.rankdata(pooled)
    observed = ranks[: len(a)].sum()
    sums = np.array([ranks[list(idx)].sum() for idx in itertools.combinations(range(pooled.size), len(a))])
    return min(1.0, 2 * min(np.mean(sums <= observed + 1e-9), np.mean(sums >= observed - 1e-9)))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ([1.0, 2.0, 2.0], [2.0, 3.0, 3.0]),  # ties at 3 a side: the normal approximation said 0.157
        ([1.0, 1.0, 1.01], [1.05, 1.05, 1.06]),  # the case: exact 0.1, not 0.047
        ([1.0, 2.0, 2.0, 3.0], [2.0, 3.0, 3.0, 4.0, 5.0]),
        ([5.0, 1.0, 3.0, 3.0, 2.0], [4.0, 6.0, 6.0, 7.0, 1.0, 8.0]),
    ],
)
def test_mann_whitney_is_exact_with_ties(a: list[float], b: list[float]) -> None:
    res = mann_whitney(a, b)
    assert res.method == "mann-whitney u (exact)"
    assert res.p_value == pytest.approx(_enumerated_p(a, b), rel=1e-9)
    ref = stats.mannwhitneyu(a, b, method=stats.PermutationMethod(n_resamples=np.inf))
    assert res.p_value == pytest.approx(ref.pvalue, rel=1e-9) and res.statistic == ref.statistic


def test_mann_whitney_needs_four_runs_a_side_for_significance() -> None:
    assert mann_whitney([1, 2, 3], [4, 5, 6]).p_value == pytest.approx(0.1)
    assert mann_whitney([1, 2, 3, 4], [5, 6, 7, 8]).p_value == pytest.approx(2 / 70)


def test_mann_whitney_switches_to_the_normal_approximation_for_large_samples() -> None:
    rng = np.random.default_rng(4)
    a, b = rng.normal(0, 1, 40), rng.normal(0.5, 1, 40)
    res = mann_whitney(a, b)
    assert "normal approximation" in res.method
    assert res.p_value == pytest.approx(stats.mannwhitneyu(a, b, method="asymptotic").pvalue)


# ---------------------------------------------------------------- outliers and robust ratios


def test_an_outlier_run_is_found_and_clean_runs_are_not() -> None:
    clean_a, clean_b = [1.00, 1.01, 0.99], [0.91, 0.90, 0.92]
    assert outlier_runs(clean_a, clean_b) == () and outlier_runs(clean_b, clean_a) == ()
    assert outlier_runs([1.00, 1.01, 1.30], clean_b) == (2,)
    assert outlier_runs([1.0, 1.01, 0.99, 1.0, 1.3]) == (4,)  # one side alone, 5 runs
    warnings = noise_warnings([1.0, 1.01, 0.99, 1.0, 1.3])
    assert any(w.startswith("run 5 (1.3) is an outlier: 30% from the median") for w in warnings)


def test_hodges_lehmann_ratio_and_its_exact_interval() -> None:
    a, b = [1.0, 1.1, 1.05, 1.02], [0.9, 0.95, 0.92, 0.91]
    found = robust_ratio(a, b, higher_is_better=False)
    diffs = np.sort(np.subtract.outer(np.log(a), np.log(b)).ravel())
    assert found.ratio == pytest.approx(math.exp(np.median(diffs)))
    # 4 a side: P(U <= 0) = 1/70 <= 0.025 < P(U <= 1): the interval is the extreme differences
    assert (found.interval.low, found.interval.high) == pytest.approx((math.exp(diffs[0]), math.exp(diffs[-1])))
    assert robust_ratio(a[:3], b[:3], higher_is_better=False).interval is None
    assert "needs at least 4 runs a side" in robust_ratio(a[:3], b[:3], higher_is_better=False).why_none


def test_paired_robust_ratio_is_the_sign_test_interval() -> None:
    a = [1.0, 1.1, 1.05, 1.02, 1.0, 1.01]
    b = [0.9, 0.95, 0.92, 0.91, 0.9, 0.9]
    found = robust_ratio(a, b, higher_is_better=False, paired=True)
    ratios = np.sort(np.array(a) / np.array(b))
    assert found.interval.low == pytest.approx(ratios[0]) and found.interval.high == pytest.approx(ratios[-1])
    assert robust_ratio(a[:5], b[:5], higher_is_better=False, paired=True).interval is None


def test_one_wild_run_moves_the_robust_ratio_little() -> None:
    a, b = [1.0, 1.01, 0.99, 1.0, 1.02], [0.91, 0.90, 0.92, 0.91, 0.90]
    wild = [1.0, 1.01, 0.99, 1.0, 3.0]
    assert robust_ratio(wild, b, higher_is_better=False).ratio == pytest.approx(
        robust_ratio(a, b, higher_is_better=False).ratio, rel=0.01)
    assert ratio_interval(wild, b, higher_is_better=False).ratio > 1.2  # the geometric mean moves by 25%


# ---------------------------------------------------------------- percentiles


def test_percentile_interval_needs_enough_queries_and_brackets_the_estimate() -> None:
    assert [min_queries_for_percentile_interval(q) for q in (0.5, 0.9, 0.99, 0.999)] == [1000, 5000, 50_000,
                                                                                         500_000]
    rng = np.random.default_rng(3)
    x = rng.exponential(1.0, 6000)
    assert percentile_interval(x, 0.99) is None
    found = percentile_interval(x, 0.9)
    assert found.method.startswith("batch means") and found.level == 0.95
    estimate = np.sort(x)[int(6000 * 0.9)]
    assert found.low <= estimate <= found.high and found.low < -math.log(0.1) < found.high


def test_percentile_interval_widens_when_queries_are_correlated() -> None:
    rng = np.random.default_rng(5)
    independent = rng.exponential(1.0, 20_000)
    trending = np.sort(independent)  # the same values in the worst order: each batch sees one range
    narrow, wide = percentile_interval(independent, 0.5), percentile_interval(trending, 0.5)
    assert (wide.high - wide.low) > 20 * (narrow.high - narrow.low)


# ---------------------------------------------------------------- summaries


def test_summarize_runs_gives_the_student_t_interval_named() -> None:
    s = summarize_runs([1.0, 2.0, 3.0, 4.0])
    ref = stats.t.interval(0.95, 3, loc=2.5, scale=stats.sem([1.0, 2.0, 3.0, 4.0]))
    assert (s.t_interval.low, s.t_interval.high) == pytest.approx(ref)
    assert s.as_json()["interval_method"] == "Student t" and s.as_json()["interval_level"] == 0.95
    one = summarize_runs([5.0])
    assert one.t_interval is None and one.std is None and one.as_json()["t_interval"] is None


@pytest.mark.parametrize(("values", "name"), [([], "at least 1"), ([1.0, float("nan")], "finite"), ([[1.0]], "1-D")])
def test_summarize_rejects_bad_input(values: list, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        summarize_runs(values)


# ---------------------------------------------------------------- normalized metrics


def test_normalized_metrics() -> None:
    assert speedup(10.0, 4.0) == 2.5
    assert compression_ratio(100.0, 25.0) == 4.0
    assert accuracy_delta(0.90, 0.88) == pytest.approx(-0.02)
    assert efficiency_score(2.5, 4.0, -0.02) == pytest.approx(10.0 / 1.02)
    assert SPEEDUP_FORMULA == "speedup = baseline_time / optimized_time"
    assert EFFICIENCY_FORMULA == "efficiency = (speedup x compression) / (1 + |accuracy delta|)"


@given(st.floats(1e-3, 1e3), st.floats(1e-3, 1e3), st.floats(-1.0, 1.0, allow_nan=False))
def test_efficiency_score_formula(s: float, c: float, delta: float) -> None:
    assert efficiency_score(s, c, delta) == pytest.approx(s * c / (1 + abs(delta)))
    assert efficiency_score(s, c, delta) == efficiency_score(s, c, -delta)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: speedup(1.0, 0.0), "optimized_time"),
        (lambda: speedup(-1.0, 1.0), "baseline_time"),
        (lambda: compression_ratio(float("inf"), 1.0), "baseline_size"),
        (lambda: accuracy_delta(float("nan"), 0.5), "baseline_acc"),
        (lambda: efficiency_score(1.0, 0.0, 0.0), "compression"),
        (lambda: gated_speedup(1.0, 0.0, tolerance=-0.1), "tolerance"),
        (lambda: ratio_interval([1.0, 0.0], [1.0, 1.0], higher_is_better=False), "positive"),
        (lambda: log_contrast([1.0, 1.1], [1.0, 1.1], higher_is_better=False, cv_floor=-1), "cv_floor"),
    ],
)
def test_bad_arguments_are_named(call, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        call()


def test_gated_speedup() -> None:
    ok = gated_speedup(2.0, -0.005, tolerance=0.01)
    assert not ok.flagged and "-0.0050" in ok.note and "2.00x" in ok.note
    bad = gated_speedup(3.0, -0.03, tolerance=0.01)
    assert bad.flagged and "tolerance" in bad.note
    assert not gated_speedup(3.0, 0.03).flagged  # accuracy rose


def test_noise_warnings() -> None:
    assert noise_warnings([1.0, 1.01, 0.99, 1.0]) == []
    noisy = noise_warnings([1.0, 1.3, 0.8, 1.1, 0.85])
    assert any("results are noisy" in w and w.startswith("std is ") for w in noisy)
    assert noise_warnings([1.0]) == []
