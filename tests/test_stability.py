"""Numerical stability: long runs at extreme settings stay finite and normalised."""

import numpy as np
import pytest

from dpo_sim.sim.engine import evaluate
from dpo_sim.sim.losses import LossSpec
from dpo_sim.sim.numerics import log_softmax
from dpo_sim.sim.pairs import Pairs
from dpo_sim.sim.scenario import Prompt, Row, Scenario
from dpo_sim.sim.simulation import Simulation
from dpo_sim.sim.stack import RunStack

#: long enough for the weight-off runs to push theta past 1e5, far beyond where a naive
#: exp overflows (measured: the test asserts more than 1e6 at the end)
STEPS = 40_000
ROWS = (Row(0, 0, 1, 8, 2), Row(0, 0, 2, 9, 1), Row(0, 1, 3, 7, 3),
        Row(1, 2, 0, 6, 4), Row(1, 2, 3, 10, 0), Row(1, 1, 3, 0, 5))
UNIFORM = np.zeros((2, 4))
EXTREME = np.array([[30.0, -30.0, 0.0, -30.0], [-30.0, 30.0, 30.0, -30.0]])


def scenario(adaptive_weight, ref):
    prompts = tuple(Prompt(f"p{i}", ("a", "b", "c", "d")) for i in range(2))
    return Scenario(id="stress", title="stress", watch="", beta=50.0, learning_rate=50.0,
                    adaptive_weight=adaptive_weight, prompts=prompts,
                    ref_logits=ref, rows=ROWS)


def check_record(rec, P, K):
    for name in ("loss", "rewards_chosen", "rewards_rejected", "rewards_margins",
                 "rewards_accuracies", "logps_chosen", "logps_rejected"):
        assert np.isfinite(getattr(rec, name)), name
    for name in ("kl", "probs", "rewards", "row_margin", "row_sigma", "row_weight", "grad"):
        assert np.all(np.isfinite(getattr(rec, name))), name
    assert np.all(np.abs(rec.probs.sum(axis=1) - 1.0) <= 1e-12)
    assert np.all((rec.probs >= 0) & (rec.probs <= 1)) and np.all(rec.kl >= 0)


@pytest.mark.parametrize("adaptive_weight,ref", [(False, UNIFORM), (True, UNIFORM),
                                                 (False, EXTREME)],
                         ids=["weight-off", "weight-on", "weight-off-extreme-ref"])
@pytest.mark.slow
def test_40k_steps_at_beta_50_and_learning_rate_50(adaptive_weight, ref):
    sim = Simulation(scenario(adaptive_weight, ref), keep_history=False)
    P, K, N = 2, 4, len(ROWS)
    theta = np.empty((STEPS + 1, P, K))
    probs = np.empty((STEPS + 1, P, K))
    rewards = np.empty((STEPS + 1, P, K))
    kl = np.empty((STEPS + 1, P))
    rows = np.empty((STEPS + 1, 3, N))
    scalars = np.empty((STEPS + 1, 7))
    rec = sim.record
    for t in range(STEPS + 1):
        if t:
            rec = sim.advance()
        theta[t], probs[t], rewards[t], kl[t] = sim.theta, rec.probs, rec.rewards, rec.kl
        rows[t] = rec.row_margin, rec.row_sigma, rec.row_weight
        scalars[t] = (rec.loss, rec.rewards_chosen, rec.rewards_rejected, rec.rewards_margins,
                      rec.rewards_accuracies, rec.logps_chosen, rec.logps_rejected)
    for name, arr in (("theta", theta), ("probs", probs), ("rewards", rewards), ("kl", kl),
                      ("rows", rows), ("scalars", scalars)):
        assert np.all(np.isfinite(arr)), name
    assert np.abs(probs.sum(axis=2) - 1.0).max() <= 1e-12
    assert probs.min() >= 0.0 and probs.max() <= 1.0 and kl.min() >= 0.0
    ceiling = -log_softmax(ref).min(axis=1)
    assert np.all(kl <= ceiling * (1 + 1e-12))
    check_record(sim.record, P, K)
    # it really went somewhere
    assert np.abs(theta[-1] - ref).max() > 1.0 and kl[-1].max() > 0.1
    if not adaptive_weight:
        # the bare margin never stops pushing: each prompt's winner takes all the mass
        assert probs[-1].max(axis=1).min() > 0.999
        assert np.abs(theta[-1]).max() > 1e6


@pytest.mark.slow
def test_a_stack_at_extreme_settings_stays_finite():
    """RunStack.step, weight on and off, uniform and +-30 references, beta and learning rate
    up to 1000 (10,000 steps: the single runs above cover 100,000)."""
    P, K = 2, 4
    pairs = Pairs.from_rows([r.as_tuple() for r in ROWS], P, K)
    for ref in (UNIFORM, EXTREME):
        batch = RunStack(pairs, ref)
        betas = np.array([50.0, 50.0, 0.01, 1000.0])
        lrs = np.array([50.0, 1000.0, 50.0, 50.0])
        for weight_on in (True, False):
            theta = np.broadcast_to(ref, (4, P, K)).copy()
            for t in range(10_000):
                theta = batch.step(theta, betas, lrs, LossSpec(weight_on))
                if t % 1_000 == 0 or t == 9_999:
                    assert np.all(np.isfinite(theta)), t
                    for i in range(4):
                        check_record(evaluate(theta[i], log_softmax(ref), pairs, betas[i],
                                              LossSpec(weight_on)), P, K)
