"""One exception tree for the harness; only the command line (loadgen.cli.common.ExitCode) turns these into exit codes.

    LoadgenError
    ├── SettingsError      bad settings or usage, rejected before anything runs (exit 2)
    ├── SutLoadError       a --sut spec that cannot be imported or built (exit 2)
    └── RunAborted         a run that started but could not finish (exit 1 or 130)
        ├── SutError       the SUT raised, completed a sample twice or an unknown id
        ├── SampleTimeout  samples stopped completing for longer than sample_timeout_ms
        └── Interrupted    Ctrl-C / SIGINT
"""

from __future__ import annotations


class LoadgenError(Exception):
    """Root of every error this harness raises on purpose."""


class SettingsError(LoadgenError):
    """Settings that cannot run: names the source, the key and the allowed range."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class SutLoadError(LoadgenError):
    """A SUT spec that does not lead to an object with the SUT protocol."""


class RunAborted(LoadgenError):
    """A run that ended early; what was recorded is still written, marked INVALID."""


class SutError(RunAborted):
    """The SUT broke the protocol: raised, or completed a sample twice or never issued."""


class SampleTimeout(RunAborted):
    """Samples were outstanding and none completed for longer than the timeout."""


class Interrupted(RunAborted):
    """The user interrupted the run (Ctrl-C or SIGINT)."""
