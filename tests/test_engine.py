"""The engine against an independent naive computation (tests/naive_dpo.py): gradients by
central finite differences, every recorded metric judgement by judgement."""

import math

import numpy as np
import pytest

import naive_dpo as naive
from dpo_sim.sim.engine import evaluate
from dpo_sim.sim.losses import DPO, LossSpec
from dpo_sim.sim.numerics import log_softmax
from dpo_sim.sim.pairs import Pairs
from dpo_sim.sim.stack import RunStack

CASES = [naive.random_case(np.random.default_rng(seed)) for seed in range(60)]


def _pairs(P, K, rows):
    return Pairs.from_rows(rows, P, K)


@pytest.mark.parametrize("weight_on", [True, False])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_gradient_matches_finite_differences(case, weight_on):
    P, K, rows, ref, theta, beta = CASES[case]
    fd = naive.fd_grad(theta, ref, rows, beta, weight_on)
    scale = max(1.0, np.abs(fd).max())
    rec = evaluate(theta, log_softmax(ref), _pairs(P, K, rows), beta, LossSpec(weight_on))
    batch_grad = RunStack(_pairs(P, K, rows), ref).grad(theta, beta, LossSpec(weight_on))
    assert rec.grad.shape == (P, K) and batch_grad.shape == (P, K)
    np.testing.assert_allclose(rec.grad, fd, rtol=0, atol=2e-7 * scale)
    np.testing.assert_allclose(batch_grad, fd, rtol=0, atol=2e-7 * scale)
    # the gradient is not trivially zero in these cases (the test could fail)
    assert np.abs(fd).max() > 0


@pytest.mark.parametrize("case", range(0, len(CASES), 3))
def test_gradient_of_a_stack_matches_each_run(case):
    """RunStack.grad on (R, P, K) with per-run beta equals the single-run gradients."""
    P, K, rows, ref, theta, beta = CASES[case]
    rng = np.random.default_rng(case)
    R = 5
    thetas = theta + rng.normal(size=(R, P, K))
    betas = beta * np.exp(rng.normal(size=R))
    batch = RunStack(_pairs(P, K, rows), ref)
    g = batch.grad(thetas, betas)
    for i in range(R):
        fd = naive.fd_grad(thetas[i], ref, rows, betas[i])
        np.testing.assert_allclose(g[i], fd, rtol=0, atol=2e-7 * max(1.0, np.abs(fd).max()))


@pytest.mark.parametrize("case", range(len(CASES)))
def test_loss_is_log2_at_the_reference(case):
    P, K, rows, ref, _, beta = CASES[case]
    pairs = _pairs(P, K, rows)
    on = evaluate(ref.copy(), log_softmax(ref), pairs, beta, DPO)
    off = evaluate(ref.copy(), log_softmax(ref), pairs, beta, LossSpec(False))
    assert on.loss == pytest.approx(math.log(2.0), rel=1e-15)
    assert off.loss == 0.0                    # -mean(u) with u = 0 for every judgement
    assert on.rewards_accuracies == 0.0       # strict: no reply is ahead at step 0
    assert np.all(on.kl == 0.0)
    assert np.all(on.row_sigma == 0.5) and np.all(on.row_weight == 0.5)


@pytest.mark.parametrize("weight_on", [True, False])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_every_metric_matches_the_naive_computation(case, weight_on):
    P, K, rows, ref, theta, beta = CASES[case]
    rec = evaluate(theta, log_softmax(ref), _pairs(P, K, rows), beta, LossSpec(weight_on),
                   step=7, learning_rate=0.3)
    want = naive.metrics(theta, ref, rows, beta, weight_on)
    got = rec.scalars()
    for name in ("loss", "rewards/chosen", "rewards/rejected", "rewards/margins",
                 "logps/chosen", "logps/rejected"):
        assert got[name] == pytest.approx(want[name], rel=1e-12, abs=1e-12), name
    assert got["rewards/accuracies"] == pytest.approx(want["rewards/accuracies"], abs=1e-14)
    for name in ("probs", "kl", "rewards", "row_margin", "row_sigma", "row_weight"):
        np.testing.assert_allclose(getattr(rec, name), want[name], rtol=1e-11, atol=1e-13,
                                   err_msg=name)
    assert rec.step == 7 and rec.learning_rate == 0.3 and rec.beta == beta
    assert rec.adaptive_weight is weight_on
    d = rec.to_dict()
    assert d["loss"] == got["loss"] and d["pairs/weight"] == rec.row_weight.tolist()
    assert d["probs"] == rec.probs.tolist() and d["kl"] == rec.kl.tolist()


