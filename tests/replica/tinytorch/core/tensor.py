"""Replica of the course's Tensor: float32 data, shape/size/dtype fixed at construction, no __array__."""

import numpy as np


class Tensor:
    """The course's Tensor surface: `.data`, `.shape`, `.size`, `.dtype`, `.numpy()`, elementwise
    operators with a Tensor or a scalar, `matmul`/`@` with a Tensor only, indexing, reshape."""

    def __init__(self, data, requires_grad=False):
        self.data = np.array(data, dtype=np.float32)
        self.shape = self.data.shape
        self.size = self.data.size
        self.dtype = self.data.dtype
        self.requires_grad = requires_grad
        self.grad = None

    def __repr__(self):
        return f"Tensor(data={self.data}, shape={self.shape})"

    def numpy(self):
        return self.data

    @staticmethod
    def _other(other):
        return other.data if isinstance(other, Tensor) else other

    def __add__(self, other):
        return Tensor(self.data + self._other(other))

    def __sub__(self, other):
        return Tensor(self.data - self._other(other))

    def __mul__(self, other):
        return Tensor(self.data * self._other(other))

    def __truediv__(self, other):
        return Tensor(self.data / self._other(other))

    def matmul(self, other):
        if not isinstance(other, Tensor):
            raise TypeError(f"Expected Tensor for matrix multiplication, got {type(other)}")
        if self.data.ndim >= 2 and other.data.ndim >= 2 and self.shape[-1] != other.shape[-2]:
            raise ValueError(f"Cannot perform matrix multiplication: {self.shape} @ {other.shape}")
        return Tensor(np.matmul(self.data, other.data))

    def __matmul__(self, other):
        return self.matmul(other)

    def __getitem__(self, key):
        return Tensor(np.asarray(self.data[key]), requires_grad=self.requires_grad)

    def reshape(self, *shape):
        new_shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        return Tensor(np.reshape(self.data, new_shape), requires_grad=self.requires_grad)

    def transpose(self, dim0=None, dim1=None):
        if dim0 is None and dim1 is None:
            return Tensor(self.data.copy() if self.data.ndim < 2 else np.swapaxes(self.data, -1, -2))
        return Tensor(np.swapaxes(self.data, dim0, dim1))

    def sum(self, axis=None, keepdims=False):
        return Tensor(np.sum(self.data, axis=axis, keepdims=keepdims))

    def mean(self, axis=None, keepdims=False):
        return Tensor(np.mean(self.data, axis=axis, keepdims=keepdims))

    def max(self, axis=None, keepdims=False):
        return Tensor(np.max(self.data, axis=axis, keepdims=keepdims))

    def backward(self):
        """Module 05 fills this in; inference never calls it."""
