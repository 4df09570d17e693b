"""The validator against crafted evidence with consistent hashes: a finding every time, never a traceback,
never an allocation a header asks for, each file read once, within one read budget (issue 11, case 8)."""

from __future__ import annotations

import copy
import datetime as dt
import io
import json
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from loadgen.benchmark.runner import run_benchmark
from loadgen.capstone import judge_submission
from loadgen.capstone.building import build_evidence, build_submission
from loadgen.capstone.reading import EvidenceReader
from loadgen.engine.trace import Trace
from loadgen.engine.trace_file import COLUMN_DTYPES, encode_column
from loadgen.machine.fingerprint import collect_fingerprint
from loadgen.results.files import sha256_file
from loadgen.settings.model import TestSettings
from sut.models import load_model
from sut.tinytorch import wrap_model_over_tinydigits

SETTINGS = TestSettings.model_validate(
    {"scenario": "SingleStream", "mode": "SubmissionRun", "min_duration_ms": 0, "min_query_count": 64,
     "warmup_ms": 0, "pilot_ms": 20, "single_stream_expected_latency_ns": 50_000}
)
TRACE = "baseline/trace.npz"
RESULT = "baseline/result.json"


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sound submission with real evidence, measured here (DigitMLP against its int8 copy)."""
    folder = tmp_path_factory.mktemp("robust")
    fingerprint = collect_fingerprint()
    runs = {}
    for side, name in (("baseline", "digit_mlp"), ("optimized", "digit_mlp_int8")):
        sut = wrap_model_over_tinydigits(load_model(name))
        benchmark = run_benchmark(sut, sut.qsl, SETTINGS, fingerprint=fingerprint)
        (folder / side).mkdir()
        benchmark.trace.save(folder / side / "trace.npz")
        files = {"trace.npz": sha256_file(folder / side / "trace.npz")}
        result = benchmark.result.model_copy(update={"files": files})
        (folder / side / "result.json").write_text(result.model_dump_json(indent=2), encoding="utf-8")
        facts = sut.model_facts() | {"accuracy": benchmark.result.accuracy.top1}  # type: ignore[union-attr]
        runs[side] = (benchmark.result, facts)
    submission = build_submission(
        runs["baseline"][0], runs["optimized"][0], runs["baseline"][1], runs["optimized"][1], ["int8"], None,
        build_evidence(folder, {"baseline": folder / "baseline", "optimized": folder / "optimized"}),
        created=dt.datetime(2026, 12, 1, 12, 0, 0),
    )
    (folder / "submission.json").write_text(json.dumps(submission), encoding="utf-8")
    return folder


@pytest.fixture
def folder(source: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(source, tmp_path / "s"))


def submission(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / "submission.json").read_text(encoding="utf-8"))
    return data


def replaced(folder: Path, relative: str, raw: bytes) -> dict[str, Any]:
    """The submission after `relative` is replaced by `raw` and rehashed: only deeper checks can catch it."""
    (folder / relative).write_bytes(raw)
    data = submission(folder)
    data["evidence"]["sha256"][relative] = sha256_file(folder / relative)
    return data


def errors(data: Any, folder: Path, **limits: int) -> str:
    verdict = judge_submission(data, folder, **limits)
    return "\n".join(str(finding) for finding in verdict.findings if finding.level == "error")


def npy(array: np.ndarray, header_shape: tuple[int, ...] | None = None) -> bytes:
    """An .npy file, optionally with a header that lies about the shape."""
    out = io.BytesIO()
    np.lib.format.write_array(out, array, allow_pickle=True)
    raw = out.getvalue()
    if header_shape is None:
        return raw
    header = np.lib.format.header_data_from_array_1_0(array) | {"shape": header_shape}
    head = io.BytesIO()
    np.lib.format.write_array_header_1_0(head, header)
    return head.getvalue() + array.tobytes()


def format1(folder: Path) -> dict[str, np.ndarray]:
    """The baseline trace's arrays as format 1 (each column its own .npy), as main wrote it before format 2."""
    trace = Trace.load(folder / TRACE)
    return {"format_version": np.array(1, dtype=np.int64)} | {f.name: getattr(trace, f.name) for f in fields(Trace)}


