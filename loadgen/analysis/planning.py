"""How many runs a claim needs, planned for the very rule that will decide it.

compare decides each figure with a t-test on log per-run figures (Welch, or paired for
interleaved ABBA runs) at the figure's own alpha (the headline alone at alpha; secondary
figures at alpha / m, Bonferroni), and calls it "equivalent" by TOST at the same alpha. So
the plan uses the same test, the same alpha and, for "equivalent", TOST power:

- Power is exact for normal log figures: for equal n the Welch statistic's df depends only
  on the share B = s1^2 / (s1^2 + s2^2) ~ Beta((n-1)/2, (n-1)/2) and its standard error
  only on s1^2 + s2^2 ~ chi^2(2n - 2), independent of B; power is a 2-D Gauss-Legendre
  integral over their quantiles of normal probabilities. It is finite for every effect
  (the old noncentral-t form gave NaN at t_test_power(3, 10, "welch")).
- The noise is either prospective (a CV you give) or an upper confidence bound of the
  observed one (CV_BOUND_CONFIDENCE, one-sided chi-square bound): the observed CV itself is
  below the true one in more than half of all pilots (the median of chi-square(df) / df is
  below 1), and a plan from it then falls short. Every plan says which it used.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from scipy import special, stats

from loadgen.analysis.stats import DEFAULT_CV_FLOOR, LogContrast, min_queries_for_percentile_interval

__all__ = [
    "CV_BOUND_CONFIDENCE",
    "DEFAULT_POWER",
    "MIN_RUNS",
    "course_answer",
    "cv_from_sd",
    "plan",
    "plan_for_contrast",
    "power",
    "runs_needed",
    "runs_needed_log",
    "sd_from_cv",
    "sd_upper_bound",
    "t_test_power",
]

Design = Literal["independent", "paired"]
Goal = Literal["difference", "equivalence"]
PowerTest = Literal["student", "welch"]

DEFAULT_POWER = 0.8
CV_BOUND_CONFIDENCE = 0.8
"""Plans from measured noise use the upper 80% confidence bound of the observed CV."""
MIN_RUNS = 3
"""The fewest runs a side any plan asks for (outlier checks need three)."""
MAX_PLANNED_RUNS = 100_000

_GL_X, _GL_W = special.roots_legendre(48)
_NODES, _WEIGHTS = (_GL_X + 1) / 2, _GL_W / 2


def sd_from_cv(cv: float) -> float:
    """The log-scale sd of a lognormal figure with this CV (about the CV itself when small)."""
    return math.sqrt(math.log1p(cv**2))


def cv_from_sd(sd: float) -> float:
    """The CV of a lognormal figure with this log-scale sd."""
    return math.sqrt(math.expm1(sd**2))


def sd_upper_bound(sd: float, df: float, confidence: float = CV_BOUND_CONFIDENCE) -> float:
    """One-sided upper confidence bound of a standard deviation estimated with df degrees of freedom."""
    return sd * math.sqrt(df / float(stats.chi2.ppf(1 - confidence, df)))


def _check(n: int, alpha: float) -> None:
    if n < 2:
        raise ValueError(f"n must be >= 2 runs per group, got {n}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be strictly between 0 and 1, got {alpha!r}")


def _grid(n: int, design: Design, welch: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Integration weights, df (over the share axis) and se / sd of the estimate (over the chi-square
    axis), broadcastable against each other; and the estimate's sd per unit run sd."""
    if design == "paired":
        chi = special.chdtri(n - 1, 1 - _NODES)  # chi-square quantiles (scipy.special: fast, no checks)
        return _WEIGHTS, np.array(n - 1.0), np.sqrt(chi / (n - 1)), 1 / math.sqrt(n)
    se_unit = np.sqrt(special.chdtri(2 * n - 2, 1 - _NODES) / (2 * n - 2))[None, :]
    if welch:
        share = special.betaincinv((n - 1) / 2, (n - 1) / 2, _NODES)[:, None]
        weights = _WEIGHTS[:, None] * _WEIGHTS[None, :]
        return weights, (n - 1) / (share**2 + (1 - share) ** 2), se_unit, math.sqrt(2 / n)
    return _WEIGHTS[None, :], np.array(2 * n - 2.0), se_unit, math.sqrt(2 / n)


