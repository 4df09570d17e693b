"""LoadGen's validity rules: VALID only when every check passed, each failed check naming its reason."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from loadgen.metrics.figures import Metrics, _Frozen, percentile_label
from loadgen.settings.effective import EffectiveSettings
from loadgen.settings.model import Scenario, TestSettings


class Validity(_Frozen):
    """VALID only when every check passed; each failed check names its reason."""

    valid: bool
    checks: dict[str, bool]
    reasons: list[str]


def judge(
    metrics: Metrics | None,
    settings: TestSettings | EffectiveSettings,
    error: str | None,
    accuracy_problems: list[str] | None = None,
    failed_samples: Mapping[str, int] | None = None,
) -> Validity:
    """LoadGen's validity rules for the scenario, plus how the run ended (and the accuracy pass,
    and the samples the SUT reported failed)."""
    effective = EffectiveSettings.of(settings)
    scenario, request = effective.scenario, effective.settings
    checks: dict[str, bool] = {}
    reasons: list[str] = []

    def check(name: str, ok: bool, reason: str) -> None:
        checks[name] = ok
        if not ok:
            reasons.append(reason)

    check("run_completed", error is None, f"the run did not complete: {error}")
    if failed_samples:
        issued = metrics.samples_issued if metrics else None
        check("no_failed_samples", False, describe_failures(failed_samples, issued))
    if accuracy_problems is not None:
        check("accuracy", not accuracy_problems, "; ".join(accuracy_problems))
    if metrics is None:
        return Validity(valid=not reasons, checks=checks, reasons=reasons)
    span_ns = metrics.last_scheduled_ns if scenario is Scenario.Server else metrics.duration_ns
    check(
        "min_duration",
        span_ns >= effective.min_duration_ns,
        f"min duration not met: ran {span_ns / 1e6:.1f} ms, min_duration_ms is {request.min_duration_ms}"
        + ("" if error else _hint_duration(scenario)),
    )
    counted = metrics.samples_completed if scenario is Scenario.Offline else metrics.queries_completed
    unit = "samples" if scenario is Scenario.Offline else "queries"
    check(
        "min_queries",
        counted >= effective.min_query_count,
        f"min queries not met: {counted} {unit} completed, min_query_count is {effective.min_query_count}",
    )
    if metrics.early_stopping is not None:
        check("early_stopping", metrics.early_stopping.met, f"early stopping not met: {metrics.early_stopping.message}")
    if effective.target_latency_ns is not None and request.use_token_latencies:
        _check_token_bounds(metrics, effective, check)
    elif effective.target_latency_ns is not None:
        p99 = metrics.target_percentile_latency_ns
        check(
            "performance_constraints",
            p99 is not None and p99 <= effective.target_latency_ns,
            f"{percentile_label(request.server_target_latency_percentile)}th percentile latency {p99} ns "
            f"exceeds server_target_latency_ns {effective.target_latency_ns}: lower server_target_qps",
        )
    return Validity(valid=not reasons, checks=checks, reasons=reasons)


def describe_failures(failed_samples: Mapping[str, int], samples_issued: int | None) -> str:
    """'12 of 500 samples failed: 10 connection refused, 2 HTTP 503' (most frequent first)."""
    total = sum(failed_samples.values())
    of = f" of {samples_issued}" if samples_issued is not None else ""
    counts = sorted(failed_samples.items(), key=lambda item: (-item[1], item[0]))
    return f"{total}{of} samples failed: " + ", ".join(f"{n} {reason}" for reason, n in counts)


def _check_token_bounds(
    metrics: Metrics, effective: EffectiveSettings, check: Callable[[str, bool, str], None]
) -> None:
    """LLM Server runs: TTFT and TPOT at the target percentile within their bounds."""
    label = percentile_label(effective.settings.server_target_latency_percentile)
    for name, stats, bound, key in (
        ("time to first token", metrics.ttft, effective.ttft_latency_ns, "ttft_latency"),
        ("time per output token", metrics.tpot, effective.tpot_latency_ns, "tpot_latency"),
    ):
        value = stats.percentiles_ns.get(label) if stats else None
        check(
            f"{key}_constraint",
            value is not None and value <= bound,
            f"{label}th percentile {name} {value} ns exceeds {key} {bound}" if value is not None
            else f"no {name} was recorded (FirstTokenComplete and n_tokens)",
        )


def _hint_duration(scenario: Scenario) -> str:
    hints = {
        Scenario.Offline: "; the SUT was faster than offline_expected_qps: raise it",
        Scenario.SingleStream: "; the SUT was faster than single_stream_expected_latency_ns: lower it",
        Scenario.MultiStream: "; the SUT was faster than multi_stream_expected_latency_ns: lower it",
    }
    return hints.get(scenario, "")
