"""`panel serve app/main.py --static-dirs dpo-sim-static=app/static` (Panel's own command on
the app's entry file, with the package's static folder as docs/hosting.md says) serves the
same dashboard: it opens on align at step 0, Step advances, KaTeX draws the formulas, and
no request leaves the host."""

from __future__ import annotations

import math
import sys

import pytest

from browser import DashboardPage, Server

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def panel_server():
    s = Server(command=[sys.executable, "-m", "panel", "serve", "app/main.py",
                        "--static-dirs", "dpo-sim-static=app/static"], path="main")
    yield s
    s.stop()


def test_panel_serve_on_the_entry_file_serves_the_dashboard(browser, panel_server):
    tab = DashboardPage(browser, panel_server.url).open()
    try:
        assert tab.numbers("loss")["loss"] == pytest.approx(math.log(2), abs=1e-15)
        tab.button("Step").click()
        assert tab.wait_step(1) == 1
        tab.page.wait_for_function("() => window.__e2e.all('.katex').length > 0",
                                   timeout=20_000)      # the formulas, drawn by KaTeX
        assert tab.errors == [] and tab.blocked == []
    finally:
        tab.close()
