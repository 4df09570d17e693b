"""Statistics for benchmark claims: intervals that cover what they say, and the tests beside them.

Pure functions over numpy arrays: no I/O, no printing. The unit of replication is a run:
pass one figure per run (a run's mean latency, its throughput), never per-query values,
which are correlated inside a run. Every method here was chosen for its coverage at the
3-30 runs people use, measured by loadgen.analysis.coverage (docs/statistics.md):

- A ratio "how many times better B is than A" is a ratio of geometric means: a Welch t
  interval on the log per-run figures, exponentiated (or, for interleaved ABBA runs, a
  one-sample t interval on the log ratios of adjacent pairs). Run-to-run noise is roughly
  multiplicative, so logs make it symmetric and the ratio scale-free; BCa bootstrap
  intervals covered only 0.79-0.88 at 3-5 runs and are not used.
- A mean gets a Student-t interval. A percentile of one run's latencies gets a batch-means
  interval over the run's queries in issue order (queries of a loaded server are strongly
  autocorrelated, so an order-statistic interval that assumes independence undercovers),
  or none when the run is too short for one.
- No per-run standard deviation is believed below a floor (DEFAULT_CV_FLOOR): three equal
  runs do not prove infinite precision.
- Outlier runs are found robustly and reported with a robust alternative ratio (a
  Hodges-Lehmann median ratio with its distribution-free interval).
- Mann-Whitney U is exact (enumerated, ties included) whenever that is affordable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

__all__ = [
    "ACCURACY_DELTA_FORMULA",
    "COMPRESSION_FORMULA",
    "DEFAULT_CV_FLOOR",
    "EFFICIENCY_FORMULA",
    "SPEEDUP_FORMULA",
    "GatedSpeedup",
    "Interval",
    "LogContrast",
    "RatioEstimate",
    "RunSummary",
    "TestResult",
    "accuracy_delta",
    "compression_ratio",
    "contrast_arrays",
    "efficiency_score",
    "gated_speedup",
    "interval_arrays",
    "log_contrast",
    "mann_whitney",
    "mean_interval_arrays",
    "min_queries_for_percentile_interval",
    "noise_warnings",
    "outlier_runs",
    "percentile_interval",
    "percentile_interval_arrays",
    "ratio_interval",
    "robust_ratio",
    "speedup",
    "summarize_runs",
    "tost_p_arrays",
    "two_sided_p_arrays",
]

DEFAULT_CV_FLOOR = 0.005
"""No run-to-run CV below 0.5% is believed: each side's per-run sd (on the log scale) is taken as
at least this. Three identical runs then give a finite interval, not certainty; override it with
the run-to-run floor your machine shows (compare --cv-floor)."""

OUTLIER_THRESHOLD = 5.0
"""A run is an outlier when it lies this many robust sds from its side's median (log scale)."""

PERCENTILE_BATCHES = 10
"""Batches of a run's queries for a percentile's batch-means interval."""

TAIL_PER_BATCH = 50
"""A batch must expect this many queries beyond the percentile (50 at p99 means 5,000 a batch)."""

EXACT_MANN_WHITNEY_LIMIT = 60
"""Runs on both sides together up to which Mann-Whitney U is computed exactly (with ties)."""

SPEEDUP_FORMULA = "speedup = baseline_time / optimized_time"
COMPRESSION_FORMULA = "compression ratio = baseline_size / optimized_size"
ACCURACY_DELTA_FORMULA = "accuracy delta = optimized_accuracy - baseline_accuracy"
EFFICIENCY_FORMULA = "efficiency = (speedup x compression) / (1 + |accuracy delta|)"

METHOD_WELCH_LOG = "Welch t on log run figures"
METHOD_PAIRED_LOG = "paired t on log ratios of adjacent A/B runs"
METHOD_HODGES_LEHMANN = "Hodges-Lehmann median ratio, exact Mann-Whitney interval"
METHOD_PAIRED_MEDIAN = "median of pair ratios, exact sign-test interval"
METHOD_STUDENT = "Student t"
METHOD_BATCH_MEANS = f"batch means ({PERCENTILE_BATCHES} batches of queries in issue order)"


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Interval:
    """A confidence interval that names its method and level, so a report can print both."""

    low: float
    high: float
    level: float
    method: str

    def contains(self, value: float) -> bool:
        """Whether value lies inside the closed interval (coverage checks, 'excludes 1')."""
        return self.low <= value <= self.high


