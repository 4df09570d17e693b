"""Replica of the course's spatial layers on NCHW input (vectorised; same results as its loops)."""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .tensor import Tensor


def _pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)


def _windows(data, kernel, stride, padding, fill=0.0):
    if padding:
        data = np.pad(data, ((0, 0), (0, 0), (padding, padding), (padding, padding)), constant_values=fill)
    return sliding_window_view(data, kernel, axis=(2, 3))[:, :, ::stride, ::stride]


class Conv2d:
    """weight (out, in, kh, kw), He-initialised; bias zeros; output float32 Tensor (B, out, H', W')."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True):
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _pair(kernel_size)
        self.stride = stride
        self.padding = padding
        kh, kw = self.kernel_size
        std = np.sqrt(2.0 / (in_channels * kh * kw))
        self.weight = Tensor(np.random.normal(0, std, (out_channels, in_channels, kh, kw)), requires_grad=True)
        self.bias = Tensor(np.zeros(out_channels), requires_grad=True) if bias else None

    def forward(self, x):
        if len(x.shape) != 4:
            raise ValueError(f"Expected 4D input (batch, channels, height, width), got {x.shape}")
        windows = _windows(x.data, self.kernel_size, self.stride, self.padding)
        out = np.tensordot(windows, self.weight.data, axes=([1, 4, 5], [1, 2, 3])).transpose(0, 3, 1, 2)
        if self.bias is not None:
            out = out + self.bias.data[None, :, None, None]
        return Tensor(out)

    def parameters(self):
        return [self.weight] + ([self.bias] if self.bias is not None else [])

    def __call__(self, x):
        return self.forward(x)


class MaxPool2d:
    """Max over kernel windows; stride defaults to the kernel size."""

    def __init__(self, kernel_size, stride=None, padding=0):
        self.kernel_size = _pair(kernel_size)
        self.stride = self.kernel_size[0] if stride is None else stride
        self.padding = padding

    def forward(self, x):
        if len(x.shape) != 4:
            raise ValueError(f"Expected 4D input (batch, channels, height, width), got {x.shape}")
        return Tensor(_windows(x.data, self.kernel_size, self.stride, self.padding, -np.inf).max(axis=(4, 5)))

    def parameters(self):
        return []

    def __call__(self, x):
        return self.forward(x)


class AvgPool2d(MaxPool2d):
    def forward(self, x):
        if len(x.shape) != 4:
            raise ValueError(f"Expected 4D input (batch, channels, height, width), got {x.shape}")
        return Tensor(_windows(x.data, self.kernel_size, self.stride, self.padding).mean(axis=(4, 5)))
