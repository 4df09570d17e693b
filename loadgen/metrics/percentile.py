"""LoadGen's percentile: the sample at index n * p of the sorted latencies, as LoadGen computes it.

LoadGen reports order statistics, never interpolated values, so every reported
latency is one that was actually measured. Its index is the C++ expression
``sorted[sample_count * percentile]`` (in LoadGen's C++ results code): the size_t count is
converted to double, multiplied by the double percentile in IEEE double
arithmetic, and the product truncated to an integer index. We compute exactly
that, float product included, so every p gives LoadGen's index: at n = 100,
p = 0.57 the product is 56.99999999999999 and the index is 56, not 57. (A
"mathematically exact" floor would disagree with LoadGen there, and agreeing
with LoadGen is what makes our figures comparable with its logs.)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

REPORTED_PERCENTILES: tuple[float, ...] = (0.50, 0.90, 0.95, 0.97, 0.99, 0.999)


def percentile_index(n: int, p: float) -> int:
    """LoadGen's index into n sorted values: int(double(n) * p), kept below n for p = 1."""
    if n < 1:
        raise ValueError(f"n must be >= 1 (need at least one value), got {n}")
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p!r}")
    return min(int(float(n) * p), n - 1)  # C++ double -> size_t conversion truncates


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
