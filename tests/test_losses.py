"""The loss variants (sim/losses.py: TRL's sigmoid, ipo, hinge and robust) against
independent computations: per-judgement losses written out in plain Python floats (in the
style of tests/naive_dpo.py), central finite differences of them, the readable maths
(sim/dpo.py), and closed-form rest points. Never the engine's own output."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import naive_dpo as naive
from dpo_sim.sim import dpo, losses
from dpo_sim.sim.engine import evaluate
from dpo_sim.sim.export_csv import to_csv
from dpo_sim.sim.losses import LossSpec
from dpo_sim.sim.numerics import log_softmax
from dpo_sim.sim.pairs import Pairs
from dpo_sim.sim.scenario import Event, Prompt, Row, Scenario
from dpo_sim.sim.scenario_io import build_scenario, load_scenario, scenario_from_config
from dpo_sim.sim.simulation import Simulation
from dpo_sim.sim.stack import RunStack

ROOT = Path(__file__).resolve().parents[1]

#: (loss_type, label_smoothing): every loss, robust with three values of eps
KINDS = [("sigmoid", 0.0), ("ipo", 0.0), ("hinge", 0.0), ("robust", 0.0), ("robust", 0.1),
         ("robust", 0.3)]
KIND_IDS = [f"{k}-{e}" if k == "robust" else k for k, e in KINDS]
CASES = [naive.random_case(np.random.default_rng(1000 + seed)) for seed in range(36)]


# -- the losses written out, one judgement at a time, in plain floats --------------------
def log_sigma(x: float) -> float:
    return -naive.softplus(-x)


def naive_value(kind: str, h: float, beta: float, eps: float, weight_on: bool = True):
    """One judgement's loss at margin h (not scaled), as TRL writes it."""
    u = beta * h
    if not weight_on:
        return -u
    if kind == "sigmoid":
        return -log_sigma(u)
    if kind == "ipo":
        return (h - 1.0 / (2.0 * beta)) ** 2
    if kind == "hinge":
        return max(0.0, 1.0 - u)
    if kind == "robust":
        return (-(1.0 - eps) * log_sigma(u) + eps * log_sigma(-u)) / (1.0 - 2.0 * eps)
    raise KeyError(kind)


def naive_weight(kind: str, h: float, beta: float, eps: float, weight_on: bool = True):
    """-d value / d u of one judgement, differentiated by hand."""
    u = beta * h
    if not weight_on:
        return 1.0
    if kind == "sigmoid":
        return naive.sigma(-u)
    if kind == "ipo":               # value = (u/beta - 1/(2 beta))^2
        return -2.0 * (h - 1.0 / (2.0 * beta)) / beta
    if kind == "hinge":
        return 1.0 if u < 1.0 else 0.0
    if kind == "robust":
        return ((1.0 - eps) * naive.sigma(-u) + eps * naive.sigma(u)) / (1.0 - 2.0 * eps)
    raise KeyError(kind)


def _log_ratios(theta, ref):
    logp = [naive.log_softmax_row(t) for t in np.asarray(theta, float).tolist()]
    logq = [naive.log_softmax_row(t) for t in np.asarray(ref, float).tolist()]
    return [[a - b for a, b in zip(p, q)] for p, q in zip(logp, logq)]


def naive_judgements(theta, ref, rows):
    """(share, h) of every judgement."""
    lr = _log_ratios(theta, ref)
    total = math.fsum(a + b for *_, a, b in rows)
    return [(n / total, lr[x][w] - lr[x][l]) for x, w, l, n in naive.instances(rows)]


def naive_loss(theta, ref, rows, beta, kind, eps, weight_on=True):
    return math.fsum(f * naive_value(kind, h, beta, eps, weight_on)
                     for f, h in naive_judgements(theta, ref, rows))


def naive_fd(theta, ref, rows, beta, kind, eps, weight_on=True, step=1e-6):
    return naive.central_differences(
        lambda t: naive_loss(t, ref, rows, beta, kind, eps, weight_on), theta, step)


