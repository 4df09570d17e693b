"""A TinyTorch student's capstone models, written the way the course writes them.

Plain classes, no base class, nothing to import from the harness: numpy weights stored
(in, out) like TinyTorch's `Linear`, `forward(x)` computing `x @ W + b`, `__call__`,
`parameters()` and `count_parameters()`. The harness benchmarks the two module-level
objects as they are:

    python -m loadgen.run --scenario single_stream --sut examples/student_model.py:model
    python -m loadgen.submit --baseline examples/student_model.py:model \
        --optimized examples/student_model.py:optimized --techniques quantization

`model` is the baseline: DigitMLP (64 -> 32 -> 10, 2,410 parameters) with the trained
weights this project ships (0.980 top-1 on the course's TinyDigits test split). `optimized` is the
same network after int8 quantization: each weight matrix stored as int8 plus one float32
scale, so its `size_bytes()` is about a quarter of the baseline's.

Works with or without TinyTorch installed: `forward` reads `x.data` when given a Tensor
(and returns a Tensor of the same type), and takes a plain numpy array too.
"""

from __future__ import annotations

import numpy as np


def _as_array(x):
    """The float32 numpy array inside x: a TinyTorch Tensor keeps it in `.data`."""
    if isinstance(x, np.ndarray):
        return x.astype(np.float32, copy=False)
    return np.asarray(x.data, dtype=np.float32)


def _like_input(x, logits):
    """Tensor in, Tensor out (the course's convention); array in, array out."""
    return logits if isinstance(x, np.ndarray) else type(x)(logits)


class StudentMLP:
    """Linear(64, 32) -> ReLU -> Linear(32, 10), returning logits (B, 10)."""

    def __init__(self, input_size=64, hidden_size=32, num_classes=10, seed=42):
        rng = np.random.default_rng(seed)
        # Kaiming-style initialisation; weights are (in, out), as TinyTorch's Linear stores them.
        self.W1 = (rng.standard_normal((input_size, hidden_size)) * np.sqrt(2.0 / input_size)).astype(np.float32)
        self.b1 = np.zeros(hidden_size, dtype=np.float32)
        self.W2 = (rng.standard_normal((hidden_size, num_classes)) * np.sqrt(2.0 / hidden_size)).astype(np.float32)
        self.b2 = np.zeros(num_classes, dtype=np.float32)
        self.name = "StudentMLP"

    @classmethod
    def pretrained(cls):
        """The network with the trained DigitMLP weights shipped in sut/data/digit_mlp.npz."""
        from sut.models import load_model  # this project's reference model, only for its weights

        state = load_model("digit_mlp").state_dict()
        model = cls()
        model.W1, model.b1 = state["0.weight"].copy(), state["0.bias"].copy()
        model.W2, model.b2 = state["2.weight"].copy(), state["2.bias"].copy()
        return model

    def forward(self, x):
        images = _as_array(x)
        images = images.reshape(len(images), -1)  # (B, 8, 8) images -> (B, 64)
        hidden = np.maximum(images @ self.W1 + self.b1, 0.0)  # ReLU
        logits = hidden @ self.W2 + self.b2
        return _like_input(x, logits)

    def __call__(self, x):
        return self.forward(x)

    def parameters(self):
        return [self.W1, self.b1, self.W2, self.b2]

    def count_parameters(self):
        return int(sum(p.size for p in self.parameters()))


def quantize_int8(weights):
    """Symmetric per-tensor int8 quantization: weights ~= q * scale, q in [-127, 127]."""
    max_abs = float(np.max(np.abs(weights)))
    scale = max_abs / 127.0 if max_abs > 0 else 1.0
    q = np.clip(np.round(weights / scale), -127, 127).astype(np.int8)
    return q, np.float32(scale)


class QuantizedStudentMLP:
    """StudentMLP with int8 weights: one float32 scale per layer, float32 biases."""

    def __init__(self, model):
        self.W1_q, self.scale1 = quantize_int8(model.W1)
        self.W2_q, self.scale2 = quantize_int8(model.W2)
        self.b1 = model.b1.copy()
        self.b2 = model.b2.copy()
        self.name = "StudentMLP-int8"

    def forward(self, x):
        images = _as_array(x)
        images = images.reshape(len(images), -1)
        # x @ (q * s) == (x @ q) * s: multiply by the int8 matrix, rescale the small output.
        hidden = np.maximum((images @ self.W1_q.astype(np.float32)) * self.scale1 + self.b1, 0.0)
        logits = (hidden @ self.W2_q.astype(np.float32)) * self.scale2 + self.b2
        return _like_input(x, logits)

    def __call__(self, x):
        return self.forward(x)

    def parameters(self):
        return [self.W1_q, self.b1, self.W2_q, self.b2]

    def count_parameters(self):
        return int(sum(p.size for p in self.parameters()))

    def size_bytes(self):
        """What the model stores: int8 weights (1 byte each), float32 biases and scales."""
        scales = np.float32().nbytes * 2
        return int(sum(p.nbytes for p in self.parameters()) + scales)


model = StudentMLP.pretrained()
optimized = QuantizedStudentMLP(model)


if __name__ == "__main__":
    from sut.tinydigits import load_tinydigits

    images, labels = load_tinydigits("test")
    for candidate in (model, optimized):
        accuracy = float(np.mean(np.argmax(candidate(images), axis=1) == labels))
        print(f"{candidate.name}: {candidate.count_parameters():,} parameters, accuracy {accuracy:.3f}")
