"""Numpy reference models in TinyTorch's conventions, with shipped weights.

Why this module exists: the harness needs systems under test that behave like
the models TinyTorch students build (same layer semantics, shapes and
parameter counts) without depending on any student's TinyTorch
implementation.  Everything here is plain numpy in float32:

* ``Linear`` stores its weight as (in_features, out_features), the transpose
  of PyTorch, and computes ``x @ W + b``; ``parameters()`` is
  ``[weight, bias]``.
* ``Conv2d`` takes NCHW input and a PyTorch-shaped (out, in, k, k) weight.
* ``MaxPool2d`` uses stride == kernel_size.
* Models return logits (no softmax).
* Input may be the course's ``Tensor`` (read through ``.data``: it has no
  ``__array__``) and then the output is a ``Tensor`` of the same type;
  an array in gives an array out.  Subclasses implement ``compute`` on
  float32 arrays; ``forward`` and ``__call__`` do the unwrapping.

Course models and their parameter counts: ``DigitMLP`` 64 -> 32 -> 10 (2,410),
``TinyDigitsCNN`` Conv(1->8, 3) -> pool -> Linear(72 -> 10) (810) and
``SimpleMLP`` 10 -> 20 -> 3 (283).  Trained weights live in
``sut/data/<name>.npz`` (written by ``sut/data/train_models.py``) and are
loaded with ``load_model(name)``.

Two optimized DigitMLP variants give baseline-vs-optimized comparisons:

* ``QuantizedDigitMLP`` (``quantize_int8``): symmetric per-tensor int8 weights
  plus one float32 scale per layer; biases stay float32.
* ``PrunedDigitMLP`` (``prune_magnitude``): per-layer magnitude pruning, the
  surviving weights stored in CSR form (see ``SparseLinear``).

Size accounting is honest: ``size_bytes()`` is the total ``nbytes`` of every
array a model stores (its ``state_dict()``), so int8 weights count one byte
each and sparse layers pay for their index arrays.  ``count_parameters()``
counts stored parameter values (weights and biases; quantization scales and
sparse indices are metadata, not parameters).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

FloatArray = npt.NDArray[np.float32]

DATA_DIR = Path(__file__).parent / "data"
MODEL_NAMES = ("digit_mlp", "tinydigits_cnn", "simple_mlp", "digit_mlp_int8", "digit_mlp_pruned50")


def _as_float32(x: Any) -> FloatArray:
    """The batch as float32: a Tensor's ``.data`` (the course's Tensor has no ``__array__``), else the array."""
    data = getattr(x, "data", None)
    return np.asarray(data if isinstance(data, np.ndarray) and not isinstance(x, np.ndarray) else x, dtype=np.float32)


def _like_input(x: Any, out: FloatArray) -> Any:
    """Tensor in, Tensor of the same type out (the course's convention); anything else in, array out."""
    if isinstance(x, np.ndarray) or not isinstance(getattr(x, "data", None), np.ndarray):
        return out
    return type(x)(out)


def _uniform(rng: np.random.Generator, bound: float, shape: tuple[int, ...]) -> FloatArray:
    return rng.uniform(-bound, bound, size=shape).astype(np.float32)


class Layer(ABC):
    """Base layer: ``forward``, ``__call__``, ``parameters()`` and ``state()``.

    ``state()`` maps attribute names to every array the layer stores; it is
    what gets saved, loaded and counted by ``size_bytes``.  ``parameters()``
    defaults to the state's arrays, in order.
    """

    state_names: tuple[str, ...] = ()

    @abstractmethod
    def compute(self, x: FloatArray) -> FloatArray:
        """The layer's output for a float32 batch."""

    def forward(self, x: Any) -> Any:
        """The output for a batch given as a Tensor (``.data``), an array or nested lists; a Tensor
        comes back as a Tensor of its own type, anything else as a float32 array."""
        return _like_input(x, self.compute(_as_float32(x)))

    def __call__(self, x: Any) -> Any:
        return self.forward(x)

    def state(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in self.state_names}

    def assign(self, key: str, value: np.ndarray) -> None:
        """Replace the stored array that ``state()`` lists under ``key``."""
        if key not in self.state_names:
            raise KeyError(key)
        setattr(self, key, value)

    def parameters(self) -> list[np.ndarray]:
        return list(self.state().values())


class Linear(Layer):
    """Fully connected layer ``x @ weight + bias`` with weight (in, out)."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        rng: np.random.Generator | None = None,
    ) -> None:
        rng = rng if rng is not None else np.random.default_rng(0)
        self.in_features = in_features
        self.out_features = out_features
        self.weight = _uniform(rng, 1.0 / np.sqrt(in_features), (in_features, out_features))
        self.bias = np.zeros(out_features, dtype=np.float32) if bias else None
        self.state_names = ("weight", "bias") if bias else ("weight",)

    def compute(self, x: FloatArray) -> FloatArray:
        out = _as_float32(x) @ self.weight
        return out + self.bias if self.bias is not None else out


class ReLU(Layer):
    """Elementwise ``max(x, 0)``."""

    def compute(self, x: FloatArray) -> FloatArray:
        return np.maximum(_as_float32(x), np.float32(0))


class Conv2d(Layer):
    """2-D convolution (cross-correlation) on NCHW input.

    Vectorised: ``windows`` builds a strided view of every receptive field and
    a single ``tensordot`` contracts it with the (out, in, k, k) weight.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        rng: np.random.Generator | None = None,
    ) -> None:
        if kernel_size < 1 or stride < 1 or padding < 0:
            raise ValueError("kernel_size and stride must be >= 1 and padding >= 0")
        rng = rng if rng is not None else np.random.default_rng(0)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        bound = 1.0 / np.sqrt(in_channels * kernel_size * kernel_size)
        self.weight = _uniform(rng, bound, (out_channels, in_channels, kernel_size, kernel_size))
        self.bias = np.zeros(out_channels, dtype=np.float32)
        self.state_names = ("weight", "bias")

    def windows(self, x: npt.ArrayLike) -> FloatArray:
        """View of receptive fields, shape (B, C, H_out, W_out, k, k)."""
        arr = _as_float32(x)
        if arr.ndim != 4 or arr.shape[1] != self.in_channels:
            raise ValueError(f"Conv2d expects (B, {self.in_channels}, H, W) input, got {arr.shape}")
        if self.padding:
            pad = self.padding
            arr = np.pad(arr, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
        k = self.kernel_size
        strided: FloatArray = sliding_window_view(arr, (k, k), axis=(2, 3))[:, :, :: self.stride, :: self.stride]
        return strided

    def compute(self, x: FloatArray) -> FloatArray:
        out = np.tensordot(self.windows(x), self.weight, axes=([1, 4, 5], [1, 2, 3]))
        return out.transpose(0, 3, 1, 2) + self.bias[:, None, None]


class MaxPool2d(Layer):
    """Non-overlapping max pooling (stride == kernel_size) on NCHW input.

    Rows/columns that do not fill a whole window are dropped, as in PyTorch.
    """

    def __init__(self, kernel_size: int) -> None:
        if kernel_size < 1:
            raise ValueError("kernel_size must be >= 1")
        self.kernel_size = kernel_size

    def compute(self, x: FloatArray) -> FloatArray:
        arr = _as_float32(x)
        if arr.ndim != 4:
            raise ValueError(f"MaxPool2d expects (B, C, H, W) input, got {arr.shape}")
        k = self.kernel_size
        batch, channels, height, width = arr.shape
        out_h, out_w = height // k, width // k
        if out_h == 0 or out_w == 0:
            raise ValueError(f"input {height}x{width} is smaller than the {k}x{k} pool")
        cropped: FloatArray = arr[:, :, : out_h * k, : out_w * k]
        pooled: FloatArray = cropped.reshape(batch, channels, out_h, k, out_w, k).max(axis=(3, 5))
        return pooled


class Flatten(Layer):
    """Reshape (B, ...) to (B, features)."""

    def compute(self, x: FloatArray) -> FloatArray:
        arr = _as_float32(x)
        return arr.reshape(arr.shape[0], -1)


class Sequential(Layer):
    """Apply ``layers`` in order; state keys are ``"<index>.<name>"``."""

    def __init__(self, *layers: Layer) -> None:
        self.layers: list[Layer] = list(layers)

    def compute(self, x: FloatArray) -> FloatArray:
        out = x
        for layer in self.layers:
            out = layer.compute(out)
        return out

    def state(self) -> dict[str, np.ndarray]:
        return {
            f"{index}.{name}": value
            for index, layer in enumerate(self.layers)
            for name, value in layer.state().items()
        }

    def assign(self, key: str, value: np.ndarray) -> None:
        index, name = key.split(".", 1)
        self.layers[int(index)].assign(name, value)

    def parameters(self) -> list[np.ndarray]:
        return [param for layer in self.layers for param in layer.parameters()]


class QuantizedLinear(Layer):
    """Linear layer with symmetric per-tensor int8 weights.

    ``weight_q`` (in, out) int8 in [-127, 127] and ``scale`` (0-d float32)
    approximate the float weight as ``weight_q * scale``.  Because the scale is
    a single scalar, ``x @ (weight_q * scale) == (x @ weight_q) * scale``, so
    the forward pass converts the int8 matrix to float32 for the matmul and
    rescales the (much smaller) output instead of the weights.
    """

    state_names = ("weight_q", "scale", "bias")

    def __init__(self, weight_q: npt.NDArray[np.int8], scale: float, bias: FloatArray) -> None:
        if weight_q.dtype != np.int8 or weight_q.ndim != 2:
            raise ValueError("weight_q must be a 2-D int8 array")
        self.weight_q = weight_q
        self.scale = np.array(scale, dtype=np.float32)
        self.bias = _as_float32(bias)

    @classmethod
    def from_linear(cls, layer: Linear) -> QuantizedLinear:
        max_abs = float(np.max(np.abs(layer.weight)))
        scale = max_abs / 127.0 if max_abs > 0 else 1.0
        weight_q = np.clip(np.round(layer.weight / scale), -127, 127).astype(np.int8)
        bias = layer.bias if layer.bias is not None else np.zeros(layer.out_features, np.float32)
        return cls(weight_q, scale, bias.copy())

    def compute(self, x: FloatArray) -> FloatArray:
        return (_as_float32(x) @ self.weight_q.astype(np.float32)) * self.scale + self.bias

    def parameters(self) -> list[np.ndarray]:
        return [self.weight_q, self.bias]


def _smallest_uint(max_value: int) -> type[np.unsignedinteger]:
    for dtype in (np.uint8, np.uint16, np.uint32):
        if max_value <= np.iinfo(dtype).max:
            return dtype
    return np.uint64


class SparseLinear(Layer):
    """Linear layer whose nonzero weights are stored in CSR form.

    Storage is CSR of the transposed (out, in) weight, so each output unit is
    one row: ``data`` (nnz,) float32 values, ``indices`` (nnz,) input-feature
    column of each value, ``indptr`` (out + 1,) row boundaries, plus the dense
    float32 ``bias``.  Index arrays use the smallest unsigned dtype that holds
    their largest value (uint8 column indices for up to 256 inputs), which is
    what makes 50% sparsity pay off: with int32 indices CSR at 50% density is
    larger than the dense matrix.  ``size_bytes`` counts all four arrays.
    """

    state_names = ("data", "indices", "indptr", "bias")

    def __init__(
        self,
        data: FloatArray,
        indices: npt.NDArray[np.unsignedinteger],
        indptr: npt.NDArray[np.unsignedinteger],
        bias: FloatArray,
        in_features: int,
    ) -> None:
        if len(indptr) != len(bias) + 1 or int(indptr[-1]) != len(data) or len(indices) != len(data):
            raise ValueError("inconsistent CSR arrays")
        self.data = _as_float32(data)
        self.indices = indices
        self.indptr = indptr
        self.bias = _as_float32(bias)
        self.in_features = in_features

    @classmethod
    def from_dense(cls, weight: FloatArray, bias: FloatArray) -> SparseLinear:
        """Build from a dense (in, out) weight, keeping its nonzero entries."""
        in_features, out_features = weight.shape
        transposed = weight.T
        rows, cols = np.nonzero(transposed)
        counts = np.bincount(rows, minlength=out_features)
        indptr = np.concatenate([[0], np.cumsum(counts)])
        return cls(
            data=transposed[rows, cols],
            indices=cols.astype(_smallest_uint(max(in_features - 1, 0))),
            indptr=indptr.astype(_smallest_uint(len(rows))),
            bias=bias.copy(),
            in_features=in_features,
        )

    def compute(self, x: FloatArray) -> FloatArray:
        arr = _as_float32(x)
        products = arr[:, self.indices] * self.data
        # reduceat sums products[indptr[i]:indptr[i+1]]; a trailing zero column
        # keeps every start index in range, and empty rows are zeroed after.
        padded = np.concatenate([products, np.zeros((arr.shape[0], 1), np.float32)], axis=1)
        starts = self.indptr[:-1].astype(np.intp)
        out = np.add.reduceat(padded, starts, axis=1)
        out[:, np.diff(self.indptr) == 0] = 0
        return out + self.bias

    def parameters(self) -> list[np.ndarray]:
        return [self.data, self.bias]


class Model(Sequential):
    """A named ``Sequential`` with input-shape handling and (de)serialisation.

    ``input_shapes`` lists the accepted per-sample shapes; the first is the
    one the first layer needs, and inputs with any other listed shape are
    reshaped to it (e.g. (B, 8, 8) images flattened to (B, 64)).
    """

    def __init__(self, name: str, layers: Sequence[Layer], input_shapes: Sequence[tuple[int, ...]]) -> None:
        super().__init__(*layers)
        self.name = name
        self.input_shapes = tuple(input_shapes)

    def compute(self, x: FloatArray) -> FloatArray:
        if x.shape[1:] not in self.input_shapes:
            accepted = ", ".join(str((None, *shape)) for shape in self.input_shapes)
            raise ValueError(f"{self.name} expects input of shape {accepted} (None = batch), got {x.shape}")
        return super().compute(x.reshape(x.shape[0], *self.input_shapes[0]))

    def count_parameters(self) -> int:
        return int(sum(param.size for param in self.parameters()))

    def size_bytes(self) -> int:
        return int(sum(array.nbytes for array in self.state_dict().values()))

    def state_dict(self) -> dict[str, np.ndarray]:
        return self.state()

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        """Replace every stored array; keys, shapes and dtypes must match."""
        expected = self.state_dict()
        if set(state) != set(expected):
            raise ValueError(f"state keys {sorted(state)} do not match {sorted(expected)}")
        for key, current in expected.items():
            new = np.asarray(state[key])
            if new.shape != current.shape or new.dtype != current.dtype:
                raise ValueError(
                    f"{key}: expected {current.shape} {current.dtype}, got {new.shape} {new.dtype}"
                )
        for key in expected:
            self.assign(key, np.array(state[key]))

    def save_state(self, path: str | Path) -> None:
        arrays: dict[str, Any] = self.state_dict()  # Any: savez's stubs type **kwds like allow_pickle
        np.savez(path, **arrays)

    def load_state(self, path: str | Path) -> None:
        with np.load(path) as archive:
            self.load_state_dict({key: archive[key] for key in archive.files})


_DIGIT_MLP_INPUTS = ((64,), (8, 8))


class DigitMLP(Model):
    """TinyDigits MLP: Linear(64, 32) -> ReLU -> Linear(32, 10); 2,410 parameters.

    Accepts (B, 64) or (B, 8, 8) input.
    """

    def __init__(self, rng: np.random.Generator | None = None) -> None:
        rng = rng if rng is not None else np.random.default_rng(0)
        layers = [Linear(64, 32, rng=rng), ReLU(), Linear(32, 10, rng=rng)]
        super().__init__("digit_mlp", layers, _DIGIT_MLP_INPUTS)


class TinyDigitsCNN(Model):
    """Conv2d(1, 8, 3) -> ReLU -> MaxPool2d(2) -> Flatten -> Linear(72, 10); 810 parameters.

    Accepts (B, 1, 8, 8) or (B, 8, 8) input.
    """

    def __init__(self, rng: np.random.Generator | None = None) -> None:
        rng = rng if rng is not None else np.random.default_rng(0)
        layers = [Conv2d(1, 8, 3, rng=rng), ReLU(), MaxPool2d(2), Flatten(), Linear(72, 10, rng=rng)]
        super().__init__("tinydigits_cnn", layers, ((1, 8, 8), (8, 8)))


class SimpleMLP(Model):
    """Capstone demo MLP: Linear(10, 20) -> ReLU -> Linear(20, 3); 283 parameters.

    Trained on the synthetic problem from ``simple_mlp_data``.
    """

    def __init__(self, rng: np.random.Generator | None = None) -> None:
        rng = rng if rng is not None else np.random.default_rng(0)
        layers = [Linear(10, 20, rng=rng), ReLU(), Linear(20, 3, rng=rng)]
        super().__init__("simple_mlp", layers, ((10,),))


class QuantizedDigitMLP(Model):
    """DigitMLP with int8 weights (see ``QuantizedLinear``); build with ``quantize_int8``."""

    def __init__(self, fc1: QuantizedLinear, fc2: QuantizedLinear) -> None:
        super().__init__("digit_mlp_int8", [fc1, ReLU(), fc2], _DIGIT_MLP_INPUTS)


class PrunedDigitMLP(Model):
    """DigitMLP with CSR-stored pruned weights (see ``SparseLinear``); build with ``prune_magnitude``."""

    def __init__(self, fc1: SparseLinear, fc2: SparseLinear, sparsity: float) -> None:
        super().__init__(f"digit_mlp_pruned{round(sparsity * 100)}", [fc1, ReLU(), fc2], _DIGIT_MLP_INPUTS)
        self.sparsity = sparsity


def _digit_mlp_linears(model: DigitMLP) -> tuple[Linear, Linear]:
    fc1, _, fc2 = model.layers
    if not (isinstance(fc1, Linear) and isinstance(fc2, Linear)):
        raise TypeError("expected a DigitMLP with Linear layers")
    return fc1, fc2


def quantize_int8(model: DigitMLP) -> QuantizedDigitMLP:
    """Symmetric per-tensor int8 quantization of both Linear weights (biases stay float32)."""
    fc1, fc2 = _digit_mlp_linears(model)
    return QuantizedDigitMLP(QuantizedLinear.from_linear(fc1), QuantizedLinear.from_linear(fc2))


def _magnitude_prune(layer: Linear, sparsity: float) -> SparseLinear:
    weight = layer.weight.ravel().copy()
    n_pruned = round(sparsity * weight.size)
    weight[np.argsort(np.abs(weight), kind="stable")[:n_pruned]] = 0
    bias = layer.bias if layer.bias is not None else np.zeros(layer.out_features, np.float32)
    return SparseLinear.from_dense(weight.reshape(layer.weight.shape), bias)


def prune_magnitude(model: DigitMLP, sparsity: float = 0.5) -> PrunedDigitMLP:
    """Zero the ``sparsity`` fraction of smallest-magnitude weights in each Linear layer.

    Pruning is per layer (each weight matrix loses the same fraction); biases
    are kept.  The result stores only surviving weights, in CSR form.
    """
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity}")
    fc1, fc2 = _digit_mlp_linears(model)
    return PrunedDigitMLP(_magnitude_prune(fc1, sparsity), _magnitude_prune(fc2, sparsity), sparsity)


