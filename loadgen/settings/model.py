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


_Percentile = dict(gt=0.0, lt=1.0, allow_inf_nan=False)


class TestSettings(BaseModel):
    """What the user asked for. Immutable; the engine derives effective values from it."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    __test__: ClassVar[bool] = False  # the name starts with "Test"; pytest must not collect it

    scenario: Scenario = Field(default=Scenario.SingleStream, description="Which LoadGen scenario to run.")
    mode: Mode = Field(default=Mode.PerformanceOnly, description="What the run measures.")

    min_duration_ms: int = Field(default=10_000, ge=0, description="The run lasts at least this long.")
    max_duration_ms: int | None = Field(
        default=None, ge=1, description="Stop issuing after this long; unset means no limit."
    )
    min_query_count: int = Field(default=100, ge=1, description="The run issues at least this many queries.")
    max_query_count: int | None = Field(
        default=None, ge=1, description="Issue at most this many queries; unset means no limit."
    )

    single_stream_expected_latency_ns: int | None = Field(
        default=None, ge=1, description="Sizes the SingleStream schedule; unset means measured by a pilot."
    )
    single_stream_target_latency_percentile: float = Field(default=0.90, **_Percentile)
    multi_stream_expected_latency_ns: int | None = Field(
        default=None, ge=1, description="Sizes the MultiStream schedule; unset means measured by a pilot."
    )
    multi_stream_target_latency_percentile: float = Field(default=0.99, **_Percentile)
    multi_stream_samples_per_query: int = Field(default=8, ge=1)

    server_target_qps: float | None = Field(
        default=None, gt=0, allow_inf_nan=False, description="Poisson arrival rate; unset means chosen by a pilot."
    )
    server_target_latency_ns: int = Field(default=100_000_000, ge=1)
    server_target_latency_percentile: float = Field(default=0.99, **_Percentile)
    server_max_async_queries: int | None = Field(
        default=None, ge=1, description="Cap on outstanding Server queries; unset means no cap."
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
    ttft_latency: int = Field(default=100_000_000, ge=1, description="Server bound on time to first token, ns.")
    tpot_latency: int = Field(default=100_000_000, ge=1, description="Server bound on time per output token, ns.")

    offline_expected_qps: float | None = Field(
        default=None,
        gt=0,
        allow_inf_nan=False,
        description="Sizes the Offline query; unset means measured by a pilot.",
    )
    performance_sample_count_override: int | None = Field(
        default=None, ge=1, description="Samples loaded for performance runs; unset means the QSL's own."
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
        default=0, ge=0, description="With performance_issue_same: the position in the loaded set used."
    )

    qsl_rng_seed: int = _Seed
    sample_index_rng_seed: int = _Seed
    schedule_rng_seed: int = _Seed

    warmup_ms: int = Field(default=0, ge=0, description="Untimed, unrecorded warm-up before the run.")
    pilot_ms: int = Field(default=300, ge=10, le=60_000, description="Length of the pilot that measures the SUT.")
    sample_timeout_ms: int = Field(
        default=10_000,
        ge=1,
        description="Abort when samples are outstanding and none completed for this long.",
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
                bounds.append(f"{sign} {getattr(item, attr)}")
    return f"{kind} {' and '.join(bounds)}{optional}".strip()


def settings_schema() -> dict[str, Any]:
    """The settings' JSON schema, for editors and `--print-schema`."""
    return TestSettings.model_json_schema()
