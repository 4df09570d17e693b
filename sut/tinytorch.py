"""Benchmark a TinyTorch student's model as it is: no base class, no SUT methods to write.

Students bring a plain class with `forward(x)` (sometimes only `predict` or `__call__`)
that takes TinyTorch `Tensor`s and returns logits (B, C). `TinyTorchSUT` turns such a
model plus an `(inputs, labels)` dataset into a SUT with its own QSL, so the harness can
time it and accuracy mode can score it, without TinyTorch being installed:

* inputs are wrapped in the course's `Tensor` when the course's package is importable
  (see `tensor_factory` for how it is told apart from the unrelated PyPI `tinytorch`),
  else in `ArrayTensor`, a numpy stand-in with the same `.data` / `.numpy()` surface;
* outputs are read through `.data` or `np.asarray` and checked once per model call
  (shape (B, C), finite), so a broken model fails with a message naming what it returned;
* Offline and MultiStream batches run `batch_size` samples per model call, SingleStream
  one sample per call (batch dimension always first).

`wrap_model_over_tinydigits` is what `--sut` uses for a bare model object: it finds the
input layout the model wants (flat 64 or 8x8 images) and wraps it over TinyDigits.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from loadgen.engine.query import SampleBatch
from loadgen.errors import SutLoadError
from sut.tinydigits import load_tinydigits

TINYDIGITS_CLASSES = 10
TINYDIGITS_PIXELS = 64
PROBE_SHAPES: tuple[tuple[int, ...], ...] = ((64,), (8, 8), (1, 8, 8))
"""Per-sample input shapes tried, in this order, when a model's first layer does not say."""
MIB = 2**20

ArrayFn = Callable[[np.ndarray], np.ndarray]
TensorType = Callable[[np.ndarray], Any]


class ArrayTensor:
    """Stand-in for TinyTorch's `Tensor` when the course's package is absent: a float32 array."""

    __slots__ = ("data",)

    def __init__(self, data: Any) -> None:
        self.data = np.asarray(data, dtype=np.float32)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    @property
    def size(self) -> int:
        return int(self.data.size)

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    def numpy(self) -> np.ndarray:
        return self.data

    def reshape(self, *shape: Any) -> ArrayTensor:
        return ArrayTensor(self.data.reshape(*shape))

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        return self.data if dtype is None else self.data.astype(dtype, copy=False)

    def __repr__(self) -> str:
        return f"ArrayTensor(shape={self.shape}, dtype={self.dtype})"


def is_course_tensor_module(module: Any) -> bool:
    """True for the course's `tinytorch.core.tensor`: the file is `tinytorch/core/tensor.py`
    and `Tensor(array)` has `.data` as a numpy array and a callable `.numpy()`.

    Constructing one probe Tensor runs the student's own code, which the benchmark runs
    anyway; any failure means "not the course's Tensor".
    """
    path = Path(str(getattr(module, "__file__", "") or ""))
    if path.parts[-3:] != ("tinytorch", "core", "tensor.py"):
        return False
    tensor_class = getattr(module, "Tensor", None)
    if not isinstance(tensor_class, type):
        return False
    try:
        probe = tensor_class(np.zeros((1, 1), dtype=np.float32))
    except Exception:  # a student's Tensor may reject anything; then it is not usable here
        return False
    return isinstance(getattr(probe, "data", None), np.ndarray) and callable(getattr(probe, "numpy", None))


def tensor_factory() -> TensorType:
    """TinyTorch's `Tensor` when `tinytorch.core.tensor` imports and is the course's package,
    else `ArrayTensor`. The PyPI `tinytorch` has no `tinytorch.core.tensor`, so it falls back."""
    try:
        module = importlib.import_module("tinytorch.core.tensor")
    except ImportError:
        return ArrayTensor
    tensor_class: TensorType = module.Tensor if is_course_tensor_module(module) else ArrayTensor
    return tensor_class


def model_name(model: Any) -> str:
    """The model's own `name` when it has a string one, else its class name."""
    name = getattr(model, "name", None)
    return name if isinstance(name, str) and name else type(model).__name__


def entry_point(model: Any) -> Callable[[Any], Any]:
    """The method that runs the model: `forward`, else `predict`, else the model itself."""
    if isinstance(model, type):
        raise SutLoadError(f"got the class {model.__name__}, not a model: create an instance first")
    for method_name in ("forward", "predict"):
        method = getattr(model, method_name, None)
        if callable(method):
            return method  # type: ignore[no-any-return]
    if callable(model):
        return model  # type: ignore[no-any-return]
    raise SutLoadError(
        f"{type(model).__name__} is not a model: it has no forward(x), predict(x) or __call__(x) to run"
    )


