"""Tests for loadgen.machine.fingerprint: shape, JSON-safety, hash stability and tolerant /sys parsing."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loadgen.machine import fingerprint as fpmod
from loadgen.machine.fingerprint import collect_fingerprint, cpu_frequencies_mhz, hardware_hash, load_average

REPO_ROOT = Path(__file__).resolve().parents[2]
CPU_SYS = Path("sys/devices/system/cpu")


@pytest.fixture(scope="module")
def fingerprint() -> dict[str, Any]:
    """One real fingerprint shared by the module, since collecting is the slow part."""
    return collect_fingerprint()


def _write(root: Path, relative: Path | str, text: str) -> None:
    """Create a file under a fake filesystem root, with parents."""
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _plain_json_types(value: Any) -> Iterator[str]:
    """Yield a description of every value that is not a plain JSON type (e.g. numpy scalars)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                yield f"key {key!r}"
            yield from _plain_json_types(item)
    elif isinstance(value, list):
        for item in value:
            yield from _plain_json_types(item)
    elif value is not None and type(value) not in (str, int, float, bool):
        yield f"{type(value).__name__}: {value!r}"


# --- the real fingerprint -------------------------------------------------


def test_fingerprint_is_json_serialisable_with_plain_types(fingerprint: dict[str, Any]) -> None:
    assert list(_plain_json_types(fingerprint)) == []
    assert json.loads(json.dumps(fingerprint)) == fingerprint


def test_fingerprint_has_all_parts(fingerprint: dict[str, Any]) -> None:
    assert set(fingerprint) == {
        "cpu", "memory", "os", "python", "numpy", "packages", "load_average", "hardware_hash",
    }
    cpu = fingerprint["cpu"]
    assert set(cpu) == {
        "model", "vendor", "architecture", "flags", "physical_cores", "logical_cores",
        "frequency_mhz", "governor", "turbo",
    }
    assert cpu["flags"] == sorted(cpu["flags"])
    assert set(cpu["frequency_mhz"]) == {"current", "min", "max"}
    assert cpu["turbo"] in ("on", "off", None)
    assert isinstance(cpu["logical_cores"], int) and cpu["logical_cores"] >= 1
    assert fingerprint["memory"]["total_bytes"] >= fingerprint["memory"]["available_bytes"] > 0
    assert set(fingerprint["os"]) == {"system", "release", "version", "machine"}
    assert "hostname" not in json.dumps(fingerprint).lower()
    assert set(fingerprint["python"]) == {"version", "implementation", "executable"}
    assert fingerprint["python"]["executable"] == sys.executable
    assert set(fingerprint["numpy"]) == {"version", "blas", "lapack"}
    assert set(fingerprint["packages"]) == {"numpy", "scipy", "pydantic", "psutil", "py-cpuinfo"}
    assert fingerprint["packages"]["numpy"] == fingerprint["numpy"]["version"]
    load = fingerprint["load_average"]
    assert load is None or (len(load) == 3 and all(isinstance(x, float) for x in load))


def test_collecting_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    collect_fingerprint()
    captured = capsys.readouterr()
    assert captured.out == ""


def test_hash_is_16_hex_chars_and_stable_within_process(fingerprint: dict[str, Any]) -> None:
    assert re.fullmatch(r"[0-9a-f]{16}", fingerprint["hardware_hash"])
    assert collect_fingerprint()["hardware_hash"] == fingerprint["hardware_hash"]
    assert hardware_hash(fingerprint) == fingerprint["hardware_hash"]


def test_hash_is_stable_across_processes(fingerprint: dict[str, Any]) -> None:
    result = subprocess.run(
        [
            sys.executable, "-c",
            "from loadgen.machine.fingerprint import collect_fingerprint as c; print(c()['hardware_hash'])",
        ],
        capture_output=True, text=True, check=True, cwd=REPO_ROOT, timeout=60,
    )
    assert result.stdout.strip() == fingerprint["hardware_hash"]


# --- hash coverage --------------------------------------------------------


