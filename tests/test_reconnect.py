"""The served page when its server goes away and comes back (app/ui/reconnect.js; the
offline file has no server to lose): it says so plainly, offers to reload, notices when
the server answers again, and the reload comes back at the same step with the same
numbers (the address holds the run)."""

from __future__ import annotations

import pytest

from browser import DashboardPage, Server, free_port
from dpo_sim.app import texts

pytestmark = pytest.mark.browser


def test_a_server_restart_under_an_open_page(browser):
    port = free_port()
    server = Server(port=port)
    d = DashboardPage(browser, server.url)
    try:
        d.open("?scenario=fix-label")
        d.play_until(30)
        d.flip(2).click()                    # an action mid-run: the address records it
        d.wait_js("() => window.__e2e.values()['flip-2'].pressed === 'true'")
        d.click_step()
        step = d.step()
        before = d.numbers("kl-")
        server.stop()                        # the server goes away
        lost = d.page.locator('[data-testid="connection-lost"]')
        lost.wait_for(state="visible", timeout=20_000)
        assert lost.get_attribute("role") == "alert"
        want = texts.CONNECTION_LOST.format(step=step)
        assert want in lost.inner_text()
        status = d.page.locator('[data-testid="connection-status"]')
        assert status.inner_text() == ""
        server = Server(port=port)           # and comes back on the same address
        d.page.wait_for_function(
            "t => document.querySelector('[data-testid=connection-status]').textContent === t",
            arg=texts.CONNECTION_BACK, timeout=20_000)
        d.page.click('[data-testid="reload"]')
        d.page.wait_for_url(lambda u: f"step={step}" in u)
        assert d.wait_step(step) == step
        d.idle()
        after = d.numbers("kl-")
        assert after == before               # the same numbers, computed again
        assert d.values()["flip-2"]["pressed"] == "true"
    finally:
        d.close()
        server.stop()
