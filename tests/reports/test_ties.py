"""The leaderboard's tie rules keep the rates its pages state (reports.leaderboard.TIE_RULES), checked by
simulation through the same path a leaderboard takes: what the validator re-derives per run (MeasuredRun),
the command's latency_evidence, and rank_event's decision between neighbours."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loadgen.analysis import stats
from loadgen.capstone import MeasuredRun
from loadgen.capstone.course import across_runs
from loadgen.cli.leaderboard import latency_evidence
from reports.leaderboard import (
    EVENTS,
    RULE_EQUAL,
    RULE_INTERVALS,
    RULE_RUNS,
    RULE_VALUES,
    TIE_RULES,
    Entry,
    rank_event,
    render_leaderboard,
)

SPRINT = EVENTS[0]
QUERIES = 1000
"""Queries of a simulated run: the fewest that give the median a batch-means interval."""


def entry(name: str, medians: list[float], intervals: list[stats.Interval | None] | None = None) -> Entry:
    """A verified submission whose optimized runs had these median latencies (ms)."""
    found = intervals or [None] * len(medians)
    measured = [MeasuredRun("optimized", f"optimized run {k}", {"latency_ms_median": m, "latency_ms_mean": m}, iv)
                for k, (m, iv) in enumerate(zip(medians, found, strict=True), 1)]
    value = across_runs(medians)
    data = {"optimized": {"metrics": {"latency_ms_median": value}}}
    interval, methods, runs = latency_evidence(data, measured)
    return Entry(name, name, "m", True, [], [], True, True, eligible={SPRINT.name: (True, "eligible")},
                 figures={SPRINT.figure: value}, intervals=interval, interval_methods=methods, runs=runs)


def decided(a: Entry, b: Entry) -> tuple[bool, str]:
    second = rank_event([a, b], SPRINT)[1]
    assert second.decision is not None
    return second.decision.tied, second.decision.rule


def one_run(rng: np.random.Generator, median_ms: float) -> tuple[float, stats.Interval | None]:
    """One run's median and its batch-means interval, from QUERIES lognormal latencies."""
    latencies = rng.lognormal(np.log(median_ms), 0.3, QUERIES)
    interval = stats.percentile_interval(latencies, 0.5)
    return float(np.quantile(latencies, 0.5, method="lower")), interval


@pytest.mark.parametrize("runs", [3, 10])
def test_identical_systems_with_repeated_runs_tie_about_95_percent_of_the_time(runs: int) -> None:
    rng = np.random.default_rng(runs)
    reps, cv = 600, 0.03
    tied = 0
    for _ in range(reps):
        a, b = (entry(name, list(rng.lognormal(0.0, cv, runs))) for name in "ab")
        is_tied, rule = decided(a, b)
        assert rule == RULE_RUNS
        tied += is_tied
    assert 0.925 <= tied / reps <= 0.975  # 95% +/- 2.8 binomial sds at 600 repetitions


def test_identical_systems_under_the_cv_floor_tie_more_often() -> None:
    rng = np.random.default_rng(7)
    ties = [decided(*(entry(n, list(rng.lognormal(0.0, 0.001, 5))) for n in "ab"))[0] for _ in range(150)]
    assert np.mean(ties) >= 0.99


def test_five_runs_tell_a_ten_percent_difference_apart_at_a_three_percent_cv() -> None:
    rng = np.random.default_rng(11)
    reps = 400
    apart = 0
    for _ in range(reps):
        fast = entry("fast", list(rng.lognormal(0.0, 0.03, 5)))
        slow = entry("slow", list(rng.lognormal(np.log(1.1), 0.03, 5)))
        standings = rank_event([slow, fast], SPRINT)
        assert standings[1].decision is not None and standings[1].decision.rule == RULE_RUNS
        apart += not standings[1].decision.tied and standings[0].entry.path == "fast"
    assert apart / reps > 0.97


def test_single_runs_tie_identical_systems_more_than_95_percent_of_the_time_when_runs_do_not_vary() -> None:
    rng = np.random.default_rng(3)
    reps = 300
    tied = 0
    for _ in range(reps):
        a, b = (entry(name, [m], [iv]) for name, (m, iv) in zip("ab", (one_run(rng, 1.0), one_run(rng, 1.0)),
                                                               strict=True))
        is_tied, rule = decided(a, b)
        assert rule == RULE_INTERVALS
        tied += is_tied
    assert tied / reps > 0.95