def as_numpy(output: Any) -> np.ndarray:
    """A model's output as a numpy array: itself, its `.data` (a Tensor), or `np.asarray`."""
    if isinstance(output, np.ndarray):
        return output
    data = getattr(output, "data", None)
    if isinstance(data, np.ndarray):
        return data
    return np.asarray(output)


def looks_like_model(obj: Any) -> bool:
    """A model object rather than a SUT or a factory: an instance with `forward`, `predict` or
    `__call__`, and no `issue_query`. Classes and plain functions count as factories."""
    if isinstance(obj, type) or inspect.isroutine(obj) or callable(getattr(obj, "issue_query", None)):
        return False
    return any(callable(getattr(obj, name, None)) for name in ("forward", "predict")) or callable(obj)


def _parameter_arrays(model: Any) -> list[np.ndarray] | None:
    """Each distinct parameter array of `model.parameters()`, read via `.data`; None without it."""
    parameters = getattr(model, "parameters", None)
    if not callable(parameters):
        return None
    arrays: dict[int, np.ndarray] = {}
    for parameter in parameters():
        array = as_numpy(parameter)
        arrays.setdefault(id(array), array)
    return list(arrays.values())


def model_facts(model: Any) -> dict[str, Any]:
    """`name`, `parameter_count` and `model_size_mb` (MiB) of a model; None when it cannot say.

    The model's own `count_parameters()` and `size_bytes()` win (they know about int8 and
    sparse storage); otherwise both come from `parameters()`: their sizes and their bytes.
    """
    count_method = getattr(model, "count_parameters", None)
    size_method = getattr(model, "size_bytes", None)
    arrays = None if callable(count_method) and callable(size_method) else _parameter_arrays(model)
    if callable(count_method):
        parameter_count: int | None = int(count_method())
    else:
        parameter_count = None if arrays is None else int(sum(array.size for array in arrays))
    if callable(size_method):
        size_bytes: int | None = int(size_method())
    else:
        size_bytes = None if arrays is None else int(sum(array.nbytes for array in arrays))
    return {
        "name": model_name(model),
        "parameter_count": parameter_count,
        "model_size_mb": None if size_bytes is None else size_bytes / MIB,
    }


def _dataset_arrays(dataset: Any) -> tuple[np.ndarray, np.ndarray]:
    """`(inputs, labels)` from a pair, a mapping or an object with `inputs`/`images` and `labels`."""
    if isinstance(dataset, Sequence) and len(dataset) == 2:
        inputs, labels = dataset
    else:
        fields = dataset if isinstance(dataset, Mapping) else vars(dataset) if hasattr(dataset, "__dict__") else {}
        inputs = fields.get("inputs", fields.get("images"))
        labels = fields.get("labels")
        if inputs is None or labels is None:
            raise TypeError(
                f"dataset must be an (inputs, labels) pair or have inputs (or images) and labels; "
                f"got {type(dataset).__name__}"
            )
    inputs, labels = np.asarray(inputs), np.asarray(labels)
    if labels.ndim != 1 or len(inputs) != len(labels):
        raise ValueError(f"dataset: {len(inputs)} inputs but labels of shape {labels.shape}; expected ({len(inputs)},)")
    if len(inputs) == 0:
        raise ValueError("dataset: no samples")
    return inputs, labels.astype(np.int64)


class DatasetQSL:
    """The dataset as a QSL: loading runs `preprocess` once over the loaded samples (untimed)."""

    def __init__(self, dataset: Any, preprocess: ArrayFn | None = None, name: str = "dataset") -> None:
        self._inputs, self.labels = _dataset_arrays(dataset)
        self._preprocess = preprocess
        self.name = f"{name}({len(self.labels)})"
        self.total_sample_count = len(self.labels)
        self.performance_sample_count = self.total_sample_count
        self.features: np.ndarray = np.zeros((0,), dtype=np.float32)
        """Model-ready inputs, indexed by sample index; only loaded rows are filled."""

    def prepare(self, indices: np.ndarray) -> np.ndarray:
        """The model-ready inputs of these samples (preprocessed, float32, batch first)."""
        selected = self._inputs[indices]
        prepared = selected if self._preprocess is None else self._preprocess(selected)
        prepared = np.asarray(prepared, dtype=np.float32)
        if prepared.shape[:1] != (len(indices),):
            raise ValueError(
                f"preprocess turned {len(indices)} samples into shape {prepared.shape}; keep the batch first"
            )
        return prepared

    def load_samples(self, indices: np.ndarray) -> None:
        prepared = self.prepare(indices)
        self.features = np.zeros((self.total_sample_count, *prepared.shape[1:]), dtype=np.float32)
        self.features[indices] = prepared

    def unload_samples(self, indices: np.ndarray) -> None:
        self.features = np.zeros((0,), dtype=np.float32)


