"""Every sentence the page says to a learner (app/texts.py, the settings' help) is true:
each claim that a number can carry is checked here with that number, computed
independently of the page."""

from __future__ import annotations

import math

import numpy as np
import pytest
from js_ui import NODE, node_ui, statements_job

from dpo_sim.app import texts
from dpo_sim.sim.pairs import Pairs
from dpo_sim.sim.rest import rest_points
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


def _rest_of(s: Scenario, i: int = 0):
    """Row i's rest (sim.rest) and its sentence as the page says it (app/ui/rest_text.js,
    run by Node)."""
    if NODE is None:
        pytest.skip("Node.js (node) is not on PATH: the page's sentences cannot be rendered")
    sim = Simulation(s, keep_history=False)
    rr = rest_points(sim.pairs, sim.beta, sim.learning_rate, sim.loss_spec.loss,
                     sim.record.row_margin, sim.record.grad)
    (said,) = node_ui([statements_job(rr, sim.pairs, sim.record)])
    return rr[i], said[i]["text"]


def test_what_stops_a_row():
    """The strip's sentence for a lone row under DPO, each with its number: a 7:3 row comes
    to rest at sigma(u) = 0.7; a unanimous row never does (its weight only fades); with the
    weight off a row moves at a constant pace; a tie does not move at all."""
    rr, text = _rest_of(_one_prompt([(0, 1, 7, 3)]))
    assert text == texts.REST_OWN["sigmoid"].format(u="+0.847", a="7", b="3", q="0.700")
    sim = Simulation(_one_prompt([(0, 1, 7, 3)]), keep_history=False)
    rec = sim.advance(3000)
    assert rec.row_sigma[0] == pytest.approx(0.7, abs=1e-9)
    assert rec.row_margin[0] == pytest.approx(math.log(7 / 3), abs=1e-9) == rr.u
    assert 7 * (1 - rec.row_sigma[0]) == pytest.approx(3 * rec.row_sigma[0], abs=1e-8)
    # unanimous: the weight only fades, the margin keeps growing
    rr, text = _rest_of(_one_prompt([(0, 1, 10, 0)]))
    assert "Every vote backs the chosen reply" in text and "ever more slowly" in text
    sim = Simulation(_one_prompt([(0, 1, 10, 0)]), keep_history=False)
    u = [sim.advance(500).row_margin[0] for _ in range(6)]
    assert all(b > a for a, b in zip(u, u[1:]))
    assert all(b - a < a - z for z, a, b in zip(u, u[1:], u[2:]))      # ever more slowly
    # weight off: every judgement pulls with weight 1, so u moves at a constant pace: a
    # lone 7:3 row by lr * beta^2 * 2 * (7 - 3) / 10 per step
    rr, text = _rest_of(_one_prompt([(0, 1, 7, 3)], adaptive_weight=False))
    assert rr.pace == pytest.approx(0.5 * 2 * 4 / 10, rel=1e-12) and "+0.4000 per step" in text
    sim = Simulation(_one_prompt([(0, 1, 7, 3)], adaptive_weight=False), keep_history=False)
    u = [sim.advance().row_margin[0] for _ in range(5)]
    np.testing.assert_allclose(np.diff(u), 0.4, rtol=1e-12)
    # a tie pushes neither way at u = 0: nothing moves
    for weight in (True, False):
        rr, text = _rest_of(_one_prompt([(0, 1, 5, 5)], adaptive_weight=weight))
        assert (rr.kind, rr.how, rr.claim) == ("rests", "still", 0.0)
    sim = Simulation(_one_prompt([(0, 1, 5, 5)]), keep_history=False)
    assert np.array_equal(sim.advance(100).probs, np.full((1, 4), 0.25))


def test_at_rest_the_pairs_odds_are_the_references_times_the_vote_odds_to_the_1_over_beta():
    """beta's rule: pi(w)/pi(l) = [pi_ref(w)/pi_ref(l)] * (p/(1-p))^(1/beta), checked on
    every row of the presets without a cycle, after a long run, at beta 4 (tight-leash),
    0.25 (loose-leash) and 1 with a skewed reference."""
    assert "vote odds to the power 1/beta" in BY_NAME["beta"].help
    for pid in ("tight-leash", "loose-leash", "skewed-reference"):
        s = load_scenario(pid)
        sim = Simulation(s, keep_history=False)
        rec = sim.advance(20_000)
        ref = np.exp(sim.logp_ref)
        for r in s.rows:
            x, c, l = r.prompt, r.chosen, r.rejected
            want = (ref[x, c] / ref[x, l]) * (r.votes_chosen / r.votes_rejected) ** (1 / s.beta)
            assert rec.probs[x, c] / rec.probs[x, l] == pytest.approx(want, rel=1e-9), pid
    # tight-leash's first row at step 400: 1.236, near (7/3)^(1/4) = 1.2359, far from the
    # 7/3 = 2.33 the beta = 1 rule ("reference odds times vote odds") would give
    rec = Simulation(load_scenario("tight-leash"), keep_history=False).advance(400)
    assert rec.probs[0, 0] / rec.probs[0, 1] == pytest.approx((7 / 3) ** 0.25, abs=5e-4)


