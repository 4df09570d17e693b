"""A against B as a library: per-figure comparisons and verdicts, the course's normalized metrics, warnings.

The decision rule, and the intervals printed beside it (docs/statistics.md):

- Each figure is tested on its log per-run figures: Welch t, or a paired t on adjacent
  A/B pairs when the runs were interleaved (ABBA). The interval of the ratio printed beside
  the verdict is that test's own t interval at level 1 - alpha_each, so it excludes 1 exactly
  when the test rejects.
- The headline figure is primary: tested alone at alpha. The other figures are secondary:
  Bonferroni over them (alpha_each = alpha / m), and their intervals are simultaneous at
  1 - alpha / m. With no primary, all figures form one Bonferroni family.
- Verdict, in this order: "equivalent" when TOST at alpha_each shows the ratio within
  +/- margin (the 1 - 2 alpha_each interval lies inside); "faster"/"slower" when the test
  rejects; else "not enough evidence", with the runs a side that the same rule needs
  (loadgen.analysis.planning.plan_for_contrast).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from loadgen.analysis import planning, stats
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
VERDICT_EQUIVALENT = "equivalent"
VERDICT_UNKNOWN = "not enough evidence"
ROLE_PRIMARY, ROLE_SECONDARY, ROLE_FAMILY = "primary", "secondary", "family"
CLOCK_RESOLUTION_NS = 1.0
"""The timer's resolution: a figure in ns is never believed to vary by less than this a run."""

UNKNOWN, BETTER, WORSE, EQUIVALENT = 0, 1, -1, 2


def decide_arrays(
    estimate: np.ndarray, se: np.ndarray, df: np.ndarray, alpha_each: float, bound: float
) -> np.ndarray:
    """Verdict codes (EQUIVALENT, BETTER, WORSE, UNKNOWN) of log contrasts, vectorised; equivalence first."""
    equivalent = stats.tost_p_arrays(estimate, se, df, bound) < alpha_each
    differs = stats.two_sided_p_arrays(estimate, se, df) < alpha_each
    direction = np.where(estimate > 0, BETTER, WORSE)
    return np.where(equivalent, EQUIVALENT, np.where(differs, direction, UNKNOWN))


@dataclass(frozen=True)
class Comparison:
    """One figure's A-vs-B result: the ratio with the interval its verdict uses, tests, and the plan."""

    metric: str
    ratio: float  # ratio of geometric means (paired: geometric mean of pair ratios); > 1: B better
    ci_low: float
    ci_high: float
    level: float  # 1 - alpha_each
    method: str
    p_value: float  # the test's raw two-sided p
    p_adjusted: float  # Bonferroni within the figure's family (the primary figure: the raw p)
    p_equivalence: float  # TOST p (compare with alpha_each)
    equivalence_low: float  # the 1 - 2 alpha_each interval TOST uses
    equivalence_high: float
    p_mann_whitney: float
    verdict: str
    runs_needed: int | None  # runs a side (pairs) to decide; None once a verdict is reached
    plan_note: str | None  # the plan's assumptions in one line
    role: str
    family_size: int
    alpha: float
    alpha_each: float
    n_a: int
    n_b: int
    cv: float  # observed CV of a run's figure (paired: of a pair's ratio), from the log sd
    paired: bool
    higher_is_better: bool
    margin: float
    cv_floor: float
    robust: stats.RatioEstimate
    outliers: tuple[str, ...]  # 'A run 3', ...
    word_better: str = "faster"
    word_worse: str = "slower"

    def as_json(self) -> dict[str, Any]:
        """The stable keys (metric, ratio, ci_low, ci_high, p_value, verdict, runs_needed) and the rest.

        p_value is the one the verdict compares with alpha: Bonferroni-adjusted in a family.
        """
        robust = self.robust.interval
        return {
            "metric": self.metric,
            "ratio": self.ratio,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "p_value": self.p_adjusted,
            "verdict": self.verdict,
            "runs_needed": self.runs_needed,
            "method": self.method,
            "level": self.level,
            "role": self.role,
            "family_size": self.family_size,
            "alpha_each": self.alpha_each,
            "p_unadjusted": self.p_value,
            "p_welch_unadjusted": self.p_value,  # the old key, kept: the raw p of the verdict's t-test
            "p_mann_whitney": self.p_mann_whitney,
            "p_equivalence": self.p_equivalence,
            "equivalence_interval": [self.equivalence_low, self.equivalence_high],
            "equivalence_level": 1 - 2 * self.alpha_each,
            "runs_needed_assumptions": self.plan_note,
            "margin": self.margin,
            "cv_floor": self.cv_floor,
            "paired": self.paired,
            "n_a": self.n_a,
            "n_b": self.n_b,
            "robust": {"ratio": self.robust.ratio, "ci_low": robust.low if robust else None,
                       "ci_high": robust.high if robust else None, "level": robust.level if robust else None,
                       "method": robust.method if robust else None, "why_none": self.robust.why_none},
            "outlier_runs": list(self.outliers),
        }


