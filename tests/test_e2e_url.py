"""The address bar in headless Chromium, on both hosts (the ``host`` fixture): a link opens
where it says, paused, with the numbers `dpo-sim run` gives; controls rewrite the address
in the link format (app/ui/address.js: scenario, the settings at step 0 by their link
names, flipped=, events=STEP:KIND:VALUE, step=, hide=, autoplay=, theme=); a bad value
shows a notice and the page still works; hide= hides parts; the Share control's link
reproduces the page in a new tab. The same link replays the same run on both hosts.
Every wait is on a condition in the page."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from browser import (
    ROOT,
    DashboardPage,
    assert_readouts,
    assert_state_is,
    cli_records,
    shown_readouts,
)
from dpo_sim.sim.scenario import Event
from dpo_sim.sim.scenario_io import load_scenario
from dpo_sim.sim.simulation import Simulation

pytestmark = pytest.mark.browser
expect.set_options(timeout=15_000)


def search(d: DashboardPage) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(d.page.url).query).items()}


def wait_search(d: DashboardPage, needle: str) -> dict[str, str]:
    d.wait_js("s => decodeURIComponent(location.search).includes(s)", needle)
    return search(d)


# -- a link opens where it says --------------------------------------------------------------
def test_a_simple_link_opens_paused_at_its_step_with_the_cli_numbers(open_page):
    d = open_page("?scenario=mislabel&beta=0.5&step=40", at=40)
    assert d.scenario_select().evaluate("s => s.options[s.selectedIndex].text") == \
        "Mislabel a pair"
    assert_readouts(d, cli_records("mislabel", 40, "--set", "beta=0.5")[40], "the link")
    assert d.steps_seen(300) == [40]                 # and it stays paused there
    assert search(d) == {"scenario": "mislabel", "beta": "0.5", "step": "40"}


def test_a_link_with_mid_run_actions_matches_the_cli_on_a_scripted_toml(open_page, tmp_path):
    d = open_page("?scenario=mislabel&events=5:beta:2.0,10:flip:1,10:weight:off&step=25",
                  at=25)
    toml = tmp_path / "scripted.toml"
    toml.write_text((ROOT / "presets" / "mislabel.toml").read_text() +
                    "\n[[events]]\nstep = 5\nset = { beta = 2.0 }\n"
                    "\n[[events]]\nstep = 10\nflip = 1\n"
                    "\n[[events]]\nstep = 10\nset = { adaptive_weight = false }\n")
    assert_readouts(d, cli_records(str(toml), 25)[25], "the link's actions")
    expect(d.flip(1)).to_have_attribute("aria-pressed", "true")
    expect(d.button("Adaptive sigma weight: off")).to_be_visible()
    log = d.log_text()
    for line in ("step 5 · beta 1 -> 2", "step 10 · flip row 1 (flipped)",
                 "step 10 · sigma weight on -> off"):
        assert line in log, (line, log)


LINK = "?scenario=align&beta=2&events=100:beta:0.2,120:flip:1&step=200"


def test_a_link_gives_the_engine_s_numbers_and_the_log_of_its_actions(open_page):
    d = open_page(LINK, at=200)
    sc = load_scenario("align").with_settings(
        beta=2.0, events=(Event(100, set={"beta": 0.2}), Event(120, flip=1)))
    sim = Simulation(sc)
    sim.advance(200)
    assert_state_is(d.state(), sim, d.tol)
    log = d.log_text()
    assert "step 100 · beta 2 -> 0.2" in log and "step 120 · flip row 1 (flipped)" in log


# -- controls rewrite the address -----------------------------------------------------------
def test_changing_controls_updates_the_address_bar(open_page):
    d = open_page()
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


def test_the_link_written_is_the_link_format_and_a_reload_comes_back(open_page):
    """The exact text of a link after settings, flips and mid-run actions; the address bar
    holds it, and a reload replays the run to the same step and numbers."""
    d = open_page()
    st = d.act("""dpoSim.set({learning_rate: 0.3}); dpoSim.flip(2); dpoSim.step(40);
                  dpoSim.set({beta: 0.25, loss_type: 'ipo'}); dpoSim.step(10);
                  dpoSim.flip(0); dpoSim.step(5)""")
    link = "?scenario=align&lr=0.3&flipped=2&events=40:beta:0.25,40:loss:ipo,50:flip:0&step=55"
    assert st["link"] == link
    assert d.page.evaluate("() => dpoSim.link()") == d.url + link
    d.wait_js("s => location.search === s", link)
    before = shown_readouts(d)
    d.page.reload()
    d.wait_ready()
    st = d.state()
    assert st["step"] == 55 and st["flipped"] == [0, 2] and st["link"] == link
    assert shown_readouts(d) == before
    # a page setting (the speed) travels too
    assert d.act("dpoSim.set({speed: 60})")["link"] == link.replace("&flipped", "&speed=60&flipped")


# -- bad values and teacher mode --------------------------------------------------------------
def test_a_bad_value_shows_a_notice_hide_hides_parts_and_the_page_still_works(open_page):
    d = open_page("?scenario=align&beta=abc&step=2&hide=log,charts,sliders,share,pairs", at=2)
    notice = d.page.locator(".dpo-notice").first
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("beta=abc")
    expect(notice).to_contain_text("must be a number > 0 and <= 100")
    expect(d.page.locator("[data-testid=step-log]").first).to_be_hidden()
    expect(d.pair(0)).to_be_hidden()
    expect(d.page.get_by_role("button", name="Share", exact=True)).to_have_count(0)
    expect(d.page.get_by_role("slider", name="beta")).to_have_count(0)
    expect(d.page.locator("[data-testid=chart-loss]").first).to_be_hidden()
    expect(d.scenario_select()).to_be_visible()         # the picker was not hidden
    expect(d.page.locator("[data-testid=bars-0]").first).to_be_visible()
    d.click_step()
    assert d.step() == 3
    assert_readouts(d, cli_records("align", 3)[3], "after a bad link value")
    q = wait_search(d, "step=3")
    assert "beta" not in q                              # the bad value left the address
    assert q["hide"] == "log,charts,sliders,share,pairs"


def test_bad_link_values_are_ignored_each_with_its_notice(open_page):
    d = open_page("?scenario=align&beta=0&bogus=1&flipped=9&events=3:zap:1&step=5", at=5)
    notes = d.text("notices")
    assert "ignored beta=0: must be a number > 0 and <= 100, got '0'" in notes
    assert "ignored bogus: not a setting of this page" in notes
    assert "ignored flipped=9: row '9' is not a row number from 0 to 5" in notes
    assert "ignored events=3:zap:1: '3:zap:1': the kind must be one of" in notes
    st = d.state()
    assert st["step"] == 5 and st["beta"] == 1.0 and st["flipped"] == []


def test_hide_takes_every_side_part_or_one_control(open_page):
    d = open_page("?hide=sliders,picker,watch,download,share,log")
    expect(d.page.locator(".dpo-side").first).to_be_hidden()
    expect(d.page.locator("[data-part=log]").first).to_be_hidden()
    expect(d.page.locator("[data-testid=bars-0]").first).to_be_visible()
    q = open_page("?hide=beta,charts")
    expect(q.page.locator('[data-setting="beta"]').first).to_be_hidden()
    expect(q.page.locator('[data-setting="learning_rate"]').first).to_be_visible()
    expect(q.page.locator("[data-testid=chart-loss]").first).to_be_hidden()
    assert q.state()["link"] == "?scenario=align&hide=beta,charts"


def test_autoplay_and_speed_from_the_link(open_page):
    d = open_page("?scenario=tie&autoplay=1&speed=60", at=None)
    d.wait_step(30, ">=")
    st = d.page.evaluate("() => dpoSim.state()")
    assert st["playing"] and st["speed"] == 60 and st["scenario"] == "tie"
    expect(d.button("Pause")).to_be_visible()


# -- the Share control --------------------------------------------------------------------------
def test_share_gives_a_link_that_reproduces_the_page_in_a_new_tab(open_page, browser, page_url):
    d = open_page()
    d.context.grant_permissions(["clipboard-read", "clipboard-write"])
    d.step_to(4)
    d.flip(1).click()
    d.page.get_by_role("slider", name="beta").first.focus()
    d.page.keyboard.press("ArrowRight")                 # beta one notch up, at step 4
    d.page.keyboard.press("Tab")                        # (a slider's change lands on leaving)
    wait_search(d, "4:beta:")
    d.step_to(9)
    wait_search(d, "step=9")
    share = d.page.get_by_role("button", name="Share", exact=True)
    share.focus()
    d.page.keyboard.press("Enter")                      # keyboard-reachable
    expect(share).to_have_attribute("aria-expanded", "true")
    link = d.page.get_by_label("Link to this view")
    expect(link).to_have_value(d.page.url)
    assert d.page.url.startswith(page_url + "?scenario=align")
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
    other = DashboardPage(browser, url)
    try:
        other.open(at=9)
        assert shown_readouts(other) == shown_readouts(d)
        expect(other.flip(1)).to_have_attribute("aria-pressed", "true")
        assert other.page.url == url
    finally:
        other.close()


def test_one_link_replays_the_same_run_on_both_hosts(browser, server):
    """The served page's link opened in the offline file (and back): the same step, rows,
    settings and log, the numbers within 1e-12."""
    from browser import host_url

    q = "?scenario=fix-label&lr=0.3&flipped=0&events=20:loss:robust,20:eps:0.2,30:flip:4&step=60"
    pages = {h: DashboardPage(browser, host_url(server.url, h)) for h in ("served", "offline")}
    try:
        st = {h: p.open(q, at=60).state() for h, p in pages.items()}
        a, b = st["served"], st["offline"]
        for k in ("step", "flipped", "beta", "learning_rate", "loss_type", "label_smoothing",
                  "adaptive_weight", "events", "link"):
            assert a[k] == b[k], (k, a[k], b[k])
        assert a["link"] == q
        import numpy as np
        np.testing.assert_allclose(a["probs"], b["probs"], rtol=0, atol=1e-12)
        assert pages["served"].log_text() == pages["offline"].log_text()
    finally:
        for p in pages.values():
            p.close()


def test_every_link_parameter_reads_and_writes_back_the_same_text(open_page):
    """A link with every parameter the format has (the settings by their link names, rows
    flipped at step 0, mid-run actions of every kind, the step, parts hidden, repeats
    collapsed) opens without a notice and writes itself back unchanged."""
    q = ("?scenario=mislabel&beta=0.5&lr=0.3&weight=off&loss=robust&eps=0.1&speed=60"
         "&flipped=0,2&events=5:flip:1,5:beta:2.0,6:lr:0.2,7:weight:on,8:loss:hinge,"
         "8:eps:0.0&step=12&hide=log,beta")
    d = open_page(q + ",log", at=12)
    st = d.state()
    assert d.page.locator("[data-testid=notices]").first.is_hidden()
    assert st["link"] == q and search(d)["hide"] == "log,beta"
    assert (st["beta"], st["learning_rate"], st["loss_type"], st["label_smoothing"],
            st["adaptive_weight"], st["speed"], st["flipped"]) == (
        2.0, 0.2, "hinge", 0.0, True, 60, [0, 1, 2])


def test_a_link_s_actions_without_a_step_stop_at_the_last_and_step_with_autoplay_plays(
        open_page):
    d = open_page("?scenario=align&events=5:beta:0.5", at=5)
    st = d.state()
    assert st["beta"] == 0.5 and not st["playing"]
    e = open_page("?scenario=align&step=10&autoplay=1", at=None)
    e.wait_step(12, ">=")
    assert e.state()["playing"]


def test_a_valid_value_outside_a_slider_s_range_widens_the_slider(open_page):
    d = open_page("?scenario=align&beta=8&lr=0.001")
    assert d.page.locator("[data-testid=notices]").first.is_hidden()
    beta, lr = (d.page.locator(f"[data-testid=ctl-{k}]").first for k in ("beta", "lr"))
    assert beta.get_attribute("max") == "8" and beta.input_value() == "8"
    assert lr.get_attribute("min") == "0.001" and lr.input_value() == "0.001"
    assert d.state()["link"] == "?scenario=align&beta=8.0&lr=0.001"


def test_links_that_cannot_be_used_name_why(open_page):
    d = open_page("?scenario=../presets/align&events=50:flip:1&step=10&hide=nope&autoplay=2",
                  at=10)
    notes = d.text("notices")
    assert "ignored scenario=../presets/align: unknown scenario; known: align," in notes
    assert "ignored events=50:flip:1: an action at step 50 is after step=10" in notes
    assert "ignored hide=nope: unknown part 'nope'; parts: sliders," in notes
    assert "ignored autoplay=2: must be 0 or 1" in notes
    st = d.state()
    assert st["scenario"] == "align" and st["flipped"] == [] and not st["playing"]
