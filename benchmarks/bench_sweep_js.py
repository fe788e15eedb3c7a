"""Speed of the sweep map in JavaScript (app/offline/stack.js, the offline file's).

A script, not a test: it prints numbers and asserts nothing. Target on the project's
2-core machine: the 64 x 64 grid (4,096 runs) for a preset's 400 steps in at most 1.5 s,
in Node.js and in headless Chromium's Web Worker (the offline file's way: a Worker from a
Blob of engine.js and stack.js, app/ui/offline_requests.js), while the page's own thread
stays free: its longest task during the sweep (measured two ways: the gaps of a
setTimeout(0) loop, and the Long Tasks API, which reports tasks over 50 ms) is printed.

    python benchmarks/bench_sweep_js.py [preset ...]
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from dpo_sim.sim.scenario_io import load_scenario  # noqa: E402
from dpo_sim.sim.settings import table_json  # noqa: E402

REPEATS = 5

NODE_SCRIPT = r"""
const DPO = require(process.argv[1] + "/app/offline/engine.js");
const S = require(process.argv[1] + "/app/offline/stack.js");
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
const sim = new DPO.Simulation(input.config, input.table);
const out = [];
for (let i = 0; i < input.repeats; i++) {
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  const r = S.sweepReply(sim, {op: "sweep"});
  const c = process.cpuUsage(c0);
  out.push([Number(process.hrtime.bigint() - t0) / 1e6, r.steps, r.kl.length,
    (c.user + c.system) / 1e3]);
}
process.stdout.write(JSON.stringify(out));
"""

PAGE_SCRIPT = """async (repeats) => {
  const out = [];
  for (let i = 0; i < repeats; i++) {
    let longest = 0;
    let ticking = true;
    let lastTick = performance.now();
    const tick = () => {
      const now = performance.now();
      longest = Math.max(longest, now - lastTick);
      lastTick = now;
      if (ticking) setTimeout(tick, 0);
    };
    const long = [];
    const obs = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) long.push(e.duration);
    });
    obs.observe({ type: "longtask" });
    setTimeout(tick, 0);
    await new Promise((r) => setTimeout(r, 50));
    const t0 = performance.now();
    const reply = await new Promise((res) => offline({ op: "sweep" }, res));
    const ms = performance.now() - t0;
    await new Promise((r) => setTimeout(r, 50));
    ticking = false;
    obs.disconnect();
    out.push({ ms, steps: reply.steps, cells: reply.kl.length, gap: longest,
      longtask: long.length ? Math.max(...long) : 0 });
  }
  return out;
}"""


def config(sid: str) -> dict:
    s = load_scenario(sid)
    return {**s.config(), "steps": s.steps}


def node_times(sid: str) -> list[float] | None:
    node = shutil.which("node")
    if node is None:
        return None
    p = subprocess.run([node, "-e", NODE_SCRIPT, str(ROOT)], capture_output=True, text=True,
                       input=json.dumps({"config": config(sid), "table": table_json(),
                                         "repeats": REPEATS}), check=True)
    return json.loads(p.stdout)


def browser_times(sid: str) -> list[dict] | None:
    try:
        from playwright.sync_api import sync_playwright
        from stack_page import write_page

        from browser import launch
    except ImportError:
        return None
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        path = write_page(Path(tmp) / "bench.html", config(sid))
        b = launch(pw)
        try:
            pg = b.new_page()
            pg.goto(path.as_uri())
            pg.wait_for_function("() => window.__h && __h.replies.length >= 2",
                                 timeout=120_000)
            return pg.evaluate(PAGE_SCRIPT, REPEATS)
        finally:
            b.close()


def main(presets: list[str]) -> None:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.system()}, "
          f"load average {load:.1f}; {REPEATS} sweeps each (the first includes the JIT's "
          f"warm-up); wall-clock times grow with the load, CPU times much less")
    for sid in presets:
        n = node_times(sid)
        if n:
            ms = [r[0] for r in n]
            cpu = [r[3] for r in n]
            print(f"{sid}: node, {n[0][2]:,} runs x {n[0][1]} steps: first {ms[0]:.0f} ms, "
                  f"median {statistics.median(ms):.0f} ms, best {min(ms):.0f} ms (CPU time: "
                  f"median {statistics.median(cpu):.0f} ms, best {min(cpu):.0f} ms)")
        w = browser_times(sid)
        if w:
            ms = [r["ms"] for r in w]
            print(f"{sid}: Chromium worker, {w[0]['cells']:,} runs x {w[0]['steps']} steps: "
                  f"first {ms[0]:.0f} ms, median {statistics.median(ms):.0f} ms, best "
                  f"{min(ms):.0f} ms; the page's thread meanwhile: longest gap "
                  f"{max(r['gap'] for r in w):.0f} ms, longest task reported "
                  f"{max(r['longtask'] for r in w):.0f} ms (0: none over 50 ms)")


if __name__ == "__main__":
    main(sys.argv[1:] or ["align", "ipo-stops-drift", "dpo-is-rlhf"])
