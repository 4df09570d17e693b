"""Statistics for benchmark claims: intervals, A-vs-B tests, run planning, normalized metrics.

Pure functions over numpy arrays: no I/O, no printing; the command line formats and prints.
The unit of replication is a run: pass one figure per run (a run's mean latency, its
throughput), not per-query values, which are correlated inside a run.

Choices worth knowing (see /work/shared/spec/statistics.md):

- Means get a Student-t interval and a BCa bootstrap interval; percentiles get the exact,
  distribution-free order-statistic interval, or None when n is too small for a finite one.
- A ratio is always "how many times better B is than A" (> 1: B better), whichever way
  the metric points: mean(a) / mean(b) for lower-is-better (time), mean(b) / mean(a) for
  higher-is-better (throughput).
- Equivalence (TOST) is tested on the log scale: two one-sided Welch tests of
  mean(log b) - mean(log a) against +/- log(1 + margin). The log ratio is symmetric (A vs B
  and B vs A give the same p-value), scale-free, and carries the uncertainty of both means;
  a test on the relative difference (b - a) / mean(a) would treat mean(a) as known.
- runs_needed is the exact two-sample (equal n) t-test sample size from the noncentral t
  distribution, with Cohen's d = effect / CV, two-sided, counting both tails. By default
  it plans for the pooled t-test (the table in statistics.md); test="welch" plans for the
  Welch test the verdict uses, which needs one more run at the smallest n. A comparison's
  runs_needed uses "welch", floored at 3 (the fewest runs that get a bootstrap interval).
- Bootstraps use a fixed seed, so the same data always gives the same interval.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy import special, stats

__all__ = [
    "ACCURACY_DELTA_FORMULA",
    "COMPRESSION_FORMULA",
    "EFFICIENCY_FORMULA",
    "SPEEDUP_FORMULA",
    "Comparison",
    "GatedSpeedup",
    "Interval",
    "RatioEstimate",
    "RunSummary",
    "TestResult",
    "TostResult",
    "accuracy_delta",
    "compare_metric",
    "compare_metrics",
    "compression_ratio",
    "efficiency_score",
    "format_comparison",
    "gated_speedup",
    "holm",
    "mann_whitney",
    "min_samples_for_percentile_interval",
    "noise_warnings",
    "percentile_interval",
    "queries_needed_for_percentile",
    "ratio_interval",
    "runs_needed",
    "speedup",
    "summarize_runs",
    "t_test_power",
    "tost",
    "welch_t_test",
]

Statistic = Literal["mean", "median"]
Alternative = Literal["two-sided", "less", "greater"]
PowerTest = Literal["student", "welch"]

VERDICT_EQUIVALENT = "equivalent"
VERDICT_UNKNOWN = "not enough evidence"
MIN_RUNS_FOR_INTERVAL = 3  # below this a bootstrap interval is not computed (None)
MAX_PLANNED_RUNS = 2**30  # runs_needed gives up beyond this rather than loop on

SPEEDUP_FORMULA = "speedup = baseline_time / optimized_time"
COMPRESSION_FORMULA = "compression ratio = baseline_size / optimized_size"
ACCURACY_DELTA_FORMULA = "accuracy delta = optimized_accuracy - baseline_accuracy"
EFFICIENCY_FORMULA = "efficiency = (speedup x compression) / (1 + |accuracy delta|)"


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Interval:
    """A confidence interval that says how it was computed, so a report can name it."""

    low: float
    high: float
    confidence: float
    method: str

    def contains(self, value: float) -> bool:
        """Whether value lies inside the closed interval (coverage checks, 'excludes 1')."""
        return self.low <= value <= self.high


@dataclass(frozen=True)
class RunSummary:
    """Per-metric summary of repeated runs: spread and intervals, never a bare mean."""

    n: int
    median: float
    mean: float
    std: float | None  # sample std (ddof=1); None when n < 2
    cv: float | None  # std / |mean|; None when n < 2 or mean == 0
    iqr: float
    min: float
    max: float
    t_interval: Interval | None  # None when n < 2
    bca_interval: Interval | None  # None when n < 3 or all values are equal

    def as_json(self) -> dict[str, Any]:
        """Plain JSON-ready dict; intervals become [low, high] lists or null."""
        return {
            "n": self.n,
            "median": self.median,
            "mean": self.mean,
            "std": self.std,
            "cv": self.cv,
            "iqr": self.iqr,
            "min": self.min,
            "max": self.max,
            "t_interval": _interval_json(self.t_interval),
            "bca_interval": _interval_json(self.bca_interval),
        }


@dataclass(frozen=True)
class RatioEstimate:
    """How many times better B is than A (> 1: B better), with its bootstrap interval."""

    ratio: float
    interval: Interval | None  # None when a side has < 3 runs or the bootstrap fails


@dataclass(frozen=True)
class TestResult:
    """A hypothesis test's statistic and p-value, named so reports can cite the test."""

    __test__ = False  # not a pytest test class despite the name

    statistic: float
    p_value: float
    method: str