def test_hash_ignores_non_hardware_fields(fingerprint: dict[str, Any]) -> None:
    other = copy.deepcopy(fingerprint)
    other["cpu"]["frequency_mhz"] = {"current": 1.0, "min": 2.0, "max": 3.0}
    other["cpu"]["governor"] = "powersave"
    other["cpu"]["turbo"] = "off" if fingerprint["cpu"]["turbo"] == "on" else "on"
    other["cpu"]["flags"] = list(reversed(other["cpu"]["flags"]))
    other["memory"]["available_bytes"] = 1
    other["memory"]["total_bytes"] += 3 * 1024 * 1024  # a few MiB of kernel reservation drift
    other["load_average"] = [99.0, 99.0, 99.0]
    other["os"]["release"] = "0.0.0-other"
    other["os"]["version"] = "#2"
    other["python"] = {"version": "3.99.0", "implementation": "PyPy", "executable": "/elsewhere/python"}
    other["numpy"] = {"version": "0.0", "blas": None, "lapack": None}
    other["packages"] = {name: "0.0" for name in other["packages"]}
    other["hardware_hash"] = "ignored"
    assert hardware_hash(other) == hardware_hash(fingerprint)


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("cpu", "model", "Some Other CPU"),
        ("cpu", "vendor", "OtherVendor"),
        ("cpu", "architecture", "riscv64"),
        ("cpu", "physical_cores", 1024),
        ("cpu", "logical_cores", 2048),
        ("cpu", "flags", ["only_this_flag"]),
        ("os", "machine", "riscv64"),
    ],
)
def test_hash_changes_with_hardware(fingerprint: dict[str, Any], section: str, key: str, value: Any) -> None:
    other = copy.deepcopy(fingerprint)
    other[section][key] = value
    assert hardware_hash(other) != hardware_hash(fingerprint)


def test_hash_changes_with_memory_size(fingerprint: dict[str, Any]) -> None:
    other = copy.deepcopy(fingerprint)
    other["memory"]["total_bytes"] += 4 * 1024**3
    assert hardware_hash(other) != hardware_hash(fingerprint)


# --- governor / turbo from a fake /sys ------------------------------------


def test_governor_read_and_stripped(tmp_path: Path) -> None:
    _write(tmp_path, CPU_SYS / "cpu0/cpufreq/scaling_governor", "performance\n")
    assert fpmod._governor(tmp_path) == "performance"


def test_governor_missing_is_none(tmp_path: Path) -> None:
    assert fpmod._governor(tmp_path) is None


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"intel_pstate/no_turbo": "1\n"}, "off"),
        ({"intel_pstate/no_turbo": "0\n"}, "on"),
        ({"cpufreq/boost": "1\n"}, "on"),
        ({"cpufreq/boost": "0\n"}, "off"),
        ({"intel_pstate/no_turbo": "1\n", "cpufreq/boost": "1\n"}, "off"),  # intel_pstate wins
        ({"intel_pstate/no_turbo": "garbage", "cpufreq/boost": "1"}, "on"),
        ({"cpufreq/boost": "maybe"}, None),
        ({}, None),
    ],
)
def test_turbo(tmp_path: Path, files: dict[str, str], expected: str | None) -> None:
    for relative, text in files.items():
        _write(tmp_path, CPU_SYS / relative, text)
    assert fpmod._turbo(tmp_path) == expected


def test_unreadable_files_give_none(tmp_path: Path) -> None:
    # A directory where a file should be makes open() fail with an OSError, like an unreadable file.
    (tmp_path / CPU_SYS / "cpu0/cpufreq/scaling_governor").mkdir(parents=True)
    (tmp_path / CPU_SYS / "intel_pstate/no_turbo").mkdir(parents=True)
    (tmp_path / "proc/cpuinfo").mkdir(parents=True)
    assert fpmod._governor(tmp_path) is None
    assert fpmod._turbo(tmp_path) is None
    assert fpmod._proc_cpuinfo(tmp_path) == {}


# --- /proc/cpuinfo and the py-cpuinfo fallback ----------------------------