def simple_mlp_data(
    seed: int = 0,
) -> tuple[FloatArray, npt.NDArray[np.int64], FloatArray, npt.NDArray[np.int64]]:
    """Synthetic 3-class, 10-feature problem for ``SimpleMLP``.

    Three Gaussian blobs (unit variance) around centres drawn from
    N(0, 1.25^2), close enough to overlap a little (a trained SimpleMLP scores
    about 0.98, not a trivial 1.0); 300 training and 150 test samples,
    balanced.  Returns
    ``(x_train, y_train, x_test, y_test)`` with float32 features and int64
    labels; deterministic for a given ``seed``.
    """
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 1.25, size=(3, 10))

    def sample(per_class: int) -> tuple[FloatArray, npt.NDArray[np.int64]]:
        labels = rng.permutation(np.repeat(np.arange(3, dtype=np.int64), per_class))
        features = centres[labels] + rng.normal(0.0, 1.0, size=(len(labels), 10))
        return features.astype(np.float32), labels

    x_train, y_train = sample(100)
    x_test, y_test = sample(50)
    return x_train, y_train, x_test, y_test


_TRAINED_MODELS: dict[str, Callable[[], Model]] = {
    "digit_mlp": DigitMLP,
    "tinydigits_cnn": TinyDigitsCNN,
    "simple_mlp": SimpleMLP,
}


def _load_digit_mlp() -> DigitMLP:
    model = DigitMLP()
    model.load_state(DATA_DIR / "digit_mlp.npz")
    return model


def load_model(name: str) -> Model:
    """Return model ``name`` (one of ``MODEL_NAMES``) with its shipped trained weights.

    ``digit_mlp_int8`` and ``digit_mlp_pruned50`` are derived from the shipped
    DigitMLP weights by ``quantize_int8`` and ``prune_magnitude(..., 0.5)``.
    """
    if name == "digit_mlp_int8":
        return quantize_int8(_load_digit_mlp())
    if name == "digit_mlp_pruned50":
        return prune_magnitude(_load_digit_mlp(), 0.5)
    if name not in _TRAINED_MODELS:
        raise ValueError(f"unknown model {name!r}; expected one of {MODEL_NAMES}")
    model = _TRAINED_MODELS[name]()
    model.load_state(DATA_DIR / f"{name}.npz")
    return model
