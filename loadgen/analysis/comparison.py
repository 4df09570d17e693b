"""A against B as a library: per-figure comparisons, the course's normalized metrics, warnings."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from loadgen.analysis import stats
from loadgen.analysis.aggregate import (
    HEADLINE,
    FigureSeries,
    LoadedRuns,
    figure_series,
    run_warnings,
)
from loadgen.errors import SettingsError
from loadgen.machine.differences import fingerprint_differences
from loadgen.machine.score import CANNOT_CORRECT

DEFAULT_MARGIN = 0.02


DEFAULT_ALPHA = 0.05


DEFAULT_TOLERANCE = 0.01


PLAN_PERCENTILES = (0.5, 0.9, 0.99, 0.999)


@dataclass(frozen=True)
class Options:
    """What a comparison needs besides the two sides."""

    margin: float = DEFAULT_MARGIN
    alpha: float = DEFAULT_ALPHA
    accuracy_tolerance: float = DEFAULT_TOLERANCE


@dataclass
class Side:
    """One side's usable runs, their per-run figures, and its machine score when normalizing."""

    label: str
    loaded: LoadedRuns
    series: dict[str, FigureSeries]
    score: dict[str, Any] | None = None


def make_side(label: str, loaded: LoadedRuns) -> Side:
    """A side from its loaded runs; a SettingsError when none is usable or scenarios are mixed."""
    if not loaded.results:
        raise SettingsError([f"{label}: {loaded.folder}: no usable run", *loaded.warnings])
    scenarios = sorted({result.scenario for result in loaded.results})
    if len(scenarios) > 1:
        raise SettingsError([f"{label}: {loaded.folder}: runs of different scenarios ({', '.join(scenarios)})"])
    return Side(label, loaded, figure_series(loaded.results))


def normalized_series(side: Side) -> dict[str, FigureSeries]:
    """Figures as on the reference machine: times x score, rates / score; others as they are."""
    if side.score is None:
        return side.series
    score = float(side.score["score"])
    scale: dict[str, Callable[[float], float]] = {"ns": lambda v: v * score, "samples/s": lambda v: v / score}
    return {
        name: FigureSeries([scale[s.unit](v) for v in s.values], s.higher_is_better, s.unit, s.better, s.worse)
        if s.unit in scale else s
        for name, s in side.series.items()
    }


def _testable(a: FigureSeries, b: FigureSeries) -> str | None:
    """Why a figure cannot be tested, or None when it can."""
    if min(len(a.values), len(b.values)) < 2:
        return f"{min(len(a.values), len(b.values))} run on a side: needs at least 2 a side (3 for an interval)"
    if any(not (math.isfinite(v) and v > 0) for v in a.values + b.values):
        return "a value is zero, negative or not finite: ratios need positive figures"
    return None


def compare_figures(
    a: dict[str, FigureSeries], b: dict[str, FigureSeries], options: Options
) -> tuple[list[stats.Comparison], list[dict[str, Any]]]:
    """stats.compare_metrics over the figures both sides have (Holm across them); and those left out, why."""
    tested, left_out = [], []
    for name in (n for n in a if n in b):
        reason = _testable(a[name], b[name])
        if reason is None:
            tested.append(name)
        else:
            left_out.append({"metric": name, "reason": reason, "runs_needed": stats.MIN_RUNS_FOR_INTERVAL})
    if not tested:
        return [], left_out
    metrics = [(n, a[n].values, b[n].values, a[n].higher_is_better) for n in tested]
    comparisons = stats.compare_metrics(metrics, options.margin, options.alpha)
    return [_in_words(c, a[c.metric]) for c in comparisons], left_out


def _in_words(c: stats.Comparison, series: FigureSeries) -> stats.Comparison:
    """The figure's own words for better and worse ('smaller', 'more accurate'), verdict included."""
    words = {c.word_better: series.better, c.word_worse: series.worse}
    return replace(c, word_better=series.better, word_worse=series.worse, verdict=words.get(c.verdict, c.verdict))


