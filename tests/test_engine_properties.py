"""Properties of probabilities, KL, invariances and flips, checked with hypothesis."""

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dpo_sim.sim.engine import evaluate
from dpo_sim.sim.losses import LossSpec
from dpo_sim.sim.numerics import log_softmax
from dpo_sim.sim.pairs import Pairs

logit = st.floats(-30.0, 30.0, allow_nan=False, allow_infinity=False)


@st.composite
def cases(draw):
    """(P, K, rows, ref, theta, beta) with rows that never compare a reply with itself."""
    P = draw(st.integers(1, 4))
    K = draw(st.integers(2, 8))
    n = draw(st.integers(1, 6))
    rows = []
    for _ in range(n):
        x = draw(st.integers(0, P - 1))
        c = draw(st.integers(0, K - 1))
        r = draw(st.integers(0, K - 2))
        r = r + (r >= c)                         # any reply but c
        a, b = draw(st.integers(0, 6)), draw(st.integers(0, 6))
        if a + b == 0:
            a = 1
        rows.append((x, c, r, a, b))
    ref = np.array(draw(st.lists(logit, min_size=P * K, max_size=P * K))).reshape(P, K)
    theta = np.array(draw(st.lists(logit, min_size=P * K, max_size=P * K))).reshape(P, K)
    beta = draw(st.floats(0.01, 50.0))
    return P, K, rows, ref, theta, beta


def _eval(P, K, rows, ref, theta, beta, weight_on=True):
    return evaluate(theta, log_softmax(ref), Pairs.from_rows(rows, P, K), beta,
                    LossSpec(weight_on))


@settings(deadline=None)
@given(cases(), st.booleans())
def test_probabilities_and_kl(case, weight_on):
    P, K, rows, ref, theta, beta = case
    rec = _eval(P, K, rows, ref, theta, beta, weight_on)
    assert np.all(np.abs(rec.probs.sum(axis=1) - 1.0) <= 1e-12)
    assert np.all((rec.probs >= 0.0) & (rec.probs <= 1.0))
    assert np.all(np.isfinite(rec.kl)) and np.all(rec.kl >= 0.0)
    # ceiling: KL(pi || pi_ref) <= log(1 / min pi_ref), per prompt
    logq = log_softmax(ref)
    ceiling = -logq.min(axis=1)
    assert np.all(rec.kl <= ceiling * (1 + 1e-12) + 1e-12)
    # KL = 0 exactly at pi = pi_ref
    assert np.all(_eval(P, K, rows, ref, ref.copy(), beta).kl == 0.0)


@settings(deadline=None)
@given(cases(), st.floats(1e-3, 5.0), st.integers(0, 3))
def test_kl_is_positive_when_the_policy_moved(case, size, which):
    """KL = 0 only if pi = pi_ref: any visible move of one prompt gives KL > 0 there."""
    P, K, rows, ref, _, beta = case
    x = which % P
    theta = ref.copy()
    theta[x, 0] += size                          # a real change of pi(.|x)
    kl = _eval(P, K, rows, ref, theta, beta).kl
    pi, q = np.exp(log_softmax(theta[x])), np.exp(log_softmax(ref[x]))
    if np.abs(pi - q).max() > 1e-6:              # not lost below double precision
        assert kl[x] > 0.0
    assert all(kl[y] == 0.0 for y in range(P) if y != x)


@settings(deadline=None)
@given(cases(), st.lists(st.floats(-50.0, 50.0), min_size=4, max_size=4),
       st.lists(st.floats(-50.0, 50.0), min_size=4, max_size=4), st.booleans())
