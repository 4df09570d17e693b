"""trace.npz on disk: every column narrow, delta-coded where that is smaller, split into byte planes.

Why: timestamps in nanoseconds compress poorly as int64 (a 500 k-sample Server trace took
over a second at zlib's default level). Format 2 writes each column as a residual against
a reference (a sample's completion and first token against its query's issue time), kept as
is or as first value + differences, whichever a sample of the rows says is smaller, in the
narrowest signed width that holds it; each byte of that width is its own `.npy` member
(`NAME.0`, `NAME.1`, ...), deflated at level 1 when a probe says it shrinks and stored when it
does not (the low bytes of a time are noise). `NAME.meta` holds (rows, width, delta, first
value, relative). Values of 2**61 or more in magnitude (never a time) are written as they
are, so no difference the writer takes wraps; a decoder refuses whatever a writer could not
have produced (a running sum that leaves int64, a plane of the wrong length) with a
ValueError. docs/trace.md describes the layout for readers outside this project. Format 1 (every column as its own
int64/int32 `.npy`, written before 2026-12) still reads.

The file stays an ordinary `.npz` of plain integer arrays: `np.load` opens it without pickle.
"""

from __future__ import annotations

import functools
import io
import math
import zipfile
import zlib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO

import numpy as np
from numpy.lib import format as npy_format

FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
COLUMN_DTYPES: dict[str, type] = {
    "query_offsets": np.int64,
    "scheduled_ns": np.int64,
    "issued_ns": np.int64,
    "sample_index": np.int32,
    "completed_ns": np.int64,
    "response_size": np.int32,
    "first_token_ns": np.int64,
    "token_count": np.int32,
}
"""The Trace's columns and their dtypes in memory, in the order of its fields."""
PER_QUERY = ("scheduled_ns", "issued_ns")
PER_SAMPLE = ("sample_index", "completed_ns", "response_size")
TOKEN_COLUMNS = ("first_token_ns", "token_count")
REFERENCE = {"completed_ns": "issued_ns", "first_token_ns": "issued_ns"}
"""Per-sample columns written as their difference from their query's value of another column."""
WIDTHS = (1, 2, 4, 8)
CHUNK = 1 << 22
"""Rows encoded or decoded at a time: temporaries stay near 32 MB whatever the trace's size."""
READ_SLICE = 1 << 24
PROBE_BYTES = 1 << 14
DEFLATE_BELOW = 0.85
"""A plane is deflated when its first PROBE_BYTES deflate to less than this fraction."""
MAX_NPY_HEADER_BYTES = 10_000
NUMERIC_KINDS = "biuf"
INT64 = np.iinfo(np.int64)
SAFE = 1 << 61

Columns = dict[str, np.ndarray]
Getter = Callable[[str], "np.ndarray | None"]


# --------------------------------------------------------------------------- encoding


def _sample_reference(column: np.ndarray, offsets: np.ndarray, start: int, stop: int) -> np.ndarray | int:
    """A per-query column's value for every sample row in [start, stop) (an int when one query holds them all)."""
    first = int(np.searchsorted(offsets, start, side="right")) - 1
    last = int(np.searchsorted(offsets, stop, side="left"))
    if last - first == 1:
        return int(column[first])
    counts = np.diff(np.clip(offsets[first:last + 1], start, stop))
    return np.repeat(column[first:last], counts)


def _residual(columns: Mapping[str, np.ndarray], name: str, start: int, stop: int, relative: bool) -> np.ndarray:
    """Rows [start, stop) of a column, minus its reference when relative, as int64."""
    values = columns[name][start:stop].astype(np.int64)
    if relative and stop > start:
        values -= _sample_reference(columns[REFERENCE[name]], columns["query_offsets"], start, stop)
    return values


def _differences(columns: Mapping[str, np.ndarray], name: str, start: int, stop: int, relative: bool) -> np.ndarray:
    """Residual[i] - residual[i - 1] for i in [max(start, 1), stop)."""
    low = max(start, 1)
    values = _residual(columns, name, low - 1, stop, relative)
    return np.subtract(values[1:], values[:-1])


def _magnitude(values: np.ndarray) -> float:
    """Mean bits per value (log2 of |v| + 1): what deflate cannot squeeze out of noise."""
    return float(np.log2(np.abs(values.astype(np.float64)) + 1.0).mean()) if values.size else 0.0