@dataclass(frozen=True)
class TostResult:
    """Equivalence test: p_value = max of the two one-sided p-values (log-ratio scale)."""

    p_value: float
    p_lower: float  # H0: B worse than A by more than the margin
    p_upper: float  # H0: B better than A by more than the margin
    log_ratio: float  # mean(log b) - mean(log a), oriented so > 0 means B better
    margin: float


@dataclass(frozen=True)
class Comparison:
    """One metric's A-vs-B result; p_adjusted and verdict reflect Holm across metrics."""

    metric: str
    ratio: float
    ci_low: float | None
    ci_high: float | None
    p_value: float  # Welch, unadjusted
    p_mann_whitney: float
    p_adjusted: float  # Holm across the metrics compared together
    p_equivalence: float  # TOST
    verdict: str
    runs_needed: int | None  # runs a side to decide; None once a verdict is reached
    n_a: int
    n_b: int
    cv: float  # pooled CV of the per-run figures
    higher_is_better: bool
    margin: float
    alpha: float
    word_better: str = "faster"
    word_worse: str = "slower"

    def as_json(self) -> dict[str, Any]:
        """The issue's keys (p_value is the Holm-adjusted Welch p) plus the raw p-values."""
        return {
            "metric": self.metric,
            "ratio": self.ratio,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "p_value": self.p_adjusted,
            "verdict": self.verdict,
            "runs_needed": self.runs_needed,
            "p_welch_unadjusted": self.p_value,
            "p_mann_whitney": self.p_mann_whitney,
            "p_equivalence": self.p_equivalence,
            "margin": self.margin,
            "n_a": self.n_a,
            "n_b": self.n_b,
        }


@dataclass(frozen=True)
class GatedSpeedup:
    """A speedup that is never shown without the accuracy it cost."""

    speedup: float
    accuracy_delta: float
    flagged: bool  # accuracy fell by more than the tolerance
    note: str


# --------------------------------------------------------------------------- validation


def _sample(values: ArrayLike, name: str, min_n: int = 1, positive: bool = False) -> np.ndarray:
    """A 1-D float array of finite values, or a ValueError naming the argument."""
    x = np.asarray(values, dtype=float)
    if x.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one figure per run), got shape {x.shape}")
    if x.size < min_n:
        raise ValueError(f"{name} needs at least {min_n} values, got {x.size}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} must contain only finite values")
    if positive and np.any(x <= 0):
        raise ValueError(f"{name} must contain only positive values (times, rates, sizes)")
    return x


def _positive(value: float, name: str) -> float:
    """value as a float if positive and finite, else a ValueError naming it."""
    v = float(value)
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{name} must be positive and finite, got {value!r}")
    return v


def _finite(value: float, name: str) -> float:
    """value as a float if finite, else a ValueError naming it."""
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return v


def _probability(value: float, name: str) -> float:
    """value as a float strictly between 0 and 1, else a ValueError naming it."""
    v = float(value)
    if not 0.0 < v < 1.0:
        raise ValueError(f"{name} must be strictly between 0 and 1, got {value!r}")
    return v


