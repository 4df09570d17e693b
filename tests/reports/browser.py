"""A real headless Chromium, driven over the DevTools protocol on a pipe (no websocket, no download).

`open_page(path)` loads a local HTML file in a fresh profile with networking features off,
records every request the page makes, every console message and exception, checks that
each figure rendered (an <img> decoded with a size, or an <svg> with a box), and takes a
full-page screenshot. Chromium is Debian's `chromium` package (`.ci/run` installs it).

Run as a script to save a screenshot: `python tests/reports/browser.py PAGE.html OUT.png [WIDTH [HEIGHT]]`.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
    "--remote-debugging-pipe",
)
CANDIDATES = ("/usr/lib/chromium/chromium", "chromium", "chromium-browser")
FIGURES_JS = """(() => {
  const figures = [...document.querySelectorAll('figure.plot')];
  const ok = figures.filter(f => {
    const img = f.querySelector('img');
    if (img) return img.complete && img.naturalWidth > 0 && img.getBoundingClientRect().width > 0;
    const svg = f.querySelector('svg');
    return !!svg && svg.getBoundingClientRect().width > 0;
  });
  return JSON.stringify({total: figures.length, rendered: ok.length,
                         height: document.documentElement.scrollHeight, title: document.title});
})()"""


def find_chromium() -> str | None:
    """The Chromium binary itself (Debian's wrapper script closes the pipe's descriptors), or None."""
    for name in CANDIDATES:
        found = shutil.which(name) if not name.startswith("/") else (name if os.access(name, os.X_OK) else None)
        if found:
            return found
    return None


@dataclass
class PageCheck:
    """What the browser saw."""

    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    figures_total: int = 0
    figures_rendered: int = 0
    title: str = ""
    screenshot: bytes = b""

    @property
    def network_requests(self) -> list[str]:
        """Requests that would leave the machine: anything but the page's own file and its data: images."""
        return [url for url in self.requests if not url.startswith(("file:", "data:", "about:"))]


class _Pipe:
    """NUL-separated JSON messages over fds 3 (to the browser) and 4 (from it)."""

    def __init__(self, binary: str, profile: str) -> None:
        to_child, self._write_fd = os.pipe()
        self._read_fd, from_child = os.pipe()

        def plumb() -> None:  # dup first: a dup2 onto the same number would keep close-on-exec set
            reading, writing = os.dup(to_child), os.dup(from_child)
            os.dup2(reading, 3)
            os.dup2(writing, 4)

        self.process = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            preexec_fn=plumb, close_fds=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        os.close(to_child)
        os.close(from_child)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def _receive(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self._read_fd, 1 << 16)
            if not chunk:
                raise EOFError("Chromium closed the DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return dict(json.loads(message))

    def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None,
             timeout_s: float = 30.0) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._write_fd, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout_s
        while True:
            reply = self._receive(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return dict(reply.get("result", {}))
            self.events.append(reply)

    def wait_for(self, method: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not any(event.get("method") == method for event in self.events):
            self.events.append(self._receive(deadline))

    def close(self) -> None:
        with contextlib.suppress(OSError, EOFError, TimeoutError, RuntimeError):
            self.call("Browser.close", timeout_s=5)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._write_fd)
        os.close(self._read_fd)


def _errors(events: list[dict[str, Any]]) -> list[str]:
    found = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            found.append(" ".join(str(arg.get("value", arg.get("description", ""))) for arg in params.get("args", [])))
        elif method == "Runtime.exceptionThrown":
            found.append(str(params.get("exceptionDetails", {}).get("text")))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            found.append(str(params["entry"].get("text")))
    return found


def open_page(path: Path, width: int = 1100, binary: str | None = None, max_height: int = 16000) -> PageCheck:
    """Load the page, let it settle, and report what it fetched, logged and rendered, with a screenshot."""
    binary = binary or find_chromium()
    if binary is None:
        raise FileNotFoundError("no chromium binary (apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        pipe = _Pipe(binary, profile)
        try:
            target = pipe.call("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = pipe.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Page", "Runtime", "Network", "Log"):
                pipe.call(f"{domain}.enable", session=session)
            pipe.call("Emulation.setDeviceMetricsOverride",
                      {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False}, session)
            pipe.events.clear()
            pipe.call("Page.navigate", {"url": path.resolve().as_uri()}, session)
            pipe.wait_for("Page.loadEventFired", 30)
            seen = json.loads(pipe.call("Runtime.evaluate", {"expression": FIGURES_JS, "returnByValue": True},
                                        session)["result"]["value"])
            shot = pipe.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": {
                "x": 0, "y": 0, "width": width, "height": min(int(seen["height"]), max_height), "scale": 1}}, session)
            requests = [str(e["params"]["request"]["url"]) for e in pipe.events
                        if e.get("method") == "Network.requestWillBeSent"]
            return PageCheck(requests, _errors(pipe.events), int(seen["total"]), int(seen["rendered"]),
                             str(seen["title"]), base64.b64decode(shot["data"]))
        finally:
            pipe.close()


if __name__ == "__main__":
    checked = open_page(Path(sys.argv[1]), width=int(sys.argv[3]) if len(sys.argv) > 3 else 1100,
                        max_height=int(sys.argv[4]) if len(sys.argv) > 4 else 16000)
    Path(sys.argv[2]).write_bytes(checked.screenshot)
    print(f"{checked.figures_rendered}/{checked.figures_total} figures, network requests {checked.network_requests}, "
          f"errors {checked.console_errors}")
