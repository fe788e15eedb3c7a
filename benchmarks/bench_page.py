"""Speed of the dashboard as a learner sees it, in headless Chromium against a real server.

A script, not a test: it prints numbers and asserts nothing. It starts its own
`dpo-sim serve --no-browser` on a free port. Targets (issue 3): first chart drawn within
1.5 s, at least 30 rendered steps per second, click-to-screen latency p95 <= 100 ms.

    python benchmarks/bench_page.py [--loads 5] [--seconds 5] [--clicks 30]

What is measured, all with performance.now() inside the page (so the Playwright round trip
is not counted):
- first chart: navigation start -> the first frame in which the canvas of the first
  probability chart (the one boxed with the prob-0-* table) has painted pixels, checked
  every animation frame from an init script; also any Bokeh canvas, and when the step
  readout first appears (the page is usable).
- rendered steps per second at 20 and at 60 steps/s: the step counter sampled every frame
  for a few seconds; "updates/s" counts distinct values shown per second (screen updates),
  "steps/s" the steps advanced per second of display. With flow control (the server sends
  the next update only when the page has drawn the last one) a slow browser gets fewer
  updates carrying more steps each, so steps/s stays at the speed while updates/s shows
  how fast the page can draw.
- click-to-screen latency: a click dispatched in the page on a preference row, to the first
  frame showing its new aria-pressed state and a changed loss readout (paused, off the
  start, so a flip changes the loss), and while playing at 20 steps/s (aria-pressed only).
- Pause: press to the button reading Play, and how long / how many steps the counter still
  moves after the press (a queue of updates would show here).
- server CPU per tick: utime + stime of the server process from /proc/<pid>/stat over a
  playing interval, divided by the steps advanced (and by the beats, i.e. counter updates).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from browser import DashboardPage, Server, launch  # noqa: E402

# Runs from the first script on: every frame, look for a Bokeh canvas with painted pixels.
FIRST_PAINT_JS = r"""
(() => {
  window.__bench = {firstChart: null, firstCanvas: null, firstReadout: null};
  function painted(c) {
    if (!c.width || !c.height) return false;
    let ctx;
    try { ctx = c.getContext('2d'); } catch (e) { return false; }
    if (!ctx) return false;
    const w = c.width, h = c.height;
    const data = ctx.getImageData(0, 0, w, h).data;
    for (let i = 3; i < data.length; i += 4 * 7) if (data[i] !== 0) return true;
    return false;
  }
  // the first probability chart: the canvas that shares a box with the prob-0-* table
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
    if (window.__e2e) {
      if (b.firstReadout === null && window.__e2e.stepValue() !== null) b.firstReadout = now;
      if (b.firstCanvas === null && window.__e2e.all('canvas').some(painted)) b.firstCanvas = now;
      if (b.firstChart === null && probCanvases().some(painted)) b.firstChart = now;
    }
    if (b.firstChart === null || b.firstReadout === null) requestAnimationFrame(frame);
  }
  requestAnimationFrame(frame);
})();
"""

SAMPLE_JS = r"""
ms => new Promise(done => {
  const seen = [], t0 = performance.now();
  let frames = 0, longMs = 0;
  const obs = new PerformanceObserver(l => { for (const e of l.getEntries()) longMs += e.duration; });
  try { obs.observe({type: 'longtask'}); } catch (e) {}
  function tick() {
    const v = window.__e2e.stepValue(), t = performance.now();
    frames++;
    if (!seen.length || seen[seen.length - 1][1] !== v) seen.push([t, v]);
    if (t - t0 < ms) requestAnimationFrame(tick);
    else { obs.disconnect(); done({seen, t0, t1: t, frames, longMs}); }
  }
  requestAnimationFrame(tick);
})
"""

# Click row i's Flip button and resolve with the time until the first frame that shows the
# flip: aria-pressed toggled (and, with needLoss, a loss readout different from before).
CLICK_JS = r"""
([i, needLoss]) => new Promise((done, fail) => {
  const E = window.__e2e;
  const row = () => E.q(`[data-testid=flip-${i}]`);      // the row's Flip button
  const loss = () => { const el = E.q('[data-testid=loss]'); return el && el.getAttribute('data-value'); };
  const before = row().getAttribute('aria-pressed'), loss0 = loss();
  const t0 = performance.now();
  row().click();
  function check() {
    const t = performance.now();
    const r = row();
    if (r && r.getAttribute('aria-pressed') !== before && (!needLoss || loss() !== loss0))
      return done(t - t0);
    if (t - t0 > 5000) return fail(new Error('no change within 5 s'));
    requestAnimationFrame(check);
  }
  requestAnimationFrame(check);
})
"""


# Which parts of the page change per update: DOM mutation records over `ms`, grouped by the
# shadow host they happen in (Panel wraps every pane and widget in its own shadow root).
MUTATIONS_JS = r"""
ms => new Promise(done => {
  const counts = {}, observers = [];
  function label(root) {
    const h = root.host;
    if (!h) return 'document';
    const cls = (h.className && h.className.baseVal === undefined ? h.className : '') || h.tagName;
    const id = (h.querySelector && h.shadowRoot.querySelector('[data-testid]'));
    return cls.split(' ')[0] + (id ? ` [${id.getAttribute('data-testid').replace(/-\d+$/, '-*')}]` : '');
  }
  function watch(root) {
    const mo = new MutationObserver(list => {
      const k = label(root);
      const c = counts[k] || (counts[k] = {records: 0, added: 0});
      for (const m of list) { c.records++; c.added += m.addedNodes.length; }
    });
    mo.observe(root, {subtree: true, childList: true, attributes: true, characterData: true});
    observers.push(mo);
  }
  watch(document);
  for (const el of window.__e2e.all('*')) if (el.shadowRoot) watch(el.shadowRoot);
  const v0 = window.__e2e.stepValue();
  setTimeout(() => { observers.forEach(o => o.disconnect());
                     done({counts, steps: window.__e2e.stepValue() - v0}); }, ms);
})
"""


# Press Pause in the page; resolve with the time until the button reads Play, the time of
# the last counter change, and how many steps were still shown after the press (a backlog).
PAUSE_JS = r"""
() => new Promise(done => {
  const E = window.__e2e;
  const btn = () => E.all('button').find(b => ['Play', 'Pause'].includes(b.textContent.trim()));
  const v0 = E.stepValue(), t0 = performance.now();
  let last = t0, v = v0, label = null;
  btn().click();
  function check() {
    const t = performance.now(), now = E.stepValue();
    if (now !== v) { v = now; last = t; }
    if (label === null && btn().textContent.trim() === 'Play') label = t - t0;
    if (label !== null && t - Math.max(last, t0 + label) > 500)
      return done({label, last: last - t0, steps: v - v0});
    if (t - t0 > 20000) return done({label: label ?? NaN, last: last - t0, steps: v - v0});
    requestAnimationFrame(check);
  }
  requestAnimationFrame(check);
})
"""


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds (fields 14 and 15 of /proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    k = (len(xs) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def first_chart(browser, url: str, loads: int) -> None:
    charts, canvases, readouts, dcl = [], [], [], []
    for _ in range(loads):
        d = DashboardPage(browser, url)
        d.context.add_init_script(FIRST_PAINT_JS)
        d.page.goto(url)
        d.wait_js("() => window.__bench.firstChart !== null && window.__bench.firstReadout !== null",
                  timeout=30_000)
        b = d.page.evaluate("() => window.__bench")
        nav = d.page.evaluate("() => performance.getEntriesByType('navigation')[0].toJSON()")
        charts.append(b["firstChart"])
        canvases.append(b["firstCanvas"])
        readouts.append(b["firstReadout"])
        dcl.append(nav["domContentLoadedEventEnd"])
        d.close()
    print(f"first prob. chart      median {statistics.median(charts):7.0f} ms   "
          f"max {max(charts):6.0f} ms   (target <= 1500 ms; {loads} loads)")
    print(f"any Bokeh canvas       median {statistics.median(canvases):7.0f} ms")
    print(f"step readout shown     median {statistics.median(readouts):7.0f} ms   "
          f"DOMContentLoaded median {statistics.median(dcl):.0f} ms")


def set_speed(d: DashboardPage, speed: int) -> None:
    """Move the speed slider (noUiSlider handle, keyboard) to `speed` steps per second."""
    handle = d.page.locator(".noUi-handle[aria-valuemax='120.0'], "
                            ".noUi-handle[aria-valuemax='120']").first
    handle.focus()
    for _ in range(200):
        v = round(float(handle.get_attribute("aria-valuenow")))
        if v == speed:
            break
        key = ("PageUp" if speed - v >= 5 else "ArrowRight") if v < speed else \
              ("PageDown" if v - speed >= 5 else "ArrowLeft")
        d.page.keyboard.press(key)
    else:
        raise RuntimeError(f"could not set the speed slider to {speed}")
    handle.evaluate("h => h.blur()")


def browser_cpu(browser) -> dict[str, float]:
    """CPU seconds used so far by Chromium's processes, summed per type (renderer, gpu...)."""
    cdp = browser.new_browser_cdp_session()
    try:
        info = cdp.send("SystemInfo.getProcessInfo")["processInfo"]
    finally:
        cdp.detach()
    out: dict[str, float] = {}
    for p in info:
        out[p["type"]] = out.get(p["type"], 0.0) + p["cpuTime"]
    return out


