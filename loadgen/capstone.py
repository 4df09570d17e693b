"""The TinyTorch capstone's submission.json: its schema, its figures, and the checks behind a claim.

A submission claims "my optimized model is 2.3x faster and 4x smaller". The course's own
validator checks the file's shape; this module checks the same rules (plain int/float,
finite, positive, median <= p95 <= p99, improvements that recompute from the two metric
sets) and, when the submission carries this harness's evidence, that the claim follows
from the measurements: each evidence file matches its sha256, and every latency and
throughput figure is recomputed from the raw trace with `loadgen.results.compute_metrics`.

Data only: this module parses JSON, result.json and trace.npz (`allow_pickle=False`); it
never imports or runs anything a submission names. Problems are `Finding`s (error, warning
or info), not exceptions, so one pass reports them all.

Evidence gives integrity, not authenticity: hashes catch edits and accidents, and the
recomputation catches figures that do not follow from the trace; someone who fabricates a
whole trace and rehashes every file is not caught by anything run locally.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import zipfile
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, PlainValidator, ValidationError

from loadgen.fingerprint import hardware_hash
from loadgen.results import Metrics, compute_metrics, percentile_label
from loadgen.run_result import RunResult
from loadgen.settings import TestSettings
from loadgen.files import sha256_file
from loadgen.trace import Trace

TINYTORCH_VERSION = "0.1.0"
SUBMISSION_TYPE = "capstone_benchmark"
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
EVIDENCE_FORMAT = "tinyperf-evidence/1"
RTOL = 1e-6
"""Relative tolerance of every recomputed figure, as the course's validator uses."""
ATOL = 1e-12
"""Absolute tolerance, so an accuracy_delta of 0 matches a recomputed 1e-17."""
MAX_SUBMISSION_BYTES = 1_000_000
MAX_RESULT_BYTES = 16 * 2**20
MAX_EVIDENCE_BYTES = 1 << 30
"""Largest evidence file (and largest expanded trace) read; a 64 M-sample trace fits."""
SPEEDUP_WARN, SPEEDUP_ERROR = 20.0, 50.0
COMPRESSION_WARN, COMPRESSION_ERROR = 16.0, 32.0
LATENCY_METRICS = ("latency_ms_median", "latency_ms_p95", "latency_ms_p99")
"""The percentiles in the order their values must not decrease."""

Level = Literal["error", "warning", "info"]


@dataclass(frozen=True)
class Finding:
    """One result of a check; only errors make a submission invalid."""

    level: Level
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.level}: {self.code}: {self.message}"


def is_valid(findings: list[Finding]) -> bool:
    return not any(finding.level == "error" for finding in findings)


# ---- plain JSON values: what the course's validator accepts ---------------------------------


def describe_value(value: Any) -> str:
    """What a value is, in words, for a message: careless tools write numbers as strings or dicts."""
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if value is None:
        return "null"
    if isinstance(value, np.generic):
        return f"a numpy {type(value).__name__} (convert it with float() or int())"
    if isinstance(value, str):
        return f"a string {value[:40]!r}"
    if isinstance(value, dict):
        return f"an object with keys {sorted(map(str, value))[:5]}"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    return f"a {type(value).__name__} {value!r}"


def _plain_number(value: Any) -> float:
    if type(value) not in (int, float):
        raise ValueError(f"expected a plain number (int or float), got {describe_value(value)}")
    try:
        number = float(value)
    except OverflowError:  # an int beyond float's range, e.g. 1 followed by 400 zeros
        raise ValueError("must be finite, got an integer too large for a float") from None
    if not math.isfinite(number):
        raise ValueError(f"must be finite, got {number}")
    return number


def _number_rule(rule: str, ok: Callable[[float], bool]) -> PlainValidator:
    """A plain finite number that also satisfies `ok`, stated as `rule` in the message."""

    def check(value: Any) -> float:
        number = _plain_number(value)
        if not ok(number):
            raise ValueError(f"must be {rule}, got {number}")
        return number

    return PlainValidator(check)


def _positive_int(value: Any) -> int:
    if type(value) is not int:
        raise ValueError(f"expected a plain whole number (int), got {describe_value(value)}")
    if value <= 0:
        raise ValueError(f"must be positive, got {value}")
    return value


