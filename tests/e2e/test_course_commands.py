"""Every command a student types, with the course's TinyTorch installed (the replica in tests/replica
on PYTHONPATH, as `pip install -e` of the course puts it), and the folder traps around it."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
REPLICA = REPO / "tests" / "replica"
SHORT = [
    "--set", "min_duration_ms=200", "--set", "min_query_count=50", "--set", "warmup_ms=0", "--no-progress",
    "--set", "single_stream_expected_latency_ns=20000", "--set", "offline_expected_qps=20000000",
]
"""A short run sized in advance: on a busy machine a pilot can size a schedule that ends before min_duration."""
EXIT_USAGE, EXIT_INVALID = 2, 3
STUDENT = '''
"""A student's capstone file: the course's own classes, the shipped trained weights."""
import numpy as np
from tinytorch import Linear, ReLU, Tensor
from tinytorch.nn import Sequential
from tinytorch.perf.quantization import QuantizedLinear

weights = np.load(WEIGHTS)
fc1, fc2 = Linear(64, 32), Linear(32, 10)
fc1.weight, fc1.bias = Tensor(weights["0.weight"]), Tensor(weights["0.bias"])
fc2.weight, fc2.bias = Tensor(weights["2.weight"]), Tensor(weights["2.bias"])
model = Sequential(fc1, ReLU(), fc2)
optimized = Sequential(QuantizedLinear(fc1), ReLU(), QuantizedLinear(fc2))
'''


def python_m(module: str, *args: str | Path, cwd: Path, course: bool = True) -> subprocess.CompletedProcess[str]:
    paths = [str(REPLICA)] if course else []
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([*paths, str(REPO)]))
    return subprocess.run(
        [sys.executable, "-m", module, *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True, timeout=180
    )


@pytest.fixture(scope="module")
def student(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("student")
    source = STUDENT.replace("WEIGHTS", repr(str(REPO / "sut" / "data" / "digit_mlp.npz")))
    (folder / "capstone.py").write_text(source, encoding="utf-8")
    return folder


def result(folder: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((folder / "result.json").read_text(encoding="utf-8"))
    return data


@pytest.mark.parametrize("model_name", ["digit_mlp", "digit_mlp_int8"])  # every variant in-process: tests/sut
def test_the_default_sut_and_its_variants_run_valid_with_the_course(tmp_path: Path, model_name: str) -> None:
    scenario = "offline" if model_name == "digit_mlp" else "single_stream"  # the README's first command's scenario
    done = python_m(
        "loadgen.run", "--scenario", scenario, "--sut-arg", f"model_name={model_name}", *SHORT,
        "--output", tmp_path / "out", cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert result(tmp_path / "out")["valid"] is True


def test_a_course_model_scores_in_accuracy_mode_what_its_classes_compute(student: Path, tmp_path: Path) -> None:
    sys.path.insert(0, str(REPLICA))
    sys.path.insert(0, str(student))
    try:
        import capstone
        from tinytorch import Tensor

        from sut.tinydigits import load_tinydigits

        images, labels = load_tinydigits("test")
        logits = capstone.model.forward(Tensor(images.reshape(len(images), -1))).data
        direct = float(np.mean(np.argmax(logits, axis=1) == labels))
    finally:
        sys.path.remove(str(REPLICA))
        sys.path.remove(str(student))
        for name in [name for name in sys.modules if name.split(".")[0] in ("tinytorch", "capstone")]:
            del sys.modules[name]
    done = python_m(
        "loadgen.run", "--scenario", "offline", "--mode", "accuracy", "--sut", f"{student / 'capstone.py'}:model",
        "--output", tmp_path / "acc", "--no-progress", cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    accuracy = result(tmp_path / "acc")["accuracy"]
    assert isinstance(accuracy, dict) and accuracy["top1"] == direct


def test_submit_with_the_courses_quantized_linear(student: Path, tmp_path: Path) -> None:
    out = tmp_path / "hand-in" / "submission.json"
    done = python_m(
        "loadgen.submit", "--baseline", f"{student / 'capstone.py'}:model",
        "--optimized", f"{student / 'capstone.py'}:optimized", "--techniques", "int8 quantization",
        "--output", out, "--set", "min_duration_ms=500", "--set", "min_query_count=100", "--no-progress", cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads(out.read_text(encoding="utf-8"))
    base, opt = data["baseline"]["metrics"], data["optimized"]["metrics"]
    assert 3.9 < data["improvements"]["compression_ratio"] < 4.0  # QuantizedLinear's own memory_usage()
    speedup = base["latency_ms_mean"] / opt["latency_ms_mean"]
    assert math.isclose(data["improvements"]["speedup"], speedup, rel_tol=1e-12)
    checked = python_m("loadgen.validate", out, cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.splitlines()[-2] == "submission VALID"
    assert checked.stdout.splitlines()[-1].startswith("NOT COMPLIANT: baseline: min_duration_ms = 500")


def test_a_baseline_only_submission_on_the_modules_own_data(tmp_path: Path) -> None:
    """Module 20's SimpleMLP() on its toy data via --dataset, submitted baseline-only as the course does."""
    sys.path.insert(0, str(REPLICA))
    try:
        import course_capstone

        features, labels = course_capstone.toy_data()
    finally:
        sys.path.remove(str(REPLICA))
        for name in [name for name in sys.modules if name.split(".")[0] in ("tinytorch", "course_capstone")]:
            del sys.modules[name]
    np.savez(tmp_path / "toy.npz", features=features.data, labels=labels)
    (tmp_path / "mine.py").write_text("from course_capstone import SimpleMLP\nmodel = SimpleMLP()\n", encoding="utf-8")
    out = tmp_path / "only" / "submission.json"
    done = python_m(
        "loadgen.submit", "--baseline", "mine.py:model", "--dataset", "toy.npz", "--output", out,
        "--set", "min_duration_ms=200", "--set", "min_query_count=50", "--no-progress", cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads(out.read_text(encoding="utf-8"))
    assert "optimized" not in data and "improvements" not in data
    assert data["baseline"]["metrics"]["model_size_mb"] == 283 * 8 / 2**20  # float64 weights, as stored
    checked = python_m("loadgen.validate", out, cwd=tmp_path)
    assert checked.returncode == 0 and "submission VALID" in checked.stdout, checked.stdout + checked.stderr


def test_a_bad_dataset_is_one_line_and_exit_2(tmp_path: Path) -> None:
    np.savez(tmp_path / "bad.npz", images=np.ones((4, 3)), labels=np.array([0, 1, 2, 99999999]))
    (tmp_path / "mine.py").write_text("from course_capstone import SimpleMLP\nmodel = SimpleMLP()\n", encoding="utf-8")
    done = python_m("loadgen.run", "--sut", "mine.py:model", "--dataset", "bad.npz", *SHORT, cwd=tmp_path)
    assert done.returncode == EXIT_USAGE
    assert done.stderr.splitlines() == [
        "error: --dataset bad.npz: labels range over [0, 99999999]; allowed: 0 to 99999"
    ], done.stderr


def test_a_clone_of_the_course_named_tinytorch_is_named_not_a_traceback(student: Path, tmp_path: Path) -> None:
    clone = tmp_path / "tinytorch"
    (clone / "datasets").mkdir(parents=True)
    (clone / "README.md").write_text("a clone of the course, not the package\n", encoding="utf-8")
    (tmp_path / "capstone.py").write_text((student / "capstone.py").read_text(encoding="utf-8"), encoding="utf-8")
    alone = python_m("loadgen.run", "--scenario", "single_stream", "--sut", "capstone.py:model", *SHORT, cwd=tmp_path,
                     course=False)
    assert alone.returncode == EXIT_USAGE, alone.stdout + alone.stderr
    [line] = alone.stderr.splitlines()
    assert line.startswith("error: --sut capstone.py: importing it raised ImportError: cannot import name 'Linear'")
    assert f"the folder {clone} is not the course's package but shadows it" in line
    installed = python_m(
        "loadgen.run", "--scenario", "single_stream", "--sut", "capstone.py:model", *SHORT, "--output", "out",
        cwd=tmp_path,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr  # the installed course wins over the folder


def test_the_validator_imports_nothing_from_the_folder_it_runs_in(tmp_path: Path) -> None:
    sys.path.insert(0, str(REPLICA))
    try:
        import course_capstone

        os.chdir(tmp_path)
        try:
            course_capstone.run_example_benchmark()  # the course's own baseline-only capstone_submission.json
        finally:
            os.chdir(REPO)
    finally:
        sys.path.remove(str(REPLICA))
        for name in [name for name in sys.modules if name.split(".")[0] in ("tinytorch", "course_capstone")]:
            del sys.modules[name]
    for trap in ("numpy", "cpuinfo", "pydantic", "loadgen_trap"):
        (tmp_path / f"{trap}.py").write_text(f"open({str(tmp_path / 'RAN')!r}, 'w').write({trap!r})\n")
    done = python_m("loadgen.validate", "capstone_submission.json", cwd=tmp_path, course=False)
    assert not (tmp_path / "RAN").exists()
    assert done.returncode == 0 and "submission VALID" in done.stdout, done.stdout + done.stderr