@dataclass(frozen=True)
class RunSummary:
    """Per-metric summary of repeated runs: spread and an interval, never a bare mean."""

    n: int
    median: float
    mean: float
    std: float | None  # sample std (ddof=1); None when n < 2
    cv: float | None  # std / |mean|; None when n < 2 or mean == 0
    iqr: float
    min: float
    max: float
    t_interval: Interval | None  # Student t for the mean; None when n < 2
    outlier_runs: tuple[int, ...]  # 0-based positions of outlier runs

    def as_json(self) -> dict[str, Any]:
        """Plain JSON-ready dict; the interval becomes [low, high] with its method and level beside it."""
        return {
            "n": self.n,
            "median": self.median,
            "mean": self.mean,
            "std": self.std,
            "cv": self.cv,
            "iqr": self.iqr,
            "min": self.min,
            "max": self.max,
            "t_interval": None if self.t_interval is None else [self.t_interval.low, self.t_interval.high],
            "interval_method": METHOD_STUDENT,
            "interval_level": None if self.t_interval is None else self.t_interval.level,
            "outlier_runs": list(self.outlier_runs),
        }


@dataclass(frozen=True)
class RatioEstimate:
    """How many times better B is than A (> 1: B better), with its interval (None: none can be claimed)."""

    ratio: float
    interval: Interval | None
    why_none: str | None = None


@dataclass(frozen=True)
class TestResult:
    """A hypothesis test's statistic and p-value, named so reports can cite the test."""

    __test__ = False  # not a pytest test class despite the name

    statistic: float
    p_value: float
    method: str


@dataclass(frozen=True)
class LogContrast:
    """B against A on the log scale: estimate > 0 means B better; se and df of the t statistic."""

    estimate: float
    se: float
    df: float
    sd: float  # per-run sd of a log figure (pooled), or per-pair sd of a log ratio when paired
    paired: bool
    n_a: int
    n_b: int

    @property
    def method(self) -> str:
        return METHOD_PAIRED_LOG if self.paired else METHOD_WELCH_LOG

    @property
    def ratio(self) -> float:
        return math.exp(self.estimate)

    def interval(self, level: float) -> Interval:
        """The t interval of the ratio at this level."""
        low, high = interval_arrays(np.asarray(self.estimate), np.asarray(self.se), np.asarray(self.df), level)
        return Interval(math.exp(float(low)), math.exp(float(high)), level, self.method)


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


def _floor(value: float) -> float:
    v = float(value)
    if not (math.isfinite(v) and v >= 0):
        raise ValueError(f"cv_floor must be >= 0 and finite, got {value!r}")
    return v


# --------------------------------------------------------------------------- summaries


def summarize_runs(values: ArrayLike, confidence: float = 0.95) -> RunSummary:
    """Median, mean with its Student-t interval, CV, n and outlier runs of one metric's per-run figures."""
    x = _sample(values, "values")
    _probability(confidence, "confidence")
    n = x.size
    mean = float(np.mean(x))
    std = float(np.std(x, ddof=1)) if n >= 2 else None
    cv = std / abs(mean) if std is not None and mean != 0 else None
    q1, median, q3 = (float(v) for v in np.percentile(x, [25, 50, 75]))
    interval = None
    if std is not None:
        low, high = mean_interval_arrays(x, confidence)
        interval = Interval(float(low), float(high), confidence, METHOD_STUDENT)
    outliers = outlier_runs(x) if np.all(x > 0) else ()
    return RunSummary(n, median, mean, std, cv, q3 - q1, float(np.min(x)), float(np.max(x)), interval, outliers)


