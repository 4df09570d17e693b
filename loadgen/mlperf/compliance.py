"""MLPerf's compliance tests as a library: each test's runs and their verdicts.

TEST01 and TEST04 compare two runs (loadgen/cli/compliance.py describes them); TEST06,
TEST07 and TEST09 judge the responses of one run (loadgen.mlperf.output_tests). TEST05 is
kept, though upstream no longer ships it (its last home was compliance/nvidia/TEST05).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from loadgen.benchmark.runner import Benchmark
from loadgen.engine.loops import response_log_mask
from loadgen.engine.trace import NOT_YET
from loadgen.errors import SettingsError
from loadgen.metrics.result import RunResult
from loadgen.mlperf.config import WILDCARD, lookup, read_config_file, rules_path
from loadgen.mlperf.output_tests import (
    LOG_EVERY_RESPONSE,
    OutputRules,
    OutputVerdict,
    check_logged_accuracy,
    check_output_consistency,
    check_output_length,
    logged_entries,
)
from loadgen.settings.model import Mode, Scenario, TestSettings
from reports.accuracy_log import response_bytes
from reports.summary import format_ns

TESTS = ("TEST01", "TEST04", "TEST05", "TEST06", "TEST07", "TEST09")
OUTPUT_TESTS = ("TEST06", "TEST07", "TEST09")
"""Tests of one run's logged responses."""


TEST01_LOG_PROBABILITY = 0.1
"""Share of performance-run responses TEST01 logs when the settings do not say. LoadGen's
current audit.config files give a count instead (accuracy_log_sampling_target, 64 to 1024
responses a run), which needs the run's expected length before its pilot has measured it."""


TEST01_LOG_RNG_SEED = 720381539243781796
"""accuracy_log_rng_seed of every TEST01 audit.config in MLPerf's compliance suite."""


TEST04_SAME_INDEX = 3
"""performance_issue_same_index of TEST04's audit.config."""


TEST04_THRESHOLD = 0.10


TEST05_THRESHOLD = 0.05


RELAXED_THRESHOLD = 0.20


RELAXED_UP_TO_NS = {Scenario.SingleStream: 200_000, Scenario.MultiStream: 1_600_000}
"""A reference latency at or below this relaxes the threshold to RELAXED_THRESHOLD."""


SEED_KEYS = ("qsl_rng_seed", "sample_index_rng_seed", "schedule_rng_seed")


MISMATCHES_SHOWN = 5


Runner = Callable[[TestSettings], Benchmark]
"""Runs one benchmark of the SUT under test with the given settings."""


@dataclass(frozen=True)
class Figures:
    """What a performance check reads from one run, as LoadGen's scripts read its summary."""

    scenario: Scenario
    valid: bool
    headline_name: str
    headline: float | None
    server_target_latency_ns: int | None = None

    @classmethod
    def of(cls, result: RunResult) -> Figures:
        metrics = result.metrics
        scenario = Scenario.parse(result.scenario)
        latency_bound = result.settings_effective.get("server_target_latency_ns")
        return cls(
            scenario=scenario,
            valid=result.valid,
            headline_name=metrics.headline_name if metrics else "headline",
            headline=metrics.headline_value if metrics else None,
            server_target_latency_ns=latency_bound if scenario is Scenario.Server else None,
        )

    @property
    def is_latency(self) -> bool:
        """SingleStream and MultiStream report a latency (lower is better), the others a rate."""
        return self.scenario in RELAXED_UP_TO_NS

    def shown(self) -> str:
        name, value = self.headline_name, "none" if self.headline is None else f"{self.headline:,.2f}"
        if self.is_latency and self.headline is not None:
            name, value = name.removesuffix(" (ns)"), format_ns(self.headline)
        return f"{name}: {value} ({'VALID' if self.valid else 'INVALID'})"


@dataclass(frozen=True)
class Verdict:
    """TEST PASS or TEST FAIL, the figures it rests on and, on FAIL, why."""

    test: str
    passed: bool
    figures: list[str]
    failures: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        last = "TEST PASS" if self.passed else "TEST FAIL: " + "; ".join(self.failures)
        return [f"{self.test}: {line}" for line in self.figures] + [last]


