"""Runs locust's FastHttpUser against a URL in this process and prints its figures as JSON.

    python -m bench.locust_child URL USERS SECONDS [RATE_PER_USER]

A child of bench.network, so gevent's monkey-patching never touches the harness's process.
With RATE_PER_USER each user paces itself (constant_throughput); without it, users send
back to back, which is locust's highest rate.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import json  # noqa: E402  (after monkey-patching, as gevent requires)
import os  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import urllib.parse  # noqa: E402

import gevent  # noqa: E402
from locust import FastHttpUser, constant, constant_throughput, task  # noqa: E402
from locust.env import Environment  # noqa: E402

BODY = b'{"index":1}'


def run(url: str, users: int, seconds: float, rate_per_user: float | None) -> dict[str, float]:
    parts = urllib.parse.urlsplit(url)

    class Client(FastHttpUser):
        host = f"{parts.scheme}://{parts.netloc}"
        wait_time = constant_throughput(rate_per_user) if rate_per_user else constant(0)

        @task
        def post(self) -> None:
            self.client.post(parts.path or "/", data=BODY, headers={"Content-Type": "application/json"})

    env = Environment(user_classes=[Client])
    runner = env.create_local_runner()
    runner.start(users, spawn_rate=users * 100)
    gevent.sleep(0.5)  # all users spawned and connected
    env.stats.reset_all()
    cpu0, wall0 = os.times(), time.perf_counter()
    gevent.sleep(seconds)
    cpu1, wall1 = os.times(), time.perf_counter()
    total = env.stats.total
    figures = {
        "requests": float(total.num_requests),
        "failures": float(total.num_failures),
        "seconds": wall1 - wall0,
        "requests_per_second": total.num_requests / (wall1 - wall0),
        "cpu_seconds": (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system),
        "median_ms": float(total.median_response_time or 0),
        "mean_ms": float(total.avg_response_time),
        "p99_ms": float(total.get_response_time_percentile(0.99) or 0),
    }
    runner.quit()
    return figures


if __name__ == "__main__":
    rate = float(sys.argv[4]) if len(sys.argv) > 4 else None
    print(json.dumps(run(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), rate)))
