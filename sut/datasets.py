"""`--dataset FILE`: a labelled dataset for a bare model, from a `.npz` or the course's `.pkl`.

Why: a student's model is not always a TinyDigits classifier (module 20's `SimpleMLP` takes
10 features, 3 classes), and the course ships its data as pickled dicts. Accepted files:

* `.npz` with `images` (or `features`) and `labels`, read with `allow_pickle=False`;
* `.pkl` / `.pickle` holding a dict with `images` and `labels`, as the course's
  `datasets/tinydigits/{train,test}.pkl`. Unpickling can run code, so it happens only for a
  file the user names on the command line, and even then through an unpickler that resolves
  nothing but numpy's array reconstruction (any other global is refused).

Everything is checked before a run starts: size on disk, numeric inputs with a batch
dimension, finite values, one integer label per sample in [0, MAX_CLASSES), at most
MAX_SAMPLES samples. A bad file is a `SettingsError` naming the file and the rule (exit 2).
"""

from __future__ import annotations

import io
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from loadgen.errors import SettingsError

MAX_DATASET_BYTES = 1 << 30
"""Largest dataset file read (1 GiB)."""
MAX_SAMPLES = 10_000_000
MAX_CLASSES = 100_000
INPUT_KEYS = ("images", "features")
PICKLE_SUFFIXES = (".pkl", ".pickle")
_NUMPY_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}
"""What a pickled dict of numpy arrays needs, and all the unpickler will resolve."""


@dataclass(frozen=True)
class LabelledData:
    """Inputs (N, ...) float32 and labels (N,) int64, with the name the results show."""

    inputs: npt.NDArray[np.float32]
    labels: npt.NDArray[np.int64]
    name: str

    @property
    def classes(self) -> int:
        """How many classes the labels need a model to answer: the largest label + 1."""
        return int(self.labels.max()) + 1


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _NUMPY_GLOBALS:
            raise pickle.UnpicklingError(f"refuses {module}.{name}: only numpy arrays may be unpickled")
        return super().find_class(module, name)


def _refuse(path: Path, problem: str) -> SettingsError:
    return SettingsError([f"--dataset {path}: {problem}"])


def _read_pickle(path: Path, raw: bytes) -> dict[str, Any]:
    try:
        data = _ArraysOnly(io.BytesIO(raw)).load()
    except Exception as exc:  # a corrupt or hostile pickle raises anything; all of it is "not readable"
        raise _refuse(path, f"not a readable pickle of numpy arrays: {type(exc).__name__}: {exc}") from None
    if not isinstance(data, dict):
        raise _refuse(path, f"holds a {type(data).__name__}; expected a dict with 'images' and 'labels'")
    return data


def _read_npz(path: Path, raw: bytes) -> dict[str, Any]:
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except Exception as exc:  # zip, header and pickle errors of a corrupt file all mean the same here
        raise _refuse(path, f"not a readable .npz of plain arrays: {type(exc).__name__}: {exc}") from None


def _inputs(path: Path, fields: dict[str, Any]) -> npt.NDArray[np.float32]:
    key = next((key for key in INPUT_KEYS if key in fields), None)
    if key is None or "labels" not in fields:
        raise _refuse(path, f"has the keys {sorted(map(str, fields))[:8]}; expected images (or features) and labels")
    inputs = fields[key]
    if not isinstance(inputs, np.ndarray) or inputs.dtype.kind not in "biuf":
        raise _refuse(path, f"{key} must be a numeric array, got {getattr(inputs, 'dtype', type(inputs).__name__)}")
    if inputs.ndim < 2 or len(inputs) == 0:
        raise _refuse(path, f"{key} has shape {inputs.shape}; expected (N, ...) with N >= 1 samples")
    if len(inputs) > MAX_SAMPLES:
        raise _refuse(path, f"{key} has {len(inputs)} samples; at most {MAX_SAMPLES}")
    as_float = inputs.astype(np.float32)
    if not np.isfinite(as_float).all():
        raise _refuse(path, f"{key} holds {int(np.count_nonzero(~np.isfinite(as_float)))} NaN or infinite values")
    return as_float


def _labels(path: Path, labels: Any, count: int) -> npt.NDArray[np.int64]:
    if not isinstance(labels, np.ndarray) or labels.dtype.kind not in "biuf":
        raise _refuse(path, f"labels must be a numeric array, got {getattr(labels, 'dtype', type(labels).__name__)}")
    if labels.shape != (count,):
        raise _refuse(path, f"labels have shape {labels.shape}; expected ({count},), one per sample")
    if labels.dtype.kind == "f" and not (np.isfinite(labels).all() and np.all(labels == np.round(labels))):
        raise _refuse(path, "labels must be whole class numbers")
    if labels.min() < 0 or labels.max() >= MAX_CLASSES:
        raise _refuse(path, f"labels range over [{labels.min()}, {labels.max()}]; allowed: 0 to {MAX_CLASSES - 1}")
    return labels.astype(np.int64)


def load_dataset_file(path: Path) -> LabelledData:
    """The checked dataset in `path`; SettingsError naming the file and the problem otherwise."""
    try:
        size = path.stat().st_size
        if size > MAX_DATASET_BYTES:
            raise _refuse(path, f"{size} bytes; at most {MAX_DATASET_BYTES}")
        raw = path.read_bytes()
    except OSError as exc:
        raise _refuse(path, f"cannot read: {exc.strerror or exc}") from None
    fields = _read_pickle(path, raw) if path.suffix.lower() in PICKLE_SUFFIXES else _read_npz(path, raw)
    inputs = _inputs(path, fields)
    labels = _labels(path, fields["labels"], len(inputs))
    return LabelledData(inputs, labels, path.name)
