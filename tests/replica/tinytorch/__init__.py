"""Replica of the course's `tinytorch` package (see tests/replica/README.md)."""

__version__ = "0.1.0"

from .core.activations import GELU, ReLU, Sigmoid, Softmax, Tanh
from .core.layers import Dropout, Layer, Linear
from .core.spatial import AvgPool2d, Conv2d, MaxPool2d
from .core.tensor import Tensor

__all__ = [
    "GELU",
    "AvgPool2d",
    "Conv2d",
    "Dropout",
    "Layer",
    "Linear",
    "MaxPool2d",
    "ReLU",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "Tensor",
    "__version__",
]
