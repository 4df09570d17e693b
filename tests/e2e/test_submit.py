"""`python -m loadgen.submit` end to end: the submission it writes, and edited copies rejected.

One submission of the example student model (baseline) against its int8 copy is made with
short settings; `python -m loadgen.validate` must pass it and must reject, each with its
reason and exit code 1, copies with a changed latency, a numpy-typed value, a missing
field and a tampered evidence file.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from loadgen.capstone.schema import RTOL
from loadgen.results.files import sha256_file

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "student_model.py"
QUICK = ["--set", "min_duration_ms=300", "--set", "warmup_ms=0", "--set", "single_stream_expected_latency_ns=2000"]
"""A short run, sized in advance: a pilot on a busy machine can size a schedule that ends
before min_duration; a generous size only makes it longer than needed."""
EXIT_INVALID = 3  # the one exit-code table: completed, verdict negative
FAILING_MODEL = '''
import numpy as np

class Exploding:
    """A plain model that raises once it has answered the accuracy pass."""
    def __init__(self):
        self.calls = 0
        self.W = np.zeros((64, 10), dtype=np.float32)
    def forward(self, x):
        self.calls += 1
        if self.calls > 300:
            raise RuntimeError("model exploded")
        return np.asarray(x.data).reshape(len(x.data), -1) @ self.W
    def parameters(self):
        return [self.W]

model = Exploding()
'''


def python_m(module: str, *args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-m", module, *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def submit(output: Path, baseline: str, optimized: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return python_m(
        "loadgen.submit", "--baseline", baseline, "--optimized", optimized, "--techniques", "quantization",
        "--output", output, *extra, *QUICK, cwd=output.parent.parent,
    )


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """The folder of one generated submission, and the command's outcome."""
    folder = tmp_path_factory.mktemp("submit") / "hand-in"
    done = submit(folder / "submission.json", f"{EXAMPLE}:model", f"{EXAMPLE}:optimized", "--student", "Ada")
    return folder, done


@pytest.fixture
def copy(made: tuple[Path, Any], tmp_path: Path) -> Path:
    """A private copy of the submission's folder, free to tamper with."""
    return Path(shutil.copytree(made[0], tmp_path / "hand-in"))


def load(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / "submission.json").read_text(encoding="utf-8"))
    return data


def save(folder: Path, data: dict[str, Any]) -> None:
    (folder / "submission.json").write_text(json.dumps(data, indent=2), encoding="utf-8")


def validate(folder: Path) -> subprocess.CompletedProcess[str]:
    return python_m("loadgen.validate", folder / "submission.json", cwd=folder)


def test_submit_writes_a_submission_in_the_course_schema(made: tuple[Path, Any]) -> None:
    folder, done = made
    assert done.returncode == 0, done.stdout + done.stderr
    data = load(folder)
    assert data["tinytorch_version"] == "0.1.0" and data["submission_type"] == "capstone_benchmark"
    assert data["student_name"] == "Ada" and data["division"] == "closed"
    assert data["optimized"]["techniques_applied"] == ["quantization"]
    assert {"platform", "python_version", "numpy_version"} <= set(data["system_info"])
    for side in ("baseline", "optimized"):
        metrics = data[side]["metrics"]
        assert all(type(value) in (int, float) and math.isfinite(value) and value > 0 for value in metrics.values())
        assert type(metrics["parameter_count"]) is int and metrics["parameter_count"] == 2410
        assert metrics["latency_ms_median"] <= metrics["latency_ms_p95"] <= metrics["latency_ms_p99"]
        assert metrics["accuracy"] >= 0.90
    base, opt = data["baseline"]["metrics"], data["optimized"]["metrics"]
    recomputed = {
        "speedup": base["latency_ms_mean"] / opt["latency_ms_mean"],  # the course's formula
        "compression_ratio": base["model_size_mb"] / opt["model_size_mb"],
        "accuracy_delta": opt["accuracy"] - base["accuracy"],
    }
    for name, value in recomputed.items():
        assert math.isclose(data["improvements"][name], value, rel_tol=RTOL, abs_tol=1e-12), name
    assert base["model_size_mb"] == 2410 * 4 / 2**20  # float32 parameters, in MiB
    assert data["harness"]["speedup_median"] == base["latency_ms_median"] / opt["latency_ms_median"]
    low, high = data["harness"]["speedup_median_interval"]
    assert low <= data["harness"]["speedup_median"] <= high