def test_tails_are_exact():
    """Far from the reference the tiny side of each sigmoid keeps its relative precision
    (no 1 - (1 - tiny)), so a learned hard label still gets its small, correct push."""
    P, K = 1, 3
    rows = [(0, 0, 1, 1, 0), (0, 2, 1, 0, 1)]
    ref = np.zeros((P, K))
    for gap in (5.0, 20.0, 40.0, 300.0):
        theta = np.array([[gap, 0.0, -gap]])
        beta = 1.0
        rec = evaluate(theta, log_softmax(ref), _pairs(P, K, rows), beta)
        want = naive.metrics(theta, ref, rows, beta)
        np.testing.assert_allclose(rec.row_weight, want["row_weight"], rtol=1e-13)
        np.testing.assert_allclose(rec.row_sigma, want["row_sigma"], rtol=1e-13)
        assert rec.loss == pytest.approx(want["loss"], rel=1e-13)
        # row 0: 1 judgement 0 > 1 at u = gap; row 1: 1 judgement 1 > 2 at u = gap
        w = naive.sigma(-gap)
        np.testing.assert_allclose(rec.grad, [[-w / 2, 0.0, w / 2]], rtol=1e-12, atol=1e-12 * w)
        assert rec.grad[0, 0] < 0 < rec.grad[0, 2]


def test_evaluate_and_batch_give_the_same_gradient_to_the_bit():
    """evaluate() (one run, every metric) and RunStack.grad (a stack) run one sequence of
    operations, so they agree exactly, for any leading shape and per-run beta."""
    for P, K, rows, ref, theta, beta in CASES[:30]:
        pairs = _pairs(P, K, rows)
        batch = RunStack(pairs, ref)
        for weight_on in (True, False):
            g1 = evaluate(theta, log_softmax(ref), pairs, beta, LossSpec(weight_on)).grad
            assert np.array_equal(batch.grad(theta, beta, LossSpec(weight_on)), g1)
            stack = np.stack([theta, theta + 1.0, 2.0 * theta, theta[::-1] if P > 1 else -theta,
                              theta, theta[:, ::-1]]).reshape(2, 3, P, K)
            betas = beta * np.array([[1.0, 2.0, 0.5], [3.0, 1.0, 0.1]])
            g = batch.grad(stack, betas, LossSpec(weight_on))
            assert g.shape == (2, 3, P, K)
            for i, j in np.ndindex(2, 3):
                want = evaluate(stack[i, j], log_softmax(ref), pairs, betas[i, j],
                                LossSpec(weight_on)).grad
                assert np.array_equal(g[i, j], want)


