"""The timed run's interpreter policy: the switch interval and garbage collection as the run
needs them, restored after whatever happens, noted in the result; cycles still collected."""

from __future__ import annotations

import gc
import sys
import weakref
from typing import Any

import pytest

from loadgen.benchmark.runner import GC_THRESHOLDS, SWITCH_INTERVAL_S, run_benchmark
from loadgen.engine.query import IndexQSL, SampleBatch
from loadgen.settings.model import TestSettings

QUICK = TestSettings(scenario="SingleStream", min_duration_ms=0, min_query_count=200, max_query_count=200,
                     single_stream_expected_latency_ns=10_000)


class Node:
    """One object of a reference cycle (it refers to itself), weakly referenceable."""

    __slots__ = ("__weakref__", "me", "payload")

    def __init__(self) -> None:
        self.me = self
        self.payload = bytearray(1_000)


class PolicySUT:
    """Notes the interpreter's settings while it is called; may raise, may make cycles."""

    name = "policy"

    def __init__(self, raises: BaseException | None = None, cycles: bool = False) -> None:
        self.raises = raises
        self.cycles = cycles
        self.seen: set[tuple[Any, ...]] = set()
        self.made: list[weakref.ref[Node]] = []

    def issue_query(self, samples: SampleBatch) -> None:
        self.seen.add((round(sys.getswitchinterval() * 1e6), gc.get_threshold(), gc.isenabled()))
        if self.raises is not None and samples.phase.trace.scheduled_ns.size == 200:  # the timed run's trace
            raise self.raises
        if self.cycles:
            self.made.append(weakref.ref(Node()))
        samples.complete()

    def flush_queries(self) -> None:
        pass


@pytest.fixture
def interpreter() -> Any:
    """The interpreter's settings before the test, checked unchanged after it."""
    before = (sys.getswitchinterval(), gc.get_threshold(), gc.get_freeze_count(), gc.isenabled())
    yield before
    assert (sys.getswitchinterval(), gc.get_threshold(), gc.get_freeze_count(), gc.isenabled()) == before


@pytest.mark.parametrize("raises", [None, RuntimeError("boom"), KeyboardInterrupt()], ids=["ok", "error", "ctrl-c"])
def test_the_timed_run_has_its_policy_and_everything_is_restored_after(raises: Any, interpreter: Any) -> None:
    sut = PolicySUT(raises)
    benchmark = run_benchmark(sut, IndexQSL(64), QUICK, fingerprint={})
    assert sut.seen == {(round(SWITCH_INTERVAL_S * 1e6), GC_THRESHOLDS, True)}
    policy = benchmark.result.run_policy
    assert policy["switch_interval_s"] == SWITCH_INTERVAL_S and policy["gc_thresholds"] == list(GC_THRESHOLDS)
    assert policy["gc_enabled"] is True and policy["gc_frozen_objects"] > 1_000  # the setup's objects
    assert (benchmark.error is None) == (raises is None)


def test_a_harness_that_froze_its_objects_keeps_them_frozen(interpreter: Any) -> None:
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        run_benchmark(PolicySUT(), IndexQSL(64), QUICK, fingerprint={})
        assert gc.get_freeze_count() >= frozen
    finally:
        gc.unfreeze()


def test_cycles_a_sut_makes_on_every_query_are_collected_during_the_run() -> None:
    sut = PolicySUT(cycles=True)
    settings = QUICK.model_copy(update={"min_query_count": 5_000, "max_query_count": 5_000})
    benchmark = run_benchmark(sut, IndexQSL(64), settings, fingerprint={})
    assert benchmark.error is None
    collected = sum(ref() is None for ref in sut.made)  # counted before anything calls gc.collect()
    assert len(sut.made) >= 5_000 and collected > 0.7 * len(sut.made), (collected, len(sut.made))