def scenario(rows, beta, learning_rate, loss_type="sigmoid", eps=0.0, P=1, K=4,
             events=()) -> Scenario:
    prompts = tuple(Prompt(f"prompt {x}", tuple(f"reply {y}" for y in range(K)))
                    for x in range(P))
    return Scenario(id="losses", title="t", watch="w", beta=beta, learning_rate=learning_rate,
                    adaptive_weight=True, prompts=prompts, ref_logits=np.zeros((P, K)),
                    rows=tuple(Row(*r) for r in rows), loss_type=loss_type,
                    label_smoothing=eps, events=tuple(events))


# -- 1. gradients, values, weights, the readable maths -------------------------------------
@pytest.mark.parametrize("weight_on", [True, False], ids=["weight", "bare"])
@pytest.mark.parametrize("kind, eps", KINDS, ids=KIND_IDS)
def test_gradient_matches_finite_differences_of_the_naive_loss(kind, eps, weight_on):
    """Every random case (a loop, one test per loss: the cases are cheap, the tests' own
    overhead is not)."""
    checked = 0
    for case in range(len(CASES)):
        P, K, rows, ref, theta, beta = CASES[case]
        if kind == "hinge" and any(abs(abs(beta * h) - 1.0) < 1e-4
                                   for _, h in naive_judgements(theta, ref, rows)):
            continue                     # a judgement on the hinge's kink: no derivative
        _check_case(P, K, rows, ref, theta, beta, kind, eps, weight_on)
        checked += 1
    assert checked >= len(CASES) - 2


def _check_case(P, K, rows, ref, theta, beta, kind, eps, weight_on):
    pairs = Pairs.from_rows(rows, P, K)
    fd = naive_fd(theta, ref, rows, beta, kind, eps, weight_on)
    scale = max(1.0, float(np.abs(fd).max()))
    rec = evaluate(theta, log_softmax(ref), pairs, beta, LossSpec(weight_on, kind, eps))
    stack = RunStack(pairs, ref).grad(theta, beta, LossSpec(weight_on, kind, eps))
    np.testing.assert_allclose(rec.grad, fd, rtol=0, atol=1e-6 * scale)
    np.testing.assert_allclose(stack, fd, rtol=0, atol=1e-6 * scale)
    # the engine's gradient is exactly the stack's (one sequence of operations)
    assert np.array_equal(stack, rec.grad)
    # the loss values: the engine's mean against the naive formulas
    terms = [(f, naive_value(kind, h, beta, eps, weight_on))
             for f, h in naive_judgements(theta, ref, rows)]
    size = max(1.0, math.fsum(f * abs(v) for f, v in terms))
    assert abs(rec.loss - math.fsum(f * v for f, v in terms)) <= 1e-12 * size
    # each row's weight and sigma against the hand-differentiated formulas
    lr = _log_ratios(theta, ref)
    hs = [lr[x][c] - lr[x][r] for x, c, r, *_ in rows]
    want_w = [naive_weight(kind, h, beta, eps, weight_on) for h in hs]
    np.testing.assert_allclose(rec.row_weight, want_w, rtol=1e-11,
                               atol=1e-13 * max(1.0, max(map(abs, want_w))))
    np.testing.assert_allclose(rec.row_sigma, [naive.sigma(beta * h) for h in hs],
                               rtol=1e-12, atol=1e-15)
    assert (rec.loss_type, rec.label_smoothing, rec.adaptive_weight) == (kind, eps, weight_on)
    # the gradient is not zero where some row's two sides do not balance (could fail)
    net = [a * naive_weight(kind, h, beta, eps, weight_on)
           - b * naive_weight(kind, -h, beta, eps, weight_on)
           for (*_, a, b), h in zip(rows, hs)]
    if max(map(abs, net)) > 1e-6:
        assert np.abs(fd).max() > 0


