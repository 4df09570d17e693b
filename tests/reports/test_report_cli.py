"""`python -m loadgen.report` as a user runs it: what it writes, and how it refuses what it cannot read."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadgen.benchmark.runner import Benchmark
from loadgen.cli.report import load_report_trace, main
from loadgen.cli.run import main as run_main
from loadgen.results.folder import write_outputs
from tests.reports.runs import make_result, make_trace


def _folder(tmp_path: Path, scenario: str = "Server") -> Path:
    trace = make_trace(scenario, 600)
    folder = tmp_path / scenario.lower()
    write_outputs(Benchmark(make_result(scenario, trace), trace, None), folder, False)
    return folder


def test_a_run_folder_gets_a_page_markdown_and_pngs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _folder(tmp_path)
    assert main([str(folder)]) == 0
    assert f"report: {folder / 'report.html'}" in capsys.readouterr().out
    markdown = (folder / "report.md").read_text()
    for image in ("latency_histogram", "latency_cdf", "arrival_gaps", "issue_delay"):
        assert f"report-images/{image}.png" in markdown and (folder / "report-images" / f"{image}.png").is_file()
    assert 'href="trace.npz"' in (folder / "report.html").read_text()


def test_the_report_reads_only_the_trace_columns_it_plots(tmp_path: Path) -> None:
    trace = load_report_trace(_folder(tmp_path) / "trace.npz")
    assert trace.sample_index.strides == (0,) and trace.response_size.strides == (0,)
    assert len(trace.sample_index) == len(trace.completed_ns)


def test_a_broken_trace_still_gives_a_page_and_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _folder(tmp_path, "SingleStream")
    (folder / "trace.npz").write_bytes(b"not a zip")
    assert main([str(folder)]) == 0
    assert "no usable trace.npz" in capsys.readouterr().err
    assert "Verdict" in (folder / "report.html").read_text()


def test_folders_it_cannot_read_are_refused_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "result.json").write_text("{}")
    assert main([str(tmp_path / "missing")]) == 2
    assert main([str(tmp_path / "empty")]) == 2
    assert main([str(bad)]) == 2
    assert main(["--baseline", str(bad), str(bad)]) == 2
    err = capsys.readouterr().err
    assert "no such folder" in err and "not a results folder" in err and "not a result.json" in err
    assert "--baseline and --output go with --models" in err
    assert not (bad / "report.html").exists()


def test_models_of_different_scenarios_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--models", str(_folder(tmp_path, "Server")), str(_folder(tmp_path, "Offline")),
                 "--output", str(tmp_path / "out")]) == 2
    assert "different scenarios" in capsys.readouterr().err


def test_no_report_skips_the_page(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert run_main(["--scenario", "single_stream", "--sut", "sut.null", "--set", "min_duration_ms=50",
                     "--set", "single_stream_expected_latency_ns=1000", "--set", "warmup_ms=0",
                     "--output", str(out), "--no-progress",
                     "--no-report"]) == 0
    assert (out / "result.json").is_file() and not (out / "report.html").exists()
