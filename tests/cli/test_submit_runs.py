"""`loadgen.submit --runs N` as a student runs it, and the leaderboard deciding ties over the runs it wrote."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from loadgen.capstone import judge_submission
from loadgen.capstone.building import build_evidence, build_submission
from loadgen.cli.leaderboard import main as leaderboard_main
from loadgen.cli.submit import main as submit_main
from loadgen.metrics.result import RunResult
from reports.leaderboard import RULE_RUNS

QUICK = ["--set", "min_duration_ms=100", "--set", "min_query_count=100", "--set", "warmup_ms=0",
         "--set", "single_stream_expected_latency_ns=20000", "--no-progress"]


@pytest.fixture(scope="module")
def submitted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "ada"
    code = submit_main(["--baseline", "sut.digit_mlp", "--optimized", "sut.digit_mlp", "--sut-arg-optimized",
                        "model_name=digit_mlp_int8", "--techniques", "int8", "--student", "ada", "--runs", "3",
                        "--output", str(out), *QUICK])
    assert code == 0
    return out


def test_submit_runs_each_model_n_times_into_its_own_evidence_folders(submitted: Path) -> None:
    data = json.loads((submitted / "submission.json").read_text())
    evidence = data["evidence"]
    assert evidence["format"] == "tinyperf-evidence/2"
    assert [run["trace"] for run in evidence["optimized"]] == [
        f"submission-evidence/optimized/run-{k}/trace.npz" for k in (1, 2, 3)]
    started = [RunResult.model_validate_json((submitted / run["result"]).read_text()).started_at
               for k in range(3) for run in (evidence["baseline"][k], evidence["optimized"][k])]
    assert started == sorted(started)  # interleaved: baseline 1, optimized 1, baseline 2, ...
    assert "Welch t on log run figures (3 and 3 runs' medians)" in data["harness"]["interval_method"]
    low, high = data["harness"]["speedup_median_interval"]
    assert low <= data["harness"]["speedup_median"] <= high
    assert judge_submission(data, submitted).valid


def test_submit_refuses_a_run_count_out_of_range(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = submit_main(["--baseline", "sut.digit_mlp", "--runs", "0", "--output", str(tmp_path / "x"), *QUICK])
    assert code == 2 and "--runs 0: allowed 1 to 100" in capsys.readouterr().err


def test_the_leaderboard_decides_ties_over_the_runs(submitted: Path, tmp_path: Path) -> None:
    """Two repeated-run submissions side by side: their neighbours' decision is the Welch t over their runs."""
    subs = tmp_path / "subs"
    shutil.copytree(submitted, subs / "ada")
    data = json.loads((submitted / "submission.json").read_text())
    other = subs / "bob"
    other.mkdir()
    kept = {side: [submitted / Path(run["result"]).parent for run in data["evidence"][side][:2]]
            for side in ("baseline", "optimized")}
    for side, folders in kept.items():  # bob: ada's first two runs a side, as a submission of its own
        for k, folder in enumerate(folders, 1):
            shutil.copytree(folder, other / side / f"run-{k}")
    results = {side: [RunResult.model_validate_json((other / side / f"run-{k}" / "result.json").read_text())
                      for k in (1, 2)] for side in kept}
    facts = {side: {key: data[side]["metrics"][key] for key in ("parameter_count", "model_size_mb", "accuracy")}
             | {"name": data[side]["model_name"]} for side in kept}
    bob = build_submission(results["baseline"], results["optimized"], facts["baseline"], facts["optimized"],
                           ["int8"], "bob", build_evidence(other, {side: [other / side / f"run-{k}" for k in (1, 2)]
                                                                  for side in kept}))
    (other / "submission.json").write_text(json.dumps(bob))
    assert leaderboard_main([str(subs), "--practice"]) == 0
    board = json.loads((subs / "leaderboard.json").read_text())
    sprint = board["events"]["latency_sprint"]
    assert [len(s["runs"]) for s in sprint] in ([3, 2], [2, 3])
    decision = sprint[1]["against_above"]
    assert decision["rule"] == RULE_RUNS and decision["tied"] == (sprint[1]["rank"] == sprint[0]["rank"])
    assert any(f"this entry's {a} runs against the {b} above" in decision["detail"] for a, b in ((2, 3), (3, 2)))
    markdown = (subs / "leaderboard.md").read_text()
    assert f"by {RULE_RUNS}:" in markdown and "verified, 3 runs" in markdown and "verified, 2 runs" in markdown
