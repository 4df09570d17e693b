"""Settings: what the user asked for (one validated model) and the layers that build it."""

from loadgen.settings.layers import load_toml, parse_assignment, resolve_settings, scenario_layer
from loadgen.settings.model import Mode, Scenario, TestSettings, settings_schema

__all__ = [
    "Mode",
    "Scenario",
    "TestSettings",
    "load_toml",
    "parse_assignment",
    "resolve_settings",
    "scenario_layer",
    "settings_schema",
]
