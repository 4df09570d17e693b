"""Noise warnings from fake samples, the background sampler, the environment guard, the machine score."""

from __future__ import annotations

import copy

import pytest

from loadgen import IndexQSL, TestSettings, run_benchmark
from loadgen.engine.clock import FakeClock
from loadgen.machine.differences import fingerprint_differences
from loadgen.machine.noise import NoiseSamples, noise_warnings, sample_noise
from loadgen.machine.score import REFERENCE_SECONDS, machine_score
from sut.null import NullSUT

QUIET = {"cpu": {"governor": "performance", "turbo": "off", "logical_cores": 4}, "load_average": [0.5, 0.4, 0.3]}


def samples(frequencies: list[list[float]], loads: list[list[float]] | None = None) -> NoiseSamples:
    found = NoiseSamples()
    for i, row in enumerate(frequencies):
        found.add(i * 0.5, row, (loads or [[0.5, 0.5, 0.5]] * len(frequencies))[i])
    return found


def test_a_quiet_machine_gets_no_warning() -> None:
    assert noise_warnings(QUIET, samples([[3000.0, 3000.0], [2990.0, 3010.0]])) == []
    assert noise_warnings({}, NoiseSamples()) == []  # nothing known: nothing claimed


def test_governor_and_turbo_are_named() -> None:
    fingerprint = {"cpu": {"governor": "powersave", "turbo": "on", "logical_cores": 4}}
    found = noise_warnings(fingerprint, samples([[3000.0], [3000.0]]))
    assert found[0].startswith("CPU governor is 'powersave', not 'performance'")
    assert found[1].startswith("turbo boost is on")
    assert len(found) == 2


def test_high_load_is_relative_to_the_cores() -> None:
    at_capacity = samples([[3000.0], [3000.0]], loads=[[3.0, 1, 1], [4.0, 1, 1]])
    assert noise_warnings(QUIET, at_capacity) == []  # one runnable task per core is not oversubscribed
    found = noise_warnings(QUIET, samples([[3000.0], [3000.0]], loads=[[3.0, 1, 1], [5.0, 1, 1]]))
    assert found == ["high load average: 5.00 (1 minute) on 4 logical cores; other work competed for the CPUs"]
    started_busy = copy.deepcopy(QUIET) | {"load_average": [9.0, 9.0, 9.0]}
    assert "high load average: 9.00" in noise_warnings(started_busy, samples([[3000.0], [3000.0]]))[0]


def test_a_frequency_change_over_5_percent_names_the_cpu() -> None:
    found = noise_warnings(QUIET, samples([[3000.0, 3000.0], [3000.0, 2400.0], [3000.0, 2900.0]]))
    assert found == ["CPU frequency changed by 20% during the run (cpu1: 2400 to 3000 MHz over 3 samples)"]
    assert noise_warnings(QUIET, samples([[3000.0], [2880.0]])) == []  # 4%: under the limit
    assert noise_warnings(QUIET, samples([[3000.0]])) == []  # one sample shows no change


def test_the_sampler_samples_at_entry_on_each_interval_of_the_run_clock_and_at_exit() -> None:
    readings = iter(range(1000, 2000))
    clock = FakeClock()
    read_frequencies = lambda: [float(next(readings))]  # a fake reader in one line
    with sample_noise(0.5, read_frequencies=read_frequencies, read_load=lambda: [0.1, 0.1, 0.1], clock=clock) as seen:
        clock.wait_for_pacers(1)
        clock.advance(400_000_000)  # before the first interval: no sample
        assert seen.times_s == [0.0]
        clock.advance(100_000_000)
        assert seen.times_s == [0.0, 0.5]
        clock.advance(700_000_000)
    assert seen.times_s == [0.0, 0.5, 1.2, 1.2]  # the last interval's sample, then the one at exit
    assert seen.frequencies_mhz == [[1000.0], [1001.0], [1002.0], [1003.0]]
    assert len(seen.load_averages) == 4


def test_noise_warnings_land_in_the_run_result() -> None:
    settings = TestSettings(scenario="Offline", min_duration_ms=0, min_query_count=1, offline_expected_qps=1000.0)
    fingerprint = {"cpu": {"governor": "powersave", "logical_cores": 1024}}
    result = run_benchmark(NullSUT(), IndexQSL(8), settings, fingerprint=fingerprint).result
    assert any(w.startswith("CPU governor is 'powersave'") for w in result.warnings)


def fingerprint() -> dict:
    return {
        "hardware_hash": "aaaa",
        "cpu": {"model": "Xeon", "vendor": "Intel", "architecture": "x86_64", "physical_cores": 2,
                "logical_cores": 4, "governor": "performance", "turbo": "off", "flags": ["avx2", "sse2"],
                "frequency_mhz": {"current": 2000.0, "min": 800.0, "max": 3000.0}},
        "memory": {"total_bytes": 8 << 30},
        "os": {"system": "Linux", "release": "6.1", "machine": "x86_64"},
        "python": {"version": "3.11.9", "implementation": "CPython"},
        "numpy": {"version": "2.0.0", "blas": {"name": "openblas", "version": "0.3.27"}, "lapack": None},
        "packages": {"numpy": "2.0.0", "scipy": "1.13.0"},
        "load_average": [0.1, 0.1, 0.1],
    }


def test_fingerprint_differences_name_each_field() -> None:
    a, b = fingerprint(), fingerprint()
    b["load_average"] = [7.0, 7.0, 7.0]  # noise, not environment
    b["cpu"]["frequency_mhz"]["current"] = 2900.0
    assert fingerprint_differences(a, b) == []
    b["hardware_hash"] = "bbbb"
    b["cpu"].update(model="EPYC", logical_cores=8, governor="powersave", turbo="on", flags=["avx2", "avx512f"])
    b["numpy"] = {"version": "1.26.4", "blas": {"name": "mkl", "version": "2024"}, "lapack": None}
    b["packages"] = {"numpy": "1.26.4", "scipy": "1.13.0", "pydantic": "2.7"}
    assert fingerprint_differences(a, b) == [
        "hardware hash differs: A 'aaaa', B 'bbbb'",
        "CPU model differs: A 'Xeon', B 'EPYC'",
        "logical cores differs: A 4, B 8",
        "CPU governor differs: A 'performance', B 'powersave'",
        "turbo differs: A 'off', B 'on'",
        "numpy differs: A '2.0.0', B '1.26.4'",
        "numpy BLAS differs: A openblas 0.3.27, B mkl 2024",
        "CPU flags differ: only A sse2; only B avx512f",
        "package numpy differs: A '2.0.0', B '1.26.4'",
        "package pydantic differs: A unknown, B '2.7'",
    ]


def test_fingerprint_differences_tolerate_missing_fields() -> None:
    assert fingerprint_differences({}, {}) == []
    assert fingerprint_differences({}, fingerprint())[0] == "hardware hash differs: A unknown, B 'aaaa'"


def test_machine_score_is_reference_time_over_this_machines_time() -> None:
    score = machine_score(repeats=1)
    assert set(score.parts_s) == {"matmul", "fft", "sort", "elementwise"}
    assert score.seconds == pytest.approx(sum(score.parts_s.values()))
    assert score.score == pytest.approx(REFERENCE_SECONDS / score.seconds)
    with pytest.raises(ValueError, match="repeats must be >= 1"):
        machine_score(repeats=0)
