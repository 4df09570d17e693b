"""Planning: power that is exact for the verdict's test, plans for the same rule, the course's question."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from loadgen.analysis import planning
from loadgen.analysis.stats import contrast_arrays, log_contrast, tost_p_arrays, two_sided_p_arrays


def test_welch_power_is_finite_for_every_effect() -> None:
    """t_test_power(3, 10, test="welch") was NaN, so Welch plans were off by one at large effects."""
    assert planning.t_test_power(3, 10, test="welch") == pytest.approx(1.0, abs=1e-6)
    for d in (0.0, 0.5, 2.0, 10.0, 40.0):
        p = planning.t_test_power(3, d, test="welch")
        assert math.isfinite(p) and 0.0 <= p <= 1.0
    assert planning.t_test_power(5, 0.0, test="welch") == pytest.approx(0.05, abs=0.01)


def test_the_pooled_table_of_statistics_md_is_reproduced() -> None:
    cvs = (0.01, 0.02, 0.03, 0.05, 0.10)
    assert [planning.runs_needed(cv, 0.05) for cv in cvs] == [3, 4, 7, 17, 64]
    assert [planning.runs_needed(cv, 0.05, power_target=0.9) for cv in cvs] == [3, 5, 9, 23, 86]


@pytest.mark.parametrize(("n", "sd", "effect"), [(3, 0.02, 0.05), (5, 0.05, 0.05), (10, 0.03, 0.02)])
def test_power_matches_a_simulation_of_the_verdicts_test(n: int, sd: float, effect: float) -> None:
    rng = np.random.default_rng(n)
    la = rng.normal(effect, sd, (20_000, n))
    lb = rng.normal(0.0, sd, (20_000, n))
    est, se, df, _ = contrast_arrays(la, lb, False, 0.0)
    simulated = np.mean(two_sided_p_arrays(est, se, df) < 0.05)
    assert planning.power(n, sd, effect, 0.05) == pytest.approx(simulated, abs=0.01)
    bound = math.log1p(0.05)
    la0, lb0 = rng.normal(0.0, sd, (20_000, n)), rng.normal(0.0, sd, (20_000, n))
    est, se, df, _ = contrast_arrays(la0, lb0, False, 0.0)
    simulated_tost = np.mean(tost_p_arrays(est, se, df, bound) < 0.05)
    assert planning.power(n, sd, 0.0, 0.05, goal="equivalence", bound=bound) == pytest.approx(simulated_tost, abs=0.01)


def test_paired_power_matches_a_simulation() -> None:
    rng = np.random.default_rng(9)
    d = rng.normal(0.02, 0.015, (20_000, 6))
    est, se, df, _ = contrast_arrays(d, np.zeros_like(d), True, 0.0)
    simulated = np.mean(two_sided_p_arrays(est, se, df) < 0.05)
    assert planning.power(6, 0.015, 0.02, 0.05, design="paired") == pytest.approx(simulated, abs=0.01)


def test_a_comparison_inside_the_margin_plans_for_equivalence_with_an_upper_bound_cv() -> None:
    contrast = log_contrast([1.0, 1.03, 0.97, 1.01], [1.01, 0.98, 1.02, 0.99], higher_is_better=False)
    assert abs(contrast.estimate) < math.log1p(0.02)
    n, note = planning.plan_for_contrast(contrast, 0.05, 0.02)
    assert n is not None and "to show equivalence within 2% (TOST at alpha 0.05, power 80%" in note
    assert "upper 80% bound of the observed" in note
    sd_high = planning.sd_upper_bound(contrast.sd, 6)
    assert sd_high > contrast.sd
    assert n == planning.runs_needed_log(sd_high, 0.05, goal="equivalence", bound=math.log1p(0.02))


def test_a_difference_outside_the_margin_plans_to_detect_it_at_the_families_alpha() -> None:
    contrast = log_contrast([1.0, 1.08, 0.95], [0.93, 0.99, 0.9], higher_is_better=False)
    n, note = planning.plan_for_contrast(contrast, 0.01, 0.02)
    assert "to detect a" in note and "at alpha 0.01" in note
    assert n == planning.runs_needed_log(planning.sd_upper_bound(contrast.sd, 4), 0.01,
                                         effect=abs(contrast.estimate))


def test_the_courses_question() -> None:
    answer = planning.course_answer(0.05, 0.06, 5)
    assert not answer["significant"]
    # the implied noise reproduces the p-value: Welch t on logs with 5 a side, equal spread
    sd = planning.sd_from_cv(answer["implied_cv"])
    t = math.log1p(0.05) / (sd * math.sqrt(2 / 5))
    assert 2 * stats.t.sf(t, 8) == pytest.approx(0.06, rel=1e-6)
    assert answer["runs_per_side"] == planning.runs_needed_log(
        planning.sd_from_cv(answer["cv_upper_bound"]), 0.05, effect=math.log1p(0.05))
    assert "\n" not in answer["answer"] and "not significant" in answer["answer"]
    assert planning.course_answer(0.05, 0.01, 5)["significant"]
    with pytest.raises(ValueError, match="p-value"):
        planning.course_answer(0.05, 1.5, 5)


def test_impossible_plans_say_so() -> None:
    with pytest.raises(ValueError, match="more than 100,000 runs"):
        planning.runs_needed_log(1.0, 0.05, effect=1e-4)
