"""Screenshots of both hosts side by side: the served page (left) and the offline file
(right), at the sizes the page is used at, light or dark.

    .venv/bin/python scripts/screenshots.py OUT_DIR [--query "?scenario=align&step=200"]
        [--theme light|dark] [--sizes phone,iframe,laptop,projector] [--parts pulls,sweep]
        [--full] [--name NAME]

Serves ``dpo-sim serve`` on a free port (the offline file is the same server's
``/offline``), opens each size in headless Chromium (Debian's /usr/bin/chromium where
present) once per host, waits until the page shows the step the address asks for, and
writes ``NAME-WxH-THEME.png``: the two screenshots side by side under a line naming each
host (composed in the same browser: no image library needed). ``--parts`` also shoots
those parts of the page alone (``NAME-PART-WxH-THEME.png``). A tool for looking, not a test.
"""

from __future__ import annotations

import argparse
import base64
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from browser import Server, launch  # noqa: E402

SIZES = {  # name: (width, height, mobile)
    "phone": (390, 844, True),
    "iframe": (760, 900, False),
    "small-laptop": (1024, 768, False),
    "laptop": (1280, 800, False),
    "projector": (1920, 1080, False),
}
HOSTS = (("served", "/", "served page (dpo-sim serve, NumPy)"),
         ("offline", "/offline", "offline file (dpo-sim export, JavaScript twin)"))


def _shoot(browser, url: str, size: tuple, theme: str, step: int, full: bool,
           parts: list[str], at: str = "", click: str = "") -> tuple[bytes, dict[str, bytes]]:
    w, h, mobile = size
    ctx = browser.new_context(viewport={"width": w, "height": h}, is_mobile=mobile,
                              has_touch=mobile, device_scale_factor=1, color_scheme=theme)
    page = ctx.new_page()
    page.goto(url)
    page.wait_for_function("document.documentElement.dataset.ready === '1'"
                           f" && window.dpoSim && dpoSim.state().step === {step}",
                           timeout=60_000)
    page.evaluate("dpoSim.idle()")
    page.wait_for_timeout(1500)          # the sweep map's runs, the fonts
    if click:                            # e.g. the editor: --click editor-open
        page.locator(f"[data-testid={click}]").first.click()
        page.wait_for_timeout(400)
    if at:                               # the screen scrolled to a part, just under the header
        head = page.locator(".dpo-top").first.bounding_box()["height"]
        page.locator(f".dpo-part-{at}").first.evaluate(
            "(e, h) => window.scrollTo(0, Math.max(0, e.getBoundingClientRect().top"
            " + window.scrollY - h - 8))", head)
        page.wait_for_timeout(300)
    shot = page.screenshot(full_page=full)
    alone = {}
    for part in parts:
        el = page.locator(f".dpo-part-{part}").first
        # the part's top just under the sticky header (Play, Step, Reset), not behind it
        el.evaluate("e => { const top = e.getBoundingClientRect().top + window.scrollY;"
                    " window.scrollTo(0, Math.max(0, top - 120)); }")
        page.wait_for_timeout(300)
        alone[part] = el.screenshot()
    ctx.close()
    return shot, alone


def _side_by_side(browser, images: list[tuple[str, bytes]], theme: str) -> bytes:
    """The images in a row, each under its label, as one PNG."""
    bg, fg = ("#0d1117", "#e6edf3") if theme == "dark" else ("#ffffff", "#1f2328")
    cells = "".join(
        f'<figure><figcaption>{label}</figcaption>'
        f'<img src="data:image/png;base64,{base64.b64encode(png).decode()}"></figure>'
        for label, png in images)
    html = (f"<html><body style='margin:0;background:{bg};color:{fg};"
            f"font:16px system-ui,sans-serif'><div id=row style='display:flex;gap:16px;"
            f"padding:8px;align-items:flex-start;width:max-content'>{cells}</div>"
            "<style>figure{margin:0}figcaption{padding:4px 0 6px;font-weight:600}"
            "img{display:block;border:1px solid #888}</style></body></html>")
    ctx = browser.new_context(viewport={"width": 800, "height": 600})
    page = ctx.new_page()
    page.set_content(html)
    page.wait_for_function("Array.from(document.images).every(i => i.complete)")
    png = page.locator("#row").screenshot()
    ctx.close()
    return png


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--query", default="?scenario=align&step=200")
    ap.add_argument("--name", default=None, help="file name prefix (default: the scenario)")
    ap.add_argument("--theme", default="light", choices=("light", "dark"))
    ap.add_argument("--sizes", default="phone,iframe,laptop,projector")
    ap.add_argument("--full", action="store_true", help="the whole page, not the first screen")
    ap.add_argument("--parts", default="",
                    help="also shoot these parts of the page alone (comma-separated names "
                         "of teacher mode's parts: pulls,frontier,sweep,learn,try,...)")
    ap.add_argument("--at", default="",
                    help="the screen scrolled so this part (a teacher mode's part name, e.g. "
                         "charts) starts just under the sticky header")
    ap.add_argument("--wait-step", type=int, default=None,
                    help="the step the page stops at, if not the address's (a run that "
                         "diverges stops early)")
    ap.add_argument("--click", default="",
                    help="click this data-testid before the shot (editor-open: the editor)")
    a = ap.parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    q = parse_qs(urlsplit(a.query).query)
    step = int(q.get("step", ["0"])[0]) if a.wait_step is None else a.wait_step
    name = a.name or q.get("scenario", ["start"])[0]
    parts = [p for p in a.parts.split(",") if p]
    from playwright.sync_api import sync_playwright

    server = Server()
    try:
        with sync_playwright() as p:
            browser = launch(p)
            for size_name in a.sizes.split(","):
                size = SIZES[size_name]
                shots, alone = [], {part: [] for part in parts}
                for _, path, label in HOSTS:
                    shot, pieces = _shoot(browser, server.url.rstrip("/") + path + a.query,
                                          size, a.theme, step, a.full, parts, a.at, a.click)
                    shots.append((label, shot))
                    for part, png in pieces.items():
                        alone[part].append((label, png))
                w, h, _ = size
                out = a.out / f"{name}{'-' + a.at if a.at else ''}-{w}x{h}-{a.theme}.png"
                out.write_bytes(_side_by_side(browser, shots, a.theme))
                print(out)
                for part, pngs in alone.items():
                    out = a.out / f"{name}-{part}-{w}x{h}-{a.theme}.png"
                    out.write_bytes(_side_by_side(browser, pngs, a.theme))
                    print(out)
            browser.close()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