@pytest.mark.parametrize("weight_on", [True, False], ids=["weight", "bare"])
@pytest.mark.parametrize("kind, eps", KINDS, ids=KIND_IDS)
def test_the_engine_computes_the_readable_maths_for_every_loss(kind, eps, weight_on):
    """Every recorded number of the fast path within 1e-12 of sim/dpo.py's, which calls
    only loss.value and loss.weight."""
    loss = losses.objective(kind, weight_on, eps)
    for P, K, rows, ref, theta, beta in CASES:
        pairs, logq = Pairs.from_rows(rows, P, K), log_softmax(ref)
        want = dpo.metrics(theta, logq, pairs, beta, loss)
        rec = evaluate(theta, logq, pairs, beta, LossSpec(weight_on, kind, eps))
        got = {**rec.to_dict(), "grad": rec.grad}
        for name in ("loss", "rewards/chosen", "rewards/rejected", "rewards/margins",
                     "rewards/accuracies", "logps/chosen", "logps/rejected"):
            assert got[name] == pytest.approx(want[name], rel=1e-12, abs=1e-12), name
        for name in ("probs", "kl", "rewards", "pairs/margin", "pairs/sigma",
                     "pairs/weight", "grad"):
            scale = max(1.0, float(np.abs(want[name]).max()))
            np.testing.assert_allclose(np.asarray(got[name]), want[name], rtol=1e-12,
                                       atol=1e-12 * scale, err_msg=name)
        assert got["loss_type"] == kind and got["label_smoothing"] == eps


@pytest.mark.parametrize("kind, eps", KINDS, ids=KIND_IDS)
def test_a_stack_is_bit_identical_to_single_runs_for_every_loss(kind, eps):
    """RunStack.step with per-run beta and learning rate, 40 steps, equals Simulation
    run by run, to the bit; and the readable dpo.step to 1e-11."""
    s = load_scenario("align")
    betas, rates = np.array([0.25, 0.5, 1.0, 2.0]), np.array([0.4, 0.3, 0.2, 0.05])
    pairs = Pairs.from_rows([r.as_tuple() for r in s.rows], s.n_prompts, s.n_replies)
    stack = RunStack(pairs, s.ref_logits)
    theta = np.stack([s.start_logits()] * 4)
    sims = [Simulation(s.with_settings(beta=b, learning_rate=r, loss_type=kind,
                                       label_smoothing=eps), keep_history=False)
            for b, r in zip(betas, rates)]
    loss = losses.objective(kind, True, eps)
    readable = theta.copy()
    logq = log_softmax(s.ref_logits)
    for _ in range(40):
        theta = stack.step(theta, betas, rates, LossSpec(True, kind, eps))
        readable = np.stack([dpo.step(readable[i], logq, pairs, betas[i], rates[i], loss)
                             for i in range(4)])
        for sim in sims:
            sim.advance()
    for i, sim in enumerate(sims):
        assert np.array_equal(theta[i], sim.theta), i
    np.testing.assert_allclose(theta, readable, rtol=1e-11, atol=1e-12)
    assert np.abs(theta - s.start_logits()).max() > 0.05          # the runs moved


