"""The offline file as `dpo-sim export` writes it, opened from file:// in headless Chromium
with every other request aborted: one file, under the size limit, that runs with nothing
fetched (not even a font).

Everything the page does is tested on both hosts by the same functions (the served page
and this file, served by the test server at /offline): tests/test_e2e_dashboard.py,
test_e2e_url.py, test_e2e_screens.py, test_e2e_embed.py; that its engine is NumPy's to
1e-12: tests/test_js_engine.py and tests/test_protocol.py. What is here is what only the
file has: its size, its scripts, file:// with the network off.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from browser import DashboardPage, assert_readouts, axe_violations, cli_records, files_only

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[1]
MAX_BYTES = 2_500_000


@pytest.fixture(scope="module")
def offline_file(tmp_path_factory) -> Path:
    """`dpo-sim export --out FILE` with no scenario: every preset, align first."""
    out = tmp_path_factory.mktemp("offline") / "dpo-sim.html"
    p = subprocess.run([sys.executable, "-m", "dpo_sim", "export", "--out", str(out)],
                       cwd=ROOT, text=True, capture_output=True, timeout=180)
    assert p.returncode == 0, p.stderr
    assert "interactive simulator" in p.stdout and str(out) in p.stdout
    return out


def test_the_file_is_one_offline_file_under_the_size_limit(offline_file):
    size = offline_file.stat().st_size
    assert size <= MAX_BYTES, size
    text = offline_file.read_text(encoding="utf-8")
    # its scripts are inline (none has a src) and the rest of the document (HTML and CSS)
    # points nowhere: no src=, no <link>, no @import, no url() but data: URLs
    tags = re.findall(r"<script[^>]*>", text)
    assert tags and all("src" not in t for t in tags), tags
    assert '<script type="application/json" id="dpo-data">' in tags
    rest = re.sub(r"<script[^>]*>.*?</script>", "", text, flags=re.S)
    for bad in ("src=", "<link", "@import", "http://", "https://", "fonts.googleapis"):
        assert bad not in rest, bad
    assert not re.search(r"url\((?!['\"]?data:)", rest)


@pytest.mark.parametrize("dark", [False, True])
def test_from_file_it_requests_nothing_else_runs_and_is_accessible(browser, offline_file, dark):
    blocked: list[str] = []
    seen: list[str] = []
    d = DashboardPage(browser, offline_file.as_uri(), host="offline", block_external=False,
                      color_scheme="dark" if dark else "light")
    files_only(d.context, blocked, seen)
    try:
        d.open("?scenario=unanimous&step=30", at=30)
        assert_readouts(d, cli_records("unanimous", 30)[30], "from file://")
        d.click_step()
        d.flip(0).click()
        d.play_until(40)
        with d.page.expect_download() as dl:
            d.button("Download CSV").click()
        assert dl.value.suggested_filename == "dpo-sim-unanimous.csv"
        d.page.click("[data-testid=share]")
        link = d.page.input_value("[data-testid=share-link]")
        assert link.startswith(offline_file.as_uri() + "?scenario=unanimous&events=31:flip:0&step=")
        assert axe_violations(d.page) == []
        assert blocked == [], blocked
        # (a Web Worker made from the page's own script is a blob: URL: it goes nowhere)
        assert [u for u in seen if not u.startswith("blob:")] == [
            offline_file.as_uri() + "?scenario=unanimous&step=30"], seen
        assert d.errors == [], d.errors
    finally:
        d.close()