def play_rate(browser, d: DashboardPage, server_pid: int, speed: int, seconds: float) -> None:
    d.button("Reset").click()
    d.wait_step(0)
    set_speed(d, speed)
    d.play()
    d.wait_step(3, ">=")                       # past the first beat
    cdp = d.context.new_cdp_session(d.page)
    cdp.send("Performance.enable")
    m0 = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    b0 = browser_cpu(browser)
    c0, w0 = cpu_seconds(server_pid), time.perf_counter()
    r = d.page.evaluate(SAMPLE_JS, seconds * 1000)
    c1, w1 = cpu_seconds(server_pid), time.perf_counter()
    b1 = browser_cpu(browser)
    renderer = b1.get("renderer", 0.0) - b0.get("renderer", 0.0)
    chromium = sum(b1.values()) - sum(b0.values())
    m1 = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    cdp.detach()
    busy = {k: (m1[k] - m0[k]) / (w1 - w0) * 100 for k in
            ("TaskDuration", "ScriptDuration", "LayoutDuration", "RecalcStyleDuration")}
    d.pause()
    seen = r["seen"]
    span = (r["t1"] - r["t0"]) / 1000
    updates = len(seen) - 1
    steps = seen[-1][1] - seen[0][1]
    gaps = [b[0] - a[0] for a, b in zip(seen, seen[1:])]
    cpu = c1 - c0
    print(f"playing at {speed:3d} steps/s  shown {updates / span:5.1f} updates/s x "
          f"{steps / max(updates, 1):4.1f} steps/update = {steps / span:5.1f} steps/s "
          f"(target >= 30 at 60); gap between updates "
          f"median {statistics.median(gaps):.0f} ms, max {max(gaps):.0f} ms")
    print(f"   browser              {r['frames'] / span:5.1f} frames/s, long tasks "
          f"{r['longMs'] / span / 10:4.1f} % of the time; main thread busy "
          f"{busy['TaskDuration']:.0f} % (script {busy['ScriptDuration']:.0f} %, layout "
          f"{busy['LayoutDuration']:.0f} %, style {busy['RecalcStyleDuration']:.0f} %)")
    print(f"   browser CPU          {chromium / (w1 - w0) * 100:5.1f} % of a core "
          f"(renderer {renderer / (w1 - w0) * 100:.0f} %); renderer "
          f"{renderer / max(updates, 1) * 1000:.1f} ms CPU per screen update")
    print(f"   server CPU           {cpu / (w1 - w0) * 100:5.1f} % of a core; "
          f"{cpu / max(steps, 1) * 1000:.2f} ms per step, "
          f"{cpu / max(updates, 1) * 1000:.2f} ms per beat (screen update)")