def _text(value: Any) -> str:
    if type(value) is not str or not value.strip():
        raise ValueError(f"expected a non-empty string, got {describe_value(value)}")
    return value


def _timestamp(value: Any) -> str:
    text = _text(value)
    try:
        dt.datetime.strptime(text, TIMESTAMP_FORMAT)
    except ValueError:
        raise ValueError(f"expected a time as {TIMESTAMP_FORMAT!r}, e.g. '2026-11-28 14:03:00', got {text!r}") from None
    return text


def _sha256_hex(value: Any) -> str:
    text = _text(value)
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise ValueError(f"expected 64 lowercase hex digits (sha256), got {text[:70]!r}")
    return text


Positive = Annotated[float, _number_rule("positive", lambda x: x > 0)]
NonNegative = Annotated[float, _number_rule(">= 0", lambda x: x >= 0)]
Fraction = Annotated[float, _number_rule("between 0 and 1", lambda x: 0 <= x <= 1)]
Delta = Annotated[float, _number_rule("between -1 and 1", lambda x: -1 <= x <= 1)]
PositiveInt = Annotated[int, PlainValidator(_positive_int)]
Text = Annotated[str, PlainValidator(_text)]
Sha256 = Annotated[str, PlainValidator(_sha256_hex)]


# ---- the course's schema, plus the optional evidence this harness adds ----------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class SubmissionMetrics(_Strict):
    """One model's figures; optional ones may be left out (or null)."""

    parameter_count: PositiveInt
    model_size_mb: Positive
    accuracy: Fraction
    latency_ms_mean: Positive
    latency_ms_median: Positive | None = None
    latency_ms_p95: Positive | None = None
    latency_ms_p99: Positive | None = None
    latency_ms_std: NonNegative | None = None
    throughput_samples_per_sec: Positive | None = None


class BaselineEntry(_Strict):
    model_name: Text
    metrics: SubmissionMetrics


class OptimizedEntry(BaselineEntry):
    techniques_applied: list[Text]


class Improvements(_Strict):
    speedup: Positive
    compression_ratio: Positive
    accuracy_delta: Delta


class SystemInfo(BaseModel):
    """The three named fields are required; anything else the tool recorded is kept."""

    model_config = ConfigDict(extra="allow", strict=True, frozen=True)

    platform: Text
    python_version: Text
    numpy_version: Text


class EvidenceRun(_Strict):
    """Paths, relative to submission.json's folder, of one run's result.json and trace.npz."""

    result: Text
    trace: Text


class Evidence(_Strict):
    """This harness's proof: both runs' files, their sha256, the machine they ran on."""

    format: Literal["tinyperf-evidence/1"]
    hardware_hash: Text
    sha256: dict[str, Sha256]
    baseline: EvidenceRun
    optimized: EvidenceRun


class Submission(_Strict):
    """The course's submission.json; `division` and `evidence` are this harness's additions."""

    tinytorch_version: Text
    submission_type: Literal["capstone_benchmark"]
    timestamp: Annotated[str, PlainValidator(_timestamp)]
    system_info: SystemInfo
    student_name: Text | None = None
    baseline: BaselineEntry
    optimized: OptimizedEntry
    improvements: Improvements
    division: Literal["closed", "open"] = "closed"
    evidence: Evidence | None = None


def _schema_message(error: Mapping[str, Any]) -> str:
    where = ".".join(str(part) for part in error["loc"]) or "submission"
    kind = error["type"]
    if kind == "missing":
        return f"{where}: missing required field"
    if kind == "extra_forbidden":
        return f"{where}: unknown field (not in the course's schema)"
    if kind == "value_error":
        return f"{where}: {error['msg'].removeprefix('Value error, ')}"
    return f"{where}: {error['msg']}, got {describe_value(error.get('input'))}"


def check_schema(data: Any) -> tuple[Submission | None, list[Finding]]:
    """The parsed submission, or None with one error per schema violation."""
    try:
        return Submission.model_validate(data), []
    except ValidationError as exc:
        return None, [Finding("error", "schema", _schema_message(error)) for error in exc.errors()]


# ---- figures: one function computes each, for the writer and the validator alike ------------


def latency_basis(baseline: Mapping[str, Any], optimized: Mapping[str, Any]) -> str:
    """Medians when both sides have one, else means: the course's rule."""
    both = baseline.get("latency_ms_median") is not None and optimized.get("latency_ms_median") is not None
    return "latency_ms_median" if both else "latency_ms_mean"