def test_the_interface_at_the_edges():
    u = np.array([-800.0, -40.0, -1.0, -1e-9, 0.0, 0.5, 1.0, 1.0 + 2e-16, 40.0, 800.0])
    # hinge: subgradient 0 at the kink, on either side of a row
    hinge = losses.objective("hinge", True)
    assert hinge.weight(np.array([1.0]), 1.0).tolist() == [0.0]
    assert hinge.value(np.array([1.0]), 1.0).tolist() == [0.0]
    w_fwd, w_bwd = hinge.pair_weights(np.array([1.0, -1.0, 0.999]), 1.0)
    assert w_fwd.tolist() == [0.0, 1.0, 1.0] and w_bwd.tolist() == [1.0, 0.0, 1.0]
    a, b, e = np.full((3, 3), np.nan)
    w_fwd, w_bwd = hinge.pair_weights(np.array([1.0, -1.0, 0.999]), 1.0, out=(a, b, e))
    assert w_fwd.tolist() == [0.0, 1.0, 1.0] and w_bwd.tolist() == [1.0, 0.0, 1.0]
    # a 7:3 row at u = 1 exactly (theta = [1, 0], uniform reference, beta 1): only the
    # 3 judgements against it pull, in the engine and in a stack alike
    pairs = Pairs.from_rows([(0, 0, 1, 7, 3)], 1, 2)
    rec = evaluate(np.array([[1.0, 0.0]]), log_softmax(np.zeros((1, 2))), pairs, 1.0,
                   LossSpec(True, "hinge"))
    assert rec.row_margin.tolist() == [1.0] and rec.row_weight.tolist() == [0.0]
    assert rec.grad.tolist() == [[0.3, -0.3]] and rec.loss == pytest.approx(0.3 * 2.0)
    stack = RunStack(pairs, np.zeros((1, 2))).grad(np.array([[[1.0, 0.0]]] * 2), 1.0,
                                                    LossSpec(True, "hinge"))
    assert stack.tolist() == [[[0.3, -0.3]]] * 2
    # robust with eps = 0 is DPO to the bit; its weight never falls below eps/(1-2eps)
    sig, rob0 = losses.objective("sigmoid", True), losses.objective("robust", True, 0.0)
    for a, b in zip(sig.pair_terms(u, 1.0), rob0.pair_terms(u, 1.0)):
        assert np.array_equal(a, b)
    rob = losses.objective("robust", True, 0.2)
    assert np.all(rob.weight(u, 1.0) >= 0.2 / 0.6)
    assert np.all(np.isfinite(rob.value(u, 1.0)))
    for x in u.tolist():
        assert rob.value(np.array([x]), 1.0)[0] == pytest.approx(
            naive_value("robust", x, 1.0, 0.2), rel=1e-13, abs=1e-300)
        assert rob.weight(np.array([x]), 1.0)[0] == pytest.approx(
            naive_weight("robust", x, 1.0, 0.2), rel=1e-13)
    # ipo: the weight changes sign at the target u = 1/2
    ipo = losses.objective("ipo", True)
    assert ipo.weight(np.array([0.5]), 0.3).tolist() == [0.0]
    assert ipo.weight(np.array([0.6]), 0.3)[0] < 0 < ipo.weight(np.array([0.4]), 0.3)[0]


def test_objective_picks_and_caches_the_loss():
    for kind in losses.LOSS_TYPES:
        for eps in (0.0, 0.3):
            assert losses.objective(kind, False, eps) is losses.BARE_MARGIN
    a = losses.objective("robust", True, 0.1)
    assert a is losses.objective("robust", True, 0.1)
    assert a.label_smoothing == 0.1 and losses.objective("robust", True, 0.3) is not a
    assert losses.objective("sigmoid", True, 0.3) is losses.SIGMOID
    assert list(losses.LOSS_TYPES) == ["sigmoid", "ipo", "hinge", "robust"]
    with pytest.raises(KeyError, match="unknown loss_type 'cdpo'"):
        losses.objective("cdpo", True)
    for bad in (0.5, -0.1, math.nan):
        with pytest.raises(ValueError, match="label_smoothing"):
            losses.objective("robust", True, bad)
        with pytest.raises(ValueError):
            losses.Robust(bad)


# -- 2. rest points against closed forms ---------------------------------------------------
TREE = [(0, 0, 1, 7, 3), (0, 0, 2, 9, 1), (0, 1, 3, 10, 0)]   # no cycle: 3 rows, 4 replies


@pytest.mark.slow
def test_ipo_rests_at_a_finite_margin_set_by_the_vote_share():
    """h = (2p - 1)/(2 beta) on a row with no cycle: 7:3 -> 0.8, 9:1 -> 1.6 and the
    unanimous row -> 1/(2 beta) = 2 at beta = 0.25 (DPO has no finite optimum there)."""
    beta = 0.25
    sim = Simulation(scenario(TREE, beta, 0.5, "ipo"), keep_history=False)
    sim.advance(20000)
    h = sim.record.row_margin / beta
    want = [(2 * (a / (a + b)) - 1) / (2 * beta) for *_, a, b in TREE]
    assert want == pytest.approx([0.8, 1.6, 2.0])
    np.testing.assert_allclose(h, want, rtol=0, atol=1e-9)
    # at rest: the gradient is zero (each row's two sides balance)
    assert np.abs(sim.record.grad).max() < 1e-12
    # the same data under DPO keeps drifting on the unanimous row
    dpo_run = Simulation(scenario(TREE, beta, 0.5, "sigmoid"), keep_history=False)
    dpo_run.advance(20000)
    assert dpo_run.record.row_margin[2] / beta > 4 * want[2]