def mutations(d: DashboardPage, seconds: float = 2.0) -> None:
    d.button("Reset").click()
    d.wait_step(0)
    set_speed(d, 20)
    d.play()
    d.wait_step(3, ">=")
    r = d.page.evaluate(MUTATIONS_JS, seconds * 1000)
    d.pause()
    top = sorted(r["counts"].items(), key=lambda kv: -kv[1]["added"])[:8]
    print(f"DOM changes while playing at 20/s ({r['steps']} steps in {seconds:.0f} s), "
          f"nodes added per second by part:")
    for k, c in top:
        print(f"   {c['added'] / seconds:7.0f} nodes/s  {c['records'] / seconds:6.0f} records/s  {k}")


def pause_latency(d: DashboardPage, speed: int, n: int = 8) -> None:
    set_speed(d, speed)
    label, last, steps = [], [], []
    for _ in range(n):
        d.play()
        d.wait_step(d.step() + speed, ">=")        # about a second of play
        r = d.page.evaluate(PAUSE_JS)
        label.append(r["label"])
        last.append(r["last"])
        steps.append(r["steps"])
    print(f"Pause at {speed:3d} steps/s     label Play after median {statistics.median(label):5.0f} ms "
          f"(max {max(label):5.0f}); counter still moving for median "
          f"{statistics.median(last):5.0f} ms (max {max(last):5.0f}), "
          f"{statistics.median(steps):.0f} steps (max {max(steps)})")


