"""The capstone leaderboard: every submission, validated; the valid ones ranked per event; the rejected ones with
their reasons. Rendered as leaderboard.html, leaderboard.md and leaderboard.json.

Pure: one Entry per submission.json (made by loadgen.cli.leaderboard from the validator's
findings, never by running anything a submission names) in, text and bytes out. An entry
takes part in an event when the validator found it valid and COMPLIANT (a practice board
also ranks NOT COMPLIANT ones, marked), and eligible
by the course's rule for that event (the validator's own `event` findings). Ranks are
"competition" ranks (1, 2, 2, 4); each entry is tied with the one above it, or ranked apart,
by one rule, named beside it (`decide`): equal values; over repeated runs, a Welch t-test on
the log per-run figures (loadgen.analysis.stats.ratio_interval); else overlapping 95% intervals
(one run's batch-means interval of its median latency); else the values alone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from loadgen.analysis import stats
from reports.document import Block, Cell, Heading, Items, Table, Text, render_html, render_markdown

LEADERBOARD_FORMAT = "tinyperf-leaderboard/1"
TIE_CONFIDENCE = 0.95

RULE_EQUAL = "equal values"
RULE_RUNS = "Welch t over repeated runs"
RULE_INTERVALS = "95% intervals"
RULE_VALUES = "values alone"
TIE_RULES = (
    f"Ties, each entry against the one above it: {RULE_EQUAL} tie. {RULE_RUNS}: where both entries carry "
    "repeated-run evidence (2 or more verified runs), they tie unless a Welch t-test on the log per-run "
    f"figures tells them apart at the {1 - TIE_CONFIDENCE:.0%} level, i.e. while the {TIE_CONFIDENCE:.0%} interval "
    "of the ratio of their geometric means includes 1; two identical systems tie about 95% of the time (more "
    "often when run-to-run noise is under the 0.5% CV floor), and 5 runs each tell a 10% difference apart more "
    f"than 97% of the time at a 3% run-to-run CV. {RULE_INTERVALS}: otherwise, where both entries have a 95% "
    "interval (one run's batch-means interval of its median latency, or the Student-t interval of a repeated "
    "entry's geometric mean), overlapping intervals tie: identical systems tie more than 95% of the time when "
    "their runs do not vary, but one run's interval knows nothing of run-to-run variation (simulated 1,000-query "
    "runs whose medians vary by 5% tie identical systems about half the time), which only repeated runs "
    "measure: submit with --runs 5. "
    f"{RULE_VALUES.capitalize()}: without an interval on both sides, the values rank. Each adjacent pair is decided "
    "on its own."
)
"""What the pages say about ties; every rate in it is checked by simulation (tests/reports/test_ties.py)."""


@dataclass(frozen=True)
class Event:
    """One capstone event: what it ranks by, which way is better, and how the figure is read from an entry."""

    name: str
    title: str
    figure: str
    higher_is_better: bool
    unit: str


EVENTS = (
    Event("latency_sprint", "Latency sprint", "latency_ms", False, "ms"),
    Event("memory_challenge", "Memory challenge", "model_size_mb", False, "MiB"),
    Event("accuracy_contest", "Accuracy contest", "accuracy", True, ""),
    Event("extreme_push", "Extreme push", "speedup_x_compression", True, "x"),
    Event("all_around", "All-around", "efficiency_score", True, ""),
)
FIGURE_NOTES = {
    "latency_ms": "the optimized model's latency_ms_median (latency_ms_mean where there is no median)",
    "model_size_mb": "the optimized model's model_size_mb",
    "accuracy": "the optimized model's accuracy",
    "speedup_x_compression": "improvements.speedup x improvements.compression_ratio",
    "efficiency_score": stats.EFFICIENCY_FORMULA + ", from improvements",
}


@dataclass(frozen=True)
class Entry:
    """One submission as the validator saw it."""

    path: str
    student: str
    model: str
    valid: bool
    errors: list[str]
    warnings: list[str]
    verified: bool
    """Evidence present, every file matches its hash, every figure recomputes from the traces."""
    compliant: bool | None
    """The validator's COMPLIANT / NOT COMPLIANT; None where it gave no verdict."""
    broken_rules: list[str] = field(default_factory=list)
    """Each capstone rule the evidence runs broke (what NOT COMPLIANT names)."""
    eligible: dict[str, tuple[bool, str]] = field(default_factory=dict)
    figures: dict[str, float] = field(default_factory=dict)
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    """A figure's 95% interval, where the evidence gives one (ties are read from these)."""
    interval_methods: dict[str, str] = field(default_factory=dict)
    """How each interval was made."""
    runs: dict[str, list[float]] = field(default_factory=dict)
    """A figure's value in each verified evidence run, where the submission has repeated runs."""
    evidence_runs: int = 0
    """Evidence runs the validator re-derived for the model the events rank (0: none, or unknown)."""


