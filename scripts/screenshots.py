"""Take screenshots of the served page (and optionally a static export) at the sizes the
page is used at: a phone, a course page's iframe, a laptop and a projector.

    .venv/bin/python scripts/screenshots.py OUT_DIR [--query "?scenario=align&step=200"]
        [--export FILE.html] [--theme light|dark] [--offline FILE.html]

Serves ``dpo-sim serve`` on a free port, opens each size in headless Chromium (Debian's
/usr/bin/chromium where present), waits until the page shows the step the address asks
for, and writes ``NAME-WxH-THEME.png`` files. With ``--offline FILE.html`` it shoots that
file (``dpo-sim export``) from file:// with the same address instead, as
``offline-NAME-WxH-THEME.png``, so the two pages can be set side by side. A tool for
looking, not a test.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from browser import DEEP_QUERY_JS, Server, launch  # noqa: E402

SIZES = {  # name: (width, height, mobile)
    "phone": (390, 844, True),
    "iframe": (760, 900, False),
    "small-laptop": (1024, 768, False),
    "laptop": (1280, 800, False),
    "projector": (1920, 1080, False),
}


def _wait_ready(page, step: int, timeout: float = 30.0) -> None:
    """Until the readouts show ``step`` and the bars' canvases are drawn."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        ok = page.evaluate("s => window.__e2e.stepValue() === s"
                           " && window.__e2e.all('canvas').length > 0", step)
        if ok:
            page.wait_for_timeout(1500)      # the charts over time arrive after the rest
            return
        page.wait_for_timeout(100)
    raise RuntimeError(f"the page did not reach step {step}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--query", default="?scenario=align&step=200")
    ap.add_argument("--name", default=None, help="file name prefix (default: the scenario)")
    ap.add_argument("--theme", default="light", choices=("light", "dark"))
    ap.add_argument("--sizes", default=",".join(SIZES))
    ap.add_argument("--export", type=Path, help="also shoot this exported HTML file")
    ap.add_argument("--offline", type=Path,
                    help="shoot this offline file (dpo-sim export) instead of the server")
    ap.add_argument("--full", action="store_true", help="the whole page, not the first screen")
    ap.add_argument("--parts", default="",
                    help="also shoot these parts of the page alone (comma-separated names "
                         "of teacher mode's parts: pulls,frontier,sweep,learn,try,...)")
    ap.add_argument("--wait-step", type=int, default=None,
                    help="the step the page stops at, if not the address's (a run that "
                         "diverges stops early)")
    a = ap.parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    q = parse_qs(urlsplit(a.query).query)
    step = int(q.get("step", ["0"])[0]) if a.wait_step is None else a.wait_step
    name = a.name or q.get("scenario", ["start"])[0]
    from playwright.sync_api import sync_playwright

    server = None if a.offline else Server()
    try:
        with sync_playwright() as p:
            browser = launch(p)
            for size in a.sizes.split(","):
                w, h, mobile = SIZES[size]
                ctx = browser.new_context(viewport={"width": w, "height": h},
                                          is_mobile=mobile, has_touch=mobile,
                                          device_scale_factor=2 if mobile else 1,
                                          color_scheme=a.theme)
                page = ctx.new_page()
                if a.offline:
                    page.goto(a.offline.resolve().as_uri() + a.query)
                    page.wait_for_function("document.documentElement.dataset.ready === '1'"
                                           " && dpoSim.state().step === " + str(step))
                    page.wait_for_timeout(300)
                    path = a.out / f"offline-{name}-{w}x{h}-{a.theme}.png"
                    page.screenshot(path=str(path), full_page=a.full)
                    print(path)
                    ctx.close()
                    continue
                page.add_init_script(DEEP_QUERY_JS)
                page.goto(server.url + a.query)
                _wait_ready(page, step)
                path = a.out / f"{name}-{w}x{h}-{a.theme}.png"
                page.screenshot(path=str(path), full_page=a.full)
                print(path)
                for part in filter(None, a.parts.split(",")):
                    el = page.locator(f".dpo-part-{part}").first
                    el.scroll_into_view_if_needed()
                    page.wait_for_timeout(300)
                    path = a.out / f"{name}-{part}-{w}x{h}-{a.theme}.png"
                    el.screenshot(path=str(path))
                    print(path)
                if a.export:
                    page.goto(a.export.resolve().as_uri())
                    page.wait_for_timeout(2500)
                    path = a.out / f"export-{w}x{h}-{a.theme}.png"
                    page.screenshot(path=str(path))
                    print(path)
                ctx.close()
            browser.close()
    finally:
        if server is not None:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