@pytest.mark.slow
def test_robust_rests_where_sigma_is_the_corrected_share_and_drifts_past_1_minus_eps():
    eps = 0.1
    rows = [(0, 0, 1, 7, 3), (0, 0, 2, 8, 2), (0, 1, 3, 6, 4)]
    sim = Simulation(scenario(rows, 1.0, 0.5, "robust", eps), keep_history=False)
    sim.advance(20000)
    want = [(a / (a + b) - eps) / (1 - 2 * eps) for *_, a, b in rows]
    assert want == pytest.approx([0.75, 0.875, 0.625])
    np.testing.assert_allclose(sim.record.row_sigma, want, rtol=0, atol=1e-10)
    # a 9:1 row (p = 1 - eps): no finite rest point; u keeps growing, slower and slower
    # (about log t), while the weight falls towards, never below, eps/(1-2eps) = 0.125
    drift = Simulation(scenario([(0, 0, 1, 9, 1)], 1.0, 0.5, "robust", eps, K=2),
                       keep_history=False)
    us, ws = [], []
    for n in (100, 900, 9000, 10000):
        drift.advance(n)
        us.append(float(drift.record.row_margin[0]))
        ws.append(float(drift.record.row_weight[0]))
    gains = np.diff(us)                          # over 900, 9000, 10000 steps
    assert np.all(gains > 0) and us[-1] > 9.4
    assert gains[1] / 9000 < gains[0] / 900 / 5 and gains[2] / 10000 < gains[1] / 9000
    assert all(w > 0.125 for w in ws) and ws[-1] - 0.125 < 1e-4


@pytest.mark.slow
def test_hinge_drives_each_row_to_a_margin_of_1_and_oscillates_there():
    """Whatever the split, a row's majority pulls until |u| = 1; past it only the minority
    pulls (back), so plain gradient steps overshoot and the margin crosses 1 again and
    again, in a band that shrinks with the learning rate."""
    rows = [(0, 0, 1, 7, 3), (0, 0, 2, 9, 1), (0, 1, 3, 6, 4), (1, 0, 1, 3, 7)]
    side = np.array([1.0, 1.0, 1.0, -1.0])          # the majority's side of each row
    bands = []
    for lr in (0.5, 0.1):
        sim = Simulation(scenario(rows, 1.0, lr, "hinge", P=2))
        sim.advance(20000)
        u = sim.history.column("row_margin")[-2000:] * side
        crossings = ((u[1:] - 1.0) * (u[:-1] - 1.0) <= 0).sum(axis=0)
        assert np.all(crossings >= 400), crossings
        assert np.abs(u.mean(axis=0) - 1.0).max() < 0.1
        bands.append(np.abs(u - 1.0).max())
    assert bands[0] < 0.3 and bands[1] < 0.06 and bands[1] < bands[0] / 3
    # a unanimous row alone stops at its first step past u = 1: weight 0, gradient 0
    alone = Simulation(scenario([(0, 0, 1, 10, 0)], 1.0, 0.5, "hinge", K=2))
    alone.advance(200)
    u = alone.history.column("row_margin")[:, 0]
    first = int(np.argmax(u >= 1.0))
    assert 0 < first < 200 and np.all(u[first:] == u[first]) and u[first] < 1.0 + 0.5
    assert np.all(alone.record.grad == 0.0)


# -- 3. conservative DPO is a row with votes ---------------------------------------------
class ConservativeDPO(losses.Loss):
    """Older TRL's sigmoid with label smoothing eps (cDPO), written with NumPy's logaddexp:
    -(1-eps) log sigma(u) - eps log sigma(-u)."""

    name = "sigmoid"

    def __init__(self, eps):
        self.eps = eps

    def value(self, u, beta):
        u = np.asarray(u, dtype=float)
        return (1 - self.eps) * np.logaddexp(0.0, -u) + self.eps * np.logaddexp(0.0, u)

    def weight(self, u, beta):
        u = np.asarray(u, dtype=float)
        return (1 - self.eps) / (1 + np.exp(u)) - self.eps / (1 + np.exp(-u))


