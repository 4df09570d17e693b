"""Fuzz tests (issue 11, must-have 9): the settings layers, the TOML and MLPerf config parsers and
`--sut` specs answer any input with a value or their documented error, never another exception.

Fixed seed (derandomize), no example database, a few hundred examples each: about 15 s in all.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loadgen.cli.sut_spec import build_sut
from loadgen.engine.schedule import MAX_SCHEDULED_SAMPLES, build_schedule, schedule_problems, scheduled_samples
from loadgen.errors import SettingsError, SutLoadError
from loadgen.mlperf.config import KEYS, check_known_keys, lookup, parse_config_text, to_settings_values
from loadgen.settings.effective import EffectiveSettings
from loadgen.settings.layers import load_toml, parse_assignment, resolve_settings
from loadgen.settings.model import SETTING_NAMES, Scenario, TestSettings

FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "100")),  # raise it to hunt for more
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.integers(min_value=-5, max_value=100_000),
    st.integers(min_value=10**300, max_value=10**401),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=1e-12, max_value=1e12),
)
values = st.one_of(
    numbers,
    st.booleans(),
    st.none(),
    st.sampled_from([s.value for s in Scenario] + ["single_stream", "find_peak", "accuracy", "Sideways", ""]),
    st.text(max_size=30),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
keys = st.one_of(st.sampled_from(SETTING_NAMES), st.text(max_size=20))
layers = st.lists(
    st.tuples(
        st.sampled_from(["scenarios/server.toml", "user.toml", "--set x"]), st.dictionaries(keys, values, max_size=6)
    ),
    min_size=1,
    max_size=4,
)


def check_accepted(accepted: TestSettings) -> None:
    """Settings that validate also derive, size and (when small) build their schedule without surprises."""
    effective = EffectiveSettings.derive(accepted)
    problems = schedule_problems(effective)
    assert all(isinstance(problem, str) and problem for problem in problems)
    if not problems and not effective.needs_pilot and scheduled_samples(effective) <= 20_000:
        schedule = build_schedule(effective, _LOADED)
        assert schedule.n_samples <= MAX_SCHEDULED_SAMPLES


_LOADED = np.arange(16, dtype=np.int64)


@FUZZ
@given(layers)
def test_settings_layers_give_settings_or_a_settings_error(given_layers: list[tuple[str, dict[str, Any]]]) -> None:
    try:
        accepted = resolve_settings(given_layers)
    except SettingsError as exc:
        assert exc.problems and all(isinstance(p, str) and p for p in exc.problems)
        assert all(len(p) < 2_000 for p in exc.problems)  # long values are cut in messages
        return
    check_accepted(accepted)


@FUZZ
@given(st.dictionaries(st.sampled_from(SETTING_NAMES), numbers, max_size=8), st.sampled_from(list(Scenario)))
def test_numeric_settings_in_any_scenario_derive_and_size_their_schedule(
    chosen: dict[str, Any], scenario: Scenario
) -> None:
    chosen = {key: value for key, value in chosen.items() if key not in ("scenario", "mode")}
    try:
        accepted = resolve_settings([("fuzz.toml", {"scenario": scenario.value, **chosen})])
    except SettingsError:
        return
    check_accepted(accepted)


@FUZZ
@given(st.text(max_size=60))
def test_set_assignments_parse_or_name_the_option(text: str) -> None:
    try:
        key, _ = parse_assignment(text, "--sut-arg")
    except SettingsError as exc:
        assert exc.problems[0].startswith("--sut-arg ")
        return
    assert key == key.strip() and key


toml_texts = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200).map(str.encode),
    st.lists(
        st.tuples(
            st.sampled_from([*SETTING_NAMES, "a.b", "[x]", "'q'"]),
            st.sampled_from(["=", " = ", "=="]),
            st.sampled_from(["1", "1e999", "inf", "nan", '"x"', "[[[[1]]]]", "{a=1}", "true", "1979-05-27", "9" * 500]),
        ),
        max_size=8,
    ).map(lambda rows: "\n".join(f"{k}{eq}{v}" for k, eq, v in rows).encode()),
    st.integers(min_value=1, max_value=3000).map(lambda depth: b"a = " + b"[" * depth + b"]" * depth),
)


@FUZZ
@given(toml_texts)
def test_toml_files_load_or_give_a_settings_error_naming_the_file(data: bytes) -> None:
    handle, name = tempfile.mkstemp(suffix=".toml")
    try:
        os.write(handle, data)
        os.close(handle)
        try:
            loaded = load_toml(Path(name))
        except SettingsError as exc:
            assert exc.problems[0].startswith(name)
            return
        with contextlib.suppress(SettingsError):
            resolve_settings([(name, loaded)])
    finally:
        os.unlink(name)


config_values = st.one_of(
    st.sampled_from(["0", "1", "-1", "010", "0x10", "1.5", "1e999999", "1e-999999", "nan", "inf", "99", "2e6",
                     "18446744073709551616", "9" * 70, "1e30", "1e31", "."]),
    st.text(alphabet="0123456789.eE+-x", max_size=12),
)
config_lines = st.lists(
    st.tuples(
        st.sampled_from(["*", "resnet50", "gptj"]),
        st.sampled_from(["*", "Server", "Offline", "SingleStream", "MultiStream", "server"]),
        st.one_of(st.sampled_from(sorted(KEYS)), st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", max_size=12)),
        config_values,
    ),
    max_size=10,
).map(lambda rows: "\n".join(f"{m}.{s}.{k} = {v}" for m, s, k, v in rows))


@FUZZ
@given(st.one_of(config_lines, st.text(max_size=200)), st.sampled_from(list(Scenario)), st.booleans())
def test_mlperf_config_text_gives_settings_or_a_settings_error(text: str, scenario: Scenario, rules: bool) -> None:
    try:
        lines = parse_config_text(text, "user.conf")
        check_known_keys(lines)
        found = to_settings_values(lookup(lines, "resnet50", scenario), scenario, "user.conf", allow_seeds=rules)
        accepted = resolve_settings([("user.conf", {"scenario": scenario.value, **found.settings})])
    except SettingsError as exc:
        assert exc.problems and all(isinstance(p, str) and p for p in exc.problems)
        return
    check_accepted(accepted)


@pytest.fixture(scope="module")
def sut_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("suts")
    (folder / "good.py").write_text(
        "class Sut:\n    name = 'Sut'\n    def __init__(self, **kw):\n        pass\n"
        "    def issue_query(self, samples):\n        samples.complete()\n    def flush_queries(self):\n        pass\n"
        "def make_sut(**kw):\n    return Sut()\nthing = 3\n"
    )
    (folder / "syntax.py").write_text("def broken(:\n")
    (folder / "raises.py").write_text("raise ImportError('needs a GPU')\n")
    (folder / "exits.py").write_text("raise SystemExit(4)\n")
    return folder


@FUZZ
@given(
    target=st.sampled_from(["good.py", "syntax.py", "raises.py", "exits.py", "missing.py", "json", "sut.null",
                            "zzq_no_such_module", "zzq.deep.er", "", ".", "..zzq", "a b", "json.", "/", "\x00"]),
    attr=st.one_of(st.sampled_from(["", "make_sut", "Sut", "thing", "Sut.name", "nope", "dumps", "__class__"]),
                   st.text(alphabet="abz_.", max_size=6)),
    kwargs=st.dictionaries(st.sampled_from(["x", "workers", "obj"]), st.sampled_from([0, -1, "s", None]), max_size=2),
)
def test_sut_specs_give_a_sut_or_a_sut_load_error(
    sut_folder: Path, target: str, attr: str, kwargs: dict[str, Any]
) -> None:
    path_like = target.endswith(".py") or "/" in target
    spec = f"{sut_folder / target if path_like and target != '/' else target}"
    spec = f"{spec}:{attr}" if attr else spec
    try:
        sut = build_sut(spec, kwargs)
    except SutLoadError as exc:
        assert str(exc).startswith("--sut ") or str(exc).startswith("the SUT")
        return
    assert callable(sut.issue_query) and callable(sut.flush_queries)
