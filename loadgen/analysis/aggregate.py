"""The figures of a run that repeated runs aggregate and comparisons test, and their summaries.

`run_figures` is the one place that says which per-run figures exist, which way is better
and in what unit; `aggregate` summarizes each across runs with loadgen.analysis.stats
(median, mean with its Student-t interval, CV, n, outlier runs), and `percentile_intervals`
gives each run's latency percentiles a batch-means interval from its trace, which holds
for autocorrelated queries (a loaded server), or says why there is none. Percentile
intervals are per run, never over the pooled queries of several runs: the unit of
replication is the run (docs/statistics.md).

A results folder holds one run (`result.json`) or several (`run-1/result.json`, ...,
from `--runs N`); `load_runs` reads either and leaves out runs that ended in an error.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from loadgen.analysis import stats
from loadgen.engine.trace import Trace
from loadgen.metrics.figures import Metrics, percentile_label, query_latencies_ns
from loadgen.metrics.result import RunResult
from loadgen.settings.model import Scenario

AGGREGATE_FORMAT = "tinyperf-aggregate/1"


INTERVAL_PERCENTILES = (0.5, 0.9, 0.99)
"""The latency percentiles given a per-run batch-means interval."""


CONFIDENCE = 0.95


LOAD_SETTINGS = ("server_target_qps", "offline_expected_qps")
"""Settings that set how much work a run does; a pilot that picks them differently per run is worth a warning."""


HEADLINE = "headline"
"""Every headline figure's name starts with this, so a report can find it."""


@dataclass(frozen=True)
class Figure:
    """One per-run figure: its value, which way is better, its unit and the words for 'better'/'worse'."""

    value: float
    higher_is_better: bool
    unit: str
    better: str = "faster"
    worse: str = "slower"


def _latency(value: float) -> Figure:
    return Figure(float(value), False, "ns")


def _rate(value: float) -> Figure:
    return Figure(float(value), True, "samples/s")


def _headline(metrics: Metrics) -> tuple[str, Figure] | None:
    """The scenario's official metric under a name that says what it is."""
    value = metrics.headline_value
    if value is None:
        return None
    if metrics.headline_name.endswith("(ns)"):
        p = percentile_label(metrics.target_latency_percentile or 0).removesuffix(".0")
        return f"{HEADLINE} p{p} latency", _latency(value)
    if metrics.headline_name.startswith("Completed"):
        return f"{HEADLINE} completed samples/s", _rate(value)
    return f"{HEADLINE} samples/s", _rate(value)


def run_figures(result: RunResult) -> dict[str, Figure]:
    """The figures of one run that are aggregated and compared; a figure the run lacks is absent."""
    figures: dict[str, Figure] = {}
    metrics = result.metrics
    if metrics is not None:
        headline = _headline(metrics)
        if headline is not None:
            figures[headline[0]] = headline[1]
        rate = metrics.samples_per_second
        if rate is not None and not (headline and headline[1].unit == "samples/s" and headline[1].value == rate):
            figures["samples/s"] = _rate(rate)  # Offline's headline is this very figure: not twice
        if metrics.latency is not None:
            figures["mean latency"] = _latency(metrics.latency.mean_ns)
            for p in INTERVAL_PERCENTILES:
                label = percentile_label(p)
                if label in metrics.latency.percentiles_ns:
                    figures[f"p{label.removesuffix('.0')} latency"] = _latency(metrics.latency.percentiles_ns[label])
    if result.accuracy is not None and result.accuracy.top1 is not None:
        figures["top-1 accuracy"] = Figure(result.accuracy.top1, True, "fraction", "more accurate", "less accurate")
    size = (result.model or {}).get("model_size_mb")
    if isinstance(size, (int, float)) and not isinstance(size, bool) and math.isfinite(size):
        figures["model size"] = Figure(float(size), False, "MiB", "smaller", "larger")
    return figures


@dataclass(frozen=True)
class FigureSeries:
    """One figure over several runs, in run order (runs that lack it are skipped), with each value's run name."""

    values: list[float]
    higher_is_better: bool
    unit: str
    better: str
    worse: str
    runs: list[str] = field(default_factory=list)


def figure_series(results: Sequence[RunResult], names: Sequence[str] | None = None) -> dict[str, FigureSeries]:
    """run_figures of each run, gathered per figure, in the order the figures first appear.

    names are the runs' folder names (run-1, ...; the default), kept beside each value so
    interleaved A/B runs can be paired by name.
    """
    labels = list(names) if names is not None else [f"run-{k}" for k in range(1, len(results) + 1)]
    series: dict[str, FigureSeries] = {}
    for result, label in zip(results, labels, strict=True):
        for name, figure in run_figures(result).items():
            if name not in series:
                series[name] = FigureSeries([], figure.higher_is_better, figure.unit, figure.better, figure.worse)
            series[name].values.append(figure.value)
            series[name].runs.append(label)
    return series


