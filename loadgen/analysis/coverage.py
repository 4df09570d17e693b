"""Simulations that check every statistical promise compare and aggregate print.

Each function draws many synthetic experiments at once (numpy, vectorised over repetitions)
through the very functions the tool uses (stats.contrast_arrays, comparison.decide_arrays,
planning.runs_needed_log, stats.percentile_interval_arrays, ...) and returns the rates it
measured. The test suite runs them with fixed seeds; `python -m loadgen.analysis.coverage`
prints the tables of docs/statistics.md (`--reps` sets the repetitions a cell).

Run noise is multiplicative: "normal" is mu (1 + cv Z), "lognormal" is mu exp(s Z - s^2 / 2)
with the same CV. The true ratio is the ratio of the mu's, which is also the ratio of the
geometric means when both sides have the same CV.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from typing import Literal

import numpy as np

from loadgen.analysis import planning, stats
from loadgen.analysis.comparison import BETTER, EQUIVALENT, UNKNOWN, WORSE, decide_arrays

Noise = Literal["normal", "lognormal"]
NOISES: tuple[Noise, ...] = ("normal", "lognormal")
ALPHA = 0.05
MARGIN = 0.02
TRUE_RATIO = 1.1


def draw(rng: np.random.Generator, noise: Noise, cv: float, mu: float, shape: tuple[int, ...]) -> np.ndarray:
    """Per-run figures with this CV around mu (positive: normal draws are clipped far in the tail)."""
    z = rng.standard_normal(shape)
    if noise == "normal":
        return np.maximum(mu * (1 + cv * z), mu * 1e-3)
    s = planning.sd_from_cv(cv)
    return mu * np.exp(s * z - s * s / 2)


def _decide(la: np.ndarray, lb: np.ndarray, paired: bool = False) -> tuple[np.ndarray, ...]:
    """The primary figure's verdict codes and interval (log scale) for many experiments at once."""
    est, se, df, _ = stats.contrast_arrays(la, lb, paired, stats.DEFAULT_CV_FLOOR)
    low, high = stats.interval_arrays(est, se, df, 1 - ALPHA)
    return decide_arrays(est, se, df, ALPHA, math.log1p(MARGIN)), low, high


def ratio_coverage(rng: np.random.Generator, noise: Noise, cv: float, n: int, reps: int) -> float:
    """How often the primary figure's 95% interval holds the true ratio (B 10% faster)."""
    a = draw(rng, noise, cv, 1.0, (reps, n))
    b = draw(rng, noise, cv, 1 / TRUE_RATIO, (reps, n))
    _, low, high = _decide(np.log(a), np.log(b))
    truth = math.log(TRUE_RATIO)
    return float(np.mean((low <= truth) & (truth <= high)))


def mean_coverage(rng: np.random.Generator, noise: Noise, cv: float, n: int, reps: int) -> float:
    """How often aggregate.json's 95% Student-t interval of a figure's mean holds the true mean (1)."""
    low, high = stats.mean_interval_arrays(draw(rng, noise, cv, 1.0, (reps, n)), 0.95)
    return float(np.mean((low <= 1.0) & (high >= 1.0)))


def false_positive_rate(rng: np.random.Generator, noise: Noise, cv: float, n: int, reps: int) -> float:
    """A against A: how often the verdict says faster or slower."""
    a = draw(rng, noise, cv, 1.0, (reps, n))
    b = draw(rng, noise, cv, 1.0, (reps, n))
    codes, _, _ = _decide(np.log(a), np.log(b))
    return float(np.mean((codes == BETTER) | (codes == WORSE)))


def power_at_plan(rng: np.random.Generator, noise: Noise, cv: float, effect: float, reps: int) -> tuple[int, float]:
    """The runs a side planned for a true `effect` at this CV, and how often the verdict then says faster."""
    n = planning.runs_needed_log(max(planning.sd_from_cv(cv), stats.DEFAULT_CV_FLOOR), ALPHA,
                                 effect=math.log1p(effect))
    a = draw(rng, noise, cv, 1.0, (reps, n))
    b = draw(rng, noise, cv, 1 / (1 + effect), (reps, n))
    codes, _, _ = _decide(np.log(a), np.log(b))
    return n, float(np.mean(codes == BETTER))


