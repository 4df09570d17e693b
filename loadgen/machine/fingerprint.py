"""Hardware/software fingerprint recorded with every benchmark run.

A result is only comparable with another one taken on the same hardware, so each
run stores what the machine was (CPU, memory, OS, Python, NumPy/BLAS, package
versions) and a short ``hardware_hash`` that stays the same for as long as the
hardware does. Load average and CPU frequencies are recorded too because they
explain noisy runs, but they never feed the hash.

Everything read from ``/proc`` and ``/sys`` is optional: a file that is absent or
unreadable yields ``None`` (or an empty list) and collection carries on. The
filesystem root is a parameter of the private helpers so tests can point them at
a fake tree.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import os
import platform
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import cpuinfo
import numpy
import psutil

_ROOT = Path("/")
_CPU_SYS = Path("sys/devices/system/cpu")
_MAX_READ = 64 * 1024
_PACKAGES = ("numpy", "scipy", "pydantic", "psutil", "py-cpuinfo")
_HASH_HEX_CHARS = 16
_GIB = 1 << 30


def _read_text(path: Path) -> str | None:
    """Read at most 64 KiB of a /proc or /sys file, stripped; None when absent, unreadable or empty."""
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            text = handle.read(_MAX_READ).strip()
    except OSError:
        return None
    return text or None


def _proc_cpuinfo(root: Path = _ROOT) -> dict[str, str]:
    """Key/value pairs of the first processor block of /proc/cpuinfo: it is fast and needs no subprocess."""
    text = _read_text(root / "proc" / "cpuinfo")
    if text is None:
        return {}
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            break
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), value.strip())
    return fields


@functools.lru_cache(maxsize=1)
def _py_cpuinfo() -> dict[str, Any]:
    """py-cpuinfo's dict, computed once per process because it takes about a second."""
    try:
        return dict(cpuinfo.get_cpu_info())
    except Exception:  # py-cpuinfo probes the CPU in many platform-specific ways; any failure means "unknown"
        return {}


def _governor(root: Path = _ROOT) -> str | None:
    """Scaling governor of cpu0 (e.g. "performance"), since "powersave" skews latency results."""
    return _read_text(root / _CPU_SYS / "cpu0" / "cpufreq" / "scaling_governor")


def _turbo(root: Path = _ROOT) -> str | None:
    """"on"/"off" from intel_pstate's no_turbo (1 = off) or cpufreq's boost (1 = on); None when neither says."""
    no_turbo = _read_text(root / _CPU_SYS / "intel_pstate" / "no_turbo")
    if no_turbo in ("0", "1"):
        return "off" if no_turbo == "1" else "on"
    boost = _read_text(root / _CPU_SYS / "cpufreq" / "boost")
    if boost in ("0", "1"):
        return "on" if boost == "1" else "off"
    return None


def cpu_frequencies_mhz(root: Path = _ROOT) -> list[float]:
    """Current frequency of each logical CPU in MHz, for sampling throttling during runs; [] when unknown."""
    cpu_dirs = sorted(
        (p for p in (root / _CPU_SYS).glob("cpu[0-9]*") if p.name[3:].isdigit()),
        key=lambda p: int(p.name[3:]),  # numeric, so cpu10 comes after cpu2
    )
    frequencies: list[float] = []
    for cpu_dir in cpu_dirs:
        khz = _read_text(cpu_dir / "cpufreq" / "scaling_cur_freq")
        if khz is not None and khz.isdigit():
            frequencies.append(int(khz) / 1000.0)
    if frequencies:
        return frequencies
    try:
        per_cpu = psutil.cpu_freq(percpu=True)
    except (OSError, NotImplementedError, AttributeError):  # AttributeError: platforms where psutil lacks cpu_freq
        return []
    return [float(f.current) for f in per_cpu or [] if f.current]


def load_average() -> list[float] | None:
    """1/5/15-minute load average, recorded at the start and end of a run to flag a busy machine."""
    try:
        return [float(x) for x in os.getloadavg()]
    except (OSError, AttributeError):  # AttributeError: os.getloadavg does not exist on Windows
        return None


def _cpu_frequency() -> dict[str, float | None]:
    """psutil's current/min/max frequency in MHz; a field psutil reports as 0.0 (unknown) becomes None."""
    try:
        freq = psutil.cpu_freq()
    except (OSError, NotImplementedError, AttributeError):  # AttributeError: platforms where psutil lacks cpu_freq
        freq = None
    if freq is None:
        return {"current": None, "min": None, "max": None}
    return {name: (float(value) or None) for name, value in zip(("current", "min", "max"), freq[:3], strict=False)}


