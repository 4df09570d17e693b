"""Every setting of a run in one validated pydantic model, and the layering that builds it.

Attribute names follow `mlperf_loadgen.TestSettings` so that LoadGen users find what they
know; harness-only settings (warm-up, pilot, timeout) sit beside them. "No limit" is
`None`, never a magic 0. Layers, lowest first: model defaults < scenario file <
`--config FILE` < `--set KEY=VALUE`. Each problem names its source, key and allowed range.
"""

from __future__ import annotations

import enum
from typing import Any, ClassVar

import annotated_types
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

UINT64_MAX = 2**64 - 1

DURATION_LIMIT_MS = 30 * 24 * 3_600_000
"""Every duration setting is at most 30 days: long soak runs fit, a typo of many digits does not."""
LATENCY_LIMIT_NS = DURATION_LIMIT_MS * 1_000_000
"""Latencies (expected, bounds) in ns are at most the same 30 days; every time of a run fits int64."""
TRACE_SAMPLE_LIMIT = 64_000_000
"""The most samples a run may trace (about 1.5 GB of trace at 24 bytes a sample); counts that
must all be traced (min_query_count, a query's samples, the loaded set) stay within it."""
RATE_LIMIT_QPS = 1e9
"""The highest rate a setting may name (a billion queries or samples a second)."""
SERVER_MIN_QPS = 0.01
"""The lowest Server rate: one query every 100 s on average. Slower schedules wait minutes for
their first query (1e-3 waits about 1,000 s), which is almost always a unit mistake."""


class Scenario(str, enum.Enum):
    """LoadGen's four scenarios; accepted by LoadGen name or snake_case name."""

    SingleStream = "SingleStream"
    MultiStream = "MultiStream"
    Server = "Server"
    Offline = "Offline"

    @classmethod
    def parse(cls, text: str) -> Scenario:
        """Accept `SingleStream`, `single_stream`, `singlestream`, any case."""
        key = text.replace("_", "").replace("-", "").lower()
        for member in cls:
            if member.value.lower() == key:
                return member
        allowed = ", ".join(f"{m.value} ({m.snake_name})" for m in cls)
        raise ValueError(f"unknown scenario {text!r}; allowed: {allowed}")

    @property
    def snake_name(self) -> str:
        """`single_stream` for SingleStream: the shipped scenario file's name."""
        return "".join("_" + c.lower() if c.isupper() else c for c in self.value).lstrip("_")


class Mode(str, enum.Enum):
    """What a run measures, by LoadGen's names; `--mode` also takes the short names."""

    PerformanceOnly = "PerformanceOnly"
    AccuracyOnly = "AccuracyOnly"
    SubmissionRun = "SubmissionRun"
    FindPeakPerformance = "FindPeakPerformance"

    @classmethod
    def parse(cls, text: str) -> Mode:
        """Accept LoadGen's names and performance, accuracy, submission, find_peak."""
        short = {
            "performance": cls.PerformanceOnly,
            "accuracy": cls.AccuracyOnly,
            "submission": cls.SubmissionRun,
            "findpeak": cls.FindPeakPerformance,
        }
        key = text.replace("_", "").replace("-", "").lower()
        for member in cls:
            if member.value.lower() == key:
                return member
        if key in short:
            return short[key]
        raise ValueError(
            f"unknown mode {text!r}; allowed: {', '.join(m.value for m in cls)} "
            "(or performance, accuracy, submission, find_peak)"
        )


COMBINATION_SEPARATOR = "; and "


_Seed = Field(default=0, ge=0, le=UINT64_MAX)