def test_proc_cpuinfo_reads_first_block_only(tmp_path: Path) -> None:
    _write(
        tmp_path, "proc/cpuinfo",
        "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Fake CPU @ 1GHz\nflags\t\t: sse avx\n\n"
        "processor\t: 1\nmodel name\t: Second CPU\nflags\t\t: other\n",
    )
    fields = fpmod._proc_cpuinfo(tmp_path)
    assert fields["model name"] == "Fake CPU @ 1GHz"
    assert fields["vendor_id"] == "GenuineIntel"
    assert fields["flags"] == "sse avx"
    assert fpmod._proc_cpuinfo(tmp_path / "nowhere") == {}


def test_cpu_part_uses_proc_without_py_cpuinfo(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden() -> dict[str, Any]:
        raise AssertionError("py-cpuinfo must not run when /proc/cpuinfo has everything")

    monkeypatch.setattr(fpmod, "_proc_cpuinfo", lambda root=None: {
        "model name": "Proc CPU", "vendor_id": "ProcVendor", "flags": "b a b",
    })
    monkeypatch.setattr(fpmod, "_py_cpuinfo", forbidden)
    cpu = fpmod._cpu_part()
    assert (cpu["model"], cpu["vendor"], cpu["flags"]) == ("Proc CPU", "ProcVendor", ["a", "b"])


def test_cpu_part_falls_back_to_py_cpuinfo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fpmod, "_proc_cpuinfo", lambda root=None: {})
    monkeypatch.setattr(fpmod, "_py_cpuinfo", lambda: {
        "brand_raw": "Info CPU", "vendor_id_raw": "InfoVendor", "flags": ["z", "y"],
    })
    cpu = fpmod._cpu_part()
    assert (cpu["model"], cpu["vendor"], cpu["flags"]) == ("Info CPU", "InfoVendor", ["y", "z"])


def test_py_cpuinfo_failure_is_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> dict[str, Any]:
        raise RuntimeError("cpuid probe failed")

    monkeypatch.setattr(fpmod.cpuinfo, "get_cpu_info", broken)
    fpmod._py_cpuinfo.cache_clear()
    try:
        assert fpmod._py_cpuinfo() == {}
    finally:
        fpmod._py_cpuinfo.cache_clear()


def test_numpy_config_failure_gives_none(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(mode: str = "stdout") -> None:
        raise TypeError("old numpy")

    monkeypatch.setattr(fpmod.numpy, "show_config", broken)
    part = fpmod._numpy_part()
    assert part["blas"] is None and part["lapack"] is None


# --- frequencies and load average -----------------------------------------


def test_cpu_frequencies_from_sys_in_numeric_order(tmp_path: Path) -> None:
    for index, khz in ((0, "1000000"), (2, "2500000"), (10, "3000500")):
        _write(tmp_path, CPU_SYS / f"cpu{index}/cpufreq/scaling_cur_freq", f"{khz}\n")
    (tmp_path / CPU_SYS / "cpufreq").mkdir()  # not a cpuN directory
    (tmp_path / CPU_SYS / "cpuidle").mkdir()
    assert cpu_frequencies_mhz(tmp_path) == [1000.0, 2500.0, 3000.5]


def test_cpu_frequencies_fall_back_to_psutil(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Freq:
        def __init__(self, current: float) -> None:
            self.current = current

    monkeypatch.setattr(fpmod.psutil, "cpu_freq", lambda percpu=False: [Freq(1200.0), Freq(1300.0)])
    assert cpu_frequencies_mhz(tmp_path) == [1200.0, 1300.0]


@pytest.mark.parametrize("behaviour", ["none", "raise"])
def test_cpu_frequencies_empty_when_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, behaviour: str
) -> None:
    def unavailable(percpu: bool = False) -> None:
        if behaviour == "raise":
            raise NotImplementedError("no cpufreq")
        return None

    monkeypatch.setattr(fpmod.psutil, "cpu_freq", unavailable)
    assert cpu_frequencies_mhz(tmp_path) == []
    assert fpmod._cpu_frequency() == {"current": None, "min": None, "max": None}


def test_load_average_none_when_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    def unavailable() -> tuple[float, float, float]:
        raise OSError("no load average")

    monkeypatch.setattr(fpmod.os, "getloadavg", unavailable)
    assert load_average() is None


def test_load_average_is_three_floats() -> None:
    load = load_average()
    assert load is None or (len(load) == 3 and all(type(x) is float for x in load))
