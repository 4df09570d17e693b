"""`python -m bench.run`: this harness and MLPerf LoadGen side by side, on the same machine.

    python -m bench.run                      # everything, 3 repetitions (the header says how long it took)
    python -m bench.run --quick              # tiny sizes, 1 repetition: a smoke run
    python -m bench.run --reps 5 --only offline,server
    python -m bench.run --out bench/results --keep

Every measurement runs in a fresh child process per engine and repetition
(`python -m bench.child`, whose docstring defines every figure), the engines alternating:
ours through the native API, ours through the drop-in `loadgen.mlperf` API (the very same
harness code as for LoadGen, only the module switched), then LoadGen (`mlperf_loadgen`).
The table gives each engine's median with [min, max] over the repetitions, the ratio
ours / LoadGen of the medians (for a drop-in row: the drop-in / LoadGen), the target and
met/MISSED. Each missed target is rerun once under a profiler (cProfile or tracemalloc;
`--no-probe` skips that) and printed with what limits it (`bench.reasons`). The table and
the raw results of every child run are written as `<out>/bench-<date>.md` and `.json`.

Groups (`--only`): offline, stream, server, peak, fixed, startup, trace (trace bytes reuse
the Server run at 10 k queries/s, so it runs that one when server is not selected; and the
trace save of a 500 k-sample Server trace), import (fresh interpreters importing each
engine), scaling (the native API's Offline at 1e5, 1e6 and 1e7 samples, its post-run time).
Needs the `mlperf` extra (`pip install '.[mlperf]'`: mlcommons-loadgen).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.figures import LOADGEN, OURS, OURS_MLPERF, FigureResult, aggregate, build_figures, markdown_table
from bench.reasons import ProbeKey, explain, probe_jobs

REPO = Path(__file__).resolve().parents[1]
GROUPS = ("offline", "stream", "server", "peak", "fixed", "startup", "trace", "import", "scaling")
CHILD_TIMEOUT_S = 300


@dataclass(frozen=True)
class Sizes:
    """How big each measurement is; `--quick` shrinks everything."""

    offline_samples: tuple[int, ...] = (100_000, 1_000_000)
    single_stream_queries: int = 20_000
    multi_stream_queries: int = 5_000
    server_delay_qps: tuple[int, ...] = (10_000, 100_000)
    server_ks_qps: tuple[int, ...] = (2_000, 10_000)
    server_duration_ms: tuple[tuple[int, int], ...] = ((2_000, 2_000), (10_000, 2_000), (100_000, 1_000))
    trace_qps: int = 10_000
    peak_start_qps: int = 8_000
    peak_cap_qps: int = 1_024_000
    peak_duration_ms: int = 1_000
    peak_bisect_steps: int = 3
    fixed_service_us: float = 100.0
    fixed_single_queries: int = 2_000
    fixed_offline_samples: int = 10_000
    fixed_server_qps: int = 2_500
    fixed_server_duration_ms: int = 2_000
    startup_small: int = 1_000
    startup_large: int = 1_000_000
    trace_save_samples: int = 500_000
    trace_save_calibrate_ms: int = 500
    import_repeats: int = 3
    scaling_samples: tuple[int, ...] = (100_000, 1_000_000, 10_000_000)


QUICK = Sizes(
    offline_samples=(10_000,),
    single_stream_queries=500,
    multi_stream_queries=700,
    server_duration_ms=((2_000, 300), (10_000, 300), (100_000, 200)),
    peak_start_qps=2_000,
    peak_cap_qps=4_000,
    peak_duration_ms=200,
    peak_bisect_steps=0,
    fixed_single_queries=200,
    fixed_offline_samples=1_000,
    fixed_server_duration_ms=200,
    startup_small=100,
    startup_large=20_000,
    trace_save_samples=50_000,
    trace_save_calibrate_ms=200,
    import_repeats=1,
    scaling_samples=(10_000, 100_000, 1_000_000),
)

def sizes_for(quick: bool) -> Sizes:
    return QUICK if quick else Sizes()


BOTH = [OURS, LOADGEN]
THREE = [OURS, OURS_MLPERF, LOADGEN]
"""The engines in the order each measurement runs them: ours, (the drop-in,) LoadGen."""


def _offline_items(sizes: Sizes) -> list[dict[str, Any]]:
    return [{"id": "idle", "task": "idle", "engines": THREE},
            *({"id": f"offline-{n}", "task": "offline", "samples": n, "engines": THREE}
              for n in sizes.offline_samples)]


def _stream_items(sizes: Sizes) -> list[dict[str, Any]]:
    return [{"id": "stream-single", "task": "stream", "scenario": "SingleStream",
             "queries": sizes.single_stream_queries, "engines": THREE},
            {"id": "stream-multi", "task": "stream", "scenario": "MultiStream",
             "queries": sizes.multi_stream_queries, "engines": THREE}]


def _server_items(sizes: Sizes, groups: Sequence[str]) -> list[dict[str, Any]]:
    rates = {qps for qps, _ in sizes.server_duration_ms} if "server" in groups else set()
    if "trace" in groups:
        rates.add(sizes.trace_qps)
    return [{"id": f"server-{qps}", "task": "server", "qps": qps, "duration_ms": duration,
             "check_trace": qps == sizes.trace_qps, "engines": THREE}
            for qps, duration in sizes.server_duration_ms if qps in rates]


def _peak_items(sizes: Sizes) -> list[dict[str, Any]]:
    return [{"id": "peak-coalesce" if coalesce else "peak", "task": "peak", "coalesce": coalesce,
             "start_qps": sizes.peak_start_qps, "cap_qps": sizes.peak_cap_qps, "duration_ms": sizes.peak_duration_ms,
             "bisect_steps": sizes.peak_bisect_steps, "engines": BOTH} for coalesce in (False, True)]


def _fixed_items(sizes: Sizes) -> list[dict[str, Any]]:
    s = sizes.fixed_service_us
    return [{"id": "fixed-single", "task": "fixed", "scenario": "SingleStream", "service_us": s,
             "queries": sizes.fixed_single_queries, "engines": THREE},
            {"id": "fixed-offline", "task": "fixed", "scenario": "Offline", "service_us": s,
             "samples": sizes.fixed_offline_samples, "engines": THREE},
            {"id": "fixed-server", "task": "fixed", "scenario": "Server", "service_us": s,
             "qps": sizes.fixed_server_qps, "duration_ms": sizes.fixed_server_duration_ms, "engines": THREE}]


def _startup_items(sizes: Sizes) -> list[dict[str, Any]]:
    return [{"id": "startup", "task": "startup", "small": sizes.startup_small, "large": sizes.startup_large,
             "engines": BOTH}]


def _trace_items(sizes: Sizes) -> list[dict[str, Any]]:
    return [{"id": "trace-save", "task": "trace_save", "samples": sizes.trace_save_samples, "qps": sizes.trace_qps,
             "calibrate_ms": sizes.trace_save_calibrate_ms, "engines": [OURS]}]


def _import_items(sizes: Sizes) -> list[dict[str, Any]]:
    return [{"id": "imports", "task": "imports", "repeats": sizes.import_repeats,
             "modules": {OURS_MLPERF: ["loadgen.mlperf", "loadgen", "numpy"], LOADGEN: ["mlperf_loadgen", "numpy"]},
             "profile_modules": {OURS_MLPERF: "loadgen.mlperf"}, "engines": [OURS_MLPERF, LOADGEN]}]


def _scaling_items(sizes: Sizes) -> list[dict[str, Any]]:
    return [{"id": f"scaling-{n}", "task": "scaling", "samples": n, "engines": [OURS]} for n in sizes.scaling_samples]


def plan(sizes: Sizes, groups: Sequence[str]) -> list[dict[str, Any]]:
    """The measurements to run: id, task, parameters, engines in the order they run (the Server
    runs first, as the trace group reuses the one at trace_qps)."""
    makers = {"offline": _offline_items, "stream": _stream_items, "peak": _peak_items, "fixed": _fixed_items,
              "startup": _startup_items, "trace": _trace_items, "import": _import_items, "scaling": _scaling_items}
    items: list[dict[str, Any]] = []
    for group in ("offline", "stream"):
        if group in groups:
            items += makers[group](sizes)
    items += _server_items(sizes, groups)
    for group in ("peak", "fixed", "startup", "trace", "import", "scaling"):
        if group in groups:
            items += makers[group](sizes)
    return items


def run_child(item: dict[str, Any], engine: str, workdir: Path, timeout_s: float) -> dict[str, Any]:
    """One child process; returns its figures or the error it ended with."""
    workdir.mkdir(parents=True, exist_ok=True)
    spec = {k: v for k, v in item.items() if k not in ("id", "engines")}
    spec.update(engine=engine, outdir=str(workdir / "out"))
    spec_path, result_path = workdir / "spec.json", workdir / "result.json"
    spec_path.write_text(json.dumps(spec), encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    started = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "bench.child", str(spec_path), str(result_path)],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout_s,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout_s:.0f} s", "child_wall_s": time.perf_counter() - started}
    elapsed = time.perf_counter() - started
    if done.returncode != 0 or not result_path.exists():
        tail = (done.stderr or done.stdout or "")[-1500:]
        return {"error": f"exit code {done.returncode}: {tail}", "child_wall_s": elapsed}
    return {"result": json.loads(result_path.read_text(encoding="utf-8")), "child_wall_s": elapsed}


def machine() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        memory_gib = None
    return {
        "cpu": cpu,
        "transparent_hugepage": transparent_hugepage(),
        "logical_cpus": os.cpu_count(),
        "memory_gib": round(memory_gib, 1) if memory_gib else None,
        "os": platform.platform(),
        "python": platform.python_version(),
    }


def transparent_hugepage() -> str | None:
    """The kernel's transparent-huge-page mode (the bracketed word), which large allocations' speed depends on."""
    try:
        text = Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text(encoding="utf-8")
    except OSError:
        return None
    chosen = [word.strip("[]") for word in text.split() if word.startswith("[")]
    return chosen[0] if chosen else text.strip() or None


def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name in ("mlcommons-loadgen", "numpy", "scipy", "pydantic"):
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                                text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True,
                               timeout=10).stdout.strip()
        found["ours (git)"] = (commit + ("+dirty" if dirty else "")) or None
    except (OSError, subprocess.SubprocessError):
        found["ours (git)"] = None
    return found


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def header(meta: dict[str, Any]) -> str:
    m, v = meta["machine"], meta["versions"]
    return "\n".join([
        f"Date: {meta['date']}; command: `{meta['command']}`; {meta['reps']} repetition(s), engines alternating",
        f"Machine: {m['cpu']}, {m['logical_cpus']} logical CPUs, {m['memory_gib']} GiB; {m['os']}; "
        f"Python {m['python']}; transparent huge pages: {m.get('transparent_hugepage') or 'unknown'}",
        f"Versions: ours {v.get('ours (git)')}, mlcommons-loadgen {v.get('mlcommons-loadgen')}, "
        f"numpy {v.get('numpy')}; load average before {meta['load_before']}, after {meta['load_after']}; "
        f"bench took {meta['elapsed_s']:.0f} s",
    ])


def missed_notes(results: Sequence[FigureResult]) -> list[str]:
    lines = []
    for out in results:
        if out.status.startswith("MISSED"):
            target = out.figure.target.describe() if out.figure.target else ""
            ratio = "" if out.ratio is None else f"; ratio {out.ratio:.3g}"
            lines.append(f"- MISSED: {out.figure.label} ({target}{ratio}). {out.limit}".rstrip())
    return lines


def run_probes(jobs: Sequence[ProbeKey], items: Sequence[dict[str, Any]], scratch: Path,
               timeout_s: float) -> dict[ProbeKey, dict[str, Any]]:
    """One rerun per missed measurement under a bench.child Probe, for what limits it."""
    by_id = {item["id"]: item for item in items}
    found: dict[ProbeKey, dict[str, Any]] = {}
    for measurement, engine, mode in jobs:
        workdir = scratch / f"probe-{measurement}-{engine}-{mode}"
        outcome = run_child({**by_id[measurement], "probe": mode}, engine, workdir, timeout_s)
        shutil.rmtree(workdir, ignore_errors=True)
        status = "ok" if "result" in outcome else "FAILED: " + outcome["error"].splitlines()[0][:100]
        print(f"[probe {mode}] {measurement:<14} {engine:<12} {outcome['child_wall_s']:6.1f} s  {status}",
              file=sys.stderr, flush=True)
        if "result" in outcome:
            found[(measurement, engine, mode)] = outcome["result"]
    return found


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes and 1 repetition (a smoke run)")
    parser.add_argument("--reps", type=int, help="repetitions of every measurement (default 3; 1 with --quick)")
    parser.add_argument("--only", help=f"comma-separated groups: {','.join(GROUPS)} (default: all)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results", help="folder for the .md and .json")
    parser.add_argument("--keep", action="store_true", help="keep every child's logs under <out>/runs-<date>/")
    parser.add_argument("--timeout", type=float, default=CHILD_TIMEOUT_S, help="seconds allowed per child run")
    parser.add_argument("--no-probe", action="store_true",
                        help="do not rerun missed measurements under a profiler to say what limits them")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    groups = tuple(g.strip() for g in args.only.split(",")) if args.only else GROUPS
    unknown = [g for g in groups if g not in GROUPS]
    if unknown:
        print(f"error: unknown group(s) {', '.join(unknown)}; allowed: {', '.join(GROUPS)}", file=sys.stderr)
        return 2
    if importlib.util.find_spec("mlperf_loadgen") is None:
        print("error: mlperf_loadgen is not installed: pip install '.[mlperf]' (mlcommons-loadgen)", file=sys.stderr)
        return 2
    reps = args.reps or (1 if args.quick else 3)
    if reps < 1:
        print("error: --reps must be >= 1", file=sys.stderr)
        return 2
    sizes = sizes_for(args.quick)
    items = plan(sizes, groups)
    stamp = dt.datetime.now().strftime("%Y-%m-%dT%H%M%S")
    command = " ".join(["python -m bench.run", *(sys.argv[1:] if argv is None else argv)])
    meta: dict[str, Any] = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": command.strip(),
        "reps": reps,
        "groups": list(groups),
        "sizes": asdict(sizes),
        "machine": machine(),
        "versions": versions(),
        "load_before": load_average(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="bench-"))
    runs: list[dict[str, Any]] = []
    started = time.perf_counter()
    probes: dict[ProbeKey, dict[str, Any]] = {}
    selected = {item["id"] for item in items}
    figures = [f for f in build_figures(sizes) if f.measurement in selected and _figure_selected(f.group, groups)]
    try:
        for rep in range(reps):
            for item in items:
                for engine in item["engines"]:
                    workdir = scratch / f"rep{rep}-{item['id']}-{engine}"
                    outcome = run_child(item, engine, workdir, args.timeout)
                    runs.append({"measurement": item["id"], "engine": engine, "rep": rep, **outcome})
                    status = "ok" if "result" in outcome else "FAILED: " + outcome["error"].splitlines()[0][:100]
                    print(f"[rep {rep + 1}/{reps}] {item['id']:<14} {engine:<12} {outcome['child_wall_s']:6.1f} s  "
                          f"{status}", file=sys.stderr, flush=True)
                    if args.keep:
                        shutil.copytree(workdir, args.out / f"runs-{stamp}" / workdir.name, dirs_exist_ok=True)
                    shutil.rmtree(workdir, ignore_errors=True)
        results = aggregate(figures, runs)
        meta["load_after"] = load_average()
        if not args.no_probe:
            probes = run_probes(probe_jobs(results), items, scratch, args.timeout)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    meta["elapsed_s"] = time.perf_counter() - started
    for out in results:
        if out.status.startswith("MISSED"):
            out.limit = explain(out, runs, probes, meta["machine"])
    table = markdown_table(results)
    notes = missed_notes(results)
    failures = [r for r in runs if "error" in r]
    text = "\n".join([
        f"# Benchmark: ours vs MLPerf LoadGen ({meta['date'][:10]})", "",
        header(meta), "", table, "",
        *(["Missed targets (what limits them):", *notes, ""] if notes else []),
        *([f"{len(failures)} child run(s) FAILED; see the JSON."] if failures else []),
    ])
    md_path, json_path = args.out / f"bench-{stamp}.md", args.out / f"bench-{stamp}.json"
    md_path.write_text(text + "\n", encoding="utf-8")
    probe_runs = [{"measurement": m, "engine": e, "probe": p, "result": r} for (m, e, p), r in probes.items()]
    json_path.write_text(json.dumps({"meta": meta, "plan": items, "runs": runs, "probes": probe_runs,
                                     "figures": [r.as_json() for r in results]}, indent=1, default=str) + "\n",
                         encoding="utf-8")
    print(text)
    print(f"\nwritten: {md_path} and {json_path}")
    return 1 if failures else 0


def _figure_selected(group: str, groups: Sequence[str]) -> bool:
    return group in groups


if __name__ == "__main__":
    sys.exit(main())
