"""Compliance with a rule set, over the runs' effective settings: COMPLIANT under the full capstone rules,
NOT COMPLIANT naming each rule a shortened or reseeded run breaks."""

from __future__ import annotations

from typing import Any

import pytest

from loadgen.capstone.compliance import RuleSet, capstone_rules, check_compliance, compliance_line
from loadgen.metrics.result import RunResult

CAPSTONE = capstone_rules()


def run(**effective: Any) -> RunResult:
    """A VALID SubmissionRun under exactly the capstone rules, with some effective settings changed."""
    settings = dict(CAPSTONE.values) | {"mode": "SubmissionRun", "single_stream_expected_latency_ns": 50_000}
    return RunResult.model_validate(
        {
            "tool": "test", "started_at": "2026-12-01T00:00:00", "scenario": "SingleStream", "mode": "SubmissionRun",
            "sut_name": "s", "qsl_name": "q", "valid": True, "invalid_reasons": [], "checks": {}, "stop_reason": "",
            "error": None, "metrics": None, "settings_requested": {}, "settings_effective": settings | effective,
            "chosen_by_pilot": {"single_stream_expected_latency_ns": "pilot"}, "warmup_queries": 0,
            "total_sample_count": 200, "performance_sample_count": 200, "fingerprint": {"hardware_hash": "h"},
            "load_average_end": None, "warnings": [],
        }
    )


def test_the_shipped_rule_set_is_what_submit_runs() -> None:
    assert CAPSTONE.values == {
        "scenario": "SingleStream", "min_duration_ms": 5000, "min_query_count": 1000, "warmup_ms": 500,
        "qsl_rng_seed": 42, "sample_index_rng_seed": 42, "schedule_rng_seed": 42,
    }


def test_runs_under_the_full_rules_are_compliant() -> None:
    # what the pilot measured for each SUT may differ; everything else is identical
    runs = {"baseline": run(), "optimized": run(single_stream_expected_latency_ns=90_000)}
    assert check_compliance(runs, CAPSTONE) == []
    longer = {"baseline": run(min_duration_ms=6000), "optimized": run(min_duration_ms=6000)}
    assert check_compliance(longer, CAPSTONE) == []  # more than the minimum is fine
    assert compliance_line([]) == "COMPLIANT"


@pytest.mark.parametrize(
    ("changes", "broken"),
    [
        ({"min_duration_ms": 500}, "baseline: min_duration_ms = 500, the capstone rules require >= 5000"),
        ({"min_query_count": 10}, "baseline: min_query_count = 10, the capstone rules require >= 1000"),
        ({"warmup_ms": 0}, "baseline: warmup_ms = 0, the capstone rules require >= 500"),
        ({"qsl_rng_seed": 7}, "baseline: qsl_rng_seed = 7, the capstone rules require 42"),
        ({"schedule_rng_seed": 1}, "baseline: schedule_rng_seed = 1, the capstone rules require 42"),
        ({"scenario": "Offline"}, "baseline: scenario = 'Offline', the capstone rules require 'SingleStream'"),
        ({"mode": "PerformanceOnly"}, "baseline: mode = 'PerformanceOnly', the capstone rules require SubmissionRun"),
    ],
)
def test_each_broken_rule_is_named(changes: dict[str, Any], broken: str) -> None:
    found = check_compliance({"baseline": run(**changes), "optimized": run()}, CAPSTONE)
    assert broken in found
    assert any(line.startswith("baseline and optimized used different settings: ") for line in found)
    assert compliance_line(found).startswith("NOT COMPLIANT: " + found[0])


def test_an_invalid_run_and_another_machine_are_not_compliant() -> None:
    invalid = run().model_copy(update={"valid": False, "invalid_reasons": ["min duration not met"]})
    elsewhere = run().model_copy(update={"fingerprint": {"hardware_hash": "other"}})
    found = check_compliance({"baseline": invalid, "optimized": elsewhere}, CAPSTONE)
    assert "baseline: the run was INVALID (min duration not met)" in found
    assert "baseline and optimized ran on different machines (h vs other)" in found


def test_mlperf_hints_are_left_to_each_sut() -> None:
    rules = RuleSet("mlperf", "mlperf.conf", {"scenario": "SingleStream", "single_stream_expected_latency_ns": 1},
                    ("PerformanceOnly", "SubmissionRun"))
    assert check_compliance({"run": run()}, rules) == []
