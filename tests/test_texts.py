"""Every sentence the page says to a learner (app/texts.py, the settings' help) is true:
each claim that a number can carry is checked here with that number, computed
independently of the page."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dpo_sim.app import texts
from dpo_sim.app.views.formula import rest_text
from dpo_sim.sim.pairs import Pairs
from dpo_sim.sim.scenario import Prompt, Row, Scenario
from dpo_sim.sim.scenario_io import load_scenario
from dpo_sim.sim.settings import BY_NAME
from dpo_sim.sim.simulation import Simulation


def _one_prompt(rows, K=4, **kw) -> Scenario:
    base = dict(id="t", title="t", watch="w", beta=1.0, learning_rate=0.5,
                adaptive_weight=True, prompts=(Prompt("q", tuple("ABCDEFGH"[:K])),),
                ref_logits=np.zeros((1, K)), rows=tuple(Row(0, *r) for r in rows))
    base.update(kw)
    return Scenario(**base)


def test_the_loss_starts_at_log_2_and_accuracy_at_0():
    assert "log 2 = 0.693" in texts.TERMS["loss"] and f"{math.log(2):.3f}" == "0.693"
    rec = Simulation(load_scenario("align")).record
    assert rec.loss == pytest.approx(math.log(2), abs=1e-15)
    assert rec.rewards_accuracies == 0.0 and "0 % at step 0" in texts.TERMS["accuracy"]


def test_the_bare_margin_loss_goes_below_zero_and_keeps_falling():
    assert "below 0 and keeps falling" in texts.TERMS["loss_off"]
    sim = Simulation(load_scenario("drop-sigma"), keep_history=False)
    losses = [sim.advance().loss for _ in range(500)]
    assert losses[0] < 0 and all(b < a for a, b in zip(losses, losses[1:]))


def test_a_7_3_row_counts_ten_times_three_of_them_the_other_way():
    assert "7:3 row counts ten times, three of them the other way" in \
        texts.TERMS["per_judgement"]
    p = Pairs.from_rows([(0, 0, 1, 7, 3)], 1, 2)
    assert p.n_judgements == 10 and p.votes_rejected[0] == 3


def test_the_star_need_not_be_where_dpo_ends():
    """Rows A>B 6:4, B>C 9:1, B>D 9:1: the ★ (most net votes) is on B, yet DPO settles
    with A on top (55.1 % against 36.7 %)."""
    assert "DPO need not end with it on top" in texts.LEGEND
    s = _one_prompt([(0, 1, 6, 4), (1, 2, 9, 1), (1, 3, 9, 1)])
    sim = Simulation(s, keep_history=False)
    assert sim.pairs.preferred()[0].tolist() == [False, True, False, False]
    probs = sim.advance(4000).probs[0]
    assert probs.argmax() == 0
    assert probs[0] == pytest.approx(0.551, abs=5e-4) and probs[1] == pytest.approx(0.367,
                                                                                   abs=5e-4)


def test_prompts_share_no_parameters():
    """Flipping a row of one prompt leaves the other prompt's numbers exactly as they were."""
    assert "one prompt's data never moves another prompt" in texts.TABLE_NOT_LM
    s = load_scenario("align")
    a, b = Simulation(s, keep_history=False), Simulation(s, keep_history=False)
    b.flip(0)                               # a row of prompt 0
    for _ in range(300):
        ra, rb = a.advance(), b.advance()
    assert np.array_equal(ra.probs[1], rb.probs[1]) and ra.kl[1] == rb.kl[1]
    assert not np.array_equal(ra.probs[0], rb.probs[0])


@pytest.mark.parametrize("beta", [0.25, 1.0, 4.0])
def test_with_unanimous_votes_kl_keeps_rising_at_any_beta(beta):
    assert "With unanimous votes it only slows the drift: KL keeps rising at any beta" in \
        BY_NAME["beta"].help
    s = load_scenario("unanimous").with_settings(beta=beta)
    sim = Simulation(s, keep_history=False)
    kl = [sim.advance(400).kl.copy()]
    kl.append(sim.advance(1600).kl.copy())
    assert np.all(kl[1] > kl[0] + 1e-3)


def test_the_weight_shrinks_as_the_model_agrees_and_is_1_when_off():
    assert "shrinks as the model comes to agree" in BY_NAME["adaptive_weight"].help
    sim = Simulation(load_scenario("unanimous"), keep_history=False)
    weights = [sim.advance(50).row_weight[0] for _ in range(10)]
    assert all(b < a for a, b in zip(weights, weights[1:]))
    off = Simulation(load_scenario("drop-sigma"), keep_history=False)
    assert np.all(off.advance(100).row_weight == 1.0)


def test_what_stops_a_row():
    assert rest_text(7, 3, True) == texts.REST_SPLIT.format(a="7", b="3", share="0.7")
    # the split row rests where its pulls balance: sigma(u) = 7/10
    sim = Simulation(_one_prompt([(0, 1, 7, 3)]), keep_history=False)
    rec = sim.advance(3000)
    assert rec.row_sigma[0] == pytest.approx(0.7, abs=1e-9)
    assert 7 * (1 - rec.row_sigma[0]) == pytest.approx(3 * rec.row_sigma[0], abs=1e-8)
    # unanimous: the weight only fades, the margin keeps growing
    assert "every vote backs the chosen reply" in rest_text(10, 0, True)
    assert "every vote backs the rejected reply" in rest_text(0, 2, True)
    sim = Simulation(_one_prompt([(0, 1, 10, 0)]), keep_history=False)
    u = [sim.advance(500).row_margin[0] for _ in range(6)]
    assert all(b > a for a, b in zip(u, u[1:]))
    # weight off: the net pull is a - b at every step
    assert "7 − 3 = 4 at every step" in rest_text(7, 3, False)
    # a tie pushes neither way at u = 0
    assert rest_text(5, 5, True) == rest_text(5, 5, False) == texts.REST_TIE
    sim = Simulation(_one_prompt([(0, 1, 5, 5)]), keep_history=False)
    assert np.array_equal(sim.advance(100).probs, np.full((1, 4), 0.25))


def test_the_implicit_reward_is_beta_times_the_log_ratio():
    assert "β times the log of how much more likely" in texts.TERMS["rhat"]
    sim = Simulation(load_scenario("skewed-reference"), keep_history=False)
    rec = sim.advance(50)
    ref = np.exp(sim.logp_ref)
    np.testing.assert_allclose(rec.rewards, sim.beta * np.log(rec.probs / ref), atol=1e-12)
