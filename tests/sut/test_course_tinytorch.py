"""The shipped models, the wrapper, model facts and --dataset with the course's own classes.

The replica of the course's TinyTorch (tests/replica, written from its documented behaviour)
is imported for the duration of each test only: its Tensor has no `__array__`, Linear keeps
an (in, out) weight Tensor, nn.Sequential a tuple `.layers`, QuantizedLinear int8 values in
float32 Tensors with its own memory_usage(), SimpleMLP float64 weights.
"""

from __future__ import annotations

import pickle
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from loadgen.benchmark.runner import run_benchmark
from loadgen.errors import SettingsError
from loadgen.settings.model import TestSettings
from sut.datasets import load_dataset_file
from sut.models import MODEL_NAMES, load_model
from sut.tinydigits import load_tinydigits
from sut.tinytorch import model_facts, tensor_factory, wrap_model, wrap_model_over_tinydigits

REPLICA = Path(__file__).resolve().parents[1] / "replica"
MIB = 2**20


@pytest.fixture
def course() -> Iterator[types.SimpleNamespace]:
    """The course's modules, importable as `tinytorch` while the test runs."""
    sys.path.insert(0, str(REPLICA))
    try:
        import course_capstone
        import tinytorch
        import tinytorch.nn as nn
        from tinytorch.perf import compression, quantization

        yield types.SimpleNamespace(
            tt=tinytorch, nn=nn, quantization=quantization, compression=compression, capstone=course_capstone
        )
    finally:
        sys.path.remove(str(REPLICA))
        for name in [name for name in sys.modules if name.split(".")[0] in ("tinytorch", "course_capstone")]:
            del sys.modules[name]


def course_digit_mlp(course: types.SimpleNamespace) -> object:
    """DigitMLP built from the course's classes, carrying the shipped trained weights."""
    state = load_model("digit_mlp").state_dict()
    fc1, fc2 = course.tt.Linear(64, 32), course.tt.Linear(32, 10)
    fc1.weight, fc1.bias = course.tt.Tensor(state["0.weight"]), course.tt.Tensor(state["0.bias"])
    fc2.weight, fc2.bias = course.tt.Tensor(state["2.weight"]), course.tt.Tensor(state["2.bias"])
    return course.nn.Sequential(fc1, course.tt.ReLU(), fc2)


def accuracy_only() -> TestSettings:
    return TestSettings.model_validate(
        {"scenario": "Offline", "mode": "AccuracyOnly", "min_duration_ms": 0, "min_query_count": 1, "pilot_ms": 20}
    )


def test_the_course_tensor_has_no_array_protocol(course: types.SimpleNamespace) -> None:
    """What broke the default command: np.asarray on the course's Tensor does not give its data."""
    with pytest.raises(ValueError, match="sequence"):
        np.asarray(course.tt.Tensor(np.ones((2, 64))), dtype=np.float32)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_shipped_model_takes_and_answers_the_courses_tensor(course: types.SimpleNamespace, name: str) -> None:
    model = load_model(name)
    features = 10 if name == "simple_mlp" else 64
    x = np.random.default_rng(0).random((3, features), dtype=np.float32)
    if name == "tinydigits_cnn":
        x = x.reshape(3, 1, 8, 8)
    out = model.forward(course.tt.Tensor(x))
    assert isinstance(out, course.tt.Tensor)
    np.testing.assert_allclose(out.data, model.forward(x), rtol=1e-6)
    assert isinstance(model(course.tt.Tensor(x)), course.tt.Tensor)


@pytest.mark.parametrize("name", MODEL_NAMES[:1] + MODEL_NAMES[3:])
def test_the_wrapper_feeds_the_courses_tensor_and_scores_the_course_split(
    course: types.SimpleNamespace, name: str
) -> None:
    assert tensor_factory() is course.tt.Tensor
    sut = wrap_model_over_tinydigits(load_model(name))
    benchmark = run_benchmark(sut, sut.qsl, accuracy_only())
    assert benchmark.error is None and benchmark.result.accuracy is not None
    assert benchmark.result.accuracy.top1 >= 0.95


