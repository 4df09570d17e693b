"""LoadGen's binomial early stopping: how far a short run can be trusted.

A run of n queries is a set of Bernoulli trials, each over the latency bound or
not. If the true p-quantile sat exactly on the bound, each query would be over
it with probability 1 - p, and the chance of seeing at most t over-bound queries
among h + t is odds(h, t, p) = I_p(h, t + 1) (the regularized incomplete beta,
equal to binom.cdf(t, h + t, 1 - p)). Once that chance drops below
1 - CONFIDENCE the run is evidence, at 99% confidence, that the quantile is
under the bound, so shorter runs than the classic fixed query counts are valid:

- Server: with t queries over the target latency the run is valid iff
  n >= h_min(t) + t.
- SingleStream / MultiStream: the run needs n >= h_min(1) + 1 queries; the t
  largest latencies that the run can afford to discard give the estimate
  sorted[n - t], a latency the p-quantile is under with 99% confidence.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from pydantic import BaseModel, ConfigDict

CONFIDENCE = 0.99


class EarlyStoppingResult(BaseModel):
    """Outcome of one early-stopping check.

    For latency_estimate, min_queries is h_min(1) + 1 and overlatency_queries the
    number of top latencies discarded; for server_check, min_queries is
    h_min(t) + t for the observed t and overlatency_queries is that t.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    met: bool
    queries: int
    overlatency_queries: int | None
    min_queries: int
    estimate_ns: int | None
    percentile: float
    message: str


def _check_probability(name: str, value: float) -> float:
    value = float(value)
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be in the open interval (0, 1), got {value!r}")
    return value


def _check_count(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    return int(value)


def _odds(h: int, t: int, p: float) -> float:
    """Chance of at most t over-bound queries among h + t if the p-quantile is on the bound."""
    from scipy.special import betainc  # imported here: scipy.special alone costs ~0.2 s at import

    return float(betainc(float(h), float(t + 1), p))


@lru_cache(maxsize=65536)
def _h_min(t: int, p: float, confidence: float) -> int:
    alpha = 1.0 - confidence
    # odds falls strictly as h grows (and is 1 at h = 0): bracket, then bisect.
    failing, passing = 0, 1
    while _odds(passing, t, p) >= alpha:
        failing, passing = passing, passing * 2
    while passing - failing > 1:
        mid = (failing + passing) // 2
        if _odds(mid, t, p) < alpha:
            passing = mid
        else:
            failing = mid
    return passing


def h_min(t: int, p: float, confidence: float = CONFIDENCE) -> int:
    """Smallest number h of under-bound queries such that odds(h, t, p) < 1 - confidence."""
    return _h_min(
        _check_count("t", t),
        _check_probability("p", p),
        _check_probability("confidence", confidence),
    )


def min_queries(p: float) -> int:
    """Fewest queries for a SingleStream/MultiStream estimate: h_min(1, p) + 1."""
    return h_min(1, p) + 1


def overlatency_allowance(n: int, p: float) -> int | None:
    """Largest t with n >= h_min(t, p) + t, or None when n < min_queries(p)."""
    n = _check_count("n", n)
    if n < min_queries(p):
        return None
    # h_min(t) + t rises with t: bracket from t = 1 upwards, then bisect.
    fits, too_many = 1, 2
    while n >= h_min(too_many, p) + too_many:
        fits, too_many = too_many, too_many * 2
    while too_many - fits > 1:
        mid = (fits + too_many) // 2
        if n >= h_min(mid, p) + mid:
            fits = mid
        else:
            too_many = mid
    return fits


def _percent_label(p: float) -> str:
    return f"{round(p * 100, 6)}th percentile"


def latency_estimate(sorted_latencies_ns: np.ndarray, p: float) -> EarlyStoppingResult:
    """SingleStream/MultiStream early-stopping estimate of the p-quantile latency.

    Met iff the run has at least min_queries(p) queries; the estimate is then
    sorted[n - t] with t = overlatency_allowance(n, p) >= 1.
    """
    p = _check_probability("p", p)
    latencies = np.asarray(sorted_latencies_ns)
    if latencies.ndim != 1:
        raise ValueError(f"sorted_latencies_ns must be 1-D, got shape {latencies.shape}")
    if np.any(latencies[1:] < latencies[:-1]):
        raise ValueError("sorted_latencies_ns must be sorted in ascending order")
    n = int(latencies.size)
    needed = min_queries(p)
    allowance = overlatency_allowance(n, p)
    if allowance is None:
        return EarlyStoppingResult(
            met=False,
            queries=n,
            overlatency_queries=None,
            min_queries=needed,
            estimate_ns=None,
            percentile=p,
            message=f"Early stopping: need at least {needed} queries, ran {n}",
        )
    estimate = int(latencies[n - allowance])
    return EarlyStoppingResult(
        met=True,
        queries=n,
        overlatency_queries=allowance,
        min_queries=needed,
        estimate_ns=estimate,
        percentile=p,
        message=f"Early stopping {_percent_label(p)} estimate: {estimate}",
    )


def server_check(
    latencies_ns: np.ndarray, target_latency_ns: int, p: float
) -> EarlyStoppingResult:
    """Server early-stopping check: met iff n >= h_min(t, p) + t, t = queries over target."""
    p = _check_probability("p", p)
    target = _check_count("target_latency_ns", target_latency_ns)
    latencies = np.asarray(latencies_ns)
    if latencies.ndim != 1:
        raise ValueError(f"latencies_ns must be 1-D, got shape {latencies.shape}")
    n = int(latencies.size)
    over = int(np.count_nonzero(latencies > target))
    needed = h_min(over, p) + over
    return EarlyStoppingResult(
        met=n >= needed,
        queries=n,
        overlatency_queries=over,
        min_queries=needed,
        estimate_ns=None,
        percentile=p,
        message=(
            f"Early stopping: {over} of {n} queries over {target} ns; "
            f"needs >= {needed} queries"
        ),
    )
