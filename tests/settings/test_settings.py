"""Settings: LoadGen defaults, layering, problems that name source/key/range, CLI helpers."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from pydantic import ValidationError

from loadgen.engine.schedule import build_schedule
from loadgen.errors import LoadgenError, SettingsError
from loadgen.settings.layers import load_toml, parse_assignment, resolve_settings
from loadgen.settings.model import SETTING_NAMES, UINT64_MAX, Mode, Scenario, settings_schema
from loadgen.settings.model import TestSettings as Settings

OFFICIAL_SEEDS = {
    "qsl_rng_seed": 2085463073848966840,
    "sample_index_rng_seed": 2747215439041700203,
    "schedule_rng_seed": 16159082839903944936,
}

UNSET_MEANS_NO_LIMIT_OR_PILOT = (
    "max_duration_ms",
    "max_query_count",
    "single_stream_expected_latency_ns",
    "multi_stream_expected_latency_ns",
    "server_target_qps",
    "server_max_async_queries",
    "offline_expected_qps",
    "performance_sample_count_override",
)


def problems_of(layers: Sequence[tuple[str, Mapping[str, Any]]]) -> list[str]:
    """The problems resolve_settings reports for these layers (fails if it accepts them)."""
    with pytest.raises(SettingsError) as caught:
        resolve_settings(layers)
    assert caught.value.problems, "a SettingsError must carry at least one problem"
    assert str(caught.value) == "\n".join(caught.value.problems)
    return caught.value.problems


def set_layer(text: str) -> tuple[str, dict[str, Any]]:
    """The layer run.py builds for one `--set KEY=VALUE`."""
    key, value = parse_assignment(text)
    return f"--set {text}", {key: value}


def toml_repr(value: bool | int | float) -> str:
    """A TOML literal for a bool, int or (non-NaN) float."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return repr(value)


# --- defaults ------------------------------------------------------------------------------


def test_defaults_match_loadgen_test_settings() -> None:
    settings = Settings()
    assert settings.min_duration_ms == 10_000
    assert settings.min_query_count == 100
    assert settings.single_stream_target_latency_percentile == 0.90
    assert settings.multi_stream_target_latency_percentile == 0.99
    assert settings.server_target_latency_percentile == 0.99
    assert settings.multi_stream_samples_per_query == 8
    assert settings.server_target_latency_ns == 100_000_000
    assert settings.qsl_rng_seed == settings.sample_index_rng_seed == settings.schedule_rng_seed == 0
    assert settings.mode is Mode.PerformanceOnly
    assert settings.server_coalesce_queries is False


@pytest.mark.parametrize("name", UNSET_MEANS_NO_LIMIT_OR_PILOT)
def test_no_limit_and_measured_by_pilot_are_none_not_zero(name: str) -> None:
    assert getattr(Settings(), name) is None
    assert "or unset" in problems_of([("f.toml", {name: 0})])[0]


def test_target_latency_percentile_per_scenario() -> None:
    assert Settings(scenario="SingleStream").target_latency_percentile() == 0.90
    assert Settings(scenario="MultiStream").target_latency_percentile() == 0.99
    assert Settings(scenario="Server", server_target_latency_percentile=0.999).target_latency_percentile() == 0.999
    assert Settings(scenario="Offline").target_latency_percentile() is None


def test_settings_are_immutable() -> None:
    settings = Settings()
    with pytest.raises(ValidationError):
        settings.min_duration_ms = 5  # type: ignore[misc]


# --- layering and problems -----------------------------------------------------------------


def test_no_layers_gives_defaults() -> None:
    assert resolve_settings([]) == Settings()


def test_later_layers_win_and_earlier_values_survive() -> None:
    settings = resolve_settings(
        [
            ("scenario.toml", {"scenario": "Server", "min_duration_ms": 1000, "min_query_count": 7}),
            ("user.toml", {"min_duration_ms": 2000, "server_target_qps": 50.0}),
            set_layer("min_duration_ms=3000"),
        ]
    )
    assert settings.scenario is Scenario.Server
    assert settings.min_duration_ms == 3000
    assert settings.min_query_count == 7
    assert settings.server_target_qps == 50.0


