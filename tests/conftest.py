"""Fixtures shared by the test suite. Browser fixtures live in tests/browser.py."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from browser import Server, launch  # noqa: E402


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
    """One `dpo-sim serve` for the session; every page load is its own Panel session."""
    s = Server()
    yield s
    s.stop()