def equivalence_at_plan(rng: np.random.Generator, noise: Noise, cv: float, reps: int) -> tuple[int, float]:
    """The runs a side planned to show equivalence within the margin for A against A, and how often it is shown."""
    n = planning.runs_needed_log(max(planning.sd_from_cv(cv), stats.DEFAULT_CV_FLOOR), ALPHA, goal="equivalence",
                                 bound=math.log1p(MARGIN))
    a = draw(rng, noise, cv, 1.0, (reps, n))
    b = draw(rng, noise, cv, 1.0, (reps, n))
    codes, _, _ = _decide(np.log(a), np.log(b))
    return n, float(np.mean(codes == EQUIVALENT))


def pilot_plans(rng: np.random.Generator, cv: float, effect: float, pilot: int, reps: int) -> dict[str, float]:
    """Plans made after a pilot of `pilot` runs a side that reached no verdict (B truly `effect` faster).

    Each such pilot's plan_for_contrast (upper 80% bound of its CV, its observed difference)
    is scored by the power it really has at the truth. Returns the share of plans reaching
    0.8, the 10th/50th/90th percentile of the runs planned, and the runs the truth needs.
    """
    sd = planning.sd_from_cv(cv)
    truth = math.log1p(effect)
    a = draw(rng, "lognormal", cv, 1.0, (reps, pilot))
    b = draw(rng, "lognormal", cv, 1 / (1 + effect), (reps, pilot))
    codes, _, _ = _decide(np.log(a), np.log(b))
    planned, reached = [], []
    for i in np.flatnonzero(codes == UNKNOWN):
        contrast = stats.log_contrast(a[i], b[i], higher_is_better=False)
        n, _ = planning.plan_for_contrast(contrast, ALPHA, MARGIN)
        if n is not None:
            planned.append(n)
            reached.append(planning.power(n, max(sd, stats.DEFAULT_CV_FLOOR), truth, ALPHA) >= 0.8)
    low, median, high = (float(v) for v in np.percentile(planned, [10, 50, 90]))
    needed = planning.runs_needed_log(max(sd, stats.DEFAULT_CV_FLOOR), ALPHA, effect=truth)
    return {"share_reaching": float(np.mean(reached)), "p10": low, "median": median, "p90": high,
            "truth_needs": float(needed), "pilots": float(len(planned))}


def abba_drift(rng: np.random.Generator, pairs: int, effect: float, reps: int) -> dict[str, tuple[float, float]]:
    """Interleaved A B B A ... runs on a drifting machine, analysed paired and as independent samples.

    Each run's log figure = a linear trend (0.5% a run) + a random walk (1% steps) + run noise
    (CV 1%); B is `effect` faster. Returns, per analysis, (coverage of the true ratio, rate of
    the verdict "faster"): with effect 0 that rate is the false-positive rate, else the power.
    """
    order = np.array([side for i in range(pairs) for side in (("A", "B") if i % 2 == 0 else ("B", "A"))])
    position = np.arange(order.size)
    machine = 0.005 * position + np.cumsum(rng.normal(0, 0.01, (reps, order.size)), axis=1)
    logs = machine + rng.normal(0, 0.01, (reps, order.size)) - np.where(order == "B", math.log1p(effect), 0.0)
    la, lb = logs[:, order == "A"], logs[:, order == "B"]
    truth = math.log1p(effect)
    found = {}
    for name, paired in (("paired", True), ("independent", False)):
        codes, low, high = _decide(la, lb, paired)
        decided = codes == BETTER if effect > 0 else (codes == BETTER) | (codes == WORSE)
        found[name] = (float(np.mean((low <= truth) & (truth <= high))), float(np.mean(decided)))
    return found


def mm1_latencies(rng: np.random.Generator, load: float, queries: int, reps: int) -> np.ndarray:
    """Sojourn times of an M/M/1 queue (service rate 1) in arrival order, started in its stationary state.

    Lindley's recursion W' = max(0, W + S - A) unrolled as W_k = X_k - min(0, min_{j<=k} X_j)
    with X the running sum of S - A: vectorised over repetitions.
    """
    arrivals = rng.exponential(1 / load, (reps, queries))
    service = rng.exponential(1.0, (reps, queries))
    start = np.where(rng.random(reps) < load, rng.exponential(1 / (1 - load), reps), 0.0)
    steps = service[:, :-1] - arrivals[:, 1:]
    walk = np.concatenate([start[:, None], start[:, None] + np.cumsum(steps, axis=1)], axis=1)
    waits = walk - np.minimum(np.minimum.accumulate(walk, axis=1), 0.0)
    return waits + service


