"""The reward-KL frontier (sim/frontier.py): the curve against pi_b computed by hand, the
presets' runs on (and the mislabelled run below) the curve, the beta sweep against single
runs. Its view, on the real page: tests/test_ui_stack.py."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dpo_sim.sim import dpo
from dpo_sim.sim import frontier as fr
from dpo_sim.sim.losses import LossSpec
from dpo_sim.sim.rlhf import fit_bradley_terry
from dpo_sim.sim.scenario_io import load_scenario
from dpo_sim.sim.simulation import Simulation


def by_hand(logits_ref, r, b):
    """pi_b = pi_ref exp(r/b) / Z, its KL to pi_ref and E[r], with plain floats."""
    ref = [math.exp(t) for t in logits_ref]
    ref = [p / sum(ref) for p in ref]
    w = [p * math.exp(ri / b) for p, ri in zip(ref, r)]
    pi = [v / sum(w) for v in w]
    kl = sum(p * math.log(p / q) for p, q in zip(pi, ref))
    return pi, kl, sum(p * ri for p, ri in zip(pi, r))


CASES = [([0.0, 0.0, 0.0, 0.0], [1.3, 0.5, -1.5, -0.9]),
         ([0.4, -1.0, 0.2, 0.7], [0.2, 2.0, -0.3, 0.1]),
         ([0.0, 1.5, -0.5], [-1.0, 0.0, 3.0])]


@pytest.mark.parametrize("logits_ref, r", CASES)
def test_curve_is_pi_b_computed_by_hand(logits_ref, r):
    lp = np.log(np.exp(logits_ref) / np.exp(logits_ref).sum())
    f = fr.frontier(lp, np.array(r))
    # points of the drawn curve, at their own b
    for i in (1, 57, 200, 333, len(f.b) - 2):
        _, kl, e = by_hand(logits_ref, r, float(f.b[i]))
        assert f.kl[i] == pytest.approx(kl, abs=1e-12)
        assert f.reward[i] == pytest.approx(e, abs=1e-12)
    # any b: its KL turned back into the curve's height gives its E
    for b in (0.05, 0.3, 1.0, 4.0, 25.0):
        pi, kl, e = by_hand(logits_ref, r, b)
        lb = fr.tilt(lp, np.array(r), b)
        np.testing.assert_allclose(np.exp(lb), pi, rtol=1e-12)
        assert fr.frontier_reward(f, [kl])[0] == pytest.approx(e, abs=1e-9)
    # the ends: the reference itself, and all the mass on the best replies
    p_ref = np.exp(lp)
    assert f.kl[0] == 0.0 and f.reward[0] == pytest.approx(float(p_ref @ r), abs=1e-15)
    top = int(np.argmax(r))
    assert f.kl_end == pytest.approx(-math.log(p_ref[top]), abs=1e-15)
    assert f.reward[-1] == max(r) == f.best
    assert f.kl[-2] == pytest.approx(f.kl_end, abs=1e-9)       # the grid reaches the end
    assert f.kl[1] < 1e-9                                       # and starts at the reference
    assert np.all(np.diff(f.kl) >= 0) and np.all(np.diff(f.reward) >= 0)


@pytest.mark.parametrize("logits_ref, r", CASES)
def test_no_policy_lies_above_the_curve(logits_ref, r):
    """The curve is the upper edge: random policies, and the vertices of the simplex, all
    have a gap >= 0 (up to rounding)."""
    lp = np.log(np.exp(logits_ref) / np.exp(logits_ref).sum())
    f = fr.frontier(lp, np.array(r))
    rng = np.random.default_rng(5)
    probs = rng.dirichlet(np.full(len(r), 0.4), size=400)
    kl, e = fr.point(probs, lp, np.array(r))
    assert fr.gap(f, kl, e).min() > -1e-12
    # a policy on the curve has gap 0; one with the same KL but worse replies a positive gap
    pi, kl, e = by_hand(logits_ref, r, 0.7)
    assert abs(fr.gap(f, [kl], [e])[0]) < 1e-9
    worst = np.zeros(len(r))
    worst[int(np.argmin(r))] = 1.0
    kl_w, e_w = fr.point(worst, lp, np.array(r))
    assert fr.gap(f, kl_w, e_w) > 0.5


def test_a_flat_reward_has_a_point_for_a_frontier():
    f = fr.frontier(np.log(np.full(3, 1 / 3)), np.array([0.5, 0.5, 0.5]))
    assert f.flat and list(f.kl) == [0.0] and list(f.reward) == [0.5]
    assert fr.frontier_reward(f, [0.0, 0.3]).tolist() == [0.5, 0.5]


def test_a_tie_split_by_an_ulp_ends_on_both_replies():
    """unseen-reply's fitted reward ties its two chosen replies in exact arithmetic; the
    fit may split them by an ulp, which must not halve the mass the curve ends on."""
    lp = np.log([0.25, 0.25, 0.5])
    for r in ([1.0, 1.0, 0.0], [1.0, np.nextafter(1.0, 2.0), 0.0],
              [np.nextafter(1.0, 0.0), 1.0, 0.0]):
        f = fr.frontier(lp, np.array(r))
        assert f.kl_end == pytest.approx(math.log(2.0), abs=1e-15)
        assert abs(f.kl[-2] - math.log(2.0)) < 1e-9     # the curve reaches its end
    # a real gap (1e-9) is not a tie: the curve ends on the best reply alone
    assert fr.frontier(lp, np.array([1.0, 1.0 + 1e-9, 0.0])).kl_end == pytest.approx(
        math.log(4.0), abs=1e-15)


def test_true_reward_defaults_to_the_bradley_terry_fit_and_says_where_there_is_none():
    s = load_scenario("align")
    pairs = Simulation(s).pairs
    tr = fr.true_reward(pairs)
    assert tr.source == "bradley-terry" and tr.finite.all() and tr.linked.all()
    # prompt 0: r0 - r1 = ln(7/3), r0 - r2 = ln 9, r1 - r3 = ln 4 (the vote shares)
    r = tr.reward[0]
    assert r[0] - r[1] == pytest.approx(math.log(7 / 3), abs=1e-12)
    assert r[0] - r[2] == pytest.approx(math.log(9), abs=1e-12)
    assert r[1] - r[3] == pytest.approx(math.log(4), abs=1e-12)
    u = fr.true_reward(Simulation(load_scenario("unanimous")).pairs)
    assert not u.finite.any() and np.isnan(u.reward).all()
    m = load_scenario("mislabel")
    given = fr.true_reward(Simulation(m).pairs, m.true_reward)
    assert given.source == "scenario" and np.array_equal(given.reward, m.true_reward)


def _run(sid, steps=None):
    s = load_scenario(sid)
    sim = Simulation(s)
    sim.advance(s.steps if steps is None else steps)
    return s, sim


def _measure(sid):
    """Per prompt: (end gap, largest path gap, largest path distance in the plot's scaled
    coordinates) against the frontier of the view's r*."""
    s, sim = _run(sid)
    h = sim.history
    tr = fr.true_reward(sim.pairs, s.true_reward)
    out = []
    for x in range(s.n_prompts):
        f = fr.frontier(sim.logp_ref[x], tr.reward[x])
        kl, e = fr.path(h.column("kl")[:, x], h.column("probs")[:, x], tr.reward[x])
        g = fr.gap(f, kl, e)
        d = fr.plot_distance(f, kl, e, float(dpo.kl_ceiling(sim.logp_ref)[x]),
                             f.best - float(tr.reward[x].min()))
        out.append((g[-1], g.max(), d.max(), g.min()))
    return out


