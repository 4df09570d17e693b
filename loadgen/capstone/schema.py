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
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PlainValidator, ValidationError

TINYTORCH_VERSION = "0.1.0"


SUBMISSION_TYPE = "capstone_benchmark"


TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"


EVIDENCE_FORMAT = "tinyperf-evidence/1"
"""One run a side: `baseline` and `optimized` are each one EvidenceRun."""


EVIDENCE_FORMAT_REPEATED = "tinyperf-evidence/2"
"""Repeated runs: a side may be a list of EvidenceRun (`loadgen.submit --runs N`)."""


MAX_EVIDENCE_RUNS = 100
"""Runs a side may list; the validator reads no more (each within the read budget)."""


RTOL = 1e-6
"""Relative tolerance of every recomputed figure, as the course's validator uses."""


ATOL = 1e-12
"""Absolute tolerance, so an accuracy_delta of 0 matches a recomputed 1e-17."""


MAX_SUBMISSION_BYTES = 1_000_000


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


RepeatedRuns = Annotated[list[EvidenceRun], Field(min_length=1, max_length=MAX_EVIDENCE_RUNS)]


class Evidence(_Strict):
    """This harness's proof: each run's files, their sha256, the machine they ran on, and the
    rule set (`scenarios/<rules>.toml`) every run claims to follow. A side is one run, or (format
    2) a list of repeated runs of the same model, whose figures the submission states across runs."""

    format: Literal["tinyperf-evidence/1", "tinyperf-evidence/2"]
    hardware_hash: Text
    sha256: dict[str, Sha256]
    rules: Literal["capstone"] = "capstone"
    baseline: EvidenceRun | RepeatedRuns
    optimized: EvidenceRun | RepeatedRuns | None = None

    def runs(self) -> list[tuple[str, str, EvidenceRun]]:
        """(side, label, run) of every run: the label is the side for a single run, else 'side run k'."""
        found = []
        for side in ("baseline", "optimized"):
            listed = getattr(self, side)
            if isinstance(listed, EvidenceRun):
                found.append((side, side, listed))
            elif listed is not None:
                found += [(side, f"{side} run {k}", run) for k, run in enumerate(listed, 1)]
        return found


class HarnessFigures(_Strict):
    """This harness's more robust figures, beside (never in) the course's fields: the speedup of
    medians, with a bootstrap interval over the two runs' per-sample latencies."""

    speedup_median: Positive
    speedup_median_interval: Annotated[list[Positive], Field(min_length=2, max_length=2)] | None = None
    interval_method: Text | None = None


class Submission(_Strict):
    """The course's submission.json (`optimized` and `improvements` optional, as in the course);
    `division`, `harness` and `evidence` are this harness's additions."""

    tinytorch_version: Text
    submission_type: Literal["capstone_benchmark"]
    timestamp: Annotated[str, PlainValidator(_timestamp)]
    system_info: SystemInfo
    student_name: Text | None = None
    baseline: BaselineEntry
    optimized: OptimizedEntry | None = None
    improvements: Improvements | None = None
    division: Literal["closed", "open"] = "closed"
    harness: HarnessFigures | None = None
    evidence: Evidence | None = None

    def sides(self) -> tuple[str, ...]:
        """The models the submission reports: baseline, and optimized when present."""
        return ("baseline", "optimized") if self.optimized is not None else ("baseline",)


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


def _pairing(submission: Submission) -> list[Finding]:
    """`improvements` exactly when there is an `optimized` model (the course writes both or neither);
    evidence for each model the submission reports."""
    findings = []
    if (submission.optimized is None) != (submission.improvements is None):
        absent = "improvements" if submission.improvements is None else "optimized"
        present = "optimized" if absent == "improvements" else "improvements"
        findings.append(Finding("error", "schema", f"{absent}: missing required field (the submission has {present})"))
    if submission.harness is not None and submission.optimized is None:
        findings.append(Finding("error", "schema", "harness: compares two models, but there is no optimized one"))
    evidence = submission.evidence
    if evidence is not None and (evidence.optimized is None) != (submission.optimized is None):
        findings.append(
            Finding("error", "schema", "evidence.optimized: must be given exactly when the submission has optimized")
        )
    if evidence is not None and evidence.format == EVIDENCE_FORMAT:
        repeated = [side for side in ("baseline", "optimized") if isinstance(getattr(evidence, side), list)]
        if repeated:
            message = (f"evidence.{repeated[0]}: {EVIDENCE_FORMAT} holds one run a side; a list of repeated runs "
                       f"is {EVIDENCE_FORMAT_REPEATED}")
            findings.append(Finding("error", "schema", message))
    return findings


def check_schema(data: Any) -> tuple[Submission | None, list[Finding]]:
    """The parsed submission, or None with one error per schema violation."""
    try:
        submission = Submission.model_validate(data)
    except ValidationError as exc:
        return None, [Finding("error", "schema", _schema_message(error)) for error in exc.errors()]
    findings = _pairing(submission)
    return (None, findings) if findings else (submission, [])


class _Refused(Exception):
    """Valid for Python's json, refused for a submission: NaN/Infinity (JSON has neither) and
    duplicate keys (which one counts is ambiguous)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _refuse_constant(name: str) -> float:
    raise _Refused("non_finite", f"contains {name}, which JSON does not allow")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused("non_finite", f"contains the number {text[:40]}, beyond a float's range")
    return value


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data = dict(pairs)
    if len(data) < len(pairs):
        duplicates = sorted(key for key, count in Counter(key for key, _ in pairs).items() if count > 1)
        raise _Refused("duplicate_key", f"repeats the keys {duplicates[:5]} in one object (which one counts?)")
    return data


def parse_strict_json(raw: bytes, what: str) -> tuple[Any, list[Finding]]:
    """JSON as strictly as a submission is read: UTF-8, no NaN/Infinity, no number beyond a float,
    no duplicate keys. The data, or None with the error that stopped it; ValueError when the
    bytes are not JSON at all."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{what} is not UTF-8 text: byte {exc.start} is {exc.object[exc.start]:#04x}") from None
    try:
        data = json.loads(
            text, parse_constant=_refuse_constant, parse_float=_finite_float, object_pairs_hook=_refuse_duplicates
        )
    except _Refused as exc:
        return None, [Finding("error", exc.code, f"{what} {exc}")]
    except json.JSONDecodeError as exc:
        raise ValueError(f"{what} is not JSON: {exc}") from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        return None, [Finding("error", "unreadable", f"{what}: {exc}")]
    except RecursionError:
        raise ValueError(f"{what} is nested too deeply") from None
    return data, []


def load_submission(path: Path, max_bytes: int = MAX_SUBMISSION_BYTES) -> tuple[Any, list[Finding]]:
    """The parsed JSON, or None with the error that stopped it (too large, NaN, duplicate keys).

    Raises OSError when the file cannot be read and ValueError when it is not JSON at all.
    """
    size = path.stat().st_size
    if size > max_bytes:
        return None, [Finding("error", "too_large", f"{path} has {size} bytes; a submission has at most {max_bytes}")]
    with path.open("rb") as handle:
        raw = handle.read(max_bytes + 1)
    if len(raw) > max_bytes:
        return None, [Finding("error", "too_large", f"{path} grew past {max_bytes} bytes, a submission's limit")]
    return parse_strict_json(raw, str(path))
