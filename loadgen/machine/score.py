"""Hardware normalization, SPEC style: a fixed numpy workload timed on this machine gives its score.

The reference workload (version REFERENCE_WORKLOAD) is numpy only, seeded, and the same
on every machine. One pass runs, in this order, on data made before the clock starts:

    matmul       8 x (512 x 512) @ (512 x 512) float64            (BLAS, compute bound)
    fft          4 x rfft of 2**20 float64                        (cache and memory)
    sort         3 x np.sort of 2**21 float64, a fresh copy each  (branches, memory)
    elementwise  4 x exp(x) * sin(x) + sqrt(|x|) over 2**21 float64 (vector units, bandwidth)

Each part is timed with perf_counter; the machine's time is the sum over the parts of each
part's best of `repeats` passes (default 5, after one untimed warm-up pass): the least
disturbed by anything else running.
score = REFERENCE_SECONDS / seconds: 1.0 on the reference machine, 2.0 on one that runs the
workload twice as fast. A time figure is normalized as time x score and a rate as
rate / score: what the figure would be on the reference machine, if the benchmark sped
up exactly as the reference workload does.

What normalization cannot correct: a benchmark's own mix of compute, memory bandwidth,
cache size and latency differs from the reference workload's, so two machines rank
differently for different work; BLAS thread counts and the BLAS library itself (the
matmul uses however many threads numpy's BLAS is allowed); thermal throttling and turbo
that differ between a few seconds of reference work and a long benchmark; contention from
other tenants or processes that differs between the moments measured; and differences in
the OS, Python and package versions.

`python -m loadgen.machine_score --output DIR` writes DIR/machine_score.json, which
`python -m loadgen.compare --normalize` reads for that side.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

REFERENCE_WORKLOAD = "tinyperf-reference/1"


REFERENCE_SECONDS = 0.3467
"""The reference workload's time on this project's reference machine, the 2-core development
machine: measured on 2026-11-28 on an "Intel(R) Xeon(R) Processor" (KVM guest, 2 logical cores,
AVX-512), Python 3.11, numpy 2.4 with scipy-openblas 0.3.31 (2 BLAS threads), with
`python -m loadgen.machine_score` (5 passes): the best of 16 invocations between 16:20 and
16:45 UTC, while the machine was shared with other work (load average 1.4 to 3.4); the others
took 0.40 to 0.64 s. Re-measure on a quiet machine to refine it, and change REFERENCE_WORKLOAD's
version whenever this number or the workload changes (scores of different versions differ)."""


SCORE_FILE = "machine_score.json"


DEFAULT_REPEATS = 5


SEED = 20261128


CANNOT_CORRECT = (
    "normalization assumes the benchmark speeds up exactly as the reference workload does; it cannot "
    "correct a different mix of compute, memory bandwidth and cache, BLAS library and thread counts, "
    "thermal throttling or turbo over a long run, contention from other processes, or OS/Python/package "
    "differences"
)


@dataclass(frozen=True)
class MachineScore:
    """This machine's best time for the reference workload and score = REFERENCE_SECONDS / seconds."""

    seconds: float
    score: float
    parts_s: dict[str, float]
    repeats: int
    workload: str = REFERENCE_WORKLOAD
    reference_seconds: float = REFERENCE_SECONDS


def _workload() -> list[tuple[str, Callable[[], object]]]:
    """The reference workload's parts over fixed, seeded data, made before timing starts."""
    rng = np.random.default_rng(SEED)
    a, b = rng.standard_normal((512, 512)), rng.standard_normal((512, 512))
    signal_ = rng.standard_normal(2**20)
    unsorted = rng.standard_normal(2**21)
    x = rng.uniform(-4.0, 4.0, 2**21)

    def matmul() -> object:
        return [a @ b for _ in range(8)]

    def fft() -> object:
        return [np.fft.rfft(signal_) for _ in range(4)]

    def sort() -> object:
        return [np.sort(unsorted.copy()) for _ in range(3)]

    def elementwise() -> object:
        return [np.exp(x) * np.sin(x) + np.sqrt(np.abs(x)) for _ in range(4)]

    return [("matmul", matmul), ("fft", fft), ("sort", sort), ("elementwise", elementwise)]


def _one_pass(parts: list[tuple[str, Callable[[], object]]]) -> dict[str, float]:
    """Seconds per part of one pass of the workload."""
    times = {}
    for name, part in parts:
        start = time.perf_counter()
        part()
        times[name] = time.perf_counter() - start
    return times


def machine_score(repeats: int = DEFAULT_REPEATS) -> MachineScore:
    """Time the reference workload: one warm-up pass, then each part's best of `repeats` passes."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    parts = _workload()
    _one_pass(parts)
    passes = [_one_pass(parts) for _ in range(repeats)]
    best = {name: min(times[name] for times in passes) for name, _ in parts}
    seconds = sum(best.values())
    return MachineScore(seconds, REFERENCE_SECONDS / seconds, best, repeats)


def score_document(score: MachineScore, fingerprint: dict[str, Any]) -> dict[str, Any]:
    """machine_score.json: the score, when and where it was measured."""
    return {
        **asdict(score),
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "hardware_hash": fingerprint.get("hardware_hash"),
        "cpu_model": (fingerprint.get("cpu") or {}).get("model"),
    }
