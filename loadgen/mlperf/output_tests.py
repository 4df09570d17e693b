"""TEST06, TEST07 and TEST09: checks on the responses one performance run logged.

Each test makes one PerformanceOnly run that logs every response (accuracy_log_probability
1, the seed of the upstream audit.config files) and judges the logged entries, shaped as
LoadGen's mlperf_log_accuracy.json ({"seq_id", "qsl_idx", "data" hex, and with token
latencies "token_data" hex of the first token and "token_count"}), by the pass criteria of
MLPerf's compliance suite's verification of each test:

* TEST06, LLM output consistency; three checks over every entry. First token: the tokens
  reported as the first token equal the output's first tokens, position by position over the
  shorter of the two (skipped for Offline, where LoadGen reports no first token). EOS: the
  output ends in at most one EOS token (positions 1 on are examined, as upstream does, so a
  one-token output is never counted). Length: the output's token count equals the reported
  token_count. Tokens are int32 and EOS is 2 unless told otherwise (upstream's defaults).
* TEST07, accuracy in performance mode: the accuracy of the logged responses is at least a
  threshold. Upstream runs the benchmark's own accuracy script; here the QSL's labels score
  each logged response (top-1, a fraction in [0, 1]) and the threshold is given as one.
* TEST09, output length: the mean output length, counted in 4-byte tokens as upstream does,
  lies within [min, max].

Upstream's TEST07/TEST09 audit.config also sets performance_issue_unique (each loaded sample
issued once) so that every dataset sample is logged; this harness has no such setting, so
the run logs every response it issued and the figures say how many distinct samples that
covered.

A native SUT reports a first token's content through the batch this module hands it:
`samples.first_token(ids, tokens=[...])` (the engine's own batch takes ids only).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from loadgen.benchmark.runner import Benchmark
from loadgen.engine.query import SampleBatch, SystemUnderTest
from loadgen.errors import SettingsError
from loadgen.metrics.accuracy import predicted_class
from loadgen.mlperf.config import WILDCARD, lookup, read_config_file
from reports.accuracy_log import response_bytes

TOKEN_DTYPES = {"int64": np.int64, "int32": np.int32, "int16": np.int16, "float32": np.float32}
"""Token encodings TEST06 accepts (upstream's --dtype)."""
DEFAULT_TOKEN_DTYPE = "int32"
DEFAULT_EOS_TOKEN = 2
TEST09_TOKEN_BYTES = 4
LOG_EVERY_RESPONSE = 1.0
EXAMPLES_SHOWN = 5

Entry = dict[str, Any]
"""One entry of mlperf_log_accuracy.json."""


@dataclass(frozen=True)
class OutputRules:
    """What the output tests compare against (TEST06's encoding, TEST07's and TEST09's bounds)."""

    dtype: str = DEFAULT_TOKEN_DTYPE
    eos_token_id: int = DEFAULT_EOS_TOKEN
    accuracy_threshold: float | None = None
    min_output_tokens: float | None = None
    max_output_tokens: float | None = None

    def problems(self, test: str) -> list[str]:
        """Why these rules cannot judge `test` (missing or impossible bounds)."""
        problems = []
        if self.dtype not in TOKEN_DTYPES:
            problems.append(f"--dtype {self.dtype}: allowed: {', '.join(TOKEN_DTYPES)}")
        if test == "TEST07" and (self.accuracy_threshold is None or not 0 <= self.accuracy_threshold <= 1):
            problems.append(f"TEST07 needs --accuracy-threshold in [0, 1] (top-1), got {self.accuracy_threshold}")
        if test == "TEST09":
            low, high = self.min_output_tokens, self.max_output_tokens
            if low is None or high is None:
                problems.append("TEST09 needs --min-output-tokens and --max-output-tokens")
            elif not 0 <= low <= high:
                problems.append(f"TEST09: --min-output-tokens {low}, --max-output-tokens {high}: need 0 <= min <= max")
        return problems


AUDIT_CONFIG_BOUNDS = {
    "test07_accuracy_threshold": "accuracy_threshold",
    "test09_min_output_tokens": "min_output_tokens",
    "test09_max_output_tokens": "max_output_tokens",
}
"""The bounds upstream's TEST07/TEST09 audit.config files carry for run_verification.py."""


def audit_config_bounds(path: str | Path, scenario: str) -> dict[str, float]:
    """The TEST07/TEST09 bounds an upstream audit.config names (for any model), by OutputRules
    field; a value that is not a number is a settings problem naming the file and line."""
    values = lookup(read_config_file(path), WILDCARD, scenario)
    bounds = {}
    for key, name in AUDIT_CONFIG_BOUNDS.items():
        if key in values:
            try:
                bounds[name] = float(values[key])
            except ValueError:
                where = values.origins.get(key, str(path))
                raise SettingsError([f"{where}: {key} = {values[key]!r}: allowed: a number"]) from None
    return bounds


@dataclass(frozen=True)
class OutputVerdict:
    """TEST PASS or TEST FAIL, its figures, and the lines of upstream's verification file."""

    test: str
    passed: bool
    figures: list[str]
    failures: list[str] = field(default_factory=list)
    audit_file: str = ""
    audit_lines: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        last = "TEST PASS" if self.passed else "TEST FAIL: " + "; ".join(self.failures)
        return [f"{self.test}: {line}" for line in self.figures] + [last]


# ---------------------------------------------------------------- the first token of a native SUT


class FirstTokenBatch:
    """A SampleBatch that also takes the first token's content, for TEST06's first-token check."""

    __slots__ = ("_batch", "_store")

    def __init__(self, batch: SampleBatch, store: dict[int, bytes]) -> None:
        self._batch = batch
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._batch, name)

    def __len__(self) -> int:
        return len(self._batch)

    def __iter__(self) -> Any:
        return iter(self._batch)

    def first_token(self, ids: Any = None, tokens: Sequence[Any] | None = None) -> None:
        """Mark first tokens (as the engine's batch does) and keep each one's content by id."""
        self._batch.first_token(ids)
        if tokens is not None:
            chosen = self._batch.ids if ids is None else np.atleast_1d(np.asarray(ids))
            for sample_id, token in zip(chosen.tolist(), tokens, strict=True):
                self._store[int(sample_id)] = response_bytes(token)