def speedup(baseline: Mapping[str, Any], optimized: Mapping[str, Any]) -> float:
    key = latency_basis(baseline, optimized)
    return float(baseline[key] / optimized[key])


def compression_ratio(baseline: Mapping[str, Any], optimized: Mapping[str, Any]) -> float:
    return float(baseline["model_size_mb"] / optimized["model_size_mb"])


def accuracy_delta(baseline: Mapping[str, Any], optimized: Mapping[str, Any]) -> float:
    return float(optimized["accuracy"] - baseline["accuracy"])


IMPROVEMENTS: dict[str, Callable[[Mapping[str, Any], Mapping[str, Any]], float]] = {
    "speedup": speedup,
    "compression_ratio": compression_ratio,
    "accuracy_delta": accuracy_delta,
}


def compute_improvements(baseline: Mapping[str, Any], optimized: Mapping[str, Any]) -> dict[str, float]:
    """The `improvements` block from two metric sets."""
    return {name: figure(baseline, optimized) for name, figure in IMPROVEMENTS.items()}


def run_figures(metrics: Metrics) -> dict[str, float]:
    """A run's latency (ns -> ms) and throughput in the submission's field names."""
    latency = metrics.latency
    if latency is None:
        raise ValueError("the run completed no query, so it has no latencies")
    percentiles = latency.percentiles_ns
    figures = {
        "latency_ms_mean": latency.mean_ns / 1e6,
        "latency_ms_median": percentiles[percentile_label(0.50)] / 1e6,
        "latency_ms_p95": percentiles[percentile_label(0.95)] / 1e6,
        "latency_ms_p99": percentiles[percentile_label(0.99)] / 1e6,
    }
    if metrics.samples_per_second is not None:
        figures["throughput_samples_per_sec"] = metrics.samples_per_second
    return figures


def close(claimed: float, recomputed: float) -> bool:
    return math.isclose(claimed, recomputed, rel_tol=RTOL, abs_tol=ATOL)


# ---- writing a submission -------------------------------------------------------------------


