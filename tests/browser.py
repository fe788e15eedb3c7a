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
import threading
import time
import urllib.request
import warnings
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


def wait_http(url: str, timeout: float = 60.0, proc=None) -> None:
    """Until ``url`` answers 200; with ``proc``, fail at once if that process has ended (a
    server that crashed at start)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server for {url} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except Exception as e:  # noqa: BLE001 - retry until the server is up
            last = e
        time.sleep(0.2)
    raise RuntimeError(f"server at {url} did not come up: {last}")


class Server:
    """``dpo-sim serve --no-browser`` on a free port, as a subprocess; ``command`` replaces
    the start of that command line (e.g. ``panel serve app/main.py``), the port follows.
    ``ready``: the path (after ``path``) asked until it answers 200, the page by default; a
    GET of the page makes a Bokeh session, which a test counting sessions would wait out
    (the unused-session lifetime), so those probe ``dpo-sim-status``, which makes none."""

    def __init__(self, *extra: str, port: int | None = None, command: list[str] | None = None,
                 path: str = "", ready: str = ""):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/{path}"
        start = command or [sys.executable, "-m", "dpo_sim", "serve", "--no-browser"]
        cmd = [*start, "--port", str(self.port), *extra]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        # Drain the output in a thread: a full pipe (server logs) would block the server.
        self._out: list[str] = []
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()
        try:
            wait_http(self.url + ready, proc=self.proc)
        except Exception as e:
            out = self.stop()
            raise RuntimeError(f"{e}; its output:\n{out[-3000:]}") from None

    def _drain(self) -> None:
        for line in self.proc.stdout:
            self._out.append(line)

    def stop(self) -> str:
        if self.proc.poll() is None:
            stop_process(self.proc)
        self._reader.join(5)
        return "".join(self._out)


def stop_process(proc: subprocess.Popen, wait: float = 10) -> None:
    """Terminate a server we started; kill it if it has not gone after ``wait`` s."""
    proc.terminate()
    try:
        proc.wait(wait)
    except subprocess.TimeoutExpired:
        proc.kill()


# --- Page helpers for the dashboard's end-to-end tests and benchmarks/bench_page.py -------
# Panel renders into (open) shadow roots. Playwright's CSS locators pierce them, but code run
# with page.evaluate / wait_for_function does not, so every page gets a tiny deep-query
# helper (window.__e2e) injected before any page script runs.

DEEP_QUERY_JS = r"""
(() => {
  if (window.__e2e) return;
  function all(sel, root, out) {
    root = root || document; out = out || [];
    for (const el of root.querySelectorAll(sel)) out.push(el);
    for (const el of root.querySelectorAll('*')) if (el.shadowRoot) all(sel, el.shadowRoot, out);
    return out;
  }
  function q(sel) { const r = all(sel); return r.length ? r[0] : null; }
  function active() {
    let el = document.activeElement;
    while (el && el.shadowRoot && el.shadowRoot.activeElement) el = el.shadowRoot.activeElement;
    return el;
  }
  function values() {
    const out = {};
    for (const el of all('[data-testid]')) {
      const k = el.getAttribute('data-testid');
      if (k in out) continue;
      out[k] = {value: el.getAttribute('data-value'), text: (el.textContent || '').trim(),
                pressed: el.getAttribute('aria-pressed')};
    }
    return out;
  }
  let stepEl = null;
  function stepValue() {      // the step the page shows: its data-value, else its text
    if (!stepEl || !stepEl.isConnected) stepEl = q('[data-testid=step]');
    const el = stepEl;
    if (!el) return null;
    const v = el.getAttribute('data-value'), t = (el.textContent || '').trim();
    if (v !== null) return Number(v);
    return /^\d+$/.test(t) ? Number(t) : null;
  }
  window.__e2e = {all, q, active, values, stepValue};
})();
"""

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


def urlsplit_path(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).path


def is_local(url: str) -> bool:
    """True for the server's own host (and for data:/blob: URLs, which go nowhere)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True
    return parts.hostname in LOCAL_HOSTS


#: The page's two hosts: the served page (NumPy, `dpo-sim serve`) and the offline file (the
#: JavaScript twin; `dpo-sim export`, also served by the server at /offline).
HOSTS = ("served", "offline")
OFFLINE_PATH = "offline"


def host_url(server_url: str, host: str) -> str:
    """The page's address on the test server for one host."""
    assert host in HOSTS, host
    return server_url if host == "served" else server_url + OFFLINE_PATH


