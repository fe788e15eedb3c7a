"""How fast the offline file is in headless Chromium: its size, the first chart, steps and
screen updates per second at speed 60, the script time of one screen update, DOM nodes
created while playing, and how long a click on a row's Flip takes to reach the screen.

    python benchmarks/bench_offline.py [--seconds 5] [--flips 40]

The file is `dpo-sim export` of every preset, opened from file:// with every other request
aborted (the benchmark fails if there is one). A flip's delay is measured inside the page
from the click's event time to the start of the next animation frame after the click was
handled (the frame that paints it).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from _measure import pct  # noqa: E402

from browser import files_only, launch  # noqa: E402

PROBE = r"""
() => {
  window.__bench = {flips: [], added: 0};
  document.addEventListener('click', (e) => {
    const t0 = e.timeStamp;
    // the page's handler runs in this same task, before any frame: the next frame is
    // the first that can paint what it did
    requestAnimationFrame(() => window.__bench.flips.push(performance.now() - t0));
  }, true);
  new MutationObserver((ms) => { for (const m of ms) window.__bench.added += m.addedNodes.length; })
    .observe(document.body, {childList: true, subtree: true});
}
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--flips", type=int, default=40)
    a = ap.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "dpo-sim.html"
        subprocess.run([sys.executable, "-m", "dpo_sim", "export", "--out", str(out)],
                       cwd=ROOT, check=True, capture_output=True)
        size = out.stat().st_size
        print(f"file: {size / 1e6:.3f} MB ({size:,} bytes), every preset")
        with sync_playwright() as pw:
            browser = launch(pw)
            firsts, blocked = [], []
            for _ in range(5):
                ctx = browser.new_context(viewport={"width": 1280, "height": 800})
                files_only(ctx, blocked)
                page = ctx.new_page()
                page.goto(out.as_uri())
                page.wait_for_function("document.documentElement.dataset.ready === '1'")
                firsts.append(page.evaluate(
                    "performance.getEntriesByName('dpo-first-chart')[0].startTime"))
                assert not blocked, blocked
                ctx.close()
            print(f"first chart drawn: median {statistics.median(firsts):.0f} ms after "
                  f"navigation start (5 loads: {', '.join(f'{v:.0f}' for v in firsts)})")

            ctx = browser.new_context(viewport={"width": 1280, "height": 800})
            page = ctx.new_page()
            page.goto(out.as_uri())
            page.wait_for_function("document.documentElement.dataset.ready === '1'")
            page.evaluate(PROBE)
            for speed in (20, 60, 120):
                page.evaluate(f"() => {{ dpoSim.reset(); dpoSim.set({{speed: {speed}}}); }}")
                page.evaluate("() => { window.__bench.added = 0; }")
                s0 = page.evaluate("dpoSim.stats()")
                t0 = page.evaluate("performance.now()")
                page.evaluate("dpoSim.play()")
                page.wait_for_timeout(a.seconds * 1000)
                s1 = page.evaluate("dpoSim.stats()")
                t1 = page.evaluate("performance.now()")
                page.evaluate("dpoSim.pause()")
                added = page.evaluate("window.__bench.added")
                dt = (t1 - t0) / 1000
                n = s1["renders"] - s0["renders"]
                print(f"speed {speed:3d}: {(s1['step'] - s0['step']) / dt:5.1f} steps/s, "
                      f"{n / dt:5.1f} screen updates/s, "
                      f"{(s1['render_ms'] - s0['render_ms']) / max(1, n):.2f} ms of script per "
                      f"update, {added / max(1, n):.2f} DOM nodes added per update")
            for playing in (False, True):
                page.evaluate("() => { dpoSim.reset(); dpoSim.set({speed: 60}); "
                              "window.__bench.flips = []; }")
                if playing:
                    page.evaluate("dpoSim.play()")
                for k in range(a.flips):
                    page.click(f'[data-testid="flip-{k % 6}"]')
                    page.wait_for_timeout(60)
                page.evaluate("dpoSim.pause()")
                f = page.evaluate("window.__bench.flips")
                print(f"flip to screen ({'playing at 60' if playing else 'paused'}): median "
                      f"{statistics.median(f):.1f} ms, p95 {pct(f, 95):.1f} ms, max "
                      f"{max(f):.1f} ms over {len(f)} clicks")
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
