"""LoadGen percentile: sorted[size_t(double(n) * p)], the index LoadGen's results.cc computes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from loadgen.metrics.percentile import REPORTED_PERCENTILES, percentile, percentile_index, percentiles


def test_reported_percentiles() -> None:
    assert REPORTED_PERCENTILES == (0.50, 0.90, 0.95, 0.97, 0.99, 0.999)


@pytest.mark.parametrize(
    ("n", "p", "index"),
    [
        (1000, 0.9, 900),
        (100, 0.999, 99),
        (100, 0.29, 28),  # 100 * 0.29 == 28.999999999999996 in doubles: LoadGen truncates to 28
        (100, 0.57, 56),  # 100 * 0.57 == 56.99999999999999 in doubles: LoadGen's index is 56
        (1000, 0.999, 999),
        (10, 0.5, 5),
        (10, 0.0, 0),
        (10, 1.0, 9),
        (1, 0.5, 0),
        (1, 1.0, 0),
    ],
)
def test_percentile_index_edge_products(n: int, p: float, index: int) -> None:
    assert percentile_index(n, p) == index


def test_single_value() -> None:
    values = np.array([42], dtype=np.int64)
    for p in (0.0, 0.5, 0.999, 1.0):
        assert percentile(values, p) == 42


@given(
    values=st.lists(st.integers(0, 10**12), min_size=1, max_size=200),
    hundredths=st.integers(0, 100),
)
def test_matches_loadgens_double_arithmetic(values: list[int], hundredths: int) -> None:
    """C++ `v[count * p]`: size_t -> double, IEEE double product, double -> size_t truncation."""
    ordered = np.array(sorted(values), dtype=np.int64)
    p = hundredths / 100
    n = len(values)
    product = np.float64(n) * np.float64(p)  # numpy's float64 multiply is the IEEE double one C++ uses
    expected = ordered[min(int(np.trunc(product)), n - 1)]
    result = percentile(ordered, p)
    assert type(result) is int
    assert result == expected


def test_percentiles_dict() -> None:
    values = np.arange(1000, dtype=np.int64) * 10
    result = percentiles(values, REPORTED_PERCENTILES)
    assert result == {0.5: 5000, 0.9: 9000, 0.95: 9500, 0.97: 9700, 0.99: 9900, 0.999: 9990}
    assert all(type(v) is int for v in result.values())


@pytest.mark.parametrize("p", [-0.01, 1.01, float("nan")])
def test_rejects_p_out_of_range(p: float) -> None:
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\]"):
        percentile(np.arange(10, dtype=np.int64), p)


def test_rejects_empty() -> None:
    with pytest.raises(ValueError, match="empty"):
        percentile(np.array([], dtype=np.int64), 0.5)


def test_rejects_unsorted_and_non_integer() -> None:
    with pytest.raises(ValueError, match="ascending"):
        percentile(np.array([3, 1, 2], dtype=np.int64), 0.5)
    with pytest.raises(ValueError, match="integer dtype"):
        percentile(np.array([1.0, 2.0]), 0.5)
    with pytest.raises(ValueError, match="1-D"):
        percentile(np.zeros((2, 2), dtype=np.int64), 0.5)
