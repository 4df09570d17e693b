"""The default SUT: the DigitMLP reference model (64 -> 32 -> 10, numpy) classifying TinyDigits.

It is the TinyTorch wrapper around a shipped model, carrying its QSL over the TinyDigits
test split (with labels for accuracy mode), so `python -m loadgen.run` needs no argument
beyond `--scenario`.
"""

from __future__ import annotations

from sut.models import load_model
from sut.tinytorch import TinyTorchSUT, wrap_model_over_tinydigits


def make_sut(model_name: str = "digit_mlp", batch_size: int = 256) -> TinyTorchSUT:
    """Factory for `--sut sut.digit_mlp`; model_name also takes digit_mlp_int8, digit_mlp_pruned50."""
    model = load_model(model_name)
    sut = wrap_model_over_tinydigits(model, batch_size=batch_size)
    sut.name = f"{type(model).__name__} (numpy) on TinyDigits"
    return sut