def compare_metric(
    name: str,
    a: ArrayLike,
    b: ArrayLike,
    higher_is_better: bool,
    margin: float = DEFAULT_MARGIN,
    alpha: float = DEFAULT_ALPHA,
    *,
    paired: bool = False,
    role: str = ROLE_PRIMARY,
    family_size: int = 1,
    cv_floor: float = stats.DEFAULT_CV_FLOOR,
    power: float = planning.DEFAULT_POWER,
    word_better: str = "faster",
    word_worse: str = "slower",
) -> Comparison:
    """Compare B against A on one figure's per-run figures, tested at alpha / family_size."""
    if not 0 < margin < 1 or not 0 < alpha < 1:
        raise ValueError(f"margin and alpha must be strictly between 0 and 1, got {margin!r} and {alpha!r}")
    if family_size < 1:
        raise ValueError(f"family_size must be >= 1, got {family_size}")
    alpha_each = alpha / family_size
    contrast = stats.log_contrast(a, b, higher_is_better=higher_is_better, paired=paired, cv_floor=cv_floor)
    est, se, df = (np.asarray(v) for v in (contrast.estimate, contrast.se, contrast.df))
    bound = math.log1p(margin)
    interval = contrast.interval(1 - alpha_each)
    eq_low, eq_high = stats.interval_arrays(est, se, df, 1 - 2 * alpha_each)
    code = int(decide_arrays(est, se, df, alpha_each, bound))
    verdict = {BETTER: word_better, WORSE: word_worse, EQUIVALENT: VERDICT_EQUIVALENT}.get(code, VERDICT_UNKNOWN)
    needed, note = (None, None)
    if code == UNKNOWN:
        needed, note = planning.plan_for_contrast(contrast, alpha_each, margin, power, cv_floor)
    p_raw = float(stats.two_sided_p_arrays(est, se, df))
    xa, xb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    outliers = tuple(f"{side} run {i + 1}" for side, x, other in (("A", xa, xb), ("B", xb, xa))
                     for i in stats.outlier_runs(x, other, cv_floor))
    return Comparison(
        metric=name, ratio=contrast.ratio, ci_low=interval.low, ci_high=interval.high, level=1 - alpha_each,
        method=contrast.method, p_value=p_raw, p_adjusted=min(1.0, p_raw * family_size),
        p_equivalence=float(stats.tost_p_arrays(est, se, df, bound)),
        equivalence_low=math.exp(float(eq_low)), equivalence_high=math.exp(float(eq_high)),
        p_mann_whitney=stats.mann_whitney(xa, xb).p_value, verdict=verdict, runs_needed=needed, plan_note=note,
        role=role, family_size=family_size, alpha=alpha, alpha_each=alpha_each, n_a=contrast.n_a,
        n_b=contrast.n_b, cv=planning.cv_from_sd(contrast.sd), paired=paired, higher_is_better=higher_is_better,
        margin=margin, cv_floor=cv_floor,
        robust=stats.robust_ratio(xa, xb, higher_is_better=higher_is_better, confidence=1 - alpha_each,
                                  paired=paired),
        outliers=outliers, word_better=word_better, word_worse=word_worse,
    )


@dataclass(frozen=True)
class MetricInput:
    """One figure to compare: per-run values of A and B (aligned by pair when paired), and its direction."""

    name: str
    a: Sequence[float]
    b: Sequence[float]
    higher_is_better: bool
    cv_floor: float = stats.DEFAULT_CV_FLOOR
    better: str = "faster"
    worse: str = "slower"


