"""`python -m bench.network`: this harness's network SUT and locust side by side, on loopback.

    python -m bench.network                  # about 2 minutes
    python -m bench.network --quick          # a smoke run (about 20 s)
    python -m bench.network --seconds 5 --out bench/results

Both clients POST the same small JSON body to the same null server (`bench.null_server`,
one aiohttp process answering `{}` at once), on the same machine, in one run; each
measurement is a fresh child process. Figures:

- highest sustained rate: ours, the highest Poisson rate (Server scenario, open loop, a
  ladder doubling from --start-qps, or halving down to 25/s while it is not sustained,
  then bisected) at which one harness process keeps the p99 issue delay under 1 ms with
  every request answered; each step is followed by the same run with the in-process null
  SUT (no network), printed beside it: the machine's own floor for that figure; locust,
  the requests/s of one process of FastHttpUser users sending back to back (its highest
  rate, closed loop);
- back to back: both clients with 64 requests in flight as fast as the server answers
  (ours: one Offline query; locust: 64 users without waits), and the requests answered per
  second of CPU the client process used;
- added latency per request: the mean latency at a light, paced load (--light-qps), ours
  from the scheduled time, locust's mean response time. Against a null server this is
  the client's own cost plus loopback; lower is better.

The table is printed (ratio = ours / locust) and written with every step's raw figures
to `<out>/network-<date>.md` and `.json`. Needs the bench extra (aiohttp, locust).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
ISSUE_DELAY_LIMIT_NS = 1_000_000
LOCUST_USERS = 64
MIN_QPS = 25.0
"""The ladder goes no lower than this when its start is not sustained."""
CHILD_TIMEOUT_S = 300


def ours_child(url: str, rate: float, seconds: float) -> dict[str, Any]:
    """One Server run of the network SUT at `rate` (url "null": the in-process null SUT, the
    harness's own floor on this machine); the figures the table needs, as JSON."""
    from loadgen.benchmark.runner import run_benchmark
    from loadgen.engine.query import IndexQSL
    from loadgen.settings.model import TestSettings
    from sut.network import make_sut
    from sut.null import NullSUT

    sut: Any = NullSUT() if url == "null" else make_sut(url=url, samples=1024, max_in_flight=256, timeout_s=30.0)
    qsl = IndexQSL(1024) if url == "null" else sut.qsl
    settings = TestSettings.model_validate(
        {
            "scenario": "Server", "server_target_qps": rate, "min_duration_ms": int(seconds * 1000),
            "min_query_count": 1, "warmup_ms": 200, "server_target_latency_ns": 10**10, "sample_timeout_ms": 60_000,
        }
    )
    cpu0 = os.times()
    result = run_benchmark(sut, qsl, settings, fingerprint={}).result
    cpu1 = os.times()
    if url != "null":
        sut.close()
    metrics = result.metrics
    assert metrics is not None and metrics.latency is not None and metrics.issue_delay is not None
    return {
        "rate": rate,
        "requests": metrics.samples_completed,
        "issued": metrics.samples_issued,
        "failed": sum(result.failed_samples.values()),
        "seconds": metrics.duration_ns / 1e9,
        "requests_per_second": metrics.completed_samples_per_second,
        "cpu_seconds": (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system),
        "issue_delay_p99_ns": metrics.issue_delay.percentiles_ns["99.0"],
        "mean_latency_ns": metrics.latency.mean_ns,
        "p50_latency_ns": metrics.latency.percentiles_ns["50.0"],
    }


def ours_offline_child(url: str, samples: int) -> dict[str, Any]:
    """Back to back: one Offline query of `samples` requests, LOCUST_USERS in flight. No
    warm-up, so the CPU counted is the timed requests' (plus opening the connections), as
    locust's is counted over its timed window only."""
    from loadgen.benchmark.runner import run_benchmark
    from loadgen.settings.model import TestSettings
    from sut.network import make_sut

    sut = make_sut(url=url, samples=1024, max_in_flight=LOCUST_USERS, timeout_s=30.0)
    settings = TestSettings.model_validate(
        {"scenario": "Offline", "offline_expected_qps": 1.0, "min_duration_ms": 1, "min_query_count": samples,
         "warmup_ms": 0, "sample_timeout_ms": 60_000}
    )
    cpu0 = os.times()
    result = run_benchmark(sut, sut.qsl, settings, fingerprint={}).result
    cpu1 = os.times()
    sut.close()
    metrics = result.metrics
    assert metrics is not None
    return {
        "requests": metrics.samples_completed,
        "failed": sum(result.failed_samples.values()),
        "requests_per_second": metrics.samples_per_second,
        "cpu_seconds": (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system),
    }


def sustained(step: dict[str, Any]) -> bool:
    """Open loop kept: p99 issue delay under 1 ms, every request answered."""
    return bool(
        step["failed"] == 0 and step["requests"] == step["issued"] and step["issue_delay_p99_ns"] < ISSUE_DELAY_LIMIT_NS
    )


def _child(args: list[str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def run_ours(url: str, rate: float, seconds: float) -> dict[str, Any]:
    return _child(["-m", "bench.network", "--ours-child", url, str(rate), str(seconds)])


def run_ours_offline(url: str, samples: int) -> dict[str, Any]:
    return _child(["-m", "bench.network", "--ours-offline-child", url, str(samples)])


def run_locust(url: str, users: int, seconds: float, rate_per_user: float | None = None) -> dict[str, Any]:
    extra = [str(rate_per_user)] if rate_per_user else []
    return _child(["-m", "bench.locust_child", url, str(users), str(seconds), *extra])


def _step(url: str, rate: float, seconds: float) -> dict[str, Any]:
    step = run_ours(url, rate, seconds)
    floor = run_ours("null", rate, seconds)  # the same run with the in-process null SUT, just after
    step["null_sut_issue_delay_p99_ns"] = floor["issue_delay_p99_ns"]
    print(f"  ours at {rate:8.0f}/s: p99 issue delay {step['issue_delay_p99_ns'] / 1e3:8.0f} us "
          f"(in-process null SUT {floor['issue_delay_p99_ns'] / 1e3:.0f} us), "
          f"{step['requests']}/{step['issued']} answered -> {'ok' if sustained(step) else 'not sustained'}",
          flush=True)
    return step


def peak_search(url: str, start_qps: float, seconds: float, bisect_steps: int) -> list[dict[str, Any]]:
    """Double the rate until a step is not sustained (halve it down to MIN_QPS first while the
    start is not), then bisect between the last two. Each step is followed by the same run
    with the in-process null SUT, so the table can tell the client's cost from the machine's."""
    steps = []
    rate, good, bad = start_qps, None, None
    while bad is None:
        step = _step(url, rate, seconds)
        steps.append(step)
        if sustained(step):
            good, rate = rate, rate * 2
        else:
            bad = rate
    while good is None and rate / 2 >= MIN_QPS:
        rate /= 2
        step = _step(url, rate, seconds)
        steps.append(step)
        good, bad = (rate, bad) if sustained(step) else (None, rate)
    for _ in range(bisect_steps if good is not None else 0):
        assert good is not None
        rate = (good + bad) / 2
        step = _step(url, rate, seconds)
        steps.append(step)
        good, bad = (rate, bad) if sustained(step) else (good, rate)
    return steps


def _ratio(ours: float | None, theirs: float | None) -> str:
    return f"{ours / theirs:.2f}x" if ours and theirs else "n/a"


def table(figures: dict[str, Any]) -> str:
    """The markdown table: ours, locust, ratio."""
    best = figures["ours_best"]
    peak = figures["locust_peak"]
    burst = figures["ours_back_to_back"]
    ours_rate = best["rate"] if best else None
    ours_per_cpu = burst["requests"] / burst["cpu_seconds"] if burst["cpu_seconds"] else None
    locust_per_cpu = peak["requests"] / peak["cpu_seconds"] if peak["cpu_seconds"] else None
    ours_latency_us = figures["ours_light"]["mean_latency_ns"] / 1e3
    locust_latency_us = figures["locust_light"]["mean_ms"] * 1e3
    steps = figures["ours_steps"]
    floor = [step["rate"] for step in steps if step.get("null_sut_issue_delay_p99_ns", 0) < ISSUE_DELAY_LIMIT_NS]
    ours_cell = f"{ours_rate:,.0f} Poisson" if ours_rate else f"< {min(step['rate'] for step in steps):,.0f}"
    ours_cell += f" (null SUT in process: {f'{max(floor):,.0f}' if floor else 'none'} of the same rates)"
    rows = [
        (f"back to back, {LOCUST_USERS} in flight (requests/s)", f"{burst['requests_per_second']:,.0f}",
         f"{peak['requests_per_second']:,.0f}", _ratio(burst["requests_per_second"], peak["requests_per_second"])),
        ("highest sustained rate (requests/s)", ours_cell,
         f"{peak['requests_per_second']:,.0f} back to back", _ratio(ours_rate, peak["requests_per_second"])),
        ("requests per CPU-second, back to back", f"{ours_per_cpu:,.0f}" if ours_per_cpu else "n/a",
         f"{locust_per_cpu:,.0f}" if locust_per_cpu else "n/a", _ratio(ours_per_cpu, locust_per_cpu)),
        (f"mean latency at {figures['light_qps']:g} requests/s (us)", f"{ours_latency_us:,.0f}",
         f"{locust_latency_us:,.0f}", _ratio(ours_latency_us, locust_latency_us)),
    ]
    lines = ["| figure | ours (sut.network) | locust (FastHttpUser) | ours / locust |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return "\n".join(lines)


def start_null_server() -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.null_server", "--port", "0"], cwd=REPO, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert process.stdout is not None
    found = re.search(r"http://[\w.]+:\d+", process.stdout.readline())
    if not found:
        process.kill()
        raise RuntimeError("the null server did not start")
    return process, found.group(0)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    server, base = start_null_server()
    url = f"{base}/infer"
    try:
        print(f"null server at {base}; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs", flush=True)
        steps = peak_search(url, args.start_qps, args.seconds, args.bisect)
        print("  back to back, both ...", flush=True)
        locust_peak = run_locust(url, LOCUST_USERS, args.seconds)
        ours_back_to_back = run_ours_offline(url, max(3000, int(locust_peak["requests_per_second"] * args.seconds)))
        print("  light load, both ...", flush=True)
        ours_light = run_ours(url, args.light_qps, args.seconds)
        users = 10
        locust_light = run_locust(url, users, args.seconds, args.light_qps / users)
    finally:
        server.terminate()
        server.wait(timeout=10)
    good = [step for step in steps if sustained(step)]
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python -m bench.network", *sys.argv[1:]]),
        "cpus": os.cpu_count(),
        "load_average_end": os.getloadavg(),
        "start_qps": args.start_qps,
        "light_qps": args.light_qps,
        "seconds": args.seconds,
        "ours_steps": steps,
        "ours_best": max(good, key=lambda step: step["rate"]) if good else None,
        "locust_peak": locust_peak,
        "ours_back_to_back": ours_back_to_back,
        "ours_light": ours_light,
        "locust_light": locust_light,
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.network", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each measurement (default 4)")
    parser.add_argument("--start-qps", type=float, default=250.0, help="first rate of ours' ladder (default 250)")
    parser.add_argument("--bisect", type=int, default=3, help="bisection steps after the ladder (default 3)")
    parser.add_argument("--light-qps", type=float, default=100.0, help="the light load of the latency row")
    parser.add_argument("--quick", action="store_true", help="1 s steps, no bisection: a smoke run")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--ours-child", nargs=3, metavar=("URL", "RATE", "SECONDS"), help=argparse.SUPPRESS)
    parser.add_argument("--ours-offline-child", nargs=2, metavar=("URL", "SAMPLES"), help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.ours_child:
        url, rate, seconds = args.ours_child
        print(json.dumps(ours_child(url, float(rate), float(seconds))))
        return 0
    if args.ours_offline_child:
        url, samples = args.ours_offline_child
        print(json.dumps(ours_offline_child(url, int(samples))))
        return 0
    if args.quick:
        args.seconds, args.bisect = 1.0, 0
    started = time.monotonic()
    figures = measure(args)
    text = table(figures)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    (args.out / f"network-{stamp}.json").write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    (args.out / f"network-{stamp}.md").write_text(
        f"`{figures['command']}` on {figures['cpus']} CPUs, load average at the end "
        f"{figures['load_average_end'][0]:.2f}\n\n{text}\n", encoding="utf-8"
    )
    print(f"written: {args.out}/network-{stamp}.md and .json ({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
