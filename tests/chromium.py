"""Headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe: the
browser reads commands on fd 3 and writes replies and events on fd 4; no port is opened), for
tests that load an HTML report as a user's browser would.

`open_page(path)` loads a file and returns what a test asserts on: the load time, every console
error and uncaught exception, every network request beyond the document itself, values the page
computes (`evaluate`) and a PNG screenshot. `find_chromium()` is None where no browser is
installed; tests skip then, and CI installs one (.ci/run) so nothing skips there.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable",
         "headless_shell")
TIMEOUT_S = 30.0
QUIET_S = 0.3  # after the load event: no event for this long ends the wait


def find_chromium() -> str | None:
    """$MLXA_CHROMIUM, else the first browser on PATH."""
    explicit = os.environ.get("MLXA_CHROMIUM")
    if explicit:
        return shutil.which(explicit)
    return next((p for p in map(shutil.which, NAMES) if p), None)


@dataclass
class PageLoad:
    url: str
    load_s: float
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


class Browser:
    """One headless browser process and one page (a flat session on one target)."""

    def __init__(self, binary: str, profile: str, width: int = 1280, height: int = 900) -> None:
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def wire_fds() -> None:
            # In the child: the pipe ends on fds 3 and 4, inheritable. Moved above 10 first, so
            # neither dup2 overwrites the other end, and dup2 onto itself (a no-op that would
            # leave the fd closed at exec) never happens.
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_browser_r, from_browser_w)]
            os.dup2(high[0], 3)
            os.dup2(high[1], 4)

        args = [binary, "--headless", "--remote-debugging-pipe", "--no-sandbox",
                "--disable-gpu", "--no-first-run", "--no-default-browser-check",
                "--disable-extensions", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--mute-audio",
                f"--user-data-dir={profile}", f"--window-size={width},{height}", "about:blank"]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, preexec_fn=wire_fds,
                                     close_fds=False)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._next_id = 0
        self._replies: dict[int, queue.Queue[dict[str, Any]]] = {}
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self._lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.send("Target.attachToTarget",
                                 {"targetId": target, "flatten": True})["sessionId"]
        self.width, self.height = width, height

    def _read(self) -> None:
        buf = b""
        while True:
            try:
                chunk = os.read(self._from_browser, 1 << 16)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw)
                if "id" in msg:
                    with self._lock:
                        box = self._replies.get(msg["id"])
                    if box is not None:
                        box.put(msg)
                else:
                    self.events.put(msg)

    def send(self, method: str, params: dict[str, Any] | None = None,
             session: str | None = None, timeout: float = TIMEOUT_S) -> dict[str, Any]:
        with self._lock:
            self._next_id += 1
            msg_id = self._next_id
            box: queue.Queue[dict[str, Any]] = queue.Queue()
            self._replies[msg_id] = box
        msg: dict[str, Any] = {"id": msg_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_browser, json.dumps(msg).encode() + b"\0")
        reply = box.get(timeout=timeout)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def page(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.send(method, params, session=self.session)

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=5)
        except Exception:  # already gone: nothing to close
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._to_browser, self._from_browser):
            try:
                os.close(fd)
            except OSError:
                pass

    def load(self, path: Path) -> PageLoad:
        """Navigate to a file and wait for its load event; errors and requests seen meanwhile
        and until a moment after it (late script errors) are collected."""
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.page(f"{domain}.enable")
        self.page("Emulation.setDeviceMetricsOverride",
                  {"width": self.width, "height": self.height, "deviceScaleFactor": 1,
                   "mobile": False})
        url = path.resolve().as_uri()
        result = PageLoad(url, 0.0)
        t0 = time.perf_counter()
        self.page("Page.navigate", {"url": url})
        deadline = t0 + TIMEOUT_S
        loaded = None
        while time.perf_counter() < deadline:
            wait = QUIET_S if loaded else max(deadline - time.perf_counter(), 0.01)
            try:
                event = self.events.get(timeout=wait)
            except queue.Empty:
                if loaded is not None:
                    break
                continue
            if event.get("method") == "Page.loadEventFired" and loaded is None:
                loaded = time.perf_counter()
                result.load_s = loaded - t0
            self._note(event, result)
        if loaded is None:
            raise TimeoutError(f"{url} did not load within {TIMEOUT_S} s")
        return result

    @staticmethod
    def _note(event: dict[str, Any], result: PageLoad) -> None:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            result.errors.append("console: " + " ".join(
                str(a.get("value", a.get("description", ""))) for a in params.get("args", [])))
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            result.errors.append("exception: " + str(details.get("exception", {}).get(
                "description", details.get("text", ""))))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            result.errors.append("log: " + str(params["entry"].get("text", "")))
        elif method == "Network.requestWillBeSent":
            url = params.get("request", {}).get("url", "")
            if url != result.url:
                result.requests.append(url)

    def evaluate(self, expression: str) -> Any:
        reply = self.page("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in reply:
            raise RuntimeError(f"{expression}: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def screenshot(self, full_page: bool = False) -> bytes:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
            height = self.evaluate("document.documentElement.scrollHeight")
            params["clip"] = {"x": 0, "y": 0, "width": self.width, "height": height, "scale": 1}
        return base64.b64decode(self.page("Page.captureScreenshot", params)["data"])


@contextmanager
def browser(binary: str, width: int = 1280, height: int = 900) -> Iterator[Browser]:
    with tempfile.TemporaryDirectory(prefix="mlxa-chromium-") as profile:
        b = Browser(binary, profile, width, height)
        try:
            yield b
        finally:
            b.close()