def test_a_course_model_scores_what_the_course_computes_directly(course: types.SimpleNamespace) -> None:
    model = course_digit_mlp(course)
    images, labels = load_tinydigits("test")
    direct = float(np.mean(np.argmax(model.forward(course.tt.Tensor(images.reshape(-1, 64))).data, axis=1) == labels))
    sut = wrap_model_over_tinydigits(model)
    benchmark = run_benchmark(sut, sut.qsl, accuracy_only())
    assert benchmark.result.accuracy is not None and benchmark.result.accuracy.top1 == direct


def test_quantized_linear_counts_its_own_memory_usage_about_4x_smaller(course: types.SimpleNamespace) -> None:
    baseline = course_digit_mlp(course)
    fc1, relu, fc2 = baseline.layers  # type: ignore[attr-defined]
    quantized = course.nn.Sequential(
        course.quantization.QuantizedLinear(fc1), relu, course.quantization.QuantizedLinear(fc2)
    )
    base, opt = model_facts(baseline), model_facts(quantized)
    assert base["parameter_count"] == opt["parameter_count"] == 2410  # the count is unchanged
    assert base["model_size_mb"] == 2410 * 4 / MIB
    assert opt["model_size_mb"] == (2410 + 2 * 8) / MIB  # int8 values + two scales per layer, as the course counts
    assert 3.9 < base["model_size_mb"] / opt["model_size_mb"] < 4.0
    assert opt["size_source"] == "memory_usage() of 2 layer(s) (QuantizedLinear)"
    assert base["size_source"] == "4 parameter array(s) at their dtype (float32)"


def test_float64_weights_count_eight_bytes_and_say_so(course: types.SimpleNamespace) -> None:
    facts = model_facts(course.capstone.SimpleMLP())
    assert facts["parameter_count"] == 283
    assert facts["model_size_mb"] == 283 * 8 / MIB
    assert facts["size_source"] == "4 parameter array(s) at their dtype (float64)"


class TwoLayers:
    """A student's plain model: layers as attributes, parameters() gathered from them."""

    def __init__(self, course: types.SimpleNamespace) -> None:
        self.fc1, self.relu, self.fc2 = course.tt.Linear(10, 20), course.tt.ReLU(), course.tt.Linear(20, 3)
        self.fc2.weight.data = np.random.randn(20, 3) * 0.01  # float64, as module 20 sets its weights

    def forward(self, x: object) -> object:
        return self.fc2(self.relu(self.fc1(x)))

    def parameters(self) -> list[object]:
        return [p for layer in (self.fc1, self.fc2) for p in layer.parameters()]


def test_a_layer_quantized_in_place_on_a_plain_model_is_found(course: types.SimpleNamespace) -> None:
    model = TwoLayers(course)
    model.fc1 = course.quantization.QuantizedLinear(model.fc1)
    facts = model_facts(model)
    assert facts["model_size_mb"] == (220 + 8 + 60 * 8 + 3 * 4) / MIB
    assert facts["size_source"] == (
        "memory_usage() of 1 layer(s) (QuantizedLinear) + 2 parameter array(s) at their dtype (float32, float64)"
    )


def test_a_magnitude_pruned_course_model_runs(course: types.SimpleNamespace) -> None:
    model = course.compression.magnitude_prune(course_digit_mlp(course), sparsity=0.5)
    assert 0.45 < course.compression.measure_sparsity(model) < 0.55
    sut = wrap_model_over_tinydigits(model)
    assert sut.run_batch(sut.qsl.prepare(np.arange(4))).shape == (4, 10)