def test_a_single_runs_interval_knows_nothing_of_run_to_run_noise() -> None:
    """Why the pages send students to --runs: identical systems whose runs vary by 5% tie about half the time
    under the single-run rule, and about 95% of the time under the repeated-run rule."""
    rng = np.random.default_rng(5)
    reps = 150
    single, repeated = 0, 0
    for _ in range(reps):
        runs = [[one_run(rng, float(rng.lognormal(0.0, 0.05))) for _ in range(5)] for _ in "ab"]
        a, b = (entry(name, [m for m, _ in r[:1]], [iv for _, iv in r[:1]]) for name, r in zip("ab", runs, strict=True))
        single += decided(a, b)[0]
        a, b = (entry(name, [m for m, _ in r]) for name, r in zip("ab", runs, strict=True))
        repeated += decided(a, b)[0]
    assert 0.35 <= single / reps <= 0.7
    assert repeated / reps > 0.9


def test_a_repeated_entry_against_a_single_run_ties_identical_systems_by_intervals() -> None:
    rng = np.random.default_rng(9)
    reps = 150
    tied = 0
    for _ in range(reps):
        runs = [one_run(rng, 1.0) for _ in range(5)]
        repeated = entry("repeated", [m for m, _ in runs], [iv for _, iv in runs])
        m, iv = one_run(rng, 1.0)
        is_tied, rule = decided(repeated, entry("single", [m], [iv]))
        assert rule == RULE_INTERVALS
        tied += is_tied
    assert tied / reps > 0.95


def test_the_pages_name_the_rule_of_every_decision() -> None:
    entries = [
        entry("r1", [1.00, 1.02, 0.98, 1.01, 0.99]),
        entry("r2", [1.01, 1.00, 1.03, 1.01, 0.99]),  # 0.8% slower in noise of 1.5%: tied over the runs
        entry("r3", [1.50, 1.53, 1.47, 1.52, 1.49]),  # 50% slower: apart over the runs
        entry("s1", [2.0], [stats.Interval(1.9, 2.1, 0.95, stats.METHOD_BATCH_MEANS)]),
        entry("s2", [2.05], [stats.Interval(2.0, 2.2, 0.95, stats.METHOD_BATCH_MEANS)]),
        entry("u1", [3.0]),  # one run too short for an interval
        entry("u2", [3.0]),
    ]
    standings = rank_event(entries, SPRINT)
    rules = [(s.entry.path, s.rank, None if s.decision is None else (s.decision.tied, s.decision.rule))
             for s in standings]
    assert rules == [("r1", 1, None), ("r2", 1, (True, RULE_RUNS)), ("r3", 3, (False, RULE_RUNS)),
                     ("s1", 4, (False, RULE_INTERVALS)), ("s2", 4, (True, RULE_INTERVALS)),
                     ("u1", 6, (False, RULE_VALUES)), ("u2", 6, (True, RULE_EQUAL))]
    page, markdown, document = render_leaderboard(entries, "subs")
    assert TIE_RULES in markdown
    assert ("tied by Welch t over repeated runs: this entry's 5 runs against the 5 above: 95% interval of the ratio "
            "of geometric means") in markdown
    assert "apart by 95% intervals: this entry's [1.9, 2.1] and the above's" in markdown
    assert "apart by 95% intervals: this entry&#x27;s [1.9, 2.1]" in page.decode()
    assert "tied by equal values: both 3" in markdown
    assert '"against_above": null' in document and '"rule": "Welch t over repeated runs"' in document


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.lists(st.floats(0.5, 2.0), min_size=1, max_size=6), st.booleans()),
                min_size=1, max_size=8))
def test_ranks_follow_the_decisions(specs: list[tuple[list[float], bool]]) -> None:
    """Best first; an entry shares the rank above exactly when its decision ties it, else its rank is its place."""
    entries = []
    for k, (medians, one_run_interval) in enumerate(specs):
        if one_run_interval:
            median = medians[0]
            interval = stats.Interval(median * 0.97, median * 1.03, 0.95, stats.METHOD_BATCH_MEANS)
            entries.append(entry(f"e{k}", [median], [interval]))
        else:
            entries.append(entry(f"e{k}", medians))
    standings = rank_event(entries, SPRINT)
    assert [s.value for s in standings] == sorted(s.value for s in standings)
    assert standings[0].rank == 1 and standings[0].decision is None
    for place, (above, below) in enumerate(itertools.pairwise(standings), 2):
        assert below.decision is not None
        assert below.rank == (above.rank if below.decision.tied else place)
        assert below.decision.rule in (RULE_EQUAL, RULE_RUNS, RULE_INTERVALS, RULE_VALUES)
    assert all(s.tied == ([t.rank for t in standings].count(s.rank) > 1) for s in standings)
