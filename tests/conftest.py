"""Fixtures shared by the test suite. Browser fixtures live in tests/browser.py."""

import os
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import settings

sys.path.insert(0, str(Path(__file__).resolve().parent))

# Property tests: a fixed profile, so every run (CI included) draws the same examples and
# a failure reproduces. HYPOTHESIS_PROFILE=explore draws new random examples each run.
settings.register_profile("ci", derandomize=True, deadline=None, database=None,
                          print_blob=True, max_examples=120)
settings.register_profile("explore", deadline=None, max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

from browser import HOSTS, DashboardPage, Server, host_url, launch  # noqa: E402


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the whole session (each test opens its own context)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


@pytest.fixture(scope="session")
def server():
    """One `dpo-sim serve` for the session; every page load is its own Panel session.
    DPO_SIM_E2E_URL=http://127.0.0.1:PORT/ points the browser tests at a running server."""
    url = os.environ.get("DPO_SIM_E2E_URL")
    if url:
        yield SimpleNamespace(url=url if url.endswith("/") else url + "/", port=None)
        return
    s = Server()
    yield s
    s.stop()


@pytest.fixture(params=HOSTS)
def host(request) -> str:
    """The page's host: "served" (`dpo-sim serve`, NumPy) or "offline" (the exported file,
    served at /offline by the same test server). A test taking it runs once on each."""
    return request.param


@pytest.fixture
def page_url(host, server) -> str:
    return host_url(server.url, host)


@pytest.fixture
def open_page(browser, page_url, host):
    """Factory: a fresh tab (own context, other hosts blocked) on the page of the test's
    host, opened on a query: ``open_page("?scenario=tie&step=3", at=3, viewport=(390, 844),
    mobile=True, color_scheme="dark")``. Every tab is checked for console errors at the end
    (``errors_ok=True`` when a test makes some on purpose)."""
    pages: list[tuple[DashboardPage, bool]] = []

    def make(query: str = "", at: int | None = 0, errors_ok: bool = False,
             **kw) -> DashboardPage:
        d = DashboardPage(browser, page_url, host=host, **kw)
        pages.append((d, errors_ok))
        return d.open(query, at=at)

    yield make
    try:
        for d, ok in pages:
            assert ok or d.errors == [], d.errors
            assert not d.blocked, d.blocked
    finally:
        for d, _ in pages:
            d.close()


@pytest.fixture
def fake_server(monkeypatch):
    """``app.server`` replaced by a recorder of ``serve(**kw)`` calls (no server starts)."""
    import types

    calls = []
    mod = types.ModuleType("dpo_sim.app.server")
    mod.serve = lambda **kw: calls.append(kw)
    monkeypatch.setitem(sys.modules, "dpo_sim.app.server", mod)
    return calls
