"""Reading results folders back: result.json, trace.npz, the run folders of repeated runs."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from loadgen.engine.trace import Trace
from loadgen.errors import SettingsError
from loadgen.metrics.result import RunResult
from loadgen.results.atomic import write_text_atomic

if TYPE_CHECKING:  # imported where used: reading one run needs none of scipy's statistics
    from loadgen.analysis.aggregate import LoadedRuns


def _run_number(path: Path) -> int:
    match = re.fullmatch(r"run-(\d+)", path.name)
    return int(match.group(1)) if match else -1


def run_folders(folder: Path) -> list[Path]:
    """The run folders of a results folder: itself for one run, else run-1, run-2, ... in number order."""
    if (folder / "result.json").is_file():
        return [folder]
    return sorted((p for p in folder.glob("run-*") if _run_number(p) >= 0 and p.is_dir()), key=_run_number)


def read_result(path: Path) -> RunResult:
    """A result.json as a RunResult; a SettingsError naming the file when it is missing or malformed."""
    try:
        return RunResult.model_validate_json(path.read_bytes())
    except OSError as exc:
        raise SettingsError([f"{path}: cannot read: {exc.strerror or exc}"]) from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise SettingsError([f"{path}: not a result.json: {where}: {first['msg']}"]) from exc


def load_runs(folder: Path, names: Sequence[str] | None = None) -> LoadedRuns:
    """Read a results folder (one run or run-*/, or just the named run folders); runs without
    result.json or ending in an error are left out."""
    from loadgen.analysis.aggregate import LoadedRuns

    if not folder.is_dir():
        raise SettingsError([f"{folder}: no such results folder"])
    loaded = LoadedRuns(folder, [], [], {}, [], [])
    for path in run_folders(folder) if names is None else [folder / name for name in names]:
        if not (path / "result.json").is_file():
            loaded.statuses[path.name] = "missing"
            loaded.warnings.append(f"{path.name}: no result.json (the run did not start); left out")
            continue
        result = read_result(path / "result.json")
        if result.error is not None:
            loaded.statuses[path.name] = "error"
            loaded.warnings.append(f"{path.name}: ended in an error ({result.error}); left out")
            continue
        loaded.statuses[path.name] = "VALID" if result.valid else "INVALID"
        if not result.valid:
            loaded.warnings.append(f"{path.name}: INVALID ({'; '.join(result.invalid_reasons)}); kept")
        loaded.results.append(result)
        loaded.run_folders.append(path)
        loaded.traces.append(load_trace(path))
    return loaded


def load_trace(run_folder: Path) -> Trace | None:
    """The run's trace.npz, or None when it is absent or unreadable (intervals are then left out)."""
    try:
        return Trace.load(run_folder / "trace.npz")
    except (OSError, ValueError, KeyError):
        return None


def json_text(data: Any) -> str:
    """Indented JSON; a NaN or infinity becomes null (JSON has neither)."""
    return json.dumps(_finite_or_null(data), indent=2, allow_nan=False)


def write_json(path: Path, data: Any) -> None:
    """json_text and a final newline, to path, atomically (whole or not at all)."""
    write_text_atomic(path, json_text(data) + "\n")


def _finite_or_null(data: Any) -> Any:
    if isinstance(data, float) and not math.isfinite(data):
        return None
    if isinstance(data, dict):
        return {key: _finite_or_null(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [_finite_or_null(value) for value in data]
    return data
