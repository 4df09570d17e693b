"""Settings layers merged into one validated TestSettings: scenario files, TOML, --set.

Each problem names its source, its key and the allowed range."""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from loadgen.errors import SettingsError
from loadgen.own_packages import ROOT
from loadgen.settings.model import COMBINATION_SEPARATOR, SETTING_NAMES, Scenario, TestSettings, describe_allowed


def _unknown_key_problem(source: str, key: str) -> str:
    close = difflib.get_close_matches(key, SETTING_NAMES, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"{source}: unknown setting '{key}'{hint}; see `python -m loadgen.run --print-schema`"


def resolve_settings(layers: Iterable[tuple[str, Mapping[str, Any]]]) -> TestSettings:
    """Merge layers (lowest first) into validated settings, naming the source of each problem."""
    merged: dict[str, Any] = {}
    source_of: dict[str, str] = {}
    problems: list[str] = []
    for source, values in layers:
        for key, value in values.items():
            if key not in TestSettings.model_fields:
                problems.append(_unknown_key_problem(source, key))
                continue
            merged[key] = value
            source_of[key] = source
    try:
        settings = TestSettings.model_validate(merged)
    except ValidationError as exc:
        problems += [line for error in exc.errors() for line in _explain(error, merged, source_of)]
    if problems:
        raise SettingsError(problems)
    return settings


def _explain(error: Mapping[str, Any], merged: Mapping[str, Any], source_of: Mapping[str, str]) -> list[str]:
    """One line per problem: where the value came from, the key, what is wrong, what is allowed."""
    location = error.get("loc") or ()
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    if location:
        key = str(location[0])
        source = source_of.get(key, "defaults")
        allowed = "" if "allowed:" in message else f"; allowed: {describe_allowed(key)}"
        return [f"{source}: {key} = {merged.get(key)!r}: {message}{allowed}"]
    lines = []
    for clash in message.split(COMBINATION_SEPARATOR):
        named = [key for key in SETTING_NAMES if key in clash]
        sources = ", ".join(f"{key} from {source_of.get(key, 'defaults')}" for key in named)
        lines.append(f"{clash} ({sources})" if sources else clash)
    return lines


def load_toml(path: Path) -> dict[str, Any]:
    """Read a settings file; a missing or malformed file is a settings problem naming the file."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise SettingsError([f"{path}: file not found"]) from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError([f"{path}: not a readable TOML file: {exc}"]) from None


def parse_assignment(text: str) -> tuple[str, Any]:
    """`KEY=VALUE` with VALUE read as a TOML value (number, bool, string) or else kept as text."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise SettingsError([f"--set {text}: expected KEY=VALUE"])
    raw = raw.strip()
    try:
        return key, tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return key, raw


SHIPPED = ROOT / "scenarios"
"""The shipped scenario and rule files, found by location: a user's `scenarios.py` cannot shadow them."""


def shipped_file(name: str) -> Path:
    """A file shipped in scenarios/ (`offline.toml`, `mlperf.conf`, `capstone.toml`)."""
    return SHIPPED / name


def scenario_layer(text: str) -> tuple[str, dict[str, Any]]:
    """A scenario given by name loads the shipped file; anything else is a path."""
    try:
        scenario = Scenario.parse(text)
    except ValueError:
        scenario = None
    if scenario is not None:
        name = f"{scenario.snake_name}.toml"
        return f"scenarios/{name}", load_toml(shipped_file(name))
    path = Path(text)
    if not path.exists():
        raise SettingsError(
            [f"--scenario {text}: neither a scenario name ({', '.join(m.value for m in Scenario)}) nor a file"]
        )
    values = load_toml(path)
    if "scenario" not in values:
        raise SettingsError([f"{path}: missing the 'scenario' key; allowed: {', '.join(m.value for m in Scenario)}"])
    return str(path), values
