"""The command line as a user runs it: `python -m loadgen.run ...` in a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from loadgen.cli.progress import READY_LINE

REPO = Path(__file__).resolve().parents[2]
QUICK = ["--set", "min_duration_ms=300", "--set", "pilot_ms=50", "--set", "warmup_ms=0"]

BROKEN_SUTS = '''
import threading

class Raising:
    name = "Raising"
    def issue_query(self, samples):
        raise ValueError("model exploded")
    def flush_queries(self):
        pass

class Silent:
    name = "Silent"
    def issue_query(self, samples):
        pass
    def flush_queries(self):
        pass

class Twice:
    name = "Twice"
    def issue_query(self, samples):
        samples.complete()
        samples.complete()
    def flush_queries(self):
        pass

class Slow:
    name = "Slow"
    def issue_query(self, samples):
        threading.Timer(0.001, samples.complete).start()
    def flush_queries(self):
        pass

class SlowSays:
    """Slow, and says on stderr when its 20th sample is done, so a test knows samples were recorded."""
    name = "SlowSays"
    def __init__(self):
        self.done = 0
        self.lock = threading.Lock()
    def issue_query(self, samples):
        threading.Timer(0.001, self.finish, (samples,)).start()
    def finish(self, samples):
        samples.complete()
        with self.lock:
            self.done += 1
            if self.done == 20:
                import sys
                print("SUT: 20 samples done", file=sys.stderr, flush=True)
    def flush_queries(self):
        pass

class Hangs:
    name = "Hangs"
    def issue_query(self, samples):
        import time
        time.sleep(60)
    def flush_queries(self):
        pass

class NotASut:
    name = "NotASut"
'''


def loadgen_run(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-m", "loadgen.run", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
    )


class StderrLines:
    """A child's stderr read line by line in the background, so a test can wait for a line
    (a readiness line) instead of sleeping a fixed time."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self.changed = threading.Condition()
        self.reader = threading.Thread(target=self._read, args=(process,), daemon=True)
        self.reader.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stderr is not None
        for line in process.stderr:
            with self.changed:
                self.lines.append(line)
                self.changed.notify_all()
        with self.changed:
            self.lines.append("")  # end of stream
            self.changed.notify_all()

    def wait_for(self, start: str, timeout: float = 120) -> bool:
        with self.changed:
            return self.changed.wait_for(
                lambda: any(line.startswith(start) for line in self.lines) or "" in self.lines, timeout
            ) and any(line.startswith(start) for line in self.lines)

    def text(self) -> str:
        """Everything read so far (all of it once the child has ended)."""
        self.reader.join(timeout=1)
        with self.changed:
            return "".join(self.lines)


def read_result(folder: Path) -> dict:
    return json.loads((folder / "result.json").read_text())