def test_a_larger_beta_needs_a_smaller_learning_rate():
    """The beta help's "a larger beta needs a smaller learning rate": loose-leash with beta
    raised to 4 keeps its learning rate 8 (lr * beta^2 = 128) and never settles: over the
    last 100 of 1,000 steps KL swings between 0.17 and 1.38 and the loss between 2.24 and
    8.89; with the learning rate scaled by 1/16 (beta 0.25 -> 4) it settles."""
    assert "A larger beta needs a smaller learning rate" in BY_NAME["beta"].help
    sim = Simulation(load_scenario("loose-leash").with_settings(beta=4.0), keep_history=False)
    kl, loss = [], []
    for t in range(1, 1001):
        rec = sim.advance()
        if t > 900:
            kl.append(rec.kl[0])
            loss.append(rec.loss)
    assert (round(min(kl), 2), round(max(kl), 2)) == (0.17, 1.38)
    assert (round(min(loss), 2), round(max(loss), 2)) == (2.24, 8.89)
    sim = Simulation(load_scenario("loose-leash").with_settings(beta=4.0, learning_rate=0.5),
                     keep_history=False)
    a = sim.advance(3000).kl.copy()
    assert np.allclose(sim.advance(100).kl, a, atol=1e-12)


def test_the_loss_never_stops_falling_with_unanimous_votes():
    assert "with unanimous votes it never does" in texts.TERMS["loss"]
    sim = Simulation(load_scenario("unanimous"), keep_history=False)
    losses = [sim.advance(1000).loss for _ in range(5)]
    assert all(b < a for a, b in zip(losses, losses[1:])) and losses[-1] > 0


def test_robust_dpo_is_credited_where_it_is_offered():
    for text in (texts.LOSS_TERMS["robust"], BY_NAME["loss_type"].help):
        assert "Chowdhury et al. 2024" in text


def test_the_implicit_reward_is_beta_times_the_log_ratio():
    assert "β times the log of how much more likely" in texts.TERMS["rhat"]
    sim = Simulation(load_scenario("skewed-reference"), keep_history=False)
    rec = sim.advance(50)
    ref = np.exp(sim.logp_ref)
    np.testing.assert_allclose(rec.rewards, sim.beta * np.log(rec.probs / ref), atol=1e-12)


def test_the_diamond_keeps_a_reply_in_no_row_at_its_start_logit():
    """LEGEND_RLHF: 'A reply no row compares keeps its start logit in π*': on a prompt with
    a non-uniform start and a reply in no row, pi*'s logit of that reply is its start logit,
    and the run (which never moves it) ends on pi*."""
    from dpo_sim.sim.rlhf import optimum

    assert "A reply no row compares keeps its start logit in π*" in texts.LEGEND_RLHF
    s = _one_prompt([(0, 1, 7, 3), (1, 2, 6, 4)], init_logits=np.array([[0.3, -0.1, 0.2, 1.5]]))
    sim = Simulation(s, keep_history=False)
    opt = optimum(sim.pairs, sim.logp_ref, s.start_logits(), s.beta)
    assert opt.theta[0, 3] == 1.5
    rec = sim.advance(5000)
    assert sim.theta[0, 3] == 1.5
    np.testing.assert_allclose(rec.probs, opt.probs, atol=1e-12)


@pytest.mark.parametrize("loss", ["sigmoid", "ipo", "hinge", "robust", "off"])
def test_the_pulls_are_votes_times_the_weight_of_the_loss_in_force(loss):
    """TERMS pull_for / pull_against: 'its votes × its weight at u', 'its votes × the weight
    at −u', under every loss, checked with the weights written out in tests/long_run.py."""
    from dpo_sim.sim.dpo import row_pulls
    from long_run import weight

    assert "its votes × its weight at u" in texts.TERMS["pull_for"]
    assert "its votes × the weight at −u" in texts.TERMS["pull_against"]
    kw = dict(adaptive_weight=False) if loss == "off" else dict(loss_type=loss,
                                                                label_smoothing=0.2)
    s = load_scenario("align").with_settings(**kw)
    sim = Simulation(s, keep_history=False)
    rec = sim.advance(7)
    u = rec.row_margin
    p_for, p_against, net = row_pulls(u, sim.pairs, sim.loss_spec.loss, s.beta)
    a, b = sim.pairs.votes_chosen, sim.pairs.votes_rejected
    w = dict(loss_type=s.loss_type, weight_on=s.adaptive_weight, eps=s.label_smoothing,
             beta=s.beta)
    np.testing.assert_allclose(p_for, a * weight(u=u, **w), rtol=1e-12)
    np.testing.assert_allclose(p_against, b * weight(u=-u, **w), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(net, p_for - p_against, rtol=1e-12, atol=1e-15)


def test_kl_to_pi_star_goes_to_0_only_at_a_learning_rate_the_curvature_allows():
    """TERMS kl_rlhf: DPO goes to pi* 'when ... and the learning rate is small enough for the
    loss's curvature there': loose-leash at beta 4 (lr 8, lr * beta^2 = 128 against the limit
    18.6) stays away from pi*; at lr 0.5 it reaches it."""
    from dpo_sim.sim.rlhf import kl_to_optimum, optimum

    assert "small enough for the loss's curvature" in texts.TERMS["kl_rlhf"]
    for lr, reaches in ((8.0, False), (0.5, True)):
        s = load_scenario("loose-leash").with_settings(beta=4.0, learning_rate=lr)
        sim = Simulation(s, keep_history=False)
        opt = optimum(sim.pairs, sim.logp_ref, s.start_logits(), 4.0)
        kl = kl_to_optimum(sim.advance(5000).probs, opt)
        assert (kl.max() < 1e-12) == reaches, (lr, kl)