class FirstTokenSUT:
    """Hands the SUT batches that keep first-token content; otherwise the SUT itself."""

    def __init__(self, sut: SystemUnderTest) -> None:
        self.sut = sut
        self.name = str(getattr(sut, "name", type(sut).__name__))
        self.first_tokens: dict[int, bytes] = {}
        self._phase: object = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sut, name)

    def issue_query(self, samples: SampleBatch) -> None:
        phase = samples.phase
        if phase is not self._phase:  # ids restart in each phase (pilot, warm-up, timed run)
            self._phase = phase
            self.first_tokens.clear()
        self.sut.issue_query(FirstTokenBatch(samples, self.first_tokens))  # type: ignore[arg-type]

    def flush_queries(self) -> None:
        self.sut.flush_queries()


# ---------------------------------------------------------------- the logged entries


def logged_entries(benchmark: Benchmark, first_tokens: Mapping[int, bytes] | None = None) -> list[Entry]:
    """The run's logged responses as LoadGen's accuracy log entries, in issue order."""
    record = benchmark.accuracy
    if record is None:
        return []
    trace = benchmark.trace
    counts = trace.token_count if trace.has_tokens else None
    entries = []
    for row in sorted(record.responses):
        entry: Entry = {
            "seq_id": row,
            "qsl_idx": int(trace.sample_index[row]),
            "data": response_bytes(record.responses[row]).hex().upper(),
        }
        if first_tokens is not None and row + 1 in first_tokens:
            entry["token_data"] = first_tokens[row + 1].hex().upper()
        if counts is not None:
            entry["token_count"] = int(counts[row])
        entries.append(entry)
    return entries


def tokens_of(hex_text: str, dtype: str) -> np.ndarray:
    """The tokens in a logged hex string (a trailing partial token is dropped)."""
    data = bytes.fromhex(hex_text)
    kind = np.dtype(TOKEN_DTYPES[dtype])
    return np.frombuffer(data[: len(data) - len(data) % kind.itemsize], dtype=kind)


def trailing_eos(tokens: np.ndarray, eos: int) -> int:
    """EOS tokens at the end of an output, counted back to position 1 (never position 0)."""
    count = 0
    for position in range(len(tokens) - 1, 0, -1):
        if tokens[position] != eos:
            break
        count += 1
    return count


def _passed_text(ok: bool | None) -> str:
    return "Skipped" if ok is None else str(ok)


