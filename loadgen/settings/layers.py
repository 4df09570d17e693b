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
    close = difflib.get_close_matches(key, SETTING_NAMES, n=1) if len(key) <= 80 else []
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"{_shorten(source)}: unknown setting '{_shorten(key)}'{hint}; see `python -m loadgen.run --print-schema`"


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
        return [f"{_shorten(source)}: {key} = {_shorten(repr(merged.get(key)))}: {message}{allowed}"]
    lines = []
    for clash in message.split(COMBINATION_SEPARATOR):
        named = [key for key in SETTING_NAMES if key in clash]
        sources = ", ".join(f"{key} from {source_of.get(key, 'defaults')}" for key in named)
        lines.append(f"{clash} ({sources})" if sources else clash)
    return lines


CONFIG_SIZE_LIMIT = 1 << 20
"""Settings and config files are read up to 1 MiB (real ones are a few KiB): `--config /dev/zero`
is refused at once instead of filling memory."""


def read_capped(path: Path, what: str) -> str:
    """A settings or config file's text, read up to CONFIG_SIZE_LIMIT; every failure is a settings
    problem naming the file."""
    try:
        with Path(path).open("rb") as handle:
            data = handle.read(CONFIG_SIZE_LIMIT + 1)
    except FileNotFoundError:
        raise SettingsError([f"{path}: file not found"]) from None
    except OSError as exc:
        raise SettingsError([f"{path}: not a readable {what}: {exc.strerror or exc}"]) from None
    if len(data) > CONFIG_SIZE_LIMIT:
        raise SettingsError([f"{path}: larger than {CONFIG_SIZE_LIMIT:,} bytes (1 MiB), the most a {what} may hold"])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        problem = f"not UTF-8 text ({exc.reason} at byte {exc.start})"
        raise SettingsError([f"{path}: not a readable {what}: {problem}"]) from None


def load_toml(path: Path) -> dict[str, Any]:
    """Read a settings file; a missing, oversized or malformed file is a settings problem naming the file."""
    text = read_capped(path, "TOML file")
    try:
        return tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError) as exc:
        problem = _shorten(str(exc) or "nested too deeply")
        raise SettingsError([f"{path}: not a readable TOML file: {problem}"]) from None


def parse_assignment(text: str, option: str = "--set") -> tuple[str, Any]:
    """`KEY=VALUE` with VALUE read as a TOML value (number, bool, string) or else kept as text;
    `option` names the command-line option in the message."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise SettingsError([f"{option} {_shorten(text)}: expected KEY=VALUE"])
    raw = raw.strip()
    try:
        return key, tomllib.loads(f"v = {raw}")["v"]
    except (tomllib.TOMLDecodeError, RecursionError, KeyError):
        return key, raw


def _shorten(text: str, limit: int = 80) -> str:
    """A value for a message: long ones cut, saying how long they were."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


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
