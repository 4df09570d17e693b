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

`wrap_model` is what `--sut` uses for a bare model object: it finds the input layout the
model wants (flat 64 or 8x8 images; for `--dataset FILE` the samples as stored, flat, or
with a channel axis) and wraps it over TinyDigits or the named dataset.
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
from sut.datasets import load_dataset_file
from sut.tinydigits import load_tinydigits

PROBE_SHAPES: tuple[tuple[int, ...], ...] = ((64,), (8, 8), (1, 8, 8))
"""Per-sample input shapes tried, in this order, when a model's first layer does not say."""
MIB = 2**20
MEMORY_USAGE_KEYS = ("quantized_bytes", "total_bytes", "bytes")
"""Where a layer's `memory_usage()` dict says how many bytes it stores, in the order looked for."""

ArrayFn = Callable[[np.ndarray], np.ndarray]
TensorType = Callable[[np.ndarray], Any]


class ArrayTensor:
    """Stand-in for TinyTorch's `Tensor` when the course's package is absent: a float32 array.

    Like the course's Tensor it has no `__array__`: a model that works on it reads `.data`,
    and so works unchanged once the course is installed."""

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
            return method
    if callable(model):
        return model
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


def _parameter_arrays(holder: Any) -> dict[int, np.ndarray] | None:
    """Each distinct parameter array of `holder.parameters()` by id, read via `.data`; None without it."""
    parameters = getattr(holder, "parameters", None)
    if not callable(parameters):
        return None
    arrays: dict[int, np.ndarray] = {}
    for parameter in parameters():
        array = as_numpy(parameter)
        arrays.setdefault(id(array), array)
    return arrays


def _reported_bytes(layer: Any) -> int | None:
    """What a layer says it stores, through its own `memory_usage()` (the course's QuantizedLinear
    returns {'quantized_bytes': ...}); None when it has no such method or says nothing usable."""
    method = getattr(layer, "memory_usage", None)
    if not callable(method) or isinstance(layer, type):
        return None
    usage = method()
    if isinstance(usage, Mapping):
        usage = next((usage[key] for key in MEMORY_USAGE_KEYS if key in usage), None)
    if isinstance(usage, bool) or not isinstance(usage, (int, float, np.integer, np.floating)) or usage < 0:
        return None
    return int(usage)


def _sublayers(holder: Any) -> list[Any]:
    """The layers directly inside a model or container: its `.layers`, else its attributes that
    are layers (have `parameters()`), as in module 20's SimpleMLP (`fc1`, `relu`, `fc2`)."""
    layers = getattr(holder, "layers", None)
    if isinstance(layers, Sequence) and not isinstance(layers, str):
        return list(layers)
    members = vars(holder).values() if hasattr(holder, "__dict__") else ()
    return [
        member for member in members if not isinstance(member, type) and callable(getattr(member, "parameters", None))
    ]


def _self_reporting_layers(model: Any, depth: int = 4) -> list[tuple[Any, int]]:
    """Every layer under the model that reports its own memory_usage(), with its bytes."""
    found: list[tuple[Any, int]] = []
    for layer in _sublayers(model) if depth > 0 else ():
        reported = _reported_bytes(layer)
        if reported is not None:
            found.append((layer, reported))
        elif layer is not model:
            found += _self_reporting_layers(layer, depth - 1)
    return found


def _stored_bytes(model: Any, arrays: dict[int, np.ndarray]) -> tuple[int, str]:
    """Bytes the model stores and how they were counted: each self-reporting layer's own
    memory_usage(), then every other parameter array at its own dtype."""
    reporting = _self_reporting_layers(model)
    covered: set[int] = set()
    for layer, _ in reporting:
        covered |= set(_parameter_arrays(layer) or {})
    rest = [array for key, array in arrays.items() if key not in covered]
    dtypes = sorted({str(array.dtype) for array in rest})
    parts = []
    if reporting:
        names = sorted({type(layer).__name__ for layer, _ in reporting})
        parts.append(f"memory_usage() of {len(reporting)} layer(s) ({', '.join(names)})")
    if rest or not parts:
        parts.append(f"{len(rest)} parameter array(s) at their dtype ({', '.join(dtypes) or 'none'})")
    total = sum(size for _, size in reporting) + sum(int(array.nbytes) for array in rest)
    return total, " + ".join(parts)