def threshold(base: float, reference: Figures) -> tuple[float, str]:
    """The pass threshold, and a note when it is relaxed for a short SingleStream/MultiStream latency."""
    limit_ns = RELAXED_UP_TO_NS.get(reference.scenario)
    if limit_ns is not None and reference.headline is not None and reference.headline <= limit_ns:
        return RELAXED_THRESHOLD, f"; relaxed from {base:.0%}: the reference latency is at most {format_ns(limit_ns)}"
    return base, ""


def comparison_problems(reference: Figures, test: Figures, names: tuple[str, str]) -> list[str]:
    """Why two runs cannot be compared: an INVALID run, different scenarios or latency bounds."""
    runs = list(zip(names, (reference, test), strict=True))
    problems = [f"the {name} run is INVALID" for name, run in runs if not run.valid]
    problems += [f"the {name} run has no {run.headline_name}" for name, run in runs
                 if run.headline is None or run.headline <= 0]
    if reference.scenario is not test.scenario:
        problems.append(f"scenarios differ: {reference.scenario.value} and {test.scenario.value}")
    elif reference.server_target_latency_ns != test.server_target_latency_ns:
        bounds = (reference.server_target_latency_ns, test.server_target_latency_ns)
        problems.append(f"Server target latency differs: {bounds[0]} and {bounds[1]} ns")
    return problems


def speed_ratio(reference: Figures, test: Figures) -> float:
    """How many times as fast the test run is: rate over rate, or latency over latency inverted."""
    assert reference.headline and test.headline
    if reference.is_latency:
        return reference.headline / test.headline
    return test.headline / reference.headline


def check_same_sample(reference: Figures, same: Figures) -> Verdict:
    """TEST04: FAIL when the same-sample run is faster by the threshold or more.

    LoadGen's TEST04 verify_performance.py scores SingleStream/MultiStream as 1e9 / latency
    and the others by their rate, and passes when test < reference x (1 + threshold). It
    tests its 20% relaxation (score <= 200,000 / 1,600,000) on that inverted score, which
    relaxes every latency of 5 us or more; this tests the latency, as the script's comment
    and TEST05's README intend.
    """
    figures = [f"reference run:   {reference.shown()}", f"same-sample run: {same.shown()}"]
    problems = comparison_problems(reference, same, ("reference", "same-sample"))
    if problems:
        return Verdict("TEST04", False, figures, problems)
    limit, why = threshold(TEST04_THRESHOLD, reference)
    ratio = speed_ratio(reference, same)
    figures.append(
        f"the same-sample run is {ratio:.3f}x as fast as the reference "
        f"(FAIL at {1 + limit:.2f}x or more{why})"
    )
    passed = ratio < 1 + limit
    failure = f"the same-sample run is {ratio - 1:.1%} faster: does the SUT cache results?"
    return Verdict("TEST04", passed, figures, [] if passed else [failure])


def check_alternate_seeds(reference: Figures, alternate: Figures) -> Verdict:
    """TEST05: FAIL when the alternate-seed run is slower by the threshold or more.

    LoadGen's TEST05 verify_performance.py passes a latency when test < reference x (1 +
    threshold) and a rate when test > reference x (1 - threshold): one-sided, in the
    metric's own units.
    """
    figures = [f"official seeds: {reference.shown()}", f"TEST05 seeds:   {alternate.shown()}"]
    problems = comparison_problems(reference, alternate, ("official-seed", "alternate-seed"))
    if problems:
        return Verdict("TEST05", False, figures, problems)
    limit, why = threshold(TEST05_THRESHOLD, reference)
    assert reference.headline and alternate.headline
    if reference.is_latency:
        change = alternate.headline / reference.headline - 1
        passed = alternate.headline < reference.headline * (1 + limit)
    else:
        change = 1 - alternate.headline / reference.headline
        passed = alternate.headline > reference.headline * (1 - limit)
    word = "slower" if change >= 0 else "faster"
    figures.append(
        f"the alternate seeds are {abs(change):.1%} {word} (FAIL at {limit:.0%} slower or more{why}; "
        "faster never fails)"
    )
    failure = f"the alternate seeds are {change:.1%} slower: is the SUT tuned to the official seeds?"
    return Verdict("TEST05", passed, figures, [] if passed else [failure])


@dataclass(frozen=True)
class Mismatch:
    """One logged response that differs from the accuracy run's for its sample index."""

    row: int
    sample_index: int
    logged: bytes
    expected: bytes

    def describe(self) -> str:
        def show(data: bytes) -> str:
            return f"{len(data)} bytes {data[:16].hex().upper()}{'..' if len(data) > 16 else ''}"

        where = f"sample {self.sample_index} (row {self.row})"
        return f"{where}: logged {show(self.logged)}, accuracy run {show(self.expected)}"