def aggregate(results: Sequence[RunResult], traces: Sequence[Trace | None] | None = None) -> dict[str, Any]:
    """Per figure: the values, stats.summarize_runs, and noise warnings; per run: percentile intervals."""
    figures = {}
    for name, series in figure_series(results).items():
        summary = stats.summarize_runs(series.values, confidence=CONFIDENCE)
        figures[name] = {
            "unit": series.unit,
            "higher_is_better": series.higher_is_better,
            "values": series.values,
            **summary.as_json(),
            "warnings": stats.noise_warnings(series.values),
        }
    intervals: list[dict[str, Any] | None] = []
    for result, trace in zip(results, traces or [None] * len(results), strict=True):
        if trace is not None and result.metrics is not None:
            scenario = Scenario(result.scenario)
            latencies = query_latencies_ns(trace, scenario)
            intervals.append(percentile_intervals(latencies, result.metrics, scenario))
        else:
            intervals.append(None)
    return {"figures": figures, "percentile_intervals": intervals}


OFFLINE_NO_INTERVAL = ("Offline's latencies are the completion times of one query's samples, not repeated "
                       "draws: no interval can be claimed for their percentiles")


def percentile_intervals(latencies_ns: np.ndarray, metrics: Metrics, scenario: Scenario) -> dict[str, Any]:
    """Each reported percentile with its batch-means 95% interval, or why it has none (queries needed)."""
    found: dict[str, Any] = {"queries": int(latencies_ns.size)}
    reported = metrics.latency.percentiles_ns if metrics.latency is not None else {}
    for p in INTERVAL_PERCENTILES:
        label = percentile_label(p)
        entry: dict[str, Any] = {"value_ns": reported.get(label), "method": stats.METHOD_BATCH_MEANS,
                                 "level": CONFIDENCE}
        if scenario is Scenario.Offline:
            entry["why_none"] = OFFLINE_NO_INTERVAL
        else:
            interval = stats.percentile_interval(latencies_ns, p, CONFIDENCE) if latencies_ns.size else None
            if interval is None:
                entry["needs_queries"] = stats.min_queries_for_percentile_interval(p)
            else:
                entry["low_ns"], entry["high_ns"] = interval.low, interval.high
        found[f"p{label.removesuffix('.0')}"] = entry
    return found


@dataclass
class LoadedRuns:
    """A results folder's runs: the usable ones (with their folders) and a status line for every run."""

    folder: Path
    results: list[RunResult]
    run_folders: list[Path]
    statuses: dict[str, str]  # run folder name -> VALID, INVALID, error, missing
    warnings: list[str]
    traces: list[Trace | None]  # per usable run, None where its trace.npz is missing or unreadable


def aggregate_folder(loaded: LoadedRuns) -> dict[str, Any]:
    """aggregate.json's content for the usable runs of a folder, with every run's status and the warnings."""
    results = loaded.results
    names = [path.name for path in loaded.run_folders]
    summary = aggregate(results, loaded.traces)
    warnings = list(loaded.warnings)
    for name, figure in summary["figures"].items():
        warnings += [f"{name}: {text}" for text in figure["warnings"]]
    warnings += run_warnings(results)
    first = results[0] if results else None
    return {
        "format": AGGREGATE_FORMAT,
        "scenario": first.scenario if first else None,
        "mode": first.mode if first else None,
        "sut_name": first.sut_name if first else None,
        "qsl_name": first.qsl_name if first else None,
        "hardware_hash": first.fingerprint.get("hardware_hash") if first else None,
        "runs": [{"name": name, "status": status} for name, status in loaded.statuses.items()],
        "n_included": len(results),
        "figures": summary["figures"],
        "percentile_intervals": dict(zip(names, summary["percentile_intervals"], strict=True)),
        "warnings": warnings,
    }


def run_warnings(results: Sequence[RunResult]) -> list[str]:
    """Each run's own warnings once, with how many runs had it; and runs on different hardware."""
    groups: dict[str, list[str]] = {}  # warnings that differ only in their numbers are one kind
    for result in results:
        for text in dict.fromkeys(result.warnings):
            groups.setdefault(re.sub(r"\d+(\.\d+)?", "#", text), []).append(text)
    found = [
        f"{len(texts)} of {len(results)} runs: {texts[0]}"
        + (" (the figures vary by run)" if len(set(texts)) > 1 else "")
        for texts in groups.values()
    ]
    for key in dict.fromkeys(key for result in results for key in result.chosen_by_pilot if key in LOAD_SETTINGS):
        chosen = sorted({str(result.settings_effective.get(key)) for result in results})
        if len(chosen) > 1:
            found.append(f"{key} was chosen by each run's pilot and differs between runs ({', '.join(chosen)}): "
                         f"fix it with --set {key}=... so every run does the same work")
    hashes = {result.fingerprint.get("hardware_hash") for result in results}
    if len(hashes) > 1:
        found.append(f"the runs come from {len(hashes)} different machines "
                     f"(hardware hashes {sorted(map(str, hashes))})")
    return found
