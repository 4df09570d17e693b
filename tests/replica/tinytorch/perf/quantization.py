"""Replica of module 15: asymmetric int8 quantization whose int8 values live in float32 Tensors."""

import numpy as np

from ..core.layers import Linear
from ..core.tensor import Tensor

BYTES_PER_FLOAT32 = 4
BYTES_PER_INT8 = 1


def quantize_int8(tensor):
    """(q, scale, zero_point): q = round(x / scale + zero_point) clipped to [-128, 127], as a Tensor."""
    data = tensor.data
    low, high = float(np.min(data)), float(np.max(data))
    if abs(high - low) < 1e-8:
        return Tensor(np.zeros_like(data, dtype=np.int8)), 1.0, 0
    scale = (high - low) / 255
    zero_point = int(np.clip(int(np.round(-128 - low / scale)), -128, 127))
    quantized = np.clip(np.round(data / scale + zero_point), -128, 127).astype(np.int8)
    return Tensor(quantized), scale, zero_point


def dequantize_int8(q_tensor, scale, zero_point):
    return Tensor((q_tensor.data.astype(np.float32) - zero_point) * scale)


class QuantizedLinear:
    """A Linear whose weight and bias are quantized; keeps the original layer for memory_usage()."""

    def __init__(self, linear_layer):
        self.original_layer = linear_layer
        self.q_weight, self.weight_scale, self.weight_zero_point = quantize_int8(linear_layer.weight)
        if linear_layer.bias is not None:
            self.q_bias, self.bias_scale, self.bias_zero_point = quantize_int8(linear_layer.bias)
        else:
            self.q_bias = self.bias_scale = self.bias_zero_point = None
        self.input_scale = None
        self.input_zero_point = None

    def forward(self, x):
        result = x.matmul(dequantize_int8(self.q_weight, self.weight_scale, self.weight_zero_point))
        if self.q_bias is not None:
            bias = dequantize_int8(self.q_bias, self.bias_scale, self.bias_zero_point)
            result = Tensor(result.data + bias.data)
        return result

    def __call__(self, x):
        return self.forward(x)

    def parameters(self):
        return [self.q_weight] + ([self.q_bias] if self.q_bias is not None else [])

    def memory_usage(self):
        """Bytes as the course counts them: 4 per original value, 1 per int8 value, 8 of scales."""
        original = self.original_layer.weight.data.size * BYTES_PER_FLOAT32
        if self.original_layer.bias is not None:
            original += self.original_layer.bias.data.size * BYTES_PER_FLOAT32
        quantized = self.q_weight.data.size * BYTES_PER_INT8 + BYTES_PER_FLOAT32 * 2
        if self.q_bias is not None:
            quantized += self.q_bias.data.size * BYTES_PER_INT8
        return {
            "original_bytes": original,
            "quantized_bytes": quantized,
            "compression_ratio": original / quantized if quantized > 0 else 1.0,
        }


def quantize_model(model, calibration_data=None):
    """Replace every Linear in `model.layers` in place (a tuple `.layers` cannot be assigned)."""
    if not hasattr(model, "layers"):
        raise ValueError(f"Unsupported model type: {type(model)}")
    for index, layer in enumerate(model.layers):
        if isinstance(layer, Linear):
            model.layers[index] = QuantizedLinear(layer)
