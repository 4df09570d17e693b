"""Replica of module 16's exported pruning: per-parameter magnitude thresholds over `model.layers`."""

import numpy as np


def measure_sparsity(model):
    total = zeros = 0
    for layer in model.layers:
        for param in layer.parameters():
            total += param.size
            zeros += int(np.sum(param.data == 0))
    return zeros / total if total else 0.0


def magnitude_prune(model, sparsity=0.5):
    """Zero, in place, each parameter's values below its own `sparsity` percentile of |value|."""
    for layer in model.layers:
        for param in layer.parameters():
            threshold = np.percentile(np.abs(param.data), sparsity * 100)
            param.data[np.abs(param.data) < threshold] = 0
    return model
