"""Bad input to `python -m loadgen.run` exits 2 before anything runs, naming what is wrong and
what is allowed (issue 11, cases 9 and 10); run in-process, as main() refuses before running."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from loadgen.cli.run import main

REPO = Path(__file__).resolve().parents[2]

SUT_FILES = {
    "syntax.py": "class Broken:\n    def issue_query(self, samples)\n        pass\n",
    "needs_torch.py": "import torch_that_is_not_installed\n",
    "raises.py": "raise RuntimeError('no GPU found')\n",
    "exits.py": "import sys\nsys.exit(3)\n",
}


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name, text in SUT_FILES.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "bad_scenario.toml").write_text('scenario = "Sideways"\n')
    (tmp_path / "huge.conf").write_text("*.SingleStream.target_latency = 1e999999\n")
    (tmp_path / "big.toml").write_text("# padding\n" * 200_000)
    return tmp_path


QUICK = ["--no-progress", "--set", "min_duration_ms=100", "--set", "pilot_ms=10"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--sut", "syntax.py:Broken"], ["--sut syntax.py", "SyntaxError at", "syntax.py:2"]),
        (["--sut", "needs_torch.py:make_sut"],
         ["importing it raised ModuleNotFoundError", "torch_that_is_not_installed"]),
        (["--sut", "raises.py:make_sut"], ["importing it raised RuntimeError at", "raises.py:1: no GPU found"]),
        (["--sut", "exits.py:make_sut"], ["importing it raised SystemExit"]),
        (["--sut", "json.decoder.nope:x"], ["module not found"]),
        (["--sut", "not a module"], ["not a module name"]),
        (["--sut", "sut.fixed_time", "--sut-arg", "service_us"], ["--sut-arg service_us: expected KEY=VALUE"]),
        (["--samples", "1000000000000"], ["--samples 1000000000000", "allowed: a whole number from 1 to 64,000,000"]),
        (["--config", "/dev/zero"], ["/dev/zero: larger than 1,048,576 bytes"]),
        (["--config", "big.toml"], ["big.toml: larger than 1,048,576 bytes"]),
        (["--set", "min_duration_ms=" + "9" * 401], ["min_duration_ms", "(401 characters)", "<= 2592000000 (30 days)"]),
        (["--scenario", "single_stream", "--rules", "mlperf", "--user-conf", "huge.conf"],
         ["huge.conf:1: target_latency = 1e999999: must be at most 1E+30 in magnitude"]),
        (["--scenario", "bad_scenario.toml", "--rules", "mlperf"],
         ["bad_scenario.toml: scenario: unknown scenario 'Sideways'"]),
        (["--scenario", "server", "--set", "server_target_qps=1e-9"], ["server_target_qps = 1e-09", ">= 0.01"]),
        (["--scenario", "server", "--set", "server_target_qps=1e-3"], ["server_target_qps = 0.001", ">= 0.01"]),
        (["--scenario", "server", "--set", "server_target_qps=0.02", "--set", "max_duration_ms=1000"],
         ["first query is due at 34.0 s", "after max_duration_ms = 1,000"]),
        (["--scenario", "server", "--set", "server_target_qps=1e9", "--set", "min_duration_ms=600000"],
         ["would hold 600,000,000,000 samples, more than the 64,000,000 a run may trace"]),
        (["--scenario", "multi_stream", "--set", "min_query_count=10000000"],
         ["needs at least 80,000,000 samples (min_query_count = 10,000,000 x 8 a query)"]),
    ],
)
def test_bad_input_exits_2_before_anything_runs(
    args: list[str], words: list[str], folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main([*QUICK, *args])
    err = capsys.readouterr().err
    assert code == 2, err
    for word in words:
        assert word in err
    assert "Traceback" not in err
    assert not (folder / "results").exists()


def test_a_sut_file_with_a_syntax_error_exits_2_from_the_real_command(folder: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "loadgen.run", "--sut", "syntax.py:Broken"],
        cwd=folder, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "error: --sut syntax.py: SyntaxError at" in done.stderr and "Traceback" not in done.stderr