def format2(folder: Path) -> dict[str, np.ndarray]:
    """The baseline trace's format 2 members (metadata and byte planes)."""
    trace = Trace.load(folder / TRACE)
    columns = {f.name: getattr(trace, f.name) for f in fields(Trace)}
    members = {"format_version": np.array(2, dtype=np.int64)}
    for name in COLUMN_DTYPES:
        members |= encode_column(columns, name)
    return members


def stored_npz(arrays: dict[str, np.ndarray | None], **members: bytes) -> bytes:
    """An .npz of the arrays (None: left out), some replaced by raw .npy bytes, every member stored."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, array in arrays.items():
            raw = members.pop(name, None) or (npy(array) if array is not None else None)
            if raw is not None:
                archive.writestr(f"{name}.npy", raw)
        for name, raw in members.items():
            archive.writestr(f"{name}.npy", raw)
    return out.getvalue()


def trace_with(folder: Path, **members: bytes) -> bytes:
    """The baseline trace in format 1 with some members replaced by raw .npy bytes (stored, uncompressed)."""
    return stored_npz(dict(format1(folder)), **members)


def test_the_sound_submission_has_no_error(source: Path) -> None:
    assert errors(submission(source), source) == ""


def test_a_header_claiming_2_to_the_40_elements_allocates_nothing(folder: Path) -> None:
    raw = trace_with(folder, completed_ns=npy(np.zeros(4, dtype=np.int64), header_shape=(2**40,)))
    found = errors(replaced(folder, TRACE, raw), folder)
    assert "completed_ns.npy: its header says shape (1099511627776,) of int64 (8796093022208 bytes)" in found


def test_query_offsets_reaching_2_to_the_40_are_a_finding(folder: Path) -> None:
    raw = trace_with(folder, query_offsets=npy(np.array([0, 1, 2**40], dtype=np.int64)))
    assert "query_offsets must rise from 0 to the" in errors(replaced(folder, TRACE, raw), folder)


def test_a_bad_crc_is_a_finding(folder: Path) -> None:
    raw = bytearray(trace_with(folder))
    at = raw.index(b"\x93NUMPY") + 200  # inside the first member's array data (stored, so CRC-checked on read)
    raw[at] ^= 0xFF
    assert "not a readable npz: BadZipFile: Bad CRC-32" in errors(replaced(folder, TRACE, bytes(raw)), folder)


def test_a_two_dimensional_format_version_is_a_finding(folder: Path) -> None:
    raw = trace_with(folder, format_version=npy(np.ones((2, 2), dtype=np.int64)))
    assert "format_version: expected one integer" in errors(replaced(folder, TRACE, raw), folder)


def test_object_arrays_are_refused_unread(folder: Path) -> None:
    raw = trace_with(folder, sample_index=npy(np.array([object()] * 3, dtype=object)))
    assert "sample_index.npy: dtype object refused" in errors(replaced(folder, TRACE, raw), folder)


def test_sample_indices_beyond_the_run_are_a_finding(folder: Path) -> None:
    index = Trace.load(folder / TRACE).sample_index.copy()
    index[0] = 10**6
    raw = trace_with(folder, sample_index=npy(index))
    assert "sample_index reaches 1000000, beyond the run's 200 samples" in errors(replaced(folder, TRACE, raw), folder)


def _planes(values: np.ndarray) -> dict[str, np.ndarray | None]:
    return {str(k): plane for k, plane in enumerate(values.view(np.uint8).reshape(-1, values.itemsize).T)}


def _crafted(arrays: dict[str, np.ndarray | None], name: str) -> dict[str, dict[str, np.ndarray | None]]:
    """Format 2 columns a writer could never have made, each named by what is wrong with it."""
    meta = np.array(arrays[f"{name}.meta"])
    rows, count = int(meta[0]), int(meta[0] - meta[2])
    return {
        "a plane of floats": {f"{name}.0": np.zeros(count, dtype=np.float64)},
        "a plane of the wrong length": {f"{name}.0": np.zeros(count + 3, dtype=np.uint8)},
        "a missing plane": {f"{name}.1": None, f"{name}.meta": np.r_[meta[:1], 2, meta[2:]]},
        "a missing first value": {f"{name}.meta": np.array([rows, 1, 1, 0])},
        "no metadata": {f"{name}.meta": None},
        "a width of 3": {f"{name}.meta": np.array([rows, 3, 0, 0, 0])},
        "2**40 rows claimed": {f"{name}.meta": np.array([2**40, 1, 0, 0, 0])},
        "differences overflowing int64": {f"{name}.meta": np.array([rows, 8, 1, 2**62, 0]),
                                          **{f"{name}.{k}": p for k, p in
                                             _planes(np.full(rows - 1, 2**62, dtype="<i8")).items()}},
        "an object plane": {f"{name}.0": np.array([object()] * rows, dtype=object)},
    }


EXPECTED = {
    "a plane of floats": "expected {count} uint8 bytes, got shape ({count},) float64",
    "a plane of the wrong length": "expected {count} uint8 bytes",
    "a missing plane": "lacks {name}.1, byte 1 of its 2-byte values",
    "a missing first value": "{name}.meta: expected 5 integers",
    "no metadata": "lacks the column {name}",
    "a width of 3": "width 3",
    "2**40 rows claimed": "decodes to",
    "differences overflowing int64": "column {name}: its differences overflow int64",
    "an object plane": "{name}.0.npy: dtype object refused",
}


@pytest.mark.parametrize("case", sorted(EXPECTED))
@pytest.mark.parametrize("name", ["issued_ns", "completed_ns"])
def test_a_crafted_format_2_column_is_a_finding(folder: Path, case: str, name: str) -> None:
    arrays: dict[str, np.ndarray | None] = dict(format2(folder))
    meta = np.array(arrays[f"{name}.meta"])
    arrays |= _crafted(arrays, name)[case]
    found = errors(replaced(folder, TRACE, stored_npz(arrays)), folder)
    assert EXPECTED[case].format(name=name, count=int(meta[0] - meta[2])) in found


def test_a_format_1_trace_in_a_submission_still_verifies(folder: Path) -> None:
    data = replaced(folder, TRACE, trace_with(folder))
    data["evidence"]["sha256"][TRACE] = sha256_file(folder / TRACE)
    (folder / "baseline" / "result.json").write_text(
        (folder / RESULT).read_text(encoding="utf-8").replace(
            json.loads((folder / RESULT).read_text(encoding="utf-8"))["files"]["trace.npz"],
            sha256_file(folder / TRACE)), encoding="utf-8")
    data["evidence"]["sha256"][RESULT] = sha256_file(folder / RESULT)
    assert errors(data, folder) == ""


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda text: text.replace('"fingerprint": {', '"fingerprint": {"huge": 1e400, ', 1), "beyond a float's range"),
        (lambda text: text.replace('"valid": ', '"valid": true, "valid": ', 1), "repeats the keys ['valid']"),
        (lambda text: text.replace('"warmup_queries": ', '"warmup_queries": NaN, "x": ', 1), "contains NaN"),
    ],
)
def test_result_json_is_read_as_strictly_as_a_submission(folder: Path, edit: Callable[[str], str], reason: str) -> None:
    text = (folder / RESULT).read_text(encoding="utf-8")
    assert reason in errors(replaced(folder, RESULT, edit(text).encode()), folder)


def test_one_file_listed_under_aliases_is_read_once_and_reported(folder: Path) -> None:
    data = submission(folder)
    digest = data["evidence"]["sha256"][TRACE]
    data["evidence"]["sha256"] |= {f"./{TRACE}": digest, f"././{TRACE}": digest}
    found = errors(data, folder)
    assert f"evidence file './{TRACE}' is '{TRACE}' again" in found
    assert f"evidence file '././{TRACE}' is '{TRACE}' again" in found
    reader = EvidenceReader(folder)
    for name in (TRACE, f"./{TRACE}", f"././{TRACE}"):
        reader.sha256(name)
    assert reader.bytes_read == (folder / TRACE).stat().st_size


def test_the_total_read_budget_is_reported(folder: Path) -> None:
    budget = (folder / RESULT).stat().st_size + (folder / TRACE).stat().st_size
    found = errors(submission(folder), folder, read_budget=budget)
    assert "would exceed the validator's read budget of" in found


# ---- fuzzing: mutated submissions and evidence get findings, never another exception --------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


def _mutate(data: Any, path: tuple[Any, ...], value: Any, delete: bool) -> Any:
    if not path:
        return value
    data = copy.deepcopy(data)
    node = data
    for key in path[:-1]:
        node = node[key]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return data


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@seed(20261201)
@FUZZ
@given(choice=st.integers(min_value=0), value=JSON, delete=st.booleans())
def test_fuzz_a_mutated_submission_gets_findings(source: Path, choice: int, value: Any, delete: bool) -> None:
    data = submission(source)
    paths = _paths(data)
    path = paths[choice % len(paths)]
    verdict = judge_submission(_mutate(data, path, value, delete and bool(path)), source)
    assert isinstance(verdict.findings, list) and isinstance(verdict.broken_rules, list)


@seed(20261202)
@FUZZ
@given(choice=st.integers(min_value=0), value=JSON, delete=st.booleans())
def test_fuzz_a_mutated_result_json_gets_findings(source: Path, tmp_path_factory: pytest.TempPathFactory,
                                                   choice: int, value: Any, delete: bool) -> None:
    folder = tmp_path_factory.mktemp("fuzz-result")
    shutil.copytree(source, folder, dirs_exist_ok=True)
    result = json.loads((folder / RESULT).read_text(encoding="utf-8"))
    paths = _paths(result)
    path = paths[choice % len(paths)]
    mutated = json.dumps(_mutate(result, path, value, delete and bool(path))).encode()
    verdict = judge_submission(replaced(folder, RESULT, mutated), folder)
    assert isinstance(verdict.findings, list)


@seed(20261203)
@FUZZ
@given(
    edits=st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), min_size=1, max_size=4),
    cut=st.one_of(st.none(), st.integers(min_value=0)),
    version=st.sampled_from([1, 2]),
)
def test_fuzz_a_mutated_trace_gets_findings(source: Path, tmp_path_factory: pytest.TempPathFactory,
                                            edits: list[tuple[int, int]], cut: int | None, version: int) -> None:
    folder = tmp_path_factory.mktemp("fuzz-trace")
    shutil.copytree(source, folder, dirs_exist_ok=True)
    arrays = format1(folder) if version == 1 else format2(folder)
    raw = bytearray(stored_npz(dict(arrays)))  # stored members: byte edits reach headers and data, not only deflate
    for at, byte in edits:
        raw[at % len(raw)] = byte
    if cut is not None:
        raw = raw[: cut % len(raw)]
    verdict = judge_submission(replaced(folder, TRACE, bytes(raw)), folder)
    assert isinstance(verdict.findings, list)


@seed(20261204)
@FUZZ
@given(
    name=st.sampled_from(list(COLUMN_DTYPES)),
    meta=st.lists(st.integers(-(2**63), 2**63 - 1) | st.integers(-2, 10), min_size=0, max_size=6),
    plane=st.one_of(st.none(), st.integers(0, 300)),
    kind=st.sampled_from(["u1", "i8", "f4", "u2"]),
)
def test_fuzz_crafted_format_2_metadata_gets_findings(source: Path, tmp_path_factory: pytest.TempPathFactory,
                                                      name: str, meta: list[int], plane: int | None,
                                                      kind: str) -> None:
    folder = tmp_path_factory.mktemp("fuzz-format2")
    shutil.copytree(source, folder, dirs_exist_ok=True)
    arrays: dict[str, np.ndarray | None] = dict(format2(folder))
    arrays[f"{name}.meta"] = np.array(meta, dtype=np.int64)
    if plane is not None:
        arrays[f"{name}.0"] = np.arange(plane).astype(kind)
    verdict = judge_submission(replaced(folder, TRACE, stored_npz(arrays)), folder)
    assert isinstance(verdict.findings, list)