def test_a_later_layer_fixes_an_earlier_bad_value() -> None:
    settings = resolve_settings([("a.toml", {"min_query_count": 0}), set_layer("min_query_count=3")])
    assert settings.min_query_count == 3


def test_out_of_range_names_source_key_and_range() -> None:
    (problem,) = problems_of([("scenarios/server.toml", {"scenario": "Server"}), set_layer("server_target_qps=-5")])
    assert "--set server_target_qps=-5" in problem
    assert "server_target_qps" in problem
    assert ">= 0.01 and <= 1e+09" in problem


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [
        ("min_query_count", 0, ">= 1"),
        ("min_duration_ms", -1, ">= 0"),
        ("pilot_ms", 5, ">= 10"),
        ("pilot_ms", 60_001, "<= 60000"),
        ("single_stream_target_latency_percentile", 90, "< 1"),
        ("server_target_latency_percentile", 0.0, "> 0"),
        ("qsl_rng_seed", -1, ">= 0"),
        ("schedule_rng_seed", 2**64, f"<= {UINT64_MAX}"),
    ],
)
def test_range_problems_name_the_file(tmp_path: Path, key: str, value: Any, allowed: str) -> None:
    source = str(tmp_path / "user.toml")
    (problem,) = problems_of([(source, {key: value})])
    assert source in problem
    assert key in problem
    assert allowed in problem


def test_unknown_key_suggests_close_name() -> None:
    (problem,) = problems_of([set_layer("min_duraton_ms=5")])
    assert "--set min_duraton_ms=5" in problem
    assert "min_duraton_ms" in problem
    assert "did you mean 'min_duration_ms'" in problem


def test_unknown_key_without_close_name_has_no_suggestion() -> None:
    (problem,) = problems_of([("user.toml", {"zzzz": 1})])
    assert "user.toml" in problem and "'zzzz'" in problem
    assert "did you mean" not in problem


def test_wrong_type_is_rejected() -> None:
    (problem,) = problems_of([set_layer("min_duration_ms=abc")])
    assert "--set min_duration_ms=abc" in problem
    assert "min_duration_ms" in problem
    assert "whole number" in problem


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("min_query_count", 2.5),
        ("server_target_qps", "fast"),
        ("scenario", 3),
        ("scenario", "Batch"),
        ("multi_stream_samples_per_query", [8]),
    ],
)
def test_other_wrong_types_are_rejected(key: str, value: Any) -> None:
    (problem,) = problems_of([("user.toml", {key: value})])
    assert "user.toml" in problem and key in problem


def test_bool_is_not_a_whole_number() -> None:
    problems_of([set_layer("min_duration_ms=true")])


@pytest.mark.parametrize(
    ("low", "high", "low_value", "high_value"),
    [
        ("min_duration_ms", "max_duration_ms", 5000, 1000),
        ("min_query_count", "max_query_count", 500, 100),
    ],
)
def test_min_above_max_names_both_keys_and_sources(low: str, high: str, low_value: int, high_value: int) -> None:
    (problem,) = problems_of([("rules.toml", {low: low_value}), set_layer(f"{high}={high_value}")])
    assert f"{low} from rules.toml" in problem
    assert f"{high} from --set {high}={high_value}" in problem
    assert str(low_value) in problem and str(high_value) in problem


def test_min_above_max_names_defaults_as_source() -> None:
    (problem,) = problems_of([set_layer("max_query_count=5")])
    assert "min_query_count from defaults" in problem
    assert "max_query_count from --set max_query_count=5" in problem


def test_min_equal_to_max_is_allowed() -> None:
    limits = {"min_duration_ms": 10, "max_duration_ms": 10, "min_query_count": 4, "max_query_count": 4}
    settings = resolve_settings([("f", limits)])
    assert (settings.max_duration_ms, settings.max_query_count) == (10, 4)


def test_all_value_problems_are_reported_at_once() -> None:
    problems = problems_of(
        [
            ("a.toml", {"min_query_count": 0, "pilot_ms": 1}),
            set_layer("server_target_qps=-5"),
            set_layer("qsl_rng_seed=-1"),
        ]
    )
    assert len(problems) == 4
    joined = "\n".join(problems)
    for key in ("min_query_count", "pilot_ms", "server_target_qps", "qsl_rng_seed"):
        assert key in joined
    assert "--set server_target_qps=-5" in joined and "--set qsl_rng_seed=-1" in joined