def test_conservative_dpo_on_10_0_is_sigmoid_on_9_1(monkeypatch):
    """Each unanimous row a:0 under cDPO with eps = 0.1 is the row 0.9a:0.1a under DPO:
    the same loss, gradient and run (to 1e-12), through Simulation both ways. What counts
    judgements differs on purpose: 10:0 has ten winners, 9:1 nine."""
    hard = [(0, 0, 1, 10, 0), (0, 1, 2, 20, 0), (1, 0, 2, 10, 0)]
    soft = [(0, 0, 1, 9, 1), (0, 1, 2, 18, 2), (1, 0, 2, 9, 1)]
    dpo_run = Simulation(scenario(soft, 0.5, 2.0, "sigmoid", P=2, K=3))
    with monkeypatch.context() as m:
        m.setattr(losses, "objective",
                  lambda loss_type, weight, eps=0.0: ConservativeDPO(0.1))
        cdpo_run = Simulation(scenario(hard, 0.5, 2.0, "sigmoid", P=2, K=3))
        cdpo_run.advance(300)
    dpo_run.advance(300)
    assert np.abs(dpo_run.theta).max() > 1.0                       # it moved
    np.testing.assert_allclose(cdpo_run.theta, dpo_run.theta, rtol=0, atol=1e-12)
    for a, b in zip(cdpo_run.history, dpo_run.history):
        assert a.loss == pytest.approx(b.loss, rel=0, abs=1e-12)
        for name in ("probs", "kl", "rewards", "row_margin", "row_sigma"):
            np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=0,
                                       atol=1e-12, err_msg=name)
    np.testing.assert_allclose(cdpo_run.record.grad, dpo_run.record.grad, rtol=0,
                               atol=1e-12)
    # a row's pull: 10 x cDPO's weight = 9 x sigma(-u) - 1 x sigma(u)
    u = dpo_run.record.row_margin
    np.testing.assert_allclose(10 * cdpo_run.record.row_weight,
                               9 * dpo_run.record.row_weight - 1 / (1 + np.exp(-u)),
                               rtol=0, atol=1e-12)
    assert cdpo_run.record.rewards_accuracies == 1.0
    assert dpo_run.record.rewards_accuracies == pytest.approx(0.9)


# -- 4. the settings: live, scripted, on the command line, in the records ----------------
def test_the_loss_changes_mid_run_the_same_way_by_action_event_and_file():
    base = scenario(TREE, 0.5, 0.5)
    live = Simulation(base)
    live.advance(30)
    live.set(loss_type="robust", label_smoothing=0.2)
    live.advance(20)
    live.set(loss_type="hinge")
    live.advance(10)
    scripted = Simulation(base.with_settings(events=(
        Event(30, set={"loss_type": "robust", "label_smoothing": 0.2}),
        Event(50, set={"loss_type": "hinge"}))))
    scripted.advance(60)
    doc = {"title": "T", "watch": "W", "beta": 0.5, "learning_rate": 0.5,
           "prompts": [{"text": "p", "replies": ["a", "b", "c", "d"]}],
           "pairs": [dict(zip(("prompt", "chosen", "rejected", "votes_chosen",
                               "votes_rejected"), r)) for r in TREE],
           "events": [{"step": 30, "set": {"loss_type": "robust", "label_smoothing": 0.2}},
                      {"step": 50, "set": {"loss_type": "hinge"}}]}
    from_file = Simulation(build_scenario(doc, file="t.toml", id="t"))
    from_file.advance(60)
    replayed = Simulation(live.replay_scenario())
    replayed.advance(60)
    for other in (scripted, from_file, replayed):
        assert [r.to_dict() for r in other.history] == [r.to_dict() for r in live.history]
    kinds = [(r.loss_type, r.label_smoothing) for r in live.history]
    assert kinds == ([("sigmoid", 0.0)] * 30 + [("robust", 0.2)] * 20
                     + [("hinge", 0.2)] * 11)
    # the switch changes the numbers from its step on (record 30 already uses robust)
    plain = Simulation(base)
    plain.advance(60)
    assert plain.history[30].loss != live.history[30].loss
    assert np.array_equal(plain.history[29].probs, live.history[29].probs)
    # the CSV says what ran: loss_type as its index in LOSS_TYPES, then eps
    lines = to_csv(live.history).splitlines()
    assert lines[0].endswith(",loss_type,label_smoothing")
    assert [line.rsplit(",", 2)[1:] for line in lines[1:]] == (
        [["0", "0.0"]] * 30 + [["3", "0.2"]] * 20 + [["2", "0.2"]] * 11)
    cols = live.history.column("loss_type")
    assert cols.tolist() == [0.0] * 30 + [3.0] * 20 + [2.0] * 11


