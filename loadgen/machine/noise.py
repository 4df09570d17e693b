"""Noise on the machine during a run: a cheap background sampler and the warnings it supports.

A benchmark is only as steady as the machine under it. While a run is timed, a daemon
thread samples each CPU's frequency and the load average at a low rate (2 Hz by default:
a few file reads, well under a millisecond of the run's time per second); afterwards
`noise_warnings` turns the samples and the run's fingerprint into plain warnings that
land in result.json. The rules are those of docs/statistics.md: governor not `performance`,
turbo on, load average high for the number of cores, frequency changing during the run.
(The fifth, per-run figures with a CV above 10%, needs repeated runs: see
`loadgen.analysis.stats.noise_warnings`.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from loadgen.engine.clock import Clock
from loadgen.machine.fingerprint import cpu_frequencies_mhz, load_average
from loadgen.machine.sampler import sampling

SAMPLE_INTERVAL_S = 0.5
"""2 Hz: enough to see a frequency change in a run of a second or more, cheap enough to ignore."""
FREQUENCY_CHANGE_LIMIT = 0.05
"""Warn when any CPU's frequency moved by more than 5% of its highest sampled value."""
LOAD_PER_CORE_LIMIT = 1.0
"""Warn when the 1-minute load average exceeds the logical core count: the CPUs were oversubscribed."""


@dataclass
class NoiseSamples:
    """What the sampler saw: per sample, seconds since start, each CPU's MHz, the load average."""

    times_s: list[float] = field(default_factory=list)
    frequencies_mhz: list[list[float]] = field(default_factory=list)
    load_averages: list[list[float]] = field(default_factory=list)

    def add(self, elapsed_s: float, frequencies: list[float], load: list[float] | None) -> None:
        """Append one sample; an unknown frequency list or load average is kept out."""
        self.times_s.append(elapsed_s)
        if frequencies:
            self.frequencies_mhz.append(frequencies)
        if load:
            self.load_averages.append(load)


@contextmanager
def sample_noise(
    interval_s: float = SAMPLE_INTERVAL_S,
    read_frequencies: Callable[[], list[float]] = cpu_frequencies_mhz,
    read_load: Callable[[], list[float] | None] = load_average,
    clock: Clock | None = None,
) -> Iterator[NoiseSamples]:
    """Yields NoiseSamples filled in the background: one sample at entry, one per interval, one at
    exit, timed and paced by the run's clock."""
    samples = NoiseSamples()
    clock = clock or Clock()
    start_ns = clock.now_ns()

    def take() -> None:
        samples.add((clock.now_ns() - start_ns) / 1e9, read_frequencies(), read_load())

    with sampling(take, interval_s, "loadgen-noise", clock):
        yield samples


def noise_warnings(fingerprint: Mapping[str, Any], samples: NoiseSamples) -> list[str]:
    """Plain warnings about the machine's state during the run; [] when nothing is known to be wrong."""
    cpu = fingerprint.get("cpu") or {}
    found = []
    governor = cpu.get("governor")
    if governor is not None and governor != "performance":
        found.append(f"CPU governor is {governor!r}, not 'performance': the clock speed may vary during the run")
    if cpu.get("turbo") == "on":
        found.append("turbo boost is on: the clock speed depends on temperature and on the other cores' load")
    found += _load_warnings(cpu.get("logical_cores"), fingerprint.get("load_average"), samples.load_averages)
    found += _frequency_warnings(samples.frequencies_mhz)
    return found


def _load_warnings(cores: int | None, start: list[float] | None, during: list[list[float]]) -> list[str]:
    """One warning when the 1-minute load average, at the start or during the run, exceeded the cores."""
    if not cores:
        return []
    readings = ([start] if start else []) + during
    highest = max((float(load[0]) for load in readings if load), default=0.0)
    if highest <= LOAD_PER_CORE_LIMIT * cores:
        return []
    return [f"high load average: {highest:.2f} (1 minute) on {cores} logical cores; other work competed for the CPUs"]


def _frequency_warnings(frequencies_mhz: list[list[float]]) -> list[str]:
    """One warning naming the CPU whose frequency moved most, when it moved by more than the limit."""
    width = min((len(row) for row in frequencies_mhz), default=0)
    if len(frequencies_mhz) < 2 or width == 0:
        return []
    worst_cpu, worst_change, worst_low, worst_high = 0, 0.0, 0.0, 0.0
    for cpu in range(width):
        column = [row[cpu] for row in frequencies_mhz]
        low, high = min(column), max(column)
        change = (high - low) / high if high > 0 else 0.0
        if change > worst_change:
            worst_cpu, worst_change, worst_low, worst_high = cpu, change, low, high
    if worst_change <= FREQUENCY_CHANGE_LIMIT:
        return []
    return [
        f"CPU frequency changed by {worst_change:.0%} during the run (cpu{worst_cpu}: "
        f"{worst_low:.0f} to {worst_high:.0f} MHz over {len(frequencies_mhz)} samples)"
    ]