def _choose_delta(columns: Mapping[str, np.ndarray], name: str, rows: int, relative: bool) -> bool:
    """Whether differences are smaller than the residuals themselves, judged on up to 4096 spread rows."""
    if rows < 3:
        return False
    picked = np.unique(np.linspace(1, rows - 1, num=min(rows - 1, 4096), dtype=np.int64))

    def residual(at: np.ndarray) -> np.ndarray:
        values = columns[name][at].astype(np.int64)
        if relative:
            offsets = columns["query_offsets"]
            values -= columns[REFERENCE[name]][np.searchsorted(offsets, at, side="right") - 1]
        return values

    here = residual(picked)
    return _magnitude(here - residual(picked - 1)) < _magnitude(here)


def _width(low: int, high: int) -> int:
    for width in WIDTHS:
        info = np.iinfo(np.dtype(f"<i{width}"))
        if info.min <= low and high <= info.max:
            return width
    return 8


def _tame(column: np.ndarray) -> bool:
    """Whether differences of the column (and against another tame one) cannot wrap: |values| < 2**61."""
    return column.size == 0 or (int(column.min()) > -SAFE and int(column.max()) < SAFE)


def encode_column(columns: Mapping[str, np.ndarray], name: str) -> Columns:
    """One column's members: NAME.meta and one uint8 plane per byte of its width, chunk by chunk.

    Values so large that a difference could wrap (never a time: 2**61 ns is 73 years) are
    written as they are, so that every layout the writer picks decodes without a wrap."""
    rows = len(columns[name])
    reference = REFERENCE.get(name)
    tame = _tame(columns[name]) and (reference is None or _tame(columns[reference]))
    relative = tame and reference is not None
    delta = tame and _choose_delta(columns, name, rows, relative)
    part = functools.partial(_differences if delta else _residual, relative=relative)
    first = int(_residual(columns, name, 0, 1, relative)[0]) if delta and rows else 0
    count = rows - 1 if delta and rows else rows
    low, high, kept = 0, 0, None
    for start in range(0, rows, CHUNK):
        values = part(columns, name, start, min(rows, start + CHUNK))
        if values.size:
            low, high = min(low, int(values.min())), max(high, int(values.max()))
        kept = values if rows <= CHUNK else None  # one chunk: no need to compute it twice
    width = _width(low, high)
    planes = np.empty((width, count), dtype=np.uint8)
    at = 0
    for start in range(0, rows, CHUNK):
        values = kept if kept is not None else part(columns, name, start, min(rows, start + CHUNK))
        narrow = values.astype(f"<i{width}")
        planes[:, at:at + narrow.size] = narrow.view(np.uint8).reshape(-1, width).T
        at += narrow.size
    members = {f"{name}.meta": np.array([rows, width, int(delta), first, int(relative)], dtype=np.int64)}
    members.update({f"{name}.{k}": planes[k] for k in range(width)})
    return members


def _compressible(data: np.ndarray) -> bool:
    probe = data[:PROBE_BYTES].tobytes()
    return len(probe) < 4096 or len(zlib.compress(probe, 1)) < DEFLATE_BELOW * len(probe)


def _write_member(archive: zipfile.ZipFile, name: str, array: np.ndarray, deflate: bool) -> None:
    """One .npy member: deflated at the archive's level, or stored (a ZipInfo names its own method)."""
    entry: str | zipfile.ZipInfo = f"{name}.npy"
    if not deflate:
        entry = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
        entry.compress_type = zipfile.ZIP_STORED
    with archive.open(entry, "w", force_zip64=True) as member:
        npy_format.write_array_header_1_0(member, npy_format.header_data_from_array_1_0(array))
        member.write(np.ascontiguousarray(array).data)