def _mean(series: FigureSeries | None) -> float | None:
    return None if series is None or not series.values else sum(series.values) / len(series.values)


def normalized_metrics(
    a: dict[str, FigureSeries], b: dict[str, FigureSeries], comparisons: list[stats.Comparison], tolerance: float
) -> dict[str, Any]:
    """The course's speedup, compression ratio, accuracy delta, efficiency score and gated speedup."""
    block: dict[str, Any] = {}
    headline = next((n for n in a if n.startswith(HEADLINE) and n in b), None)
    speedup = None
    if headline is not None and _mean(a[headline]) and _mean(b[headline]):
        ma, mb = _mean(a[headline]), _mean(b[headline])
        assert ma is not None and mb is not None
        times = (ma, mb) if not a[headline].higher_is_better else (1 / ma, 1 / mb)  # a rate's time is 1/rate
        speedup = stats.speedup(*times)
        found = next((c for c in comparisons if c.metric == headline), None)
        block["speedup"] = {"formula": stats.SPEEDUP_FORMULA, "value": speedup, "from": headline,
                            "ci_low": found.ci_low if found else None, "ci_high": found.ci_high if found else None}
    else:
        block["speedup"] = {"formula": stats.SPEEDUP_FORMULA, "value": None, "why": "no headline figure on both sides"}
    size_a, size_b = _mean(a.get("model size")), _mean(b.get("model size"))
    compression = stats.compression_ratio(size_a, size_b) if size_a and size_b else None
    block["compression_ratio"] = {"formula": stats.COMPRESSION_FORMULA, "value": compression,
                                  "baseline_size_mb": size_a, "optimized_size_mb": size_b}
    if compression is None:
        block["compression_ratio"]["why"] = "needs the model size on both sides: a SUT with model_facts()"
    acc_a, acc_b = _mean(a.get("top-1 accuracy")), _mean(b.get("top-1 accuracy"))
    delta = stats.accuracy_delta(acc_a, acc_b) if acc_a is not None and acc_b is not None else None
    block["accuracy_delta"] = {"formula": stats.ACCURACY_DELTA_FORMULA, "value": delta,
                               "baseline_accuracy": acc_a, "optimized_accuracy": acc_b}
    if delta is None:
        block["accuracy_delta"]["why"] = "needs top-1 accuracy on both sides: run with --mode submission"
    efficiency = None
    if speedup is not None and compression is not None and delta is not None:
        efficiency = stats.efficiency_score(speedup, compression, delta)
    block["efficiency_score"] = {"formula": stats.EFFICIENCY_FORMULA, "value": efficiency}
    if efficiency is None:
        block["efficiency_score"]["why"] = "needs the speedup, the compression ratio and the accuracy delta"
    block["gated_speedup"] = _gated(speedup, delta, tolerance)
    return block


def _gated(speedup: float | None, delta: float | None, tolerance: float) -> dict[str, Any]:
    """A speedup only ever shown with its accuracy delta beside it; flagged when accuracy fell too far."""
    if speedup is None:
        return {"speedup": None, "accuracy_delta": delta, "flagged": False, "note": "no speedup"}
    if delta is None:
        return {"speedup": speedup, "accuracy_delta": None, "flagged": False, "tolerance": tolerance,
                "note": f"speedup {speedup:.2f}x with accuracy delta unknown: "
                        "run both sides with --mode submission to gate it on accuracy"}
    gated = stats.gated_speedup(speedup, delta, tolerance)
    return {**asdict(gated), "tolerance": tolerance}


def environment_warnings(a: Side, b: Side) -> list[str]:
    """Differences between the sides' machines, modes and requested settings."""
    first_a, first_b = a.loaded.results[0], b.loaded.results[0]
    found = fingerprint_differences(first_a.fingerprint, first_b.fingerprint)
    if first_a.mode != first_b.mode:
        found.append(f"mode differs: A {first_a.mode}, B {first_b.mode}")
    req_a, req_b = first_a.settings_requested, first_b.settings_requested
    for key in sorted(set(req_a) & set(req_b)):  # a key only one side knows is a version difference, not a setting
        if req_a[key] != req_b[key]:
            found.append(f"setting {key} differs: A {req_a.get(key)!r}, B {req_b.get(key)!r}")
    return found


