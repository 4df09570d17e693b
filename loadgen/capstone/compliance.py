"""Compliance with a rule set: did each run follow the rules it claims, and were they comparable?

The design card's "a validator checks minimum-run and seed rules before producing a compliant
result summary". A file can be valid (its figures follow from its evidence) and still not be
compliant: a practice run shortened with `--set min_duration_ms=500` measures honestly but
too briefly to rank. Checked for each run's effective settings (result.json):

* the scenario, the three seeds and every other value the rule set fixes, equal to it;
* `min_duration_ms`, `min_query_count` and `warmup_ms` at least the rule set's;
* the mode one the rule set allows; the run VALID and complete;

and, for two or more runs (baseline, optimized, their repeats), identical settings (but for what
the pilot measured for each SUT) on the same machine. The rule set is data (`RuleSet`): the
capstone's from `scenarios/capstone.toml`, MLPerf's from `mlperf.conf` for a model and scenario
(built by the command line).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from loadgen.metrics.result import RunResult
from loadgen.settings.layers import load_toml, shipped_file

AT_LEAST = ("min_duration_ms", "min_query_count", "warmup_ms")
"""Rules a run meets by doing at least as much."""
HINTS = ("server_target_qps", "offline_expected_qps", "single_stream_expected_latency_ns",
         "multi_stream_expected_latency_ns")
"""Performance hints a rule set may carry that each SUT sets for itself (as MLPerf's user.conf does)."""
CAPSTONE_MODES = ("SubmissionRun",)
MLPERF_MODES = ("PerformanceOnly", "SubmissionRun")


@dataclass(frozen=True)
class RuleSet:
    """What a rule set fixes (`values`), where it comes from, and the modes it accepts."""

    name: str
    source: str
    values: Mapping[str, Any]
    modes: tuple[str, ...]


def capstone_rules() -> RuleSet:
    """The TinyTorch capstone's rule set, `scenarios/capstone.toml`, as loadgen.submit runs it."""
    path = shipped_file("capstone.toml")
    return RuleSet("capstone", "scenarios/capstone.toml", load_toml(path), CAPSTONE_MODES)


def _shown(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def broken_rules(side: str, result: RunResult, rules: RuleSet) -> list[str]:
    """Each rule of `rules` that this run's effective settings or outcome break, in words."""
    effective = result.settings_effective
    broken = []
    for key, required in rules.values.items():
        if key in HINTS:
            continue
        actual = effective.get(key)
        if key in AT_LEAST:
            numeric = isinstance(actual, (int, float)) and not isinstance(actual, bool)
            if not numeric or actual < required:
                broken.append(f"{side}: {key} = {_shown(actual)}, the {rules.name} rules require >= {required}")
        elif actual != required:
            broken.append(f"{side}: {key} = {_shown(actual)}, the {rules.name} rules require {_shown(required)}")
    mode = effective.get("mode")
    if mode not in rules.modes:
        broken.append(f"{side}: mode = {_shown(mode)}, the {rules.name} rules require {' or '.join(rules.modes)}")
    if result.error is not None:
        broken.append(f"{side}: the run did not complete ({result.error})")
    elif not result.valid:
        broken.append(f"{side}: the run was INVALID ({'; '.join(result.invalid_reasons) or 'no reason given'})")
    return broken


def _comparable_settings(result: RunResult) -> dict[str, Any]:
    """Effective settings without what the pilot measured for this SUT (its rate or latency)."""
    return {key: value for key, value in result.settings_effective.items() if key not in result.chosen_by_pilot}


def unlike_runs(runs: Mapping[str, RunResult]) -> list[str]:
    """Why the runs are not comparable: settings or machines that differ from the first run's."""
    if len(runs) < 2:
        return []
    (side_a, a), *others = runs.items()
    settings_a, machine_a = _comparable_settings(a), a.fingerprint.get("hardware_hash")
    broken = []
    for side_b, b in others:
        settings_b = _comparable_settings(b)
        differing = sorted(key for key in set(settings_a) | set(settings_b)
                           if settings_a.get(key) != settings_b.get(key))
        if differing:
            broken.append(f"{side_a} and {side_b} used different settings: " + ", ".join(
                f"{key} ({_shown(settings_a.get(key))} vs {_shown(settings_b.get(key))})" for key in differing[:6]))
        machine_b = b.fingerprint.get("hardware_hash")
        if machine_a != machine_b:
            broken.append(f"{side_a} and {side_b} ran on different machines ({machine_a} vs {machine_b})")
    return broken


def check_compliance(runs: Mapping[str, RunResult], rules: RuleSet) -> list[str]:
    """Every rule broken by these runs (empty: COMPLIANT)."""
    broken = [rule for side, result in runs.items() for rule in broken_rules(side, result, rules)]
    return broken + unlike_runs(runs)


def compliance_line(broken: list[str]) -> str:
    """`COMPLIANT`, or `NOT COMPLIANT: ` and each rule broken."""
    return "COMPLIANT" if not broken else "NOT COMPLIANT: " + "; ".join(broken)
