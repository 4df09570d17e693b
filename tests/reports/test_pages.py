"""The pages: verdict first, every rule with its figure, the plots each scenario calls for, self-contained HTML,
markdown with the course's headings, and the numbers read from the result (never computed twice)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from loadgen.mlperf.log_reader import load_log_folder
from reports.advice import GENERIC, remedy
from reports.document import CSP, Heading, Plot, Table, Text, render_html, render_markdown
from reports.leaderboard import EVENTS, Entry, rank_event, render_leaderboard
from reports.models_page import ModelEntry, frontier, render_models_report
from reports.plots import format_duration, latency_cdf
from reports.repeated_page import render_repeated_report
from reports.run_page import RunInputs, render_run_report
from reports.series import log_histogram
from tests.reports.runs import make_result, make_trace

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "loadgen_logs"
COURSE_HEADINGS = ("# ML Model Benchmark Report", "## System Information", "## Benchmark Results Summary",
                   "## Recommendations")
EXPECTED_PLOTS = {
    "SingleStream": {"latency_histogram", "latency_cdf", "latency_over_time", "throughput_over_time", "outstanding"},
    "MultiStream": {"latency_histogram", "latency_cdf", "latency_over_time", "throughput_over_time", "outstanding"},
    "Server": {"latency_histogram", "latency_cdf", "latency_over_time", "throughput_over_time", "outstanding",
               "issue_delay", "arrival_gaps"},
    "Offline": {"latency_histogram", "latency_cdf", "throughput_over_time", "outstanding"},
}


def _plots(page: bytes) -> set[str]:
    return set(re.findall(r'<figure class="plot" id="([a-z_]+)">', page.decode()))


@pytest.mark.parametrize("scenario", sorted(EXPECTED_PLOTS))
def test_a_run_page_has_the_verdict_first_and_every_plot_of_its_scenario(scenario: str) -> None:
    trace = make_trace(scenario, 1500)
    result = make_result(scenario, trace, warnings=("high load average: 5.00 (1 minute) on 2 logical cores",))
    report = render_run_report(RunInputs(result, trace, ["result.json", "trace.npz"],
                                         {"qsl_rng_seed": 1, "sample_index_rng_seed": 2, "schedule_rng_seed": 3}))
    page = report.html.decode()
    assert _plots(report.html) == EXPECTED_PLOTS[scenario]
    assert page.index("<h2>Verdict</h2>") < page.index("<h2>Headline</h2>") < page.index("<h2>Latency</h2>")
    for rule in ("min duration", "min queries", "seeds", "not official"):
        assert rule in page
    assert ("early stopping" in page) == (scenario != "Offline")
    assert ("latency bound" in page) == (scenario == "Server")
    p99 = result.metrics.latency.percentiles_ns["99.0"]
    assert format_duration(p99) in page  # the table reads the result's own figure
    assert "stop other work on the machine" in page  # the warning with what to do about it
    assert 'href="trace.npz"' in page and "&lt;b&gt;" in page and "<b>" not in page
    for heading in COURSE_HEADINGS:
        assert heading in report.markdown.splitlines()
    assert "### Latency Results" in report.markdown
    assert set(report.images) == {f"report-images/{name}.png" for name in EXPECTED_PLOTS[scenario]}
    assert all(png.startswith(b"\x89PNG") for png in report.images.values())


def test_a_page_fetches_nothing_and_runs_no_script() -> None:
    page = render_html("t", [Heading(1, "<script>alert(1)</script>"), Text("a & b"),
                             Plot("x", make_png(), "caption")]).decode()
    assert f'content="{CSP}"' in page and "default-src 'none'" in CSP and "script" not in CSP
    assert "<script" not in page and "&lt;script&gt;" in page
    assert re.findall(r'(?:src|href)="(?!data:)', page) == []


def make_png() -> bytes:
    histogram = log_histogram(np.array([1000, 2000, 3000], dtype=np.int64))
    assert histogram is not None
    return latency_cdf([("", "#000000", histogram)], [], "query")


def test_markdown_tables_and_images() -> None:
    text, images = render_markdown([Table(["a", "b"], [["1|2", "x"]]), Plot("p", make_png(), "cap")], "imgs")
    assert "| 1\\|2 | x |" in text and "![cap](imgs/p.png)" in text
    assert list(images) == ["imgs/p.png"]


def test_a_loadgen_log_folder_gets_its_percentiles_drawn_without_a_trace() -> None:
    result = load_log_folder(FIXTURES / "server")
    report = render_run_report(RunInputs(result, None, ["mlperf_log_detail.txt"], None, "from LoadGen"))
    assert _plots(report.html) == {"latency_percentiles"}
    assert "no per-sample trace" in report.html.decode()


def test_every_noise_warning_has_a_remedy() -> None:
    for warning in ("CPU governor is 'powersave', not 'performance': ...", "turbo boost is on: ...",
                    "CPU frequency changed by 12% during the run", "p99 latency: std is 14.4% of the mean"):
        assert remedy(warning) != GENERIC


def test_repeated_runs_page_reads_the_aggregate_defensively() -> None:
    document = {"scenario": "SingleStream", "n_included": 3, "sut_name": "S", "runs": [
        {"name": f"run-{k}", "status": "VALID"} for k in (1, 2, 3)],
        "figures": {"p50 latency": {"unit": "ns", "values": [1e6, 1.1e6, 1.3e6], "n": 3, "median": 1.1e6,
                                    "mean": 1.13e6, "new_interval": [0.9e6, 1.4e6], "cv": 0.1}},
        "percentile_intervals": {"run-1": {"queries": 10, "p99": {"value_ns": 5, "needs_queries": 368}}},
        "warnings": ["p50 latency: std is 10.2% of the mean: results are noisy"]}
    report = render_repeated_report(document, ["run-1/report.html"])
    page = report.html.decode()
    assert _plots(report.html) == {"runs"} and "new interval" in page and "needs &gt;= 368" in page
    assert 'href="run-1/report.html"' in page


def test_the_pareto_frontier_marks_dominated_models() -> None:
    base = ModelEntry("base", "a", 1, 1e6, 0.96, 1.0, 1)
    int8 = ModelEntry("int8", "b", 1, 0.8e6, 0.95, 0.25, 1)
    worse = ModelEntry("pruned", "c", 1, 1.2e6, 0.94, 0.5, 1)
    blind = ModelEntry("no-accuracy", "d", 1, 1e6, None, 1.0, 1)
    assert frontier([base, int8, worse, blind]) == {"base": [], "int8": [], "pruned": ["int8"]}
    report = render_models_report([base, int8, worse, blind], base, "SingleStream", "latency")
    page = report.html.decode()
    assert _plots(report.html) == {"pareto"} and "dominated by int8" in page and "no-accuracy" in page
    assert "speedup = baseline_time / optimized_time" in page and "1.250" in page  # 1 ms / 0.8 ms


def _entry(path: str, latency: float, interval: tuple[float, float] | None = None, **kw: object) -> Entry:
    values: dict[str, object] = {"valid": True, "errors": [], "warnings": [], "verified": interval is not None,
                                 "compliant": None, "eligible": {e.name: (True, "eligible") for e in EVENTS},
                                 "figures": {"latency_ms": latency, "accuracy": 0.9, "model_size_mb": 1.0}}
    values |= kw
    intervals = {"latency_ms": interval} if interval else {}
    return Entry(path, path, "m", intervals=intervals, **values)  # type: ignore[arg-type]


def test_leaderboard_ranks_ties_and_rejects() -> None:
    sprint = EVENTS[0]
    entries = [_entry("a", 1.0, (0.9, 1.1)), _entry("b", 1.05, (1.0, 1.2)), _entry("c", 2.0, (1.9, 2.1)),
               _entry("d", 0.5, compliant=False), _entry("e", 0.4, valid=False, errors=["sha256 differs"]),
               _entry("f", 0.3, eligible={"latency_sprint": (False, "not eligible (accuracy 0.5 < 0.85)")})]
    standings = rank_event(entries, sprint)
    assert [(s.entry.path, s.rank, s.tied) for s in standings] == [("a", 1, True), ("b", 1, True), ("c", 3, False)]
    assert [s.entry.path for s in rank_event(entries, sprint, practice=True)] == ["d", "a", "b", "c"]
    page, markdown, document = render_leaderboard(entries, "subs")
    assert "sha256 differs" in page.decode() and "NOT COMPLIANT" in markdown
    assert "not eligible: f (m): not eligible (accuracy 0.5 &lt; 0.85)" in page.decode()
    assert '"rank": 1' in document and '"tied": true' in document