def power(
    n: int,
    sd: float,
    effect: float,
    alpha: float,
    *,
    design: Design = "independent",
    goal: Goal = "difference",
    bound: float = 0.0,
    welch: bool = True,
) -> float:
    """Chance that the verdict's test decides, with n runs a side (or n pairs).

    sd: the log-scale sd of one run's figure (paired: of one pair's log ratio); effect: the
    true log ratio. goal "difference": the two-sided t-test at alpha rejects; "equivalence":
    TOST at alpha shows |log ratio| < bound.
    """
    _check(n, alpha)
    if not (math.isfinite(sd) and sd > 0):
        raise ValueError(f"sd must be positive and finite, got {sd!r}")
    weights, df, se_unit, sd_unit = _grid(n, design, welch)
    sd_est = sd * sd_unit
    se = sd_est * se_unit
    if goal == "difference":
        t_crit = special.stdtrit(df, 1 - alpha / 2)
        hit = special.ndtr((effect - t_crit * se) / sd_est) + special.ndtr((-effect - t_crit * se) / sd_est)
    else:
        t_crit = special.stdtrit(df, 1 - alpha)
        upper = special.ndtr((bound - t_crit * se - effect) / sd_est)
        lower = special.ndtr((-bound + t_crit * se - effect) / sd_est)
        hit = np.maximum(0.0, upper - lower)
    return float(np.sum(weights * hit))


def t_test_power(n: int, d: float, alpha: float = 0.05, test: PowerTest = "student") -> float:
    """Power of the two-sided two-sample t-test with n per group at Cohen's d (pooled or Welch)."""
    if not math.isfinite(d):
        raise ValueError(f"d must be finite, got {d!r}")
    if test not in ("student", "welch"):
        raise ValueError(f"test must be 'student' or 'welch', got {test!r}")
    return power(n, 1.0, abs(d), alpha, welch=test == "welch")


def _smallest_n(reaches: Any, target: float, what: str) -> int:
    """Smallest n >= 2 with reaches(n) >= target (power grows with n): bracket, then bisect."""
    high = 2
    while reaches(high) < target:
        high *= 2
        if high > MAX_PLANNED_RUNS:
            raise ValueError(f"{what} needs more than {MAX_PLANNED_RUNS:,} runs a side")
    low = high // 2 if high > 2 else 1
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (low, mid) if reaches(mid) >= target else (mid, high)
    return high


def runs_needed(
    cv: float, effect: float, alpha: float = 0.05, power_target: float = DEFAULT_POWER, test: PowerTest = "student"
) -> int:
    """Runs per side for a two-sample t-test on raw figures to detect effect at this CV.

    It reproduces the table in docs/statistics.md."""
    if not (cv > 0 and effect > 0):
        raise ValueError(f"cv and effect must be positive, got {cv!r} and {effect!r}")
    d = effect / cv
    return _smallest_n(lambda n: t_test_power(n, d, alpha, test), power_target, f"effect {effect} at CV {cv}")


def runs_needed_log(
    sd: float,
    alpha: float,
    power_target: float = DEFAULT_POWER,
    *,
    effect: float = 0.0,
    goal: Goal = "difference",
    bound: float = 0.0,
    design: Design = "independent",
) -> int:
    """Runs a side (pairs when paired) for the verdict's test on logs to decide with this power (>= MIN_RUNS)."""
    what = (f"equivalence within {math.expm1(bound):.2%}" if goal == "equivalence"
            else f"a {math.expm1(effect):.2%} difference")
    found = _smallest_n(
        lambda n: power(n, sd, effect, alpha, design=design, goal=goal, bound=bound), power_target, what
    )
    return max(MIN_RUNS, found)


def plan_for_contrast(
    contrast: LogContrast, alpha: float, margin: float, power_target: float = DEFAULT_POWER,
    cv_floor: float = DEFAULT_CV_FLOOR,
) -> tuple[int | None, str]:
    """Runs a side a comparison that reached no verdict needs, and its assumptions in one line.

    Inside the margin it plans TOST equivalence assuming no true difference; outside it plans
    to detect the observed difference. The noise is the upper 80% bound of the observed sd.
    """
    df = contrast.n_a - 1 if contrast.paired else contrast.n_a + contrast.n_b - 2
    sd = max(sd_upper_bound(contrast.sd, df), cv_floor * (math.sqrt(2) if contrast.paired else 1.0))
    bound = math.log1p(margin)
    design: Design = "paired" if contrast.paired else "independent"
    unit = "pairs" if contrast.paired else "runs a side"
    noise = (f"CV {cv_from_sd(sd):.2%} ({'per pair ratio, ' if contrast.paired else ''}upper "
             f"{CV_BOUND_CONFIDENCE:.0%} bound of the observed {cv_from_sd(contrast.sd):.2%})")
    try:
        if abs(contrast.estimate) < bound:
            n = runs_needed_log(sd, alpha, power_target, goal="equivalence", bound=bound, design=design)
            return n, (f"{n} {unit} to show equivalence within {margin:.0%} (TOST at alpha {alpha:.3g}, power "
                       f"{power_target:.0%}, if there is no true difference; {noise})")
        effect = abs(contrast.estimate)
        n = runs_needed_log(sd, alpha, power_target, effect=effect, design=design)
        return n, (f"{n} {unit} to detect a {math.expm1(effect):.1%} difference (the observed one; two-sided "
                   f"{contrast.method} at alpha {alpha:.3g}, power {power_target:.0%}; {noise})")
    except ValueError as exc:
        return None, f"{exc} ({noise})"