def test_step_returns_a_new_array_and_leaves_theta_alone():
    P, K, rows, ref, theta, beta = CASES[3]
    batch = RunStack(_pairs(P, K, rows), ref)
    stack = np.stack([theta] * 4)
    keep = stack.copy()
    new = batch.step(stack, beta, 0.5)
    assert np.array_equal(stack, keep) and new.shape == stack.shape
    g = naive.analytic_grad(theta, ref, rows, beta)
    np.testing.assert_allclose(new[2], theta - 0.5 * g, rtol=1e-12, atol=1e-13)
    again = batch.step(new, beta, 0.5)          # feeding the result back works as well
    np.testing.assert_allclose(
        again[1], new[1] - 0.5 * naive.analytic_grad(new[1], ref, rows, beta),
        rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("shape", [(5,), (3, 2), (2, 3, 8), (4, 1, 2)])
def test_log_softmax_matches_the_naive_one(shape):
    x = np.random.default_rng(len(shape)).normal(scale=20.0, size=shape)
    got = log_softmax(x)
    want = np.array([naive.log_softmax_row(row) for row in x.reshape(-1, shape[-1]).tolist()])
    np.testing.assert_allclose(got.reshape(-1, shape[-1]), want, rtol=1e-13, atol=1e-13)
    assert got.shape == shape


def test_sigmoids_and_softplus_are_exact_in_both_tails():
    from dpo_sim.sim.numerics import sigmoid, sigmoid_pair, sigmoid_softplus, softplus_pair

    u = np.array([-1000.0, -745.0, -700.0, -300.0, -40.0, -1.0, -1e-300, -0.0, 0.0,
                  1e-300, 1e-8, 1.0, 36.0, 40.0, 300.0, 700.0, 744.0, 1000.0])
    s_pos, s_neg = sigmoid_pair(u)
    want_pos = np.array([naive.sigma(x) for x in u])
    want_neg = np.array([naive.sigma(-x) for x in u])
    ok = want_pos > 1.3e-308                      # below, E = exp(-u) is clipped
    np.testing.assert_allclose(s_pos[ok], want_pos[ok], rtol=4e-16, atol=0)
    assert np.all(np.abs(s_pos[~ok] - want_pos[~ok]) < 1.3e-308)
    np.testing.assert_allclose(s_neg, want_neg, rtol=4e-16, atol=0)
    assert sigmoid(np.float64(3.0)) == s_pos[11] ** 0 * naive.sigma(3.0)
    sp_neg, sp_pos = softplus_pair(u)
    np.testing.assert_allclose(sp_neg, [naive.softplus(-x) for x in u], rtol=4e-16, atol=0)
    np.testing.assert_allclose(sp_pos, [naive.softplus(x) for x in u], rtol=4e-16, atol=0)
    a, b, lf, lb = sigmoid_softplus(u)
    assert np.array_equal(a, s_pos) and np.array_equal(b, s_neg)
    np.testing.assert_allclose(lf, sp_neg, rtol=4e-16, atol=0)
    np.testing.assert_allclose(lb, sp_pos, rtol=4e-16, atol=0)
    assert np.all(np.isfinite(a)) and np.all(np.isfinite(lf))


def test_a_new_loss_plugs_in_without_touching_the_engine(monkeypatch):
    """IPO, (h - 1/(2 beta))^2 with h = u / beta, as a subclass of the Loss interface with
    only value and weight: the engine, the stack and the readable maths all use it; the
    gradient matches finite differences of a naive IPO loss, and a stack matches single
    runs to the bit."""
    from dpo_sim.sim import dpo, losses

    class IPO(losses.Loss):
        name = "ipo"

        def value(self, u, beta):
            return (u / beta - 0.5 / beta) ** 2

        def weight(self, u, beta):
            return -2.0 * (u / beta - 0.5 / beta) / beta

    monkeypatch.setitem(losses.LOSS_TYPES, "ipo", IPO())

    def naive_ipo(theta, ref, rows, beta):
        logp = [naive.log_softmax_row(t) for t in np.asarray(theta).tolist()]
        logq = [naive.log_softmax_row(t) for t in np.asarray(ref).tolist()]
        total = math.fsum(a + b for *_, a, b in rows)
        terms = []
        for x, w, l, n in naive.instances(rows):
            h = (logp[x][w] - logq[x][w]) - (logp[x][l] - logq[x][l])
            terms.append(n / total * (h - 1.0 / (2.0 * beta)) ** 2)
        return math.fsum(terms)

    for P, K, rows, ref, theta, beta in CASES[:15]:
        pairs = _pairs(P, K, rows)
        rec = evaluate(theta, log_softmax(ref), pairs, beta, LossSpec(True, "ipo"))
        assert rec.loss == pytest.approx(naive_ipo(theta, ref, rows, beta), rel=1e-11)
        fd = np.zeros_like(theta)
        for idx in np.ndindex(theta.shape):
            tp, tm = theta.copy(), theta.copy()
            tp[idx] += 1e-6
            tm[idx] -= 1e-6
            fd[idx] = (naive_ipo(tp, ref, rows, beta) - naive_ipo(tm, ref, rows, beta)) / 2e-6
        scale = max(1.0, np.abs(fd).max())
        np.testing.assert_allclose(rec.grad, fd, rtol=0, atol=1e-6 * scale)
        readable = dpo.gradient(theta, log_softmax(ref), pairs, beta, IPO())
        np.testing.assert_allclose(rec.grad, readable, rtol=1e-11, atol=1e-12 * scale)
        stack = np.stack([theta, theta * 0.5])
        g = RunStack(pairs, ref).grad(stack, [beta, 2 * beta], LossSpec(True, "ipo"))
        assert np.array_equal(g[0], rec.grad)
        assert np.array_equal(
            g[1], evaluate(theta * 0.5, log_softmax(ref), pairs, 2 * beta,
                           LossSpec(True, "ipo")).grad)


def test_net_votes_count_judgements_for_minus_against():
    """Independent count, row by row, including a flipped row and a 5:5 tie."""
    rows = [(0, 0, 1, 7, 3), (0, 2, 0, 1, 9), (1, 1, 2, 5, 5), (1, 3, 0, 2, 0)]
    pairs = Pairs.from_rows(rows, 2, 4).flip(3)
    expect = np.zeros((2, 4))
    for x, c, r, vc, vr in rows[:3] + [(1, 0, 3, 2, 0)]:
        expect[x, c] += vc - vr
        expect[x, r] -= vc - vr
    assert np.array_equal(pairs.net_votes(), expect)
