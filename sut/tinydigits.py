"""Loader for the shipped TinyDigits dataset (``sut/data/tinydigits.npz``).

Why: benchmark runs and accuracy checks need the course's evaluation data
without scikit-learn or network access.  The file is produced by
``sut/data/make_tinydigits.py`` (see its docstring for the exact algorithm):
8x8 greyscale digits in [0, 1], float32, 1000 train / 200 test images,
balanced at 100 / 20 per class, int64 labels 0-9.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

DATA_PATH = Path(__file__).parent / "data" / "tinydigits.npz"
SPLITS = ("train", "test")


def load_tinydigits(split: str) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """Return ``(images, labels)`` for ``split`` ("train" or "test").

    ``images`` has shape (N, 8, 8) and dtype float32; ``labels`` has shape
    (N,) and dtype int64.  Each call reads the file afresh, so callers may
    modify the returned arrays freely.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown TinyDigits split {split!r}; expected one of {SPLITS}")
    with np.load(DATA_PATH) as archive:
        images = archive[f"{split}_images"]
        labels = archive[f"{split}_labels"]
    return images, labels
