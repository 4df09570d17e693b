"""Replica of the course's layers: `Layer`, `Linear` with an (in, out) weight, `Dropout`."""

import numpy as np

from .tensor import Tensor


class Layer:
    def forward(self, x):
        raise NotImplementedError("Subclasses must implement forward()")

    def __call__(self, x, *args, **kwargs):
        return self.forward(x, *args, **kwargs)

    def parameters(self):
        return []


class Linear(Layer):
    """y = x.matmul(W) + b; W is (in_features, out_features), Xavier-scaled; b zeros (float64 source)."""

    def __init__(self, in_features, out_features, bias=True):
        self.in_features = in_features
        self.out_features = out_features
        scale = np.sqrt(1.0 / in_features)
        self.weight = Tensor(np.random.randn(in_features, out_features) * scale, requires_grad=True)
        self.bias = Tensor(np.zeros(out_features), requires_grad=True) if bias else None

    def forward(self, x):
        output = x.matmul(self.weight)
        if self.bias is not None:
            output = output + self.bias
        return output

    def __call__(self, x):
        return self.forward(x)

    def parameters(self):
        return [self.weight] + ([self.bias] if self.bias is not None else [])


class Dropout(Layer):
    def __init__(self, p=0.5):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout probability must be between 0.0 and 1.0, got {p}")
        self.p = p

    def forward(self, x, training=True):
        if not training or self.p == 0.0:
            return x
        keep = np.random.random(x.data.shape) < 1.0 - self.p
        return Tensor(x.data * keep / (1.0 - self.p))

    def __call__(self, x, training=True):
        return self.forward(x, training)
