"""`dpo-sim serve` sends the page's script once, as a file a browser may keep (app/page.py
``page_script``, app/server.py ``PageScriptHandler``), and each session's document carries
only that page's own fields: what made the served page's first chart ~1.3x quicker than with
the script inside the document (benchmarks/bench_hosts.py)."""

from __future__ import annotations

import hashlib
import json
import re
import urllib.request

from browser import DashboardPage

SCRIPT_TAG = re.compile(r'<script type="text/javascript" src="(dpo-sim-page\.js\?v=([0-9a-f]+))">')


def _get(url: str):
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.read(), dict(r.headers)


def test_the_html_loads_the_script_by_its_version_and_a_browser_may_keep_it(server):
    html, _ = _get(server.url)
    tags = SCRIPT_TAG.findall(html.decode("utf-8"))
    assert len(tags) == 1, html[:3000]
    src, version = tags[0]
    body, headers = _get(server.url + src)
    # the version is the script's own hash: a changed script is a new address
    assert hashlib.sha256(body).hexdigest()[:16] == version
    assert headers["Content-Type"].startswith("text/javascript")
    assert "immutable" in headers["Cache-Control"]
    for other in ("dpo-sim-page.js", "dpo-sim-page.js?v=0123456789abcdef"):
        again, h = _get(server.url + other)
        assert again == body and h["Cache-Control"] == "no-cache"


def test_the_script_holds_the_page_and_the_shared_data_which_with_a_page_s_own_make_the_whole():
    """What a ServedPage's document leaves out is exactly what the script brings."""
    from dpo_sim.app.page import ServedPage, SimPage, page_script

    text = page_script()[0].decode("utf-8")
    assert "globalThis.dpoSimServed = { render }" in text and "root.DPO = factory()" in text
    shared = json.loads(json.loads(text.rsplit("globalThis.dpoSimData = JSON.parse(", 1)[1]
                                   .rsplit(");", 1)[0]))
    whole = json.loads(SimPage(query={"beta": "0.5"}).data)
    own = json.loads(ServedPage(query={"beta": "0.5"}).data)
    assert own.pop("shared") is True
    assert set(own) == {"shareable", "query", "katex_base"}
    assert {**shared, **own} == whole
    # a page with scenarios of its own carries them itself
    mine = ServedPage(scenarios={"x": SimPage().scenarios["align"]})
    assert "shared" not in json.loads(mine.data)


def test_a_served_session_s_document_is_small_and_the_page_runs(browser, server):
    """The websocket brings the document and the first replies: ~600 kB when the document
    carried the page's modules and data, a few kB now."""
    d = DashboardPage(browser, server.url, host="served")
    received, sent = [], []

    def watch(ws):
        ws.on("framereceived", lambda f: received.append(len(f)))
        ws.on("framesent", lambda f: sent.append(f if isinstance(f, str) else ""))

    d.page.on("websocket", watch)
    try:
        d.open("?scenario=align", at=0)
        assert 0 < sum(received) < 64_000, sum(received)
        # and the page sends Panel no browser info (seven messages as it opened, unused)
        assert not [f for f in sent if '"attr":"timezone"' in f], sent
        assert d.act("dpoSim.step(3)")["step"] == 3
    finally:
        d.close()