class DashboardPage:
    """One tab on the page (either host), in its own browser context, with everything it did
    recorded: console errors, page errors, every request URL (other hosts are also blocked).

    ``host`` is "served" or "offline" (read from the URL when not given); ``tol`` is how
    close its numbers must be to the CLI's: exactly on the served page (NumPy computes
    them), 1e-12 in the offline file (the JavaScript twin)."""

    def __init__(self, browser, url: str, *, context=None, viewport=(1280, 720),
                 block_external: bool = True, color_scheme: str | None = None,
                 mobile: bool = False, host: str | None = None):
        self.own_context = context is None
        if context is None:
            extra = dict(is_mobile=True, has_touch=True, device_scale_factor=2) if mobile else {}
            if color_scheme:
                extra["color_scheme"] = color_scheme
            context = browser.new_context(
                viewport={"width": viewport[0], "height": viewport[1]}, accept_downloads=True,
                **extra)
        self.context = context
        self.host = host or ("offline" if urlsplit_path(url).rstrip("/").endswith(
            "/" + OFFLINE_PATH) or url.startswith("file:") else "served")
        self.tol = 0.0 if self.host == "served" else 1e-12
        self.requests: list[str] = []
        self.blocked: list[str] = []
        self.websockets: list[str] = []
        self.errors: list[str] = []
        self.context.add_init_script(DEEP_QUERY_JS)
        if block_external:
            self.context.route(lambda u: not is_local(u), self._block)
        self.page = self.context.new_page()
        self.page.set_default_timeout(30_000)
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("websocket", lambda ws: self.websockets.append(ws.url))
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self.url = url

    def _block(self, route):
        self.blocked.append(route.request.url)
        route.abort()

    def _console(self, msg):
        if msg.type == "error":
            self.errors.append(f"console.error: {msg.text} @ {msg.location}")

    # -- loading --------------------------------------------------------------------------
    def open(self, query: str = "", at: int | None = 0) -> DashboardPage:
        """Load the page (the URL plus ``query``) and wait until it is ready (a link's run
        replayed) and shows step ``at`` (None: any) and a Play or Pause button."""
        self.page.goto(self.url + query)
        try:
            self.wait_ready()
        except AssertionError as e:
            # A served page once in a while never got ready (~1 in 40 when four opened at
            # once): Panel let a later message overtake an earlier one, and the page matched
            # replies first in, first out. Commands are numbered now (app/ui/channel.js);
            # should it happen again, say so loudly, with what the page had, and open it
            # once more: the test then checks the page as usual.
            had = self.page.evaluate(
                "() => ({dpoSim: typeof window.dpoSim, root: !!(window.__e2e && "
                "window.__e2e.q('[data-testid=play]')), step: window.dpoSim ? "
                "window.dpoSim.stats().step : null})")
            warnings.warn(f"the page was not ready after 30 s ({had}); opened again: {e}",
                          stacklevel=2)
            self.page.goto(self.url + query)
            self.wait_ready()
        if at is not None:
            self.wait_step(at)
        self.page.locator("[data-testid=play]").first.wait_for(state="visible")
        return self

    def wait_ready(self) -> None:
        """Until the page has replayed its link (the root's data-ready)."""
        self.wait_js("() => document.documentElement.dataset.ready === '1'")

    def close(self) -> None:
        if self.own_context:
            self.context.close()
        else:
            self.page.close()

    # -- reading --------------------------------------------------------------------------
    def wait_js(self, expr: str, arg=None, timeout: float = 30_000):
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        try:
            return self.page.wait_for_function(expr, arg=arg, polling=40, timeout=timeout)
        except PlaywrightTimeout as e:
            # say what the page said meanwhile: a timeout alone explains nothing
            raise AssertionError(f"waited {timeout / 1000:.0f} s for {expr}; the page's "
                                 f"errors: {self.errors or 'none'}") from e

    def state(self) -> dict:
        """``dpoSim.state()`` once no engine command is outstanding."""
        return self.page.evaluate("async () => { await dpoSim.idle(); return dpoSim.state(); }")

    def act(self, js: str, arg=None) -> dict:
        """Run ``js`` (statements using ``dpoSim`` and ``arg``), wait until the engine has
        answered every command, return ``dpoSim.state()``."""
        return self.page.evaluate(
            "async arg => { " + js + "; await dpoSim.idle(); return dpoSim.state(); }", arg)

    def idle(self) -> None:
        self.page.evaluate("async () => { await dpoSim.idle(); }")

    def text(self, testid: str) -> str:
        return self.page.locator(f"[data-testid={testid}]").first.inner_text().strip()

    def value(self, testid: str) -> float:
        return float(self.page.locator(f"[data-testid={testid}]").first
                     .get_attribute("data-value"))

    def values(self) -> dict:
        return self.page.evaluate("() => window.__e2e.values()")

    def numbers(self, prefix: str = "") -> dict[str, float]:
        """{testid: float(data-value)} for every readout whose testid starts with prefix."""
        return {k: float(v["value"]) for k, v in self.values().items()
                if k.startswith(prefix) and v["value"] is not None}

    def step(self) -> int:
        v = self.page.evaluate("() => window.__e2e.stepValue()")
        assert v is not None, "no [data-testid=step] with a data-value on the page"
        return int(v)

    def log_text(self) -> str:
        return self.page.locator("[data-testid=step-log]").first.inner_text()

    def button(self, name: str):
        return self.page.get_by_role("button", name=name, exact=True)

    def pair(self, i: int):
        """Preference row i (focusable; Enter flips it; looking at it changes nothing)."""
        return self.page.locator(f"[data-testid=pair-{i}]").first

    def flip(self, i: int):
        """Row i's Flip button (aria-pressed says whether the row is flipped)."""
        return self.page.locator(f"[data-testid=flip-{i}]").first

    # -- acting ---------------------------------------------------------------------------
    def wait_step(self, n: int, op: str = "===") -> int:
        """Wait until the step counter satisfies `counter <op> n`; returns the counter."""
        self.wait_js(f"n => window.__e2e.stepValue() {op} n", n)
        return self.step()

    def settle(self, quiet_ms: int = 300, timeout: float = 30_000) -> int:
        """Wait until the step counter has not changed for quiet_ms (in-flight ticks landed)."""
        self.page.evaluate("() => { window.__e2e._last = undefined; }")
        self.wait_js("""q => { const w = window.__e2e, v = w.stepValue(), t = performance.now();
            if (v !== w._last) { w._last = v; w._since = t; return false; }
            return t - w._since >= q; }""", quiet_ms, timeout=timeout)
        return self.step()

    def steps_seen(self, ms: int) -> list[int]:
        """Every distinct step value shown over the next `ms` milliseconds (sampled per frame)."""
        return self.page.evaluate("""ms => new Promise(done => {
            const seen = [], t0 = performance.now();
            function tick() {
              const v = window.__e2e.stepValue();
              if (!seen.length || seen[seen.length - 1] !== v) seen.push(v);
              if (performance.now() - t0 < ms) requestAnimationFrame(tick); else done(seen);
            }
            tick(); })""", ms)

    def play(self) -> None:
        self.button("Play").click()
        self.button("Pause").wait_for(state="visible")

    def pause(self, settle: bool = True) -> int | None:
        """Press Pause; with settle, wait until the server has stopped (the button reads
        Play again, which arrives after every tick sent before it) and the counter is still."""
        self.button("Pause").click()
        return self.paused() if settle else None

    def paused(self) -> int:
        self.button("Play").wait_for(state="visible")
        return self.settle()

    def play_until(self, n: int) -> int:
        """Play until the counter reaches at least n, pause, return the step it stopped at."""
        self.play()
        self.wait_step(n, ">=")
        return self.pause()

    def click_step(self) -> int:
        """Press Step once and wait for the counter to move by exactly one."""
        before = self.step()
        self.button("Step").click()
        return self.wait_step(before + 1)

    def step_to(self, n: int) -> int:
        """Press Step until the counter is n: a burst of clicks, then one at a time."""
        s = self.step()
        assert s <= n, f"already at step {s} > {n}"
        if n - s > 2:
            for _ in range(n - s - 1):
                self.button("Step").click()
            try:                      # every click is one step: wait for all of them
                self.wait_step(n - 1)
            except Exception:         # noqa: BLE001 - a lost click: finish one at a time
                self.settle()
        while self.step() < n:
            self.click_step()
        assert self.step() == n, f"Step overshot {n}: at {self.step()}"
        return n

    def scenario_select(self):
        return self.page.locator("select").filter(
            has=self.page.locator("option", has_text="Align to preferences")).first

    def load(self, title: str) -> None:
        """Pick a scenario by its title and wait for the log to record the load at step 0."""
        # the log arrives with the rest of the page, after the bars and the numbers
        self.wait_js("() => window.__e2e.q('[data-testid=step-log]') !== null")
        old = self.page.evaluate("() => window.__e2e.q('[data-testid=step-log]').textContent")
        self.scenario_select().select_option(label=title)
        self.wait_js("""old => { const el = window.__e2e.q('[data-testid=step-log]');
            return el && el.textContent.trim() !== old.trim()
                   && window.__e2e.stepValue() === 0; }""", old)