def percentile_coverage(rng: np.random.Generator, q: float, queries: int, reps: int, load: float = 0.8) -> float:
    """How often one run's batch-means interval holds the true q-quantile of M/M/1's sojourn time."""
    x = mm1_latencies(rng, load, queries, reps)
    found = stats.percentile_interval_arrays(x, q, 0.95)
    if found is None:
        raise ValueError(f"{queries} queries are too few for a p{q * 100:g} interval")
    truth = -math.log(1 - q) / (1 - load)  # the sojourn time is exponential with rate 1 - load
    return float(np.mean((found[0] <= truth) & (truth <= found[1])))


def heavy_tails(rng: np.random.Generator, n: int, reps: int, cv: float = 0.02) -> dict[str, float]:
    """10% of runs 30% slower on both sides: coverage of the primary and the robust interval, outlier warnings."""
    def side(mu: float) -> np.ndarray:
        return draw(rng, "normal", cv, mu, (reps, n)) * np.where(rng.random((reps, n)) < 0.1, 1.3, 1.0)

    a, b = side(1.0), side(1 / TRUE_RATIO)
    _, low, high = _decide(np.log(a), np.log(b))
    truth = math.log(TRUE_RATIO)
    robust_hits = warned = 0
    for i in range(reps):
        robust = stats.robust_ratio(a[i], b[i], higher_is_better=False)
        robust_hits += robust.interval is not None and robust.interval.contains(TRUE_RATIO)
        warned += bool(stats.outlier_runs(a[i], b[i]) or stats.outlier_runs(b[i], a[i]))
    return {"primary": float(np.mean((low <= truth) & (truth <= high))), "robust": robust_hits / reps,
            "warned": warned / reps}


def outlier_rates(rng: np.random.Generator, n: int, reps: int, cv: float = 0.02) -> tuple[float, float]:
    """(clean runs flagged, one run 30% slower found): the outlier warning on n runs a side at this CV."""
    a = draw(rng, "normal", cv, 1.0, (reps, n))
    b = draw(rng, "normal", cv, 1.0, (reps, n))
    slow = a.copy()
    slow[:, 0] *= 1.3
    flagged = sum(bool(stats.outlier_runs(a[i], b[i]) or stats.outlier_runs(b[i], a[i])) for i in range(reps))
    found = sum(0 in stats.outlier_runs(slow[i], b[i]) for i in range(reps))
    return flagged / reps, found / reps


# --------------------------------------------------------------------------- the tables


def _interval_tables(rng: np.random.Generator, reps: int) -> list[str]:
    ns = (3, 5, 10, 30)
    head = ["| noise | CV | " + " | ".join(f"n={n}" for n in ns) + " |", "|---|---|" + "---|" * len(ns)]
    lines = [f"Coverage of the 95% ratio interval (Welch t on log run figures), true ratio {TRUE_RATIO}:", "", *head]
    for noise in NOISES:
        for cv in (0.02, 0.10):
            cells = [f"{ratio_coverage(rng, noise, cv, n, reps):.3f}" for n in ns]
            lines.append(f"| {noise} | {cv:.0%} | " + " | ".join(cells) + " |")
    lines += ["", "Coverage of aggregate.json's 95% interval of the mean (Student t), true mean 1:", "", *head]
    for noise in NOISES:
        for cv in (0.02, 0.10):
            cells = [f"{mean_coverage(rng, noise, cv, n, reps):.3f}" for n in ns]
            lines.append(f"| {noise} | {cv:.0%} | " + " | ".join(cells) + " |")
    lines += ["", "A against A, rate of a false 'faster'/'slower':", "", *head]
    for noise in NOISES:
        for cv in (0.02, 0.10):
            cells = [f"{false_positive_rate(rng, noise, cv, n, reps):.3f}" for n in ns]
            lines.append(f"| {noise} | {cv:.0%} | " + " | ".join(cells) + " |")
    return lines