def write_trace(target: Path | IO[bytes], columns: Mapping[str, np.ndarray]) -> None:
    """trace.npz (format 2) of a Trace's columns, to a path or an open binary file."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, allowZip64=True, compresslevel=1) as archive:
        _write_member(archive, "format_version", np.array(FORMAT_VERSION, dtype=np.int64), True)
        for name in COLUMN_DTYPES:
            for member, array in encode_column(columns, name).items():
                _write_member(archive, member, array, _compressible(array))


# --------------------------------------------------------------------------- reading members


def npy_header(member: IO[bytes], name: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    """Shape, Fortran order and dtype of an .npy stream; ValueError for any dtype that is not plain numbers."""
    version = npy_format.read_magic(member)
    if version == (1, 0):
        shape, fortran, dtype = npy_format.read_array_header_1_0(member, max_header_size=MAX_NPY_HEADER_BYTES)
    elif version in ((2, 0), (3, 0)):
        shape, fortran, dtype = npy_format.read_array_header_2_0(member, max_header_size=MAX_NPY_HEADER_BYTES)
    else:
        raise ValueError(f"{name}: unknown .npy format version {version}")
    if dtype.hasobject or dtype.kind not in NUMERIC_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise ValueError(f"{name}: dtype {dtype} refused (plain numbers only; object arrays would need pickle)")
    return tuple(int(n) for n in shape), bool(fortran), dtype


def read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> np.ndarray:
    """One .npy member, its header checked against the member's declared size before any data is read."""
    name = info.filename
    with archive.open(info) as member:
        shape, fortran, dtype = npy_header(member, name)
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes > info.file_size or nbytes > limit:
            raise ValueError(
                f"{name}: its header says shape {shape} of {dtype} ({nbytes} bytes), "
                f"but the member holds {info.file_size} bytes"
            )
        flat = np.empty(math.prod(shape), dtype=dtype)
        data, got = flat.view(np.uint8), 0
        while got < nbytes:  # in slices: reading a member whole would hold its bytes twice
            read = member.readinto(data[got:got + READ_SLICE])  # type: ignore[attr-defined]
            if not read:
                break
            got += read
    if got != nbytes:
        raise ValueError(f"{name}: truncated ({got} of {nbytes} bytes)")
    return flat.reshape(shape[::-1]).T if fortran else flat.reshape(shape)


class MemberReader:
    """The arrays of an open .npz, each read when first asked for and only then."""

    def __init__(self, archive: zipfile.ZipFile, limit: int) -> None:
        self.archive = archive
        self.limit = limit
        self.infos: dict[str, zipfile.ZipInfo] = {}
        for info in archive.infolist():
            key = info.filename.removesuffix(".npy")
            if key == info.filename or key in self.infos:
                raise ValueError(f"member {info.filename!r}: not one .npy array per name")
            self.infos[key] = info
        self._small: dict[str, np.ndarray] = {}

    def __call__(self, key: str) -> np.ndarray | None:
        if key not in self.infos:
            return None
        if key in self._small:
            return self._small[key]
        array = read_member(self.archive, self.infos[key], self.limit)
        if array.nbytes <= 4096:  # metadata is asked for more than once; columns are not kept alive here
            self._small[key] = array
        return array

    def shape(self, key: str) -> tuple[int, ...] | None:
        """A member's shape from its header alone."""
        if key not in self.infos:
            return None
        with self.archive.open(self.infos[key]) as member:
            return npy_header(member, self.infos[key].filename)[0]


# --------------------------------------------------------------------------- decoding


def format_version(get: Getter) -> int:
    """The file's format version; ValueError unless one integer this code reads."""
    version = get("format_version")
    if version is None or version.size != 1 or version.dtype.kind not in "iu":
        raise ValueError("format_version: expected one integer")
    number = int(version.reshape(-1)[0])
    if number not in READABLE_VERSIONS:
        raise ValueError(f"trace format version {number}, expected one of {list(READABLE_VERSIONS)}")
    return number


def _meta(get: Getter, name: str) -> tuple[int, int, bool, int, bool]:
    """(rows, width, delta, first value, relative) of a format 2 column; ValueError unless a writer made it."""
    meta = get(f"{name}.meta")
    if meta is None:
        raise ValueError(f"lacks the column {name} ({name}.meta)")
    if meta.shape != (5,) or meta.dtype.kind not in "iu":
        raise ValueError(f"{name}.meta: expected 5 integers (rows, width, delta, first value, relative), "
                         f"got shape {meta.shape} {meta.dtype}")
    rows, width, delta, first, relative = (int(v) for v in meta)
    if (rows < 0 or width not in WIDTHS or delta not in (0, 1) or (not delta and first != 0)
            or relative not in (0, 1) or (relative and name not in REFERENCE)):
        raise ValueError(f"{name}.meta: rows {rows}, width {width}, delta {delta}, first {first}, relative {relative} "
                         f"(rows >= 0, width in {list(WIDTHS)}, delta and relative 0 or 1, relative only for "
                         f"{sorted(REFERENCE)}, first 0 unless delta)")
    return rows, width, bool(delta), first, bool(relative)