def _cpu_part() -> dict[str, Any]:
    """CPU identity from /proc/cpuinfo, with py-cpuinfo consulted only for what /proc lacks."""
    proc = _proc_cpuinfo()
    model = proc.get("model name")
    vendor = proc.get("vendor_id")
    flags_text = proc.get("flags") or proc.get("Features")  # "Features" is the ARM spelling
    flags: list[str] = flags_text.split() if flags_text else []
    architecture = platform.machine() or None
    if model is None or vendor is None or not flags or architecture is None:
        info = _py_cpuinfo()
        model = model or info.get("brand_raw")
        vendor = vendor or info.get("vendor_id_raw")
        flags = flags or [str(flag) for flag in info.get("flags", [])]
        architecture = architecture or info.get("arch_string_raw")
    return {
        "model": model,
        "vendor": vendor,
        "architecture": architecture,
        "flags": sorted(set(flags)),
        "physical_cores": psutil.cpu_count(logical=False),
        "logical_cores": psutil.cpu_count(logical=True),
        "frequency_mhz": _cpu_frequency(),
        "governor": _governor(),
        "turbo": _turbo(),
    }


def _blas_info(build_dependencies: Mapping[str, Any], name: str) -> dict[str, str | None] | None:
    """Name and version of NumPy's BLAS or LAPACK, since it dominates linear-algebra timings."""
    entry = build_dependencies.get(name)
    if not isinstance(entry, Mapping):
        return None
    return {key: (None if entry.get(key) is None else str(entry.get(key))) for key in ("name", "version")}


def _numpy_part() -> dict[str, Any]:
    """NumPy version plus BLAS/LAPACK from show_config(mode="dicts"), which returns rather than prints."""
    try:
        config = numpy.show_config(mode="dicts")
    except Exception:  # numpy's build-config introspection varies by version and build; missing means unknown
        config = None
    deps: Mapping[str, Any] = config.get("Build Dependencies", {}) if isinstance(config, Mapping) else {}
    return {
        "version": numpy.__version__,
        "blas": _blas_info(deps, "blas"),
        "lapack": _blas_info(deps, "lapack"),
    }


def _package_version(name: str) -> str | None:
    """Installed distribution version, None when the package is not installed."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def hardware_hash(fingerprint: Mapping[str, Any]) -> str:
    """First 16 hex chars of the SHA-256 over the hardware-only fields of a collect_fingerprint() dict.

    Covered, and nothing else: cpu.model, cpu.vendor, cpu.architecture,
    cpu.physical_cores, cpu.logical_cores, cpu.flags (sorted), memory.total_bytes
    rounded to whole GiB, and os.machine. They are serialised as canonical JSON
    (sorted keys, no whitespace) before hashing, so the digest is the same in every
    process on the same hardware and ignores load, frequencies, governor, turbo,
    available memory, OS/Python/package versions.
    """
    cpu = fingerprint["cpu"]
    identity = {
        "cpu_model": cpu["model"],
        "cpu_vendor": cpu["vendor"],
        "cpu_architecture": cpu["architecture"],
        "physical_cores": cpu["physical_cores"],
        "logical_cores": cpu["logical_cores"],
        "cpu_flags": sorted(cpu["flags"]),
        "memory_gib": round(fingerprint["memory"]["total_bytes"] / _GIB),
        "machine": fingerprint["os"]["machine"],
    }
    canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:_HASH_HEX_CHARS]


def collect_fingerprint() -> dict[str, Any]:
    """JSON-serialisable description of this machine and software stack, stored with every run's results."""
    memory = psutil.virtual_memory()
    fingerprint: dict[str, Any] = {
        "cpu": _cpu_part(),
        "memory": {"total_bytes": int(memory.total), "available_bytes": int(memory.available)},
        "os": {
            "system": platform.system(),
            "release": platform.release(),
            "version": platform.version(),
            "machine": platform.machine(),
        },
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": sys.executable,
        },
        "numpy": _numpy_part(),
        "packages": {name: _package_version(name) for name in _PACKAGES},
        "load_average": load_average(),
    }
    fingerprint["hardware_hash"] = hardware_hash(fingerprint)
    return fingerprint