def compare_metrics(
    metrics: Sequence[MetricInput],
    margin: float = DEFAULT_MARGIN,
    alpha: float = DEFAULT_ALPHA,
    *,
    primary: str | None = None,
    paired: bool = False,
    power: float = planning.DEFAULT_POWER,
) -> list[Comparison]:
    """compare_metric for each figure: `primary` alone at alpha, the others one Bonferroni family."""
    names = [m.name for m in metrics]
    if len(set(names)) != len(names):
        raise ValueError(f"metric names must be unique, got {names}")
    if primary is not None and primary not in names:
        raise ValueError(f"primary {primary!r} is not among the metrics {names}")
    family = len(names) - (primary is not None)
    found = []
    for m in metrics:
        role = ROLE_PRIMARY if m.name == primary else ROLE_SECONDARY if primary is not None else ROLE_FAMILY
        size = 1 if role == ROLE_PRIMARY else family
        found.append(compare_metric(m.name, m.a, m.b, m.higher_is_better, margin, alpha, paired=paired, role=role,
                                    family_size=size, cv_floor=m.cv_floor, power=power,
                                    word_better=m.better, word_worse=m.worse))
    return found


def format_comparison(c: Comparison) -> str:
    """One line: the verdict with the interval it rests on, named by method and level."""
    level = f"{c.level:.1%}".replace(".0%", "%")
    simultaneous = f" simultaneous over {c.family_size} figures" if c.family_size > 1 else ""
    named = f"{level}{simultaneous}, {c.method}"
    if c.verdict == c.word_better:
        return f"{c.ratio:.3f}x {c.word_better} [{c.ci_low:.3f}, {c.ci_high:.3f}] ({named})"
    if c.verdict == c.word_worse:
        return f"{1 / c.ratio:.3f}x {c.word_worse} [{1 / c.ci_high:.3f}, {1 / c.ci_low:.3f}] ({named})"
    eq_level = f"{1 - 2 * c.alpha_each:.1%}".replace(".0%", "%")
    if c.verdict == VERDICT_EQUIVALENT:
        text = (f"equivalent within {c.margin:.0%}: ratio {c.ratio:.3f}, {eq_level} interval "
                f"[{c.equivalence_low:.3f}, {c.equivalence_high:.3f}] inside +/-{c.margin:.0%}")
        if not c.ci_low <= 1.0 <= c.ci_high:
            text += (f"; the {level} interval [{c.ci_low:.3f}, {c.ci_high:.3f}] excludes 1, but the difference "
                     "is smaller than the margin")
        return text
    return (f"not enough evidence: ratio {c.ratio:.3f} [{c.ci_low:.3f}, {c.ci_high:.3f}] ({named}, includes 1); "
            f"needs about {c.plan_note}")


@dataclass(frozen=True)
class Options:
    """What a comparison needs besides the two sides."""

    margin: float = DEFAULT_MARGIN
    alpha: float = DEFAULT_ALPHA
    accuracy_tolerance: float = DEFAULT_TOLERANCE
    cv_floor: float = stats.DEFAULT_CV_FLOOR
    paired: bool = False  # A's run-k and B's run-k ran as neighbours (ABBA): pair them by name
    power: float = planning.DEFAULT_POWER


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
    return Side(label, loaded, figure_series(loaded.results, [path.name for path in loaded.run_folders]))


def normalized_series(side: Side) -> dict[str, FigureSeries]:
    """Figures as on the reference machine: times x score, rates / score; others as they are."""
    if side.score is None:
        return side.series
    score = float(side.score["score"])
    scale: dict[str, Callable[[float], float]] = {"ns": lambda v: v * score, "samples/s": lambda v: v / score}
    return {
        name: FigureSeries([scale[s.unit](v) for v in s.values], s.higher_is_better, s.unit, s.better, s.worse,
                           s.runs)
        if s.unit in scale else s
        for name, s in side.series.items()
    }


def paired_values(a: FigureSeries, b: FigureSeries) -> tuple[list[float], list[float]]:
    """A's and B's values of the runs both sides have under the same name (run-k with run-k), in A's order."""
    of_b = dict(zip(b.runs, b.values, strict=True))
    pairs = [(value, of_b[run]) for run, value in zip(a.runs, a.values, strict=True) if run in of_b]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def _testable(a: list[float], b: list[float], paired: bool) -> str | None:
    """Why a figure cannot be tested, or None when it can."""
    if min(len(a), len(b)) < 2:
        what = "pair" if paired else "run on a side"
        return f"{min(len(a), len(b))} {what}: needs at least 2 (3 or more to plan from)"
    if any(not (math.isfinite(v) and v > 0) for v in a + b):
        return "a value is zero, negative or not finite: ratios need positive figures"
    return None