def rows_of(get: Getter, shape: Callable[[str], tuple[int, ...] | None], version: int, name: str) -> int:
    """A column's row count from its metadata or header, without reading its data."""
    if version == 1:
        found = shape(name)
        if found is None:
            raise ValueError(f"lacks the column {name}")
        return int(found[0]) if len(found) == 1 else -1
    return _meta(get, name)[0]


def _planes(get: Getter, name: str, width: int, count: int) -> list[np.ndarray]:
    """A column's byte planes, each checked to hold `count` bytes."""
    planes = []
    for k in range(width):
        plane = get(f"{name}.{k}")
        if plane is None:
            raise ValueError(f"lacks {name}.{k}, byte {k} of its {width}-byte values")
        if plane.shape != (count,) or plane.dtype != np.uint8:
            raise ValueError(f"{name}.{k}: expected {count} uint8 bytes, got shape {plane.shape} {plane.dtype}")
        planes.append(plane)
    return planes


def _joined(planes: list[np.ndarray], start: int, stop: int) -> np.ndarray:
    """The little-endian integers that rows [start, stop) of the byte planes spell."""
    joined = np.empty((stop - start, len(planes)), dtype=np.uint8)
    for k, plane in enumerate(planes):
        joined[:, k] = plane[start:stop]
    return joined.view(f"<i{len(planes)}").reshape(stop - start)


def _running_sum(differences: np.ndarray, name: str) -> np.ndarray:
    """0, d0, d0 + d1, ... in int64; ValueError when a sum leaves int64 (no writer's differences wrap)."""
    out = np.empty(differences.size + 1, dtype=np.int64)
    out[0] = 0
    out[1:] = differences  # widen first: numpy's cumsum casting as it goes is ~10x slower
    np.cumsum(out[1:], out=out[1:])
    if _bound(0, differences) > INT64.max:  # only int64 differences can wrap: check each step exactly
        after = out[1:]
        if np.any(((out[:-1] ^ after) & (differences.astype(np.int64) ^ after)) < 0):
            raise ValueError(f"column {name}: its differences overflow int64")
    return out


def _bound(first: int, stored: np.ndarray) -> int:
    """The largest magnitude first + a running sum of `stored` could reach, from its width alone."""
    return _reach(first, stored.itemsize, stored.size)


def _reach(first: int, width: int, count: int) -> int:
    return abs(first) + (1 << (8 * width - 1)) * count


def _add(values: np.ndarray, offset: np.ndarray | int, bound: int, name: str) -> None:
    """values += offset in place; ValueError when a sum could wrap and does."""
    reach = bound + (int(np.abs(offset).max(initial=0)) if isinstance(offset, np.ndarray) else abs(offset))
    if reach <= INT64.max:
        values += offset
        return
    with np.errstate(over="ignore"):
        total = values + offset
    if np.any(((values ^ total) & (offset ^ total)) < 0):
        raise ValueError(f"column {name}: its values overflow int64 once their first value or reference is added")
    values[...] = total


def _add_offsets(values: np.ndarray, first: int, reference: np.ndarray | None, offsets: np.ndarray,
                 bound: int, name: str) -> None:
    """values += first + the reference of each row's query, in one pass per chunk."""
    if reference is None:
        _add(values, first, bound, name)
        return
    shifted = reference.astype(np.int64)
    _add(shifted, first, int(np.abs(shifted).max(initial=0)), name)
    for start in range(0, values.size, CHUNK):
        stop = min(values.size, start + CHUNK)
        _add(values[start:stop], _sample_reference(shifted, offsets, start, stop), bound, name)


def _decode_v2(get: Getter, name: str, done: Columns) -> np.ndarray:
    """A format 2 column: chunk by chunk where no sum can leave int64, else with every step checked."""
    rows, width, delta, first, relative = _meta(get, name)
    delta = delta and rows > 0
    count = rows - 1 if delta else rows
    planes = _planes(get, name, width, count)
    offsets = done.get("query_offsets", np.zeros(1, dtype=np.int64))
    reference = done[REFERENCE[name]] if relative and rows else None
    if reference is not None and (
            offsets.size == 0 or int(offsets[-1]) != rows or offsets[0] != 0 or np.any(np.diff(offsets) < 0)):
        raise ValueError(f"query_offsets must rise from 0 to the {rows} rows of {name}")
    largest_reference = int(np.abs(reference).max(initial=0)) if reference is not None else 0
    if _reach(first if delta else 0, width, count) + largest_reference > INT64.max:
        return _decode_checked(planes, name, delta, first, reference, offsets)
    out = np.empty(rows, dtype=np.int64)
    lead = int(delta)
    shift = int(reference[0]) if reference is not None and reference.size == 1 else 0  # one query: a constant
    if delta:
        out[0] = first + shift
    carry = first + shift if delta else shift
    for start in range(0, count, CHUNK):
        stop = min(count, start + CHUNK)
        part = out[lead + start:lead + stop]
        part[:] = _joined(planes, start, stop)
        if delta:
            np.cumsum(part, out=part)
        if carry:
            part += carry
        if delta:
            carry = int(part[-1])
    if reference is not None and reference.size > 1:
        for start in range(0, rows, CHUNK):
            stop = min(rows, start + CHUNK)
            out[start:stop] += _sample_reference(reference, offsets, start, stop)
    return out


