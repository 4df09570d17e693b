"""What every command shares: the exit-code table, settings from arguments, SUT keyword arguments."""

from __future__ import annotations

import argparse
import enum
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from loadgen.errors import SettingsError
from loadgen.mlperf.config import layers_from_configs, rules_path
from loadgen.settings.layers import load_toml, parse_assignment, resolve_settings, scenario_layer
from loadgen.settings.model import Scenario, TestSettings


class ExitCode(enum.IntEnum):
    """The one exit-code table of every command (README, "Exit codes"); one meaning per code."""

    OK = 0
    """Success: the run is VALID, the file was written, the test passed, the submission is valid."""
    ERROR = 1
    """A run started but aborted: the SUT raised, stalled, broke the protocol, or the harness failed."""
    USAGE = 2
    """Bad usage, settings or input: refused before anything ran."""
    INVALID = 3
    """Completed, but the verdict is negative: INVALID, TEST FAIL, NOT COMPLIANT, submission invalid."""
    INTERRUPTED = 130
    """Stopped by SIGINT (Ctrl-C); what was recorded is written."""
    TERMINATED = 143
    """Stopped by SIGTERM; what was recorded is written."""


def print_error(error: BaseException | str, stream: TextIO | None = None) -> None:
    """Every command prints errors the same way: one `error: ` line per line of the message."""
    out = sys.stderr if stream is None else stream
    for line in str(error).splitlines() or [""]:
        print(f"error: {line}", file=out)


def run_command(main: Callable[[], int]) -> None:
    """Run a command's main and leave with its code without waiting for SUT threads that never
    end (os._exit after flushing): a stuck SUT must not keep a finished benchmark alive."""
    try:
        code = int(main())
    except KeyboardInterrupt:
        code = ExitCode.INTERRUPTED
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def settings_from_args(args: argparse.Namespace) -> TestSettings:
    """Layers, lowest first: scenario file < MLPerf rules and user.conf < --config < --mode < --set."""
    layers = [scenario_layer(args.scenario)]
    rules = getattr(args, "rules", None)
    user_conf = getattr(args, "user_conf", None)
    if rules is not None or user_conf is not None:
        try:
            scenario = Scenario.parse(str(layers[0][1].get("scenario", "")))
        except ValueError as exc:
            raise SettingsError([f"{layers[0][0]}: scenario: {exc}"]) from None
        layers += layers_from_configs(args.model, scenario, rules_path(rules or "mlperf"), user_conf, None)
    if args.config is not None:
        layers.append((str(args.config), load_toml(args.config)))
    if args.mode is not None:
        layers.append((f"--mode {args.mode}", {"mode": args.mode}))
    for text in args.assignments:
        key, value = parse_assignment(text)
        layers.append((f"--set {text}", {key: value}))
    return resolve_settings(layers)


def sut_kwargs(texts: Sequence[str]) -> dict[str, Any]:
    """`--sut-arg KEY=VALUE` pairs as keyword arguments, values read as TOML values."""
    pairs = [parse_assignment(text, "--sut-arg") for text in texts]
    return dict(pairs)
