"""Every page kind, made by the commands as a user runs them, opened in a real headless Chromium.

Checks that each figure rendered, that nothing was fetched from the network (the pages
carry a CSP and every image is inline), and that the console logged no error; saves a
screenshot of each page under the test's tmp folder (and into $REPORT_SCREENSHOTS when
set, which is how docs/images/ was made). Without Chromium the browser checks skip,
except in CI (CI=true), where .ci/run installs Debian's `chromium`.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from loadgen.benchmark.runner import Benchmark
from loadgen.cli.compare import main as compare_main
from loadgen.cli.leaderboard import main as leaderboard_main
from loadgen.cli.report import main as report_main
from loadgen.cli.run import main as run_main
from loadgen.cli.submit import main as submit_main
from loadgen.metrics.accuracy import AccuracyResult
from loadgen.results.folder import write_outputs
from tests.reports.browser import PageCheck, find_chromium, open_page
from tests.reports.runs import make_result, make_trace

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "loadgen_logs"


def _write_run(folder: Path, scenario: str, seed: int, scale: float, accuracy: float | None = None,
               size_mb: float | None = None) -> None:
    trace = make_trace(scenario, 400, seed=seed, scale=scale)
    result = make_result(scenario, trace)
    if accuracy is not None:
        result = result.model_copy(update={"accuracy": AccuracyResult(samples=200, completed=200, top1=accuracy,
                                                                      note="scored")})
    if size_mb is not None:
        result = result.model_copy(update={"model": {"name": folder.name, "parameter_count": 2410,
                                                     "model_size_mb": size_mb}})
    write_outputs(Benchmark(result, trace, None), folder, False)


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One page of each kind, made through the command-line entry points."""
    root = tmp_path_factory.mktemp("pages")
    found: dict[str, Path] = {}
    server = root / "server"
    assert run_main(["--scenario", "server", "--set", "min_duration_ms=2000", "--output", str(server),
                     "--no-progress"]) in (0, 3)
    found["run"] = server / "report.html"
    for side, scale in (("a", 1.0), ("b", 1.3)):
        for k in (1, 2, 3):
            _write_run(root / "cmp" / side / f"run-{k}", "SingleStream", seed=k, scale=scale)
    assert compare_main([str(root / "cmp" / "a"), str(root / "cmp" / "b"), "--report",
                         "--output", str(root / "cmp" / "report")]) == 0
    found["comparison"] = root / "cmp" / "report" / "report.html"
    models = []
    for name, scale, accuracy, size in (("fp32", 1.0, 0.965, 0.0092), ("int8", 1.4, 0.965, 0.0024),
                                        ("pruned", 2.0, 0.94, 0.0059), ("cnn", 2.4, 0.975, 0.0031)):
        _write_run(root / "models" / name, "SingleStream", 7, scale, accuracy, size)
        models.append(str(root / "models" / name))
    assert report_main(["--models", *models, "--output", str(root / "models" / "report")]) == 0
    found["models"] = root / "models" / "report" / "report.html"
    found["leaderboard"] = _leaderboard(root / "subs")
    loadgen_logs = root / "loadgen_server"
    shutil.copytree(FIXTURES / "server", loadgen_logs)
    assert report_main([str(loadgen_logs)]) == 0
    found["loadgen"] = loadgen_logs / "report.html"
    return found


def _leaderboard(subs: Path) -> Path:
    """Seven submissions from one real one: valid, a tied twin, course-made (no evidence), tampered, an
    improvement that does not recompute, a schema error and a file that is not JSON."""
    real = subs / "student1"
    assert submit_main(["--baseline", "sut.digit_mlp", "--optimized", "sut.digit_mlp", "--sut-arg-optimized",
                        "model_name=digit_mlp_int8", "--techniques", "quantization", "--student", "student1",
                        "--set", "min_duration_ms=200", "--set", "min_query_count=100", "--set", "warmup_ms=0",
                        "--output", str(real), "--no-progress"]) == 0

    def variant(name: str, change: object) -> None:
        shutil.copytree(real, subs / name)
        path = subs / name / "submission.json"
        data = json.loads(path.read_text())
        data["student_name"] = name
        change(data)  # type: ignore[operator]
        path.write_text(json.dumps(data))

    variant("twin", lambda d: None)
    variant("course", lambda d: d.pop("evidence"))
    variant("bold", lambda d: d["improvements"].update(speedup=d["improvements"]["speedup"] * 2))
    variant("careless", lambda d: d["optimized"]["metrics"].update(accuracy="0.97"))
    variant("tampered", lambda d: None)
    evidence = subs / "tampered" / "submission-evidence" / "optimized" / "result.json"
    evidence.write_text(evidence.read_text().replace('"valid": true', '"valid": false'))
    (subs / "broken").mkdir()
    (subs / "broken" / "submission.json").write_text('{"tinytorch_version": ')
    assert leaderboard_main([str(subs), "--output", str(subs / "official")]) == 0  # shortened runs: none ranked
    assert leaderboard_main([str(subs), "--practice"]) == 0
    return subs / "leaderboard.html"