def test_the_command_line_runs_every_loss_and_its_config_replays_it():
    out = subprocess.run([sys.executable, "-m", "dpo_sim", "run", "align", "--steps", "20",
                          "--set", "loss_type=robust", "--set", "label_smoothing=0.25"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = [json.loads(s) for s in out.stdout.splitlines()]
    config, steps = lines[0], lines[1:]
    config.pop("rlhf_probs", None)      # the RLHF optimum the command line adds: not a setting
    assert (config["loss_type"], config["label_smoothing"]) == ("robust", 0.25)
    assert all((s["loss_type"], s["label_smoothing"]) == ("robust", 0.25) for s in steps)
    sim = Simulation(scenario_from_config(config), keep_history=False)
    sim.advance(20)
    d = sim.record.to_dict()
    assert {k: steps[-1][k] for k in d} == d
    # robust's weight never falls below eps/(1-2eps) = 0.5
    assert min(min(s["pairs/weight"]) for s in steps) > 0.5
    bad = subprocess.run([sys.executable, "-m", "dpo_sim", "run", "align", "--steps", "1",
                          "--set", "label_smoothing=0.5"], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode != 0
    assert "label_smoothing: must be a number >= 0 and < 0.5, got 0.5" in bad.stderr


# -- 5. the existing outputs: align by the naive sigmoid formula ---------------------------
def test_align_by_the_command_line_is_the_naive_sigmoid_run():
    """The first 50 steps of `dpo-sim run align` recomputed judgement by judgement with
    DPO's plain formula (tests/naive_dpo.py); the new keys come right after the old ones
    and say what ran."""
    out = subprocess.run([sys.executable, "-m", "dpo_sim", "run", "align", "--steps", "50"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    steps = [json.loads(s) for s in out.stdout.splitlines()[1:]]
    assert len(steps) == 51
    s = load_scenario("align")
    rows = [r.as_tuple() for r in s.rows]
    ref = np.asarray(s.ref_logits, dtype=float)
    theta = s.start_logits()
    for t, d in enumerate(steps):
        want = naive.metrics(theta, ref, rows, s.beta)
        assert d["step"] == t and d["beta"] == s.beta and d["learning_rate"] == 0.5
        for name in ("loss", "rewards/chosen", "rewards/rejected", "rewards/margins",
                     "rewards/accuracies", "logps/chosen", "logps/rejected"):
            assert d[name] == pytest.approx(want[name], rel=1e-12, abs=1e-13), (t, name)
        for key, name in (("probs", "probs"), ("kl", "kl"), ("rewards", "rewards"),
                          ("pairs/margin", "row_margin"), ("pairs/sigma", "row_sigma"),
                          ("pairs/weight", "row_weight")):
            np.testing.assert_allclose(d[key], want[name], rtol=1e-11, atol=1e-13,
                                       err_msg=f"{t} {key}")
        keys = list(d)
        i = keys.index("pairs/weight")
        assert keys[i + 1:i + 3] == ["loss_type", "label_smoothing"]
        assert (d["loss_type"], d["label_smoothing"]) == ("sigmoid", 0.0)
        theta = theta - s.learning_rate * naive.analytic_grad(theta, ref, rows, s.beta)
    assert steps[50]["rewards/accuracies"] == pytest.approx(47 / 60)
