"""LoadGen's percentile: the sample at index floor(n * p) of the sorted latencies.

LoadGen reports order statistics, never interpolated values, so every reported
latency is one that was actually measured. The index is computed exactly:
``p`` is read as the shortest decimal that round-trips to the float (``repr``,
i.e. what was written in code or config, such as ``0.9``) and ``n * p`` is
floored in rational arithmetic. A plain ``int(n * p)`` drops a whole index when
the float product falls just below an integer (``100 * 0.29 == 28.999...``),
and an epsilon nudge breaks down for large ``n`` or for ``p`` close to an
integer boundary; exact fractions have neither problem.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

import numpy as np

REPORTED_PERCENTILES: tuple[float, ...] = (0.50, 0.90, 0.95, 0.97, 0.99, 0.999)


def percentile_index(n: int, p: float) -> int:
    """Index min(floor(n * p), n - 1) into n sorted values, computed exactly."""
    if n < 1:
        raise ValueError(f"n must be >= 1 (need at least one value), got {n}")
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p!r}")
    return min(math.floor(n * Fraction(repr(p))), n - 1)


def _checked(sorted_values: np.ndarray) -> np.ndarray:
    values = np.asarray(sorted_values)
    if values.ndim != 1:
        raise ValueError(f"sorted_values must be 1-D, got shape {values.shape}")
    if values.size == 0:
        raise ValueError("sorted_values is empty: a percentile needs at least one value")
    if not np.issubdtype(values.dtype, np.integer):
        raise ValueError(f"sorted_values must have an integer dtype, got {values.dtype}")
    if np.any(values[1:] < values[:-1]):
        raise ValueError("sorted_values must be sorted in ascending order")
    return values


def percentile(sorted_values: np.ndarray, p: float) -> int:
    """The p-quantile of ascending integer values: sorted_values[min(floor(n*p), n-1)]."""
    values = _checked(sorted_values)
    return int(values[percentile_index(values.size, p)])


def percentiles(sorted_values: np.ndarray, ps: Sequence[float]) -> dict[float, int]:
    """percentile() for each p in ps, keyed by float(p), checking the input once."""
    values = _checked(sorted_values)
    return {float(p): int(values[percentile_index(values.size, p)]) for p in ps}


def select_percentiles(values: np.ndarray, ps: Sequence[float]) -> dict[float, int]:
    """percentiles() of unsorted values without a full sort: partitions `values` in place.

    np.partition at every needed index leaves each of those positions holding exactly
    what sorting would put there, in O(n) rather than O(n log n) for a run of 64 M samples.
    """
    if values.size == 0:
        raise ValueError("values is empty: a percentile needs at least one value")
    indices = {float(p): percentile_index(values.size, p) for p in ps}
    values.partition(sorted(set(indices.values())))
    return {p: int(values[index]) for p, index in indices.items()}