def _interval_json(interval: Interval | None) -> list[float] | None:
    """[low, high] or None, for JSON output."""
    return None if interval is None else [interval.low, interval.high]


# --------------------------------------------------------------------------- summaries


def summarize_runs(
    values: ArrayLike, confidence: float = 0.95, seed: int = 0, n_resamples: int = 9999
) -> RunSummary:
    """Median, mean with t and BCa intervals, CV and n of one metric's per-run figures."""
    x = _sample(values, "values")
    _probability(confidence, "confidence")
    n = x.size
    mean = float(np.mean(x))
    std = float(np.std(x, ddof=1)) if n >= 2 else None
    cv = std / abs(mean) if std is not None and mean != 0 else None
    q1, median, q3 = (float(v) for v in np.percentile(x, [25, 50, 75]))
    return RunSummary(
        n=n,
        median=median,
        mean=mean,
        std=std,
        cv=cv,
        iqr=q3 - q1,
        min=float(np.min(x)),
        max=float(np.max(x)),
        t_interval=_t_interval(x, confidence),
        bca_interval=_bca_mean_interval(x, confidence, seed, n_resamples),
    )


def _t_interval(x: np.ndarray, confidence: float) -> Interval | None:
    """Student-t interval for the mean; a point when all values are equal; None if n < 2."""
    n = x.size
    if n < 2:
        return None
    mean = float(np.mean(x))
    half = float(stats.t.ppf((1 + confidence) / 2, n - 1)) * float(np.std(x, ddof=1)) / math.sqrt(n)
    return Interval(mean - half, mean + half, confidence, "student-t")


def _bca_mean_interval(
    x: np.ndarray, confidence: float, seed: int, n_resamples: int
) -> Interval | None:
    """BCa bootstrap interval for the mean; None when n < 3 or there is no spread."""
    if x.size < MIN_RUNS_FOR_INTERVAL or np.all(x == x[0]):
        return None
    bounds = _bootstrap((x,), _mean_stat, False, confidence, seed, n_resamples)
    return None if bounds is None else Interval(*bounds, confidence, "bootstrap BCa")


