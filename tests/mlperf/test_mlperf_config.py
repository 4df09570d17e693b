"""MLPerf config files (mlperf.conf / user.conf / audit.config) read as LoadGen's FromConfig reads them."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from loadgen.errors import SettingsError
from loadgen.mlperf.config import (
    KEYS,
    RULES_ONLY_KEYS,
    UNSUPPORTED_KEYS,
    ConfigLine,
    check_known_keys,
    layers_from_configs,
    lookup,
    parse_config_text,
    read_config_file,
    read_configs,
    rules_path,
    to_settings_values,
)
from loadgen.settings.layers import resolve_settings
from loadgen.settings.model import Mode, Scenario

ROUND_SEEDS = {  # MLPerf Inference v6.1, as in the shipped scenarios/mlperf.conf
    "qsl_rng_seed": 2085463073848966840,
    "sample_index_rng_seed": 2747215439041700203,
    "schedule_rng_seed": 16159082839903944936,
}


def values_for(text: str, model: str, scenario: Scenario, *, allow_seeds: bool = True, path: str = "t.conf"):
    lines = parse_config_text(text, path)
    return to_settings_values(lookup(lines, model, scenario), scenario, path, allow_seeds)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def problems_of(exc: pytest.ExceptionInfo[SettingsError]) -> list[str]:
    return exc.value.problems


# --- precedence -------------------------------------------------------------------------------

ALL_FOUR = """\
*.*.min_duration = 4
resnet50.*.min_duration = 3
*.Server.min_duration = 2
resnet50.Server.min_duration = 1
"""


@pytest.mark.parametrize(
    ("drop", "expected"),
    [
        ((), "1"),  # model.scenario beats everything
        (("resnet50.Server",), "2"),  # then *.scenario
        (("resnet50.Server", "*.Server"), "3"),  # then model.*
        (("resnet50.Server", "*.Server", "resnet50.*"), "4"),  # then *.*
    ],
)
def test_lookup_order_is_model_scenario_then_star_scenario_then_model_star_then_star_star(drop, expected):
    text = "\n".join(line for line in ALL_FOUR.splitlines() if not line.startswith(drop) or not drop)
    found = lookup(parse_config_text(text, "t.conf"), "resnet50", Scenario.Server)
    assert found == {"min_duration": expected}


def test_specificity_beats_file_order_whatever_the_order_of_lines():
    reversed_text = "\n".join(reversed(ALL_FOUR.splitlines()))
    for text in (ALL_FOUR, reversed_text):
        assert lookup(parse_config_text(text, "t.conf"), "resnet50", "Server") == {"min_duration": "1"}
    # other models and scenarios fall back to the wildcards
    assert lookup(parse_config_text(ALL_FOUR, "t.conf"), "bert", "Server") == {"min_duration": "2"}
    assert lookup(parse_config_text(ALL_FOUR, "t.conf"), "resnet50", "Offline") == {"min_duration": "3"}
    assert lookup(parse_config_text(ALL_FOUR, "t.conf"), "bert", "Offline") == {"min_duration": "4"}


def test_later_line_wins_among_equally_specific_lines_and_origin_names_it():
    text = "*.*.min_duration = 5\n# comment\nresnet50.Server.min_duration = 6\nresnet50.Server.min_duration = 7\n"
    found = lookup(parse_config_text(text, "user.conf"), "resnet50", Scenario.Server)
    assert found == {"min_duration": "7"}
    assert found.origins == {"min_duration": "user.conf:4"}


def test_model_names_may_contain_dots():
    text = "wan-2.2-t2v-a14b.*.performance_sample_count_override = 248\n"
    (line,) = parse_config_text(text, "t.conf")
    assert (line.model, line.scenario, line.key) == ("wan-2.2-t2v-a14b", "*", "performance_sample_count_override")
    assert lookup([line], "wan-2.2-t2v-a14b", "Offline") == {"performance_sample_count_override": "248"}


def _reference_lookup(lines: list[ConfigLine], model: str, scenario: str) -> dict[str, str]:
    """Brute force: rank every matching line by the precedence list, ties to the later line."""
    order = [(model, scenario), ("*", scenario), (model, "*"), ("*", "*")]
    best: dict[str, tuple[int, int, str]] = {}
    for index, line in enumerate(lines):
        ranks = [rank for rank, pair in enumerate(order) if pair == (line.model, line.scenario)]
        if not ranks:
            continue
        candidate = (min(ranks), -index, line.raw_value)
        if line.key not in best or candidate < best[line.key]:
            best[line.key] = candidate
    return {key: value for key, (_, _, value) in best.items()}


_models = st.sampled_from(["resnet50", "bert", "wan-2.2-t2v", "*"])
_scenarios = st.sampled_from(["SingleStream", "MultiStream", "Server", "Offline", "*"])
_keys = st.sampled_from(["min_duration", "max_duration", "target_qps"])
_values = st.one_of(
    st.integers(min_value=0, max_value=2**64 - 1).map(str),
    st.decimals(min_value=0, max_value=10**6, places=3, allow_nan=False, allow_infinity=False).map(str),
)
_line = st.tuples(_models, _scenarios, _keys, _values)
_decor = st.tuples(st.sampled_from(["", " ", "\t"]), st.sampled_from(["", "  # note", "\t#x"]))


@hsettings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(_line, _decor), max_size=25),
    st.sampled_from(["resnet50", "bert", "wan-2.2-t2v", "*"]),
    st.sampled_from(["SingleStream", "MultiStream", "Server", "Offline"]),
)
def test_lookup_equals_brute_force_reference(entries, model, scenario):
    text_lines = [f"{pad}{m}.{s}.{k} = {v}{comment}" for (m, s, k, v), (pad, comment) in entries]
    lines = parse_config_text("\n".join(text_lines), "p.conf")
    assert [(ln.model, ln.scenario, ln.key, ln.raw_value) for ln in lines] == [e for e, _ in entries]
    assert lookup(lines, model, scenario) == _reference_lookup(lines, model, scenario)


# --- units and mapping ------------------------------------------------------------------------


def test_server_target_latency_ms_becomes_ns_and_percentile_percent_becomes_fraction():
    cv = values_for(
        "*.Server.target_latency = 15\n*.Server.target_latency_percentile = 99\n*.Server.target_qps = 12.5\n",
        "resnet50",
        Scenario.Server,
    )
    assert cv.settings == {
        "server_target_latency_ns": 15_000_000,
        "server_target_latency_percentile": 0.99,
        "server_target_qps": 12.5,
    }
    assert cv.sources["server_target_latency_ns"] == "t.conf:1"


@pytest.mark.parametrize(
    ("scenario", "attr", "percent", "fraction"),
    [
        (Scenario.SingleStream, "single_stream_target_latency_percentile", "90", 0.9),
        (Scenario.SingleStream, "single_stream_target_latency_percentile", "99.9", 0.999),
        (Scenario.MultiStream, "multi_stream_target_latency_percentile", "99", 0.99),
        (Scenario.Server, "server_target_latency_percentile", "97", 0.97),
    ],
)
def test_percentiles_are_given_in_percent(scenario, attr, percent, fraction):
    cv = values_for(f"*.*.target_latency_percentile = {percent}", "m", scenario)
    assert cv.settings == {attr: fraction}


def test_expected_latencies_for_single_and_multi_stream_take_fractional_ms():
    assert values_for("*.SingleStream.target_latency = 0.5", "m", Scenario.SingleStream).settings == {
        "single_stream_expected_latency_ns": 500_000
    }
    assert values_for("m.MultiStream.target_latency = 528", "m", Scenario.MultiStream).settings == {
        "multi_stream_expected_latency_ns": 528_000_000
    }


def test_per_scenario_keys_map_to_that_scenarios_attribute_and_are_ignored_elsewhere():
    text = (
        "*.*.samples_per_query = 4\n*.*.max_async_queries = 3\n*.*.coalesce_queries = 1\n"
        "*.*.target_qps = 2\n*.*.target_latency = 5\n*.*.target_latency_percentile = 90\n"
    )
    assert values_for(text, "m", Scenario.MultiStream).settings == {
        "multi_stream_samples_per_query": 4,
        "multi_stream_expected_latency_ns": 5_000_000,
        "multi_stream_target_latency_percentile": 0.9,
    }
    server = values_for(text, "m", Scenario.Server)
    assert server.settings == {
        "server_max_async_queries": 3,
        "server_coalesce_queries": True,
        "server_target_qps": 2.0,
        "server_target_latency_ns": 5_000_000,
        "server_target_latency_percentile": 0.9,
    }
    assert set(server.ignored) == {"samples_per_query"}
    offline = values_for(text, "m", Scenario.Offline)
    assert offline.settings == {"offline_expected_qps": 2.0}
    assert set(offline.ignored) == {
        "samples_per_query",
        "max_async_queries",
        "coalesce_queries",
        "target_latency",
        "target_latency_percentile",
    }
    assert offline.unsupported == []


def test_zero_means_unlimited_for_max_keys_and_the_qsl_count_for_the_override():
    text = (
        "*.*.max_duration = 0\n*.*.max_query_count = 0\n*.*.max_async_queries = 0\n"
        "*.*.performance_sample_count_override = 0\n*.*.min_duration = 0\n"
    )
    cv = values_for(text, "m", Scenario.Server)
    assert cv.settings == {
        "max_duration_ms": None,
        "max_query_count": None,
        "server_max_async_queries": None,
        "performance_sample_count_override": None,
        "min_duration_ms": 0,
    }
    nonzero = values_for("*.*.max_duration = 60000\n*.*.max_query_count = 9\n", "m", Scenario.Offline)
    assert nonzero.settings == {"max_duration_ms": 60000, "max_query_count": 9}


@pytest.mark.parametrize(
    ("number", "name"), [(0, "SubmissionRun"), (1, "AccuracyOnly"), (2, "PerformanceOnly"), (3, "FindPeakPerformance")]
)
def test_mode_numbers_map_to_our_modes_or_are_reported_unsupported(number, name):
    cv = values_for(f"*.*.mode = {number}", "m", Scenario.Server)
    if name in Mode.__members__:  # the modes this harness implements
        assert cv.settings == {"mode": name} and cv.unsupported == []
    else:
        assert cv.settings == {} and cv.unsupported == ["mode"] and name in cv.reasons["mode"]


def test_mode_2_is_performance_only_and_bad_modes_are_refused():
    assert values_for("*.*.mode = 2", "m", Scenario.Offline).settings == {"mode": "PerformanceOnly"}
    with pytest.raises(SettingsError) as exc:
        values_for("*.*.mode = 7", "m", Scenario.Offline)
    assert problems_of(exc)[0].startswith("t.conf:1: mode = 7")


def test_seeds_are_unsigned_64_bit_and_may_be_hex():
    text = "*.*.schedule_rng_seed = 0xFFFFFFFFFFFFFFFF\n*.*.qsl_rng_seed = 18446744073709551615"
    cv = values_for(text, "m", Scenario.Server)
    assert cv.settings == {"schedule_rng_seed": 2**64 - 1, "qsl_rng_seed": 2**64 - 1}
    with pytest.raises(SettingsError) as exc:
        values_for("*.*.qsl_rng_seed = 18446744073709551616", "m", Scenario.Server)
    assert "unsigned 64-bit" in problems_of(exc)[0]


def test_fractions_for_whole_number_keys_and_negative_counts_are_refused():
    with pytest.raises(SettingsError) as exc:
        values_for("*.Server.target_latency = 15.5\n*.*.min_query_count = -1\n", "m", Scenario.Server)
    problems = problems_of(exc)
    assert any(p.startswith("t.conf:1: target_latency = 15.5: must be a whole number") for p in problems)
    assert any(p.startswith("t.conf:2: min_query_count = -1: must not be negative") for p in problems)


def test_unsupported_keys_are_reported_not_dropped_and_inert_ones_are_ignored():
    text = (
        "*.*.sample_concatenate_permutation = 1\n*.*.use_token_latencies = 1\n*.Server.ttft_latency = 2000\n"
        "*.Server.tpot_latency = 200\n*.*.accuracy_log_sampling_target = 64\n*.*.performance_issue_same = 1\n"
        "*.*.performance_issue_same_index = 3\n*.*.print_timestamps = 0\n*.Server.target_duration = 0\n"
        "*.Server.target_latency = 0\n"
    )
    cv = values_for(text, "llm", Scenario.Server, allow_seeds=False)
    assert cv.settings == {}
    assert set(cv.unsupported) == {
        "sample_concatenate_permutation",
        "use_token_latencies",
        "ttft_latency",
        "tpot_latency",
        "accuracy_log_sampling_target",
        "performance_issue_same",
        "performance_issue_same_index",
        "target_latency",
    }
    assert set(cv.ignored) == {"print_timestamps", "target_duration"}
    assert cv.sources["ttft_latency"] == "t.conf:3"
    # TTFT/TPOT mean nothing while use_token_latencies is off
    off = values_for("*.*.use_token_latencies = 0\n*.Server.ttft_latency = 2000\n", "llm", Scenario.Server)
    assert off.unsupported == [] and set(off.ignored) == {"use_token_latencies", "ttft_latency"}


def test_every_key_is_classified():
    assert set(KEYS) >= RULES_ONLY_KEYS
    assert set(KEYS) >= UNSUPPORTED_KEYS
    assert {"qsl_rng_seed", "sample_index_rng_seed", "schedule_rng_seed"} <= RULES_ONLY_KEYS
    assert {"mode", "min_duration", "target_latency", "target_qps"}.isdisjoint(UNSUPPORTED_KEYS)


# --- seeds and layering -----------------------------------------------------------------------


def test_seeds_from_user_conf_are_refused_naming_file_and_line(tmp_path):
    user = write(tmp_path, "user.conf", "# mine\n*.Server.target_qps = 100\n*.*.qsl_rng_seed = 1\n")
    with pytest.raises(SettingsError) as exc:
        layers_from_configs("resnet50", "Server", rules_path("mlperf"), user, None)
    assert problems_of(exc) == [f"{user}:3: qsl_rng_seed can only come from the official rules file (mlperf.conf)"]
    # the same conversion, called directly
    with pytest.raises(SettingsError) as exc:
        values_for("*.*.schedule_rng_seed = 5", "m", Scenario.Server, allow_seeds=False, path="user.conf")
    assert problems_of(exc) == [
        "user.conf:1: schedule_rng_seed can only come from the official rules file (mlperf.conf)"
    ]


def test_seeds_from_the_rules_file_are_accepted(tmp_path):
    seeds = "*.*.qsl_rng_seed = 7\n*.*.sample_index_rng_seed = 8\n*.*.schedule_rng_seed = 9\n"
    rules = write(tmp_path, "mlperf.conf", seeds)
    settings = resolve_settings(layers_from_configs("m", Scenario.Offline, rules, None, None))
    assert (settings.qsl_rng_seed, settings.sample_index_rng_seed, settings.schedule_rng_seed) == (7, 8, 9)


def test_audit_config_overrides_user_conf_which_overrides_rules(tmp_path):
    user = write(tmp_path, "user.conf", "resnet50.Server.target_qps = 250\nresnet50.*.min_query_count = 500\n")
    audit = write(
        tmp_path,
        "audit.config",
        "*.*.min_query_count = 100\n*.*.min_duration = 0\n"
        # LoadGen looks audit.config up with model '*': a model-specific line never applies
        "resnet50.*.max_query_count = 5\n",
    )
    layers = layers_from_configs("resnet50", Scenario.Server, rules_path("mlperf"), user, audit)
    assert [source for source, _ in layers] == [str(rules_path("mlperf")), str(user), str(audit)]
    settings = resolve_settings(layers)
    assert settings.scenario is Scenario.Server
    assert settings.server_target_qps == 250.0  # user.conf over the rules' placeholder 1.0
    assert settings.min_query_count == 100  # audit.config over user.conf
    assert settings.min_duration_ms == 0  # audit.config over the rules' 600000
    assert settings.max_query_count is None
    assert settings.server_target_latency_ns == 15_000_000
    assert settings.qsl_rng_seed == ROUND_SEEDS["qsl_rng_seed"]


def test_compliance_style_audit_config_reports_its_unsupported_keys(tmp_path):
    audit = write(
        tmp_path,
        "audit.config",
        "*.*.mode = 2\n*.*.accuracy_log_rng_seed = 720381539243781796\n*.*.accuracy_log_sampling_target = 64\n",
    )
    ((source, cv),) = read_configs("resnet50", "Offline", None, None, audit)
    assert source == str(audit)
    assert cv.settings == {"mode": "PerformanceOnly"}
    assert cv.unsupported == ["accuracy_log_rng_seed", "accuracy_log_sampling_target"]


def test_problems_from_every_file_are_reported_together(tmp_path):
    user = write(tmp_path, "user.conf", "*.*.qsl_rng_seed = 1\n")
    audit = write(tmp_path, "audit.config", "*.*.min_duraton = 1\n")
    with pytest.raises(SettingsError) as exc:
        layers_from_configs("m", "Offline", None, user, audit)
    problems = problems_of(exc)
    assert len(problems) == 2
    assert problems[0].startswith(f"{user}:1: qsl_rng_seed")
    assert problems[1].startswith(f"{audit}:1: unknown key 'min_duraton' (did you mean 'min_duration'?)")


def test_invalid_merged_values_name_the_file(tmp_path):
    user = write(tmp_path, "user.conf", "*.*.min_duration = 5000\n*.*.max_duration = 1000\n")
    with pytest.raises(SettingsError) as exc:
        resolve_settings(layers_from_configs("m", "Offline", None, user, None))
    assert str(user) in str(exc.value)


def test_a_missing_file_is_a_settings_problem(tmp_path):
    with pytest.raises(SettingsError) as exc:
        layers_from_configs("m", "Offline", None, tmp_path / "user.conf", None)
    assert problems_of(exc) == [f"{tmp_path / 'user.conf'}: file not found"]


# --- malformed lines and unknown keys ---------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("*.*.min_duration=10", "spaces around '='"),
        ("*.*.min_duration 10", "spaces around '='"),
        ("*.*.min_duration = 10 20", "spaces around '='"),
        ("*.*.min_duration =", "spaces around '='"),
        ("min_duration = 10", "three parts"),
        ("*..min_duration = 10", "three parts"),
        ("resnet50.server.target_latency = 15", "unknown scenario 'server'"),
        ("*.*.min_duration = ten", "not a number"),
        ("*.*.min_duration = 010", "octal"),
        ("*.*.target_qps = nan", "not a number"),
    ],
)
def test_malformed_lines_name_file_and_line(line, fragment):
    with pytest.raises(SettingsError) as exc:
        parse_config_text(f"# header\n\n{line}\n", "user.conf")
    (problem,) = problems_of(exc)
    assert problem.startswith("user.conf:3: ")
    assert fragment in problem


def test_unknown_scenario_suggests_the_right_spelling():
    with pytest.raises(SettingsError) as exc:
        parse_config_text("resnet50.server.target_latency = 15", "u.conf")
    assert "did you mean 'Server'" in problems_of(exc)[0]


def test_every_malformed_line_is_reported_at_once():
    with pytest.raises(SettingsError) as exc:
        parse_config_text("a=1\n*.*.min_duration = 1\nb = 2\n", "u.conf")
    assert [p.split(": ")[0] for p in problems_of(exc)] == ["u.conf:1", "u.conf:3"]


def test_unknown_keys_name_file_line_and_key_with_a_hint():
    lines = parse_config_text("*.*.min_duration = 1\nresnet50.Server.target_latncy = 15\n", "user.conf")
    with pytest.raises(SettingsError) as exc:
        to_settings_values(lookup(lines, "resnet50", "Server"), Scenario.Server, "user.conf", False)
    (problem,) = problems_of(exc)
    assert problem.startswith("user.conf:2: unknown key 'target_latncy' (did you mean 'target_latency'?)")
    # check_known_keys flags typos even on lines for other models
    other = parse_config_text("bert.Offline.target_qpss = 1\n", "user.conf")
    with pytest.raises(SettingsError) as exc:
        check_known_keys(other)
    assert problems_of(exc)[0].startswith("user.conf:1: unknown key 'target_qpss'")


def test_our_attribute_names_are_pointed_at_loadgens_key():
    with pytest.raises(SettingsError) as exc:
        values_for("*.Server.server_target_latency_ns = 15", "m", Scenario.Server, path="user.conf")
    assert "did you mean 'target_latency'" in problems_of(exc)[0]


def test_without_origins_the_source_names_the_file():
    with pytest.raises(SettingsError) as exc:
        to_settings_values({"bogus": "1"}, "Offline", "user.conf", False)
    assert problems_of(exc)[0].startswith("user.conf: unknown key 'bogus'")


# --- the shipped official rules ---------------------------------------------------------------


def test_rules_path_finds_the_shipped_file_and_lists_the_rule_sets_otherwise():
    path = rules_path("mlperf")
    assert path.name == "mlperf.conf" and path.is_file()
    assert rules_path("mlperf.conf") == path
    with pytest.raises(SettingsError) as exc:
        rules_path("mlperf-v0.5")
    assert problems_of(exc) == ["unknown rule set 'mlperf-v0.5'; available: mlperf"]


def test_shipped_rules_say_which_round_they_follow():
    head = rules_path("mlperf").read_text().splitlines()[:10]
    assert any("v6.1" in line for line in head)
    assert any("loadgen/mlperf.conf" in line for line in head)


def _shipped_models(lines: list[ConfigLine]) -> list[str]:
    return sorted({line.model for line in lines if line.model != "*"})


def test_shipped_rules_parse_entirely_into_known_keys():
    lines = read_config_file(rules_path("mlperf"))
    assert len(lines) > 100
    check_known_keys(lines)  # every line is a known (or explicitly unsupported) key
    for model in _shipped_models(lines):
        for scenario in Scenario:
            values = to_settings_values(lookup(lines, model, scenario), scenario, "mlperf.conf", True)
            assert values.settings["min_duration_ms"] == 600_000
            for key, value in ROUND_SEEDS.items():
                assert values.settings[key] == value
            settings = resolve_settings(
                layers_from_configs(model, scenario, rules_path("mlperf"), None, None)
            )
            assert settings.scenario is scenario


def test_shipped_rules_for_resnet50_server():
    cv = read_configs("resnet50", Scenario.Server, rules_path("mlperf"), None, None)[0][1]
    assert cv.settings["server_target_latency_ns"] == 15_000_000
    assert cv.settings["server_target_latency_percentile"] == 0.99
    assert cv.settings["min_duration_ms"] == 600_000
    assert cv.settings["performance_sample_count_override"] == 1024
    assert {key: cv.settings[key] for key in ROUND_SEEDS} == ROUND_SEEDS
    assert cv.unsupported == []
    assert "target_duration" in cv.ignored


@pytest.mark.parametrize(
    ("model", "scenario", "attr", "value"),
    [
        ("retinanet", Scenario.Server, "server_target_latency_ns", 100_000_000),
        ("bert", Scenario.Server, "server_target_latency_ns", 130_000_000),
        ("dlrm-v2", Scenario.Server, "server_target_latency_ns", 60_000_000),
        ("gptj", Scenario.Server, "server_target_latency_ns", 20_000_000_000),
        ("3d-unet", Scenario.Offline, "min_query_count", 43),
        ("3d-unet", Scenario.Offline, "performance_sample_count_override", None),
        ("resnet50", Scenario.MultiStream, "min_query_count", 662),
        ("resnet50", Scenario.MultiStream, "multi_stream_samples_per_query", 8),
        ("retinanet", Scenario.MultiStream, "multi_stream_expected_latency_ns", 528_000_000),
        ("pointpainting", Scenario.SingleStream, "single_stream_target_latency_percentile", 0.999),
        ("resnet50", Scenario.SingleStream, "single_stream_target_latency_percentile", 0.9),
        ("resnet50", Scenario.Offline, "min_query_count", 24576),
        ("resnet50", Scenario.Offline, "offline_expected_qps", 1.0),
    ],
)
def test_shipped_rules_values(model, scenario, attr, value):
    settings = resolve_settings(layers_from_configs(model, scenario, rules_path("mlperf"), None, None))
    assert getattr(settings, attr) == value


def test_shipped_rules_for_llms_report_token_latency_keys_as_unsupported():
    cv = read_configs("llama2-70b", "Server", rules_path("mlperf"), None, None)[0][1]
    assert {"use_token_latencies", "ttft_latency", "tpot_latency", "target_latency"} <= set(cv.unsupported)
    assert "server_target_latency_ns" not in cv.settings  # 0 upstream: no end-to-end bound
    assert cv.sources["ttft_latency"].startswith(str(rules_path("mlperf")) + ":")
