"""Environment guard: what differs between the machines or software stacks of two results.

Two results are comparable only when they were taken on the same hardware with the same
software; `fingerprint_differences` names every field of the fingerprints (see
loadgen.fingerprint) that differs, in words a reader can act on. Load average and the
momentary CPU frequency are left out: they differ between any two runs and are the noise
warnings' business (loadgen.noise).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_GIB = 1 << 30

FIELDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("hardware hash", ("hardware_hash",)),
    ("CPU model", ("cpu", "model")),
    ("CPU vendor", ("cpu", "vendor")),
    ("CPU architecture", ("cpu", "architecture")),
    ("physical cores", ("cpu", "physical_cores")),
    ("logical cores", ("cpu", "logical_cores")),
    ("CPU governor", ("cpu", "governor")),
    ("turbo", ("cpu", "turbo")),
    ("maximum CPU frequency (MHz)", ("cpu", "frequency_mhz", "max")),
    ("OS", ("os", "system")),
    ("OS release", ("os", "release")),
    ("machine", ("os", "machine")),
    ("Python", ("python", "version")),
    ("Python implementation", ("python", "implementation")),
    ("numpy", ("numpy", "version")),
    ("numpy BLAS", ("numpy", "blas")),
    ("numpy LAPACK", ("numpy", "lapack")),
)
"""(what to call it, where it is in the fingerprint), in the order differences are reported."""


def _lookup(fingerprint: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    """The value at path, or None where any step is missing (older or partial fingerprints)."""
    value: Any = fingerprint
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _show(value: Any) -> str:
    """A fingerprint value for a message: BLAS dicts as 'name version', None as 'unknown'."""
    if value is None:
        return "unknown"
    if isinstance(value, Mapping):
        return " ".join(str(v) for v in value.values() if v is not None) or "unknown"
    return repr(value) if isinstance(value, str) else str(value)


def fingerprint_differences(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    """One line per differing field ('CPU governor differs: A 'powersave', B 'performance''); [] if none."""
    found = []
    for label, path in FIELDS:
        va, vb = _lookup(a, path), _lookup(b, path)
        if va != vb:
            found.append(f"{label} differs: A {_show(va)}, B {_show(vb)}")
    memory_a, memory_b = (_lookup(fp, ("memory", "total_bytes")) for fp in (a, b))
    gib_a, gib_b = (None if m is None else round(m / _GIB) for m in (memory_a, memory_b))
    if gib_a != gib_b:
        found.append(f"memory differs: A {_show(gib_a)} GiB, B {_show(gib_b)} GiB")
    flags_a, flags_b = (set(_lookup(fp, ("cpu", "flags")) or ()) for fp in (a, b))
    if flags_a != flags_b:
        only_a, only_b = sorted(flags_a - flags_b), sorted(flags_b - flags_a)
        found.append(f"CPU flags differ: only A {_few(only_a)}; only B {_few(only_b)}")
    packages_a, packages_b = (_lookup(fp, ("packages",)) or {} for fp in (a, b))
    for name in sorted(set(packages_a) | set(packages_b)):
        if packages_a.get(name) != packages_b.get(name):
            found.append(f"package {name} differs: A {_show(packages_a.get(name))}, B {_show(packages_b.get(name))}")
    return found


def _few(names: list[str], limit: int = 8) -> str:
    """Up to `limit` names, then a count of the rest."""
    if not names:
        return "none"
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown} and {len(names) - limit} more"