@dataclass(frozen=True)
class Decision:
    """Whether an entry ties the one above it, by which rule, and the numbers behind it."""

    tied: bool
    rule: str
    detail: str


@dataclass(frozen=True)
class Standing:
    rank: int
    tied: bool
    entry: Entry
    value: float
    decision: Decision | None = None
    """Against the entry above (None for the first)."""


def _repeated(above: Entry, entry: Entry, event: Event) -> Decision | None:
    runs_above, runs = above.runs.get(event.figure, []), entry.runs.get(event.figure, [])
    if min(len(runs_above), len(runs)) < 2:
        return None
    try:
        estimate = stats.ratio_interval(runs_above, runs, higher_is_better=event.higher_is_better,
                                        confidence=TIE_CONFIDENCE)
    except ValueError:  # a zero or negative figure: no ratio
        return None
    interval = estimate.interval
    if interval is None:
        return None
    tied = interval.contains(1.0)
    return Decision(tied, RULE_RUNS, f"this entry's {len(runs)} runs against the {len(runs_above)} above: "
                    f"{TIE_CONFIDENCE:.0%} interval of the ratio of geometric means [{interval.low:.4g}, "
                    f"{interval.high:.4g}] {'includes' if tied else 'excludes'} 1 ({interval.method})")


def decide(above: Entry, entry: Entry, event: Event) -> Decision:
    """Whether `entry` ties `above` (ranked just ahead of it) in this event, and by which rule."""
    value_above, value = above.figures[event.figure], entry.figures[event.figure]
    if value_above == value:
        return Decision(True, RULE_EQUAL, f"both {value:.6g}")
    over_runs = _repeated(above, entry, event)
    if over_runs is not None:
        return over_runs
    a, b = above.intervals.get(event.figure), entry.intervals.get(event.figure)
    if a is not None and b is not None:
        tied = a[0] <= b[1] and b[0] <= a[1]
        methods = "; ".join(dict.fromkeys(e.interval_methods.get(event.figure, "95% interval") for e in (entry, above)))
        return Decision(tied, RULE_INTERVALS, f"this entry's [{b[0]:.4g}, {b[1]:.4g}] and the above's "
                        f"[{a[0]:.4g}, {a[1]:.4g}] {'overlap' if tied else 'do not overlap'} ({methods})")
    return Decision(False, RULE_VALUES, "no interval on both sides: ranked by value")


def ranked(entry: Entry, practice: bool = False) -> bool:
    """Valid and COMPLIANT (with practice: valid, compliant or not) takes part in the events."""
    return entry.valid and (entry.compliant is not False or practice)


def rank_event(entries: Sequence[Entry], event: Event, practice: bool = False) -> list[Standing]:
    """The entries that take part in the event, best first, each tied or not with the one above by `decide`."""
    taking_part = [e for e in entries if ranked(e, practice)
                   and e.eligible.get(event.name, (False, ""))[0] and event.figure in e.figures]
    ordered = sorted(taking_part, key=lambda e: (-e.figures[event.figure] if event.higher_is_better
                                                 else e.figures[event.figure], e.path))
    standings: list[Standing] = []
    for position, entry in enumerate(ordered):
        rank, decision = position + 1, None
        if standings:
            previous = standings[-1]
            decision = decide(previous.entry, entry, event)
            if decision.tied:
                rank = previous.rank
        standings.append(Standing(rank, False, entry, entry.figures[event.figure], decision))
    ranks = [s.rank for s in standings]
    return [Standing(s.rank, ranks.count(s.rank) > 1, s.entry, s.value, s.decision) for s in standings]


def rejected(entries: Sequence[Entry], practice: bool = False) -> list[Entry]:
    return [e for e in entries if not ranked(e, practice)]


def why_rejected(entry: Entry) -> str:
    if entry.errors:
        return "; ".join(entry.errors)
    return "NOT COMPLIANT: " + "; ".join(entry.broken_rules or ["the validator gave no verdict"])


def _value(value: float, unit: str) -> str:
    return f"{value:.4g} {unit}".strip()


def _who(entry: Entry) -> str:
    return f"{entry.student} ({entry.model})" if entry.student else entry.model


def _decision_text(decision: Decision | None) -> str:
    if decision is None:
        return ""
    return f"{'tied' if decision.tied else 'apart'} by {decision.rule}: {decision.detail}"


