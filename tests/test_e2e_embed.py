"""Embedding and serving for a course, in headless Chromium (issue 4).

- A plain HTML page served from ANOTHER local port embeds the page in an iframe with a
  query string: inside the frame the page loads that scenario and plays, on both hosts
  (the served page, and the offline file as a course site would host it).
- `dpo-sim serve --address 0.0.0.0 --allow-websocket-origin ... --prefix /dpo
  --use-xheaders` (as behind a reverse proxy) still works at its own address, under the
  prefix, at 127.0.0.1 and at localhost (tests only ever talk to loopback addresses).
"""

from __future__ import annotations

import functools
import subprocess
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import expect

from browser import DEEP_QUERY_JS, ROOT, free_port, is_local, stop_process, wait_http

pytestmark = pytest.mark.browser
expect.set_options(timeout=20_000)


@pytest.fixture
def course_page(tmp_path, page_url):
    """A static 'course page' on its own port whose index.html embeds the page."""
    src = f"{page_url}?scenario=drop-sigma&autoplay=1"
    (tmp_path / "index.html").write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>Lecture 7</title></head>"
        "<body><h1>Lecture 7: what the sigma weight does</h1>"
        f'<iframe src="{src}" width="100%" height="900" style="border:0" '
        'title="dpo-sim: Drop the sigma weight"></iframe></body></html>')
    handler = functools.partial(_QuietHandler, directory=str(tmp_path))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _context(browser):
    ctx = browser.new_context(viewport={"width": 1280, "height": 1000})
    ctx.add_init_script(DEEP_QUERY_JS)          # in every frame, the iframe's too
    blocked: list[str] = []
    ctx.route(lambda u: not is_local(u), lambda r: (blocked.append(r.request.url), r.abort()))
    return ctx, blocked


def test_an_iframe_on_another_port_loads_the_scenario_and_plays(browser, course_page, page_url):
    ctx, blocked = _context(browser)
    errors: list[str] = []
    try:
        page = ctx.new_page()
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        page.goto(course_page)
        expect(page.get_by_role("heading", name="Lecture 7")).to_be_visible()
        frame = page.frame_locator("iframe")
        expect(frame.get_by_role("combobox", name="Scenario")).to_have_value("drop-sigma")
        expect(frame.get_by_role("button", name="Pause", exact=True)).to_be_visible()
        app = next(f for f in page.frames if f.url.startswith(page_url + "?"))
        app.wait_for_function("() => window.__e2e.stepValue() >= 3", polling=40)
        first = app.evaluate("() => window.__e2e.stepValue()")
        app.wait_for_function("n => window.__e2e.stepValue() > n", arg=first, polling=40)
        assert "scenario=drop-sigma" in app.url
        assert blocked == [] and errors == []
    finally:
        ctx.close()


@pytest.fixture(scope="module")
def course_server():
    """A server as a course would run it behind a proxy (the served page only: the
    offline file needs no server)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "dpo_sim", "serve", "--no-browser", "--port", str(port),
         "--address", "0.0.0.0", "--allow-websocket-origin", "course.example.org",
         "--prefix", "/dpo", "--use-xheaders"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(f"http://127.0.0.1:{port}/dpo/")
        yield port
    finally:
        stop_process(proc)


def test_a_course_server_works_at_its_own_addresses_under_the_prefix(browser, course_server):
    """At 127.0.0.1 and at localhost: neither was given to --allow-websocket-origin, which
    only added a public name. (Only loopback addresses: tests send nothing elsewhere.)"""
    hosts = ["127.0.0.1", "localhost"]
    ctx = browser.new_context()
    ctx.add_init_script(DEEP_QUERY_JS)
    try:
        for n, host in enumerate(hosts):
            base = f"http://{host}:{course_server}/dpo/"
            page = ctx.new_page()
            page.goto(base + f"?scenario=tie&step={3 + n}")
            page.wait_for_function("n => window.__e2e.stepValue() === n", arg=3 + n,
                                   polling=40)
            page.get_by_role("button", name="Step", exact=True).click()
            page.wait_for_function("n => window.__e2e.stepValue() === n", arg=4 + n,
                                   polling=40)
            page.wait_for_function("s => location.search.includes(s)", arg=f"step={4 + n}",
                                   polling=40)
            assert page.url.startswith(base + "?scenario=tie")
            page.get_by_role("button", name="Share", exact=True).click()
            expect(page.get_by_label("Link to this view")).to_have_value(page.url)
            page.close()
    finally:
        ctx.close()