def course_answer(
    effect: float, p_value: float, runs: int, alpha: float = 0.05, power_target: float = DEFAULT_POWER
) -> dict[str, Any]:
    """'You measure a 5% speedup with p = 0.06 over 5 runs a side: significant? how many runs?'

    The noise is inferred from what was measured: a two-sided Welch t-test on log run figures
    with equal runs a side gave p, so |t| = t.isf(p / 2, 2 runs - 2) and the per-run log sd is
    log(1 + effect) / (|t| sqrt(2 / runs)). The plan uses its upper 80% bound.
    """
    if not (math.isfinite(effect) and effect > 0):
        raise ValueError(f"effect must be positive (0.05 for 5%), got {effect!r}")
    if not 0 < p_value < 1:
        raise ValueError(f"p-value must be strictly between 0 and 1, got {p_value!r}")
    if runs < 2:
        raise ValueError(f"runs must be >= 2 a side, got {runs}")
    df = 2 * runs - 2
    log_effect = math.log1p(effect)
    t_obs = float(stats.t.isf(p_value / 2, df))
    sd = log_effect / (t_obs * math.sqrt(2 / runs))
    sd_high = sd_upper_bound(sd, df)
    needed = runs_needed_log(sd_high, alpha, power_target, effect=log_effect)
    needed_at_estimate = runs_needed_log(sd, alpha, power_target, effect=log_effect)
    significant = p_value < alpha
    verdict = (f"p = {p_value:g} is below alpha {alpha:g}: significant, the {effect:.0%} difference is established"
               if significant else
               f"p = {p_value:g} is not below alpha {alpha:g}: not significant, the {effect:.0%} difference is "
               "not established")
    line = (f"{verdict}; the noise it implies (CV {cv_from_sd(sd):.1%} a run, up to {cv_from_sd(sd_high):.1%} at "
            f"{CV_BOUND_CONFIDENCE:.0%} confidence) needs {needed} runs a side ({needed_at_estimate} at CV "
            f"{cv_from_sd(sd):.1%}) to detect a true {effect:.0%} difference with {power_target:.0%} power "
            f"(two-sided Welch t on log run figures, alpha {alpha:g}; you ran {runs} a side).")
    return {
        "effect": effect, "p_value": p_value, "runs": runs, "alpha": alpha, "power": power_target,
        "significant": significant, "implied_cv": cv_from_sd(sd), "cv_upper_bound": cv_from_sd(sd_high),
        "cv_bound_confidence": CV_BOUND_CONFIDENCE, "runs_per_side": needed,
        "runs_per_side_at_implied_cv": needed_at_estimate, "answer": line,
    }


def plan(
    cv: float, effect: float, power_target: float, alpha: float, margin: float, percentiles: Sequence[float]
) -> dict[str, Any]:
    """Prospective plan: runs a side to detect `effect` and to show equivalence, and queries per percentile."""
    sd = max(sd_from_cv(cv), DEFAULT_CV_FLOOR)
    detect = runs_needed_log(sd, alpha, power_target, effect=math.log1p(effect))
    equivalent = runs_needed_log(sd, alpha, power_target, goal="equivalence", bound=math.log1p(margin))
    return {
        "cv": cv,
        "cv_source": "prospective (--cv)",
        "effect": effect,
        "margin": margin,
        "power": power_target,
        "alpha": alpha,
        "runs_per_side": detect,
        "runs_per_side_equivalence": equivalent,
        "test": "two-sided Welch t on log run figures, headline figure tested alone",
        "rule_of_thumb": 15.7 * (cv / effect) ** 2,
        "queries_per_run": {str(p): min_queries_for_percentile_interval(p) for p in percentiles},
    }
