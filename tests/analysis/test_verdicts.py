"""Verdicts as a library: the interval beside a verdict is the one it uses; equivalence first; families."""

from __future__ import annotations

import numpy as np
import pytest

from loadgen.analysis.comparison import (
    VERDICT_EQUIVALENT,
    VERDICT_UNKNOWN,
    MetricInput,
    compare_metric,
    compare_metrics,
    format_comparison,
)

FAST_A = [2.0, 2.1, 1.9, 2.0]
FAST_B = [1.0, 1.05, 0.95, 1.0]
JSON_KEYS = {"metric", "ratio", "ci_low", "ci_high", "p_value", "verdict", "runs_needed", "method", "level"}


def test_clear_verdicts_carry_their_interval_method_and_level() -> None:
    faster = compare_metric("latency", FAST_A, FAST_B, False)
    assert faster.verdict == "faster" and faster.runs_needed is None and faster.ci_low > 1
    assert format_comparison(faster).endswith("(95%, Welch t on log run figures)")
    slower = compare_metric("qps", FAST_A, FAST_B, True)
    assert slower.verdict == "slower" and slower.ci_high < 1
    assert "x slower [" in format_comparison(slower)


def test_not_enough_evidence_never_sits_beside_an_interval_excluding_one() -> None:
    rng = np.random.default_rng(7)
    for _ in range(100):
        a, b = rng.lognormal(0, 0.05, 3), rng.lognormal(-0.04, 0.05, 3)
        c = compare_metric("latency", a, b, False)
        excludes = not c.ci_low <= 1 <= c.ci_high
        if c.verdict == VERDICT_UNKNOWN:
            assert not excludes
            assert c.runs_needed is not None and c.plan_note
            line = format_comparison(c)  # what is printed: the interval, its level, "includes 1"
            low, high = (float(v) for v in line.split("[", 1)[1].split("]", 1)[0].split(", "))
            assert low <= 1 <= high and "(95%, Welch t on log run figures, includes 1)" in line
        if c.verdict in ("faster", "slower"):
            assert excludes


def test_within_the_margin_the_verdict_is_equivalent_never_faster() -> None:
    rng = np.random.default_rng(1)
    a = 1.0 * (1 + 0.001 * rng.standard_normal(30))
    b = 0.995 * (1 + 0.001 * rng.standard_normal(30))  # B really is 0.5% faster, inside the 2% margin
    c = compare_metric("latency", a, b, False, cv_floor=0.0)
    assert c.verdict == VERDICT_EQUIVALENT and c.ci_low > 1
    assert "excludes 1, but the difference is smaller than the margin" in format_comparison(c)


def test_zero_variance_runs_within_the_margin_are_equivalent() -> None:
    """The issue's case: [1, 1, 1] against [0.999] x 3 was '1.00x faster [1.00, 1.00]' with p = 0."""
    c = compare_metric("latency", [1.0] * 3, [0.999] * 3, False)
    assert c.verdict == VERDICT_EQUIVALENT and c.p_value > 0.05
    far = compare_metric("latency", [2.0] * 3, [1.0] * 3, False)
    assert far.verdict == "faster" and 1.9 < far.ci_low < far.ci_high < 2.1


def test_the_primary_figure_is_tested_alone_and_secondaries_simultaneously() -> None:
    rng = np.random.default_rng(3)
    metrics = [MetricInput("headline", FAST_A, FAST_B, False)] + [
        MetricInput(f"m{i}", list(rng.lognormal(0, 0.02, 4)), list(rng.lognormal(0, 0.02, 4)), False)
        for i in range(4)]
    found = compare_metrics(metrics, primary="headline")
    head, rest = found[0], found[1:]
    assert head.role == "primary" and head.level == 0.95 and head.alpha_each == 0.05
    assert all(c.role == "secondary" and c.family_size == 4 and c.level == pytest.approx(0.9875) for c in rest)
    assert all(c.p_adjusted == pytest.approx(min(1, 4 * c.p_value)) for c in rest)
    assert "98.8% simultaneous over 4 figures" in format_comparison(rest[0])
    alone = compare_metric("m0", metrics[1].a, metrics[1].b, False)
    assert (alone.ci_high - alone.ci_low) < (rest[0].ci_high - rest[0].ci_low)
    family = compare_metrics(metrics)
    assert all(c.role == "family" and c.family_size == 5 for c in family)


def test_json_keeps_the_stable_keys_and_names_the_method() -> None:
    found = compare_metrics([MetricInput("latency", FAST_A, FAST_B, False), MetricInput("qps", FAST_B, FAST_A, True)])
    for c in found:
        row = c.as_json()
        assert set(row) >= JSON_KEYS
        assert row["method"] == "Welch t on log run figures" and row["p_value"] == c.p_adjusted
    with pytest.raises(ValueError, match="unique"):
        compare_metrics([MetricInput("x", FAST_A, FAST_B, False), MetricInput("x", FAST_A, FAST_B, False)])
    with pytest.raises(ValueError, match="primary"):
        compare_metrics([MetricInput("x", FAST_A, FAST_B, False)], primary="y")


def test_outlier_runs_are_named_with_a_robust_ratio() -> None:
    c = compare_metric("latency", [1.0, 1.01, 0.99, 1.0, 1.6], [0.91, 0.90, 0.92, 0.91, 0.90], False)
    assert c.outliers == ("A run 5",)
    assert c.robust.interval is not None and c.robust.interval.contains(c.robust.ratio)
    assert c.robust.ratio == pytest.approx(1.0 / 0.91, rel=0.02)


def test_paired_comparisons_use_the_pairs() -> None:
    a = [1.00, 1.05, 1.10, 1.15, 1.20, 1.25]  # a drifting machine
    b = [0.98, 1.03, 1.08, 1.13, 1.18, 1.22]  # 2% faster in every pair
    paired = compare_metric("latency", a, b, False, paired=True)
    independent = compare_metric("latency", a, b, False)
    assert paired.verdict == "faster" and paired.method.startswith("paired t")
    assert independent.verdict == VERDICT_UNKNOWN