def test_invariant_under_a_constant_added_to_a_prompts_logits(case, add, add_ref, weight_on):
    P, K, rows, ref, theta, beta = case
    shift = np.array(add[:P])[:, None]
    shift_ref = np.array(add_ref[:P])[:, None]
    a = _eval(P, K, rows, ref, theta, beta, weight_on)
    b = _eval(P, K, rows, ref + shift_ref, theta + shift, beta, weight_on)
    # rounding of |logits| <= 80 scaled by beta <= 50
    tol = 1e-12 * 100 * max(beta, 1.0)
    for name, va in a.scalars().items():
        if name == "rewards/accuracies":
            continue  # a margin that is 0 up to rounding may change sign; checked below
        assert math.isclose(va, b.scalars()[name], rel_tol=1e-9, abs_tol=tol), name
    for name in ("probs", "kl", "rewards", "row_margin", "row_sigma", "row_weight", "grad"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=1e-9, atol=tol,
                                   err_msg=name)
    clear = np.abs(a.row_margin) > 10 * tol
    np.testing.assert_array_equal((a.row_margin > 0)[clear], (b.row_margin > 0)[clear])


@settings(deadline=None)
@given(cases(), st.integers(0, 5), st.booleans())
def test_flipping_a_row_twice_is_the_identity(case, i, weight_on):
    P, K, rows, ref, theta, beta = case
    pairs = Pairs.from_rows(rows, P, K)
    i %= len(rows)
    twice = pairs.flip(i).flip(i)
    for name in ("prompt", "chosen", "rejected", "votes_chosen", "votes_rejected"):
        np.testing.assert_array_equal(getattr(twice, name), getattr(pairs, name))
    a = evaluate(theta, log_softmax(ref), pairs, beta, LossSpec(weight_on))
    b = evaluate(theta, log_softmax(ref), twice, beta, LossSpec(weight_on))
    assert a.to_dict() == b.to_dict()
    np.testing.assert_array_equal(a.grad, b.grad)


@settings(deadline=None)
@given(cases(), st.integers(0, 5), st.booleans())
def test_a_flipped_row_is_the_row_with_its_votes_swapped(case, i, weight_on):
    """Flip swaps the replies and keeps the counts: row "w > l, a:b" flipped holds the same
    judgements as "w > l, b:a" (a judgements l > w, b judgements w > l)."""
    P, K, rows, ref, theta, beta = case
    i %= len(rows)
    x, c, r, a, b = rows[i]
    swapped = list(rows)
    swapped[i] = (x, c, r, b, a)
    pairs = Pairs.from_rows(rows, P, K)
    flipped = pairs.flip(i)
    assert (flipped.chosen[i], flipped.rejected[i]) == (r, c)
    assert (flipped.votes_chosen[i], flipped.votes_rejected[i]) == (a, b)
    logq = log_softmax(ref)
    f = evaluate(theta, logq, flipped, beta, LossSpec(weight_on))
    s = evaluate(theta, logq, Pairs.from_rows(swapped, P, K), beta, LossSpec(weight_on))
    scale = 1.0 + abs(s.loss)
    assert math.isclose(f.loss, s.loss, rel_tol=1e-13, abs_tol=1e-13 * scale)
    np.testing.assert_allclose(f.grad, s.grad, rtol=1e-12,
                               atol=1e-13 * (1.0 + np.abs(s.grad).max()))
    for name in ("rewards/chosen", "rewards/rejected", "logps/chosen", "logps/rejected",
                 "rewards/accuracies"):
        assert math.isclose(f.scalars()[name], s.scalars()[name], rel_tol=1e-12,
                            abs_tol=1e-12 * (1 + abs(s.scalars()[name]))), name
    # the flipped row's margin is the other row's margin reversed, to the bit
    assert f.row_margin[i] == -s.row_margin[i]
    if weight_on:      # the flipped row's sigma(u) is the swapped row's weight sigma(-u)
        assert math.isclose(f.row_sigma[i], s.row_weight[i], rel_tol=1e-15,
                            abs_tol=1.3e-308)
    else:              # the bare margin: every weight is 1, the sigmas still mirror
        assert f.row_weight[i] == s.row_weight[i] == 1.0
        assert math.isclose(f.row_sigma[i], 1.0 - s.row_sigma[i], rel_tol=1e-12,
                            abs_tol=1e-15)
