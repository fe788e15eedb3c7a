"""A challenge on the real page, both hosts (app/ui/goals.js, views/challenge.js): the two
challenged presets shown, their locked controls disabled with the reason (the slider, the
Flip buttons, Enter on a row, the dpoSim API), a solution and a non-solution played, the
page's verdict held against ``sim.Simulation`` runs checked in Python (tests/test_goals.py's
``first_met``), Reset starting it again, and no serious accessibility violation.
The evaluator, the words and every status are tested in Node (tests/test_goals.py)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from test_goals import first_met

from browser import DashboardPage, axe_violations, host_url
from dpo_sim.app.texts import CHALLENGE_TEXTS as W

pytestmark = pytest.mark.browser
expect.set_options(timeout=20_000)

ONLY_BETA = "This challenge lets you move only β."


def q(d, testid):
    return d.page.locator(f"[data-testid={testid}]").first


def status(d) -> tuple[str, str]:
    return (q(d, "challenge-status").get_attribute("data-state"),
            q(d, "challenge-status").inner_text())


def test_the_challenges_on_the_page(browser, server, host):
    d = DashboardPage(browser, host_url(server.url, host), viewport=(1280, 900), host=host)
    try:
        d.open("?scenario=loose-leash")
        card = q(d, "challenge")
        expect(card).to_be_visible()
        expect(card.get_by_role("heading", name=W["heading"])).to_be_visible()
        goals = d.page.evaluate("() => window.__e2e.all('[data-testid^=goal-]').map(li =>"
                                " [li.dataset.holds, li.innerText.replace(/\\s+/g, ' ')])")
        assert goals == [["false", "○ Not yet: every row right (u > 0 on each row)"],
                         ["true", "✓ Holds now: KL on every prompt at most 0.3"],
                         ["false", "○ Not yet: the step at least 300"]], goals
        # not taken yet: nothing locked, the goals ticked all the same
        assert status(d) == ("off", W["not_taken"].format(lock=ONLY_BETA))
        expect(q(d, "ctl-lr")).to_be_enabled()
        expect(q(d, "flip-0")).to_be_enabled()
        q(d, "challenge-take").click()                 # taken: step 0 again, under its rule
        d.idle()
        expect(q(d, "challenge-take")).to_have_text(W["leave"])
        assert status(d) == ("open", W["open_by"].format(left=300, by_step=300))
        # what is locked, and why, where it is
        expect(q(d, "ctl-lr")).to_be_disabled()
        expect(q(d, "lock-lr")).to_have_text(ONLY_BETA)
        expect(q(d, "ctl-beta")).to_be_enabled()
        expect(q(d, "lock-beta")).to_be_hidden()
        expect(q(d, "flip-0")).to_be_disabled()
        expect(q(d, "lock-flip")).to_have_text(ONLY_BETA)
        for js in ("dpoSim.set({learning_rate: 1})", "dpoSim.flip(0)"):
            err = d.page.evaluate("js => { try { eval(js); return null; } catch (e) {"
                                  " return [e.name, e.message]; } }", js)
            assert err == ["ChallengeError", ONLY_BETA], (js, err)
        d.pair(0).focus()
        d.page.keyboard.press("Enter")                 # the row's own key: refused
        expect(q(d, "challenge-refusal")).to_have_text(ONLY_BETA)
        st = d.state()
        assert st["flipped"] == [] and st["learning_rate"] == 8.0
        assert axe_violations(d.page) == []
        # a non-solution: β at 0.25 -> missed at step 300, the run stops nowhere
        st = d.act("dpoSim.step(320)")
        assert st["step"] == 320 and first_met("loose-leash", {}, 300)[0] is None
        assert status(d) == ("missed", W["missed"].format(by_step=300))
        assert st["challenge"]["state"] == "missed"
        # a solution: β 1.3 on the slider, Reset, 350 steps at once: step 300 checked
        d.page.evaluate("() => { const s = window.__e2e.q('[data-testid=ctl-beta]');"
                        " s.value = '1.3'; s.dispatchEvent(new Event('change')); }")
        d.idle()
        d.button("Reset").click()
        d.idle()
        assert status(d)[0] == "open"
        st = d.act("dpoSim.step(350)")
        assert st["beta"] == 1.3 and st["step"] == 350
        assert first_met("loose-leash", {0: [("set", {"beta": 1.3})]}, 350)[0] == 300
        assert status(d) == ("met", W["met"].format(step=300))
        assert st["challenge"] == {"state": "met", "met_at": 300, "holds": [True, True, True],
                                   "goals": [g[1].split(": ", 1)[1] for g in goals],
                                   "used": [], "by_step": 300}
        expect(q(d, "challenge-said")).to_have_text(W["said_met"].format(step=300))

        # mislabel: flips allowed, nothing else; the right flip by its button, step by step
        d.act("dpoSim.load('mislabel')")
        d.act("dpoSim.takeChallenge()")
        expect(q(d, "flip-1")).to_be_enabled()
        expect(q(d, "ctl-beta")).to_be_disabled()
        q(d, "flip-1").click()
        d.idle()
        st = d.act("for (let i = 0; i < 60; i++) dpoSim.step(1)")
        py, _ = first_met("mislabel", {0: [("flip", 1)]}, 60)
        assert py == 36 and st["challenge"]["met_at"] == py
        assert status(d) == ("met", W["met"].format(step=py))
        # Reset starts it again; no flip this time: missed at 200
        st = d.act("dpoSim.reset(); dpoSim.step(200)")
        assert st["flipped"] == [] and first_met("mislabel", {}, 200)[0] is None
        assert status(d)[0] == "missed"
        # a scenario without a challenge: no card, nothing locked
        d.act("dpoSim.load('align')")
        expect(card).to_be_hidden()
        expect(q(d, "ctl-lr")).to_be_enabled()
        # teacher mode hides the card (hide=challenge): not taken, nothing locked
        d.open("?scenario=loose-leash&hide=challenge")
        d.click_step()                                 # and stays hidden as the page redraws
        assert d.page.evaluate("() => window.__e2e.q('.dpo-part-challenge').hidden")
        expect(q(d, "challenge")).to_be_hidden()
        expect(q(d, "ctl-lr")).to_be_enabled()
        expect(q(d, "flip-0")).to_be_enabled()
        assert d.errors == [] and d.blocked == []
    finally:
        d.close()