def model_facts(model: Any) -> dict[str, Any]:
    """`name`, `parameter_count`, `model_size_mb` (MiB) and `size_source` of a model; None
    where it cannot say.

    The size is what the model stores: its own `size_bytes()` when it has one; otherwise each
    layer's own `memory_usage()` where a layer reports one (int8 values kept in float32
    Tensors count as the int8 they stand for), and the bytes of every other parameter array
    at its dtype (float64 weights count 8 bytes each). `size_source` says which was used.
    The parameter count is the model's `count_parameters()`, else the values of `parameters()`.
    """
    count_method = getattr(model, "count_parameters", None)
    size_method = getattr(model, "size_bytes", None)
    arrays = _parameter_arrays(model)
    if callable(count_method):
        parameter_count: int | None = int(count_method())
    else:
        parameter_count = None if arrays is None else int(sum(array.size for array in arrays.values()))
    size_bytes: int | None = None
    size_source = None
    if callable(size_method):
        size_bytes, size_source = int(size_method()), f"{type(model).__name__}.size_bytes()"
    elif arrays is not None:
        size_bytes, size_source = _stored_bytes(model, arrays)
    return {
        "name": model_name(model),
        "parameter_count": parameter_count,
        "model_size_mb": None if size_bytes is None else size_bytes / MIB,
        "size_source": size_source,
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


def candidate_shapes(sample_shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Per-sample input shapes to try for a dataset's samples, in order: TinyDigits' PROBE_SHAPES
    for 8x8 images; otherwise the samples as stored, flattened, then with a channel axis."""
    if sample_shape == (8, 8):
        return list(PROBE_SHAPES)
    flat = (int(np.prod(sample_shape)),)
    shapes = [sample_shape, flat, (1, *sample_shape)]
    return [shape for index, shape in enumerate(shapes) if shape not in shapes[:index]]


def model_input_shape(
    model: Any, tensor_type: TensorType, sample: np.ndarray, classes: int, exact: bool
) -> tuple[int, ...]:
    """The per-sample shape the model takes these samples in: flat when its first layer is a
    Linear of that many inputs; else the first candidate on which one sample gives (1, C) logits,
    C == classes when `exact` (TinyDigits: 10), else C >= classes (the largest label + 1)."""
    flat = int(sample.size)
    if _first_linear_inputs(model) == flat:
        return (flat,)
    forward = entry_point(model)
    tried = []
    for shape in candidate_shapes(tuple(sample.shape)):
        try:
            out_shape = as_numpy(forward(tensor_type(sample.reshape(1, *shape)))).shape
        except Exception as exc:  # a student's model raises anything on the wrong input shape
            tried.append(f"(1, {', '.join(map(str, shape))}): {type(exc).__name__}: {exc}")
            continue
        answers = len(out_shape) == 2 and out_shape[0] == 1
        if answers and (out_shape[1] == classes if exact else out_shape[1] >= classes):
            return shape
        tried.append(f"(1, {', '.join(map(str, shape))}): output shape {out_shape}")
    wanted = f"(1, {classes})" if exact else f"(1, C) logits with C >= {classes}"
    raise SutLoadError(f"{type(model).__name__} takes no input shape to {wanted} logits; tried " + "; ".join(tried))


def wrap_model_over_dataset(
    model: Any, inputs: np.ndarray, labels: np.ndarray, name: str, batch_size: int = 32, exact_classes: bool = False
) -> TinyTorchSUT:
    """A bare model as a SUT over a labelled dataset, its inputs shaped as the model wants."""
    tensor_type = tensor_factory()
    classes = int(labels.max()) + 1
    shape = model_input_shape(model, tensor_type, inputs[0], classes, exact_classes)
    return TinyTorchSUT(
        model,
        (inputs, labels),
        preprocess=_reshaper(shape),
        batch_size=batch_size,
        tensor_type=tensor_type,
        dataset_name=name,
    )


def wrap_model_over_tinydigits(model: Any, split: str = "test", batch_size: int = 32) -> TinyTorchSUT:
    """A bare model as a SUT over a TinyDigits split (the course's own split), answering 10 classes."""
    images, labels = load_tinydigits(split)
    return wrap_model_over_dataset(model, images, labels, f"TinyDigits-{split}", batch_size, exact_classes=True)


def wrap_model(model: Any, dataset: Path | None = None, batch_size: int = 32) -> TinyTorchSUT:
    """What `--sut` does with a bare model: run it over `--dataset FILE` when given, else TinyDigits."""
    if dataset is None:
        return wrap_model_over_tinydigits(model, batch_size=batch_size)
    data = load_dataset_file(dataset)
    return wrap_model_over_dataset(model, data.inputs, data.labels, data.name, batch_size)
