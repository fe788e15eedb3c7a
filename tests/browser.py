"""Shared helpers for real-browser tests: find a Chromium, launch it headless, serve the app.

Debian's /usr/bin/chromium is preferred (the README's test command installs it where
apt-get works); otherwise Playwright's own downloaded Chromium is used.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def chromium_path() -> str | None:
    """Debian's Chromium if present, else None (Playwright then uses its own download)."""
    env = os.environ.get("DPO_SIM_CHROMIUM")
    if env:
        return env
    for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if os.path.exists(p):
            return p
    return shutil.which("chromium")


def launch(playwright, **kw):
    path = chromium_path()
    opts = dict(headless=True, args=CHROMIUM_ARGS)
    if path:
        opts["executable_path"] = path
    opts.update(kw)
    return playwright.chromium.launch(**opts)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except Exception as e:  # noqa: BLE001 - retry until the server is up
            last = e
        time.sleep(0.2)
    raise RuntimeError(f"server at {url} did not come up: {last}")


class Server:
    """``dpo-sim serve --no-browser`` on a free port, as a subprocess."""

    def __init__(self, *extra: str, port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        cmd = [sys.executable, "-m", "app.cli", "serve", "--no-browser", "--port",
               str(self.port), *extra]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        try:
            wait_http(self.url)
        except Exception:
            self.stop()
            raise

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        out = self.proc.stdout.read() if self.proc.stdout else ""
        return out
