"""One benchmark end to end (load, pilot, warm-up, timed run, figures), and the peak search."""

from loadgen.benchmark.peak import run_find_peak
from loadgen.benchmark.runner import Benchmark, Observer, run_benchmark

__all__ = ["Benchmark", "Observer", "run_benchmark", "run_find_peak"]
