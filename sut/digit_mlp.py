"""The default SUT: the DigitMLP reference model (64 -> 32 -> 10, numpy) classifying TinyDigits.

It carries its own QSL over the TinyDigits test split, so `python -m loadgen.run` needs no
arguments beyond `--scenario`. Inference runs in the issuing thread, in batches.
"""

from __future__ import annotations

import numpy as np

from loadgen.query import SampleBatch
from sut.models import load_model
from sut.tinydigits import load_tinydigits


class TinyDigitsQSL:
    """The TinyDigits test split as a QSL; loading flattens the images (untimed)."""

    def __init__(self, split: str = "test") -> None:
        self.name = f"TinyDigits-{split}"
        self._images, self.labels = load_tinydigits(split)
        self.total_sample_count = len(self._images)
        self.performance_sample_count = self.total_sample_count
        self.features = np.zeros((0, 64), dtype=np.float32)

    def load_samples(self, indices: np.ndarray) -> None:
        self.features = self._images.reshape(len(self._images), -1).astype(np.float32)

    def unload_samples(self, indices: np.ndarray) -> None:
        self.features = np.zeros((0, 64), dtype=np.float32)


class DigitMLPSUT:
    """Runs DigitMLP on each batch, `batch_size` samples at a time, completing as it goes."""

    def __init__(self, model_name: str = "digit_mlp", batch_size: int = 256) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model = load_model(model_name)
        self.name = f"{type(self.model).__name__} (numpy) on TinyDigits"
        self.qsl = TinyDigitsQSL()
        self.batch_size = batch_size

    def issue_query(self, samples: SampleBatch) -> None:
        features = self.qsl.features
        for start in range(0, len(samples), self.batch_size):
            stop = start + self.batch_size
            logits = self.model(features[samples.indices[start:stop]])
            samples.complete(samples.ids[start:stop], responses=logits)

    def flush_queries(self) -> None:
        """Every query is answered inside issue_query."""

    def model_facts(self) -> dict[str, object]:
        """Parameter count and size (MiB) for result.json."""
        return {
            "name": type(self.model).__name__,
            "parameter_count": self.model.count_parameters(),
            "model_size_mb": self.model.size_bytes() / 2**20,
        }


def make_sut(model_name: str = "digit_mlp", batch_size: int = 256) -> DigitMLPSUT:
    """Factory for `--sut sut.digit_mlp`; model_name also takes digit_mlp_int8, digit_mlp_pruned50."""
    return DigitMLPSUT(model_name=model_name, batch_size=batch_size)