def mean_interval_arrays(x: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Student-t interval of the mean over the last axis (at least 2 values), vectorised."""
    n = x.shape[-1]
    half = float(stats.t.ppf((1 + level) / 2, n - 1)) * np.std(x, axis=-1, ddof=1) / math.sqrt(n)
    mean = np.mean(x, axis=-1)
    return mean - half, mean + half


# --------------------------------------------------------------------------- log contrasts


def contrast_arrays(
    la: np.ndarray, lb: np.ndarray, paired: bool, floor: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """mean(la) - mean(lb), its se, df and the per-run sd, over the last axis (vectorised).

    Independent: Welch, each side's variance floored at floor^2. Paired (equal n, aligned):
    one-sample t on la - lb, whose variance is floored at 2 floor^2 (two floored runs).
    """
    if paired:
        d = la - lb
        n = d.shape[-1]
        var = np.maximum(np.var(d, axis=-1, ddof=1), 2 * floor**2)
        df = np.full(var.shape, n - 1.0)
        return np.mean(d, axis=-1), np.sqrt(var / n), df, np.sqrt(var)
    na, nb = la.shape[-1], lb.shape[-1]
    var_a = np.maximum(np.var(la, axis=-1, ddof=1), floor**2)
    var_b = np.maximum(np.var(lb, axis=-1, ddof=1), floor**2)
    ua, ub = var_a / na, var_b / nb
    se2 = ua + ub
    with np.errstate(invalid="ignore", divide="ignore"):
        df = se2**2 / (ua**2 / (na - 1) + ub**2 / (nb - 1))
    df = np.where(np.isfinite(df), df, na + nb - 2.0)  # both variances 0 with no floor: the pooled df
    sd = np.sqrt(((na - 1) * var_a + (nb - 1) * var_b) / (na + nb - 2))
    return np.mean(la, axis=-1) - np.mean(lb, axis=-1), np.sqrt(se2), df, sd


def interval_arrays(
    estimate: np.ndarray, se: np.ndarray, df: np.ndarray, level: float
) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided t interval estimate +/- t(level, df) se (vectorised)."""
    half = stats.t.ppf((1 + level) / 2, df) * se
    return estimate - half, estimate + half


def two_sided_p_arrays(estimate: np.ndarray, se: np.ndarray, df: np.ndarray) -> np.ndarray:
    """Two-sided t-test p of estimate = 0; with se = 0 (no floor), 0 for a difference and 1 for none."""
    with np.errstate(invalid="ignore", divide="ignore"):
        p = 2 * stats.t.sf(np.abs(estimate) / se, df)
    return np.where(se > 0, p, np.where(estimate == 0, 1.0, 0.0))


def tost_p_arrays(estimate: np.ndarray, se: np.ndarray, df: np.ndarray, bound: float) -> np.ndarray:
    """TOST p of |estimate| < bound: the larger of the two one-sided t-test p-values (vectorised)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.maximum(stats.t.sf((estimate + bound) / se, df), stats.t.sf((bound - estimate) / se, df))
    return np.where(se > 0, p, np.where(np.abs(estimate) < bound, 0.0, 1.0))


def _oriented_logs(a: ArrayLike, b: ArrayLike, higher_is_better: bool) -> tuple[np.ndarray, np.ndarray]:
    """Logs ordered so that mean(first) - mean(second) > 0 means B better."""
    la = np.log(_sample(a, "a", min_n=2, positive=True))
    lb = np.log(_sample(b, "b", min_n=2, positive=True))
    return (lb, la) if higher_is_better else (la, lb)


def log_contrast(
    a: ArrayLike,
    b: ArrayLike,
    *,
    higher_is_better: bool,
    paired: bool = False,
    cv_floor: float = DEFAULT_CV_FLOOR,
) -> LogContrast:
    """B against A on log per-run figures (paired: a[i], b[i] ran as neighbours)."""
    first, second = _oriented_logs(a, b, higher_is_better)
    if paired and first.size != second.size:
        raise ValueError(f"paired needs equal run counts, got a={first.size} and b={second.size}")
    est, se, df, sd = contrast_arrays(first, second, paired, _floor(cv_floor))
    n_a, n_b = (second.size, first.size) if higher_is_better else (first.size, second.size)
    return LogContrast(float(est), float(se), float(df), float(sd), paired, n_a, n_b)


def ratio_interval(
    a: ArrayLike,
    b: ArrayLike,
    *,
    higher_is_better: bool,
    confidence: float = 0.95,
    paired: bool = False,
    cv_floor: float = DEFAULT_CV_FLOOR,
) -> RatioEstimate:
    """Ratio of geometric means 'how many times better B is than A' with its t interval on logs."""
    _probability(confidence, "confidence")
    contrast = log_contrast(a, b, higher_is_better=higher_is_better, paired=paired, cv_floor=cv_floor)
    return RatioEstimate(contrast.ratio, contrast.interval(confidence))


# --------------------------------------------------------------------------- robust figures


def outlier_runs(values: ArrayLike, others: ArrayLike | None = None, floor: float = DEFAULT_CV_FLOOR,
                 threshold: float = OUTLIER_THRESHOLD) -> tuple[int, ...]:
    """Positions of runs more than `threshold` robust sds from their side's median, on the log scale.

    The robust sd is the lower median of the absolute pairwise differences within each side
    (pooled with `others`, the other side, when given) divided by 0.954, floored at `floor`.
    It is steadier than the plain MAD at 3-5 runs, where one deviation sets the scale; its
    false-alarm and detection rates are measured in docs/statistics.md. One side alone needs
    4 runs to find anything.
    """
    x = np.log(_sample(values, "values", positive=True))
    pools = [x] if others is None else [x, np.log(_sample(others, "others", positive=True))]
    gaps = [np.abs(p[:, None] - p[None, :])[np.triu_indices(p.size, 1)] for p in pools]
    gaps_all = np.concatenate(gaps)
    if gaps_all.size == 0:
        return ()
    gap = float(np.quantile(gaps_all, 0.5, method="lower"))  # the lower median: one outlier moves it less
    scale = max(gap / (math.sqrt(2) * stats.norm.ppf(0.75)), _floor(floor))
    if scale == 0:
        return ()
    far = np.abs(x - np.median(x)) > threshold * scale
    return tuple(int(i) for i in np.flatnonzero(far))


def _u_null_cdf(m: int, n: int) -> np.ndarray:
    """P(U <= u), u = 0..mn, of Mann-Whitney's U without ties.

    The counts are the coefficients of the Gaussian binomial [m + n choose m]_q, built as the
    product over i = 1..m of (1 - q^(n+i)) / (1 - q^i); after each whole step the partial
    product is [n + i choose i]_q, so the exact int64 counts never exceed C(m + n, m).
    """
    size = m * n + 1
    counts = np.zeros(size, dtype=np.int64)
    counts[0] = 1
    for i in range(1, m + 1):
        shift = n + i
        if shift < size:
            counts[shift:] -= counts[: size - shift].copy()
        pad = (-size) % i  # dividing by 1 - q^i: a running sum over every i-th coefficient
        counts = np.concatenate([counts, np.zeros(pad, dtype=np.int64)]).reshape(-1, i).cumsum(axis=0).ravel()[:size]
    return np.cumsum(counts) / math.comb(m + n, m)


def robust_ratio(
    a: ArrayLike, b: ArrayLike, *, higher_is_better: bool, confidence: float = 0.95, paired: bool = False
) -> RatioEstimate:
    """A ratio that outlier runs barely move, with a distribution-free interval (or why none).

    Independent: Hodges-Lehmann, the median of all pairwise log differences, with the exact
    Mann-Whitney interval (Bauer 1972). Paired: the median of the pairs' log ratios with the
    exact sign-test (binomial order-statistic) interval.
    """
    first, second = _oriented_logs(a, b, higher_is_better)
    _probability(confidence, "confidence")
    tail = (1 - confidence) / 2
    if paired:
        if first.size != second.size:
            raise ValueError(f"paired needs equal run counts, got a={first.size} and b={second.size}")
        diffs = np.sort(first - second)
        k = int(np.sum(stats.binom.cdf(np.arange(diffs.size + 1), diffs.size, 0.5) <= tail))  # P(X <= k-1) <= tail
        method = METHOD_PAIRED_MEDIAN
        needs = "at least 6 pairs"
    else:
        diffs = np.sort((first[:, None] - second[None, :]).ravel())
        cdf = _u_null_cdf(first.size, second.size)
        k = int(np.searchsorted(cdf, tail, side="right"))  # P(U <= k - 1) <= tail
        method = METHOD_HODGES_LEHMANN
        needs = "at least 4 runs a side"
    ratio = math.exp(float(np.median(diffs)))
    if k < 1:
        return RatioEstimate(ratio, None, f"no {confidence:.0%} interval with {method}: needs {needs}")
    low, high = math.exp(float(diffs[k - 1])), math.exp(float(diffs[diffs.size - k]))
    return RatioEstimate(ratio, Interval(low, high, confidence, method))


def mann_whitney(a: ArrayLike, b: ArrayLike) -> TestResult:
    """Two-sided Mann-Whitney U; exact (every split enumerated, midranks for ties) up to 60 runs in all.

    Larger samples use the normal approximation with the tie correction. At 3 runs a side the
    exact p cannot go below 0.1, and not below 0.05 until 4 a side.
    """
    xa, xb = _sample(a, "a"), _sample(b, "b")
    if xa.size + xb.size > EXACT_MANN_WHITNEY_LIMIT:
        res = stats.mannwhitneyu(xa, xb, alternative="two-sided", method="asymptotic")
        return TestResult(float(res.statistic), float(res.pvalue), "mann-whitney u (normal approximation)")
    ranks2 = np.rint(2 * stats.rankdata(np.concatenate([xa, xb]))).astype(int)  # doubled midranks: integers
    m = xa.size
    # ways[k, s]: subsets of k of the pooled runs whose doubled ranks sum to s
    ways = np.zeros((m + 1, int(ranks2.sum()) + 1))
    ways[0, 0] = 1.0
    for r in ranks2:
        ways[1:, r:] = ways[1:, r:] + ways[:-1, :-r].copy()
    dist = ways[m] / ways[m].sum()
    observed = int(ranks2[:m].sum())
    p_low, p_high = float(dist[: observed + 1].sum()), float(dist[observed:].sum())
    u = (observed / 2) - m * (m + 1) / 2
    return TestResult(float(u), min(1.0, 2 * min(p_low, p_high)), "mann-whitney u (exact)")


# --------------------------------------------------------------------------- percentiles


def min_queries_for_percentile_interval(q: float) -> int:
    """Queries a run needs before its q-percentile gets a batch-means interval (p99: 50,000)."""
    _probability(q, "q")
    return math.ceil(PERCENTILE_BATCHES * TAIL_PER_BATCH / min(q, 1 - q) - 1e-9)


def percentile_interval_arrays(
    latencies: np.ndarray, q: float, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray] | None:
    """Batch-means interval of the q-quantile of each row (queries in issue order); None if too short.

    The fraction of queries at or below the estimated quantile is averaged per batch of
    consecutive queries; the spread of those batch fractions (t, batches - 1 df) gives an
    interval in probability, mapped back through the run's own order statistics. Batches long
    against the correlation time make the batch fractions nearly independent, which is what
    lets the interval hold for a loaded server's autocorrelated latencies.
    """
    x = np.asarray(latencies, dtype=float)
    n = x.shape[-1]
    if n < min_queries_for_percentile_interval(q):
        return None
    size = n // PERCENTILE_BATCHES
    ordered = np.sort(x, axis=-1)
    estimate = np.take(ordered, [min(int(float(n) * q), n - 1)], axis=-1)
    batched = x[..., : size * PERCENTILE_BATCHES].reshape(*x.shape[:-1], PERCENTILE_BATCHES, size)
    fractions = np.mean(batched <= estimate[..., None], axis=-1)
    se = np.std(fractions, axis=-1, ddof=1) / math.sqrt(PERCENTILE_BATCHES)
    t = float(stats.t.ppf((1 + level) / 2, PERCENTILE_BATCHES - 1))
    low = np.clip(np.floor(n * (q - t * se)).astype(int), 0, n - 1)
    high = np.clip(np.ceil(n * (q + t * se)).astype(int), 0, n - 1)
    pick = np.take_along_axis
    return pick(ordered, low[..., None], -1)[..., 0], pick(ordered, high[..., None], -1)[..., 0]


def percentile_interval(latencies: ArrayLike, q: float, level: float = 0.95) -> Interval | None:
    """The batch-means interval of one run's q-percentile (latencies in issue order), or None."""
    x = _sample(latencies, "latencies")
    _probability(q, "q")
    _probability(level, "level")
    found = percentile_interval_arrays(x, q, level)
    if found is None:
        return None
    return Interval(float(found[0]), float(found[1]), level, METHOD_BATCH_MEANS)


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
    """Warnings that the per-run figures are too noisy to trust: a CV of 10% or more, outlier runs."""
    x = _sample(values, "values")
    mean = float(np.mean(x))
    if mean == 0:
        return []
    found = []
    if x.size >= 2:
        cv = float(np.std(x, ddof=1)) / abs(mean)
        if cv >= 0.10:
            found.append(f"std is {cv:.1%} of the mean: results are noisy")
    if np.all(x > 0):
        for i in outlier_runs(x):
            found.append(f"run {i + 1} ({x[i]:.6g}) is an outlier: {abs(x[i] / np.median(x) - 1):.0%} from the "
                         f"median of the runs; see the robust figures")
    return found
