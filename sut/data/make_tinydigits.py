"""Build the TinyDigits dataset shipped as ``sut/data/tinydigits.npz``.

Why this script exists: the benchmark needs a small, fixed, offline dataset
whose provenance anyone can check.  TinyDigits is derived from scikit-learn's
bundled ``load_digits`` (1,797 greyscale 8x8 digits, no download), so the
shipped file can be regenerated with identical arrays and the test suite
verifies that it still is.  scikit-learn is needed only to run this script;
nothing at run time imports it.

Algorithm (deterministic):

1. ``images = digits.images / 16`` as float32 (pixels in [0, 1]),
   ``labels = digits.target`` as int64.
2. ``rng = numpy.random.default_rng(42)``.
3. For each class 0, 1, ..., 9 in order: ``rng.choice`` 120 indices of that
   class without replacement; the first 100 go to the train split, the next
   20 to the test split.
4. Shuffle the train indices with ``rng.permutation``, then the test indices
   (same generator, in that order).
5. Save ``train_images`` (1000, 8, 8), ``train_labels`` (1000,),
   ``test_images`` (200, 8, 8), ``test_labels`` (200,) with
   ``numpy.savez_compressed``.

Run it as ``python sut/data/make_tinydigits.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from sklearn.datasets import load_digits

SEED = 42
TRAIN_PER_CLASS = 100
TEST_PER_CLASS = 20
NUM_CLASSES = 10
OUTPUT_PATH = Path(__file__).resolve().parent / "tinydigits.npz"


def build_tinydigits(seed: int = SEED) -> dict[str, np.ndarray]:
    """Return the TinyDigits arrays, keyed as in the shipped ``.npz`` file."""
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)
    labels = digits.target.astype(np.int64)

    rng = np.random.default_rng(seed)
    train_parts: list[np.ndarray] = []
    test_parts: list[np.ndarray] = []
    for cls in range(NUM_CLASSES):
        members = np.flatnonzero(labels == cls)
        picked = rng.choice(members, size=TRAIN_PER_CLASS + TEST_PER_CLASS, replace=False)
        train_parts.append(picked[:TRAIN_PER_CLASS])
        test_parts.append(picked[TRAIN_PER_CLASS:])
    train_idx = rng.permutation(np.concatenate(train_parts))
    test_idx = rng.permutation(np.concatenate(test_parts))

    return {
        "train_images": images[train_idx],
        "train_labels": labels[train_idx],
        "test_images": images[test_idx],
        "test_labels": labels[test_idx],
    }


def main() -> None:
    arrays: dict[str, Any] = build_tinydigits()  # Any: savez's stubs type **kwds like allow_pickle
    np.savez_compressed(OUTPUT_PATH, **arrays)
    for key, value in arrays.items():
        print(f"{key}: shape={value.shape} dtype={value.dtype}")
    print(f"wrote {OUTPUT_PATH} ({OUTPUT_PATH.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