def test_it_passes_the_courses_own_schema_check(made: tuple[Path, Any]) -> None:
    """Module 20's validate_submission_schema (through the replica of the course) accepts it."""
    sys.path.insert(0, str(REPO / "tests" / "replica"))
    try:
        import course_capstone

        assert course_capstone.validate_submission_schema(load(made[0])) is True
    finally:
        sys.path.remove(str(REPO / "tests" / "replica"))
        for name in [name for name in sys.modules if name == "course_capstone" or name.startswith("tinytorch")]:
            del sys.modules[name]


def test_the_evidence_sits_beside_the_submission_and_is_referenced(made: tuple[Path, Any]) -> None:
    folder, done = made
    data = load(folder)
    evidence = data["evidence"]
    for side in ("baseline", "optimized"):
        run = folder / "submission-evidence" / side
        assert {"result.json", "trace.npz", "mlperf_log_summary.txt", "mlperf_log_accuracy.json"} <= {
            path.name for path in run.iterdir()
        }
        assert evidence[side] == {
            "result": f"submission-evidence/{side}/result.json",
            "trace": f"submission-evidence/{side}/trace.npz",
        }
        result = json.loads((run / "result.json").read_text(encoding="utf-8"))
        assert result["mode"] == "SubmissionRun" and result["scenario"] == "SingleStream" and result["valid"]
        assert result["settings_requested"]["qsl_rng_seed"] == 42  # the capstone rules, shortened by --set
        assert result["settings_requested"]["min_duration_ms"] == 300
        assert result["fingerprint"]["hardware_hash"] == evidence["hardware_hash"]
        for name in ("result", "trace"):
            assert sha256_file(folder / evidence[side][name]) == evidence["sha256"][evidence[side][name]]
    assert "speedup = baseline_time / optimized_time (latency_ms_mean)" in done.stdout
    assert "harness.speedup_median = " in done.stdout
    assert "compression ratio = baseline_size / optimized_size" in done.stdout
    assert "latency_sprint: eligible" in done.stdout


def test_the_validator_passes_it(made: tuple[Path, Any]) -> None:
    folder, _ = made
    checked = validate(folder)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    *_, verdict, compliance = checked.stdout.splitlines()
    assert verdict == "submission VALID"
    assert "error:" not in checked.stdout
    # a practice run shortened with --set is a valid file, but not compliant with the capstone rules
    assert compliance.startswith("NOT COMPLIANT: baseline: min_duration_ms = 300, the capstone rules require >= 5000")
    strict = python_m("loadgen.validate", folder / "submission.json", "--strict", cwd=folder)
    assert strict.returncode == EXIT_INVALID and "NOT COMPLIANT" in strict.stdout


def change_latency(data: dict[str, Any], folder: Path) -> None:
    data["baseline"]["metrics"]["latency_ms_mean"] *= 1.5


def change_latency_and_speedup(data: dict[str, Any], folder: Path) -> None:
    """A careful forger: the improvements still recompute, only the trace disagrees."""
    data["baseline"]["metrics"]["latency_ms_mean"] *= 1.05
    base, opt = data["baseline"]["metrics"], data["optimized"]["metrics"]
    data["improvements"]["speedup"] = base["latency_ms_mean"] / opt["latency_ms_mean"]


def numpy_dict(data: dict[str, Any], folder: Path) -> None:
    data["optimized"]["metrics"]["accuracy"] = {"value": data["optimized"]["metrics"]["accuracy"], "dtype": "float32"}


