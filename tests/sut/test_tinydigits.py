"""TinyDigits is the course's split, exactly: the shipped arrays are the course's train.pkl / test.pkl."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest

from sut.tinydigits import load_tinydigits

REPO = Path(__file__).resolve().parents[2]
COURSE_PICKLE_SHA256 = {
    "train": "254293630e549113002cdc3f7f1542715e0a40288a3a8a0358fb8e478dce1e54",
    "test": "767ea1644a12dac6f3f94f63536de4deace8a0fa1f5c54f80a9419a267c7802d",
}
"""The Git LFS ids of MLSysBook/TinyTorch datasets/tinydigits/{train,test}.pkl (numpy 2.4 pickles)."""
ARRAY_SHA256 = {
    ("train", "images"): "6884b961c48853196616f7631b7e59f0073911bc28d005f5e57d4153487d850a",
    ("train", "labels"): "ba21bb8309090d5227ad6b8fc6201ca1e94f8bb1ff022e4889805c15059ca5d5",
    ("test", "images"): "b1132e9b6aa0388da3e3d286c5416dc4474db547504a6377a7fd86aab0aa25ad",
    ("test", "labels"): "2004804224c77e5dd540102f00a64081b5e653860873a343bfee994f3374145a",
}
"""sha256 of each of the course's arrays' bytes (C order): the same on any numpy version."""


@pytest.mark.parametrize("split", ["train", "test"])
def test_the_shipped_split_is_the_courses_array_for_array_in_order(split: str) -> None:
    images, labels = load_tinydigits(split)
    assert images.dtype == np.float32 and labels.dtype == np.int64
    assert hashlib.sha256(np.ascontiguousarray(images).tobytes()).hexdigest() == ARRAY_SHA256[(split, "images")]
    assert hashlib.sha256(labels.tobytes()).hexdigest() == ARRAY_SHA256[(split, "labels")]
    assert np.bincount(labels).tolist() == [100 if split == "train" else 20] * 10


@pytest.mark.skipif(int(np.__version__.split(".")[0]) < 2, reason="the course's pickles were written by numpy 2")
@pytest.mark.parametrize("split", ["train", "test"])
def test_pickled_as_the_course_does_it_is_the_courses_file_byte_for_byte(split: str) -> None:
    images, labels = load_tinydigits(split)
    digest = hashlib.sha256(pickle.dumps({"images": images, "labels": labels})).hexdigest()
    assert digest == COURSE_PICKLE_SHA256[split]


@pytest.mark.skipif(
    importlib.util.find_spec("sklearn") is None and os.environ.get("CI") != "true",
    reason="regenerating TinyDigits needs scikit-learn (the test extra)",
)
def test_the_generator_rebuilds_the_shipped_file_from_scikit_learns_digits() -> None:
    sys.path.insert(0, str(REPO / "sut" / "data"))
    try:
        import make_tinydigits
    finally:
        sys.path.remove(str(REPO / "sut" / "data"))
    arrays = make_tinydigits.build_tinydigits()
    for split in ("train", "test"):
        images, labels = load_tinydigits(split)
        np.testing.assert_array_equal(arrays[f"{split}_images"], images)
        np.testing.assert_array_equal(arrays[f"{split}_labels"], labels)
        digest = hashlib.sha256(make_tinydigits.course_pickle(arrays, split)).hexdigest()
        assert digest == make_tinydigits.COURSE_PICKLE_SHA256[split] == COURSE_PICKLE_SHA256[split]
