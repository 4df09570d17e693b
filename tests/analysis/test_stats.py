"""Benchmark statistics: scipy reference values, known tables, and simulated coverage.

The simulation tests use fixed seeds and modest repetition counts (n_resamples=999) so the
whole file runs in seconds; each states the rate it expects and why.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from loadgen.analysis.stats import (
    EFFICIENCY_FORMULA,
    SPEEDUP_FORMULA,
    Comparison,
    Interval,
    accuracy_delta,
    compare_metric,
    compare_metrics,
    compression_ratio,
    efficiency_score,
    format_comparison,
    gated_speedup,
    holm,
    mann_whitney,
    min_samples_for_percentile_interval,
    noise_warnings,
    percentile_interval,
    queries_needed_for_percentile,
    ratio_interval,
    runs_needed,
    speedup,
    summarize_runs,
    t_test_power,
    tost,
    welch_t_test,
)

A = np.array([10.2, 9.8, 10.5, 10.1, 9.9, 10.4, 10.0, 10.3])
B = np.array([9.1, 9.6, 9.3, 9.0, 9.4, 9.8, 9.2])
JSON_KEYS = {"metric", "ratio", "ci_low", "ci_high", "p_value", "verdict", "runs_needed"}


# ---------------------------------------------------------------- scipy agreement


def test_welch_agrees_with_scipy() -> None:
    ref = stats.ttest_ind(A, B, equal_var=False)
    res = welch_t_test(A, B)
    assert res.statistic == pytest.approx(ref.statistic, rel=1e-12)
    assert res.p_value == pytest.approx(ref.pvalue, rel=1e-12)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (A, B),
        ([1.0, 2.0, 2.0, 3.0], [2.0, 3.0, 3.0, 4.0, 5.0]),  # ties: normal approximation
        ([1.0, 2.0, 3.0], [4.0, 5.0, 6.0]),  # 3 a side: exact p can't go below 0.1
    ],
)
def test_mann_whitney_agrees_with_scipy(a: list[float], b: list[float]) -> None:
    ref = stats.mannwhitneyu(a, b, alternative="two-sided")
    res = mann_whitney(a, b)
    assert (res.statistic, res.p_value) == pytest.approx((ref.statistic, ref.pvalue), rel=1e-12)


def test_mann_whitney_needs_four_runs_a_side_for_significance() -> None:
    assert mann_whitney([1, 2, 3], [4, 5, 6]).p_value == pytest.approx(0.1)
    assert mann_whitney([1, 2, 3, 4], [5, 6, 7, 8]).p_value < 0.05


@pytest.mark.parametrize("q", [0.5, 0.9, 0.95])
def test_percentile_interval_agrees_with_quantile_test(q: float) -> None:
    x = np.random.default_rng(5).exponential(2.0, 200)
    ref = stats.quantile_test(x, p=q).confidence_interval(0.95)
    got = percentile_interval(x, q)
    assert got is not None
    assert (got.low, got.high) == (ref.low, ref.high)
    assert got.confidence == 0.95


def test_t_interval_agrees_with_scipy() -> None:
    ref = stats.t.interval(0.95, A.size - 1, loc=A.mean(), scale=stats.sem(A))
    got = summarize_runs(A).t_interval
    assert got is not None
    assert (got.low, got.high) == pytest.approx(ref, rel=1e-12)


def test_bca_interval_is_scipy_bootstrap_with_the_fixed_seed() -> None:
    ref = stats.bootstrap(
        (A,), np.mean, method="BCa", n_resamples=999, random_state=np.random.default_rng(3)
    ).confidence_interval
    got = summarize_runs(A, seed=3, n_resamples=999).bca_interval
    assert got is not None
    assert (got.low, got.high) == pytest.approx((ref.low, ref.high), rel=1e-12)


def test_tost_is_two_one_sided_welch_tests_on_logs() -> None:
    la, lb, bound = np.log(A), np.log(B), math.log(1.02)
    p_low = stats.ttest_ind(lb + bound, la, equal_var=False, alternative="greater").pvalue
    p_high = stats.ttest_ind(lb - bound, la, equal_var=False, alternative="less").pvalue
    res = tost(A, B, 0.02, higher_is_better=False)
    assert res.p_value == pytest.approx(max(p_low, p_high), rel=1e-12)
    # Lower is better: "B worse by more than the margin" is B's log mean above +bound.
    assert res.p_lower == pytest.approx(p_high, rel=1e-12)
    assert res.log_ratio == pytest.approx(la.mean() - lb.mean(), rel=1e-12)


# ---------------------------------------------------------------- tables


@pytest.mark.parametrize(
    ("power", "expected"),
    [(0.8, [3, 4, 7, 17, 64]), (0.9, [3, 5, 9, 23, 86])],
)
def test_runs_needed_reproduces_the_table(power: float, expected: list[int]) -> None:
    cvs = [0.01, 0.02, 0.03, 0.05, 0.10]
    assert [runs_needed(cv, 0.05, power=power) for cv in cvs] == expected


def test_runs_needed_rule_of_thumb_at_large_n() -> None:
    # n ~ 15.7 (CV / effect)^2 once t is close to normal.
    assert runs_needed(0.10, 0.01) == pytest.approx(15.7 * 100, rel=0.01)


def test_runs_needed_for_welch_adds_a_run_only_at_tiny_n() -> None:
    cvs = [0.01, 0.02, 0.03, 0.05, 0.10]
    assert [runs_needed(cv, 0.05, test="welch") for cv in cvs] == [3, 5, 7, 17, 64]
    assert runs_needed(0.03, 0.10) == 3
    assert runs_needed(0.03, 0.10, test="welch") == 4


def test_power_formulas_match_simulated_t_tests() -> None:
    # Welch's df is random, in [n-1, 2n-2]; at n = 3 that costs power against the pooled test.
    n, d, reps = 3, 0.10 / 0.03, 40_000
    rng = np.random.default_rng(21)
    a, b = rng.normal(0, 1, (reps, n)), rng.normal(d, 1, (reps, n))
    pooled = np.mean(stats.ttest_ind(a, b, axis=1).pvalue < 0.05)
    welch = np.mean(stats.ttest_ind(a, b, axis=1, equal_var=False).pvalue < 0.05)
    assert t_test_power(n, d) == pytest.approx(pooled, abs=0.01)
    assert t_test_power(n, d, test="welch") == pytest.approx(welch, abs=0.01)
    assert t_test_power(n, d, test="welch") == pytest.approx(0.762, abs=0.002)


@pytest.mark.parametrize(
    ("q", "n"), [(0.5, 6), (0.9, 36), (0.95, 72), (0.99, 368), (0.999, 3688)]
)
def test_min_samples_for_percentile_interval(q: float, n: int) -> None:
    assert min_samples_for_percentile_interval(q, 0.95) == n
    assert queries_needed_for_percentile(q) == n
    x = np.arange(n, dtype=float)
    assert percentile_interval(x[:-1], q) is None  # one fewer: an end would be infinite
    assert percentile_interval(x, q) is not None


def test_min_samples_grows_with_confidence() -> None:
    assert min_samples_for_percentile_interval(0.99, 0.90) < 368
    assert min_samples_for_percentile_interval(0.99, 0.99) > 368
    assert min_samples_for_percentile_interval(0.01) == 368  # symmetric in q and 1 - q


# ---------------------------------------------------------------- Holm


@pytest.mark.parametrize(
    ("raw", "adjusted"),
    [
        ([0.01, 0.02, 0.03, 0.04, 0.05], [0.05, 0.08, 0.09, 0.09, 0.09]),
        ([0.01, 0.04, 0.03, 0.005], [0.03, 0.06, 0.06, 0.02]),
        ([0.5, 0.6], [1.0, 1.0]),
        ([0.02, 0.02], [0.04, 0.04]),
        ([0.3], [0.3]),
        ([], []),
    ],
)
def test_holm_hand_computed(raw: list[float], adjusted: list[float]) -> None:
    assert holm(raw) == pytest.approx(adjusted)


def test_holm_rejects_invalid_p_values() -> None:
    with pytest.raises(ValueError, match="p_values"):
        holm([0.1, float("nan")])
    with pytest.raises(ValueError, match="p_values"):
        holm([1.5])


@given(st.lists(st.floats(0.0, 1.0), max_size=30))
def test_holm_properties(raw: list[float]) -> None:
    adj = holm(raw)
    assert all(p <= q <= 1.0 for p, q in zip(raw, adj, strict=True))
    for i, j in zip(np.argsort(raw)[:-1], np.argsort(raw)[1:], strict=True):
        assert adj[i] <= adj[j]  # same order as the raw p-values


# ---------------------------------------------------------------- summaries


def test_summarize_runs_fields() -> None:
    s = summarize_runs(A, n_resamples=999)
    assert s.n == 8
    assert s.mean == pytest.approx(A.mean())
    assert s.median == pytest.approx(np.median(A))
    assert s.std == pytest.approx(A.std(ddof=1))
    assert s.cv == pytest.approx(A.std(ddof=1) / A.mean())
    assert (s.min, s.max) == (9.8, 10.5)
    assert s.iqr == pytest.approx(np.subtract(*np.percentile(A, [75, 25])))
    assert s.bca_interval is not None and s.bca_interval.contains(s.mean)


def test_summarize_small_and_constant_samples_never_give_nan() -> None:
    one = summarize_runs([5.0])
    assert (one.std, one.cv, one.t_interval, one.bca_interval) == (None, None, None, None)
    two = summarize_runs([5.0, 6.0])
    assert two.t_interval is not None and two.bca_interval is None
    flat = summarize_runs([5.0, 5.0, 5.0, 5.0])
    assert flat.bca_interval is None
    assert flat.t_interval == Interval(5.0, 5.0, 0.95, "student-t")
    for s in (one, two, flat):
        json.dumps(s.as_json(), allow_nan=False)


def test_same_seed_same_interval() -> None:
    first = summarize_runs(A, seed=7, n_resamples=999)
    assert summarize_runs(A, seed=7, n_resamples=999) == first


@pytest.mark.parametrize(
    ("values", "name"), [([], "values"), ([1.0, float("nan")], "values"), ([[1.0]], "values")]
)
def test_summarize_rejects_bad_input(values: list, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        summarize_runs(values)


# ---------------------------------------------------------------- ratios


def test_ratio_orientation() -> None:
    time_a, time_b = [2.0, 2.1, 1.9, 2.0], [1.0, 1.05, 0.95, 1.0]
    assert ratio_interval(time_a, time_b, higher_is_better=False).ratio == pytest.approx(2.0)
    assert ratio_interval(time_a, time_b, higher_is_better=True).ratio == pytest.approx(0.5)
    med = ratio_interval(time_a, time_b, higher_is_better=False, statistic="median")
    assert med.ratio == pytest.approx(2.0)
    est = ratio_interval(time_a, time_b, higher_is_better=False, n_resamples=999)
    assert est.interval is not None and est.interval.low <= 2.0 <= est.interval.high


def test_paired_ratio_of_proportional_pairs_is_exact() -> None:
    a = np.array([1.0, 1.5, 0.8, 1.2, 1.1])
    est = ratio_interval(a, a / 1.25, higher_is_better=False, paired=True, n_resamples=999)
    assert est.interval is not None
    assert (est.interval.low, est.interval.high) == pytest.approx((1.25, 1.25))
    with pytest.raises(ValueError, match="paired"):
        ratio_interval(a, a[:-1], higher_is_better=False, paired=True)


def test_ratio_needs_three_runs_a_side_for_an_interval() -> None:
    est = ratio_interval([1.0, 1.1], [1.0, 1.2, 1.1], higher_is_better=False)
    assert est.interval is None
    with pytest.raises(ValueError, match="b"):
        ratio_interval([1.0, 1.1], [1.0], higher_is_better=False)
    with pytest.raises(ValueError, match="a must contain only positive"):
        ratio_interval([1.0, -1.0], [1.0, 1.1], higher_is_better=False)


positive_runs = st.lists(
    st.floats(0.1, 100.0, allow_nan=False, allow_infinity=False), min_size=3, max_size=12
)


@settings(max_examples=40, deadline=None)
@given(positive_runs, st.booleans())
def test_ratio_of_identical_samples_is_one(values: list[float], higher_is_better: bool) -> None:
    est = ratio_interval(values, values, higher_is_better=higher_is_better, n_resamples=999)
    assert est.ratio == 1.0
    assert est.interval is not None
    # Resampled means of the same multiset can differ in the last bit, hence the slack.
    assert est.interval.low <= 1.0 + 1e-12 and est.interval.high >= 1.0 - 1e-12


@pytest.mark.filterwarnings("ignore:Precision loss occurred:RuntimeWarning")
@settings(max_examples=40, deadline=None)
@given(positive_runs, positive_runs)
def test_tost_is_symmetric_in_a_and_b(a: list[float], b: list[float]) -> None:
    assert tost(a, b).p_value == pytest.approx(tost(b, a).p_value, rel=1e-9, abs=1e-12)


# ---------------------------------------------------------------- comparisons

FAST_A = [1.00, 1.03, 0.98, 1.02, 0.99, 1.01]
FAST_B = [0.982, 0.962, 0.992, 0.952, 0.972, 1.002]  # ~2.8% less time, Welch p ~ 0.027


def test_compare_metric_verdicts() -> None:
    faster = compare_metric("latency", [2.0, 2.1, 1.9, 2.0], [1.0, 1.05, 0.95, 1.0], False)
    assert faster.verdict == "faster" and faster.runs_needed is None
    assert format_comparison(faster).startswith("2.00x faster [")
    slower = compare_metric("qps", [2.0, 2.1, 1.9, 2.0], [1.0, 1.05, 0.95, 1.0], True)
    assert slower.verdict == "slower" and slower.ratio == pytest.approx(0.5)
    assert format_comparison(slower).startswith("2.00x slower [")
    rng = np.random.default_rng(0)
    same = compare_metric("latency", rng.normal(1, 0.005, 20), rng.normal(1, 0.005, 20), False)
    assert same.verdict == "equivalent" and same.p_equivalence < 0.05
    unsure = compare_metric("latency", [1.0, 1.1, 0.9], [1.0, 1.12, 0.95], False)
    assert unsure.verdict == "not enough evidence"
    assert unsure.runs_needed is not None and unsure.runs_needed > 3
    assert f"needs about {unsure.runs_needed} runs a side" in format_comparison(unsure)


def test_compare_metric_custom_words() -> None:
    c = compare_metric("acc", [0.5, 0.51, 0.49], [0.7, 0.71, 0.69], True,
                       word_better="better", word_worse="worse")
    assert c.verdict == "better"


def test_constant_runs_are_decided_without_nan() -> None:
    c = compare_metric("latency", [2.0, 2.0, 2.0], [1.0, 1.0, 1.0], False)
    assert (c.verdict, c.ratio, c.ci_low, c.ci_high, c.p_value) == ("faster", 2.0, 2.0, 2.0, 0.0)
    same = compare_metric("latency", [2.0, 2.0, 2.0], [2.0, 2.0, 2.0], False)
    assert same.verdict == "equivalent"
    json.dumps(c.as_json(), allow_nan=False)
    json.dumps(same.as_json(), allow_nan=False)


def test_compare_metrics_applies_holm() -> None:
    alone = compare_metric("latency", FAST_A, FAST_B, False)
    assert alone.verdict == "faster" and 0.05 / 3 < alone.p_value < 0.05
    null = [1.0, 1.01, 0.99, 1.0, 1.02, 0.98]
    result = compare_metrics([
        ("latency", FAST_A, FAST_B, False),
        ("qps", null, null[::-1], True),
        ("p99", null, null, False),
    ])
    assert [c.metric for c in result] == ["latency", "qps", "p99"]
    assert [c.p_adjusted for c in result] == pytest.approx(holm([c.p_value for c in result]))
    assert result[0].p_adjusted == pytest.approx(3 * alone.p_value)
    assert result[0].verdict == "not enough evidence"
    assert result[0].runs_needed is not None


def test_compare_as_json_keys() -> None:
    result = compare_metrics([("latency", FAST_A, FAST_B, False), ("qps", FAST_B, FAST_A, True)])
    for c in result:
        doc = c.as_json()
        assert doc.keys() >= JSON_KEYS
        assert doc["p_value"] == c.p_adjusted
        json.dumps(doc, allow_nan=False)


def test_compare_metrics_rejects_duplicate_names() -> None:
    with pytest.raises(ValueError, match="unique"):
        compare_metrics([("x", FAST_A, FAST_B, False), ("x", FAST_A, FAST_B, False)])


def test_comparison_is_frozen() -> None:
    c = compare_metric("latency", FAST_A, FAST_B, False)
    assert isinstance(c, Comparison)
    with pytest.raises(AttributeError):
        c.verdict = "faster"  # type: ignore[misc]


# ---------------------------------------------------------------- normalized metrics


def test_normalized_metrics() -> None:
    assert speedup(10.0, 4.0) == 2.5
    assert compression_ratio(100.0, 25.0) == 4.0
    assert accuracy_delta(0.90, 0.88) == pytest.approx(-0.02)
    assert efficiency_score(2.5, 4.0, -0.02) == pytest.approx(10.0 / 1.02)
    assert SPEEDUP_FORMULA == "speedup = baseline_time / optimized_time"
    assert EFFICIENCY_FORMULA == "efficiency = (speedup x compression) / (1 + |accuracy delta|)"


@given(
    st.floats(1e-3, 1e3), st.floats(1e-3, 1e3), st.floats(-1.0, 1.0, allow_nan=False)
)
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
    ],
)
def test_normalized_metrics_name_the_bad_argument(call, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        call()


def test_gated_speedup() -> None:
    ok = gated_speedup(2.0, -0.005, tolerance=0.01)
    assert not ok.flagged and "-0.0050" in ok.note and "2.00x" in ok.note
    bad = gated_speedup(3.0, -0.03, tolerance=0.01)
    assert bad.flagged and "tolerance" in bad.note
    assert not gated_speedup(3.0, 0.03).flagged  # accuracy rose


# ---------------------------------------------------------------- noise


def test_noise_warnings() -> None:
    assert noise_warnings([1.0, 1.01, 0.99, 1.0]) == []
    noisy = noise_warnings([1.0, 1.3, 0.8, 1.1, 0.85])
    assert any("results are noisy" in w and w.startswith("std is ") for w in noisy)
    outlier = noise_warnings([1.0] * 9 + [6.0])
    assert any(w.startswith("max is ") for w in outlier)
    assert noise_warnings([1.0]) == []


# ---------------------------------------------------------------- simulations


def test_t_interval_covers_the_mean_and_bca_undercovers_at_n10() -> None:
    rng = np.random.default_rng(101)
    samples = rng.normal(10.0, 2.0, (1000, 10))
    summaries = [summarize_runs(x, n_resamples=999) for x in samples]
    t_cover = np.mean([s.t_interval.contains(10.0) for s in summaries])  # type: ignore[union-attr]
    bca_cover = np.mean([s.bca_interval.contains(10.0) for s in summaries])  # type: ignore[union-attr]
    assert 0.93 <= t_cover <= 0.97  # measured 0.945
    # Known: the bootstrap treats the sample as the population, so at n = 10 its intervals
    # are ~sqrt(9/10) too narrow and z-based (~89% coverage over 3000 repetitions);
    # prefer the t interval there.
    assert 0.85 <= bca_cover < 0.93  # measured 0.908


def test_bca_interval_covers_the_mean_at_n50() -> None:
    rng = np.random.default_rng(202)
    samples = rng.normal(10.0, 2.0, (1500, 50))
    cover = np.mean(
        [summarize_runs(x, n_resamples=999).bca_interval.contains(10.0) for x in samples]  # type: ignore[union-attr]
    )
    assert 0.93 <= cover <= 0.97  # measured 0.944; ~0.93 at n = 30, ~0.89 at n = 10


@pytest.mark.parametrize(("q", "n"), [(0.5, 67), (0.9, 141)])
def test_percentile_interval_covers_exponential_quantiles(q: float, n: int) -> None:
    # n chosen where the discrete binomial interval's exact coverage is close to 95%.
    tail = 0.025
    dist = stats.binom(n, q)
    exact = dist.cdf(int(dist.isf(tail))) - dist.cdf(int(dist.ppf(tail)) - 1)
    truth = -math.log(1 - q)  # quantile of Exp(1)
    rng = np.random.default_rng(303)
    hits = [percentile_interval(x, q).contains(truth) for x in rng.exponential(1.0, (1000, n))]  # type: ignore[union-attr]
    cover = float(np.mean(hits))
    assert 0.93 <= cover <= 0.97
    assert cover == pytest.approx(exact, abs=0.02)  # measured 0.945 and 0.946


def _verdicts(n: int, true_ratio: float, reps: int, seed: int) -> list[str]:
    """compare_metric verdicts for latency with CV 3%, B's mean = A's / true_ratio."""
    rng = np.random.default_rng(seed)
    found = []
    for _ in range(reps):
        a = rng.normal(1.0, 0.03, n)
        b = rng.normal(1.0 / true_ratio, 0.03 / true_ratio, n)
        found.append(compare_metric("latency", a, b, False, n_resamples=999).verdict)
    return found


def test_a_vs_a_false_positive_rate() -> None:
    verdicts = _verdicts(10, 1.0, 300, seed=404)
    rate = np.mean([v in ("faster", "slower") for v in verdicts])
    assert rate <= 0.07  # measured 0.050; 0.050 over 3000 repetitions too


def test_power_at_the_planned_number_of_runs() -> None:
    # 10% less time at CV 3%. Planned for the Welch test the verdict uses (4 runs a side;
    # the pooled-t table's 3 gives Welch only 76-80% power, see test_power_formulas_...).
    n = runs_needed(0.03, 0.10, test="welch")
    verdicts = _verdicts(n, 1.0 / 0.9, 300, seed=505)
    assert np.mean([v == "faster" for v in verdicts]) >= 0.80  # measured 0.987
