"""The course's rules over a parsed submission: percentile order, improvements, sanity limits, events."""

from __future__ import annotations

import itertools

from loadgen.capstone.course import IMPROVEMENT_INPUTS, close, compute_improvements, median_speedup
from loadgen.capstone.schema import LATENCY_METRICS, RTOL, Finding, Submission

SPEEDUP_WARN, SPEEDUP_ERROR = 20.0, 50.0


COMPRESSION_WARN, COMPRESSION_ERROR = 16.0, 32.0


def check_percentiles(submission: Submission) -> list[Finding]:
    """median <= p95 <= p99 on each side, over the ones present."""
    findings = []
    for side in submission.sides():
        metrics = getattr(submission, side).metrics
        present = [(key, getattr(metrics, key)) for key in LATENCY_METRICS if getattr(metrics, key) is not None]
        for (low_key, low), (high_key, high) in itertools.pairwise(present):
            if low > high:
                findings.append(
                    Finding(
                        "error",
                        "percentile_order",
                        f"{side}.metrics: {low_key} {low} > {high_key} {high}; must be median <= p95 <= p99",
                    )
                )
    return findings


def check_improvements(submission: Submission) -> list[Finding]:
    """Each claimed improvement against the course's recomputation from the two metric sets, and
    the harness's median speedup against the two medians."""
    if submission.optimized is None or submission.improvements is None:
        return []
    baseline = submission.baseline.metrics.model_dump(exclude_none=True)
    optimized = submission.optimized.metrics.model_dump(exclude_none=True)
    findings = []
    for name, recomputed in compute_improvements(baseline, optimized).items():
        claimed = getattr(submission.improvements, name)
        if not close(claimed, recomputed):
            findings.append(
                Finding(
                    "error",
                    "improvement_mismatch",
                    f"improvements.{name} is {claimed} but the two {IMPROVEMENT_INPUTS[name]} values give "
                    f"{recomputed:.9g} (the course's formula; rtol {RTOL:g})",
                )
            )
    return findings + _check_harness_figures(submission, baseline, optimized)


def _check_harness_figures(
    submission: Submission, baseline: dict[str, float], optimized: dict[str, float]
) -> list[Finding]:
    harness = submission.harness
    if harness is None:
        return []
    if "latency_ms_median" not in baseline or "latency_ms_median" not in optimized:
        return [Finding("error", "harness", "harness.speedup_median: both sides need latency_ms_median")]
    recomputed = median_speedup(baseline, optimized)
    findings = []
    if not close(harness.speedup_median, recomputed):
        message = f"harness.speedup_median is {harness.speedup_median} but the two medians give {recomputed:.9g}"
        findings.append(Finding("error", "harness", message))
    interval = harness.speedup_median_interval
    if interval is not None and interval[0] > interval[1]:
        findings.append(Finding("error", "harness", f"harness.speedup_median_interval {list(interval)} is reversed"))
    return findings


def check_sanity(submission: Submission) -> list[Finding]:
    """The course's sanity limits: implausible speedups and compressions, accuracy gains."""
    improvements = submission.improvements
    if improvements is None:
        return []
    findings = []
    for name, value, warn, error in (
        ("speedup", improvements.speedup, SPEEDUP_WARN, SPEEDUP_ERROR),
        ("compression_ratio", improvements.compression_ratio, COMPRESSION_WARN, COMPRESSION_ERROR),
    ):
        if value > error:
            findings.append(Finding("error", "implausible", f"{name} {value:.4g} exceeds the sanity limit {error:g}"))
        elif value > warn:
            findings.append(Finding("warning", "suspicious", f"{name} {value:.4g} is above {warn:g}: double-check it"))
    if submission.division == "closed" and improvements.accuracy_delta > 0:
        findings.append(
            Finding(
                "warning",
                "accuracy_gain",
                f"accuracy_delta +{improvements.accuracy_delta:.4g} in the closed division: optimizations rarely "
                "raise accuracy; check both models were scored on the same data",
            )
        )
    return findings


def _rule(name: str, value: float, op: str, bound: float) -> tuple[bool, str]:
    ok = value >= bound if op == ">=" else value < bound
    shown = op if ok else {">=": "<", "<": ">="}[op]
    return ok, f"{name} {value:.4g} {shown} {bound:g}"


def event_findings(submission: Submission) -> list[Finding]:
    """Which capstone events the optimized model (the baseline, when it is alone) qualifies for (info only)."""
    metrics = (submission.optimized or submission.baseline).metrics
    latency_name = "latency_ms_median" if metrics.latency_ms_median is not None else "latency_ms_mean"
    latency = metrics.latency_ms_median if metrics.latency_ms_median is not None else metrics.latency_ms_mean
    accurate = _rule("accuracy", metrics.accuracy, ">=", 0.85)
    fast = _rule(latency_name, latency, "<", 100.0)
    small = _rule("model_size_mb", metrics.model_size_mb, "<", 10.0)
    rules = {
        "latency_sprint": [accurate],
        "memory_challenge": [accurate],
        "accuracy_contest": [fast, small],
        "all_around": [(True, "always qualifies")],
        "extreme_push": [_rule("accuracy", metrics.accuracy, ">=", 0.80)],
    }
    return [
        Finding(
            "info",
            "event",
            f"{event}: {'eligible' if all(ok for ok, _ in checks) else 'not eligible'} "
            f"({', '.join(text for _, text in checks)})",
        )
        for event, checks in rules.items()
    ]