def latency(d: DashboardPage, clicks: int) -> None:
    d.button("Reset").click()
    d.wait_step(0)
    d.step_to(20)
    paused = [d.page.evaluate(CLICK_JS, [0, True]) for _ in range(clicks)]
    set_speed(d, 20)
    d.play()
    playing = [d.page.evaluate(CLICK_JS, [1, False]) for _ in range(clicks)]
    d.pause()
    for name, xs in (("paused", paused), ("playing at 20/s", playing)):
        print(f"click-to-screen flip   {name:16s} median {statistics.median(xs):5.0f} ms   "
              f"p95 {pct(xs, 0.95):5.0f} ms   max {max(xs):5.0f} ms  "
              f"(target p95 <= 100 ms; {len(xs)} clicks)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--loads", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--clicks", type=int, default=30)
    ap.add_argument("--url", help="measure a running server instead (no CPU figures)")
    a = ap.parse_args()

    from playwright.sync_api import sync_playwright

    server = None if a.url else Server()
    url = a.url or server.url
    try:
        print(f"dpo-sim page benchmark: {url}  ({os.cpu_count()} cores, load average "
              f"{os.getloadavg()[0]:.1f})")
        with sync_playwright() as p:
            browser = launch(p)
            first_chart(browser, url, a.loads)
            d = DashboardPage(browser, url).open()
            if server is not None:
                idle0, t0 = cpu_seconds(server.proc.pid), time.perf_counter()
                time.sleep(1.0)
                idle = (cpu_seconds(server.proc.pid) - idle0) / (time.perf_counter() - t0)
                print(f"server CPU paused       {idle * 100:5.1f} % of a core")
            r = d.page.evaluate(SAMPLE_JS, 1000)
            print(f"browser paused          {r['frames'] / ((r['t1'] - r['t0']) / 1000):5.1f} "
                  f"frames/s (the ceiling for screen updates)")
            for speed in (20, 60):
                play_rate(browser, d, server.proc.pid if server else os.getpid(), speed, a.seconds)
            for speed in (20, 60):
                pause_latency(d, speed)
            mutations(d)
            latency(d, a.clicks)
            errors = d.errors
            d.close()
            browser.close()
        if errors:
            print("page errors:", *errors, sep="\n  ")
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