def noise_warnings(side: Side) -> list[str]:
    """A side's left-out and INVALID runs, its runs' own warnings, and figures with a CV of 10% or more."""
    found = list(side.loaded.warnings) + run_warnings(side.loaded.results)
    for name, series in side.series.items():
        found += [f"{name}: {text}" for text in stats.noise_warnings(series.values)]
    return [f"{side.label}: {text}" for text in found]


def compare_sides(a: Side, b: Side, options: Options) -> dict[str, Any]:
    """The whole comparison as plain data: what --json prints and the renderer formats."""
    scenario_a, scenario_b = a.loaded.results[0].scenario, b.loaded.results[0].scenario
    if scenario_a != scenario_b:
        raise SettingsError([f"different scenarios: A is {scenario_a}, B is {scenario_b}; "
                             "a comparison needs the same scenario on both sides"])
    series_a, series_b = normalized_series(a), normalized_series(b)
    comparisons, left_out = compare_figures(series_a, series_b, options)
    units = {name: s.unit for name, s in series_a.items()}
    rows = []
    for c in comparisons:
        row = c.as_json()
        row.update(unit=units[c.metric], higher_is_better=c.higher_is_better, cv=c.cv,
                   a_mean=_mean(series_a[c.metric]), b_mean=_mean(series_b[c.metric]),
                   summary=stats.format_comparison(c))
        rows.append(row)
    for entry in left_out:
        name = entry["metric"]
        rows.append({"metric": name, "ratio": None, "ci_low": None, "ci_high": None, "p_value": None,
                     "verdict": stats.VERDICT_UNKNOWN, "runs_needed": entry["runs_needed"], "unit": units[name],
                     "a_mean": _mean(series_a[name]), "b_mean": _mean(series_b[name]),
                     "summary": f"not compared: {entry['reason']}"})
    report: dict[str, Any] = {
        "scenario": scenario_a,
        "a": _side_json(a),
        "b": _side_json(b),
        "margin": options.margin,
        "alpha": options.alpha,
        "metrics_tested": len(comparisons),
        "comparisons": rows,
        "normalized": normalized_metrics(series_a, series_b, comparisons, options.accuracy_tolerance),
        "environment": environment_warnings(a, b),
        "noise": noise_warnings(a) + noise_warnings(b),
        "normalization": None,
    }
    if a.score is not None and b.score is not None:
        report["normalization"] = {"a_score": a.score["score"], "b_score": b.score["score"],
                                   "a_source": a.score.get("source"), "b_source": b.score.get("source"),
                                   "cannot_correct": CANNOT_CORRECT}
    return report


def _side_json(side: Side) -> dict[str, Any]:
    first = side.loaded.results[0]
    return {"folder": str(side.loaded.folder), "sut_name": first.sut_name, "mode": first.mode,
            "runs": len(side.loaded.results), "left_out": len(side.loaded.statuses) - len(side.loaded.results),
            "hardware_hash": first.fingerprint.get("hardware_hash")}


def plan(cv: float, effect: float, power: float, alpha: float, percentiles: Sequence[float]) -> dict[str, Any]:
    """Runs a side for a t-test to detect `effect` at this CV, and queries a run needs per percentile."""
    return {
        "cv": cv,
        "effect": effect,
        "power": power,
        "alpha": alpha,
        "runs_per_side": stats.runs_needed(cv, effect, alpha, power),
        "runs_per_side_welch": max(stats.MIN_RUNS_FOR_INTERVAL, stats.runs_needed(cv, effect, alpha, power, "welch")),
        "rule_of_thumb": 15.7 * (cv / effect) ** 2,
        "queries_per_run": {str(p): stats.queries_needed_for_percentile(p) for p in percentiles},
    }
