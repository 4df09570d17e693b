"""Reading a submission's evidence as data only, within bounds, whatever the files hold.

Why: a submission folder is someone else's input. Every file is named relative to the
folder and must stay inside it; each distinct file (by resolved path, so `./big`, `././big`
and a symlink to it are one file) is read and hashed once; everything read counts against
one budget (`MAX_READ_BYTES`), reported when exceeded. An `.npz` is opened with the zip
reader and each `.npy` member's header (shape, dtype) is checked against the member's
declared size before a byte of array data is read, so a header claiming 2**40 elements
costs nothing; object dtypes (pickles) are refused. A format 2 trace (byte planes,
loadgen.engine.trace_file) expands when decoded, so the rows its metadata claims are held
to the same limit before anything is decoded, and decoding refuses what no writer makes.
Every problem is a `ValueError` whose message the validator turns into a finding.
"""

from __future__ import annotations

import hashlib
import io
import struct
import zipfile
import zlib
from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np

from loadgen.engine.trace import Trace
from loadgen.engine.trace_file import (
    COLUMN_DTYPES,
    PER_QUERY,
    TOKEN_COLUMNS,
    decode_columns,
    format_version,
    read_member,
)

MAX_READ_BYTES = 2 << 30
"""Everything the validator reads for one submission, all files together (2 GiB)."""
MAX_EVIDENCE_BYTES = 1 << 30
"""Largest single evidence file, and largest expanded trace (a 64 M-sample trace fits)."""
MAX_NPZ_MEMBERS = 128
"""A format 2 trace has 1 + 8 metadata + at most 64 byte-plane members."""
MAX_NPY_HEADER_BYTES = 10_000
NUMERIC_KINDS = "biuf"


def evidence_path(base: Path, relative: str) -> Path:
    """The file a relative evidence path names; ValueError when it could leave base."""
    if "\\" in relative or "\x00" in relative:
        raise ValueError("must be a relative path with / separators")
    if PurePosixPath(relative).is_absolute() or PureWindowsPath(relative).drive:
        raise ValueError("must be a relative path with / separators")
    if ".." in PurePosixPath(relative).parts:
        raise ValueError("must not contain '..'")
    try:
        path = (base / relative).resolve(strict=True)
    except (OSError, RuntimeError, ValueError):
        raise ValueError("no such file") from None
    if not path.is_relative_to(base):
        raise ValueError("resolves outside the submission's folder (through a symlink)")
    if not path.is_file():
        raise ValueError("is not a regular file")
    return path


class EvidenceReader:
    """Reads files under `base` once each, by resolved path, within one byte budget."""

    def __init__(self, base: Path, budget: int = MAX_READ_BYTES, max_file_bytes: int = MAX_EVIDENCE_BYTES) -> None:
        self.base = base.resolve()
        self.budget = budget
        self.max_file_bytes = max_file_bytes
        self.bytes_read = 0
        self._contents: dict[Path, bytes] = {}
        self._digests: dict[Path, str] = {}

    def resolve(self, relative: str) -> Path:
        return evidence_path(self.base, relative)

    def read(self, relative: str) -> bytes:
        """The file's bytes (read at most once); ValueError when too large or over the budget."""
        path = self.resolve(relative)
        if path not in self._contents:
            self._contents[path] = self._read_bounded(path)
            self._digests[path] = hashlib.sha256(self._contents[path]).hexdigest()
        return self._contents[path]

    def sha256(self, relative: str) -> str:
        """The file's sha256, computed once per distinct file."""
        path = self.resolve(relative)
        if path not in self._digests:
            self.read(relative)
        return self._digests[path]

    def _read_bounded(self, path: Path) -> bytes:
        size = path.stat().st_size
        if size > self.max_file_bytes:
            raise ValueError(f"{size} bytes, over the {self.max_file_bytes}-byte limit of one evidence file")
        if self.bytes_read + size > self.budget:
            raise ValueError(
                f"reading it would exceed the validator's read budget of {self.budget} bytes "
                f"({self.bytes_read} read so far)"
            )
        with path.open("rb") as handle:
            raw = handle.read(size + 1)
        if len(raw) > size:
            raise ValueError("grew while being read")
        self.bytes_read += len(raw)
        return raw


def read_npz(raw: bytes, limit: int = MAX_EVIDENCE_BYTES) -> dict[str, np.ndarray]:
    """The arrays of an .npz held in `raw`, each checked from its header before it is read."""
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            infos = archive.infolist()
            if len(infos) > MAX_NPZ_MEMBERS:
                raise ValueError(f"{len(infos)} members; a trace has at most {MAX_NPZ_MEMBERS}")
            expanded = sum(info.file_size for info in infos)
            if expanded > limit:
                raise ValueError(f"expands to {expanded} bytes, limit {limit}")
            arrays: dict[str, np.ndarray] = {}
            for info in infos:
                key = info.filename.removesuffix(".npy")
                if key == info.filename or key in arrays:
                    raise ValueError(f"member {info.filename!r}: not one .npy array per name")
                arrays[key] = read_member(archive, info, limit)
            return arrays
    except (zipfile.BadZipFile, zlib.error, EOFError, struct.error, NotImplementedError, RuntimeError, OSError) as exc:
        raise ValueError(f"not a readable npz: {type(exc).__name__}: {exc}") from None


def trace_from_arrays(arrays: dict[str, np.ndarray], limit: int = MAX_EVIDENCE_BYTES) -> Trace:
    """A Trace from an npz's arrays (either trace format), after checking every column fits the others.

    Format 2 columns expand when decoded (a byte per row can become eight): the rows their
    metadata claims are held to `limit` bytes in memory before any is decoded."""
    version = format_version(arrays.get)
    if version >= 2:
        claimed = sum(_claimed_rows(arrays, name) * np.dtype(kind).itemsize for name, kind in COLUMN_DTYPES.items())
        if claimed > limit:
            raise ValueError(f"decodes to {claimed} bytes, limit {limit}")
    columns = decode_columns(arrays.get)
    offsets = columns["query_offsets"]
    n_samples = len(columns["sample_index"])
    if offsets.size == 0 or offsets[0] != 0 or np.any(np.diff(offsets) < 0) or offsets[-1] != n_samples:
        raise ValueError(f"query_offsets must rise from 0 to the {n_samples} sample rows")
    for name in PER_QUERY:
        if len(columns[name]) != len(offsets) - 1:
            raise ValueError(f"column {name}: {len(columns[name])} rows for {len(offsets) - 1} queries")
    for name in ("completed_ns", "response_size"):
        if len(columns[name]) != n_samples:
            raise ValueError(f"column {name}: {len(columns[name])} rows for {n_samples} samples")
    for name in TOKEN_COLUMNS:
        if len(columns[name]) not in (0, n_samples):
            raise ValueError(f"column {name}: {len(columns[name])} rows for {n_samples} samples")
    index = columns["sample_index"]
    if n_samples and index.min() < 0:
        raise ValueError(f"sample_index ranges over [{index.min()}, {index.max()}]; indices are >= 0 and fit int32")
    return Trace(**columns)


def _claimed_rows(arrays: dict[str, np.ndarray], name: str) -> int:
    meta = arrays.get(f"{name}.meta")
    if meta is None or meta.size < 1 or meta.dtype.kind not in "iu":
        return 0  # decoding names what is wrong with it
    return max(0, int(meta.reshape(-1)[0]))
