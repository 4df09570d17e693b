"""Rebuilding the result of a run whose process died, from its live recording (OUTPUT/live/).

The trace's columns were written in place as the run went (loadgen.engine.trace), so the
rebuilt result counts every completion recorded up to the fault, computed by the same
functions as a finished run's figures; it is always INVALID, naming why the run ended.
What lived only in the dead process's memory is lost, and the result says so: responses
kept for the accuracy log, the pilot's notes, the noise samples.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from loadgen.benchmark.runner import Benchmark
from loadgen.engine.trace import Trace
from loadgen.errors import RunAborted, SettingsError
from loadgen.machine.fingerprint import load_average
from loadgen.metrics.figures import compute_metrics
from loadgen.metrics.result import RunResult
from loadgen.metrics.verdict import judge
from loadgen.results.folder import concluded, write_outputs
from loadgen.results.live import has_live_recording, live_folder, read_state
from loadgen.settings.model import Mode, TestSettings

RECOVERED_NOTE = (
    "rebuilt from the live recording after the run's process ended without writing its results; "
    "responses for the accuracy log and the pilot's notes lived only in that process and are lost"
)


def run_state(
    *,
    tool: str,
    started_at: str,
    sut_name: str,
    qsl_name: str,
    settings: TestSettings,
    fingerprint: dict[str, Any],
    model: dict[str, Any] | None,
    total_sample_count: int,
    performance_sample_count: int,
    chrome_trace: bool,
) -> dict[str, Any]:
    """What live/state.json holds before the run starts (settings_effective is added when timing starts)."""
    return {
        "tool": tool,
        "started_at": started_at,
        "sut_name": sut_name,
        "qsl_name": qsl_name,
        "settings_requested": settings.model_dump(mode="json"),
        "fingerprint": fingerprint,
        "model": model,
        "total_sample_count": total_sample_count,
        "performance_sample_count": performance_sample_count,
        "chrome_trace": chrome_trace,
    }


def _recorded_trace(output: Path) -> Trace:
    live = live_folder(output)
    if not (live / "completed_ns.npy").is_file():  # the run died before timing started
        return Trace.allocate(np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int32))
    return Trace.from_folder(live).recorded_part()


def rebuild(output: Path, reason: str, memory: dict[str, int] | None = None) -> Benchmark:
    """The INVALID result of the run recorded in output/live/, ended for `reason`.

    Raises ValueError when the live recording is missing or unreadable."""
    state = read_state(output)
    try:
        requested = TestSettings.model_validate(state["settings_requested"])
        effective = TestSettings.model_validate(state.get("settings_effective") or state["settings_requested"])
        trace = _recorded_trace(output)
        metrics = compute_metrics(trace, effective) if requested.mode is not Mode.AccuracyOnly else None
        validity = judge(metrics, effective, reason)
        result = RunResult(
            tool=state["tool"],
            started_at=state["started_at"],
            scenario=requested.scenario.value,
            mode=requested.mode.value,
            sut_name=state["sut_name"],
            qsl_name=state["qsl_name"],
            valid=validity.valid,
            invalid_reasons=validity.reasons,
            checks=validity.checks,
            stop_reason=f"aborted: {reason}",
            error=reason,
            metrics=metrics,
            model=state.get("model"),
            memory=memory or {},
            settings_requested=state["settings_requested"],
            settings_effective=effective.model_dump(mode="json"),
            chosen_by_pilot=state.get("chosen_by_pilot", {}),
            warmup_queries=int(state.get("warmup_queries", 0)),
            total_sample_count=int(state["total_sample_count"]),
            performance_sample_count=int(state["performance_sample_count"]),
            fingerprint=state["fingerprint"],
            load_average_end=load_average(),
            warnings=[RECOVERED_NOTE],
        )
    except (KeyError, TypeError, ValueError, SettingsError) as exc:
        raise ValueError(f"{live_folder(output)}: the live recording cannot be rebuilt: {exc}") from exc
    return Benchmark(result=result, trace=trace, error=RunAborted(reason))


def recover(output: Path, reason: str, memory: dict[str, int] | None = None) -> Benchmark:
    """Rebuild the run recorded in output/live/ and write its results folder (which removes live/).

    Raises ValueError (nothing to recover) or OSError (the folder cannot be written)."""
    if not has_live_recording(output):
        raise ValueError(f"{output}: no live recording to recover (no {live_folder(output).name}/state.json)")
    chrome_trace = bool(read_state(output).get("chrome_trace"))
    benchmark = concluded(rebuild(output, reason, memory), chrome_trace)
    write_outputs(benchmark, output, chrome_trace)
    return benchmark
