"""The served page's server per command, paired runs of two trees: CPU, TCP segments, wake-ups.

A script, not a test: it prints numbers and asserts nothing.

    python benchmarks/bench_wire.py [--before-tree /work/before] [--pairs 3] [--seconds 6]
        [--clicks 20]

For each tree (``--before-tree``, a checkout with its own ``.venv``, then this tree), one
``dpo-sim serve`` and one headless Chromium page at ``?scenario=align&speed=60``, playing;
the trees alternate ``--pairs`` times, so a busy machine weighs on both alike. Over
``--seconds`` of play it prints:

- commands: the page's websocket messages to the server (Playwright's ``framesent``: each
  command is three frames, header, metadata, content);
- server CPU (utime + stime, /proc) per command and per screen update (distinct step
  readouts an animation frame saw: bench_hosts.py's figure, which falls when a starved
  browser draws fewer updates than it gets replies);
- TCP segments per command out of and into the server's socket (``ss -ti``: segs_out,
  segs_in, pure ACKs included), and the server's context switches per command (its wake-ups
  and preemptions, /proc/PID/task/*/status);
- flips while playing: ``click()`` to the first frame showing it, p50 / p95 ms.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "tests"))

from _measure import cpu_seconds, pct, procs_of  # noqa: E402
from bench_hosts import CLICK_JS, SAMPLE_JS  # noqa: E402

from browser import DEEP_QUERY_JS, free_port, launch, stop_process, wait_http  # noqa: E402


def switches(pid: int) -> int:
    n = 0
    for t in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{t}/status") as f:
            n += sum(int(line.split()[1]) for line in f
                     if line.startswith(("voluntary_ctxt", "nonvoluntary_ctxt")))
    return n


def segments(port: int) -> tuple[int, int]:
    out = subprocess.run(["ss", "-tinH", f"sport = :{port}"], capture_output=True,
                         text=True).stdout
    pairs = [(int(a), int(b)) for a, b in re.findall(r"segs_out:(\d+) segs_in:(\d+)", out)]
    return sum(p[0] for p in pairs), sum(p[1] for p in pairs)


def run(browser, tree: Path, seconds: float, clicks: int) -> dict:
    port = free_port()
    proc = subprocess.Popen([str(tree / ".venv/bin/python"), "-m", "dpo_sim", "serve",
                             "--no-browser", "--port", str(port)], cwd=tree,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/?scenario=align&speed=60"
    try:
        wait_http(url, proc=proc)
        time.sleep(1)
        pids = procs_of(proc.pid)
        ctx = browser.new_context(viewport={"width": 1280, "height": 800})
        ctx.add_init_script(DEEP_QUERY_JS)
        page = ctx.new_page()
        page.set_default_timeout(60_000)
        frames = [0]
        counting = [False]
        page.on("websocket", lambda ws: ws.on(
            "framesent", lambda f: counting[0] and frames.__setitem__(0, frames[0] + 1)))
        page.goto(url)
        page.wait_for_function("() => document.documentElement.dataset.ready === '1'")
        page.wait_for_timeout(1500)
        page.evaluate("dpoSim.play()")
        page.wait_for_function("() => window.__e2e.stepValue() >= 5")
        s0, c0, w0 = segments(port), cpu_seconds(pids), switches(proc.pid)
        counting[0] = True
        s = page.evaluate(SAMPLE_JS, seconds * 1000)
        counting[0] = False
        s1, c1, w1 = segments(port), cpu_seconds(pids), switches(proc.pid)
        flips = []
        for k in range(clicks):
            flips.append(page.evaluate(CLICK_JS, k % 6))
            page.wait_for_timeout(80)
        flips = [f for f in flips if f is not None]
        ctx.close()
    finally:
        stop_process(proc)
    cmds = max(1, frames[0] // 3)
    return {"cmds": cmds, "updates_s": 1000 * s["updates"] / s["ms"],
            "cpu_cmd": 1000 * (c1 - c0) / cmds, "cpu_upd": 1000 * (c1 - c0) / max(1, s["updates"]),
            "out": (s1[0] - s0[0]) / cmds, "in": (s1[1] - s0[1]) / cmds,
            "switches": (w1 - w0) / cmds, "flips": flips}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before-tree", default="/work/before")
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--clicks", type=int, default=20)
    a = ap.parse_args()
    from playwright.sync_api import sync_playwright

    trees = {"before": Path(a.before_tree), "after": ROOT}
    res: dict[str, list[dict]] = {k: [] for k in trees}
    with sync_playwright() as pw:
        browser = launch(pw)
        for i in range(a.pairs):
            for name, tree in trees.items():
                r = run(browser, tree, a.seconds, a.clicks)
                res[name].append(r)
                f = r["flips"] or [0]
                print(f"{name} {i + 1}: {r['cmds']} commands, {r['updates_s']:.1f} updates/s; "
                      f"server CPU {r['cpu_cmd']:.2f} ms per command, {r['cpu_upd']:.2f} ms "
                      f"per screen update; segments per command out {r['out']:.2f}, in "
                      f"{r['in']:.2f}; context switches per command {r['switches']:.1f}; "
                      f"flips playing p50 {pct(f, 50):.0f} / p95 {pct(f, 95):.0f} ms; "
                      f"load average {os.getloadavg()[0]:.1f}", flush=True)
        browser.close()
    for name, rs in res.items():
        med = {k: statistics.median(r[k] for r in rs)
               for k in ("cpu_cmd", "cpu_upd", "out", "in", "switches", "updates_s")}
        flips = [f for r in rs for f in r["flips"]] or [0]
        print(f"{name}, median of {len(rs)}: server CPU {med['cpu_cmd']:.2f} ms per command, "
              f"{med['cpu_upd']:.2f} ms per screen update ({med['updates_s']:.1f} updates/s); "
              f"segments per command out {med['out']:.2f}, in {med['in']:.2f}; context "
              f"switches {med['switches']:.1f}; flips playing (all runs) p50 "
              f"{pct(flips, 50):.0f} / p95 {pct(flips, 95):.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