def test_module_20s_simple_mlp_runs_on_its_own_data(course: types.SimpleNamespace, tmp_path: Path) -> None:
    features, labels = course.capstone.toy_data()
    np.savez(tmp_path / "toy.npz", features=features.data, labels=labels)
    sut = wrap_model(course.capstone.SimpleMLP(), tmp_path / "toy.npz")
    assert sut.qsl.name == "toy.npz(100)"
    benchmark = run_benchmark(sut, sut.qsl, accuracy_only())
    assert benchmark.error is None and benchmark.result.accuracy is not None
    assert 0 <= benchmark.result.accuracy.top1 <= 1


def test_the_courses_pickle_is_a_dataset(tmp_path: Path) -> None:
    images, labels = load_tinydigits("test")
    (tmp_path / "test.pkl").write_bytes(pickle.dumps({"images": images, "labels": labels}))
    data = load_dataset_file(tmp_path / "test.pkl")
    np.testing.assert_array_equal(data.inputs, images)
    np.testing.assert_array_equal(data.labels, labels)
    assert data.classes == 10


class Boom:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("ran code from a pickle",))


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda p: np.savez(p, images=np.ones((4, 3))), "expected images (or features) and labels"),
        (lambda p: np.savez(p, images=np.full((2, 3), np.nan), labels=np.zeros(2)), "holds 6 NaN or infinite"),
        (lambda p: np.savez(p, images=np.ones((2, 3)), labels=np.array([0, -1])), "labels range over [-1, 0]"),
        (lambda p: np.savez(p, images=np.ones((2, 3)), labels=np.zeros(3)), "labels have shape (3,); expected (2,)"),
        (lambda p: np.savez(p, images=np.ones(3), labels=np.zeros(3)), "expected (N, ...) with N >= 1"),
        (lambda p: np.savez(p, images=np.array(["a", "b"]), labels=np.zeros(2)), "images must be a numeric array"),
        (lambda p: np.savez(p, images=np.ones((2, 3)), labels=np.array([0.5, 1])), "whole class numbers"),
        (lambda p: p.write_bytes(b"PK\x03\x04 not really"), "not a readable .npz"),
        (lambda p: p.with_suffix(".pkl").write_bytes(pickle.dumps({"images": Boom()})), "refuses builtins.print"),
        (lambda p: p.with_suffix(".pkl").write_bytes(pickle.dumps([1, 2])), "holds a list"),
    ],
)
def test_a_bad_dataset_is_refused_naming_the_file_and_the_rule(tmp_path: Path, make: object, reason: str) -> None:
    path = tmp_path / "data.npz"
    make(path)  # type: ignore[operator]
    target = path if path.exists() else path.with_suffix(".pkl")
    with pytest.raises(SettingsError) as caught:
        load_dataset_file(target)
    assert str(caught.value).startswith(f"--dataset {target}: ") and reason in str(caught.value), str(caught.value)


@pytest.mark.parametrize("optimized", [False, True])
def test_the_courses_own_generate_submission_validates(course: types.SimpleNamespace, optimized: bool) -> None:
    """Module 20's generate_submission, baseline only and baseline + optimized, as the course writes them."""
    from loadgen.capstone import judge_submission

    x_test, y_test = course.capstone.toy_data()
    reports = []
    for name in ("baseline_mlp", "quantized_mlp")[: 1 + optimized]:
        report = course.capstone.BenchmarkReport(model_name=name)
        report.benchmark_model(course.capstone.SimpleMLP(), x_test, y_test, num_runs=5)
        reports.append(report)
    submission = course.capstone.generate_submission(
        reports[0], reports[1] if optimized else None, student_name="Ada", techniques_applied=["quantization"]
    )
    assert course.capstone.validate_submission_schema(submission) is True
    verdict = judge_submission(submission, Path("."))
    assert [str(f) for f in verdict.findings if f.level == "error"] == []
    assert verdict.valid and not verdict.compliant  # no evidence: valid as in the course, not compliant
    assert ("optimized" in submission) is optimized and ("improvements" in submission) is optimized
