"""A class on one server: N pages at once against a real `dpo-sim serve` on loopback.

    python benchmarks/bench_load.py [--sessions 10] [--num-procs 2] [--speed 20]
        [--seconds 10] [--flips 20] [--cycles 0] [--soak 0]

Prints: the time until all N pages show step 0 and the server CPU that cost per page;
steps and screen updates per second per page while all play, and the server CPU per screen
update; the 95th-percentile delay from a click on Flip to the row showing it flipped, while
all play; the server's processes, their memory before and after, and how long the
sessions take to go once the pages close. ``--cycles N``: N pages opened and closed one
after another, memory before and after. ``--soak S``: one page playing at speed 60 for S
seconds, the session's memory sampled every minute.

The clients are headless Chromium pages (Debian's /usr/bin/chromium where present), each
in its own context, all in one browser. They run on the same 2 cores as the server, so
with many pages the browser's drawing competes with the server: the figures are the
server's CPU from /proc, which the browser's load does not inflate, and the rates the
pages saw, which it does lower.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from _measure import cpu_seconds, pct, procs_of  # noqa: E402

from browser import DashboardPage, Server, launch  # noqa: E402

# every change of the step readout is one screen update
COUNTER_JS = r"""
() => {
  const el = window.__e2e.q('[data-testid="step"]');
  window.__load = {updates: 0};
  new MutationObserver(() => { window.__load.updates += 1; })
    .observe(el, {childList: true, characterData: true, subtree: true, attributes: true,
                  attributeFilter: ['data-value']});
}
"""


def rss_mb(pids: list[int]) -> float:
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            pass
    return total / 1e6


def sessions(url: str, pids: int, timeout: float = 60.0) -> int:
    """Live sessions over all processes: ask until every process has answered. The
    processes share one listening socket and whichever is idle accepts the next
    connection, so a busy one may take a while to answer."""
    seen = {}
    deadline = time.monotonic() + timeout
    while len(seen) < pids and time.monotonic() < deadline:
        with urllib.request.urlopen(url + "dpo-sim-status", timeout=timeout) as r:
            s = json.loads(r.read())
        seen[s["pid"]] = s["sessions"]
    return sum(seen.values())


def wait_gone(url: str, workers: int, timeout: float) -> float:
    """Seconds until every process reports no session (or timeout)."""
    t0 = time.monotonic()
    while sessions(url, workers) and time.monotonic() - t0 < timeout:
        time.sleep(0.5)
    return time.monotonic() - t0


def play_line(before, after, dt: float, cpu: float, who: str) -> str:
    """Steps and screen updates per second per session, from (step, updates) pairs
    sampled before and after ``dt`` seconds of play, and the server's CPU per update."""
    rates = [(s1 - s0) / dt for (s0, _), (s1, _) in zip(before, after)]
    ups = [(u1 - u0) / dt for (_, u0), (_, u1) in zip(before, after)]
    n_up = sum(u1 - u0 for (_, u0), (_, u1) in zip(before, after))
    return (f"steps/s per {who} min {min(rates):.1f}, median {statistics.median(rates):.1f}; "
            f"screen updates/s per {who} min {min(ups):.1f}, median "
            f"{statistics.median(ups):.1f}; server CPU {100 * cpu / dt:.0f} % of one core, "
            f"{1000 * cpu / max(1, n_up):.1f} ms per screen update")