def test_all_unknown_keys_are_reported_at_once() -> None:
    problems = problems_of([("a.toml", {"min_duraton_ms": 1}), set_layer("server_target_qp=5")])
    assert len(problems) == 2
    assert "did you mean 'min_duration_ms'" in problems[0]
    assert "did you mean 'server_target_qps'" in problems[1]


def test_unknown_keys_and_bad_values_are_reported_together() -> None:
    problems = problems_of([("a.toml", {"min_duraton_ms": 1}), set_layer("server_target_qps=-5")])
    assert len(problems) == 2


def test_both_combination_problems_are_reported_together() -> None:
    problems = problems_of(
        [("a.toml", {"min_duration_ms": 500, "max_duration_ms": 100, "min_query_count": 50, "max_query_count": 10})]
    )
    assert len(problems) == 2


@pytest.mark.parametrize(
    ("scenario", "key"), [("Server", "server_target_qps"), ("Offline", "offline_expected_qps")]
)
def test_infinite_rate_is_rejected(scenario: str, key: str) -> None:
    layers = [("f.toml", {"scenario": scenario, "min_duration_ms": 1000}), set_layer(f"{key}=inf")]
    try:
        settings = resolve_settings(layers)
    except SettingsError:
        return
    with pytest.raises(SettingsError):
        build_schedule(settings, np.arange(16, dtype=np.int64))  # raises OverflowError today


def test_nan_rate_is_rejected() -> None:
    (problem,) = problems_of([set_layer("server_target_qps=nan")])
    assert "server_target_qps" in problem


# --- scenarios and seeds -------------------------------------------------------------------


@pytest.mark.parametrize("text", ["SingleStream", "single_stream", "singlestream", "SINGLE_STREAM", "single-stream"])
def test_scenario_parse_accepts_spellings(text: str) -> None:
    assert Scenario.parse(text) is Scenario.SingleStream


@pytest.mark.parametrize(
    ("text", "member"),
    [("multi_stream", Scenario.MultiStream), ("server", Scenario.Server), ("OFFLINE", Scenario.Offline)],
)
def test_scenario_parse_other_members(text: str, member: Scenario) -> None:
    assert Scenario.parse(text) is member


@pytest.mark.parametrize("text", ["", "Batch", "single stream", "singlestreams", "Single_Stream_2"])
def test_scenario_parse_rejects_with_allowed_list(text: str) -> None:
    with pytest.raises(ValueError) as caught:
        Scenario.parse(text)
    message = str(caught.value)
    assert repr(text) in message
    for name in ("SingleStream", "single_stream", "MultiStream", "multi_stream", "Server", "Offline"):
        assert name in message


def test_scenario_in_a_layer_accepts_snake_case() -> None:
    assert resolve_settings([set_layer("scenario=multi_stream")]).scenario is Scenario.MultiStream


def test_bad_scenario_in_a_layer_names_source_and_allowed() -> None:
    (problem,) = problems_of([set_layer("scenario=batch")])
    assert "--set scenario=batch" in problem
    assert "allowed:" in problem and "SingleStream" in problem and "Offline" in problem


def test_official_64_bit_seeds_are_accepted() -> None:
    settings = resolve_settings([set_layer(f"{key}={value}") for key, value in OFFICIAL_SEEDS.items()])
    for key, value in OFFICIAL_SEEDS.items():
        assert getattr(settings, key) == value
    assert Settings(schedule_rng_seed=UINT64_MAX).schedule_rng_seed == UINT64_MAX


def test_official_seeds_from_a_toml_file(tmp_path: Path) -> None:
    path = tmp_path / "seeds.toml"
    path.write_text("".join(f"{key} = {value}\n" for key, value in OFFICIAL_SEEDS.items()))
    settings = resolve_settings([(str(path), load_toml(path))])
    assert settings.schedule_rng_seed == 16159082839903944936


@pytest.mark.parametrize("seed", [2**64, -1])
@pytest.mark.parametrize("key", list(OFFICIAL_SEEDS))
def test_seeds_outside_uint64_are_rejected(key: str, seed: int) -> None:
    (problem,) = problems_of([set_layer(f"{key}={seed}")])
    assert f"--set {key}={seed}" in problem
    assert key in problem