def _mean_stat(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Vectorised mean, the statistic scipy's bootstrap resamples."""
    return np.mean(x, axis=axis)


def _bootstrap(
    data: tuple[np.ndarray, ...],
    statistic: Callable[..., np.ndarray],
    paired: bool,
    confidence: float,
    seed: int,
    n_resamples: int,
) -> tuple[float, float] | None:
    """BCa bounds; a point when every resample agrees; None when BCa is undefined (NaN)."""
    with warnings.catch_warnings():
        # BCa's jackknife divides by zero when resamples cannot vary; handled below.
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        res = stats.bootstrap(
            data,
            statistic,
            n_resamples=n_resamples,
            vectorized=True,
            paired=paired,
            confidence_level=confidence,
            method="BCa",
            random_state=np.random.default_rng(seed),
        )
    dist = res.bootstrap_distribution
    if np.all(dist == dist[0]):
        return float(dist[0]), float(dist[0])
    low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if not (math.isfinite(low) and math.isfinite(high)):
        return None
    return low, high


# --------------------------------------------------------------------------- percentiles


def percentile_interval(values: ArrayLike, q: float, confidence: float = 0.95) -> Interval | None:
    """Exact order-statistic interval for the q-quantile; None when n is too small for it."""
    x = _sample(values, "values")
    _probability(q, "q")
    _probability(confidence, "confidence")
    ci = stats.quantile_test(x, p=q).confidence_interval(confidence)
    low, high = float(ci.low), float(ci.high)
    if not (math.isfinite(low) and math.isfinite(high)):
        return None
    return Interval(low, high, confidence, "order statistic (binomial)")


def _order_statistic_interval_is_finite(n: int, q: float, confidence: float) -> bool:
    """Whether quantile_test's two-sided interval has both ends for n samples (same rule)."""
    tail = (1 - confidence) / 2
    dist = stats.binom(n, q)
    return int(dist.ppf(tail)) - 1 >= 0 and int(dist.isf(tail)) < n


def min_samples_for_percentile_interval(q: float, confidence: float = 0.95) -> int:
    """Smallest n whose two-sided q-quantile interval is finite (p99 at 95%: 368)."""
    _probability(q, "q")
    _probability(confidence, "confidence")
    tail = (1 - confidence) / 2
    # Both ends exist once max(q, 1 - q)^n <= tail; start just below and step to be exact.
    n = max(1, math.ceil(math.log(tail) / math.log(max(q, 1 - q))) - 3)
    while not _order_statistic_interval_is_finite(n, q, confidence):
        n += 1
    return n


def queries_needed_for_percentile(q: float, confidence: float = 0.95) -> int:
    """Queries a run needs before its q-percentile can carry a finite interval."""
    return min_samples_for_percentile_interval(q, confidence)


# --------------------------------------------------------------------------- ratios


def _ratio_statistic(higher_is_better: bool, statistic: Statistic) -> Callable[..., np.ndarray]:
    """Vectorised 'times better B is than A' for scipy's bootstrap."""
    centre = {"mean": np.mean, "median": np.median}[statistic]

    def ratio(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
        ca, cb = centre(a, axis=axis), centre(b, axis=axis)
        return cb / ca if higher_is_better else ca / cb

    return ratio


def ratio_interval(
    a: ArrayLike,
    b: ArrayLike,
    *,
    higher_is_better: bool,
    confidence: float = 0.95,
    paired: bool = False,
    statistic: Statistic = "mean",
    seed: int = 0,
    n_resamples: int = 9999,
) -> RatioEstimate:
    """Ratio 'how many times better B is than A' with a BCa bootstrap interval."""
    xa = _sample(a, "a", min_n=2, positive=True)
    xb = _sample(b, "b", min_n=2, positive=True)
    _probability(confidence, "confidence")
    if statistic not in ("mean", "median"):
        raise ValueError(f"statistic must be 'mean' or 'median', got {statistic!r}")
    if paired and xa.size != xb.size:
        raise ValueError(f"paired needs equal run counts, got a={xa.size} and b={xb.size}")
    fn = _ratio_statistic(higher_is_better, statistic)
    ratio = float(fn(xa, xb))
    if min(xa.size, xb.size) < MIN_RUNS_FOR_INTERVAL:
        return RatioEstimate(ratio, None)
    bounds = _bootstrap((xa, xb), fn, paired, confidence, seed, n_resamples)
    method = "bootstrap BCa, " + ("paired" if paired else "independent")
    interval = None if bounds is None else Interval(*bounds, confidence, method)
    return RatioEstimate(ratio, interval)


# --------------------------------------------------------------------------- tests


def _welch(x: np.ndarray, y: np.ndarray, alternative: Alternative) -> TestResult:
    """Welch's t-test of mean(x) vs mean(y); with no spread on either side, the limit."""
    if np.all(x == x[0]) and np.all(y == y[0]):
        # scipy gives NaN for equal constants; the zero-variance limit is p = 1 or 0.
        diff = float(x[0] - y[0])
        holds = {"two-sided": diff != 0, "greater": diff > 0, "less": diff < 0}[alternative]
        return TestResult(math.copysign(math.inf, diff) if diff else 0.0, 0.0 if holds else 1.0,
                          "welch t")
    res = stats.ttest_ind(x, y, equal_var=False, alternative=alternative)
    return TestResult(float(res.statistic), float(res.pvalue), "welch t")


def welch_t_test(a: ArrayLike, b: ArrayLike) -> TestResult:
    """Two-sided Welch t-test on per-run figures: unequal variances are the norm."""
    return _welch(_sample(a, "a", min_n=2), _sample(b, "b", min_n=2), "two-sided")


def mann_whitney(a: ArrayLike, b: ArrayLike) -> TestResult:
    """Two-sided Mann-Whitney U: no normality assumed (cannot reach p < 0.05 below 4 a side)."""
    xa, xb = _sample(a, "a"), _sample(b, "b")
    res = stats.mannwhitneyu(xa, xb, alternative="two-sided")
    return TestResult(float(res.statistic), float(res.pvalue), "mann-whitney u")


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm step-down adjusted p-values (statsmodels' definition), in the input order."""
    p = np.asarray(p_values, dtype=float)
    if p.ndim != 1:
        raise ValueError(f"p_values must be 1-D, got shape {p.shape}")
    if np.any(~np.isfinite(p)) or np.any((p < 0) | (p > 1)):
        raise ValueError("p_values must all be in [0, 1]")
    m = p.size
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate(p[order] * np.arange(m, 0, -1))
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(stepped, 1.0)
    return [float(v) for v in adjusted]


def tost(
    a: ArrayLike, b: ArrayLike, margin: float = 0.02, *, higher_is_better: bool = False
) -> TostResult:
    """Equivalence within +/- margin: two one-sided Welch tests on the log scale."""
    la = np.log(_sample(a, "a", min_n=2, positive=True))
    lb = np.log(_sample(b, "b", min_n=2, positive=True))
    bound = math.log1p(_positive(margin, "margin"))
    # Equivalence holds when -bound < mean(lb) - mean(la) < bound; the direction of
    # "better" only orients the reported log ratio, the test itself is symmetric.
    p_above_low = _welch(lb + bound, la, "greater").p_value
    p_below_high = _welch(lb - bound, la, "less").p_value
    diff = float(np.mean(lb) - np.mean(la))
    if higher_is_better:
        return TostResult(max(p_above_low, p_below_high), p_above_low, p_below_high, diff, margin)
    return TostResult(max(p_above_low, p_below_high), p_below_high, p_above_low, -diff, margin)


# --------------------------------------------------------------------------- planning


# 64-point Gauss-Legendre rule on [0, 1], for the Welch power integral below.
_GL_X, _GL_W = special.roots_legendre(64)
_GL_NODES, _GL_WEIGHTS = (_GL_X + 1) / 2, _GL_W / 2


def t_test_power(n: int, d: float, alpha: float = 0.05, test: PowerTest = "student") -> float:
    """Power of the two-sided two-sample t-test, n per group, both tails counted.

    "student" is the pooled test with df = 2n - 2 (the textbook table). "welch" is exact
    for equal n and equal variances: the t statistic then equals the pooled one, and its
    df, (n - 1) / (B^2 + (1 - B)^2) with B = s1^2 / (s1^2 + s2^2) ~ Beta((n-1)/2, (n-1)/2),
    depends only on B, which is independent of s1^2 + s2^2; so power is a 1-D integral
    over B, taken by Gauss-Legendre in B's quantile.
    """
    if n < 2:
        raise ValueError(f"n must be >= 2 runs per group, got {n}")
    _finite(d, "d")
    _probability(alpha, "alpha")
    if test not in ("student", "welch"):
        raise ValueError(f"test must be 'student' or 'welch', got {test!r}")
    df = 2 * n - 2
    ncp = d * math.sqrt(n / 2)
    if test == "student":
        t_crit: float | np.ndarray = float(stats.t.isf(alpha / 2, df))
    else:
        share = stats.beta.ppf(_GL_NODES, (n - 1) / 2, (n - 1) / 2)
        t_crit = stats.t.isf(alpha / 2, (n - 1) / (share**2 + (1 - share) ** 2))
    hit = stats.nct.sf(t_crit, df, ncp) + stats.nct.cdf(-t_crit, df, ncp)
    return float(hit) if test == "student" else float(np.sum(_GL_WEIGHTS * hit))


def runs_needed(
    cv: float, effect: float, alpha: float = 0.05, power: float = 0.8, test: PowerTest = "student"
) -> int:
    """Runs per side for a two-sample t-test to detect a relative effect at this CV.

    The default, the pooled ("student") test, reproduces the table in statistics.md.
    test="welch" plans for the Welch test that compare_metric's verdict uses; it differs
    only at very small n (CV 3%, effect 10%: 3 pooled, but Welch at n = 3 has power 0.76).
    """
    d = _positive(effect, "effect") / _positive(cv, "cv")
    _probability(power, "power")
    high = 2
    while t_test_power(high, d, alpha, test) < power:  # power grows with n: bracket, bisect
        high *= 2
        if high > MAX_PLANNED_RUNS:
            raise ValueError(f"effect {effect!r} at cv {cv!r} needs over {MAX_PLANNED_RUNS} runs")
    low = high // 2 if high > 2 else 1  # power(low) < target, or low below the minimum 2
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (low, mid) if t_test_power(mid, d, alpha, test) >= power else (mid, high)
    return high


# --------------------------------------------------------------------------- comparisons


def _pooled_cv(a: np.ndarray, b: np.ndarray) -> float:
    """CV pooled over both sides, weighting each by its degrees of freedom."""
    cv_a = float(np.std(a, ddof=1) / np.mean(a))
    cv_b = float(np.std(b, ddof=1) / np.mean(b))
    dof_a, dof_b = a.size - 1, b.size - 1
    return math.sqrt((dof_a * cv_a**2 + dof_b * cv_b**2) / (dof_a + dof_b))


def _decide(c: Comparison, power: float = 0.8) -> Comparison:
    """Verdict and runs needed from the (adjusted) p-value, the interval and TOST."""
    excludes_one = c.ci_low is not None and c.ci_high is not None and not (
        c.ci_low <= 1.0 <= c.ci_high
    )
    if c.p_adjusted < c.alpha and excludes_one:
        verdict = c.word_better if c.ratio > 1 else c.word_worse
    elif c.p_equivalence < c.alpha:
        verdict = VERDICT_EQUIVALENT
    else:
        verdict = VERDICT_UNKNOWN
    needed = None
    if verdict == VERDICT_UNKNOWN:
        effect = max(abs(c.ratio - 1.0), c.margin)
        needed = MIN_RUNS_FOR_INTERVAL
        if c.cv > 0:
            needed = max(needed, runs_needed(c.cv, effect, c.alpha, power, test="welch"))
    return replace(c, verdict=verdict, runs_needed=needed)


def compare_metric(
    name: str,
    a: ArrayLike,
    b: ArrayLike,
    higher_is_better: bool,
    margin: float = 0.02,
    alpha: float = 0.05,
    seed: int = 0,
    *,
    paired: bool = False,
    n_resamples: int = 9999,
    word_better: str = "faster",
    word_worse: str = "slower",
) -> Comparison:
    """Compare B against A on one metric's per-run figures (alone: Holm of one = raw p)."""
    xa = _sample(a, "a", min_n=2, positive=True)
    xb = _sample(b, "b", min_n=2, positive=True)
    _positive(margin, "margin")
    _probability(alpha, "alpha")
    est = ratio_interval(xa, xb, higher_is_better=higher_is_better, confidence=1 - alpha,
                         paired=paired, seed=seed, n_resamples=n_resamples)
    p_welch = welch_t_test(xa, xb).p_value
    draft = Comparison(
        metric=name,
        ratio=est.ratio,
        ci_low=None if est.interval is None else est.interval.low,
        ci_high=None if est.interval is None else est.interval.high,
        p_value=p_welch,
        p_mann_whitney=mann_whitney(xa, xb).p_value,
        p_adjusted=p_welch,
        p_equivalence=tost(xa, xb, margin, higher_is_better=higher_is_better).p_value,
        verdict=VERDICT_UNKNOWN,
        runs_needed=None,
        n_a=xa.size,
        n_b=xb.size,
        cv=_pooled_cv(xa, xb),
        higher_is_better=higher_is_better,
        margin=margin,
        alpha=alpha,
        word_better=word_better,
        word_worse=word_worse,
    )
    return _decide(draft)


def compare_metrics(
    metrics: Sequence[tuple[str, ArrayLike, ArrayLike, bool]],
    margin: float = 0.02,
    alpha: float = 0.05,
    seed: int = 0,
    **options: Any,
) -> list[Comparison]:
    """compare_metric for each (name, a, b, higher_is_better), Holm-adjusted across them."""
    names = [m[0] for m in metrics]
    if len(set(names)) != len(names):
        raise ValueError(f"metric names must be unique, got {names}")
    raw = [compare_metric(n, a, b, hib, margin, alpha, seed, **options) for n, a, b, hib in metrics]
    adjusted = holm([c.p_value for c in raw])
    return [_decide(replace(c, p_adjusted=p)) for c, p in zip(raw, adjusted, strict=True)]


def format_comparison(c: Comparison) -> str:
    """One line for a report: '1.23x faster [1.18, 1.29]' or what evidence is missing."""
    if c.verdict == c.word_better and c.ci_low is not None and c.ci_high is not None:
        return f"{c.ratio:.2f}x {c.word_better} [{c.ci_low:.2f}, {c.ci_high:.2f}]"
    if c.verdict == c.word_worse and c.ci_low is not None and c.ci_high is not None:
        return f"{1 / c.ratio:.2f}x {c.word_worse} [{1 / c.ci_high:.2f}, {1 / c.ci_low:.2f}]"
    if c.verdict == VERDICT_EQUIVALENT:
        return f"equivalent within {c.margin:.0%} (ratio {c.ratio:.3f})"
    return f"not enough evidence: needs about {c.runs_needed} runs a side (ratio {c.ratio:.3f})"


# --------------------------------------------------------------------------- normalized


def speedup(baseline_time: float, optimized_time: float) -> float:
    """speedup = baseline_time / optimized_time (> 1: the optimized model is faster)."""
    return _positive(baseline_time, "baseline_time") / _positive(optimized_time, "optimized_time")


def compression_ratio(baseline_size: float, optimized_size: float) -> float:
    """compression ratio = baseline_size / optimized_size (> 1: the optimized model is smaller)."""
    return _positive(baseline_size, "baseline_size") / _positive(optimized_size, "optimized_size")


def accuracy_delta(baseline_acc: float, optimized_acc: float) -> float:
    """accuracy delta = optimized - baseline (< 0: the optimization cost accuracy)."""
    return _finite(optimized_acc, "optimized_acc") - _finite(baseline_acc, "baseline_acc")


def efficiency_score(speedup: float, compression: float, accuracy_delta: float) -> float:
    """(speedup x compression) / (1 + |accuracy delta|): one number, printed with its formula."""
    gain = _positive(speedup, "speedup") * _positive(compression, "compression")
    return gain / (1 + abs(_finite(accuracy_delta, "accuracy_delta")))


def gated_speedup(speedup: float, accuracy_delta: float, tolerance: float = 0.01) -> GatedSpeedup:
    """A speedup paired with its accuracy delta, flagged when accuracy fell past tolerance."""
    s = _positive(speedup, "speedup")
    delta = _finite(accuracy_delta, "accuracy_delta")
    tol = _finite(tolerance, "tolerance")
    if tol < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance!r}")
    flagged = delta < -tol
    note = f"speedup {s:.2f}x with accuracy delta {delta:+.4f}"
    if flagged:
        note += f": accuracy fell by more than the {tol:.4f} tolerance"
    return GatedSpeedup(s, delta, flagged, note)


# --------------------------------------------------------------------------- noise


def noise_warnings(values: ArrayLike) -> list[str]:
    """Warnings that the per-run figures are too noisy to trust (statistics.md thresholds)."""
    x = _sample(values, "values")
    mean = float(np.mean(x))
    if mean == 0:
        return []
    found = []
    if x.size >= 2:
        cv = float(np.std(x, ddof=1)) / abs(mean)
        if cv >= 0.10:
            found.append(f"std is {cv:.1%} of the mean: results are noisy")
    low, high = (float(v) for v in (np.min(x), np.max(x)))
    if abs(low - mean) > 0.5 * abs(mean):
        found.append(f"min is {abs(low - mean) / abs(mean):.0%} from the mean: an outlier run")
    if abs(high - mean) > 0.5 * abs(mean):
        found.append(f"max is {abs(high - mean) / abs(mean):.0%} from the mean: an outlier run")
    return found
