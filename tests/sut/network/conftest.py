"""Real servers on loopback for the network SUT's tests: started as child processes on free
ports (the server picks one and prints its address), awaited until they answer /health, and
stopped at the end. Tests need aiohttp (the `http` extra): without it they skip, except in CI."""

from __future__ import annotations

import os
import re
import shutil
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).parent
REPO = HERE.parents[2]
START_TIMEOUT_S = 60.0


class RunningServer:
    """A server process and the base URL it printed."""

    def __init__(self, command: list[str], env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        assert self.process.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        lines = []
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            lines.append(line)
            found = re.search(r"https?://[\w.]+:\d+", line)
            if found:
                self.url = found.group(0)
                break
        else:
            self.stop()
            raise AssertionError("the server printed no address in time")
        if not hasattr(self, "url"):
            self.stop()
            raise AssertionError(f"the server did not start: {''.join(lines)}")
        self._await_health(deadline)

    def _await_health(self, deadline: float) -> None:
        unverified = ssl.create_default_context()  # readiness only: a test server's own certificate is fine
        unverified.check_hostname, unverified.verify_mode = False, ssl.CERT_NONE
        context = unverified if self.url.startswith("https:") else None
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=5, context=context) as response:
                    if response.status == 200:
                        return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


def start_serve(*args: str) -> RunningServer:
    """`python -m sut.serve --port 0 ARGS...`."""
    return RunningServer([sys.executable, "-m", "sut.serve", "--port", "0", *args])


@pytest.fixture(scope="module")
def digit_server() -> Iterator[RunningServer]:
    """sut.serve with its default SUT (DigitMLP on TinyDigits)."""
    server = start_serve()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def token_server() -> Iterator[RunningServer]:
    """sut.serve with a token SUT: first token after 30 ms, then one every 8 ms, 11 in all."""
    server = start_serve("--sut", "sut.tokens", "--sut-arg", "ttft_ms=30", "--sut-arg", "tpot_ms=8",
                         "--sut-arg", "output_tokens=11")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def faulty_server() -> Iterator[RunningServer]:
    env = {**os.environ, "FAULTY_SERVER_KEY": "sk-test-0123456789abcdef"}
    server = RunningServer([sys.executable, str(HERE / "faulty_server.py")], env=env)
    yield server
    server.stop()


@pytest.fixture
def fresh_faulty_server() -> Iterator[RunningServer]:
    """A faulty server of the test's own, which the test may stop (kill) itself."""
    server = RunningServer([sys.executable, str(HERE / "faulty_server.py")])
    yield server
    server.stop()


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, Path]]:
    """The faulty server over https, with a self-signed certificate for 127.0.0.1 (made by openssl)."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )
    env = {**os.environ, "FAULTY_SERVER_TLS": f"{cert}:{key}"}
    server = RunningServer([sys.executable, str(HERE / "faulty_server.py")], env=env)
    yield server, cert
    server.stop()
