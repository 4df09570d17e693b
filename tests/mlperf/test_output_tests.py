"""TEST06, TEST07 and TEST09 pass on an honest token SUT and fail on one built to cheat each
rule; the command writes MLPerf's audit layout; upstream's scripts agree when a checkout of
mlcommons/inference is named by MLPERF_INFERENCE_DIR."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from loadgen.benchmark.runner import run_benchmark
from loadgen.cli.compliance import main as compliance_main
from loadgen.errors import SettingsError
from loadgen.mlperf.compliance import run_compliance
from loadgen.mlperf.output_tests import FirstTokenSUT, OutputRules, audit_config_bounds, tokens_of, trailing_eos
from loadgen.settings.model import TestSettings

sys.path.insert(0, str(Path(__file__).parent))
from token_sut import LENGTH, TokenSUT

REPO = Path(__file__).resolve().parents[2]
TOKEN_SUT = str(Path(__file__).parent / "token_sut.py") + ":TokenSUT"
SHORT: dict[str, dict[str, Any]] = {
    "Offline": dict(scenario="Offline", min_duration_ms=50, min_query_count=64, offline_expected_qps=2000.0,
                    warmup_ms=0),
    "Server": dict(scenario="Server", min_duration_ms=100, min_query_count=64, server_target_qps=1000.0,
                   server_target_latency_ns=1_000_000_000, warmup_ms=0),
}
RULES = OutputRules(accuracy_threshold=0.9, min_output_tokens=LENGTH - 1, max_output_tokens=LENGTH + 1)


def judge(test: str, cheat: str = "", scenario: str = "Server", answer: str = "tokens") -> tuple[bool, list[str]]:
    sut = TokenSUT(cheat, answer=answer)
    watched = FirstTokenSUT(sut)
    settings = TestSettings.model_validate(SHORT[scenario])
    outcome = run_compliance(test, lambda s: run_benchmark(watched, sut.qsl, s), settings, RULES,
                             sut.qsl.labels, watched.first_tokens)
    assert outcome.aborted is None, outcome.aborted.error if outcome.aborted else None
    assert outcome.verdict is not None
    return outcome.verdict.passed, outcome.verdict.lines()


@pytest.mark.parametrize("scenario", ["Server", "Offline"])
def test_test06_passes_an_honest_token_sut(scenario: str) -> None:
    passed, lines = judge("TEST06", scenario=scenario)
    assert passed, lines
    expected = "Skipped" if scenario == "Offline" else "True"
    assert f"TEST06: First token check pass: {expected}" in lines


@pytest.mark.parametrize(
    ("cheat", "broken"),
    [
        ("first_token", "First token check pass: False"),
        ("eos", "EOS check pass: False"),
        ("count", "Sample length check pass: False"),
    ],
)
def test_test06_fails_a_sut_built_to_cheat_each_rule(cheat: str, broken: str) -> None:
    passed, lines = judge("TEST06", cheat)
    assert not passed
    assert f"TEST06: {broken}" in lines
    assert lines[-1].startswith("TEST FAIL")


def test_test07_passes_an_accurate_sut_and_fails_one_that_skips_work() -> None:
    passed, lines = judge("TEST07", answer="class", scenario="Offline")
    assert passed, lines
    passed, lines = judge("TEST07", cheat="guess", answer="class", scenario="Offline")
    assert not passed
    assert "below the threshold 0.9" in lines[-1]


def test_test09_passes_full_outputs_and_fails_truncated_ones() -> None:
    passed, lines = judge("TEST09", scenario="Offline")
    assert passed, lines
    assert f"TEST09: Mean output tokens: {LENGTH:.2f}" in lines
    passed, lines = judge("TEST09", cheat="truncate", scenario="Offline")
    assert not passed
    assert "are outputs truncated?" in lines[-1]


def test_eos_and_token_decoding_follow_upstream() -> None:
    tokens = tokens_of(np.array([7, 2, 2], dtype=np.int32).tobytes().hex(), "int32")
    assert tokens.tolist() == [7, 2, 2] and trailing_eos(tokens, 2) == 2
    assert trailing_eos(np.array([2], dtype=np.int32), 2) == 0  # position 0 is never examined
    assert tokens_of("0100000002", "int32").tolist() == [1]  # a partial token is dropped


def compliance(args: list[str], out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loadgen.compliance", *args, "--output", str(out), "--no-progress",
         "--sut", TOKEN_SUT, "--scenario", "offline", "--set", "min_duration_ms=50", "--set", "min_query_count=64",
         "--set", "offline_expected_qps=2000", "--set", "warmup_ms=0"],
        cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)), capture_output=True, text=True, timeout=120,
    )


COMMON = ["--no-progress", "--sut", TOKEN_SUT, "--scenario", "offline", "--set", "min_duration_ms=50",
          "--set", "min_query_count=64", "--set", "offline_expected_qps=2000", "--set", "warmup_ms=0"]


def test_the_command_writes_the_audit_layout_and_exits_0_or_3(tmp_path: Path) -> None:
    """In process (main() is what `python -m loadgen.compliance` runs), to keep the suite quick."""
    bounds = ["--min-output-tokens", str(LENGTH - 1), "--max-output-tokens", str(LENGTH + 1)]
    assert compliance_main(["TEST09", *bounds, *COMMON, "--output", str(tmp_path / "pass")]) == 0
    audit = tmp_path / "pass" / "TEST09"
    assert (audit / "verify_output_len.txt").read_text().splitlines()[-1] == "TEST PASS"
    entries = json.loads((audit / "accuracy" / "mlperf_log_accuracy.json").read_text())
    assert entries and {"seq_id", "qsl_idx", "data", "token_count"} <= set(entries[0])
    assert (audit / "performance" / "run_1" / "mlperf_log_detail.txt").is_file()
    assert (audit / "performance" / "run_1" / "mlperf_log_summary.txt").is_file()
    assert (tmp_path / "pass" / "verification.txt").read_text().splitlines()[-1] == "TEST PASS"
    failing = ["TEST09", *bounds, "--sut-arg", "cheat=truncate", *COMMON, "--output", str(tmp_path / "fail")]
    assert compliance_main(failing) == 3
    assert "TEST FAIL" in (tmp_path / "fail" / "TEST09" / "verify_output_len.txt").read_text()


def test_missing_bounds_are_refused_before_anything_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert compliance_main(["TEST09", "--min-output-tokens", "3", *COMMON, "--output", str(tmp_path / "out")]) == 2
    assert "--max-output-tokens" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


UPSTREAM = os.environ.get("MLPERF_INFERENCE_DIR")


@pytest.mark.skipif(not UPSTREAM, reason="set MLPERF_INFERENCE_DIR to a checkout of mlcommons/inference "
                    "to run its compliance/TESTxx/run_verification.py on our audit folders")
@pytest.mark.parametrize("cheat", ["", "eos"])
def test_upstream_test06_script_agrees(cheat: str, tmp_path: Path) -> None:
    out = tmp_path / "ours"
    done = compliance(["TEST06", *(["--sut-arg", f"cheat={cheat}"] if cheat else [])], out)
    assert done.returncode == (3 if cheat else 0), done.stderr[-2000:]
    script = Path(str(UPSTREAM)) / "compliance" / "TEST06" / "run_verification.py"
    theirs = subprocess.run(
        [sys.executable, str(script), "-c", str(out / "TEST06" / "accuracy"), "-o", str(tmp_path / "upstream"),
         "-s", "Offline"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert ("TEST06 verification complete" in theirs.stdout) == (not cheat), theirs.stdout + theirs.stderr


@pytest.mark.skipif(not UPSTREAM, reason="set MLPERF_INFERENCE_DIR to a checkout of mlcommons/inference "
                    "to run its compliance/TESTxx/run_verification.py on our audit folders")
def test_upstream_test09_script_agrees(tmp_path: Path) -> None:
    bounds = ["--min-output-tokens", str(LENGTH - 1), "--max-output-tokens", str(LENGTH + 1)]
    out = tmp_path / "ours"
    assert compliance(["TEST09", *bounds], out).returncode == 0
    script = Path(str(UPSTREAM)) / "compliance" / "TEST09" / "run_verification.py"
    theirs = subprocess.run(
        [sys.executable, str(script), "-c", str(out / "TEST09" / "accuracy"), "-o", str(tmp_path / "upstream"),
         *bounds], cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert theirs.returncode == 0 and "Overall: TEST PASS" in theirs.stdout, theirs.stdout + theirs.stderr


def test_bounds_come_from_an_upstream_audit_config_and_the_options_win(tmp_path: Path) -> None:
    audit = tmp_path / "audit.config"
    audit.write_text("*.*.mode = 2\n*.*.test09_min_output_tokens = 5.5  \n*.*.test09_max_output_tokens = 6.5\n"
                     "*.*.test07_accuracy_threshold = 0.25\n")
    assert audit_config_bounds(audit, "Offline") == {
        "accuracy_threshold": 0.25, "min_output_tokens": 5.5, "max_output_tokens": 6.5}
    out = tmp_path / "out"
    assert compliance_main(["TEST09", "--audit-config", str(audit), *COMMON, "--output", str(out)]) == 0
    assert "Min threshold: 5.5" in (out / "TEST09" / "verify_output_len.txt").read_text()
    audit.write_text("*.*.test09_min_output_tokens = many\n")
    with pytest.raises(SettingsError, match=r"audit\.config:1: .*test09_min_output_tokens.* not a number"):
        audit_config_bounds(audit, "Offline")