class TinyTorchSUT:
    """A student's model as a SUT over a dataset; carries its QSL as `qsl`."""

    def __init__(
        self,
        model: Any,
        dataset: Any,
        preprocess: ArrayFn | None = None,
        postprocess: ArrayFn | None = None,
        batch_size: int = 32,
        name: str | None = None,
        tensor_type: TensorType | None = None,
        dataset_name: str = "dataset",
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model = model
        self._forward = entry_point(model)
        self._call_name = f"{type(model).__name__}.{getattr(self._forward, '__name__', '__call__')}"
        self._tensor = tensor_type if tensor_type is not None else tensor_factory()
        self._postprocess = postprocess
        self.batch_size = batch_size
        self.qsl = DatasetQSL(dataset, preprocess, dataset_name)
        self.name = name or f"{model_name(model)} (TinyTorch) on {self.qsl.name}"

    def run_batch(self, inputs: np.ndarray) -> np.ndarray:
        """Logits (B, C) for B model-ready inputs; raises ValueError on a wrong shape or NaN/inf."""
        output = as_numpy(self._forward(self._tensor(inputs)))
        if self._postprocess is not None:
            output = np.asarray(self._postprocess(output))
        batch = len(inputs)
        if output.ndim != 2 or output.shape[0] != batch:
            raise ValueError(
                f"{self._call_name} returned shape {output.shape} for {batch} input(s) of shape "
                f"{inputs.shape[1:]}; expected logits of shape ({batch}, C)"
            )
        if not np.isfinite(output).all():
            bad = int(np.count_nonzero(~np.isfinite(output)))
            raise ValueError(
                f"{self._call_name} returned {bad} non-finite value(s) (NaN or inf) in {output.shape} logits"
            )
        return output

    def issue_query(self, samples: SampleBatch) -> None:
        features = self.qsl.features
        for start in range(0, len(samples), self.batch_size):
            stop = start + self.batch_size
            logits = self.run_batch(features[samples.indices[start:stop]])
            samples.complete(samples.ids[start:stop], responses=logits)

    def flush_queries(self) -> None:
        """Every query is answered inside issue_query."""

    def model_facts(self) -> dict[str, Any]:
        return model_facts(self.model)


def _reshaper(shape: tuple[int, ...]) -> ArrayFn:
    def reshape(images: np.ndarray) -> np.ndarray:
        return images.reshape(len(images), *shape)

    return reshape


def _first_linear_inputs(model: Any) -> int | None:
    """Input features of the model's first layer when it is a Linear with an (in, out) weight."""
    layers = getattr(model, "layers", None)
    if not isinstance(layers, Sequence) or not layers:
        return None
    weight = getattr(layers[0], "weight", None)
    if weight is None:
        return None
    shape = as_numpy(weight).shape
    return int(shape[0]) if len(shape) == 2 else None


def tinydigits_input_shape(model: Any, tensor_type: TensorType, sample: np.ndarray) -> tuple[int, ...]:
    """The per-sample shape the model takes TinyDigits in: 64 when its first layer is a
    Linear(64, ...); else the first of PROBE_SHAPES on which one sample gives (1, 10) logits."""
    if _first_linear_inputs(model) == TINYDIGITS_PIXELS:
        return (TINYDIGITS_PIXELS,)
    forward = entry_point(model)
    tried = []
    for shape in PROBE_SHAPES:
        try:
            out_shape = as_numpy(forward(tensor_type(sample.reshape(1, *shape)))).shape
        except Exception as exc:  # a student's model raises anything on the wrong input shape
            tried.append(f"(1, {', '.join(map(str, shape))}): {type(exc).__name__}: {exc}")
            continue
        if out_shape == (1, TINYDIGITS_CLASSES):
            return shape
        tried.append(f"(1, {', '.join(map(str, shape))}): output shape {out_shape}")
    raise SutLoadError(
        f"{type(model).__name__} takes no TinyDigits input shape to (1, {TINYDIGITS_CLASSES}) logits; tried "
        + "; ".join(tried)
    )


def wrap_model_over_tinydigits(model: Any, split: str = "test", batch_size: int = 32) -> TinyTorchSUT:
    """A bare model as a SUT over a TinyDigits split, its inputs shaped as the model wants."""
    images, labels = load_tinydigits(split)
    tensor_type = tensor_factory()
    shape = tinydigits_input_shape(model, tensor_type, images[0])
    return TinyTorchSUT(
        model,
        (images, labels),
        preprocess=_reshaper(shape),
        batch_size=batch_size,
        tensor_type=tensor_type,
        dataset_name=f"TinyDigits-{split}",
    )
