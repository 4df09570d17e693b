"""What to do about each warning a run carries: the reports print the warning and, beside it, the remedy.

The warnings themselves come from loadgen.machine.noise, loadgen.analysis and the engine;
this table only recognises them by their opening words and names the fix.
"""

from __future__ import annotations

ADVICE: tuple[tuple[str, str], ...] = (
    ("CPU governor is", "set the governor to performance for the run "
     "(`sudo cpupower frequency-set -g performance`, or write 'performance' to "
     "/sys/devices/system/cpu/cpu*/cpufreq/scaling_governor), then rerun"),
    ("turbo boost is on", "turn turbo off for stable clocks (`echo 1 | sudo tee "
     "/sys/devices/system/cpu/intel_pstate/no_turbo`, or boost=0 for acpi-cpufreq), or compare only runs "
     "taken under the same thermal conditions"),
    ("high load average", "stop other work on the machine (builds, browsers, other benchmarks) and rerun; "
     "compare runs with --runs N and loadgen.compare so the noise is measured, not guessed"),
    ("CPU frequency changed", "fix the governor and turn turbo off, let the machine cool down, and use "
     "--runs N so drift shows across runs"),
    ("std is", "the figure varies by run: run more repetitions (`python -m loadgen.compare --plan` says how many) "
     "and quiet the machine"),
    ("from the mean", "one run is far from the others: look at its report for a stall, then rerun"),
    ("mlperf_log_trace.json holds the first", "nothing to fix: trace.npz holds every sample"),
    ("was chosen by each run's pilot", "fix the rate with --set so every run does the same work"),
)
GENERIC = "read the warning, remove its cause, and rerun; repeated runs (--runs N) show whether it mattered"


def remedy(warning: str) -> str:
    """The fix for one warning (a generic one when the warning is not in the table)."""
    for opening, fix in ADVICE:
        if opening in warning:
            return fix
    return GENERIC