@dataclass(frozen=True)
class ResponseComparison:
    """Logged performance-run responses against the accuracy run's, by sample index."""

    compared: int
    matched: int
    missing: int
    examples: list[Mismatch]
    """The first MISMATCHES_SHOWN mismatches."""

    @property
    def mismatched(self) -> int:
        return self.compared - self.matched


def accuracy_responses(benchmark: Benchmark) -> dict[int, bytes]:
    """Sample index -> response bytes of an accuracy run (empty where none was given)."""
    record = benchmark.accuracy
    if record is None:
        return {}
    return {int(index): response_bytes(record.responses.get(row, b"")) for row, index in enumerate(record.sample_index)}


def logged_responses(benchmark: Benchmark, settings: TestSettings) -> list[tuple[int, int, bytes]]:
    """(row, sample index, response bytes) of every completed sample the run chose to log."""
    trace = benchmark.trace
    mask = np.asarray(response_log_mask(settings, len(trace)), dtype=bool)
    if mask.ndim == 0:
        mask = np.full(len(trace), bool(mask))
    rows = np.flatnonzero(mask & (trace.completed_ns != NOT_YET))
    responses = benchmark.accuracy.responses if benchmark.accuracy is not None else {}
    return [(row, int(trace.sample_index[row]), response_bytes(responses.get(row, b""))) for row in rows.tolist()]


def compare_responses(expected: Mapping[int, bytes], logged: Iterable[tuple[int, int, bytes]]) -> ResponseComparison:
    """Byte-equality per logged response; one without an expected response is counted as missing.

    LoadGen's TEST01 verify_accuracy.py compares the decoded data (its first element, in the
    default mode; the whole logged line's md5 in --unixmode); this compares every byte.
    """
    compared = matched = missing = 0
    examples: list[Mismatch] = []
    for row, index, data in logged:
        if index not in expected:
            missing += 1
            continue
        compared += 1
        if data == expected[index]:
            matched += 1
        elif len(examples) < MISMATCHES_SHOWN:
            examples.append(Mismatch(row, index, data, expected[index]))
    return ResponseComparison(compared, matched, missing, examples)


def check_responses(comparison: ResponseComparison, performance: Figures, settings: TestSettings) -> Verdict:
    """TEST01: every logged response matches, at least one was compared, the run is VALID."""
    figures = [
        f"the performance run logged {comparison.compared + comparison.missing:,} responses "
        f"(accuracy_log_probability {settings.accuracy_log_probability:g}, "
        f"accuracy_log_rng_seed {settings.accuracy_log_rng_seed})",
        f"{comparison.matched:,} of {comparison.compared:,} sampled responses match the accuracy run",
    ]
    figures += [f"mismatch: {m.describe()}" for m in comparison.examples]
    if comparison.missing:
        figures.append(f"{comparison.missing} logged responses have no accuracy-run response (not compared)")
    figures.append(f"performance run: {performance.shown()}")
    failures = []
    if comparison.mismatched:
        failures.append(f"{comparison.mismatched:,} sampled responses differ from the accuracy run")
    if comparison.compared == 0:
        failures.append("no response was logged: raise accuracy_log_probability or lengthen the run")
    if not performance.valid:
        failures.append("the performance run is INVALID")
    return Verdict("TEST01", not failures, figures, failures)


def with_values(settings: TestSettings, **values: Any) -> TestSettings:
    """A validated copy of settings with some values replaced."""
    return TestSettings.model_validate({**settings.model_dump(), **values})


def pinned_to_pilot(settings: TestSettings, reference: RunResult) -> TestSettings:
    """The second run sizes its schedule with the values the first run's pilot chose."""
    chosen = {key: reference.settings_effective[key] for key in reference.chosen_by_pilot}
    return with_values(settings, **chosen) if chosen else settings


def mlperf_conf_seeds(scenario: Scenario) -> tuple[dict[str, int], dict[str, int]]:
    """The official seeds and the TEST05 alternates of scenarios/mlperf.conf."""
    path = rules_path("mlperf")
    values = lookup(read_config_file(path), WILDCARD, scenario)
    missing = [key for key in SEED_KEYS + tuple(f"test05_{k}" for k in SEED_KEYS) if key not in values]
    if missing:
        raise SettingsError([f"{path}: no {', '.join(missing)}"])
    official = {key: int(values[key], 0) for key in SEED_KEYS}
    alternate = {key: int(values[f"test05_{key}"], 0) for key in SEED_KEYS}
    return official, alternate


