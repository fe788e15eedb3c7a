"""The address bar in headless Chromium (issue 4): a link opens where it says, paused, with
the numbers `dpo-sim run` gives; controls rewrite the address; a bad value shows a notice
and the page still works; hide= hides parts; the Share control's link reproduces the page
in a new tab. Every wait is on a condition in the page."""

from __future__ import annotations

import contextlib
import io
import json
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from browser import ROOT, DashboardPage
from dpo_sim.app.cli import main

pytestmark = pytest.mark.browser
expect.set_options(timeout=15_000)

READOUTS = ("step", "loss", "margin", "accuracy", "kl-", "prob-", "rewards-")


@pytest.fixture
def tab(browser, server):
    """Factory: a fresh tab (own context, other hosts blocked) opened on a query; waits
    until the page shows step ``at`` and a Play button (so it is paused)."""
    pages: list[DashboardPage] = []

    def make(query: str = "", at: int = 0, **kw) -> DashboardPage:
        d = DashboardPage(browser, server.url, **kw)
        pages.append(d)
        d.page.goto(d.url + query)
        d.wait_step(at)
        d.button("Play").wait_for(state="visible")
        return d

    yield make
    for d in pages:
        d.close()


def cli_records(scenario: str, steps: int, *extra: str) -> dict[int, dict]:
    """`dpo-sim run SCENARIO --steps N --format jsonl ...`: the command's own main(), run
    in this process (a Python start per call would cost more than the page does)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["run", scenario, "--steps", str(steps), "--format", "jsonl", *extra])
    assert code == 0
    lines = [json.loads(s) for s in out.getvalue().splitlines()[1:]]
    return {d["step"]: d for d in lines}


def expected(rec: dict) -> dict[str, float]:
    exp = {"step": float(rec["step"]), "loss": rec["loss"], "margin": rec["rewards/margins"],
           "accuracy": rec["rewards/accuracies"], "rewards-chosen": rec["rewards/chosen"],
           "rewards-rejected": rec["rewards/rejected"]}
    exp.update({f"kl-{x}": k for x, k in enumerate(rec["kl"])})
    # KL to the RLHF optimum: the CLI's (its own refit per flip) against the page's
    exp.update({f"kl-rlhf-{x}": k for x, k in enumerate(rec["kl_to_rlhf"]) if k is not None})
    exp.update({f"prob-{x}-{y}": p for x, row in enumerate(rec["probs"])
                for y, p in enumerate(row)})
    return exp


def shown(d: DashboardPage) -> dict[str, float]:
    return {k: v for k, v in d.numbers().items() if k.startswith(READOUTS) and v == v}


def search(d: DashboardPage) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(d.page.url).query).items()}


def wait_search(d: DashboardPage, needle: str) -> dict[str, str]:
    d.wait_js("s => decodeURIComponent(location.search).includes(s)", needle)
    return search(d)


# -- a link opens where it says --------------------------------------------------------------
def test_a_simple_link_opens_paused_at_its_step_with_the_cli_numbers(tab):
    d = tab("?scenario=mislabel&beta=0.5&step=40", at=40)
    assert d.scenario_select().evaluate("s => s.options[s.selectedIndex].text") == \
        "Mislabel a pair"
    assert shown(d) == expected(cli_records("mislabel", 40, "--set", "beta=0.5")[40])
    assert d.step() == 40                    # and it stays paused there
    assert search(d)["step"] == "40" and search(d)["beta"] == "0.5"


def test_a_link_with_mid_run_actions_matches_the_cli_on_a_scripted_toml(tab, tmp_path):
    d = tab("?scenario=mislabel&events=5:beta:2.0,10:flip:1,10:weight:off&step=25", at=25)
    toml = tmp_path / "scripted.toml"
    toml.write_text((ROOT / "presets" / "mislabel.toml").read_text() +
                    "\n[[events]]\nstep = 5\nset = { beta = 2.0 }\n"
                    "\n[[events]]\nstep = 10\nflip = 1\n"
                    "\n[[events]]\nstep = 10\nset = { adaptive_weight = false }\n")
    assert shown(d) == expected(cli_records(str(toml), 25)[25])
    expect(d.flip(1)).to_have_attribute("aria-pressed", "true")
    expect(d.button("Adaptive sigma weight: off")).to_be_visible()


# -- controls rewrite the address -----------------------------------------------------------
def test_changing_controls_updates_the_address_bar(tab):
    d = tab()
    assert search(d) == {"scenario": "align"}
    d.flip(2).click()                                   # at step 0: a plain parameter
    assert wait_search(d, "flipped=2")["flipped"] == "2"
    d.step_to(3)
    assert wait_search(d, "step=3")["step"] == "3"
    d.flip(0).click()                                   # mid-run: an event
    assert wait_search(d, "events=3:flip:0")["events"] == "3:flip:0"
    d.load("Drop the sigma weight")
    q = wait_search(d, "scenario=drop-sigma")
    assert q == {"scenario": "drop-sigma"}


# -- bad values and teacher mode --------------------------------------------------------------
def test_a_bad_value_shows_a_notice_hide_hides_parts_and_the_page_still_works(tab):
    d = tab("?scenario=align&beta=abc&step=2&hide=log,charts,sliders,share,pairs", at=2)
    notice = d.page.locator(".dpo-notice").first
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("beta=abc")
    expect(notice).to_contain_text("must be a number > 0 and <= 100")
    expect(d.page.locator("[data-testid=step-log]").first).to_be_hidden()
    expect(d.pair(0)).to_be_hidden()
    expect(d.page.get_by_role("button", name="Share", exact=True)).to_have_count(0)
    expect(d.page.get_by_role("slider", name="beta")).to_have_count(0)
    expect(d.scenario_select()).to_be_visible()         # the picker was not hidden
    d.click_step()
    assert d.step() == 3
    assert shown(d) == expected(cli_records("align", 3)[3])
    q = wait_search(d, "step=3")
    assert "beta" not in q                              # the bad value left the address
    assert q["hide"] == "log,charts,sliders,share,pairs"
    assert d.errors == []


# -- the Share control --------------------------------------------------------------------------
def test_share_gives_a_link_that_reproduces_the_page_in_a_new_tab(tab, browser, server):
    d = tab()
    d.context.grant_permissions(["clipboard-read", "clipboard-write"])
    d.step_to(4)
    d.flip(1).click()
    d.page.get_by_role("slider", name="beta").first.focus()
    d.page.keyboard.press("ArrowRight")                 # beta one notch up, at step 4
    wait_search(d, "4:beta:")
    d.step_to(9)
    wait_search(d, "step=9")
    share = d.page.get_by_role("button", name="Share", exact=True)
    share.focus()
    d.page.keyboard.press("Enter")                      # keyboard-reachable
    expect(share).to_have_attribute("aria-expanded", "true")
    link = d.page.get_by_label("Link to this view")
    expect(link).to_have_value(d.page.url)
    embed = d.page.locator("[data-testid=share-embed]")
    expect(embed).to_have_value(f'<iframe src="{d.page.url.replace("&", "&amp;")}" '
                                'width="100%" height="900" style="border:0" '
                                'title="dpo-sim: Align to preferences"></iframe>')
    d.page.get_by_role("button", name="Copy link").click()
    expect(d.page.locator("[data-testid=share-status]")).to_contain_text("Copied the link")
    assert d.page.evaluate("() => navigator.clipboard.readText()") == d.page.url

    url = link.input_value()
    d.page.keyboard.press("Escape")                     # closes, focus back on Share
    expect(share).to_have_attribute("aria-expanded", "false")
    expect(link).to_be_hidden()
    other = DashboardPage(browser, server.url)
    try:
        other.page.goto(url)
        other.wait_step(9)
        other.button("Play").wait_for(state="visible")
        assert shown(other) == shown(d)
        expect(other.flip(1)).to_have_attribute("aria-pressed", "true")
        assert other.page.url == url
    finally:
        other.close()