# --- accessibility: axe-core (npm, installed by scripts/test into tests/js) -----------------
AXE_JS = ROOT / "tests" / "js" / "node_modules" / "axe-core" / "axe.min.js"


def axe_violations(page, impacts=("serious", "critical")) -> list[dict]:
    """Run axe-core on the page as it is now (shadow roots included) and return the
    violations of the given impacts as {id, impact, help, nodes: [target, ...]}."""
    if not AXE_JS.exists():
        raise RuntimeError(f"{AXE_JS} is missing: run scripts/test (it installs tests/js)")
    if not page.evaluate("() => !!window.axe"):
        page.add_script_tag(path=str(AXE_JS))
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.map(n => JSON.stringify(n.target) + ' ' + n.failureSummary
                                                      .split('\\n').slice(1, 2).join(''))}));
    }""")
    return [v for v in result if v["impact"] in impacts]


def files_only(context, blocked: list, seen: list | None = None) -> None:
    """Let a browser context fetch ``file://`` URLs only: every other request is aborted
    and its URL appended to ``blocked`` (and every request's URL to ``seen``, if given)."""
    def route(r):
        url = r.request.url
        if seen is not None:
            seen.append(url)
        if url.startswith("file://"):
            r.continue_()
        else:
            blocked.append(url)
            r.abort()

    context.route("**/*", route)


# --- the command line as the independent source of the numbers --------------------------
def cli_records(scenario: str, steps: int, *extra: str) -> dict:
    """`dpo-sim run SCENARIO --steps N --format jsonl ...` -> {step: record, "config": the
    config line}: the command's own main(), run in this process (a Python start per call
    would cost more than a page)."""
    import contextlib
    import io
    import json

    from dpo_sim.app.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["run", scenario, "--steps", str(steps), "--format", "jsonl", *extra])
    assert code == 0
    lines = [json.loads(s) for s in out.getvalue().splitlines() if s.strip()]
    assert lines[0]["type"] == "config"
    records = {d["step"]: d for d in lines[1:] if d.get("type") == "step"}
    assert sorted(records) == list(range(steps + 1))
    records["config"] = lines[0]
    return records