@dataclass(frozen=True)
class Plan:
    """A test's runs (two, or one for the output tests): names (also their folder names),
    settings, and notes to print."""

    names: tuple[str, ...]
    first: TestSettings
    second: TestSettings | None
    notes: list[str]
    reference: TestSettings | None = None
    """TEST01's reference performance run, between the two (named names[2]); the second run
    then reuses its pilot values, and its score is compared with the second's."""


def plan_test01(settings: TestSettings) -> Plan:
    defaults = {"accuracy_log_probability": TEST01_LOG_PROBABILITY, "accuracy_log_rng_seed": TEST01_LOG_RNG_SEED}
    logging = {
        key: getattr(settings, key) if key in settings.model_fields_set else default
        for key, default in defaults.items()
    }
    if logging["accuracy_log_probability"] == 0:
        raise SettingsError(["TEST01: accuracy_log_probability = 0 logs no response; allowed: > 0 and <= 1"])
    accuracy = with_values(settings, mode=Mode.AccuracyOnly, accuracy_log_probability=0.0)
    performance = with_values(settings, mode=Mode.PerformanceOnly, **logging)
    reference = with_values(settings, mode=Mode.PerformanceOnly, accuracy_log_probability=0.0)
    note = "a reference performance run (no logging) precedes the logging run; their scores must agree within 10%"
    return Plan(("accuracy", "performance", "reference"), accuracy, performance, [note], reference)


def plan_test04(settings: TestSettings) -> Plan:
    given = "performance_issue_same_index" in settings.model_fields_set
    index = settings.performance_issue_same_index if given else TEST04_SAME_INDEX
    reference = with_values(settings, mode=Mode.PerformanceOnly, performance_issue_same=False)
    same = with_values(reference, performance_issue_same=True, performance_issue_same_index=index)
    note = f"every query of the same-sample run uses the sample at position {index} of the loaded set"
    return Plan(("reference", "same_sample"), reference, same, [note])


def plan_test05(settings: TestSettings) -> Plan:
    official, alternate = mlperf_conf_seeds(settings.scenario)
    notes = [
        "official seeds (mlperf.conf): " + ", ".join(f"{k} {v}" for k, v in official.items()),
        "TEST05 seeds (mlperf.conf):   " + ", ".join(f"{k} {v}" for k, v in alternate.items()),
    ]
    overridden = [key for key in SEED_KEYS if key in settings.model_fields_set]
    if overridden:
        notes.append(f"the settings' {', '.join(overridden)} are not used: TEST05 sets every seed")
    reference = with_values(settings, mode=Mode.PerformanceOnly, **official)
    return Plan(("reference", "alternate_seeds"), reference, with_values(reference, **alternate), notes)


def plan_output_test(test: str, settings: TestSettings) -> Plan:
    """TEST06/07/09: one performance run that logs every response (TEST06 and TEST09 with token
    latencies, so that token counts are recorded)."""
    values: dict[str, Any] = {
        "mode": Mode.PerformanceOnly,
        "accuracy_log_probability": LOG_EVERY_RESPONSE,
        "accuracy_log_rng_seed": TEST01_LOG_RNG_SEED,
    }
    if test != "TEST07":
        values["use_token_latencies"] = True
    note = "the performance run logs every response (accuracy_log_probability 1)"
    return Plan(("performance",), with_values(settings, **values), None, [note])


PLANS: dict[str, Callable[[TestSettings], Plan]] = {
    "TEST01": plan_test01,
    "TEST04": plan_test04,
    "TEST05": plan_test05,
    **{test: (lambda settings, test=test: plan_output_test(test, settings)) for test in OUTPUT_TESTS},  # type: ignore[misc]
}


@dataclass
class Outcome:
    """A compliance test's runs, by name, in order; the verdict when both ran to the end."""

    test: str
    plan: Plan
    runs: dict[str, Benchmark]
    verdict: Verdict | OutputVerdict | None
    notes: list[str] = field(default_factory=list)
    entries: list[dict[str, Any]] = field(default_factory=list)
    """The output tests' logged responses, as mlperf_log_accuracy.json entries."""
    parts: dict[str, Verdict] = field(default_factory=dict)
    """TEST01's two checks by upstream's file name: verify_accuracy.txt, verify_performance.txt."""

    @property
    def aborted(self) -> Benchmark | None:
        """The run that ended with an error, if any (the test then has no verdict)."""
        return next((run for run in self.runs.values() if run.error is not None), None)