def _event_table(standings: Sequence[Standing], event: Event) -> Table:
    rows: list[list[Cell | str]] = []
    for s in standings:
        interval = s.entry.intervals.get(event.figure)
        shown = _value(s.value, event.unit) + (f" [{interval[0]:.4g}, {interval[1]:.4g}]" if interval else "")
        runs = s.entry.evidence_runs
        rank = f"{s.rank}{' (tie)' if s.tied else ''}"
        counted = f", {runs} run{'s' if runs != 1 else ''}" if runs else ""
        evidence = Cell(f"verified{counted}" if s.entry.verified else "unverified",
                        "good" if s.entry.verified else "warn")
        standing = "COMPLIANT" if s.entry.compliant else "practice: NOT COMPLIANT"
        rows.append([rank, _who(s.entry), shown, evidence, Cell(standing, "good" if s.entry.compliant else "warn"),
                     _decision_text(s.decision), s.entry.path])
    return Table(["rank", "entry", event.figure, "evidence", "rules", "against the entry above", "file"], rows)


def _blocks(entries: Sequence[Entry], boards: Mapping[str, list[Standing]], source: str,
            practice: bool) -> list[Block]:
    valid = sum(1 for e in entries if ranked(e, practice))
    blocks: list[Block] = [
        Heading(1, "TinyTorch capstone leaderboard"),
        Text(f"{len(entries)} submissions in {source}: {valid} ranked, {len(entries) - valid} rejected. Each was "
             "checked by loadgen.capstone's validator (data only: nothing a submission names is run). 'verified' "
             "means its evidence files match their hashes and every latency and throughput figure recomputes from "
             "the raw traces; 'unverified' figures are the student's word.", "muted"),
        Text("Practice board: valid submissions are ranked whether or not their runs followed the capstone rules "
             "(NOT COMPLIANT ones are marked)." if practice else "Only COMPLIANT submissions are ranked: valid files "
             "whose evidence runs followed the capstone rules (scenarios/capstone.toml) on one machine.",
             "warn" if practice else "muted"),
        Text(TIE_RULES, "muted"),
    ]
    for event in EVENTS:
        standings = boards[event.name]
        blocks += [Heading(2, event.title), Text(f"Ranked by {FIGURE_NOTES[event.figure]}, "
                                                 f"{'higher' if event.higher_is_better else 'lower'} is better.",
                                                 "muted")]
        blocks.append(_event_table(standings, event) if standings else Text("No eligible entry.", "muted"))
        left_out = [f"{_who(e)}: {e.eligible[event.name][1]}" for e in entries
                    if ranked(e, practice) and event.name in e.eligible and not e.eligible[event.name][0]]
        if left_out:
            blocks.append(Items([Text(f"not eligible: {line}", "muted") for line in left_out]))
    blocks.append(Heading(2, "Rejected submissions"))
    refused = rejected(entries, practice)
    if refused:
        blocks.append(Table(["entry", "file", "why"], [[_who(e), e.path, Cell(why_rejected(e), "bad")]
                                                       for e in refused]))
    else:
        blocks.append(Text("None.", "good"))
    return blocks


def build_boards(entries: Sequence[Entry], practice: bool = False) -> dict[str, list[Standing]]:
    return {event.name: rank_event(entries, event, practice) for event in EVENTS}


def render_leaderboard(entries: Sequence[Entry], source: str, practice: bool = False) -> tuple[bytes, str, str]:
    """leaderboard.html, leaderboard.md and leaderboard.json's text."""
    boards = build_boards(entries, practice)
    blocks = _blocks(entries, boards, source, practice)
    markdown, _ = render_markdown(blocks, "leaderboard-images")
    document: dict[str, Any] = {
        "format": LEADERBOARD_FORMAT,
        "source": source,
        "practice": practice,
        "tie_rules": TIE_RULES,
        "events": {name: [_standing_json(s, _event(name)) for s in standings] for name, standings in boards.items()},
        "entries": [asdict(e) for e in entries],
    }
    return render_html("TinyTorch capstone leaderboard", blocks), markdown, json.dumps(document, indent=2) + "\n"


def _standing_json(s: Standing, event: Event) -> dict[str, Any]:
    return {"rank": s.rank, "tied": s.tied, "value": s.value, "path": s.entry.path, "student": s.entry.student,
            "model": s.entry.model, "verified": s.entry.verified,
            "interval": s.entry.intervals.get(event.figure),
            "interval_method": s.entry.interval_methods.get(event.figure),
            "runs": s.entry.runs.get(event.figure),
            "against_above": None if s.decision is None else asdict(s.decision)}


def _event(name: str) -> Event:
    return next(event for event in EVENTS if event.name == name)