@pytest.mark.parametrize("sid", ["tight-leash", "align", "loose-leash"])
def test_leash_presets_end_on_the_curve_and_their_paths_stay_close(sid):
    """Measured (400 steps): end gaps <= 8.1e-5 in reward; the largest vertical gap along
    a path is 0.018 (loose-leash, prompt 2, early on, where the curve is steep); the largest
    distance in the plot's coordinates (each axis's span counting 1: KL 0 to its ceiling,
    r* from its lowest to its highest reply) is 0.0059."""
    for end, path_gap, path_dist, lowest in _measure(sid):
        assert 0 <= end < 1e-4
        assert path_gap < 0.02
        assert path_dist < 0.006
        assert lowest > -1e-12                 # never above the curve


def test_align_converges_onto_the_curve_at_b_equal_beta():
    s, sim = _run("align", 6000)
    tr = fr.true_reward(sim.pairs)
    for x in range(2):
        f = fr.frontier(sim.logp_ref[x], tr.reward[x])
        probs = sim.record.probs[x]
        np.testing.assert_allclose(probs, np.exp(fr.tilt(sim.logp_ref[x], tr.reward[x],
                                                         s.beta)), atol=1e-13)
        kl, e = fr.point(probs, sim.logp_ref[x], tr.reward[x])
        assert abs(fr.gap(f, kl, e)) < 1e-12


def test_mislabel_ends_below_the_frontier_of_its_true_reward():
    """Egg prompt: the run trained on the backwards row ends 2.23 below the curve (of a
    reward spread of 2.8); the Australia prompt, whose true reward is its votes' fit, ends
    on it."""
    (end0, _, _, _), (end1, _, _, _) = _measure("mislabel")
    assert end0 > 2.0
    assert end1 < 1e-4
    # without the backwards row (flipped back) the egg prompt ends far closer to the curve
    s = load_scenario("mislabel")
    sim = Simulation(s)
    sim.flip(1)
    sim.advance(s.steps)
    f = fr.frontier(sim.logp_ref[0], s.true_reward[0])
    kl, e = fr.point(sim.record.probs[0], sim.logp_ref[0], s.true_reward[0])
    assert float(fr.gap(f, kl, e)) < 0.02        # measured: 0.0079


def test_beta_sweep_matches_single_runs():
    s = load_scenario("align")
    pairs = Simulation(s).pairs
    c = s.learning_rate * s.beta ** 2
    sweep = fr.beta_sweep(pairs, s.ref_logits, s.start_logits(), [0.25, 1.0, 4.0], c, 150,
                          LossSpec(loss_type="ipo"))
    for i, b in enumerate([0.25, 1.0, 4.0]):
        sim = Simulation(s.with_settings(beta=b, learning_rate=c / b ** 2, loss_type="ipo"))
        sim.advance(150)
        np.testing.assert_allclose(sweep.probs[i], sim.record.probs, atol=1e-12, rtol=0)
        np.testing.assert_allclose(sweep.kl[i], sim.record.kl, atol=1e-12, rtol=0)
        r = fit_bradley_terry(pairs).reward
        np.testing.assert_allclose(sweep.reward(r)[i], (sim.record.probs * r).sum(axis=1),
                                   atol=1e-12)


# The view (app/ui/views/frontier.js) is tested on the real page, on both hosts, in
# tests/test_ui_stack.py: the readout against this module, the text alternative, a flip.