def verify(test: str, first: Benchmark, second: Benchmark, second_settings: TestSettings) -> Verdict:
    """Judge a test's two finished runs."""
    if test == "TEST01":
        comparison = compare_responses(accuracy_responses(first), logged_responses(second, second_settings))
        return check_responses(comparison, Figures.of(second.result), second_settings)
    check = check_same_sample if test == "TEST04" else check_alternate_seeds
    return check(Figures.of(first.result), Figures.of(second.result))


def verify_output(test: str, run: Benchmark, rules: OutputRules, labels: Any = None,
                  first_tokens: Mapping[int, bytes] | None = None) -> tuple[OutputVerdict, list[dict[str, Any]]]:
    """Judge an output test's run; also returns the logged entries it judged."""
    entries = logged_entries(run, first_tokens)
    if test == "TEST06":
        return check_output_consistency(entries, run.result.scenario, rules), entries
    if test == "TEST07":
        return check_logged_accuracy(run, labels, rules), entries
    return check_output_length(entries, rules), entries


def run_compliance(test: str, run: Runner, settings: TestSettings, rules: OutputRules | None = None,
                   labels: Any = None, first_tokens: Mapping[int, bytes] | None = None) -> Outcome:
    """Run one compliance test: the first run, the second (with its pilot values), the verdict.
    The output tests make one run; `labels` score TEST07, `first_tokens` (by sample id, from
    output_tests.FirstTokenSUT) feed TEST06's first-token check.

    A run that ends with an error stops the test there, without a verdict.
    """
    plan = PLANS[test](settings)
    first = run(plan.first)
    outcome = Outcome(test, plan, {plan.names[0]: first}, None, list(plan.notes))
    if first.error is not None:
        return outcome
    if plan.second is None:
        outcome.verdict, outcome.entries = verify_output(test, first, rules or OutputRules(), labels, first_tokens)
        return outcome
    assert plan.second is not None
    pilot_run, pilot_name = first, plan.names[0]
    reference = None
    if plan.reference is not None:
        reference = outcome.runs[plan.names[2]] = run(plan.reference)
        if reference.error is not None:
            return outcome
        pilot_run, pilot_name = reference, plan.names[2]
    second_settings = pinned_to_pilot(plan.second, pilot_run.result)
    reused = pilot_run.result.settings_effective
    outcome.notes += [
        f"the {plan.names[1]} run reuses the {pilot_name} run's pilot value {key} = {reused[key]}"
        for key in pilot_run.result.chosen_by_pilot
    ]
    second = outcome.runs[plan.names[1]] = run(second_settings)
    if second.error is None:
        outcome.verdict = verify(test, first, second, second_settings)
        if reference is not None and isinstance(outcome.verdict, Verdict):
            performance = check_same_score(Figures.of(reference.result), Figures.of(second.result))
            outcome.parts = {"verify_accuracy.txt": outcome.verdict, "verify_performance.txt": performance}
            outcome.verdict = combined(outcome.verdict, performance)
    return outcome


def check_same_score(reference: Figures, test: Figures) -> Verdict:
    """TEST01's performance check (its verify_performance.py): the logging run's score within
    10% of the reference run's, either way (20% for short SingleStream/MultiStream latencies)."""
    figures = [f"reference run: {reference.shown()}", f"logging run:   {test.shown()}"]
    problems = comparison_problems(reference, test, ("reference", "logging"))
    if problems:
        return Verdict("TEST01", False, figures, problems)
    assert reference.headline and test.headline
    limit, why = threshold(TEST04_THRESHOLD, reference)
    change = test.headline / reference.headline - 1
    passed = abs(change) <= limit
    figures.append(f"the logging run's score is {change:+.1%} from the reference (FAIL beyond {limit:.0%}{why})")
    failure = f"the logging run's score differs by {change:+.1%} from the reference run's"
    return Verdict("TEST01", passed, figures, [] if passed else [failure])


def combined(responses: Verdict, performance: Verdict) -> Verdict:
    """TEST01 passes when both its response and its performance checks pass."""
    return Verdict(responses.test, responses.passed and performance.passed,
                   [*responses.figures, *performance.figures], [*responses.failures, *performance.failures])