def _plan_tables(rng: np.random.Generator, reps: int) -> list[str]:
    lines = ["", "The verdict at the planned runs a side (power target 0.8):", "",
             "| noise | CV | goal | runs a side | rate reached |", "|---|---|---|---|---|"]
    for noise in NOISES:
        for cv, effect in ((0.02, 0.05), (0.10, 0.10), (0.10, 0.05)):
            n, rate = power_at_plan(rng, noise, cv, effect, reps)
            lines.append(f"| {noise} | {cv:.0%} | detect {effect:.0%} faster | {n} | {rate:.3f} |")
        n, rate = equivalence_at_plan(rng, noise, 0.02, reps)
        lines.append(f"| {noise} | 2% | equivalent within {MARGIN:.0%} (A vs A) | {n} | {rate:.3f} |")
    lines += ["", "Plans made after a 5-run-a-side pilot that reached no verdict (lognormal noise; the plan's "
              "power at the truth):", "",
              "| CV | true effect | pilots | plans reaching 0.8 | runs planned (10th / median / 90th) | "
              "the truth needs |", "|---|---|---|---|---|---|"]
    for cv, effect in ((0.02, 0.02), (0.05, 0.05)):
        plans = pilot_plans(rng, cv, effect, 5, min(reps, 1000))
        lines.append(f"| {cv:.0%} | {effect:.0%} | {plans['pilots']:.0f} | {plans['share_reaching']:.3f} | "
                     f"{plans['p10']:.0f} / {plans['median']:.0f} / {plans['p90']:.0f} | {plans['truth_needs']:.0f} |")
    lines += ["", "Interleaved ABBA runs on a drifting machine: coverage / rate of 'faster' (at 0%: of a false "
              "'faster' or 'slower'):", "", "| pairs | true effect | paired | independent |", "|---|---|---|---|"]
    for pairs in (4, 6, 10):
        for effect in (0.0, 0.03):
            found = abba_drift(rng, pairs, effect, reps)
            lines.append(f"| {pairs} | {effect:.0%} | {found['paired'][0]:.3f} / {found['paired'][1]:.3f} | "
                         f"{found['independent'][0]:.3f} / {found['independent'][1]:.3f} |")
    return lines


def _robust_tables(rng: np.random.Generator, reps: int) -> list[str]:
    lines = ["", "Per-run percentile intervals (batch means), M/M/1 queue at load 0.8:", "",
             "| percentile | queries a run | coverage |", "|---|---|---|"]
    for q in (0.5, 0.9, 0.99):
        for mult in (1, 2):
            queries = stats.min_queries_for_percentile_interval(q) * mult
            cell_reps = max(100, min(reps, 20_000_000 // queries))
            lines.append(f"| p{q * 100:g} | {queries:,} | {percentile_coverage(rng, q, queries, cell_reps):.3f} |")
    lines += ["", "Heavy tails: 10% of runs 30% slower on both sides, CV 2% (coverage; outlier warning rate):", "",
              "| n | primary | robust (Hodges-Lehmann) | warned |", "|---|---|---|---|"]
    for n in (5, 10, 30):
        tails = heavy_tails(rng, n, min(reps, 2000))
        lines.append(f"| {n} | {tails['primary']:.3f} | {tails['robust']:.3f} | {tails['warned']:.3f} |")
    lines += ["", "Outlier warnings, CV 2% (clean runs flagged / one run 30% slower found):", "",
              "| n | clean flagged | outlier found |", "|---|---|---|"]
    for n in (3, 5, 10):
        flagged, found_rate = outlier_rates(rng, n, min(reps, 1000))
        lines.append(f"| {n} | {flagged:.3f} | {found_rate:.3f} |")
    return lines


def tables(reps: int, seed: int) -> list[str]:
    """The markdown tables of docs/statistics.md, each cell simulated with `reps` repetitions."""
    rng = np.random.default_rng(seed)
    return _interval_tables(rng, reps) + _plan_tables(rng, reps) + _robust_tables(rng, reps)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadgen.analysis.coverage",
                                     description="Simulate the coverage, size and power of compare's statistics.")
    parser.add_argument("--reps", type=int, default=10_000, help="repetitions a cell (default 10000)")
    parser.add_argument("--seed", type=int, default=12, help="random seed (default 12)")
    args = parser.parse_args(argv)
    if args.reps < 100:
        print("error: --reps: allowed: >= 100", file=sys.stderr)
        return 2
    print("\n".join(tables(args.reps, args.seed)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
