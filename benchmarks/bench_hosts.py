"""The page before and after "one page, two hosts", side by side, in one run.

A script, not a test: it prints numbers and asserts nothing.

    python benchmarks/bench_hosts.py [--before-rev f586031] [--loads 5] [--seconds 5]
        [--clicks 30] [--opens 10] [--write docs/PERFORMANCE.md]

Columns: the served page and the offline file, each before (the commit ``--before-rev``,
checked out as a git worktree at /work/before with its own venv, served by its own
``dpo-sim serve``) and after (this tree), plus a baseline: a Panel page holding one trivial
``pn.custom.JSComponent`` (``panel serve``), the floor for the served page's first chart.

Every page: the "align" scenario (``?scenario=align&speed=60``), 1280x800, headless
Chromium, one browser for the whole run, one server running at a time. Measured alike for
every column (all inside the page with performance.now(), so Playwright's round trips do
not count):

- first chart: navigation start -> the ``dpo-first-chart`` performance mark (the new page,
  the old offline file and the baseline set it at their first render); the old served page
  has no mark, so the first animation frame in which the first probability chart's canvas
  has painted pixels (FIRST_PAINT_JS below). Also, for every column, the first
  frame with any painted canvas (the same rAF poll everywhere). Median of ``--loads`` fresh
  contexts.
- screen updates/s at speed 60: distinct values of the step readout seen by an animation
  frame loop over ``--seconds`` (the same counter for all; the old served page has no
  ``dpoSim.stats()``), and steps/s.
- script ms per update: CDP ``Performance.getMetrics`` ScriptDuration over that interval /
  updates (TaskDuration too: script, style, layout, paint); DOM nodes per update: the change
  of its ``Nodes`` (DOM nodes not yet collected; a garbage collection forced just before the
  interval) / updates, so nodes made and dropped per update count until the next major GC.
- flip to screen: ``click()`` dispatched in the page on ``[data-testid=flip-i]`` -> the first
  animation frame where its aria-pressed changed; ``--clicks`` clicks paused, then as many
  playing at 60; p50 / p95.
- server CPU (utime + stime of the server process and its children, /proc/<pid>/stat):
  per screen update over the playing interval, and per page open: median of ``--opens``
  loads in fresh contexts, from an idle server to the server idle again after the page
  is ready (step 0 shown).
- the offline file's size in bytes (``dpo-sim export --out``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _measure import cpu_seconds, pct, procs_of  # noqa: E402

from browser import CHROMIUM_ARGS, DEEP_QUERY_JS  # noqa: E402

CHROMIUM = os.environ.get("DPO_SIM_CHROMIUM", "/usr/bin/chromium")
QUERY = "?scenario=align&speed=60"


# FIRST_PAINT_JS, for every page: each animation frame from the first
# script on, look for a painted canvas (any; and the first probability chart's, the canvas
# that shares a box with the prob-0-* table) and for the step readout.
FIRST_PAINT_JS = r"""
(() => {
  window.__bench = {firstChart: null, firstCanvas: null, firstReadout: null};
  function painted(c) {
    if (!c.width || !c.height) return false;
    let ctx;
    try { ctx = c.getContext('2d'); } catch (e) { return false; }
    if (!ctx) return false;
    const data = ctx.getImageData(0, 0, c.width, c.height).data;
    for (let i = 3; i < data.length; i += 4 * 7) if (data[i] !== 0) return true;
    return false;
  }
  function probCanvases() {
    const E = window.__e2e;
    let el = E.q('[data-testid=prob-0-0]');
    for (let i = 0; el && i < 16; i++) {
      const found = E.all('canvas', el).concat(el.shadowRoot ? E.all('canvas', el.shadowRoot) : []);
      if (found.length) return found;
      el = el.parentElement || (el.getRootNode() || {}).host || null;
    }
    return [];
  }
  function frame() {
    const b = window.__bench, now = performance.now();
    if (window.__e2e && document.body) {
      if (b.firstReadout === null && window.__e2e.stepValue() !== null) b.firstReadout = now;
      if (b.firstCanvas === null && window.__e2e.all('canvas').some(painted)) b.firstCanvas = now;
      if (b.firstChart === null && probCanvases().some(painted)) b.firstChart = now;
    }
    if (b.firstCanvas === null || b.firstChart === null || b.firstReadout === null)
      if (now < 30000) requestAnimationFrame(frame);
  }
  requestAnimationFrame(frame);
})();
"""

# distinct step readouts seen by an animation frame loop over ms: the screen updates
SAMPLE_JS = r"""
ms => new Promise(done => {
  let n = 0, v0 = window.__e2e.stepValue(), last = v0;
  const t0 = performance.now();
  function tick() {
    const v = window.__e2e.stepValue(), t = performance.now();
    if (v !== last) { n++; last = v; }
    if (t - t0 < ms) requestAnimationFrame(tick);
    else done({updates: n, steps: v - v0, ms: t - t0});
  }
  requestAnimationFrame(tick);
})
"""

# a click on row i's Flip -> the first frame where its aria-pressed changed (ms)
CLICK_JS = r"""
i => new Promise(done => {
  const E = window.__e2e;
  let b = E.q(`[data-testid=flip-${i}]`);      // looked up once (a deep query is slow)
  const before = b.getAttribute('aria-pressed');
  const t0 = performance.now();
  b.click();
  function check() {
    const t = performance.now();
    if (!b.isConnected) b = E.q(`[data-testid=flip-${i}]`);   // the row was redrawn
    if (b && b.getAttribute('aria-pressed') !== before) return done(t - t0);
    if (t - t0 > 10000) return done(null);             // lost: counted apart
    requestAnimationFrame(check);
  }
  requestAnimationFrame(check);
})
"""

BASELINE_APP = '''
import panel as pn


class Tiny(pn.custom.JSComponent):
    _esm = """
