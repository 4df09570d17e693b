"""bench/network.py's verdict and table on made-up figures (a real run takes about a minute of
child processes, too long for the suite: `python -m bench.network --quick`)."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # bench/ is run from a checkout, not installed
    sys.path.insert(0, str(REPO))

import pytest  # noqa: E402

import bench.network  # noqa: E402
from bench.network import peak_search, sustained, table  # noqa: E402

STEP = {"rate": 500.0, "requests": 100, "issued": 100, "failed": 0, "issue_delay_p99_ns": 400_000}


def test_a_step_is_sustained_only_with_every_request_answered_and_a_small_issue_delay() -> None:
    assert sustained(STEP)
    assert not sustained({**STEP, "failed": 1})
    assert not sustained({**STEP, "requests": 99})
    assert not sustained({**STEP, "issue_delay_p99_ns": 1_000_000})


def test_the_table_gives_ours_locust_and_the_ratio() -> None:
    figures = {
        "ours_best": STEP,
        "locust_peak": {"requests": 2000, "cpu_seconds": 1.0, "requests_per_second": 1000.0},
        "ours_back_to_back": {"requests": 3000, "cpu_seconds": 1.0, "requests_per_second": 1500.0},
        "ours_light": {"mean_latency_ns": 500_000.0},
        "locust_light": {"mean_ms": 1.0},
        "start_qps": 250.0,
        "light_qps": 100.0,
        "ours_steps": [{**STEP, "rate": 250.0, "null_sut_issue_delay_p99_ns": 2_000_000},
                       {**STEP, "rate": 125.0, "null_sut_issue_delay_p99_ns": 500_000}],
    }
    text = table(figures)
    assert "| back to back, 64 in flight (requests/s) | 1,500 | 1,000 | 1.50x |" in text
    assert ("| highest sustained rate (requests/s) | 500 Poisson (null SUT in process: 125 of the same rates) "
            "| 1,000 back to back | 0.50x |") in text
    assert "| requests per CPU-second, back to back | 3,000 | 2,000 | 1.50x |" in text
    assert "| mean latency at 100 requests/s (us) | 500 | 1,000 | 0.50x |" in text
    assert "< 125" in table({**figures, "ours_best": None})  # the lowest rate tried


def test_the_ladder_halves_while_its_start_is_not_sustained_then_bisects(monkeypatch: pytest.MonkeyPatch) -> None:
    """A made-up client that keeps the open loop up to 80/s; the in-process null SUT always does."""
    tried = []

    def fake_run(url: str, rate: float, seconds: float) -> dict[str, object]:
        if url != "null":
            tried.append(rate)
        return {**STEP, "rate": rate, "issue_delay_p99_ns": 100_000 if url == "null" or rate <= 80 else 2_000_000}

    monkeypatch.setattr(bench.network, "run_ours", fake_run)
    steps = peak_search("http://127.0.0.1:1/", 250.0, 1.0, bisect_steps=1)
    assert tried == [250.0, 125.0, 62.5, 93.75]
    assert [step["null_sut_issue_delay_p99_ns"] for step in steps] == [100_000] * 4
    assert max(step["rate"] for step in steps if sustained(step)) == 62.5
