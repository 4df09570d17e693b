"""Build the TinyDigits dataset shipped as ``sut/data/tinydigits.npz``: the course's split, exactly.

Why this script exists: accuracy must be measured on the split the course measures on
(MLSysBook/TinyTorch ``datasets/tinydigits/{train,test}.pkl``, which its repository keeps as
Git LFS pointers). This follows the course's ``create_tinydigits.py`` step for step, so the
arrays equal the course's, in order; ``tests/sut/test_tinydigits.py`` checks them against the
course's hashes. scikit-learn (its ``load_digits`` data ships inside the package: no
download) is needed only to run this script; nothing at run time imports it.

Algorithm (deterministic, numpy's legacy global generator as the course uses it):

1. ``images = digits.images.astype(float32) / 16`` (pixels in [0, 1]), ``labels = digits.target``.
2. ``np.random.seed(42)``.
3. For each class 0, 1, ..., 9 in order: that class's indices (``np.where``), shuffled in
   place with ``np.random.shuffle``; the first 100 go to train, the next 20 to test.
4. Stack both splits in class order (labels int64), then reorder the train split by
   ``np.random.permutation(1000)``, then the test split by ``np.random.permutation(200)``.
5. Save ``train_images`` (1000, 8, 8), ``train_labels`` (1000,), ``test_images`` (200, 8, 8),
   ``test_labels`` (200,) with ``numpy.savez_compressed``.

Pickling ``{'images': ..., 'labels': ...}`` of each split with the default protocol gives the
course's files byte for byte (sha256 in ``COURSE_PICKLE_SHA256``; numpy 2.4).

Run it as ``python sut/data/make_tinydigits.py``.
"""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.datasets import load_digits

SEED = 42
TRAIN_PER_CLASS = 100
TEST_PER_CLASS = 20
NUM_CLASSES = 10
OUTPUT_PATH = Path(__file__).resolve().parent / "tinydigits.npz"


COURSE_PICKLE_SHA256 = {
    "train": "254293630e549113002cdc3f7f1542715e0a40288a3a8a0358fb8e478dce1e54",
    "test": "767ea1644a12dac6f3f94f63536de4deace8a0fa1f5c54f80a9419a267c7802d",
}
"""The course's train.pkl and test.pkl (their Git LFS object ids)."""


def build_tinydigits(seed: int = SEED) -> dict[str, np.ndarray]:
    """Return the TinyDigits arrays, keyed as in the shipped ``.npz`` file (the course's algorithm)."""
    digits = load_digits()
    images = digits.images.astype(np.float32) / 16.0
    labels = digits.target
    np.random.seed(seed)
    train_parts: list[np.ndarray] = []
    test_parts: list[np.ndarray] = []
    for cls in range(NUM_CLASSES):
        members = np.where(labels == cls)[0]
        np.random.shuffle(members)
        train_parts.append(members[:TRAIN_PER_CLASS])
        test_parts.append(members[TRAIN_PER_CLASS : TRAIN_PER_CLASS + TEST_PER_CLASS])
    train_labels = np.repeat(np.arange(NUM_CLASSES, dtype=np.int64), TRAIN_PER_CLASS)
    test_labels = np.repeat(np.arange(NUM_CLASSES, dtype=np.int64), TEST_PER_CLASS)
    train_order = np.random.permutation(len(train_labels))
    test_order = np.random.permutation(len(test_labels))
    return {
        "train_images": images[np.concatenate(train_parts)][train_order],
        "train_labels": train_labels[train_order],
        "test_images": images[np.concatenate(test_parts)][test_order],
        "test_labels": test_labels[test_order],
    }


def course_pickle(arrays: dict[str, np.ndarray], split: str) -> bytes:
    """The split as the course pickles it: ``{'images': ..., 'labels': ...}``, default protocol."""
    return pickle.dumps({"images": arrays[f"{split}_images"], "labels": arrays[f"{split}_labels"]})


def main() -> None:
    arrays: dict[str, Any] = build_tinydigits()  # Any: savez's stubs type **kwds like allow_pickle
    np.savez_compressed(OUTPUT_PATH, **arrays)
    for key, value in arrays.items():
        print(f"{key}: shape={value.shape} dtype={value.dtype}")
    print(f"wrote {OUTPUT_PATH} ({OUTPUT_PATH.stat().st_size} bytes)")
    for split, expected in COURSE_PICKLE_SHA256.items():
        digest = hashlib.sha256(course_pickle(arrays, split)).hexdigest()
        verdict = "matches the course's" if digest == expected else "DIFFERS from the course's"
        print(f"{split}.pkl sha256 {digest}: {verdict}")


if __name__ == "__main__":
    main()