def check_output_consistency(entries: Sequence[Entry], scenario: str, rules: OutputRules) -> OutputVerdict:
    """TEST06 over the logged entries: first token, at most one trailing EOS, token counts."""
    first_ok: bool | None = None if scenario == "Offline" else True
    eos_ok = length_ok = True
    examples: list[str] = []

    def note(text: str) -> None:
        if len(examples) < EXAMPLES_SHOWN:
            examples.append(text)

    for entry in entries:
        index = entry.get("qsl_idx")
        tokens = tokens_of(str(entry.get("data", "")), rules.dtype)
        if first_ok is not None:
            reported = entry.get("token_data")
            first = tokens_of(str(reported), rules.dtype) if reported is not None else None
            n = min(len(first), len(tokens)) if first is not None else 0
            if first is None or not np.array_equal(first[:n], tokens[:n]):
                first_ok = False
                shown = "none reported" if first is None else first.tolist()
                note(f"sample {index}: first token {shown}, output begins {tokens[:max(n, 1)].tolist()}")
        if trailing_eos(tokens, rules.eos_token_id) >= 2:
            eos_ok = False
            note(f"sample {index}: the output ends in {trailing_eos(tokens, rules.eos_token_id)} EOS tokens")
        count = entry.get("token_count")
        if count is None or int(count) != len(tokens):
            length_ok = False
            note(f"sample {index}: token_count {count}, the output holds {len(tokens)} tokens")
    passed = bool(entries) and first_ok is not False and eos_ok and length_ok
    audit = [
        f"First token check pass: {_passed_text(first_ok)}",
        f"EOS check pass: {eos_ok}",
        f"Sample length check pass: {length_ok}",
        "TEST06 verification complete" if passed else "TEST06 verification failed",
    ]
    figures = [f"{len(entries)} logged responses checked ({rules.dtype} tokens, EOS {rules.eos_token_id})",
               *audit[:3], *examples]
    failures = [name for name, ok in (("no response was logged", bool(entries)),
                                      ("a first token differs from its output", first_ok is not False),
                                      ("an output ends in more than one EOS", eos_ok),
                                      ("a token_count differs from its output's length", length_ok)) if not ok]
    return OutputVerdict("TEST06", passed, figures, failures, "verify_accuracy.txt", audit)


def check_logged_accuracy(benchmark: Benchmark, labels: Any, rules: OutputRules) -> OutputVerdict:
    """TEST07: top-1 of the logged responses (as the SUT gave them: a logit row or a class)
    against the QSL's labels, at least the threshold."""
    threshold = rules.accuracy_threshold
    assert threshold is not None
    if labels is None:
        raise SettingsError(["TEST07: the QSL has no labels, so the logged responses cannot be scored"])
    labels = np.asarray(labels)
    responses = benchmark.accuracy.responses if benchmark.accuracy is not None else {}
    indices = benchmark.trace.sample_index
    hits = 0
    for row, response in responses.items():
        predicted = predicted_class(response)
        hits += int(predicted is not None and predicted == int(labels[indices[row]]))
    scored = len(responses)
    score = hits / scored if scored else 0.0
    covered = len({int(indices[row]) for row in responses})
    passed = scored > 0 and score >= threshold
    audit = [f"Accuracy score: {score}", f"Accuracy threshold: {threshold}", f"Accuracy check pass: {passed}",
             "TEST PASS" if passed else "TEST FAIL"]
    figures = [f"{scored} logged responses scored, covering {covered} of {len(labels)} samples",
               f"top-1 {score:.4f}, threshold {threshold:g}"]
    failures = [] if passed else ["no response was logged" if not scored else
                                  f"top-1 {score:.4f} is below the threshold {threshold:g}"]
    return OutputVerdict("TEST07", passed, figures, failures, "verify_accuracy.txt", audit)


def check_output_length(entries: Sequence[Entry], rules: OutputRules) -> OutputVerdict:
    """TEST09: mean output length, in 4-byte tokens, within [min, max]."""
    low, high = rules.min_output_tokens, rules.max_output_tokens
    assert low is not None and high is not None
    lengths = [len(bytes.fromhex(str(entry.get("data", "")))) // TEST09_TOKEN_BYTES for entry in entries]
    mean = sum(lengths) / len(lengths) if lengths else 0.0
    low_ok, high_ok = mean >= low, mean <= high
    passed = bool(lengths) and low_ok and high_ok
    stats = [f"Total samples: {len(lengths)}", f"Mean output tokens: {mean:.2f}",
             f"Min output tokens: {min(lengths, default=0)}", f"Max output tokens: {max(lengths, default=0)}"]
    audit = [*stats, f"Min threshold: {low}", f"Max threshold: {high}", f"Min check pass: {low_ok}",
             f"Max check pass: {high_ok}", "TEST PASS" if passed else "TEST FAIL"]
    failures = []
    if not lengths:
        failures.append("no response was logged")
    if not low_ok:
        failures.append(f"mean output {mean:.2f} tokens is below {low:g}: are outputs truncated?")
    if not high_ok:
        failures.append(f"mean output {mean:.2f} tokens is above {high:g}: are outputs padded?")
    return OutputVerdict("TEST09", passed, [*stats, f"bounds [{low:g}, {high:g}]"], failures,
                         "verify_output_len.txt", audit)
