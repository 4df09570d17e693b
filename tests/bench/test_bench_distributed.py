"""bench/distributed.py cannot rot: its merge measurement runs at a tiny size (no Ray needed)."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # bench/ is run from a checkout, not installed
    sys.path.insert(0, str(REPO))

from bench.distributed import merge_ns_per_sample  # noqa: E402


def test_the_merge_cost_is_measured_per_sample() -> None:
    assert merge_ns_per_sample(queries=2_000, workers=3, repeats=1) > 0
