"""The readable maths (sim/dpo.py) is right, and the fast paths compute exactly it.

sim/dpo.py is checked against the naive judgement-by-judgement oracle (tests/naive_dpo.py,
plain Python floats) and its gradient against finite differences of its own loss; then the
engine (sim/engine.py, one run) and the stack of runs (sim/stack.py) are held to it."""

from __future__ import annotations

import numpy as np
import pytest

import naive_dpo as naive
from dpo_sim.sim import dpo
from dpo_sim.sim.engine import evaluate
from dpo_sim.sim.losses import BARE_MARGIN, SIGMOID, LossSpec, objective
from dpo_sim.sim.numerics import log_softmax
from dpo_sim.sim.pairs import Pairs
from dpo_sim.sim.scenario_io import load_scenario
from dpo_sim.sim.simulation import Simulation
from dpo_sim.sim.stack import RunStack

CASES = [naive.random_case(np.random.default_rng(1000 + seed)) for seed in range(40)]
SCALARS = ("loss", "rewards/chosen", "rewards/rejected", "rewards/margins",
           "rewards/accuracies", "logps/chosen", "logps/rejected")


def _loss(weight_on):
    return SIGMOID if weight_on else BARE_MARGIN


@pytest.mark.parametrize("weight_on", [True, False])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_readable_maths_matches_the_naive_oracle(case, weight_on):
    P, K, rows, ref, theta, beta = CASES[case]
    pairs = Pairs.from_rows(rows, P, K)
    got = dpo.metrics(theta, log_softmax(ref), pairs, beta, _loss(weight_on))
    want = naive.metrics(theta, ref, rows, beta, weight_on)
    for name in SCALARS:
        assert got[name] == pytest.approx(want[name], rel=1e-12, abs=1e-12), name
    for mine, theirs in (("probs", "probs"), ("kl", "kl"), ("rewards", "rewards"),
                         ("pairs/margin", "row_margin"), ("pairs/sigma", "row_sigma"),
                         ("pairs/weight", "row_weight")):
        np.testing.assert_allclose(got[mine], want[theirs], rtol=1e-11, atol=1e-13,
                                   err_msg=mine)
    np.testing.assert_allclose(got["grad"], naive.analytic_grad(theta, ref, rows, beta,
                                                                weight_on),
                               rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("weight_on", [True, False])
@pytest.mark.parametrize("case", range(0, len(CASES), 2))
def test_readable_gradient_is_the_derivative_of_the_readable_loss(case, weight_on):
    P, K, rows, ref, theta, beta = CASES[case]
    pairs, logq, loss = Pairs.from_rows(rows, P, K), log_softmax(ref), _loss(weight_on)
    fd = np.zeros_like(theta)
    eps = 1e-6
    for idx in np.ndindex(theta.shape):
        tp, tm = theta.copy(), theta.copy()
        tp[idx] += eps
        tm[idx] -= eps
        fd[idx] = (dpo.dpo_loss(tp, logq, pairs, beta, loss)
                   - dpo.dpo_loss(tm, logq, pairs, beta, loss)) / (2 * eps)
    g = dpo.gradient(theta, logq, pairs, beta, loss)
    if np.abs(naive.analytic_grad(theta, ref, rows, beta, weight_on)).max() > 0:
        assert np.abs(fd).max() > 0          # not a case where both are trivially zero
    np.testing.assert_allclose(g, fd, rtol=0, atol=2e-7 * max(1.0, np.abs(fd).max()))
    # each judgement touches two logits, so a prompt's gradient sums to zero
    np.testing.assert_allclose(g.sum(axis=1), 0.0, atol=1e-14 * max(1.0, np.abs(g).max()))


@pytest.mark.parametrize("weight_on", [True, False])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_the_engine_computes_the_readable_maths(case, weight_on):
    """Every recorded number of the fast path within 1e-12 of the readable one."""
    P, K, rows, ref, theta, beta = CASES[case]
    pairs, logq = Pairs.from_rows(rows, P, K), log_softmax(ref)
    want = dpo.metrics(theta, logq, pairs, beta, objective("sigmoid", weight_on))
    rec = evaluate(theta, logq, pairs, beta, LossSpec(weight_on))
    got = {**rec.to_dict(), "grad": rec.grad}
    for name in SCALARS:
        assert got[name] == pytest.approx(want[name], rel=1e-12, abs=1e-12), name
    for name in ("probs", "kl", "rewards", "pairs/margin", "pairs/sigma", "pairs/weight",
                 "grad"):
        scale = max(1.0, float(np.abs(want[name]).max()))
        np.testing.assert_allclose(np.asarray(got[name]), want[name], rtol=1e-12,
                                   atol=1e-12 * scale, err_msg=name)


def test_a_stack_of_runs_takes_the_readable_step():
    """RunStack.step with per-run beta and learning rate = dpo.step run by run."""
    s = load_scenario("align")
    pairs = Pairs.from_rows([r.as_tuple() for r in s.rows], s.n_prompts, s.n_replies)
    logq = log_softmax(s.ref_logits)
    stack = RunStack(pairs, s.ref_logits)
    betas, rates = np.array([0.1, 0.5, 1.0, 3.0]), np.array([2.0, 1.0, 0.5, 0.05])
    for weight_on in (True, False):
        theta = np.zeros((4, s.n_prompts, s.n_replies))
        readable = theta.copy()
        for _ in range(50):
            theta = stack.step(theta, betas, rates, LossSpec(weight_on))
            readable = np.stack([dpo.step(readable[i], logq, pairs, betas[i], rates[i],
                                          _loss(weight_on)) for i in range(4)])
        assert np.abs(theta).max() > 0.1                      # the runs moved
        np.testing.assert_allclose(theta, readable, rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("preset", ["align", "drop-sigma", "fix-label", "skewed-reference"])
def test_a_whole_preset_run_follows_the_readable_maths(preset):
    """400 updates of a preset (scripted events included) by Simulation and by the
    readable step, side by side: the policies stay within 1e-10."""
    s = load_scenario(preset)
    sim = Simulation(s, keep_history=False)
    theta = s.start_logits()
    logq = log_softmax(s.ref_logits)
    for _t in range(1, 401):
        theta = dpo.step(theta, logq, sim.pairs, sim.beta, sim.learning_rate,
                         objective(sim.loss_type, sim.adaptive_weight))
        sim.advance()
    np.testing.assert_allclose(sim.theta, theta, rtol=0, atol=1e-10)
    assert np.abs(theta - s.start_logits()).max() > 0.5


def test_judgements_unroll_each_row_into_both_sides():
    pairs = Pairs.from_rows([(0, 0, 1, 7, 3), (1, 2, 0, 1, 0)], 2, 3)
    j = dpo.judgements(pairs)
    assert j.prompt.tolist() == [0, 1, 0, 1]
    assert j.winner.tolist() == [0, 2, 1, 0] and j.loser.tolist() == [1, 0, 0, 2]
    assert j.share.tolist() == [7 / 11, 1 / 11, 3 / 11, 0.0]
    assert dpo.kl_ceiling(np.log(np.array([[0.5, 0.25, 0.25]]))).tolist() == [np.log(4)]


@pytest.mark.parametrize("weight_on", [True, False])
@pytest.mark.parametrize("case", range(0, len(CASES), 2))
def test_stored_row_metrics_are_trl_on_the_rows_as_stored(case, weight_on):
    """Each row once, its chosen reply the winner, votes ignored: a plain loop."""
    import math

    from dpo_sim.sim.engine import stored_row_metrics

    P, K, rows, ref, theta, beta = CASES[case]
    pairs, logq = Pairs.from_rows(rows, P, K), log_softmax(ref)
    logp = [naive.log_softmax_row(t) for t in np.asarray(theta).tolist()]
    lq = [naive.log_softmax_row(t) for t in np.asarray(ref).tolist()]
    want = {k: [] for k in ("loss", "rewards/chosen", "rewards/rejected", "rewards/margins",
                            "rewards/accuracies", "logps/chosen", "logps/rejected")}
    for x, c, r, _, _ in rows:
        rc, rr = beta * (logp[x][c] - lq[x][c]), beta * (logp[x][r] - lq[x][r])
        u = rc - rr
        want["loss"].append(naive.softplus(-u) if weight_on else -u)
        want["rewards/chosen"].append(rc)
        want["rewards/rejected"].append(rr)
        want["rewards/margins"].append(u)
        want["rewards/accuracies"].append(1.0 if u > 0 else 0.0)
        want["logps/chosen"].append(logp[x][c])
        want["logps/rejected"].append(logp[x][r])
    readable = dpo.stored_row_metrics(theta, logq, pairs, beta, _loss(weight_on))
    fast = stored_row_metrics(evaluate(theta, logq, pairs, beta, LossSpec(weight_on)), pairs,
                              _loss(weight_on))
    for k, v in want.items():
        w = math.fsum(v) / len(v)
        assert readable[k] == pytest.approx(w, rel=1e-11, abs=1e-12), k
        assert fast[k] == pytest.approx(w, rel=1e-11, abs=1e-12), k


def test_in_align_trl_on_the_rows_reaches_100_percent_while_judgements_stop_at_47_of_60():
    from dpo_sim.sim.engine import stored_row_metrics

    s = load_scenario("align")
    sim = Simulation(s, keep_history=False)
    rec = sim.advance(3000)
    rows = stored_row_metrics(rec, sim.pairs, SIGMOID)
    majority = sum(max(r.votes_chosen, r.votes_rejected) for r in s.rows)
    total = sum(r.votes_chosen + r.votes_rejected for r in s.rows)
    assert (majority, total) == (47, 60)
    assert rec.rewards_accuracies == pytest.approx(47 / 60, abs=1e-15)
    assert rows["rewards/accuracies"] == 1.0
    # the per-judgement loss rests at the mean binary entropy of the vote shares
    shares = [r.votes_chosen / (r.votes_chosen + r.votes_rejected) for r in s.rows]
    entropy = np.mean([-(p * np.log(p) + (1 - p) * np.log(1 - p)) for p in shares])
    assert rec.loss == pytest.approx(entropy, abs=1e-9)
    assert rows["loss"] < rec.loss - 0.2


def test_row_pulls_balance_at_rest_and_never_for_a_unanimous_row():
    s = load_scenario("align")
    sim = Simulation(s, keep_history=False)
    rec = sim.advance(3000)
    pull_for, pull_against, net = dpo.row_pulls(rec.row_margin, sim.pairs, SIGMOID, sim.beta)
    np.testing.assert_allclose(pull_for, [r.votes_chosen * (1 - r.votes_chosen /
                                                            (r.votes_chosen + r.votes_rejected))
                                          for r in s.rows], rtol=1e-9)
    assert np.abs(net).max() < 1e-9 and pull_against.min() > 0.5
    u = load_scenario("unanimous")
    sim = Simulation(u, keep_history=False)
    rec = sim.advance(3000)
    _, against, net = dpo.row_pulls(rec.row_margin, sim.pairs, SIGMOID, sim.beta)
    assert np.all(against == 0) and np.all(net > 0)
