"""Replica of `tinytorch.nn`: the layers again, `Module`, and `Sequential` with a tuple `.layers`."""

from ..core.activations import ReLU, Sigmoid, Softmax, Tanh
from ..core.layers import Dropout, Layer, Linear
from ..core.layers import Layer as Module
from ..core.spatial import AvgPool2d, Conv2d, MaxPool2d


class Sequential(Module):
    def __init__(self, *layers):
        self.layers = layers

    def forward(self, x):
        for layer in self.layers:
            x = layer(x) if callable(layer) else layer.forward(x)
        return x

    def parameters(self):
        params = []
        for layer in self.layers:
            if hasattr(layer, "parameters"):
                params.extend(layer.parameters())
        return params


__all__ = [
    "AvgPool2d", "Conv2d", "Dropout", "Layer", "Linear", "MaxPool2d", "Module", "ReLU", "Sequential", "Sigmoid",
    "Softmax", "Tanh",
]
