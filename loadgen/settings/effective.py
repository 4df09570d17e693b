"""The values a run uses, derived once from what the user asked for, every time in ns.

As LoadGen's TestSettingsInternal does for its TestSettings: `TestSettings` is the request
(milliseconds where the user thinks in them, "unset" where a pilot is to measure), and
`EffectiveSettings` is what the schedule, the engine, the pilot and the verdict read: every
duration in nanoseconds, the scenario's own latency rule and rate picked out, converted in
exactly one place. The request stays attached (`settings`), as result.json records it.
"""

from __future__ import annotations

from dataclasses import dataclass

from loadgen.settings.model import Mode, Scenario, TestSettings

NS_PER_MS = 1_000_000

SIZING_KEY = {
    Scenario.SingleStream: "single_stream_expected_latency_ns",
    Scenario.MultiStream: "multi_stream_expected_latency_ns",
    Scenario.Server: "server_target_qps",
    Scenario.Offline: "offline_expected_qps",
}
"""The setting that sizes each scenario's schedule; a pilot measures it when unset."""


@dataclass(frozen=True)
class EffectiveSettings:
    """Derived values of one run; build with `EffectiveSettings.derive(settings)`."""

    settings: TestSettings
    scenario: Scenario
    mode: Mode
    min_duration_ns: int
    max_duration_ns: int | None
    sample_timeout_ns: int
    warmup_ns: int
    pilot_ns: int
    min_query_count: int
    max_query_count: int | None
    samples_per_query: int
    """Samples in each query of the scenario's shape (MultiStream's samples_per_query, else 1)."""
    expected_latency_ns: int | None
    """SingleStream/MultiStream: the latency that sizes the schedule (None until measured)."""
    target_qps: float | None
    """Server: the arrival rate; Offline: the expected samples/s; SingleStream/MultiStream:
    1e9 / expected latency, as LoadGen derives it (None until measured)."""
    target_latency_ns: int | None
    """Server's latency bound (None in other scenarios, whose latency is reported, not bounded)."""
    target_latency_percentile: float | None
    ttft_latency_ns: int
    tpot_latency_ns: int
    max_async_queries: int | None
    coalesce_queries: bool

    @classmethod
    def derive(cls, settings: TestSettings) -> EffectiveSettings:
        """The one place milliseconds become nanoseconds and the scenario's values are picked."""
        scenario = settings.scenario
        expected = {
            Scenario.SingleStream: settings.single_stream_expected_latency_ns,
            Scenario.MultiStream: settings.multi_stream_expected_latency_ns,
        }.get(scenario)
        rate = {Scenario.Server: settings.server_target_qps, Scenario.Offline: settings.offline_expected_qps}
        target_qps = rate.get(scenario, 1e9 / expected if expected else None)
        return cls(
            settings=settings,
            scenario=scenario,
            mode=settings.mode,
            min_duration_ns=settings.min_duration_ms * NS_PER_MS,
            max_duration_ns=None if settings.max_duration_ms is None else settings.max_duration_ms * NS_PER_MS,
            sample_timeout_ns=settings.sample_timeout_ms * NS_PER_MS,
            warmup_ns=settings.warmup_ms * NS_PER_MS,
            pilot_ns=settings.pilot_ms * NS_PER_MS,
            min_query_count=settings.min_query_count,
            max_query_count=settings.max_query_count,
            samples_per_query=settings.multi_stream_samples_per_query if scenario is Scenario.MultiStream else 1,
            expected_latency_ns=expected,
            target_qps=target_qps,
            target_latency_ns=settings.server_target_latency_ns if scenario is Scenario.Server else None,
            target_latency_percentile=settings.target_latency_percentile(),
            ttft_latency_ns=settings.ttft_latency,
            tpot_latency_ns=settings.tpot_latency,
            max_async_queries=settings.server_max_async_queries,
            coalesce_queries=settings.server_coalesce_queries,
        )

    @classmethod
    def of(cls, settings: TestSettings | EffectiveSettings) -> EffectiveSettings:
        """Effective settings from either form, so a caller holding the request need not derive."""
        return settings if isinstance(settings, EffectiveSettings) else cls.derive(settings)

    @property
    def sizing_key(self) -> str:
        """The setting that sizes this scenario's schedule."""
        return SIZING_KEY[self.scenario]

    @property
    def needs_pilot(self) -> bool:
        """True while the sizing value is unset (a pilot measures it before the schedule is built)."""
        return getattr(self.settings, self.sizing_key) is None

    def with_sizing(self, value: float | int) -> EffectiveSettings:
        """These settings with the sizing value filled in (by the pilot), derived again."""
        return EffectiveSettings.derive(self.settings.model_copy(update={self.sizing_key: value}))
