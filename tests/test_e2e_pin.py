"""Pin a run on the real page, both hosts (the ``host`` fixture): the control by keyboard,
the pinned run's numbers (its charts' history, its hidden data tables, the bars' outlines)
against the CLI's run with the same settings; a link's pin; Unpin; another scenario clears
it. (The logic, labels and malformed pins: tests/test_pin.py, in Node.)"""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from browser import cli_records

pytestmark = pytest.mark.browser
expect.set_options(timeout=15_000)


def _pin_rows(d, chart: str) -> list[tuple[str, float]]:
    rows = d.page.locator(f"[data-testid={chart}-pin-row]")
    return [(rows.nth(i).locator("th").inner_text(), float(rows.nth(i).locator("td").inner_text()))
            for i in range(rows.count())]


def test_pin_by_keyboard_then_another_beta_then_unpin(open_page):
    """β = 4 to step 60, pinned with the keyboard; then β = 1 from step 0 to step 30: the
    pinned curves are β = 4's (the CLI's numbers), labelled "pinned: β = 4", in the hidden
    tables at the live step; the bars' outlines are β = 4's end; Unpin clears it all."""
    d = open_page("?scenario=align&beta=4&step=60", at=60)
    pin = d.page.locator("[data-testid=pin]")
    expect(pin).to_have_text("Pin this run")
    pin.focus()
    d.page.keyboard.press("Enter")
    expect(pin).to_have_text("Unpin")
    expect(d.page.locator("[data-testid=pin-status]")).to_contain_text("Pinned at step 60: β = 4")
    d.act("dpoSim.set({beta: 1}); dpoSim.reset(); dpoSim.step(30)")
    s = d.state()
    assert s["step"] == 30 and s["beta"] == 1.0
    assert s["pin"]["label"] == "pinned: β = 4" and s["pin"]["step"] == 60
    assert s["pin"]["param"] == "beta:4.0~step:60"
    assert "pin=beta:4.0~step:60" in s["link"]
    expect(d.page.locator("[data-testid=chart-loss-pin-label]")).to_have_text("pinned: β = 4")

    cli = cli_records("align", 60, "--set", "beta=4")
    series = d.page.evaluate("() => dpoSim.pinSeries()")
    assert series["step"] == list(range(61))
    for t in (0, 1, 30, 60):
        assert series["loss"][t] == pytest.approx(cli[t]["loss"], rel=1e-10, abs=1e-14)
        assert series["margin"][t] == pytest.approx(cli[t]["rewards/margins"], rel=1e-10,
                                                    abs=1e-14)
        assert [k[t] for k in series["kl"]] == pytest.approx(cli[t]["kl"], rel=1e-10, abs=1e-14)

    # the hidden tables: the pinned run at the live step (30), to 4 decimals
    d.page.evaluate("() => dpoSim.pause()")
    loss_rows = _pin_rows(d, "chart-loss")
    assert loss_rows[0][0] == "mean over all judgements, pinned: β = 4"
    assert loss_rows[0][1] == pytest.approx(cli[30]["loss"], abs=5e-5)
    kl_rows = _pin_rows(d, "chart-kl")
    assert [v for _, v in kl_rows] == pytest.approx(cli[30]["kl"], abs=5e-5)
    rw = _pin_rows(d, "chart-rewards")
    assert [v for _, v in rw] == pytest.approx(
        [cli[30]["rewards/chosen"], cli[30]["rewards/rejected"], cli[30]["rewards/margins"]],
        abs=5e-5)

    # the bars: one dashed outline per reply, as wide as β = 4's probability at step 60
    for x, probs in enumerate(cli[60]["probs"]):
        drawn = json.loads(d.page.locator(f"[data-testid=bars-{x}]").get_attribute(
            "data-pin-outlines"))
        widths = [w / drawn["scale"] for _, w in drawn["outlines"]]
        assert widths == pytest.approx(probs, abs=1e-9)
    expect(d.page.locator("[data-testid=bars-pin-note]")).to_contain_text("pinned: β = 4")

    # Unpin (the same button, by keyboard): gone from the state, the link, the legend
    pin.focus()
    d.page.keyboard.press("Enter")
    expect(pin).to_have_text("Pin this run")
    s = d.state()
    assert s["pin"] is None and "pin=" not in s["link"]
    expect(d.page.locator("[data-testid=chart-loss-pin-label]")).to_be_hidden()
    assert d.page.locator("[data-testid=bars-0]").get_attribute("data-pin-outlines") == ""
    assert "unpin the run pinned at step 60" in d.log_text()


def test_a_link_with_a_pin_shows_it_and_another_scenario_clears_it(open_page):
    """?...&pin=loss:ipo~step:80 opens with IPO's run to step 80 pinned (the CLI's numbers)
    under the live sigmoid run at step 20; loading another scenario clears the pin."""
    d = open_page("?scenario=align&step=20&pin=loss:ipo~step:80", at=20)
    s = d.state()
    assert s["pin"]["label"] == "pinned: IPO" and s["pin"]["param"] == "loss:ipo~step:80"
    assert s["loss_type"] == "sigmoid"
    cli = cli_records("align", 80, "--set", "loss_type=ipo")
    series = d.page.evaluate("() => dpoSim.pinSeries()")
    for t in (0, 20, 55, 80):
        assert series["loss"][t] == pytest.approx(cli[t]["loss"], rel=1e-10, abs=1e-14)
        assert series["chosen"][t] == pytest.approx(cli[t]["rewards/chosen"], rel=1e-10,
                                                    abs=1e-14)
    assert s["pin"]["probs"] == [pytest.approx(p, rel=1e-10) for p in cli[80]["probs"]]
    assert "the link's pinned run, replayed to step 80" in d.log_text()
    d.load("Mislabel a pair")
    d.idle()
    s = d.state()
    assert s["scenario"] == "mislabel" and s["pin"] is None and "pin=" not in s["link"]
    assert "the pin of align cleared: a pin belongs to its scenario" in d.log_text()
    expect(d.page.locator("[data-testid=pin]")).to_have_text("Pin this run")