def _decode_checked(planes: list[np.ndarray], name: str, delta: bool, first: int, reference: np.ndarray | None,
                    offsets: np.ndarray) -> np.ndarray:
    """A column whose sums could leave int64 (8-byte values): decoded whole, every step checked."""
    stored = _joined(planes, 0, planes[0].size) if planes else np.zeros(0, dtype=np.int64)
    if delta:
        values, bound = _running_sum(stored, name), _bound(0, stored)
    else:
        values, bound, first = stored.astype(np.int64), 1 << (8 * stored.itemsize - 1), 0
    if values.size and (first or reference is not None):
        _add_offsets(values, first, reference, offsets, bound, name)
    return values


def _as_column(values: np.ndarray, name: str) -> np.ndarray:
    """A decoded column in the Trace's dtype; ValueError when it is no 1-d integer array or does not fit."""
    if values.ndim != 1 or values.dtype.kind not in "iu":
        raise ValueError(f"column {name}: expected a 1-d integer array, got shape {values.shape} {values.dtype}")
    kind = np.dtype(COLUMN_DTYPES[name])
    if values.dtype == kind:
        return values
    info = np.iinfo(COLUMN_DTYPES[name])
    if values.size and (int(values.min()) < info.min or int(values.max()) > info.max):
        raise ValueError(f"column {name}: values in [{values.min()}, {values.max()}] do not fit {kind}")
    return values.astype(kind)


def needed_columns(wanted: Iterable[str]) -> list[str]:
    """The columns a decoder must read to produce `wanted` (references first), in field order."""
    names = set(wanted)
    unknown = names - set(COLUMN_DTYPES)
    if unknown:
        raise ValueError(f"unknown trace columns {sorted(unknown)}; columns are {list(COLUMN_DTYPES)}")
    for name in list(names):
        if name in REFERENCE:
            names |= {REFERENCE[name], "query_offsets"}
    order = ["query_offsets", "issued_ns"] + [n for n in COLUMN_DTYPES if n not in ("query_offsets", "issued_ns")]
    return [name for name in order if name in names]


def decode_columns(get: Getter, wanted: Iterable[str] | None = None) -> Columns:
    """The columns in `wanted` (default all) and those they reference, decoded from either format.

    A missing token column reads as empty (format 1 files before token latencies had none)."""
    version = format_version(get)
    done: Columns = {}
    for name in needed_columns(COLUMN_DTYPES if wanted is None else wanted):
        if version == 1:
            raw = get(name)
            if raw is None and name in TOKEN_COLUMNS:
                raw = np.zeros(0, dtype=COLUMN_DTYPES[name])
            if raw is None:
                raise ValueError(f"lacks the column {name}")
        elif name in TOKEN_COLUMNS and get(f"{name}.meta") is None:
            raw = np.zeros(0, dtype=COLUMN_DTYPES[name])
        else:
            raw = _decode_v2(get, name, done)
        done[name] = _as_column(raw, name)
    return done


def read_trace_columns(path: Path | IO[bytes], wanted: Iterable[str] | None, limit: int) -> tuple[Columns, int, int]:
    """Decoded columns of a trace.npz, plus its query and sample counts (read from headers alone)."""
    try:
        with zipfile.ZipFile(path) as archive:
            reader = MemberReader(archive, limit)
            columns = decode_columns(reader, wanted)
            version = format_version(reader)
            n_queries = rows_of(reader, reader.shape, version, "scheduled_ns")
            n_samples = rows_of(reader, reader.shape, version, "completed_ns")
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, io.UnsupportedOperation) as exc:
        raise ValueError(f"not a readable npz: {type(exc).__name__}: {exc}") from None
    return columns, n_queries, n_samples