def plain(value: Any, what: str) -> int | float:
    """A Python int or float from a number of any kind (numpy scalars included); refuses the rest."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{what}: expected a number, got {describe_value(value)}")
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    raise TypeError(f"{what}: expected a number, got {describe_value(value)}")


def _side_metrics(result: RunResult, facts: Mapping[str, Any], side: str) -> dict[str, int | float]:
    if result.error is not None or result.metrics is None:
        raise ValueError(f"the {side} run did not complete ({result.error}); it cannot be submitted")
    missing = [key for key in ("parameter_count", "model_size_mb", "accuracy") if facts.get(key) is None]
    if missing:
        raise ValueError(f"{side} facts lack {', '.join(missing)}")
    metrics: dict[str, int | float] = {
        key: plain(facts[key], f"{side}.{key}") for key in ("parameter_count", "model_size_mb", "accuracy")
    }
    for key, value in run_figures(result.metrics).items():
        metrics[key] = plain(value, f"{side}.{key}")
    return metrics


def system_info(fingerprint: Mapping[str, Any]) -> dict[str, Any]:
    """The course's system_info from a run's fingerprint, plus the CPU and the hardware hash."""
    try:
        os_part = fingerprint["os"]
        return {
            "platform": f"{os_part['system']}-{os_part['release']}-{os_part['machine']}",
            "python_version": fingerprint["python"]["version"],
            "numpy_version": fingerprint["numpy"]["version"],
            "cpu_model": fingerprint["cpu"]["model"],
            "hardware_hash": fingerprint["hardware_hash"],
        }
    except (KeyError, TypeError) as exc:
        raise ValueError(f"the run's fingerprint lacks {exc}: run with a collected fingerprint") from None


def build_submission(
    baseline: RunResult,
    optimized: RunResult,
    baseline_facts: Mapping[str, Any],
    optimized_facts: Mapping[str, Any],
    techniques: list[str],
    student: str | None,
    evidence: Mapping[str, Any] | None,
    created: dt.datetime | None = None,
) -> dict[str, Any]:
    """submission.json in the course's schema (plain ints and floats) from two runs.

    Facts hold `name`, `parameter_count`, `model_size_mb` (MiB) and `accuracy` (0..1) of
    each model. Raises ValueError when the result would not pass `check_schema`.
    """
    baseline_metrics = _side_metrics(baseline, baseline_facts, "baseline")
    optimized_metrics = _side_metrics(optimized, optimized_facts, "optimized")
    submission: dict[str, Any] = {
        "tinytorch_version": TINYTORCH_VERSION,
        "submission_type": SUBMISSION_TYPE,
        "timestamp": (created or dt.datetime.now()).strftime(TIMESTAMP_FORMAT),
        "system_info": system_info(baseline.fingerprint),
        "baseline": {"model_name": str(baseline_facts.get("name") or baseline.sut_name), "metrics": baseline_metrics},
        "optimized": {
            "model_name": str(optimized_facts.get("name") or optimized.sut_name),
            "metrics": optimized_metrics,
            "techniques_applied": list(techniques),
        },
        "improvements": compute_improvements(baseline_metrics, optimized_metrics),
    }
    if student is not None:
        submission["student_name"] = student
    if evidence is not None:
        submission["evidence"] = dict(evidence)
    _, problems = check_schema(submission)
    if problems:
        raise ValueError("the submission would not be valid: " + "; ".join(p.message for p in problems))
    return submission



def build_evidence(base_dir: Path, baseline_dir: Path, optimized_dir: Path) -> dict[str, Any]:
    """The `evidence` block for two results folders (result.json, trace.npz) inside base_dir,
    the folder submission.json will be written to."""
    base = base_dir.resolve()
    evidence: dict[str, Any] = {"format": EVIDENCE_FORMAT, "sha256": {}}
    for side, folder in (("baseline", baseline_dir), ("optimized", optimized_dir)):
        entry = {}
        for key, filename in (("result", "result.json"), ("trace", "trace.npz")):
            path = (folder / filename).resolve()
            if not path.is_relative_to(base):
                raise ValueError(f"{path} is not inside {base}, where submission.json goes")
            relative = path.relative_to(base).as_posix()
            evidence["sha256"][relative] = sha256_file(path)
            entry[key] = relative
        evidence[side] = entry
    result = RunResult.model_validate_json((baseline_dir / "result.json").read_text(encoding="utf-8"))
    if "hardware_hash" not in result.fingerprint:
        raise ValueError(f"{baseline_dir / 'result.json'} has no fingerprint: run with a collected fingerprint")
    evidence["hardware_hash"] = result.fingerprint["hardware_hash"]
    return evidence


# ---- reading and validating a submission ----------------------------------------------------


class _Refused(Exception):
    """Valid for Python's json, refused for a submission: NaN/Infinity (JSON has neither) and
    duplicate keys (which one counts is ambiguous)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _refuse_constant(name: str) -> float:
    raise _Refused("non_finite", f"contains {name}, which JSON does not allow")


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data = dict(pairs)
    if len(data) < len(pairs):
        duplicates = sorted(key for key, count in Counter(key for key, _ in pairs).items() if count > 1)
        raise _Refused("duplicate_key", f"repeats the keys {duplicates[:5]} in one object (which one counts?)")
    return data