class TestSettings(BaseModel):
    """What the user asked for. Immutable; the engine derives effective values from it."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    __test__: ClassVar[bool] = False  # the name starts with "Test"; pytest must not collect it

    scenario: Scenario = Field(default=Scenario.SingleStream, description="Which LoadGen scenario to run.")
    mode: Mode = Field(default=Mode.PerformanceOnly, description="What the run measures.")

    min_duration_ms: int = Field(
        default=10_000, ge=0, le=DURATION_LIMIT_MS, description="The run lasts at least this long."
    )
    max_duration_ms: int | None = Field(
        default=None, ge=1, le=DURATION_LIMIT_MS, description="Stop issuing after this long; unset means no limit."
    )
    min_query_count: int = Field(
        default=100, ge=1, le=TRACE_SAMPLE_LIMIT, description="The run issues at least this many queries."
    )
    max_query_count: int | None = Field(
        default=None, ge=1, le=UINT64_MAX, description="Issue at most this many queries; unset means no limit."
    )

    single_stream_expected_latency_ns: int | None = Field(
        default=None,
        ge=1,
        le=LATENCY_LIMIT_NS,
        description="Sizes the SingleStream schedule; unset means measured by a pilot.",
    )
    single_stream_target_latency_percentile: float = Field(default=0.90, gt=0.0, lt=1.0, allow_inf_nan=False)
    multi_stream_expected_latency_ns: int | None = Field(
        default=None,
        ge=1,
        le=LATENCY_LIMIT_NS,
        description="Sizes the MultiStream schedule; unset means measured by a pilot.",
    )
    multi_stream_target_latency_percentile: float = Field(default=0.99, gt=0.0, lt=1.0, allow_inf_nan=False)
    multi_stream_samples_per_query: int = Field(default=8, ge=1, le=TRACE_SAMPLE_LIMIT)

    server_target_qps: float | None = Field(
        default=None,
        ge=SERVER_MIN_QPS,
        le=RATE_LIMIT_QPS,
        allow_inf_nan=False,
        description="Poisson arrival rate; unset means chosen by a pilot.",
    )
    server_target_latency_ns: int = Field(default=100_000_000, ge=1, le=LATENCY_LIMIT_NS)
    server_target_latency_percentile: float = Field(default=0.99, gt=0.0, lt=1.0, allow_inf_nan=False)
    server_max_async_queries: int | None = Field(
        default=None, ge=1, le=UINT64_MAX, description="Cap on outstanding Server queries; unset means no cap."
    )
    server_find_peak_qps_decimals_of_precision: int = Field(
        default=1, ge=0, le=6, description="FindPeakPerformance stops when pass and fail are this close."
    )
    server_coalesce_queries: bool = Field(
        default=False, description="Issue all past-due Server queries in one call, as LoadGen allows."
    )

    use_token_latencies: bool = Field(
        default=False, description="Measure time to first token and time per output token (LLM SUTs)."
    )
    ttft_latency: int = Field(
        default=100_000_000, ge=1, le=LATENCY_LIMIT_NS, description="Server bound on time to first token, ns."
    )
    tpot_latency: int = Field(
        default=100_000_000, ge=1, le=LATENCY_LIMIT_NS, description="Server bound on time per output token, ns."
    )

    offline_expected_qps: float | None = Field(
        default=None,
        gt=0,
        le=RATE_LIMIT_QPS,
        allow_inf_nan=False,
        description="Sizes the Offline query; unset means measured by a pilot.",
    )
    performance_sample_count_override: int | None = Field(
        default=None,
        ge=1,
        le=TRACE_SAMPLE_LIMIT,
        description="Samples loaded for performance runs; unset means the QSL's own.",
    )

    accuracy_log_probability: float = Field(
        default=0.0, ge=0.0, le=1.0, allow_inf_nan=False,
        description="Share of performance-run responses logged (compliance TEST01); 0 logs none.",
    )
    accuracy_log_rng_seed: int = _Seed
    performance_issue_same: bool = Field(
        default=False, description="Every query uses the same loaded sample (compliance TEST04)."
    )
    performance_issue_same_index: int = Field(
        default=0, ge=0, le=UINT64_MAX, description="With performance_issue_same: the position in the loaded set used."
    )

    qsl_rng_seed: int = _Seed
    sample_index_rng_seed: int = _Seed
    schedule_rng_seed: int = _Seed

    warmup_ms: int = Field(
        default=0, ge=0, le=DURATION_LIMIT_MS, description="Untimed, unrecorded warm-up before the run."
    )
    pilot_ms: int = Field(default=300, ge=10, le=60_000, description="Length of the pilot that measures the SUT.")
    sample_timeout_ms: int = Field(
        default=10_000,
        ge=1,
        le=DURATION_LIMIT_MS,
        description="Abort when samples are outstanding and none completed for this long; bounds the drain.",
    )

    @field_validator("scenario", mode="before")
    @classmethod
    def _parse_scenario(cls, value: Any) -> Any:
        return Scenario.parse(value) if isinstance(value, str) else value

    @field_validator("mode", mode="before")
    @classmethod
    def _parse_mode(cls, value: Any) -> Any:
        return Mode.parse(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check_combinations(self) -> TestSettings:
        clashes = [
            f"{low} ({getattr(self, low)}) must not exceed {high} ({getattr(self, high)})"
            for low, high in (("min_duration_ms", "max_duration_ms"), ("min_query_count", "max_query_count"))
            if getattr(self, high) is not None and getattr(self, low) > getattr(self, high)
        ]
        if self.mode is Mode.FindPeakPerformance and self.scenario is not Scenario.Server:
            clashes.append(f"mode FindPeakPerformance needs scenario Server, not {self.scenario.value}")
        if clashes:
            raise ValueError(COMBINATION_SEPARATOR.join(clashes))
        return self

    def target_latency_percentile(self) -> float | None:
        """The percentile the scenario's latency rule is stated at (None for Offline)."""
        return {
            Scenario.SingleStream: self.single_stream_target_latency_percentile,
            Scenario.MultiStream: self.multi_stream_target_latency_percentile,
            Scenario.Server: self.server_target_latency_percentile,
        }.get(self.scenario)


SETTING_NAMES: tuple[str, ...] = tuple(TestSettings.model_fields)


def _show_bound(value: float) -> str:
    """A range bound as a reader wants it: 2592000000 (30 days), 1e+09, 0.01."""
    if isinstance(value, float):
        return f"{value:g}"
    named = {DURATION_LIMIT_MS: " (30 days)", LATENCY_LIMIT_NS: " (30 days)"}
    return f"{value}{named.get(value, '')}"


def describe_allowed(name: str) -> str:
    """The allowed values of one setting, in words, from the model's own metadata."""
    field = TestSettings.model_fields[name]
    annotation = field.annotation
    optional = ", or unset" if "None" in str(annotation) else ""
    if name == "scenario":
        return ", ".join(m.value for m in Scenario)
    if name == "mode":
        return ", ".join(m.value for m in Mode)
    kind = "a whole number" if "int" in str(annotation) else "a number"
    if "bool" in str(annotation):
        return "true or false"
    bounds = []
    for item in field.metadata:
        for attr, sign in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
            if isinstance(item, getattr(annotated_types, attr.capitalize())):
                bounds.append(f"{sign} {_show_bound(getattr(item, attr))}")
    return f"{kind} {' and '.join(bounds)}{optional}".strip()


def settings_schema() -> dict[str, Any]:
    """The settings' JSON schema, for editors and `--print-schema`."""
    return TestSettings.model_json_schema()
