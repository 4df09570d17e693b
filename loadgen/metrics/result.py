"""result.json: everything a run used and measured, as one pydantic model."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from loadgen.metrics.accuracy import AccuracyResult
from loadgen.metrics.figures import Metrics

RESULT_SCHEMA_VERSION = 1


class RunResult(BaseModel):
    """One run: what was asked, what was effective, what happened, and the files written."""

    model_config = ConfigDict(extra="forbid", frozen=True)  # renderers get a finished result

    schema_version: int = RESULT_SCHEMA_VERSION
    tool: str
    started_at: str
    scenario: str
    mode: str
    sut_name: str
    sut_name_duration_ns: int | None = None
    """How long asking the SUT its name took (LoadGen's get_sut_name_duration_ns; the drop-in API)."""
    qsl_name: str
    valid: bool
    invalid_reasons: list[str]
    checks: dict[str, bool]
    stop_reason: str
    error: str | None
    failed_samples: dict[str, int] = {}
    """Samples the SUT reported failed, per reason (a network SUT's "HTTP 503", "timeout", ...)."""
    metrics: Metrics | None
    accuracy: AccuracyResult | None = None
    model: dict[str, Any] | None = None
    memory: dict[str, int] = {}
    run_policy: dict[str, Any] = {}  # the timed run's switch interval and garbage collection (docs/latency.md)
    peak_search: list[tuple[float, bool]] | None = None
    distributed: dict[str, Any] | None = None  # --workers: the split, each worker, the clocks' error bound
    settings_requested: dict[str, Any]
    settings_effective: dict[str, Any]
    chosen_by_pilot: dict[str, str]
    warmup_queries: int
    total_sample_count: int
    performance_sample_count: int
    fingerprint: dict[str, Any]
    load_average_end: list[float] | None
    warnings: list[str]
    files: dict[str, str] = {}