# --- parse_assignment ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("min_duration_ms=5", ("min_duration_ms", 5)),
        ("k=-3", ("k", -3)),
        ("k=1_000", ("k", 1000)),
        ("k=2.5", ("k", 2.5)),
        ("k=1e3", ("k", 1000.0)),
        ("k=true", ("k", True)),
        ("k=false", ("k", False)),
        ('k="Server"', ("k", "Server")),
        ("k='two words'", ("k", "two words")),
        ("scenario=server", ("scenario", "server")),
        ("k=abc", ("k", "abc")),
        ("k=a=b", ("k", "a=b")),
        (" k = 5 ", ("k", 5)),
        ("k=", ("k", "")),
    ],
)
def test_parse_assignment(text: str, expected: tuple[str, Any]) -> None:
    key, value = parse_assignment(text)
    assert (key, value) == expected
    assert type(value) is type(expected[1])


@pytest.mark.parametrize("text", ["min_duration_ms", "", "=5", "  =5"])
def test_parse_assignment_without_key_or_equals(text: str) -> None:
    with pytest.raises(SettingsError) as caught:
        parse_assignment(text)
    assert "KEY=VALUE" in str(caught.value)
    assert f"--set {text}" in caught.value.problems[0]


@hsettings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.booleans(),
        st.integers(min_value=-(2**63), max_value=UINT64_MAX),
        st.floats(allow_nan=False),
    )
)
def test_parse_assignment_round_trips_toml_literals(value: bool | int | float) -> None:
    key, parsed = parse_assignment(f"k={toml_repr(value)}")
    assert key == "k"
    assert parsed == value
    assert type(parsed) is type(value)
    if isinstance(value, float):
        assert math.copysign(1.0, parsed) == math.copysign(1.0, value)


# --- files ---------------------------------------------------------------------------------


def test_load_toml_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "user.toml"
    path.write_text('scenario = "Server"\nserver_target_qps = 12.5\nmin_query_count = 3\n')
    assert load_toml(path) == {"scenario": "Server", "server_target_qps": 12.5, "min_query_count": 3}


def test_load_toml_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(SettingsError) as caught:
        load_toml(path)
    assert str(path) in caught.value.problems[0]
    assert "not found" in caught.value.problems[0]