def numpy_repr(data: dict[str, Any], folder: Path) -> None:
    data["baseline"]["metrics"]["latency_ms_p99"] = f"np.float32({data['baseline']['metrics']['latency_ms_p99']})"


def missing_field(data: dict[str, Any], folder: Path) -> None:
    del data["baseline"]["metrics"]["parameter_count"]


def missing_improvement(data: dict[str, Any], folder: Path) -> None:
    del data["improvements"]["compression_ratio"]


def append_byte(relative: str) -> Callable[[dict[str, Any], Path], None]:
    def tamper(data: dict[str, Any], folder: Path) -> None:
        with (folder / relative).open("ab") as handle:
            handle.write(b"\n")

    return tamper


@pytest.mark.parametrize(
    ("edit", "reasons"),
    [
        (change_latency, ["improvements.speedup is", "baseline.metrics.latency_ms_mean is", "the trace gives"]),
        (change_latency_and_speedup, ["baseline.metrics.latency_ms_mean is", "the trace gives"]),
        (numpy_dict, ["optimized.metrics.accuracy: expected a plain number", "an object with keys"]),
        (numpy_repr, ["baseline.metrics.latency_ms_p99: expected a plain number", "np.float32("]),
        (missing_field, ["baseline.metrics.parameter_count: missing required field"]),
        (missing_improvement, ["improvements.compression_ratio: missing required field"]),
        (append_byte("submission-evidence/baseline/result.json"), ["baseline/result.json: sha256 differs"]),
        (append_byte("submission-evidence/optimized/trace.npz"), ["optimized/trace.npz: sha256 differs"]),
    ],
    ids=[
        "changed-latency",
        "changed-latency-consistent-speedup",
        "numpy-dict-value",
        "numpy-repr-string",
        "missing-metric",
        "missing-improvement",
        "tampered-result-json",
        "tampered-trace",
    ],
)
def test_an_edited_copy_is_rejected_with_its_reason(
    copy: Path, edit: Callable[[dict[str, Any], Path], None], reasons: list[str]
) -> None:
    data = load(copy)
    edit(data, copy)
    save(copy, data)
    checked = validate(copy)
    assert checked.returncode == EXIT_INVALID, checked.stdout + checked.stderr
    assert checked.stdout.splitlines()[-2] == "submission INVALID"
    errors = "\n".join(line for line in checked.stdout.splitlines() if line.startswith("error:"))
    for reason in reasons:
        assert reason in errors, f"{reason!r} not in:\n{checked.stdout}"


def test_a_failing_run_writes_its_evidence_but_no_submission(tmp_path: Path) -> None:
    (tmp_path / "exploding.py").write_text(FAILING_MODEL, encoding="utf-8")
    output = tmp_path / "out" / "submission.json"
    done = submit(output, f"{EXAMPLE}:model", f"{tmp_path / 'exploding.py'}:model")
    assert done.returncode == 1, done.stdout + done.stderr  # the run aborted: an error, not a verdict
    assert "the optimized run failed: the SUT raised RuntimeError in issue_query: model exploded" in done.stderr
    assert not output.exists()
    for side in ("baseline", "optimized"):
        assert (tmp_path / "out" / "submission-evidence" / side / "result.json").is_file()


def test_bad_usage_exits_2_before_anything_runs(tmp_path: Path) -> None:
    output = tmp_path / "out" / "submission.json"
    done = submit(output, "sut.fixed_time", f"{EXAMPLE}:optimized", "--set", "scenario=Offline")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "scenario = Offline: the capstone rules fix it to SingleStream" in done.stderr
    assert "--baseline sut.fixed_time: SUT 'FixedTimeSUT(100us x 1)' has no labelled dataset" in done.stderr
    assert "does not say its parameter_count and model_size_mb" in done.stderr
    assert not (tmp_path / "out").exists()
