"""MLPerf config files (`mlperf.conf`, `user.conf`, `audit.config`) read the way LoadGen reads them.

LoadGen's `TestSettings::FromConfig(path, model, scenario, conf_type)` reads lines of the form

    model.scenario.key = value        # `*` as model or scenario matches any

and, for each key it knows, takes the value of the most specific line: `model.scenario` before
`*.scenario` before `model.*` before `*.*`; between lines with the same three parts the later
line wins. Times are in milliseconds, percentiles in percent (90 means 0.90), and 0 in
`max_duration`, `max_query_count` and `max_async_queries` means "no limit".

Three files, lowest first:

* the official rules file (`mlperf.conf`, compiled into LoadGen; ours ships as
  `scenarios/mlperf.conf`). Only this file may set the seeds: LoadGen reads
  `qsl_rng_seed`, `sample_index_rng_seed`, `schedule_rng_seed`, the `test05*` keys and
  `accuracy_log_probability` only when `conf_type == 0` (the built-in file).
* `user.conf` (`conf_type == 1`), the submitter's values.
* `audit.config` (`conf_type == 2`), the compliance tests' overrides; LoadGen looks it up
  with model `*`, so only lines whose model is `*` apply.

Where LoadGen is silent we are strict: a line LoadGen would skip without a word (no spaces
around `=`, a misspelt key, an unknown scenario name) is a `SettingsError` naming file:line;
a value LoadGen would truncate (`1.5` for a whole-number key) or read as octal (`010`) is
refused. Keys LoadGen understands but this harness does not implement yet are returned in
`ConfigValues.unsupported`, never dropped silently.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from loadgen.errors import SettingsError
from loadgen.settings.layers import SHIPPED, read_capped, shipped_file
from loadgen.settings.model import UINT64_MAX, Mode, Scenario

WILDCARD = "*"
SCENARIO_NAMES: tuple[str, ...] = tuple(s.value for s in Scenario)
RULES_FILE_NAME = "mlperf.conf"
NS_PER_MS = 1_000_000

# LoadGen's mode key: 0 SubmissionRun, 1 AccuracyOnly, 2 PerformanceOnly, 3 FindPeakPerformance.
LOADGEN_MODES = {0: "SubmissionRun", 1: "AccuracyOnly", 2: "PerformanceOnly", 3: "FindPeakPerformance"}

# ---------------------------------------------------------------------------------------------
# Parsing


@dataclass(frozen=True)
class ConfigLine:
    """One `model.scenario.key = value` line of a config file."""

    path: str
    line_no: int
    model: str
    scenario: str
    key: str
    raw_value: str

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line_no}"


# LoadGen accepts a value that strtoul(base 0) or strtod reads entirely. We accept the forms
# that mean the same thing everywhere: decimal and 0x-hex whole numbers, decimal fractions.
_INT_RE = re.compile(r"[+-]?(?:0[xX][0-9a-fA-F]+|0|[1-9][0-9]*)")
_LEADING_ZERO_RE = re.compile(r"[+-]?0[0-9]+")
_FLOAT_RE = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
MAX_VALUE_CHARS = 64
"""The longest value a config line may hold: real values are a few digits; a longer one is a typo
(or a crafted file) and is refused before any arithmetic."""
DECIMAL_LIMIT = Decimal("1e30")
"""Decimal values beyond this magnitude are refused: no LoadGen setting needs them, and the
arithmetic on them (ms to ns) would overflow."""
_SYNTAX = "expected 'model.scenario.key = value' (spaces around '=', as LoadGen requires)"


def _value_problem(raw: str) -> str | None:
    if len(raw) > MAX_VALUE_CHARS:
        return f"value of {len(raw)} characters; at most {MAX_VALUE_CHARS}"
    if _LEADING_ZERO_RE.fullmatch(raw):
        return f"value {raw!r} has a leading zero, which LoadGen reads as octal; write it without the 0"
    if _INT_RE.fullmatch(raw) or _FLOAT_RE.fullmatch(raw):
        return None
    return f"value {raw!r} is not a number (LoadGen accepts only whole or decimal numbers)"


def parse_config_text(text: str, path: str | Path) -> list[ConfigLine]:
    """Every setting line of a config file, in file order; malformed lines raise, naming file:line.

    `#` starts a comment (LoadGen itself only accepts `#` as a separate word before the
    value); blank lines are skipped.
    """
    source = str(path)
    lines: list[ConfigLine] = []
    problems: list[str] = []
    for line_no, full in enumerate(text.splitlines(), start=1):
        content = full.split("#", 1)[0].strip()
        if not content:
            continue
        where = f"{source}:{line_no}"
        words = content.split()
        if len(words) != 3 or words[1] != "=":
            problems.append(f"{where}: {content!r}: {_SYNTAX}")
            continue
        name, _, raw = words
        parts = name.rsplit(".", 2)
        if len(parts) != 3 or not all(parts):
            problems.append(f"{where}: key {name!r}: expected three parts 'model.scenario.key' ('*' as wildcard)")
            continue
        model, scenario, key = parts
        if scenario != WILDCARD and scenario not in SCENARIO_NAMES:
            close = difflib.get_close_matches(scenario, SCENARIO_NAMES, n=1, cutoff=0.5)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(
                f"{where}: unknown scenario {scenario!r} in {name!r}{hint}; "
                f"allowed: {', '.join(SCENARIO_NAMES)} or '*' (case matters)"
            )
            continue
        value_problem = _value_problem(raw)
        if value_problem:
            problems.append(f"{where}: {name}: {value_problem}")
            continue
        lines.append(ConfigLine(source, line_no, model, scenario, key, raw))
    if problems:
        raise SettingsError(problems)
    return lines


def read_config_file(path: str | Path) -> list[ConfigLine]:
    """Parse a config file; a missing or unreadable file is a settings problem naming it."""
    return parse_config_text(read_capped(Path(path), "config file"), path)


# ---------------------------------------------------------------------------------------------
# Lookup


class LookedUp(dict[str, str]):
    """`key -> raw value`, plus `origins`: `key -> "file:line"` of the line that won."""

    def __init__(self, values: Mapping[str, str] | None = None, origins: Mapping[str, str] | None = None) -> None:
        super().__init__(values or {})
        self.origins: dict[str, str] = dict(origins or {})


def _scenario_name(scenario: Scenario | str) -> str:
    if isinstance(scenario, Scenario):
        return scenario.value
    return scenario if scenario == WILDCARD else Scenario.parse(scenario).value


def lookup(lines: Iterable[ConfigLine], model: str, scenario: Scenario | str) -> LookedUp:
    """The value of every key for one model and scenario, with LoadGen's precedence.

    Most specific first: model.scenario > *.scenario > model.* > *.*; among lines with the
    same model, scenario and key the later line wins.
    """
    scen = _scenario_name(scenario)
    latest: dict[tuple[str, str, str], ConfigLine] = {}
    for line in lines:
        latest[(line.model, line.scenario, line.key)] = line
    result = LookedUp()
    keys = dict.fromkeys(key for (_, _, key) in latest)
    for key in keys:
        for m, s in ((model, scen), (WILDCARD, scen), (model, WILDCARD), (WILDCARD, WILDCARD)):
            winner = latest.get((m, s, key))
            if winner is not None:
                result[key] = winner.raw_value
                result.origins[key] = winner.where
                break
    return result


# ---------------------------------------------------------------------------------------------
# Keys and their meaning


def _whole(raw: str) -> int:
    if not _INT_RE.fullmatch(raw):
        raise ValueError("must be a whole number (LoadGen would cut off the fraction)")
    value = int(raw, 0)
    if value < 0:
        raise ValueError("must not be negative")
    if value > UINT64_MAX:
        raise ValueError(f"must be at most {UINT64_MAX} (an unsigned 64-bit number)")
    return value


def _decimal(raw: str) -> Decimal:
    try:
        value = Decimal(int(raw, 0)) if _INT_RE.fullmatch(raw) else Decimal(raw)
    except (InvalidOperation, ValueError):
        raise ValueError("must be a number") from None
    if not value.is_finite() or abs(value) > DECIMAL_LIMIT:
        raise ValueError(f"must be at most {DECIMAL_LIMIT} in magnitude")
    return value


@dataclass(frozen=True)
class _Set:
    """The key sets one of our settings."""

    attr: str
    value: Any


@dataclass(frozen=True)
class _Unsupported:
    """LoadGen acts on the key at this value; this harness does not yet."""

    why: str


@dataclass(frozen=True)
class _Ignored:
    """The key has no effect here (as in LoadGen): wrong scenario, inert value, not read."""

    why: str


_Outcome = _Set | _Unsupported | _Ignored
_Handler = Callable[[str, Scenario, Mapping[str, str]], _Outcome]


@dataclass(frozen=True)
class KeySpec:
    """What one LoadGen config key means to us."""

    handle: _Handler
    rules_only: bool = False
    supported: bool = True
    doc: str = ""


def _to(attr: str, *, zero_means_unset: bool = False) -> _Handler:
    def handle(raw: str, scenario: Scenario, values: Mapping[str, str]) -> _Outcome:
        value = _whole(raw)
        return _Set(attr, None if zero_means_unset and value == 0 else value)

    return handle


def _only_in(*scenarios: Scenario) -> Callable[[_Handler], _Handler]:
    names = " and ".join(s.value for s in scenarios)

    def wrap(handler: _Handler) -> _Handler:
        def handle(raw: str, scenario: Scenario, values: Mapping[str, str]) -> _Outcome:
            if scenario not in scenarios:
                _decimal(raw)
                return _Ignored(f"LoadGen applies it only to {names}")
            return handler(raw, scenario, values)

        return handle

    return wrap


def _target_latency(raw: str, scenario: Scenario, values: Mapping[str, str]) -> _Outcome:
    if scenario is Scenario.Server:
        ms = _whole(raw)  # LoadGen: strtoull(ms) * 1e6 into uint64 server_target_latency_ns
        if ms == 0:
            return _Unsupported(
                "0 means no end-to-end latency bound (token-latency benchmarks bound TTFT/TPOT "
                "instead); not supported, server_target_latency_ns left unchanged"
            )
        return _Set("server_target_latency_ns", ms * NS_PER_MS)
    if scenario is Scenario.Offline:
        _decimal(raw)
        return _Ignored("LoadGen reads target_latency only for SingleStream, MultiStream and Server")
    expected_ms = _decimal(raw)  # LoadGen: strtod(ms) * 1e6 into a double expected latency in ns
    if expected_ms < 0:
        raise ValueError("must not be negative")
    attr = {
        Scenario.SingleStream: "single_stream_expected_latency_ns",
        Scenario.MultiStream: "multi_stream_expected_latency_ns",
    }[scenario]
    return _Set(attr, int((expected_ms * NS_PER_MS).to_integral_value()))


def _percentile(raw: str, scenario: Scenario, values: Mapping[str, str]) -> _Outcome:
    percent = _decimal(raw)
    if scenario is Scenario.Offline:
        return _Ignored("LoadGen reads a latency percentile only for SingleStream, MultiStream and Server")
    attr = {
        Scenario.SingleStream: "single_stream_target_latency_percentile",
        Scenario.MultiStream: "multi_stream_target_latency_percentile",
        Scenario.Server: "server_target_latency_percentile",
    }[scenario]
    return _Set(attr, float(percent / 100))


def _target_qps(raw: str, scenario: Scenario, values: Mapping[str, str]) -> _Outcome:
    qps = float(_decimal(raw))
    if scenario is Scenario.Server:
        return _Set("server_target_qps", qps)
    if scenario is Scenario.Offline:
        return _Set("offline_expected_qps", qps)
    return _Ignored("LoadGen reads target_qps only for Server and Offline")


@_only_in(Scenario.MultiStream)
def _samples_per_query(raw: str, scenario: Scenario, values: Mapping[str, str]) -> _Outcome:
    return _Set("multi_stream_samples_per_query", _whole(raw))


@_only_in(Scenario.Server)
def _max_async_queries(raw: str, scenario: Scenario, values: Mapping[str, str]) -> _Outcome:
    value = _whole(raw)
    return _Set("server_max_async_queries", value or None)


@_only_in(Scenario.Server)
def _coalesce_queries(raw: str, scenario: Scenario, values: Mapping[str, str]) -> _Outcome:
    return _Set("server_coalesce_queries", _whole(raw) != 0)


def _mode(raw: str, scenario: Scenario, values: Mapping[str, str]) -> _Outcome:
    value = _whole(raw)
    if value not in LOADGEN_MODES:
        raise ValueError("must be 0 (SubmissionRun), 1 (AccuracyOnly), 2 (PerformanceOnly) or 3 (FindPeakPerformance)")
    name = LOADGEN_MODES[value]
    if name in Mode.__members__:
        return _Set("mode", name)
    implemented = ", ".join(f"{n} ({m})" for n, m in LOADGEN_MODES.items() if m in Mode.__members__)
    return _Unsupported(f"{value} ({name}); implemented: {implemented}")


def _flag(values: Mapping[str, str], key: str) -> Decimal | None:
    try:
        return _decimal(values[key]) if key in values else None
    except ValueError:
        return None


def _unsupported(neutral: int | None = 0, *, inert_unless: str | None = None, any_nonzero: bool = False) -> _Handler:
    """A key we do not implement; no effect at its neutral value or while `inert_unless` is off.

    `inert_unless` is on when it is 1 (LoadGen's `val == 1`), or any non-zero value with
    `any_nonzero` (LoadGen's `val != 0`).
    """

    def handle(raw: str, scenario: Scenario, values: Mapping[str, str]) -> _Outcome:
        number = _decimal(raw)
        if inert_unless is not None:
            flag = _flag(values, inert_unless)
            on = flag is not None and (flag != 0 if any_nonzero else flag == 1)
            if not on:
                return _Ignored(f"LoadGen uses it only when {inert_unless} = 1")
        if neutral is not None and number == neutral:
            return _Ignored(f"{raw} is LoadGen's default, which is what this harness does")
        return _Unsupported(f"{raw}: not implemented by this harness yet")

    return handle


def _not_read(raw: str, scenario: Scenario, values: Mapping[str, str]) -> _Outcome:
    _decimal(raw)
    return _Ignored("present in official files but not read by LoadGen's FromConfig")


KEYS: dict[str, KeySpec] = {
    # Run length: LoadGen reads these for the scenario being run.
    "min_duration": KeySpec(_to("min_duration_ms"), doc="ms"),
    "max_duration": KeySpec(_to("max_duration_ms", zero_means_unset=True), doc="ms; 0 = no limit"),
    "min_query_count": KeySpec(_to("min_query_count")),
    "max_query_count": KeySpec(_to("max_query_count", zero_means_unset=True), doc="0 = no limit"),
    "performance_sample_count_override": KeySpec(
        _to("performance_sample_count_override", zero_means_unset=True), doc="0 = the QSL's own count"
    ),
    "mode": KeySpec(_mode, doc="0 SubmissionRun, 1 AccuracyOnly, 2 PerformanceOnly, 3 FindPeakPerformance"),
    # Per-scenario keys (LoadGen looks them up under the fixed scenario name).
    "target_latency": KeySpec(_target_latency, doc="ms"),
    "target_latency_percentile": KeySpec(_percentile, doc="percent"),
    "target_qps": KeySpec(_target_qps),
    "samples_per_query": KeySpec(_samples_per_query),
    "max_async_queries": KeySpec(_max_async_queries, doc="0 = no limit"),
    "coalesce_queries": KeySpec(_coalesce_queries, doc="0/1"),
    # Only from the official rules file.
    "qsl_rng_seed": KeySpec(_to("qsl_rng_seed"), rules_only=True),
    "sample_index_rng_seed": KeySpec(_to("sample_index_rng_seed"), rules_only=True),
    "schedule_rng_seed": KeySpec(_to("schedule_rng_seed"), rules_only=True),
    "accuracy_log_probability": KeySpec(_unsupported(), rules_only=True, supported=False),
    "test05": KeySpec(_unsupported(), rules_only=True, supported=False),
    "test05_qsl_rng_seed": KeySpec(_unsupported(None, inert_unless="test05"), rules_only=True, supported=False),
    "test05_sample_index_rng_seed": KeySpec(
        _unsupported(None, inert_unless="test05"), rules_only=True, supported=False
    ),
    "test05_schedule_rng_seed": KeySpec(_unsupported(None, inert_unless="test05"), rules_only=True, supported=False),
    # Read by LoadGen, not implemented here yet.
    "accuracy_sample_count_override": KeySpec(_unsupported(), supported=False),
    "accuracy_log_rng_seed": KeySpec(_unsupported(), supported=False),
    "accuracy_log_sampling_target": KeySpec(_unsupported(), supported=False),
    "performance_issue_unique": KeySpec(_unsupported(), supported=False),
    "performance_issue_same": KeySpec(_unsupported(), supported=False),
    "performance_issue_same_index": KeySpec(
        _unsupported(None, inert_unless="performance_issue_same", any_nonzero=True), supported=False
    ),
    "sample_concatenate_permutation": KeySpec(_unsupported(), supported=False),
    "use_token_latencies": KeySpec(_unsupported(), supported=False),
    "ttft_latency": KeySpec(
        _only_in(Scenario.Server)(_unsupported(None, inert_unless="use_token_latencies")), supported=False, doc="ms"
    ),
    "tpot_latency": KeySpec(
        _only_in(Scenario.Server)(_unsupported(None, inert_unless="use_token_latencies")), supported=False, doc="ms"
    ),
    "infer_token_latencies": KeySpec(_unsupported(), supported=False),
    "token_latency_scaling_factor": KeySpec(
        _unsupported(None, inert_unless="infer_token_latencies"), supported=False
    ),
    "print_timestamps": KeySpec(_unsupported(), supported=False),
    # In official files, read by compliance scripts or nobody, never by LoadGen's FromConfig.
    "target_duration": KeySpec(_not_read, supported=False),
    "test07_accuracy_threshold": KeySpec(_not_read, supported=False),
    "test09_min_output_tokens": KeySpec(_not_read, supported=False),
    "test09_max_output_tokens": KeySpec(_not_read, supported=False),
}

RULES_ONLY_KEYS: frozenset[str] = frozenset(k for k, spec in KEYS.items() if spec.rules_only)
UNSUPPORTED_KEYS: frozenset[str] = frozenset(k for k, spec in KEYS.items() if not spec.supported)

# Our attribute names a user may write by mistake, and the LoadGen key that sets them.
_OUR_NAMES = {
    "min_duration_ms": "min_duration",
    "max_duration_ms": "max_duration",
    "single_stream_expected_latency_ns": "target_latency",
    "multi_stream_expected_latency_ns": "target_latency",
    "server_target_latency_ns": "target_latency",
    "single_stream_target_latency_percentile": "target_latency_percentile",
    "multi_stream_target_latency_percentile": "target_latency_percentile",
    "server_target_latency_percentile": "target_latency_percentile",
    "server_target_qps": "target_qps",
    "offline_expected_qps": "target_qps",
    "multi_stream_samples_per_query": "samples_per_query",
    "server_max_async_queries": "max_async_queries",
    "server_coalesce_queries": "coalesce_queries",
}


def _unknown_key(where: str, key: str) -> str:
    if key in _OUR_NAMES:
        hint = f" (config files use LoadGen's key names: did you mean '{_OUR_NAMES[key]}'?)"
    else:
        close = difflib.get_close_matches(key, list(KEYS), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"{where}: unknown key '{key}'{hint}; known keys: {', '.join(sorted(KEYS))}"


def _rules_only(where: str, key: str) -> str:
    return f"{where}: {key} can only come from the official rules file ({RULES_FILE_NAME})"


def check_known_keys(lines: Iterable[ConfigLine]) -> None:
    """Every line's key is one LoadGen knows (LoadGen itself skips a misspelt key silently)."""
    problems = [_unknown_key(line.where, line.key) for line in lines if line.key not in KEYS]
    if problems:
        raise SettingsError(problems)


# ---------------------------------------------------------------------------------------------
# Conversion to our settings


@dataclass
class ConfigValues:
    """One file's values for one model and scenario, in our TestSettings names and units.

    `settings`: attribute -> value, ready for `resolve_settings`. `unsupported`: LoadGen keys
    whose value would change what LoadGen does but that this harness does not implement.
    `sources`: "file:line" of each setting (by attribute) and of each unsupported or ignored
    key (by LoadGen key). `ignored`: keys with no effect here, as in LoadGen (wrong scenario,
    inert value, not read). `reasons`: LoadGen key -> why it is unsupported or ignored.
    """

    settings: dict[str, Any]
    unsupported: list[str]
    sources: dict[str, str]
    ignored: list[str] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)


def to_settings_values(
    values: Mapping[str, str],
    scenario: Scenario | str,
    source: str,
    allow_seeds: bool,
    origins: Mapping[str, str] | None = None,
    refuse_seeds: bool = True,
) -> ConfigValues:
    """Convert looked-up LoadGen keys to our attribute names and units.

    `source` names the file; `origins` (taken from a `LookedUp` when not given) names the
    line of each key. `allow_seeds` is true only for the official rules file: elsewhere a
    seed (or another rules-only key) is a problem, where LoadGen would ignore it silently;
    with `refuse_seeds` false it is ignored as LoadGen does, and listed in `ignored`.
    """
    scen = Scenario.parse(scenario) if isinstance(scenario, str) else scenario
    if origins is None:
        origins = getattr(values, "origins", {})
    result = ConfigValues(settings={}, unsupported=[], sources={})
    problems: list[str] = []
    for key, raw in values.items():
        where = origins.get(key, source)
        spec = KEYS.get(key)
        if spec is None:
            problems.append(_unknown_key(where, key))
            continue
        if spec.rules_only and not allow_seeds:
            if refuse_seeds:
                problems.append(_rules_only(where, key))
            else:
                result.ignored.append(key)
                result.sources[key] = where
                result.reasons[key] = "only the official rules file may set it; LoadGen ignores it here"
            continue
        try:
            outcome = spec.handle(raw, scen, values)
        except (ValueError, ArithmeticError) as exc:
            problems.append(f"{where}: {key} = {raw}: {exc}")
            continue
        if isinstance(outcome, _Set):
            result.settings[outcome.attr] = outcome.value
            result.sources[outcome.attr] = where
        else:
            (result.unsupported if isinstance(outcome, _Unsupported) else result.ignored).append(key)
            result.sources[key] = where
            result.reasons[key] = outcome.why
    if problems:
        raise SettingsError(problems)
    return result


# ---------------------------------------------------------------------------------------------
# Files to layers


def read_configs(
    model: str,
    scenario: Scenario | str,
    rules: Path | str | None,
    user: Path | str | None,
    audit: Path | str | None,
    refuse_seeds: bool = True,
) -> list[tuple[str, ConfigValues]]:
    """Each given file's values, lowest first (rules < user < audit), with all problems at once.

    As in LoadGen, `audit.config` is looked up with model `*`, and only the rules file may
    set seeds (elsewhere a seed is an error, or ignored as LoadGen does with `refuse_seeds` false).
    """
    scen = Scenario.parse(scenario) if isinstance(scenario, str) else scenario
    out: list[tuple[str, ConfigValues]] = []
    problems: list[str] = []
    for path, lookup_model, allow_seeds in ((rules, model, True), (user, model, False), (audit, WILDCARD, False)):
        if path is None:
            continue
        try:
            lines = read_config_file(path)
            check_known_keys(lines)
            values = to_settings_values(
                lookup(lines, lookup_model, scen), scen, str(path), allow_seeds, refuse_seeds=refuse_seeds
            )
            out.append((str(path), values))
        except SettingsError as exc:
            problems += exc.problems
    if problems:
        raise SettingsError(problems)
    return out


def layers_from_configs(
    model: str,
    scenario: Scenario | str,
    rules: Path | str | None,
    user: Path | str | None,
    audit: Path | str | None,
) -> list[tuple[str, dict[str, Any]]]:
    """Layers for `loadgen.settings.resolve_settings`, lowest first, each named by its file.

    Each layer also carries `scenario`, since its values were looked up for that scenario.
    Unsupported keys are dropped here; call `read_configs` to report them.
    """
    scen = Scenario.parse(scenario) if isinstance(scenario, str) else scenario
    return [
        (source, {"scenario": scen.value, **values.settings})
        for source, values in read_configs(model, scen, rules, user, audit)
    ]


def available_rule_sets() -> list[str]:
    """Names of the rule files shipped in the `scenarios` package (`mlperf` for mlperf.conf)."""
    return sorted(
        entry.name.removesuffix(".conf")
        for entry in SHIPPED.iterdir()
        if entry.name.endswith(".conf")
    )


def rules_path(name: str) -> Path:
    """The shipped rules file called `name` (`"mlperf"` or `"mlperf.conf"`)."""
    stem = name.removesuffix(".conf")
    if stem in available_rule_sets():
        return shipped_file(f"{stem}.conf")
    raise SettingsError([f"unknown rule set {name!r}; available: {', '.join(available_rule_sets()) or 'none'}"])
