"""Replica of module 20 (capstone) as a student runs its source: SimpleMLP, BenchmarkReport,
generate_submission, save_submission, validate_submission_schema, run_example_benchmark.

Written from the course's documented behaviour (see tests/replica/README.md)."""

import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
from tinytorch.core.activations import ReLU
from tinytorch.core.layers import Linear
from tinytorch.core.tensor import Tensor


class SimpleMLP:
    """Linear(10, 20) -> ReLU -> Linear(20, 3); weights replaced by float64 randn * 0.01, as the course does."""

    def __init__(self, input_size=10, hidden_size=20, output_size=3):
        self.fc1 = Linear(input_size, hidden_size)
        self.relu = ReLU()
        self.fc2 = Linear(hidden_size, output_size)
        self.fc1.weight.data = np.random.randn(input_size, hidden_size) * 0.01
        self.fc1.bias.data = np.zeros(hidden_size)
        self.fc2.weight.data = np.random.randn(hidden_size, output_size) * 0.01
        self.fc2.bias.data = np.zeros(output_size)

    def forward(self, x):
        return self.fc2.forward(self.relu.forward(self.fc1.forward(x)))

    def parameters(self):
        return [self.fc1.weight, self.fc1.bias, self.fc2.weight, self.fc2.bias]

    def count_parameters(self):
        return sum(param.data.size for param in self.parameters())


class BenchmarkReport:
    """The course's measurement: size = parameters x 4 bytes; latency by time.time() over num_runs."""

    def __init__(self, model_name="model"):
        self.model_name = model_name
        self.metrics = {}
        self.system_info = {
            "platform": platform.platform(),
            "python_version": sys.version.split()[0],
            "numpy_version": np.__version__,
        }
        self.timestamp = time.strftime("%Y-%m-%d %H:%M:%S")

    def benchmark_model(self, model, X_test, y_test, num_runs=100):
        param_count = model.count_parameters()
        predictions = model.forward(X_test)
        accuracy = np.mean(np.argmax(predictions.data, axis=1) == y_test)
        latencies = []
        for _ in range(num_runs):
            start = time.time()
            model.forward(X_test[:1])
            latencies.append((time.time() - start) * 1000)
        mean = float(np.mean(latencies)) or 1e-6  # a coarse clock can read 0; the course would divide by it
        self.metrics = {
            "parameter_count": int(param_count),
            "model_size_mb": float(param_count * 4 / (1024 * 1024)),
            "accuracy": float(accuracy),
            "latency_ms_mean": mean,
            "latency_ms_std": float(np.std(latencies)),
            "throughput_samples_per_sec": float(1000 / mean),
        }
        return self.metrics


def generate_submission(baseline_report, optimized_report=None, student_name=None, techniques_applied=None):
    submission = {
        "tinytorch_version": "0.1.0",
        "submission_type": "capstone_benchmark",
        "timestamp": baseline_report.timestamp,
        "system_info": baseline_report.system_info,
        "baseline": {"model_name": baseline_report.model_name, "metrics": baseline_report.metrics},
    }
    if student_name:
        submission["student_name"] = student_name
    if optimized_report:
        base, opt = baseline_report.metrics, optimized_report.metrics
        submission["optimized"] = {
            "model_name": optimized_report.model_name,
            "metrics": opt,
            "techniques_applied": techniques_applied or [],
        }
        submission["improvements"] = {
            "speedup": float(base["latency_ms_mean"] / opt["latency_ms_mean"]),
            "compression_ratio": float(base["model_size_mb"] / opt["model_size_mb"]),
            "accuracy_delta": float(opt["accuracy"] - base["accuracy"]),
        }
    return submission


def save_submission(submission, filepath="submission.json"):
    Path(filepath).write_text(json.dumps(submission, indent=2))
    return filepath


def validate_submission_schema(submission):
    """The course's check: required fields, their types, value ranges; raises AssertionError."""
    for field in ["tinytorch_version", "submission_type", "timestamp", "system_info", "baseline"]:
        if field not in submission:
            raise AssertionError(f"Missing required field: {field}")
    assert isinstance(submission["tinytorch_version"], str), "Version should be string"
    assert isinstance(submission["submission_type"], str), "Submission type should be string"
    assert isinstance(submission["timestamp"], str), "Timestamp should be string"
    assert isinstance(submission["system_info"], dict), "System info should be dict"
    assert isinstance(submission["baseline"], dict), "Baseline should be dict"
    baseline = submission["baseline"]
    assert "model_name" in baseline, "Baseline missing model_name"
    assert "metrics" in baseline, "Baseline missing metrics"
    metrics = baseline["metrics"]
    for metric in ["parameter_count", "model_size_mb", "accuracy", "latency_ms_mean"]:
        if metric not in metrics:
            raise AssertionError(f"Missing metric in baseline: {metric}")
    assert 0 <= metrics["accuracy"] <= 1, "Accuracy must be in [0, 1]"
    assert metrics["parameter_count"] > 0, "Parameter count must be positive"
    assert metrics["model_size_mb"] > 0, "Model size must be positive"
    assert metrics["latency_ms_mean"] > 0, "Latency must be positive"
    assert "platform" in submission["system_info"], "System info missing platform"
    assert "python_version" in submission["system_info"], "System info missing python_version"
    return True


def toy_data():
    """Module 20's toy test set: seed 42, 100 x 10 standard normal features, labels 0..2."""
    np.random.seed(42)
    return Tensor(np.random.randn(100, 10)), np.random.randint(0, 3, 100)


def run_example_benchmark():
    """The course's workflow: toy data, SimpleMLP, benchmark, a baseline-only capstone_submission.json."""
    x_test, y_test = toy_data()
    report = BenchmarkReport(model_name="baseline_mlp")
    report.benchmark_model(SimpleMLP(), x_test, y_test, num_runs=50)
    submission = generate_submission(baseline_report=report, student_name="TinyTorch Student")
    save_submission(submission, "capstone_submission.json")
    return submission
