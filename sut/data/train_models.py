"""Train the reference models and write their weights to ``sut/data``.

Why this script exists: the benchmark's systems under test must produce
meaningful predictions (so accuracy checks mean something), and the shipped
weights must be reproducible from source.  It trains, with hand-written numpy
backprop and full-batch AdamW from fixed seeds:

* ``DigitMLP`` and ``TinyDigitsCNN`` on the TinyDigits train split,
* ``SimpleMLP`` on the synthetic problem from ``sut.models.simple_mlp_data``,

Decoupled weight decay on the weight matrices matters for the optimized
variants: it drives weights that never receive gradient (e.g. from border
pixels that are always 0) towards zero, so magnitude pruning removes those
rather than useful ones.

It prints each model's test accuracy and writes ``digit_mlp.npz``,
``tinydigits_cnn.npz`` and ``simple_mlp.npz`` (float32 weights) next to this
file.  Run it as ``python sut/data/train_models.py``; it takes under a minute.
Top-1 on the course's TinyDigits test split, each from
``python -m loadgen.run --scenario offline --mode accuracy --sut-arg model_name=NAME``:
digit_mlp 0.980, digit_mlp_int8 0.980, digit_mlp_pruned50 0.955, tinydigits_cnn 0.960.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

DATA_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(DATA_DIR.parents[1]))  # make ``sut`` importable when run as a script

from sut.models import (  # noqa: E402
    Conv2d,
    DigitMLP,
    Flatten,
    Layer,
    Linear,
    MaxPool2d,
    Model,
    ReLU,
    SimpleMLP,
    TinyDigitsCNN,
    simple_mlp_data,
)
from sut.tinydigits import load_tinydigits  # noqa: E402

FloatArray = npt.NDArray[np.float32]
LabelArray = npt.NDArray[np.int64]

SEED = 0  # initialisation seed for every model and for the SimpleMLP data


@dataclass(frozen=True)
class TrainConfig:
    steps: int
    learning_rate: float
    weight_decay: float


def layer_backward(
    layer: Layer, x: FloatArray, grad_out: FloatArray, need_input_grad: bool
) -> tuple[FloatArray | None, list[FloatArray]]:
    """Return (gradient w.r.t. ``x`` or None, gradients aligned with ``layer.parameters()``)."""
    if isinstance(layer, Linear):
        grads = [x.T @ grad_out] + ([grad_out.sum(axis=0)] if layer.bias is not None else [])
        return (grad_out @ layer.weight.T if need_input_grad else None), grads
    if isinstance(layer, ReLU):
        return grad_out * (x > 0), []
    if isinstance(layer, Flatten):
        return grad_out.reshape(x.shape), []
    if isinstance(layer, MaxPool2d):
        k = layer.kernel_size
        batch, channels, height, width = x.shape
        out_h, out_w = height // k, width // k
        blocks = x[:, :, : out_h * k, : out_w * k].reshape(batch, channels, out_h, k, out_w, k)
        pooled = blocks.max(axis=(3, 5), keepdims=True)
        routed = (blocks == pooled) * grad_out[:, :, :, None, :, None]
        grad_in = np.zeros_like(x)
        grad_in[:, :, : out_h * k, : out_w * k] = routed.reshape(batch, channels, out_h * k, out_w * k)
        return grad_in, []
    if isinstance(layer, Conv2d):
        if need_input_grad:
            raise ValueError("a Conv2d that is not the first layer: its input gradient is not implemented here")
        grad_w = np.tensordot(grad_out, layer.windows(x), axes=([0, 2, 3], [0, 2, 3]))
        return None, [grad_w, grad_out.sum(axis=(0, 2, 3))]
    raise TypeError(f"no backward rule for {type(layer).__name__}")


def loss_and_grads(model: Model, x: FloatArray, y: LabelArray) -> tuple[float, list[FloatArray]]:
    """Mean softmax cross-entropy and its gradients, aligned with ``model.parameters()``."""
    activations = [x.reshape(x.shape[0], *model.input_shapes[0])]
    for layer in model.layers:
        activations.append(layer(activations[-1]))
    logits = activations[-1]
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = float(-log_probs[np.arange(len(y)), y].mean())

    grad = np.exp(log_probs)
    grad[np.arange(len(y)), y] -= 1
    grad /= len(y)
    per_layer: list[list[FloatArray]] = []
    for index in range(len(model.layers) - 1, -1, -1):
        grad_in, param_grads = layer_backward(model.layers[index], activations[index], grad, index > 0)
        per_layer.append(param_grads)
        if grad_in is not None:
            grad = grad_in
    return loss, [g.astype(np.float32) for grads in reversed(per_layer) for g in grads]


def train(model: Model, x: FloatArray, y: LabelArray, config: TrainConfig) -> float:
    """Full-batch AdamW (beta1 0.9, beta2 0.999) updating parameters in place.

    Returns the loss computed at the last step (before that step's update).

    Weight decay is decoupled (AdamW) and applied to weight matrices/kernels
    only, not to biases.
    """
    params = model.parameters()
    first = [np.zeros_like(p) for p in params]
    second = [np.zeros_like(p) for p in params]
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    loss = float("nan")
    for step in range(1, config.steps + 1):
        loss, grads = loss_and_grads(model, x, y)
        for param, grad, m, v in zip(params, grads, first, second, strict=True):
            m *= beta1
            m += (1 - beta1) * grad
            v *= beta2
            v += (1 - beta2) * grad * grad
            m_hat = m / (1 - beta1**step)
            v_hat = v / (1 - beta2**step)
            if param.ndim > 1:
                param -= np.float32(config.learning_rate * config.weight_decay) * param
            param -= (config.learning_rate * m_hat / (np.sqrt(v_hat) + eps)).astype(np.float32)
    return loss


def accuracy(model: Model, x: FloatArray, y: LabelArray) -> float:
    return float((model(x).argmax(axis=1) == y).mean())


def main() -> None:
    train_images, train_labels = load_tinydigits("train")
    test_images, test_labels = load_tinydigits("test")

    digits = (train_images, train_labels, test_images, test_labels)
    jobs: list[tuple[Model, TrainConfig, tuple[FloatArray, LabelArray, FloatArray, LabelArray]]] = [
        (DigitMLP(np.random.default_rng(SEED)), TrainConfig(400, 0.01, 0.3), digits),
        (TinyDigitsCNN(np.random.default_rng(SEED)), TrainConfig(400, 0.01, 0.3), digits),
        (SimpleMLP(np.random.default_rng(SEED)), TrainConfig(200, 0.01, 0.3), simple_mlp_data(seed=SEED)),
    ]
    for model, config, (x_train, y_train, x_test, y_test) in jobs:
        loss = train(model, x_train, y_train, config)
        path = DATA_DIR / f"{model.name}.npz"
        model.save_state(path)
        print(
            f"{model.name}: params={model.count_parameters()} final_train_loss={loss:.4f} "
            f"train_acc={accuracy(model, x_train, y_train):.3f} test_acc={accuracy(model, x_test, y_test):.3f} "
            f"-> {path.name} ({path.stat().st_size} bytes)"
        )


if __name__ == "__main__":
    main()
