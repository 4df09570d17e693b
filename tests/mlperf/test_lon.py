"""LoadGen over the network: a harness in the shape of LoadGen's LON demo (a Flask SUT server
and a QDL client, tests/mlperf/lon_server.py and lon_client.py) runs VALID on loadgen.mlperf
with only the import changed, against a real server on 127.0.0.1."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

for module in ("flask", "requests"):
    if importlib.util.find_spec(module) is None:
        if os.environ.get("CI") == "true":
            raise RuntimeError(f"CI must install the test extra ({module}) for the LoadGen-over-the-network test")
        pytest.skip(f"{module} is not installed: pip install '.[test]'", allow_module_level=True)


@pytest.fixture
def sut_server() -> Iterator[str]:
    """The Flask SUT server in its own process on a free loopback port; stopped by the test."""
    server = subprocess.Popen([sys.executable, str(HERE / "lon_server.py"), "--node", "N1"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert server.stdout is not None and server.stderr is not None
    try:
        line = server.stdout.readline()
        assert line.startswith("PORT "), server.stderr.read()
        yield f"http://127.0.0.1:{int(line.split()[1])}"
    finally:
        server.terminate()
        server.wait(timeout=10)


def run_client(engine: str, url: str, out: Path) -> subprocess.CompletedProcess[str]:
    out.mkdir()
    return subprocess.run(
        [sys.executable, str(HERE / "lon_client.py"), engine, str(out), url, "3000", "180", "500"],
        cwd=out, env=dict(os.environ, PYTHONPATH=str(REPO)), capture_output=True, text=True, timeout=120,
    )


def test_the_lon_demo_harness_runs_valid_on_the_drop_in_api_over_http(sut_server: str, tmp_path: Path) -> None:
    out = tmp_path / "loadgen.mlperf"
    done = run_client("loadgen.mlperf", sut_server, out)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = (out / "mlperf_log_summary.txt").read_text()
    assert "SUT name : Demo SUT (Network SUT) node N1" in summary  # the name came from /getname/
    assert "Scenario : Server" in summary
    assert "Result is : VALID" in summary, summary
    detail = (out / "mlperf_log_detail.txt").read_text()
    assert '"key": "get_sut_name_duration_ns"' in detail  # the name callback was asked, and timed


def test_a_qdl_name_comes_from_its_callback_asked_when_the_test_starts() -> None:
    import loadgen.mlperf as lg

    asked: list[str] = []

    def name() -> str:
        asked.append("asked")
        return "remote node"

    qdl = lg.ConstructQDL(lambda samples: None, lambda: None, name)
    assert asked == []  # not at construction
    lg.DestroyQDL(qdl)
    lg.DestroyQDL(qdl)  # twice is harmless, as the demo's __del__ may call it late