def load_submission(path: Path, max_bytes: int = MAX_SUBMISSION_BYTES) -> tuple[Any, list[Finding]]:
    """The parsed JSON, or None with the error that stopped it (too large, NaN, duplicate keys).

    Raises OSError when the file cannot be read and ValueError when it is not JSON at all.
    """
    size = path.stat().st_size
    if size > max_bytes:
        return None, [Finding("error", "too_large", f"{path} has {size} bytes; a submission has at most {max_bytes}")]
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path} is not UTF-8 text: byte {exc.start} is {exc.object[exc.start]:#04x}") from None
    try:
        data = json.loads(text, parse_constant=_refuse_constant, object_pairs_hook=_refuse_duplicates)
    except _Refused as exc:
        return None, [Finding("error", exc.code, f"{path} {exc}")]
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not JSON: {exc}") from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        return None, [Finding("error", "unreadable", f"{path}: {exc}")]
    except RecursionError:
        raise ValueError(f"{path} is nested too deeply to be a submission") from None
    return data, []


def check_percentiles(submission: Submission) -> list[Finding]:
    """median <= p95 <= p99 on each side, over the ones present."""
    findings = []
    for side in ("baseline", "optimized"):
        metrics = getattr(submission, side).metrics
        present = [(key, getattr(metrics, key)) for key in LATENCY_METRICS if getattr(metrics, key) is not None]
        for (low_key, low), (high_key, high) in zip(present, present[1:], strict=False):
            if low > high:
                findings.append(
                    Finding(
                        "error",
                        "percentile_order",
                        f"{side}.metrics: {low_key} {low} > {high_key} {high}; must be median <= p95 <= p99",
                    )
                )
    return findings


def check_improvements(submission: Submission) -> list[Finding]:
    """Each claimed improvement against its recomputation from the two metric sets."""
    baseline = submission.baseline.metrics.model_dump(exclude_none=True)
    optimized = submission.optimized.metrics.model_dump(exclude_none=True)
    basis = latency_basis(baseline, optimized)
    inputs = {"speedup": basis, "compression_ratio": "model_size_mb", "accuracy_delta": "accuracy"}
    findings = []
    for name, recomputed in compute_improvements(baseline, optimized).items():
        claimed = getattr(submission.improvements, name)
        if not close(claimed, recomputed):
            findings.append(
                Finding(
                    "error",
                    "improvement_mismatch",
                    f"improvements.{name} is {claimed} but the two {inputs[name]} values give {recomputed:.9g} "
                    f"(rtol {RTOL:g})",
                )
            )
    return findings


def check_sanity(submission: Submission) -> list[Finding]:
    """The course's sanity limits: implausible speedups and compressions, accuracy gains."""
    improvements = submission.improvements
    findings = []
    for name, value, warn, error in (
        ("speedup", improvements.speedup, SPEEDUP_WARN, SPEEDUP_ERROR),
        ("compression_ratio", improvements.compression_ratio, COMPRESSION_WARN, COMPRESSION_ERROR),
    ):
        if value > error:
            findings.append(Finding("error", "implausible", f"{name} {value:.4g} exceeds the sanity limit {error:g}"))
        elif value > warn:
            findings.append(Finding("warning", "suspicious", f"{name} {value:.4g} is above {warn:g}: double-check it"))
    if submission.division == "closed" and improvements.accuracy_delta > 0:
        findings.append(
            Finding(
                "warning",
                "accuracy_gain",
                f"accuracy_delta +{improvements.accuracy_delta:.4g} in the closed division: optimizations rarely "
                "raise accuracy; check both models were scored on the same data",
            )
        )
    return findings


def _rule(name: str, value: float, op: str, bound: float) -> tuple[bool, str]:
    ok = value >= bound if op == ">=" else value < bound
    shown = op if ok else {">=": "<", "<": ">="}[op]
    return ok, f"{name} {value:.4g} {shown} {bound:g}"


def event_findings(submission: Submission) -> list[Finding]:
    """Which capstone events the optimized model qualifies for (info only)."""
    metrics = submission.optimized.metrics
    latency_name = "latency_ms_median" if metrics.latency_ms_median is not None else "latency_ms_mean"
    latency = metrics.latency_ms_median if metrics.latency_ms_median is not None else metrics.latency_ms_mean
    accurate = _rule("accuracy", metrics.accuracy, ">=", 0.85)
    fast = _rule(latency_name, latency, "<", 100.0)
    small = _rule("model_size_mb", metrics.model_size_mb, "<", 10.0)
    rules = {
        "latency_sprint": [accurate],
        "memory_challenge": [accurate],
        "accuracy_contest": [fast, small],
        "all_around": [(True, "always qualifies")],
        "extreme_push": [_rule("accuracy", metrics.accuracy, ">=", 0.80)],
    }
    return [
        Finding(
            "info",
            "event",
            f"{event}: {'eligible' if all(ok for ok, _ in checks) else 'not eligible'} "
            f"({', '.join(text for _, text in checks)})",
        )
        for event, checks in rules.items()
    ]


def _evidence_path(base: Path, relative: str) -> Path:
    """The file a relative evidence path names; ValueError when it could leave base."""
    if "\\" in relative or PurePosixPath(relative).is_absolute() or PureWindowsPath(relative).drive:
        raise ValueError("must be a relative path with / separators")
    if ".." in PurePosixPath(relative).parts:
        raise ValueError("must not contain '..'")
    try:
        path = (base / relative).resolve(strict=True)
    except (OSError, RuntimeError):
        raise ValueError("no such file") from None
    if not path.is_relative_to(base):
        raise ValueError("resolves outside the submission's folder (through a symlink)")
    if not path.is_file():
        raise ValueError("is not a regular file")
    return path


def check_evidence_files(evidence: Evidence, base_dir: Path, max_bytes: int) -> list[Finding]:
    """Every referenced file is listed, stays inside base_dir, is size-bounded and matches its sha256."""
    base = base_dir.resolve()
    findings = []
    for side in ("baseline", "optimized"):
        run: EvidenceRun = getattr(evidence, side)
        for listed in (run.result, run.trace):
            if listed not in evidence.sha256:
                findings.append(Finding("error", "evidence", f"evidence.{side}: {listed} is not in evidence.sha256"))
    for relative, expected in evidence.sha256.items():
        try:
            path = _evidence_path(base, relative)
        except ValueError as exc:
            findings.append(Finding("error", "evidence_path", f"evidence file {relative!r}: {exc}"))
            continue
        size = path.stat().st_size
        if size > max_bytes:
            findings.append(Finding("error", "evidence", f"evidence file {relative}: {size} bytes, limit {max_bytes}"))
        elif sha256_file(path) != expected:
            message = f"evidence file {relative}: sha256 differs (edited after submission?)"
            findings.append(Finding("error", "evidence_hash", message))
    return findings


def _load_result(path: Path) -> RunResult:
    if path.stat().st_size > MAX_RESULT_BYTES:
        raise ValueError(f"larger than {MAX_RESULT_BYTES} bytes")
    try:
        return RunResult.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ValueError(f"not a result.json: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None


def _load_trace(path: Path, max_bytes: int) -> Trace:
    """Trace.load after checking the npz expands to at most max_bytes (no decompression bombs)."""
    try:
        with zipfile.ZipFile(path) as archive:
            expanded = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile:
        raise ValueError("not an npz archive") from None
    if expanded > max_bytes:
        raise ValueError(f"expands to {expanded} bytes, limit {max_bytes}")
    return Trace.load(path)


def _metric_differences(stored: Mapping[str, Any], recomputed: Mapping[str, Any], prefix: str = "") -> list[str]:
    differences = []
    for key in sorted(set(stored) | set(recomputed)):
        a, b = stored.get(key), recomputed.get(key)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            differences += _metric_differences(a, b, f"{prefix}{key}.")
        elif isinstance(a, float) and isinstance(b, (int, float)) and not isinstance(b, bool):
            if not close(a, b):
                differences.append(f"{prefix}{key}")
        elif a != b:
            differences.append(f"{prefix}{key}")
    return differences


def _recompute(side: str, result: RunResult, trace: Trace) -> tuple[Metrics | None, list[Finding]]:
    """The run's metrics from its trace; errors when result.json's own metrics disagree."""
    try:
        settings = TestSettings.model_validate(result.settings_effective)
    except ValidationError as exc:
        message = f"{side} result.json: settings_effective do not load: {exc.errors()[0]['msg']}"
        return None, [Finding("error", "evidence", message)]
    try:
        recomputed = compute_metrics(trace, settings)
    except (ValueError, IndexError, TypeError) as exc:  # a crafted trace: columns that do not fit together
        return None, [Finding("error", "evidence_trace", f"{side} trace: cannot compute metrics: {exc}")]
    stored = result.metrics.model_dump() if result.metrics is not None else {}
    differences = _metric_differences(stored, recomputed.model_dump())
    if differences:
        return recomputed, [
            Finding(
                "error",
                "evidence_metrics",
                f"{side} result.json: metrics do not follow from its trace: {', '.join(differences[:6])}",
            )
        ]
    return recomputed, []


def recorded_facts(result: RunResult) -> dict[str, float]:
    """The model facts and top-1 accuracy a run recorded in result.json, where it did."""
    facts = {
        key: float(value)
        for key, value in (result.model or {}).items()
        if key in ("parameter_count", "model_size_mb") and type(value) in (int, float)
    }
    if result.accuracy is not None and result.accuracy.top1 is not None:
        facts["accuracy"] = result.accuracy.top1
    return facts


def _check_claims(side: str, claimed: SubmissionMetrics, recomputed: Metrics, result: RunResult) -> list[Finding]:
    """The submission's figures against the trace's (latency, throughput) and the run's records."""
    try:
        figures = {key: (value, "the trace gives") for key, value in run_figures(recomputed).items()}
    except ValueError as exc:
        return [Finding("error", "evidence_trace", f"{side} trace: {exc}")]
    figures |= {key: (value, "the run recorded") for key, value in recorded_facts(result).items()}
    findings = []
    for key, (value, source) in figures.items():
        stated = getattr(claimed, key)
        if stated is not None and not close(stated, value):
            message = f"{side}.metrics.{key} is {stated} but {source} {value:.9g} (rtol {RTOL:g})"
            findings.append(Finding("error", "claim_mismatch", message))
    return findings


def _check_run_record(side: str, result: RunResult, evidence: Evidence) -> list[Finding]:
    """How the run ended, which machine it ran on, and that result.json names the same trace."""
    findings = []
    if result.error is not None:
        findings.append(Finding("error", "evidence_run", f"the {side} run did not complete: {result.error}"))
    elif not result.valid:
        findings.append(
            Finding("warning", "evidence_run", f"the {side} run was INVALID: {'; '.join(result.invalid_reasons)}")
        )
    try:
        machine = hardware_hash(result.fingerprint)
    except (KeyError, TypeError) as exc:
        return findings + [Finding("error", "evidence_fingerprint", f"{side} result.json: fingerprint lacks {exc}")]
    if machine != result.fingerprint.get("hardware_hash"):
        message = f"{side} result.json: hardware_hash does not match its fingerprint"
        findings.append(Finding("error", "evidence_fingerprint", message))
    if machine != evidence.hardware_hash:
        findings.append(
            Finding(
                "error",
                "evidence_fingerprint",
                f"the {side} run ran on machine {machine}, not {evidence.hardware_hash}: "
                "both models must be measured on the same machine",
            )
        )
    trace_sha = evidence.sha256.get(getattr(evidence, side).trace)
    if "trace.npz" in result.files and result.files["trace.npz"] != trace_sha:
        findings.append(Finding("error", "evidence_hash", f"{side} result.json names a different trace.npz"))
    return findings


def check_evidence_runs(submission: Submission, evidence: Evidence, base_dir: Path, max_bytes: int) -> list[Finding]:
    """Each run's result.json and trace: the figures recompute and match the submission's."""
    base = base_dir.resolve()
    findings: list[Finding] = []
    scenarios = {}
    for side in ("baseline", "optimized"):
        run: EvidenceRun = getattr(evidence, side)
        try:
            result = _load_result(_evidence_path(base, run.result))
            trace = _load_trace(_evidence_path(base, run.trace), max_bytes)
        except (ValueError, OSError, KeyError) as exc:
            findings.append(Finding("error", "evidence", f"evidence.{side}: {exc}"))
            continue
        scenarios[side] = result.scenario
        findings += _check_run_record(side, result, evidence)
        recomputed, problems = _recompute(side, result, trace)
        findings += problems
        if recomputed is not None:
            findings += _check_claims(side, getattr(submission, side).metrics, recomputed, result)
    if len(set(scenarios.values())) > 1:
        message = f"the runs used different scenarios: {scenarios}; compare like with like"
        findings.append(Finding("error", "evidence_scenario", message))
    return findings


def validate_submission(
    data: Any, base_dir: Path, strict: bool = False, max_evidence_bytes: int = MAX_EVIDENCE_BYTES
) -> list[Finding]:
    """Every finding about a parsed submission.json whose evidence paths are relative to base_dir."""
    submission, findings = check_schema(data)
    if submission is None:
        return findings
    findings += check_percentiles(submission)
    findings += check_improvements(submission)
    findings += check_sanity(submission)
    if submission.evidence is None:
        findings.append(
            Finding(
                "error" if strict else "warning",
                "unverified",
                "no evidence (made by the course's tools?): the figures cannot be checked against measurements",
            )
        )
    else:
        file_findings = check_evidence_files(submission.evidence, base_dir, max_evidence_bytes)
        findings += file_findings or check_evidence_runs(submission, submission.evidence, base_dir, max_evidence_bytes)
    findings += event_findings(submission)
    return findings
