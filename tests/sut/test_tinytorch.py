"""The TinyTorch wrapper: a student's plain model class becomes a SUT with its own QSL."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from loadgen.benchmark.runner import run_benchmark
from loadgen.engine.trace import NOT_YET
from loadgen.errors import SutLoadError
from loadgen.settings.model import TestSettings
from sut.models import load_model
from sut.null import NullSUT
from sut.tinytorch import (
    ArrayTensor,
    DatasetQSL,
    TinyTorchSUT,
    as_numpy,
    entry_point,
    looks_like_model,
    model_facts,
    tensor_factory,
    wrap_model_over_tinydigits,
)


class StudentMLP:
    """Written as a student would: numpy weights stored (in, out), forward on `x.data`."""

    def __init__(self, in_features: int = 64, classes: int = 10) -> None:
        rng = np.random.default_rng(0)
        self.W = rng.normal(size=(in_features, classes)).astype(np.float32)
        self.b = np.zeros(classes, dtype=np.float32)
        self.batch_sizes: list[int] = []

    def forward(self, x: Any) -> np.ndarray:
        data: np.ndarray = x.data if hasattr(x, "data") else x
        self.batch_sizes.append(len(data))
        logits: np.ndarray = data @ self.W + self.b
        return logits

    def parameters(self) -> list[ArrayTensor]:
        return [ArrayTensor(self.W), ArrayTensor(self.b)]


class Returns:
    """A model answering a fixed array, whatever the input."""

    def __init__(self, output: np.ndarray) -> None:
        self.output = output

    def forward(self, x: Any) -> np.ndarray:
        return self.output


def digits(n: int = 24, features: int = 64) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    return rng.random((n, features), dtype=np.float32), np.arange(n) % 10


def quick(scenario: str, **values: object) -> TestSettings:
    return TestSettings.model_validate(
        {"scenario": scenario, "min_duration_ms": 0, "min_query_count": 64, "pilot_ms": 20} | values
    )


def test_entry_point_prefers_forward_then_predict_then_call() -> None:
    class All:
        def forward(self, x: Any) -> str:
            return "forward"

        def predict(self, x: Any) -> str:
            return "predict"

        def __call__(self, x: Any) -> str:
            return "call"

    class PredictAndCall(All):
        forward = None  # type: ignore[assignment]

    class CallOnly:
        def __call__(self, x: Any) -> str:
            return "call"

    assert entry_point(All())(0) == "forward"
    assert entry_point(PredictAndCall())(0) == "predict"
    assert entry_point(CallOnly())(0) == "call"


def test_entry_point_names_a_model_without_one() -> None:
    class Weights:
        W = np.zeros((2, 2))

    with pytest.raises(SutLoadError, match=r"Weights is not a model: it has no forward\(x\), predict\(x\)"):
        entry_point(Weights())
    with pytest.raises(SutLoadError, match="got the class StudentMLP, not a model"):
        entry_point(StudentMLP)


def test_array_tensor_has_the_tensor_surface() -> None:
    tensor = ArrayTensor([[1, 2], [3, 4]])
    assert tensor.data.dtype == np.float32 and tensor.shape == (2, 2) and tensor.size == 4
    assert tensor.reshape(-1).shape == (4,)
    assert np.asarray(tensor).dtype == object  # no __array__, as the course's Tensor: models must read .data
    assert tensor.numpy() is tensor.data


def test_as_numpy_reads_data_of_a_tensor_else_asarray() -> None:
    array = np.ones((1, 3))
    assert as_numpy(array) is array
    assert as_numpy(ArrayTensor(array)).dtype == np.float32
    assert as_numpy([[1.0, 2.0]]).shape == (1, 2)


def fake_tensor_module(monkeypatch: pytest.MonkeyPatch, file: Path, with_numpy: bool = True) -> type:
    class Tensor:
        def __init__(self, data: Any) -> None:
            self.data = np.asarray(data, dtype=np.float32)

    if with_numpy:
        Tensor.numpy = lambda self: self.data  # type: ignore[attr-defined]
    module = types.ModuleType("tinytorch.core.tensor")
    module.__file__ = str(file)
    module.Tensor = Tensor  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tinytorch.core.tensor", module)
    return Tensor


def test_tensor_factory_falls_back_to_array_tensor_without_tinytorch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tinytorch.core.tensor", None)  # makes the import fail
    assert tensor_factory() is ArrayTensor


def test_tensor_factory_uses_the_course_tensor(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    tensor = fake_tensor_module(monkeypatch, tmp_path / "tinytorch" / "core" / "tensor.py")
    assert tensor_factory() is tensor
    seen: list[type] = []

    class Model:
        def forward(self, x: Any) -> np.ndarray:
            seen.append(type(x))
            return np.ones((len(x.data), 10), dtype=np.float32)

    sut = TinyTorchSUT(Model(), digits())
    sut.run_batch(np.zeros((2, 64), dtype=np.float32))
    assert seen == [tensor]


@pytest.mark.parametrize(
    ("relative", "with_numpy"),
    [("tinytorch/tensor.py", True), ("tinytorch/core/tensor.py", False)],
    ids=["not-the-course-layout", "tensor-without-numpy"],
)
def test_tensor_factory_rejects_a_different_tinytorch(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, relative: str, with_numpy: bool
) -> None:
    fake_tensor_module(monkeypatch, tmp_path / relative, with_numpy)
    assert tensor_factory() is ArrayTensor


def test_a_wrong_output_shape_is_a_clear_error() -> None:
    sut = TinyTorchSUT(Returns(np.zeros((3, 10))), digits(), tensor_type=ArrayTensor)
    with pytest.raises(ValueError, match=r"Returns.forward returned shape \(3, 10\) for 4 input\(s\).*\(4, C\)"):
        sut.run_batch(np.zeros((4, 64), dtype=np.float32))


def test_non_finite_outputs_are_a_clear_error() -> None:
    logits = np.zeros((2, 10))
    logits[1, 3] = np.nan
    sut = TinyTorchSUT(Returns(logits), digits(), tensor_type=ArrayTensor)
    with pytest.raises(ValueError, match=r"returned 1 non-finite value\(s\) \(NaN or inf\)"):
        sut.run_batch(np.zeros((2, 64), dtype=np.float32))


def test_a_broken_model_fails_the_run_with_its_message() -> None:
    sut = TinyTorchSUT(Returns(np.zeros(10)), digits(), tensor_type=ArrayTensor)
    bench = run_benchmark(sut, sut.qsl, quick("Offline"), fingerprint={})
    assert bench.error is not None and "expected logits of shape" in str(bench.result.error)


@pytest.mark.parametrize(("scenario", "batch"), [("SingleStream", 1), ("Offline", 8)])
def test_a_student_model_completes_every_sample(scenario: str, batch: int) -> None:
    model = StudentMLP()
    sut = TinyTorchSUT(model, digits(), batch_size=8)
    extra = {"single_stream_expected_latency_ns": 100_000} if scenario == "SingleStream" else {}
    bench = run_benchmark(sut, sut.qsl, quick(scenario, **extra), fingerprint={})
    assert bench.result.valid, bench.result.invalid_reasons
    assert np.all(bench.trace.completed_ns != NOT_YET)
    assert np.all(bench.trace.response_size == 40)  # ten float32 logits per sample
    assert max(model.batch_sizes) == batch


def test_the_qsl_preprocesses_only_loaded_samples_and_keeps_labels() -> None:
    images = np.arange(4 * 8 * 8, dtype=np.float32).reshape(4, 8, 8)
    qsl = DatasetQSL({"images": images, "labels": [3, 1, 4, 1]}, preprocess=lambda x: x.reshape(len(x), -1) / 2)
    qsl.load_samples(np.array([2, 0]))
    assert qsl.features.shape == (4, 64)
    np.testing.assert_array_equal(qsl.features[2], images[2].ravel() / 2)
    assert not qsl.features[1].any()
    assert qsl.labels.tolist() == [3, 1, 4, 1] and qsl.labels.dtype == np.int64


def test_the_wrapper_refuses_mismatched_data_and_a_zero_batch() -> None:
    with pytest.raises(ValueError, match="labels of shape"):
        DatasetQSL((np.zeros((3, 64)), np.zeros(2)))
    with pytest.raises(ValueError, match="batch_size"):
        TinyTorchSUT(StudentMLP(), digits(), batch_size=0)


def test_model_facts_of_digit_mlp() -> None:
    facts = model_facts(load_model("digit_mlp"))
    assert facts == {
        "name": "digit_mlp", "parameter_count": 2410, "model_size_mb": 2410 * 4 / 2**20,
        "size_source": "DigitMLP.size_bytes()",
    }


def test_model_facts_from_parameters_and_without_them() -> None:
    assert model_facts(StudentMLP()) == {
        "name": "StudentMLP", "parameter_count": 650, "model_size_mb": 650 * 4 / 2**20,
        "size_source": "2 parameter array(s) at their dtype (float32)",
    }
    assert model_facts(Returns(np.zeros(1))) == {
        "name": "Returns", "parameter_count": None, "model_size_mb": None, "size_source": None,
    }


def test_looks_like_model_tells_models_from_suts_and_factories() -> None:
    assert looks_like_model(load_model("digit_mlp"))
    assert looks_like_model(StudentMLP())
    assert not looks_like_model(NullSUT())
    assert not looks_like_model(StudentMLP)
    assert not looks_like_model(lambda x: x)


def test_wrapping_over_tinydigits_flattens_for_an_mlp() -> None:
    sut = wrap_model_over_tinydigits(load_model("digit_mlp"))
    assert sut.qsl.total_sample_count == 200
    assert sut.qsl.prepare(np.arange(3)).shape == (3, 64)


def test_wrapping_over_tinydigits_probes_a_model_without_layers() -> None:
    sut = wrap_model_over_tinydigits(StudentMLP())
    assert sut.qsl.prepare(np.arange(3)).shape == (3, 64)


def test_wrapping_over_tinydigits_keeps_8x8_for_the_cnn() -> None:
    sut = wrap_model_over_tinydigits(load_model("tinydigits_cnn"), batch_size=50)
    assert sut.qsl.prepare(np.arange(3)).shape == (3, 8, 8)
    bench = run_benchmark(sut, sut.qsl, quick("Offline"), fingerprint={})
    assert bench.result.valid, bench.result.invalid_reasons


def test_wrapping_over_tinydigits_names_every_shape_tried() -> None:
    with pytest.raises(SutLoadError, match=r"tried \(1, 64\): output shape \(3,\); \(1, 8, 8\)"):
        wrap_model_over_tinydigits(Returns(np.zeros(3)))
