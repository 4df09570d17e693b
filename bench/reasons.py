"""What limits a missed target, in a line the reader can act on, from measurements only.

Each missed row gets what the target needs against what was measured (for a ratio, the
value ours must reach given LoadGen's median), then what its figure's `why` names, read
from the same runs or from one rerun of the measurement under a `bench.child` Probe:

- "profile": the rerun's cProfile of the engine's thread: the functions with the most own
  time (waits set apart), i.e. where the time goes through that API;
- "memory": the rerun's tracemalloc when the engine first calls the SUT: the source lines
  holding the most live memory, per sample;
- "late": the share of queries each engine issued more than 100 us (and 1 ms) late: a p99
  lies inside those stalls once more than 1% of the queries are in them; and the machine's
  own floor, measured in each child just before its run: the p99 issue delay that the
  stalls of a thread doing nothing but read the clock would give an issuer costing nothing;
- "ks": each engine's back-to-back issue cost (1st percentile of the gaps the SUT saw) and
  the share of scheduled gaps shorter than it: the KS distance cannot fall much below it;
- "import": where `import loadgen.mlperf` spends its time, own time per top-level package
  (`python -X importtime`);
- "linear": the post-run time per sample split into figures + verdict and files, at the
  two largest sizes, with the machine's transparent-huge-page setting;
- "fixed": the fixed-time SUT's own wake-up overshoot (the same SUT under every engine), so
  that what is left of a latency is the engine's and the queue's.
No sentence here carries a number that was not measured in this run.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from bench.figures import LOADGEN, FigureResult, fmt_number, median

ProbeKey = tuple[str, str, str]
"""(measurement, engine, probe mode)."""


def needed(out: FigureResult) -> str:
    """The target against the measured medians, e.g. 'needs ours <= 2.1us (LoadGen 4.2us x 0.5); ours 13.1us'."""
    figure, target = out.figure, out.figure.target
    if target is None:
        return ""
    unit = figure.unit if figure.unit not in ("", "/s") else ""
    ours, theirs = median(out.ours), median(out.theirs)

    def show(value: float | None) -> str:
        return f"{fmt_number(value, figure.unit)} {unit}".rstrip()
    if target.kind == "ratio" and ours is not None and theirs is not None:
        return (f"needs ours {target.op} {show(theirs * target.value)} (LoadGen {show(theirs)} x {target.value:g}); "
                f"ours {show(ours)}")
    if target.kind == "ours" and ours is not None:
        return f"ours {show(ours)}, allowed {target.op} {show(target.value)}"
    if target.kind == "within" and ours is not None and theirs is not None:
        return f"ours {show(ours)}, LoadGen {show(theirs)}; allowed [{target.low:g}, {show(target.high)}]"
    if target.kind == "true":
        numbers = [v for v in out.ours if v is not None]
        return f"true in {sum(1 for v in numbers if v == 1.0)} of {len(out.ours)} runs"
    return "no value measured"


def _problems(runs: Sequence[dict[str, Any]], measurement: str, engines: Sequence[str]) -> str:
    """Why runs gave no value: a child's error, or an INVALID run's reasons (each said once)."""
    seen: dict[str, None] = {}
    for run in runs:
        if run["measurement"] != measurement or run["engine"] not in engines:
            continue
        if "error" in run:
            seen[f"{run['engine']}: {run['error'].splitlines()[0][:200]}"] = None
        for problem in (run.get("result") or {}).get("problems") or []:
            seen[f"{run['engine']}: {problem[:200]}"] = None
    return ("runs without a value: " + "; ".join(seen)) if seen else ""


def _median_of(runs: Sequence[dict[str, Any]], measurement: str, engine: str, key: str) -> float | None:
    values = [run["result"][key] for run in runs if run["measurement"] == measurement and run["engine"] == engine
              and run.get("result") and run["result"].get(key) is not None]
    return statistics.median(values) if values else None


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2g}%"


def _profile(probe: dict[str, Any] | None) -> str:
    cpu = (probe or {}).get("probe", {}).get("cpu")
    if not cpu:
        return ""
    top = ", ".join(f"{row['function']} {_percent(row['share'])}" for row in cpu["top"])
    return (f"profile of a rerun (cProfile of the engine's thread, {_percent(cpu['wait_share'])} of it waiting), "
            f"most own time: {top}")


def _memory(probe: dict[str, Any] | None) -> str:
    rows = (probe or {}).get("probe", {}).get("memory")
    samples = (probe or {}).get("samples")
    if not rows or not samples:
        return ""
    top = ", ".join(f"{row['line']} {row['bytes'] / samples:.0f} B" for row in rows)
    return f"live memory per sample when the engine calls the SUT (tracemalloc, a rerun): {top}"


def _late(runs: Sequence[dict[str, Any]], measurement: str, engine: str) -> str:
    shares = {who: (_median_of(runs, measurement, who, "late_100us_share"),
                    _median_of(runs, measurement, who, "late_1ms_share")) for who in (engine, LOADGEN)}
    if all(value is None for pair in shares.values() for value in pair):
        return ""
    line = (f"queries issued over 100 us late: ours {_percent(shares[engine][0])}, LoadGen "
            f"{_percent(shares[LOADGEN][0])} (over 1 ms: {_percent(shares[engine][1])}, "
            f"{_percent(shares[LOADGEN][1])}); a p99 lies inside such stalls once they pass 1% of the queries")
    floors = {who: _median_of(runs, measurement, who, "machine_floor_p99_ns") for who in (engine, LOADGEN)}
    if floors[engine] is not None and floors[LOADGEN] is not None:
        line += (f"; the machine alone (a spinning thread's stalls, just before each run) puts the p99 of an issuer "
                 f"that costs nothing at {floors[engine] / 1e3:.3g} us in ours' runs, {floors[LOADGEN] / 1e3:.3g} us "
                 "in LoadGen's")
    return line



def _ks(runs: Sequence[dict[str, Any]], measurement: str, engine: str) -> str:
    parts = []
    for who, name in ((engine, "ours"), (LOADGEN, "LoadGen")):
        floor = _median_of(runs, measurement, who, "sut_gap_p01_ns")
        share = _median_of(runs, measurement, who, "short_gap_share")
        if floor is not None and share is not None:
            parts.append(f"{name} {floor / 1e3:.3g} us ({_percent(share)} of the scheduled gaps are shorter)")
    if not parts:
        return ""
    return ("back-to-back issue cost (1st percentile of the SUT-seen gaps): " + "; ".join(parts)
            + "; the KS distance cannot fall much below that share")


def _imports(runs: Sequence[dict[str, Any]], measurement: str, engine: str) -> str:
    for run in runs:
        found = run.get("result", {}).get("import_profile") if run["measurement"] == measurement else None
        if found and run["engine"] == engine:
            top = ", ".join(f"{row['package']} {row['own_s'] * 1e3:.0f} ms" for row in found)
            return f"own import time per package (python -X importtime -c 'import loadgen.mlperf'): {top}"
    return ""


def _linear(runs: Sequence[dict[str, Any]], measurements: Sequence[str], machine: Mapping[str, Any]) -> str:
    parts = []
    for measurement in measurements:
        figures = _median_of(runs, measurement, "ours", "figures_ns_per_sample")
        files = _median_of(runs, measurement, "ours", "files_ns_per_sample")
        if figures is not None and files is not None:
            parts.append(f"{measurement.removeprefix('scaling-')} samples: figures and verdict {figures:.0f} ns, "
                         f"files {files:.0f} ns")
    if not parts:
        return ""
    return ("post-run time per sample at " + "; ".join(parts)
            + f"; transparent huge pages: {machine.get('transparent_hugepage') or 'unknown'}")


def _fixed(runs: Sequence[dict[str, Any]], measurement: str, engine: str) -> str:
    late = {who: _median_of(runs, measurement, who, "overshoot_p50_ns") for who in (engine, LOADGEN)}
    if all(value is None for value in late.values()):
        return ""
    shown = {who: "n/a" if value is None else f"{value / 1e3:.3g} us" for who, value in late.items()}
    return (f"the SUT's own wake-up overshoot after each sleep, p50: {shown[engine]} under ours, "
            f"{shown[LOADGEN]} under LoadGen (the same SUT; the rest is the engine's issue and completion, "
            "and the queue)")


def explain(out: FigureResult, runs: Sequence[dict[str, Any]], probes: Mapping[ProbeKey, dict[str, Any]],
            machine: Mapping[str, Any]) -> str:
    """The limit text of one missed figure."""
    figure = out.figure
    m, engine = figure.measurement, figure.ours_engine
    probe = probes.get((m, engine, figure.probe)) if figure.probe else None
    details = {
        "profile": lambda: _profile(probe),
        "memory": lambda: _memory(probe),
        "late": lambda: "; ".join(filter(None, [_late(runs, m, engine), _profile(probe)])),
        "ks": lambda: _ks(runs, m, engine),
        "import": lambda: _imports(runs, m, engine),
        "fixed": lambda: _fixed(runs, m, engine),
        "linear": lambda: _linear(runs, sorted({run["measurement"] for run in runs
                                                if run["measurement"].startswith("scaling-")},
                                               key=lambda name: int(name.split("-")[1]))[-2:], machine),
    }
    detail = details[figure.why]() if figure.why in details else ""
    missing = ""
    if None in out.ours or (figure.has_theirs and None in out.theirs) or not out.ours:
        missing = _problems(runs, m, [engine, LOADGEN] if figure.has_theirs else [engine])
    return ". ".join(filter(None, [needed(out), missing, detail]))


def probe_jobs(results: Sequence[FigureResult]) -> list[ProbeKey]:
    """The reruns that the missed figures ask for, each once."""
    jobs = {(out.figure.measurement, out.figure.ours_engine, out.figure.probe)
            for out in results if out.status.startswith("MISSED") and out.figure.probe}
    return sorted((m, e, p) for m, e, p in jobs if p is not None)
