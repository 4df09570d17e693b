"""Tests for the reference models (sut.models), the TinyDigits loader and the shipped data.

Why: the benchmark's accuracy and size numbers are only meaningful if the
models follow TinyTorch's conventions exactly (parameter counts, shapes), the
shipped weights are actually trained, the optimized variants are genuinely
smaller without losing much accuracy, and the dataset file is what its
generator script says it is.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from sut import models
from sut.models import (
    Conv2d,
    DigitMLP,
    Flatten,
    Linear,
    MaxPool2d,
    QuantizedLinear,
    ReLU,
    Sequential,
    SimpleMLP,
    SparseLinear,
    TinyDigitsCNN,
    load_model,
    prune_magnitude,
    quantize_int8,
    simple_mlp_data,
)
from sut.tinydigits import DATA_PATH, load_tinydigits

MAKE_SCRIPT = Path(models.__file__).parent / "data" / "make_tinydigits.py"


def accuracy(model: models.Model, x: np.ndarray, y: np.ndarray) -> float:
    return float((model(x).argmax(axis=1) == y).mean())


def naive_conv2d(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, stride: int, padding: int) -> np.ndarray:
    x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    batch, _, height, width = x.shape
    out_channels, _, k, _ = weight.shape
    out_h = (height - k) // stride + 1
    out_w = (width - k) // stride + 1
    out = np.zeros((batch, out_channels, out_h, out_w))
    for b in range(batch):
        for o in range(out_channels):
            for i in range(out_h):
                for j in range(out_w):
                    patch = x[b, :, i * stride : i * stride + k, j * stride : j * stride + k]
                    out[b, o, i, j] = np.sum(patch * weight[o]) + bias[o]
    return out


# --- parameter counts and shapes -------------------------------------------------


@pytest.mark.parametrize(("model_cls", "expected"), [(DigitMLP, 2410), (TinyDigitsCNN, 810), (SimpleMLP, 283)])
def test_parameter_counts(model_cls: Callable[[], models.Model], expected: int) -> None:
    model = model_cls()
    assert model.count_parameters() == expected
    assert model.size_bytes() == expected * 4
    assert all(p.dtype == np.float32 for p in model.parameters())


def test_cnn_parameter_breakdown() -> None:
    conv, _, _, _, linear = TinyDigitsCNN().layers
    assert sum(p.size for p in conv.parameters()) == 80
    assert sum(p.size for p in linear.parameters()) == 730


def test_linear_follows_tinytorch_convention() -> None:
    layer = Linear(4, 3, rng=np.random.default_rng(1))
    assert layer.weight.shape == (4, 3) and layer.bias is not None
    assert layer.parameters() == [layer.weight, layer.bias]
    layer.bias[:] = [1.0, 2.0, 3.0]
    x = np.random.default_rng(2).random((5, 4), dtype=np.float32)
    np.testing.assert_allclose(layer(x), x @ layer.weight + layer.bias, rtol=1e-6)
    assert Linear(4, 3, bias=False).parameters()[0].shape == (4, 3)
    assert len(Linear(4, 3, bias=False).parameters()) == 1


def test_parameterless_layers() -> None:
    for layer in (ReLU(), MaxPool2d(2), Flatten()):
        assert layer.parameters() == []
    np.testing.assert_array_equal(ReLU()(np.array([[-1.0, 0.0, 2.0]])), [[0.0, 0.0, 2.0]])


def test_sequential_chains_layers() -> None:
    net = Sequential(Linear(3, 2), ReLU())
    assert len(net.layers) == 2
    x = np.ones((1, 3), dtype=np.float32)
    np.testing.assert_array_equal(net(x), np.maximum(net.layers[0](x), 0))
    assert len(net.parameters()) == 2


@pytest.mark.parametrize(
    ("model", "inputs", "n_classes"),
    [
        (DigitMLP(), [(4, 64), (4, 8, 8)], 10),
        (TinyDigitsCNN(), [(4, 1, 8, 8), (4, 8, 8)], 10),
        (SimpleMLP(), [(4, 10)], 3),
    ],
)
def test_forward_shapes(model: models.Model, inputs: list[tuple[int, ...]], n_classes: int) -> None:
    rng = np.random.default_rng(0)
    x = rng.random((4, int(np.prod(inputs[0][1:]))))
    outputs = [model(x.reshape(shape)) for shape in inputs]
    for out in outputs:
        assert out.shape == (4, n_classes)
        assert out.dtype == np.float32
    for out in outputs[1:]:
        np.testing.assert_array_equal(out, outputs[0])


def test_cnn_intermediate_shapes() -> None:
    x = np.zeros((2, 1, 8, 8), dtype=np.float32)
    conv, relu, pool, flatten, _ = TinyDigitsCNN().layers
    assert conv(x).shape == (2, 8, 6, 6)
    assert pool(relu(conv(x))).shape == (2, 8, 3, 3)
    assert flatten(pool(conv(x))).shape == (2, 72)


def test_wrong_input_shape_is_rejected() -> None:
    with pytest.raises(ValueError, match="digit_mlp expects"):
        DigitMLP()(np.zeros((2, 63)))
    with pytest.raises(ValueError, match="tinydigits_cnn expects"):
        TinyDigitsCNN()(np.zeros((2, 3, 8, 8)))


# --- layer correctness --------------------------------------------------------------


@pytest.mark.parametrize(("stride", "padding"), [(1, 0), (2, 1)])
def test_conv2d_matches_naive_loops(stride: int, padding: int) -> None:
    rng = np.random.default_rng(7)
    conv = Conv2d(3, 4, 3, stride=stride, padding=padding, rng=rng)
    conv.bias[:] = rng.normal(size=4)
    x = rng.normal(size=(2, 3, 7, 6)).astype(np.float32)
    expected = naive_conv2d(x, conv.weight, conv.bias, stride, padding)
    np.testing.assert_allclose(conv(x), expected, rtol=1e-5, atol=1e-5)


def test_maxpool_matches_naive_and_crops() -> None:
    x = np.random.default_rng(3).normal(size=(2, 3, 5, 4)).astype(np.float32)
    out = MaxPool2d(2)(x)
    assert out.shape == (2, 3, 2, 2)
    for i in range(2):
        for j in range(2):
            window = x[:, :, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2]
            np.testing.assert_array_equal(out[:, :, i, j], window.max(axis=(2, 3)))


def test_sparse_linear_handles_empty_rows() -> None:
    weight = np.zeros((4, 3), dtype=np.float32)
    weight[1, 1] = 2.0  # output 0 and the last output 2 have no weights
    bias = np.array([0.5, -1.0, 3.0], dtype=np.float32)
    layer = SparseLinear.from_dense(weight, bias)
    x = np.random.default_rng(4).random((5, 4), dtype=np.float32)
    np.testing.assert_allclose(layer(x), x @ weight + bias, rtol=1e-6)


# --- data -------------------------------------------------------------------------


@pytest.mark.parametrize(("split", "n"), [("train", 1000), ("test", 200)])
def test_tinydigits_shapes_dtypes_range_balance(split: str, n: int) -> None:
    images, labels = load_tinydigits(split)
    assert images.shape == (n, 8, 8) and images.dtype == np.float32
    assert labels.shape == (n,) and labels.dtype == np.int64
    assert images.min() >= 0.0 and images.max() <= 1.0
    np.testing.assert_array_equal(np.bincount(labels, minlength=10), [n // 10] * 10)


def test_tinydigits_rejects_unknown_split() -> None:
    with pytest.raises(ValueError, match="unknown TinyDigits split"):
        load_tinydigits("validation")


def test_tinydigits_file_is_small() -> None:
    assert DATA_PATH.stat().st_size < 100_000


def _import_make_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_tinydigits", MAKE_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_regenerated_dataset_matches_shipped_file() -> None:
    pytest.importorskip("sklearn", reason="scikit-learn is not installed; it is only needed to regenerate TinyDigits")
    arrays = _import_make_script().build_tinydigits()
    with np.load(DATA_PATH) as shipped:
        assert sorted(shipped.files) == sorted(arrays)
        for key, value in arrays.items():
            assert value.dtype == shipped[key].dtype
            np.testing.assert_array_equal(value, shipped[key])


def test_simple_mlp_data_is_deterministic() -> None:
    first, second = simple_mlp_data(0), simple_mlp_data(0)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    x_train, y_train, x_test, y_test = first
    assert x_train.shape == (300, 10) and x_test.shape == (150, 10)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(y_test), [50, 50, 50])


# --- shipped weights and accuracy -------------------------------------------------------


@pytest.fixture(scope="module")
def test_split() -> tuple[np.ndarray, np.ndarray]:
    return load_tinydigits("test")


@pytest.fixture(scope="module")
def digit_mlp() -> DigitMLP:
    model = load_model("digit_mlp")
    assert isinstance(model, DigitMLP)
    return model


def test_digit_mlp_accuracy(digit_mlp: DigitMLP, test_split: tuple[np.ndarray, np.ndarray]) -> None:
    assert accuracy(digit_mlp, *test_split) >= 0.90


def test_cnn_accuracy(test_split: tuple[np.ndarray, np.ndarray]) -> None:
    model = load_model("tinydigits_cnn")
    assert model.count_parameters() == 810
    assert accuracy(model, *test_split) >= 0.85


def test_simple_mlp_accuracy() -> None:
    _, _, x_test, y_test = simple_mlp_data(0)
    assert accuracy(load_model("simple_mlp"), x_test, y_test) >= 0.90


def test_load_model_rejects_unknown_name() -> None:
    with pytest.raises(ValueError, match="unknown model"):
        load_model("resnet50")


def test_state_round_trip(tmp_path: Path, digit_mlp: DigitMLP) -> None:
    path = tmp_path / "weights.npz"
    digit_mlp.save_state(path)
    fresh = DigitMLP(np.random.default_rng(123))
    fresh.load_state(path)
    x = np.random.default_rng(5).random((3, 64), dtype=np.float32)
    np.testing.assert_array_equal(fresh(x), digit_mlp(x))


def test_load_state_dict_rejects_mismatch(digit_mlp: DigitMLP) -> None:
    state = dict(digit_mlp.state_dict())
    state["0.weight"] = np.zeros((32, 64), dtype=np.float32)
    with pytest.raises(ValueError, match=r"0\.weight"):
        DigitMLP().load_state_dict(state)
    del state["0.weight"]
    with pytest.raises(ValueError, match="state keys"):
        DigitMLP().load_state_dict(state)


# --- optimized variants -------------------------------------------------------------------


def test_quantized_variant(digit_mlp: DigitMLP, test_split: tuple[np.ndarray, np.ndarray]) -> None:
    quantized = quantize_int8(digit_mlp)
    assert quantized.name == "digit_mlp_int8"
    fc1, _, fc2 = quantized.layers
    assert isinstance(fc1, QuantizedLinear) and isinstance(fc2, QuantizedLinear)
    assert fc1.weight_q.dtype == np.int8 and fc2.weight_q.dtype == np.int8
    assert np.abs(fc1.weight_q).max() == 127
    # int8 weights (2048 + 320) + float32 biases (32 + 10) + two float32 scales
    assert quantized.size_bytes() == 2368 + 4 * 42 + 8
    assert quantized.size_bytes() < digit_mlp.size_bytes() / 3
    assert quantized.count_parameters() == 2410
    assert accuracy(quantized, *test_split) >= 0.85
    reference = digit_mlp(test_split[0])
    error = np.abs(quantized(test_split[0]) - reference).max()
    assert error <= 0.05 * np.abs(reference).max()  # int8 rounding: a few percent of the logit range


def test_pruned_variant(digit_mlp: DigitMLP, test_split: tuple[np.ndarray, np.ndarray]) -> None:
    pruned = prune_magnitude(digit_mlp, sparsity=0.5)
    assert pruned.name == "digit_mlp_pruned50"
    assert pruned.count_parameters() == 1024 + 160 + 42
    assert pruned.size_bytes() < digit_mlp.size_bytes()
    assert accuracy(pruned, *test_split) >= 0.85

    # Independent dense reference: zero the smallest half of each weight matrix.
    dense = DigitMLP()
    dense.load_state_dict(digit_mlp.state_dict())
    for layer in (dense.layers[0], dense.layers[2]):
        assert isinstance(layer, Linear)
        threshold = np.sort(np.abs(layer.weight).ravel())[layer.weight.size // 2 - 1]
        layer.weight = np.where(np.abs(layer.weight) > threshold, layer.weight, 0).astype(np.float32)
    x = test_split[0]
    np.testing.assert_allclose(pruned(x), dense(x), rtol=1e-5, atol=1e-5)


def test_prune_rejects_bad_sparsity(digit_mlp: DigitMLP) -> None:
    with pytest.raises(ValueError, match="sparsity"):
        prune_magnitude(digit_mlp, sparsity=1.0)


@pytest.mark.parametrize("name", ["digit_mlp_int8", "digit_mlp_pruned50"])
def test_load_model_builds_variants(name: str) -> None:
    model = load_model(name)
    assert model.name == name
    assert model.size_bytes() < load_model("digit_mlp").size_bytes()