export function render({ model, el }) {
  const c = document.createElement("canvas");
  c.width = 200; c.height = 100;
  const g = c.getContext("2d");
  g.fillStyle = "#36c"; g.fillRect(10, 10, 120, 60);
  el.append(c);
  performance.mark("dpo-first-chart");
  document.documentElement.dataset.ready = "1";
}
"""


Tiny().servable(title="baseline")
'''


# -- processes ---------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_idle(pids: list[int], quiet: float = 0.4, timeout: float = 10.0) -> float:
    """Wait until the processes use no CPU for `quiet` seconds; their CPU then."""
    t0 = time.monotonic()
    c = cpu_seconds(pids)
    while time.monotonic() - t0 < timeout:
        time.sleep(quiet)
        c1 = cpu_seconds(pids)
        if c1 == c:
            return c1
        c = c1
    return c


class Served:
    def __init__(self, cmd: list[str], cwd: Path, path: str = ""):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/{path}"
        self.log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)  # noqa: SIM115
        self.proc = subprocess.Popen([*cmd, "--port", str(self.port)], cwd=cwd,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(self.url, timeout=5) as r:
                    if r.status == 200:
                        break
            except Exception:  # noqa: BLE001 - until it is up
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.stop()
                    raise RuntimeError(f"{cmd} did not come up") from None
                time.sleep(0.3)
        time.sleep(1)
        self.pids = procs_of(self.proc.pid)

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")


def ensure_before(rev: str, where: Path) -> Path:
    """The before tree: a worktree at `rev` with its own venv (pip install -e)."""
    if not (where / ".git").exists():
        subprocess.run(["git", "worktree", "add", str(where), rev], cwd=ROOT, check=True,
                       capture_output=True)
    py = where / ".venv" / "bin" / "python"
    if not (where / ".venv" / "bin" / "dpo-sim").exists():
        subprocess.run([sys.executable, "-m", "venv", str(where / ".venv")], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "-e", str(where)], check=True)
    return where


# -- the measures ------------------------------------------------------------------------
def new_page(browser):
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    ctx.add_init_script(DEEP_QUERY_JS)
    ctx.add_init_script(FIRST_PAINT_JS)
    page = ctx.new_page()
    page.set_default_timeout(60_000)
    return ctx, page


# loaded: the new page, both offline files and the baseline set data-ready on <html>; the
# old served page has none: its step readout shows 0 and its Play button is there
READY = "() => document.documentElement.dataset.ready === '1'"
READY_OLD_SERVED = ("() => !!window.__e2e && window.__e2e.stepValue() === 0 && "
                    "window.__e2e.all('button').some(b => b.textContent.trim() === 'Play')")


def first_chart(browser, url: str, loads: int, ready: str = READY) -> dict:
    marks, canvases = [], []
    for _ in range(loads):
        ctx, page = new_page(browser)
        page.goto(url)
        page.wait_for_function(ready)
        mark = page.evaluate(
            "(performance.getEntriesByName('dpo-first-chart')[0] || {}).startTime")
        if mark is None:                 # the old served page: its first prob. chart painted
            page.wait_for_function("() => window.__bench.firstChart !== null")
            mark = page.evaluate("window.__bench.firstChart")
        with contextlib.suppress(Exception):        # a page without a painted canvas
            page.wait_for_function("() => window.__bench.firstCanvas !== null", timeout=10_000)
        marks.append(mark)
        canvases.append(page.evaluate("window.__bench.firstCanvas"))
        ctx.close()
    canv = [c for c in canvases if c is not None]
    return {"first": statistics.median(marks), "first_all": marks,
            "first_canvas": statistics.median(canv) if canv else None}


def has_api(page) -> bool:
    return page.evaluate("() => !!(window.dpoSim && window.dpoSim.play)")


def play(page, on: bool) -> None:
    if has_api(page):
        page.evaluate("dpoSim.play()" if on else "dpoSim.pause()")
    else:
        name = "Play" if on else "Pause"
        page.evaluate(
            "n => window.__e2e.all('button').find(b => b.textContent.trim() === n).click()", name)
        other = "Pause" if on else "Play"
        page.wait_for_function(
            "n => window.__e2e.all('button').some(b => b.textContent.trim() === n)", arg=other)


def settle(page, quiet_ms: int = 600) -> None:
    page.evaluate("""q => new Promise(done => {
        let v = window.__e2e.stepValue(), t = performance.now();
        (function f() { const now = performance.now(), w = window.__e2e.stepValue();
          if (w !== v) { v = w; t = now; }
          if (now - t > q) done(); else requestAnimationFrame(f); })(); })""", quiet_ms)


def metrics(cdp) -> dict:
    return {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}


def playing_and_flips(browser, url: str, pids: list[int] | None, seconds: float,
                      clicks: int, ready: str = READY) -> dict:
    ctx, page = new_page(browser)
    page.goto(url)
    page.wait_for_function(ready)
    page.wait_for_timeout(1500)                  # the old page's staged second part
    out = {}
    # -- paused flips ------------------------------------------------------------------
    paused = []
    for k in range(clicks):
        paused.append(page.evaluate(CLICK_JS, k % 6))
        page.wait_for_timeout(80)
    out["flip_paused"] = [v for v in paused if v is not None]
    out["flips_lost"] = paused.count(None)
    # -- playing at 60 -------------------------------------------------------------------
    cdp = ctx.new_cdp_session(page)
    cdp.send("Performance.enable")
    play(page, True)
    page.wait_for_function("() => window.__e2e.stepValue() >= 5")
    cdp.send("HeapProfiler.collectGarbage")      # so Nodes counts the nodes made from here
    m0 = metrics(cdp)
    c0 = cpu_seconds(pids) if pids else 0.0
    s = page.evaluate(SAMPLE_JS, seconds * 1000)
    c1 = cpu_seconds(pids) if pids else 0.0
    m1 = metrics(cdp)
    n = max(1, s["updates"])
    dt = s["ms"] / 1000
    out["updates_s"] = s["updates"] / dt
    out["steps_s"] = s["steps"] / dt
    out["script_ms"] = 1000 * (m1["ScriptDuration"] - m0["ScriptDuration"]) / n
    out["task_ms"] = 1000 * (m1["TaskDuration"] - m0["TaskDuration"]) / n
    out["nodes"] = (m1["Nodes"] - m0["Nodes"]) / n
    out["server_ms"] = 1000 * (c1 - c0) / n if pids else None
    out["server_pct"] = 100 * (c1 - c0) / dt if pids else None
    # -- flips while playing -------------------------------------------------------------
    playing = []
    for k in range(clicks):
        playing.append(page.evaluate(CLICK_JS, k % 6))
        page.wait_for_timeout(80)
    out["flip_playing"] = [v for v in playing if v is not None]
    out["flips_lost"] += playing.count(None)
    play(page, False)
    ctx.close()
    return out


def open_cpu(browser, url: str, pids: list[int], opens: int, ready: str = READY) -> dict:
    cpus, walls = [], []
    for _ in range(opens):
        c0 = wait_idle(pids)
        ctx, page = new_page(browser)
        t0 = time.monotonic()
        page.goto(url)
        page.wait_for_function(ready)
        walls.append(time.monotonic() - t0)
        cpus.append(wait_idle(pids) - c0)
        ctx.close()
    wait_idle(pids)
    return {"open_cpu_ms": 1000 * statistics.median(cpus), "open_cpu_all": cpus,
            "open_wall_s": statistics.median(walls)}


# -- the table ---------------------------------------------------------------------------
COLS = ["served before", "served after", "offline before", "offline after", "target"]


def fmt(v, spec: str) -> str:
    if v is None:
        return "—"
    if isinstance(v, str):
        return v
    return format(v, spec)


def table(res: dict, base: dict) -> list[str]:
    k = ["served-before", "served-after", "offline-before", "offline-after"]
    b_first = base.get("first")
    rows = [
        ("first chart after navigation start, ms (median)", "first", ",.0f",
         (f"served ≤ 1.3 × baseline = {1.3 * b_first:,.0f}; " if b_first else "")
         + "offline no slower"),
        ("first painted canvas (rAF poll, all alike), ms", "first_canvas", ",.0f", "—"),
        ("screen updates/s at speed 60", "updates_s", ".1f", "served ≥ 50; offline ≥ 55"),
        ("steps/s at speed 60", "steps_s", ".1f", "60"),
        ("script ms per update (CDP ScriptDuration)", "script_ms", ".2f", "served ≤ 10"),
        ("main-thread task ms per update (CDP TaskDuration)", "task_ms", ".2f", "—"),
        ("DOM nodes per update (CDP Nodes delta)", "nodes", ".2f", "0"),
        ("flip to screen paused, p50 / p95 ms", "flip_paused", None,
         "p95: served ≤ 50; offline < 35"),
        ("flip to screen playing at 60, p50 / p95 ms", "flip_playing", None,
         "p95: served ≤ 80; offline < 35"),
        ("flips not on screen within 10 s", "flips_lost", "d", "0"),
        ("server CPU per screen update, ms", "server_ms", ".2f", "≤ 2"),
        ("server CPU while playing, % of a core", "server_pct", ".0f", "—"),
        ("server CPU per page open, ms (median)", "open_cpu_ms", ",.0f", "≤ 100"),
        ("offline file size, bytes", "size", ",d", "≤ 2,500,000"),
    ]
    cells = []
    for label, key, spec, target in rows:
        line = [label]
        for h in k:
            v = res.get(h, {}).get(key)
            if spec is None and v:
                v = f"{pct(v, 50):.0f} / {pct(v, 95):.0f}"
            line.append(fmt(v, spec or ""))
        line.append(target)
        cells.append(line)
    widths = [max(len(r[i]) for r in cells + [["metric", *COLS]]) for i in range(6)]
    head = ["metric", *COLS]
    out = ["| " + " | ".join(h.ljust(w) for h, w in zip(head, widths)) + " |",
           "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    for r in cells:
        out.append("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before-rev", default="f586031")
    ap.add_argument("--before-tree", default="/work/before")
    ap.add_argument("--loads", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--clicks", type=int, default=30)
    ap.add_argument("--opens", type=int, default=10)
    ap.add_argument("--only", default="", help="comma-separated: baseline,served-before,...")
    ap.add_argument("--table-out", default="", help="also write the table to this file")
    ap.add_argument("--query", default=QUERY,
                    help="the page's query (e.g. with &pin=loss:ipo~step:400: a pinned run)")
    a = ap.parse_args()
    from playwright.sync_api import sync_playwright

    t_start = time.monotonic()
    before = ensure_before(a.before_rev, Path(a.before_tree))
    trees = {"before": before, "after": ROOT}
    tmp = Path(tempfile.mkdtemp(prefix="bench_hosts_"))
    only = set(filter(None, a.only.split(",")))
    want = lambda h: not only or h in only  # noqa: E731
    res: dict[str, dict] = {}
    base: dict = {}

    with sync_playwright() as pw:
        browser = pw.chromium.launch(headless=True, executable_path=CHROMIUM,
                                     args=CHROMIUM_ARGS)
        # -- the baseline: one trivial JSComponent ---------------------------------------
        if want("baseline"):
            app = tmp / "baseline_app.py"
            app.write_text(BASELINE_APP)
            srv = Served([sys.executable, "-m", "panel", "serve", str(app)], ROOT,
                         path="baseline_app")
            try:
                first_chart(browser, srv.url, 1)           # warm the server
                base = first_chart(browser, srv.url, a.loads)
                base.update(open_cpu(browser, srv.url, srv.pids, a.opens))
            finally:
                srv.stop()
            print(f"baseline (trivial JSComponent, panel serve): first render median "
                  f"{base['first']:.0f} ms ({', '.join(f'{v:.0f}' for v in base['first_all'])}); "
                  f"server CPU per open {base['open_cpu_ms']:.0f} ms", flush=True)
        for when, tree in trees.items():
            # -- served ---------------------------------------------------------------------
            h = f"served-{when}"
            if want(h):
                srv = Served([str(tree / ".venv/bin/dpo-sim"), "serve", "--no-browser"], tree)
                url = srv.url + a.query
                ready = READY_OLD_SERVED if when == "before" else READY
                try:
                    first_chart(browser, url, 1, ready)     # warm the server (imports, presets)
                    r = first_chart(browser, url, a.loads, ready)
                    r.update(playing_and_flips(browser, url, srv.pids, a.seconds, a.clicks, ready))
                    r.update(open_cpu(browser, url, srv.pids, a.opens, ready))
                    res[h] = r
                finally:
                    log = srv.stop()
                r["tracebacks"] = log.count("Traceback")
                print(f"{h}: {summary(r)}", flush=True)
            # -- offline --------------------------------------------------------------------
            h = f"offline-{when}"
            if want(h):
                out = tmp / f"dpo-sim-{when}.html"
                subprocess.run([str(tree / ".venv/bin/dpo-sim"), "export", "--out", str(out)],
                               cwd=tree, check=True, capture_output=True)
                url = out.as_uri() + a.query
                r = {"size": out.stat().st_size}
                r.update(first_chart(browser, url, a.loads))
                r.update(playing_and_flips(browser, url, None, a.seconds, a.clicks))
                res[h] = r
                print(f"{h}: {summary(r)}", flush=True)
        browser.close()

    lines = table(res, base)
    print()
    print(f"baseline: a Panel page with one trivial JSComponent, first render median "
          f"{fmt(base.get('first'), ',.0f')} ms, server CPU per open "
          f"{fmt(base.get('open_cpu_ms'), ',.0f')} ms")
    print("\n".join(lines))
    print(f"\n({time.monotonic() - t_start:.0f} s in all; before = {a.before_rev}, after = "
          f"{git_head()}; {os.cpu_count()} cores)")
    if a.table_out:
        Path(a.table_out).write_text("\n".join(lines) + "\n")
    return 0


def summary(r: dict) -> str:
    parts = [f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}"
             for k, v in r.items() if not isinstance(v, list)]
    for k in ("flip_paused", "flip_playing"):
        if r.get(k):
            parts.append(f"{k} p50/p95={pct(r[k], 50):.0f}/{pct(r[k], 95):.0f}")
    return ", ".join(parts)


def git_head() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                              capture_output=True).stdout.strip()
    except OSError:
        return "?"


if __name__ == "__main__":
    sys.exit(main())