@pytest.mark.parametrize("text", ["min_duration_ms = = 5\n", "[unclosed\n", "a = 1\na = 2\n", 'k = "open\n'])
def test_load_toml_malformed_names_the_path(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(SettingsError) as caught:
        load_toml(path)
    assert str(path) in caught.value.problems[0]


def test_load_toml_directory_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        load_toml(tmp_path)
    assert str(tmp_path) in caught.value.problems[0]


def test_load_toml_non_utf8_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes("comment = 'caf\u00e9'\n".encode("latin-1"))
    with pytest.raises(SettingsError) as caught:
        load_toml(path)
    assert str(path) in caught.value.problems[0]


# --- schema --------------------------------------------------------------------------------


def test_schema_is_json_and_lists_every_field() -> None:
    schema = json.loads(json.dumps(settings_schema()))
    assert set(schema["properties"]) == set(Settings.model_fields) == set(SETTING_NAMES)
    assert schema["properties"]["min_duration_ms"]["default"] == 10_000
    assert schema["additionalProperties"] is False


# --- through run.py ------------------------------------------------------------------------


def settings_from_argv(argv: Sequence[str]) -> Settings:
    """What `python -m loadgen.run ARGV` would run with (imported lazily: run.py pulls in reports)."""
    from loadgen.cli.common import settings_from_args
    from loadgen.cli.run import build_parser

    return settings_from_args(build_parser().parse_args(list(argv)))


def argv_problems(argv: Sequence[str]) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        settings_from_argv(argv)
    assert isinstance(caught.value, LoadgenError)
    return caught.value.problems


def test_cli_scenario_name_and_set() -> None:
    settings = settings_from_argv(["--scenario", "offline", "--set", "min_duration_ms=5"])
    assert settings.scenario is Scenario.Offline
    assert settings.min_duration_ms == 5


@pytest.mark.parametrize(
    ("name", "member"),
    [
        ("single_stream", Scenario.SingleStream),
        ("MultiStream", Scenario.MultiStream),
        ("server", Scenario.Server),
        ("OFFLINE", Scenario.Offline),
    ],
)
def test_cli_shipped_scenarios_have_loadgen_run_rules(name: str, member: Scenario) -> None:
    settings = settings_from_argv(["--scenario", name])
    assert settings.scenario is member
    assert (settings.min_duration_ms, settings.min_query_count) == (10_000, 100)


def test_cli_default_scenario_is_offline() -> None:
    assert settings_from_argv([]).scenario is Scenario.Offline


def test_cli_shipped_scenario_is_named_as_source() -> None:
    (problem,) = argv_problems(["--scenario", "server", "--set", "max_query_count=5"])
    assert "min_query_count from scenarios/server.toml" in problem
    assert "max_query_count from --set max_query_count=5" in problem


def test_cli_scenario_path(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text('scenario = "server"\nmin_duration_ms = 1234\nserver_target_qps = 40.0\n')
    settings = settings_from_argv(["--scenario", str(path)])
    assert settings.scenario is Scenario.Server
    assert settings.min_duration_ms == 1234
    assert settings.server_target_qps == 40.0
    assert settings.min_query_count == 100  # the model default, not the shipped file's


def test_cli_scenario_path_without_scenario_key(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text("min_duration_ms = 1000\n")
    (problem,) = argv_problems(["--scenario", str(path)])
    assert str(path) in problem
    assert "'scenario'" in problem
    assert "SingleStream" in problem


def test_cli_scenario_path_problems_name_the_path(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text('scenario = "Server"\nmin_query_count = 0\n')
    (problem,) = argv_problems(["--scenario", str(path)])
    assert str(path) in problem and "min_query_count" in problem and ">= 1" in problem


def test_cli_unknown_scenario_that_is_not_a_file(tmp_path: Path) -> None:
    missing = str(tmp_path / "batch")
    for text in ("batch", missing):
        (problem,) = argv_problems(["--scenario", text])
        assert f"--scenario {text}" in problem
        assert "SingleStream" in problem and "Offline" in problem


def test_cli_config_is_layered_between_scenario_and_set(tmp_path: Path) -> None:
    scenario = tmp_path / "scenario.toml"
    scenario.write_text('scenario = "SingleStream"\nmin_duration_ms = 1000\nmin_query_count = 7\nwarmup_ms = 10\n')
    config = tmp_path / "user.toml"
    config.write_text("min_duration_ms = 2000\nwarmup_ms = 20\nscenario = \"multi_stream\"\n")
    settings = settings_from_argv(
        ["--scenario", str(scenario), "--config", str(config), "--set", "min_duration_ms=3000"]
    )
    assert settings.scenario is Scenario.MultiStream  # config over scenario file
    assert settings.min_duration_ms == 3000  # --set over config
    assert settings.warmup_ms == 20  # config over scenario file
    assert settings.min_query_count == 7  # scenario file survives


def test_cli_config_problem_names_the_config(tmp_path: Path) -> None:
    config = tmp_path / "user.toml"
    config.write_text("server_target_qps = -1.0\nmin_duraton_ms = 4\n")
    problems = argv_problems(["--scenario", "server", "--config", str(config)])
    assert any(str(config) in p and "did you mean 'min_duration_ms'" in p for p in problems)


def test_cli_missing_config_names_the_path(tmp_path: Path) -> None:
    config = tmp_path / "absent.toml"
    (problem,) = argv_problems(["--config", str(config)])
    assert str(config) in problem


def test_cli_repeated_set_last_wins() -> None:
    settings = settings_from_argv(["--set", "min_query_count=3", "--set", "min_query_count=4"])
    assert settings.min_query_count == 4


def test_cli_set_problems_are_all_reported() -> None:
    problems = argv_problems(["--scenario", "server", "--set", "server_target_qps=-5", "--set", "min_query_count=0"])
    joined = "\n".join(problems)
    assert len(problems) == 2
    assert "--set server_target_qps=-5" in joined and ">= 0.01" in joined
    assert "--set min_query_count=0" in joined and ">= 1" in joined
