"""`loadgen recover FOLDER`: rebuild the result of a run whose process died, from its live recording.

`loadgen run` does this itself when its supervised run dies; this command is for a folder
left behind when the supervisor could not (it was killed too, the disk was full, the
machine rebooted: then only what the kernel had written back survives). The result is
INVALID and counts every completion recorded in FOLDER/live/ before the run stopped.

Exit codes: 3 the INVALID result was written; 2 nothing to recover (no live recording, or
a run is still recording there); 1 the folder cannot be written.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from loadgen.cli.common import ExitCode, print_error
from loadgen.results.folder import RESULT_FILE
from loadgen.results.live import LIVE_FOLDER, has_live_recording, recording_age_s, remove_live
from loadgen.results.recovery import recover
from reports.summary import render_console

DEFAULT_REASON = "the run's process ended without writing its results (rebuilt by `loadgen recover`)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="loadgen recover",
        description="Rebuild result.json, trace.npz and the logs of a run whose process died, from the "
        f"trace it recorded in FOLDER/{LIVE_FOLDER}/ as it went. The result is INVALID.",
        epilog="exit codes: 3 the INVALID result was written, 2 nothing to recover, 1 the folder cannot be written.",
    )
    parser.add_argument("folder", type=Path, help="the run's results folder (its --output)")
    parser.add_argument("--reason", default=DEFAULT_REASON, help="why the run ended, for result.json")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    folder: Path = args.folder
    if (folder / RESULT_FILE).is_file():  # written last: the run finished, whatever live/ is left
        remove_live(folder)
        print_error(f"{folder}: the run finished: {RESULT_FILE} is written; nothing to recover")
        return ExitCode.USAGE
    if not has_live_recording(folder):
        print_error(f"{folder}: no live recording to recover (no {LIVE_FOLDER}/state.json)")
        return ExitCode.USAGE
    age = recording_age_s(folder)
    if age is not None:
        print_error(f"{folder}: a run is recording there now (heartbeat {age:.1f} s ago); stop it first")
        return ExitCode.USAGE
    try:
        benchmark = recover(folder, args.reason)
    except ValueError as exc:
        print_error(exc)
        return ExitCode.USAGE
    except OSError as exc:
        print_error(f"cannot write the results to {folder}: {exc}")
        return ExitCode.ERROR
    print(render_console(benchmark.result))
    print(f"results: {folder} (rebuilt from its live recording)")
    return ExitCode.INVALID