@pytest.mark.parametrize("scenario", ["single_stream", "multi_stream", "server", "offline"])
def test_each_scenario_is_valid_on_the_default_sut(scenario: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = loadgen_run(
        "--scenario", scenario, "--output", str(out), "--trace", *QUICK, "--set", "min_duration_ms=1000", cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = read_result(out)
    assert result["valid"] is True and result["invalid_reasons"] == []
    assert result["sut_name"].startswith("DigitMLP")
    assert "Result is : VALID" in (out / "mlperf_log_summary.txt").read_text()
    assert json.loads((out / "mlperf_log_trace.json").read_text())["traceEvents"]
    assert set(result["files"]) == {
        "trace.npz", "mlperf_log_summary.txt", "mlperf_log_detail.txt", "mlperf_log_trace.json"
    }
    assert "VALID" in done.stdout


def test_default_output_folder_is_timestamped_under_results(tmp_path: Path) -> None:
    done = loadgen_run("--scenario", "Offline", "--sut", "sut.null", *QUICK, "--set", "min_duration_ms=0", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (folder,) = (tmp_path / "results").iterdir()
    assert folder.name.endswith("-Offline")
    assert read_result(folder)["scenario"] == "Offline"


def test_sut_args_reach_the_factory(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = loadgen_run(
        "--scenario", "single_stream", "--sut", "sut.fixed_time", "--sut-arg", "service_us=500",
        "--output", str(out), *QUICK, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    result = read_result(out)
    assert result["sut_name"] == "FixedTimeSUT(500us x 1)"
    assert result["metrics"]["latency"]["min_ns"] >= 500_000


@pytest.mark.parametrize(
    ("sut", "extra", "code", "words"),
    [
        ("Raising", [], 1, "ValueError in issue_query: model exploded"),
        ("Silent", ["--set", "sample_timeout_ms=300"], 1, "none completed"),
        ("Twice", [], 1, "completed sample id 1 twice"),
        ("Hangs", ["--set", "sample_timeout_ms=500"], 1, "issue_query did not return, and completed nothing"),
    ],
)
def test_a_broken_sut_exits_with_a_reason_and_writes_results(
    sut: str, extra: list[str], code: int, words: str, tmp_path: Path
) -> None:
    (tmp_path / "broken.py").write_text(BROKEN_SUTS)
    out = tmp_path / "out"
    done = loadgen_run(
        "--scenario", "server", "--sut", f"broken.py:{sut}", "--set", "server_target_qps=100",
        "--output", str(out), *QUICK, *extra, cwd=tmp_path,
    )
    assert done.returncode == code, done.stderr
    assert words in done.stderr
    result = read_result(out)
    assert result["valid"] is False
    assert any(words in reason for reason in result["invalid_reasons"])
    assert "Result is : INVALID" in (out / "mlperf_log_summary.txt").read_text()


def test_sigint_writes_what_was_recorded_and_exits_130(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text(BROKEN_SUTS)
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    process = subprocess.Popen(
        [sys.executable, "-m", "loadgen.run", "--scenario", "server", "--sut", "broken.py:SlowSays",
         "--set", "warmup_ms=0", "--set", "server_target_qps=200", "--set", "min_duration_ms=60000",
         "--output", str(out), "--no-progress"],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    lines = StderrLines(process)
    assert lines.wait_for(READY_LINE), lines.text()  # the timed run has started
    assert lines.wait_for("SUT: 20 samples done"), lines.text()  # and has recorded samples
    process.send_signal(signal.SIGINT)
    process.wait(timeout=60)
    stderr = lines.text()
    assert process.returncode == 130, stderr
    result = read_result(out)
    assert result["valid"] is False
    assert "interrupted" in result["error"]
    assert result["metrics"]["samples_completed"] > 0


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--set", "server_target_qps=-5"],
         ["--set server_target_qps=-5", "allowed: a number >= 0.01 and <= 1e+09"]),
        (["--set", "min_duraton_ms=5"], ["unknown setting 'min_duraton_ms'", "did you mean 'min_duration_ms'"]),
        (["--set", "min_query_count=abc"], ["min_query_count", "valid integer"]),
        (["--set", "min_duration_ms=5", "--set", "max_duration_ms=1"], ["must not exceed", "from --set"]),
        (["--scenario", "sideways"], ["neither a scenario name"]),
        (["--sut", "no_such_module_xyz"], ["module not found"]),
        (["--sut", "broken.py:NotASut"], ["is not a SUT", "issue_query"]),
        (["--config", "missing.toml"], ["missing.toml: file not found"]),
        (["--set", "performance_sample_count_override=100000"], ["exceeds the QSL's 200 samples"]),
    ],
)
def test_bad_settings_exit_2_before_anything_runs(args: list[str], words: list[str], tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text(BROKEN_SUTS)
    done = loadgen_run(*args, cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    for word in words:
        assert word in done.stderr
    assert not (tmp_path / "results").exists()


def test_a_bad_value_in_a_config_file_names_the_file(tmp_path: Path) -> None:
    config = tmp_path / "user.toml"
    config.write_text("min_query_count = 0\n")
    done = loadgen_run("--config", str(config), cwd=tmp_path)
    assert done.returncode == 2
    assert f"{config}: min_query_count = 0" in done.stderr


def test_print_schema_and_help(tmp_path: Path) -> None:
    schema = loadgen_run("--print-schema", cwd=tmp_path)
    assert schema.returncode == 0
    assert "server_target_qps" in json.loads(schema.stdout)["properties"]
    helped = loadgen_run("--help", cwd=tmp_path)
    assert helped.returncode == 0 and "exit codes" in helped.stdout


def test_accuracy_mode_scores_the_default_model(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = loadgen_run("--scenario", "offline", "--mode", "accuracy", "--output", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = read_result(out)
    assert result["mode"] == "AccuracyOnly"
    assert result["accuracy"]["top1"] >= 0.90
    assert result["model"]["parameter_count"] == 2410
    entries = json.loads((out / "mlperf_log_accuracy.json").read_text())
    assert sorted(entry["qsl_idx"] for entry in entries) == list(range(200))
    assert "mlperf_log_accuracy.json" in result["files"]


def test_submission_mode_runs_accuracy_then_performance(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = loadgen_run("--scenario", "single_stream", "--mode", "submission", "--output", str(out), *QUICK,
                       cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = read_result(out)
    assert result["accuracy"]["top1"] >= 0.90 and result["metrics"]["queries_completed"] >= 100
    assert result["memory"]["rss_peak_bytes"] >= result["memory"]["rss_start_bytes"] > 0


def test_find_peak_searches_server_rates(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = loadgen_run(
        "--scenario", "server", "--mode", "find_peak", "--sut", "sut.fixed_time", "--sut-arg", "service_us=200",
        "--set", "server_target_qps=1600", "--set", "server_find_peak_qps_decimals_of_precision=0",
        "--set", "min_duration_ms=300", "--set", "min_query_count=500", "--set", "warmup_ms=0",
        "--output", str(out), cwd=tmp_path,
    )
    result = read_result(out)
    assert result["mode"] == "FindPeakPerformance"
    rates = [qps for qps, _ in result["peak_search"]]
    assert rates[0] == 1600 and len(rates) >= 3
    assert done.returncode == (0 if result["valid"] else 3)


def test_find_peak_needs_server(tmp_path: Path) -> None:
    done = loadgen_run("--scenario", "offline", "--mode", "find_peak", cwd=tmp_path)
    assert done.returncode == 2
    assert "FindPeakPerformance needs scenario Server" in done.stderr


def test_mlperf_rules_and_user_conf_layer_under_set(tmp_path: Path) -> None:
    (tmp_path / "user.conf").write_text("*.Server.target_qps = 3000\n*.Server.min_duration = 300\n")
    out = tmp_path / "out"
    done = loadgen_run("--scenario", "server", "--rules", "mlperf", "--model", "resnet50", "--user-conf", "user.conf",
                       "--sut", "sut.null", "--set", "min_query_count=500", "--output", str(out), cwd=tmp_path)
    effective = read_result(out)["settings_effective"]
    assert effective["server_target_latency_ns"] == 15_000_000
    assert effective["qsl_rng_seed"] == 2085463073848966840
    assert effective["server_target_qps"] == 3000.0 and effective["min_duration_ms"] == 300
    assert done.returncode in (0, 3)


def test_user_conf_cannot_set_seeds(tmp_path: Path) -> None:
    (tmp_path / "user.conf").write_text("*.*.qsl_rng_seed = 3\n")
    done = loadgen_run("--scenario", "offline", "--rules", "mlperf", "--user-conf", "user.conf", cwd=tmp_path)
    assert done.returncode == 2
    assert "qsl_rng_seed can only come from the official rules file" in done.stderr
