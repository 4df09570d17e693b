"""Accuracy mode: every sample of the accuracy set exactly once, loaded in sets, scored by labels."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from loadgen.benchmark.runner import run_benchmark
from loadgen.engine.query import IndexQSL, SampleBatch
from loadgen.settings.model import TestSettings
from reports.accuracy_log import render_accuracy_log


class LabelledQSL(IndexQSL):
    """Ten samples in sets of four; the label of sample i is i % 3."""

    def __init__(self) -> None:
        super().__init__(10, 4)
        self.labels = np.arange(10) % 3
        self.loads: list[list[int]] = []

    def load_samples(self, indices: np.ndarray) -> None:
        self.loads.append(sorted(indices.tolist()))


class Oracle:
    """Answers one-hot logits: right for every sample but those in `wrong`."""

    name = "Oracle"

    def __init__(self, wrong: set[int] = frozenset()) -> None:
        self.wrong = wrong
        self.issued: list[int] = []
        self.sizes: list[int] = []

    def issue_query(self, samples: SampleBatch) -> None:
        self.issued += samples.indices.tolist()
        self.sizes.append(len(samples))
        logits = np.zeros((len(samples), 3), dtype=np.float32)
        for row, index in enumerate(samples.indices.tolist()):
            logits[row, (index + (index in self.wrong)) % 3] = 1.0
        samples.complete(responses=logits)

    def flush_queries(self) -> None:
        pass


def accuracy_run(sut: Any, qsl: Any, scenario: str, mode: str = "AccuracyOnly") -> Any:
    settings = TestSettings(scenario=scenario, mode=mode, min_duration_ms=0, min_query_count=1,
                            offline_expected_qps=1e3, single_stream_expected_latency_ns=10_000)
    return run_benchmark(sut, qsl, settings, fingerprint={})


@pytest.mark.parametrize(("scenario", "sizes"), [("Offline", [4, 4, 2]), ("SingleStream", [1] * 10),
                                                  ("MultiStream", [4, 4, 2]), ("Server", [1] * 10)])
def test_every_sample_once_in_sets_of_the_performance_count(scenario: str, sizes: list[int]) -> None:
    qsl, sut = LabelledQSL(), Oracle()
    if scenario == "MultiStream":
        bench = run_benchmark(sut, qsl, TestSettings(scenario=scenario, mode="AccuracyOnly",
                                                     multi_stream_samples_per_query=4), fingerprint={})
    else:
        bench = accuracy_run(sut, qsl, scenario)
    assert sorted(sut.issued) == list(range(10))
    assert sut.sizes == sizes
    assert [len(chunk) for chunk in qsl.loads] == [4, 4, 2]
    assert bench.result.valid and bench.result.metrics is None
    assert bench.result.accuracy.top1 == 1.0


def test_top1_counts_wrong_answers() -> None:
    bench = accuracy_run(Oracle(wrong={1, 2}), LabelledQSL(), "Offline")
    assert bench.result.accuracy.top1 == pytest.approx(0.8)


def test_without_labels_or_numpy_responses_nothing_is_scored() -> None:
    class Bare:
        name = "Bare"

        def issue_query(self, samples: SampleBatch) -> None:
            samples.complete(responses=[b"\x01" for _ in range(len(samples))])

        def flush_queries(self) -> None:
            pass

    no_labels = accuracy_run(Oracle(), IndexQSL(10, 4), "Offline")
    assert no_labels.result.accuracy.top1 is None and "no labels" in no_labels.result.accuracy.note
    raw = accuracy_run(Bare(), LabelledQSL(), "Offline")
    assert raw.result.accuracy.top1 is None and "not scored" in raw.result.accuracy.note
    assert raw.result.valid


def test_accuracy_log_is_loadgen_json_with_upper_case_hex() -> None:
    bench = accuracy_run(Oracle(), LabelledQSL(), "Offline")
    import json

    entries = json.loads("".join(render_accuracy_log(bench.accuracy)))
    assert [entry["seq_id"] for entry in entries] == list(range(10))
    first = entries[0]
    expected = np.zeros(3, dtype=np.float32)
    expected[first["qsl_idx"] % 3] = 1.0
    assert first["data"] == expected.tobytes().hex().upper()


def test_submission_runs_accuracy_then_performance() -> None:
    sut = Oracle()
    bench = accuracy_run(sut, LabelledQSL(), "Offline", mode="SubmissionRun")
    assert bench.result.accuracy.top1 == 1.0
    assert bench.result.metrics is not None and bench.result.metrics.samples_completed > 0
    assert sorted(sut.issued[:10]) == list(range(10))


def test_a_sut_that_breaks_during_accuracy_ends_invalid() -> None:
    class Broken(Oracle):
        def issue_query(self, samples: SampleBatch) -> None:
            raise RuntimeError("bad weights")

    bench = accuracy_run(Broken(), LabelledQSL(), "Offline", mode="SubmissionRun")
    assert not bench.result.valid
    assert "bad weights" in " ".join(bench.result.invalid_reasons)
    assert bench.result.metrics.samples_issued == 0