#: The readouts (by data-testid prefix) a step's record fixes, all with a data-value.
READOUTS = ("loss", "margin", "accuracy", "rewards-", "kl-", "prob-")


def expected_readouts(rec: dict) -> dict[str, float]:
    """The page's readouts (data-testid -> number) for one record of `dpo-sim run`."""
    exp = {"loss": rec["loss"], "margin": rec["rewards/margins"],
           "accuracy": rec["rewards/accuracies"], "rewards-chosen": rec["rewards/chosen"],
           "rewards-rejected": rec["rewards/rejected"]}
    exp.update({f"kl-{x}": k for x, k in enumerate(rec["kl"])})
    # KL to the RLHF optimum: null (no finite optimum) is shown as "none", data-value nan
    exp.update({f"kl-rlhf-{x}": k for x, k in enumerate(rec["kl_to_rlhf"]) if k is not None})
    exp.update({f"prob-{x}-{y}": p for x, row in enumerate(rec["probs"])
                for y, p in enumerate(row)})
    return exp


def shown_readouts(d: DashboardPage) -> dict[str, float]:
    """The numeric readouts the page shows (full precision, from data-value; NaN left out)."""
    return {k: v for k, v in d.numbers().items() if k.startswith(READOUTS) and v == v}


def assert_readouts(d: DashboardPage, rec: dict, what: str = "") -> None:
    """Once the engine is idle, the page shows ``rec``'s step and numbers: exactly on the
    served page, to 1e-12 in the offline file."""
    import math

    d.idle()
    assert d.step() == rec["step"], (what, d.step(), rec["step"])
    exp, shown = expected_readouts(rec), shown_readouts(d)
    missing = sorted(set(exp) - set(shown))
    assert not missing, f"{what}: readouts missing on the page: {missing}"
    bad = {k: (shown[k], v) for k, v in exp.items()
           if not math.isclose(shown[k], v, rel_tol=d.tol, abs_tol=d.tol)}
    assert not bad, f"{what} ({d.host}): (page, cli) {bad}"


def assert_state_is(state: dict, sim, tol: float) -> None:
    """``dpoSim.state()`` holds ``sim``'s (a sim.simulation.Simulation) record and settings."""
    import math

    import numpy as np

    rec = sim.record
    assert state["step"] == rec.step
    np.testing.assert_allclose(state["probs"], rec.probs, rtol=0, atol=tol)
    np.testing.assert_allclose(state["kl"], rec.kl, rtol=0, atol=tol)
    d = rec.to_dict()
    for k in ("loss", "rewards/chosen", "rewards/rejected", "rewards/margins",
              "rewards/accuracies", "logps/chosen", "logps/rejected"):
        got = state["metrics"][k]
        assert math.isclose(got, d[k], rel_tol=tol, abs_tol=tol), (k, got, d[k])
    assert state["flipped"] == list(sim.flipped)
    for k in ("beta", "learning_rate", "adaptive_weight", "loss_type", "label_smoothing"):
        assert state[k] == getattr(sim, k), k