def test_every_page_kind_was_written(pages: dict[str, Path]) -> None:
    for kind, page in pages.items():
        assert page.is_file(), kind
        assert (page.parent / ("leaderboard.md" if kind == "leaderboard" else "report.md")).is_file()
    board = json.loads((pages["leaderboard"].parent / "leaderboard.json").read_text())
    paths = {e["path"]: e for e in board["entries"]}
    assert len(paths) == 7
    assert paths["student1/submission.json"]["verified"] and paths["course/submission.json"]["valid"]
    assert not paths["course/submission.json"]["verified"]
    for rejected in ("bold", "careless", "tampered", "broken"):
        assert not paths[f"{rejected}/submission.json"]["valid"], rejected
    assert board["practice"] and not paths["student1/submission.json"]["compliant"]
    assert any("min_duration_ms" in rule for rule in paths["student1/submission.json"]["broken_rules"])
    sprint = board["events"]["latency_sprint"]
    twins = [s for s in sprint if s["path"] in ("student1/submission.json", "twin/submission.json")]
    assert len(twins) == 2 and twins[0]["rank"] == twins[1]["rank"] and twins[0]["tied"]
    official = json.loads((pages["leaderboard"].parent / "official" / "leaderboard.json").read_text())
    assert all(standings == [] for standings in official["events"].values())
    assert "NOT COMPLIANT: " in (pages["leaderboard"].parent / "official" / "leaderboard.md").read_text()


def _browser() -> str:
    binary = find_chromium()
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must have Chromium for the browser tests: .ci/run installs Debian's chromium")
        pytest.skip("no Chromium here (apt-get install chromium): the pages are not opened in a browser")
    return binary


@pytest.mark.parametrize("kind", ["run", "comparison", "models", "leaderboard", "loadgen"])
def test_each_page_renders_offline_in_chromium(kind: str, pages: dict[str, Path],
                                               tmp_path_factory: pytest.TempPathFactory) -> None:
    binary = _browser()
    checked: PageCheck = open_page(pages[kind], binary=binary)
    shots = tmp_path_factory.getbasetemp() / "screenshots"
    shots.mkdir(exist_ok=True)
    (shots / f"{kind}.png").write_bytes(checked.screenshot)
    wanted = os.environ.get("REPORT_SCREENSHOTS")
    if wanted:
        Path(wanted).mkdir(parents=True, exist_ok=True)
        (Path(wanted) / f"{kind}.png").write_bytes(checked.screenshot)
    assert checked.network_requests == []
    assert checked.console_errors == []
    assert checked.figures_rendered == checked.figures_total
    assert checked.figures_total >= {"run": 7, "comparison": 2, "models": 1, "leaderboard": 0, "loadgen": 1}[kind]
    assert checked.screenshot.startswith(b"\x89PNG")


def test_a_page_that_reaches_out_is_caught(tmp_path: Path) -> None:
    """The checks can fail: a page with a remote image and a console error is reported as such."""
    binary = _browser()
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><html><body><figure class="plot"><img src="http://127.0.0.1:9/x.png"></figure>'
                    '<img src="data:," onerror="console.error(\'broken\')"></body></html>')
    checked = open_page(page, binary=binary)
    assert checked.network_requests == ["http://127.0.0.1:9/x.png"]
    assert checked.figures_rendered == 0 and checked.figures_total == 1
    assert any("broken" in text for text in checked.console_errors)