def _cv_floor(series: FigureSeries, values: list[float], floor: float) -> float:
    """The floor, raised for figures in ns so that no run is believed to vary by less than the clock's tick."""
    if series.unit == "ns" and values and min(values) > 0:
        return max(floor, CLOCK_RESOLUTION_NS / min(values))
    return floor


def compare_figures(
    a: dict[str, FigureSeries], b: dict[str, FigureSeries], options: Options
) -> tuple[list[Comparison], list[dict[str, Any]]]:
    """compare_metrics over the figures both sides have (the headline primary); and those left out, why."""
    tested, left_out = [], []
    for name in (n for n in a if n in b):
        if options.paired:
            va, vb = paired_values(a[name], b[name])
        else:
            va, vb = a[name].values, b[name].values
        reason = _testable(va, vb, options.paired)
        if reason is None:
            floor = _cv_floor(a[name], va + vb, options.cv_floor)
            tested.append(MetricInput(name, va, vb, a[name].higher_is_better, floor, a[name].better, a[name].worse))
        else:
            left_out.append({"metric": name, "reason": reason, "runs_needed": planning.MIN_RUNS})
    if not tested:
        return [], left_out
    headline = next((m.name for m in tested if m.name.startswith(HEADLINE)), None)
    comparisons = compare_metrics(tested, options.margin, options.alpha, primary=headline, paired=options.paired,
                                  power=options.power)
    return comparisons, left_out


def _mean(series: FigureSeries | None) -> float | None:
    return None if series is None or not series.values else sum(series.values) / len(series.values)


def normalized_metrics(
    a: dict[str, FigureSeries], b: dict[str, FigureSeries], comparisons: list[Comparison], tolerance: float
) -> dict[str, Any]:
    """The course's speedup, compression ratio, accuracy delta, efficiency score and gated speedup."""
    block: dict[str, Any] = {}
    headline = next((n for n in a if n.startswith(HEADLINE) and n in b), None)
    speedup = None
    found = next((c for c in comparisons if c.metric == headline), None)
    if found is not None:
        # the headline's own comparison: a rate's ratio b/a is the time ratio a/b, so it is the speedup
        speedup = found.ratio
        block["speedup"] = {"formula": stats.SPEEDUP_FORMULA, "value": speedup, "from": headline,
                            "estimate": "ratio of geometric means of the per-run figures",
                            "ci_low": found.ci_low, "ci_high": found.ci_high, "level": found.level,
                            "method": found.method, "verdict": found.verdict}
    elif headline is not None and _mean(a[headline]) and _mean(b[headline]):
        ma, mb = _mean(a[headline]), _mean(b[headline])
        assert ma is not None and mb is not None
        times = (ma, mb) if not a[headline].higher_is_better else (1 / ma, 1 / mb)  # a rate's time is 1/rate
        speedup = stats.speedup(*times)
        block["speedup"] = {"formula": stats.SPEEDUP_FORMULA, "value": speedup, "from": headline,
                            "estimate": "ratio of the means (too few runs for an interval)",
                            "ci_low": None, "ci_high": None}
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
                   summary=format_comparison(c))
        rows.append(row)
    for entry in left_out:
        name = entry["metric"]
        rows.append({"metric": name, "ratio": None, "ci_low": None, "ci_high": None, "p_value": None,
                     "verdict": VERDICT_UNKNOWN, "runs_needed": entry["runs_needed"], "unit": units[name],
                     "a_mean": _mean(series_a[name]), "b_mean": _mean(series_b[name]),
                     "summary": f"not compared: {entry['reason']}"})
    report: dict[str, Any] = {
        "scenario": scenario_a,
        "a": _side_json(a),
        "b": _side_json(b),
        "margin": options.margin,
        "alpha": options.alpha,
        "cv_floor": options.cv_floor,
        "paired": options.paired,
        "primary": next((c.metric for c in comparisons if c.role == ROLE_PRIMARY), None),
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