async def light(server, pids: list[int], workers: int, a) -> None:
    """``--light N``: N sessions of the light protocol client (no browser, the page's engine
    commands: benchmarks/_light_client.py), opened at once, all playing (the client runs the
    page's play loop on one 60 Hz ticker), flips on them in turn; the same figures as the
    pages' part."""
    import random

    from _light_client import LightSession, query

    # -- open N at once ------------------------------------------------------------------
    cpu0, t0 = cpu_seconds(pids), time.monotonic()
    clients = [LightSession(server.url, query(scenario="align", speed=a.speed), speed=a.speed)
               for _ in range(a.light)]
    await asyncio.gather(*(c.open() for c in clients))
    opened = time.monotonic() - t0
    cpu_open = cpu_seconds(pids) - cpu0
    times = sorted(c.t_open for c in clients)
    print(f"light clients: all {a.light} sessions show step 0 after {opened:.1f} s (each "
          f"median {statistics.median(times):.1f} s, p95 {pct(times, 95):.1f} s); server CPU "
          f"{cpu_open:.1f} s, {1000 * cpu_open / a.light:.0f} ms per session; "
          f"{sessions(server.url, workers)} live sessions; {rss_mb(pids):.0f} MB")
    # -- all play: one 60 Hz ticker runs every client's animation frame -------------------------
    async def ticker():
        while True:
            now = time.monotonic()
            for c in clients:
                c.frame(now)
            await asyncio.sleep(max(0.0, 1 / 60 - (time.monotonic() - now)))

    for c in clients:
        c.play()
    tick = asyncio.ensure_future(ticker())
    await asyncio.sleep(3)
    before = [(c.step or 0, c.frames) for c in clients]
    cpu0, t0, me0 = cpu_seconds(pids), time.monotonic(), os.times()
    # flips while all play, on clients in turn, one every 0.5 s
    delays = []
    rng = random.Random(0)
    while time.monotonic() - t0 < a.seconds:
        if a.flips and len(delays) < a.flips:
            c = clients[len(delays) % len(clients)]
            delays.append(await c.flip(rng.randrange(6)))
        await asyncio.sleep(0.5)
    dt, cpu_play = time.monotonic() - t0, cpu_seconds(pids) - cpu0
    after = [(c.step or 0, c.frames) for c in clients]
    me1 = os.times()
    me = (me1.user - me0.user) + (me1.system - me0.system)
    print(f"light clients, all {a.light} play at {a.speed} for {dt:.0f} s: "
          + play_line(before, after, dt, cpu_play, "session")
          + f"; the clients' own process {100 * me / dt:.0f} % of one core; load average "
          + f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if delays:
        print(f"light clients: flip to its update while all play ({len(delays)} flips): "
              f"median {1000 * statistics.median(delays):.0f} ms, p95 "
              f"{1000 * pct(delays, 95):.0f} ms, max {1000 * max(delays):.0f} ms")
    print(f"light clients: memory while playing {rss_mb(pids):.0f} MB; received "
          f"{sum(c.bytes for c in clients) / 1e6 / dt:.1f} MB/s in all")
    tick.cancel()
    for c in clients:
        await c.close()
    print(f"light clients closed: sessions gone after "
          f"{wait_gone(server.url, workers, 120):.1f} s; {rss_mb(pids):.0f} MB")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=10)
    ap.add_argument("--num-procs", type=int, default=2)
    ap.add_argument("--speed", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--flips", type=int, default=20)
    ap.add_argument("--cycles", type=int, default=0)
    ap.add_argument("--soak", type=float, default=0.0)
    ap.add_argument("--offline", type=int, default=100,
                    help="also fetch /offline (the whole simulator as one file) this many "
                         "times at once, and open it in a few pages")
    ap.add_argument("--light", type=int, default=0,
                    help="also open this many sessions with the light protocol client "
                         "(benchmarks/_light_client.py: no browser, so the figures are the "
                         "server's), all at once, and play them")
    a = ap.parse_args()
    from playwright.sync_api import sync_playwright

    server = Server("--num-procs", str(a.num_procs))
    time.sleep(2)
    pids = procs_of(server.proc.pid)
    workers = max(1, len(pids) - 1) if a.num_procs != 1 else 1
    print(f"server: dpo-sim serve --num-procs {a.num_procs} ({len(pids)} processes), "
          f"{os.cpu_count()} cores; {rss_mb(pids):.0f} MB at rest")
    try:
        if a.light:
            asyncio.run(light(server, pids, workers, a))
        with sync_playwright() as pw:
            browser = launch(pw)
            if a.sessions:
                # -- open N pages at once ---------------------------------------------------------
                cpu0, t0 = cpu_seconds(pids), time.monotonic()
                pages = [DashboardPage(browser, server.url) for _ in range(a.sessions)]
                for d in pages:
                    d.page.goto(server.url + f"?scenario=align&speed={a.speed}",
                                wait_until="commit")
                for d in pages:
                    d.wait_js("() => window.__e2e.stepValue() === 0", timeout=600_000)
                opened = time.monotonic() - t0
                cpu_open = cpu_seconds(pids) - cpu0
                print(f"open: all {a.sessions} pages show step 0 after {opened:.1f} s; server CPU "
                      f"{cpu_open:.1f} s, {1000 * cpu_open / a.sessions:.0f} ms per page; "
                      f"{sessions(server.url, workers)} live sessions; "
                      f"{rss_mb(pids):.0f} MB")
                time.sleep(2)                     # the staged charts arrive
                # -- all play ---------------------------------------------------------------------
                for d in pages:
                    d.page.evaluate(COUNTER_JS)
                for d in pages:
                    d.button("Play").click()
                time.sleep(2)
                before = [(d.step(), d.page.evaluate("window.__load.updates")) for d in pages]
                cpu0, t0 = cpu_seconds(pids), time.monotonic()
                time.sleep(a.seconds)
                after = [(d.step(), d.page.evaluate("window.__load.updates")) for d in pages]
                dt, cpu_play = time.monotonic() - t0, cpu_seconds(pids) - cpu0
                print(f"play at {a.speed}: " + play_line(before, after, dt, cpu_play, "page"))
                # -- flips while all play ---------------------------------------------------------
                d = pages[0]
                delays = []
                for k in range(a.flips):
                    i = k % 6
                    was = d.values()[f"flip-{i}"]["pressed"]
                    ms = d.page.evaluate("""([i, was]) => new Promise(done => {
                        const t0 = performance.now();
                        window.__e2e.q('[data-testid="flip-' + i + '"]').click();
                        (function poll() {
                          const v = window.__e2e.q('[data-testid="flip-' + i + '"]')
                                      .getAttribute('aria-pressed');
                          if (v !== was) done(performance.now() - t0);
                          else requestAnimationFrame(poll);
                        })(); })""", [i, was])
                    delays.append(ms)
                    time.sleep(0.2)
                if delays:
                    print(f"flip to screen while {a.sessions} play: median "
                          f"{statistics.median(delays):.0f} ms, p95 {pct(delays, 95):.0f} ms")
                print(f"memory while playing: {rss_mb(pids):.0f} MB in all")
                # -- close ------------------------------------------------------------------------
                for d in pages:
                    d.close()
                print(f"closed: sessions gone after {wait_gone(server.url, workers, 60):.1f} s; "
                      f"{rss_mb(pids):.0f} MB")
            # -- open/close cycles ----------------------------------------------------------------
            if a.cycles:
                m0 = rss_mb(pids)
                t0 = time.monotonic()
                for k in range(a.cycles):
                    d = DashboardPage(browser, server.url)
                    d.page.goto(server.url)
                    d.wait_js("() => window.__e2e.stepValue() === 0", timeout=60_000)
                    d.close()
                    if (k + 1) % 20 == 0:
                        print(f"  after {k + 1} cycles: {rss_mb(pids):.0f} MB, "
                              f"{sessions(server.url, workers)} sessions")
                took = time.monotonic() - t0
                wait_gone(server.url, workers, 120)     # the last sessions' unused lifetime
                print(f"{a.cycles} open/close cycles in {took:.0f} s: {m0:.0f} MB before, "
                      f"{rss_mb(pids):.0f} MB after, {sessions(server.url, workers)} "
                      f"sessions left")
            # -- soak -----------------------------------------------------------------------------
            if a.soak:
                d = DashboardPage(browser, server.url)
                d.page.goto(server.url + "?speed=60&autoplay=1")
                d.wait_js("() => window.__e2e.stepValue() > 0", timeout=60_000)
                t0 = time.monotonic()
                while time.monotonic() - t0 < a.soak:
                    time.sleep(min(60, a.soak))
                    print(f"soak {time.monotonic() - t0:5.0f} s: step {d.step()}, "
                          f"{rss_mb(pids):.0f} MB")
                d.close()
            # -- the offline file: the server hands out one file per page ----------------
            if a.offline:
                from concurrent.futures import ThreadPoolExecutor

                def fetch(_):
                    with urllib.request.urlopen(server.url + "offline", timeout=120) as r:
                        return len(r.read())

                fetch(0)                          # built once per process
                fetch(0)
                cpu0, t0 = cpu_seconds(pids), time.monotonic()
                with ThreadPoolExecutor(32) as ex:
                    sizes = list(ex.map(fetch, range(a.offline)))
                dt, cpu = time.monotonic() - t0, cpu_seconds(pids) - cpu0
                print(f"offline file: {a.offline} fetches at once done in {dt:.2f} s, "
                      f"{sizes[0] / 1e6:.2f} MB each, server CPU {1000 * cpu / a.offline:.1f} "
                      f"ms per page, {sessions(server.url, workers)} sessions")
                n = min(a.sessions, 10)
                t0 = time.monotonic()
                ctxs = [browser.new_context() for _ in range(n)]
                tabs = [c.new_page() for c in ctxs]
                for t in tabs:
                    t.goto(server.url + "offline?autoplay=1&speed=20", wait_until="commit")
                for t in tabs:
                    t.wait_for_function("document.documentElement.dataset.ready === '1'")
                print(f"offline file: {n} pages open and playing after "
                      f"{time.monotonic() - t0:.1f} s")
                time.sleep(5)
                steps = [t.evaluate("dpoSim.state().step") for t in tabs]
                print(f"offline file: steps per page after 5 s: min {min(steps)}, max "
                      f"{max(steps)} (speed 20; the browser computes them)")
                for c in ctxs:
                    c.close()
            browser.close()
    finally:
        log = server.stop()
    tracebacks = log.count("Traceback")
    print(f"server log: {tracebacks} tracebacks")
    if tracebacks:                 # what they were: each kind's last line, and the first whole
        import collections
        import re

        blocks = re.findall(r"Traceback \(most recent call last\):\n(?:[ \t].*\n)+(.*)", log)
        for line, n in collections.Counter(blocks).most_common():
            print(f"  {n} x {line}")
        first = log.index("Traceback")
        print(log[max(0, log.rfind("\n", 0, first - 300)):first + 3000])
    return 0


if __name__ == "__main__":
    sys.exit(main())
