"""The beta x learning-rate sweep (sim/sweep.py): cells equal single Simulation runs, the
measured instability boundary against the curvature formula (computed here again by
finite differences). Its map, on the real page: tests/test_ui_stack.py."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dpo_sim.sim import dpo, rlhf
from dpo_sim.sim import sweep as sw
from dpo_sim.sim.losses import LossSpec, objective
from dpo_sim.sim.scenario_io import load_scenario
from dpo_sim.sim.simulation import Simulation

ALIGN = load_scenario("align")


@pytest.fixture(scope="module")
def align_sweep():
    pairs = Simulation(ALIGN).pairs
    return sw.run_sweep(pairs, ALIGN.ref_logits, ALIGN.start_logits(), ALIGN.steps)


def test_grid_covers_the_sliders_in_tidy_values():
    b = sw.grid_values(*sw.BETA_RANGE, sw.N_BETA)
    lr = sw.grid_values(*sw.LR_RANGE, sw.N_LR)
    assert len(b) * len(lr) >= 64 * 64
    assert (b[0], b[-1], lr[0], lr[-1]) == (0.05, 5.0, 0.01, 10.0)
    assert all(float(f"{v:.3g}") == v for v in np.concatenate((b, lr)))
    assert np.all(np.diff(b) > 0) and np.all(np.diff(lr) > 0)
    e = sw.cell_edges(b)
    assert np.all(e[:-1] < b) and np.all(b < e[1:])


@pytest.mark.parametrize("cell", [(0, 0), (20, 45), (31, 40), (50, 20), (63, 10), (63, 63)])
def test_cells_equal_single_runs(align_sweep, cell):
    """A cell is the run with its settings: logits, loss, KL, and the distance to pi* (by
    rlhf.kl_to_optimum, the scalar code), to 1e-12."""
    res = align_sweep
    i, j = cell
    b, lr = float(res.beta[i]), float(res.learning_rate[j])
    sim = Simulation(ALIGN.with_settings(beta=b, learning_rate=lr))
    sim.advance(ALIGN.steps)
    rec = sim.record
    np.testing.assert_allclose(res.theta[i, j], sim.theta, atol=1e-12, rtol=0)
    assert res.loss[i, j] == pytest.approx(rec.loss, abs=1e-12)
    np.testing.assert_allclose(res.kl[i, j], rec.kl, atol=1e-12, rtol=0)
    assert res.quantity("kl")[i, j] == pytest.approx(rec.kl.mean(), abs=1e-12)
    assert res.loss0[i, j] == pytest.approx(math.log(2), abs=1e-15)
    opt = rlhf.optimum(sim.pairs, sim.logp_ref, ALIGN.start_logits(), b)
    want = rlhf.kl_to_optimum(rec.probs, opt)
    np.testing.assert_allclose(res.kl_opt[i, j], want, rtol=1e-9, atol=1e-15)


def test_other_losses_and_a_flip_equal_single_runs():
    s = load_scenario("mislabel")
    sim0 = Simulation(s)
    sim0.flip(1)
    for lt, w, eps in (("ipo", True, 0.0), ("robust", True, 0.1), ("hinge", True, 0.0),
                       ("sigmoid", False, 0.0)):
        res = sw.run_sweep(sim0.pairs, s.ref_logits, s.start_logits(), 60, LossSpec(w, lt, eps),
                           betas=[0.3, 2.0], learning_rates=[0.05, 1.0])
        for i, b in enumerate([0.3, 2.0]):
            for j, lr in enumerate([0.05, 1.0]):
                sim = Simulation(s.with_settings(beta=b, learning_rate=lr, loss_type=lt,
                                                 adaptive_weight=w, label_smoothing=eps))
                sim.flip(1)
                sim.advance(60)
                np.testing.assert_allclose(res.theta[i, j], sim.theta, atol=1e-12, rtol=0)
                assert res.loss[i, j] == pytest.approx(sim.record.loss, abs=1e-12)


def test_kl_opt_is_nan_without_a_finite_optimum():
    s = load_scenario("unanimous")
    res = sw.run_sweep(Simulation(s).pairs, s.ref_logits, s.start_logits(), 20,
                       betas=[1.0], learning_rates=[0.5])
    assert np.isnan(res.kl_opt).all() and np.isnan(res.quantity("kl_opt")).all()
    assert np.isfinite(res.quantity("kl")).all()


# -- instability ------------------------------------------------------------------------------
def hessian(theta, logp_ref, pairs, beta, loss, h=1e-5):
    """The Hessian of the mean loss by central differences of sim.dpo.gradient."""
    t = np.asarray(theta, dtype=float).ravel()
    n = t.size
    H = np.zeros((n, n))
    for k in range(n):
        e = np.zeros(n)
        e[k] = h
        gp = dpo.gradient((t + e).reshape(theta.shape), logp_ref, pairs, beta, loss)
        gm = dpo.gradient((t - e).reshape(theta.shape), logp_ref, pairs, beta, loss)
        H[:, k] = (gp - gm).ravel() / (2 * h)
    return 0.5 * (H + H.T)


@pytest.mark.parametrize("sid", ["align", "skewed-reference", "tie"])
def test_the_curvature_formula_is_the_hessian_at_rest(sid):
    """stability_limit against an independent computation: 2 / lambda_max of the Hessian
    of the mean DPO loss at pi* (beta = 1, so lr * beta^2 = lr), by finite differences."""
    s = load_scenario(sid)
    sim = Simulation(s)
    opt = rlhf.optimum(sim.pairs, sim.logp_ref, s.start_logits(), 1.0)
    H = hessian(opt.theta, sim.logp_ref, sim.pairs, 1.0, objective("sigmoid", True))
    want = 2.0 / np.linalg.eigvalsh(H).max()
    lim = sw.stability_limit(sim.pairs)
    assert lim.kind == "lr*beta^2"
    assert lim.value == pytest.approx(want, rel=1e-6)
    # IPO: a quadratic; its Hessian does not depend on beta or on where it is taken
    for beta in (0.3, 3.0):
        H = hessian(s.start_logits() + 0.3, sim.logp_ref, sim.pairs, beta,
                    objective("ipo", True))
        ipo = sw.stability_limit(sim.pairs, LossSpec(loss_type="ipo"))
        assert ipo.kind == "lr"
        assert ipo.value == pytest.approx(2.0 / np.linalg.eigvalsh(H).max(), rel=1e-6)


def test_measured_boundary_follows_lr_beta_squared(align_sweep):
    """Measured on align (DPO, 400 steps): the runs turn unstable at lr * beta^2 = 17.7 to
    19.6 across the 18 beta columns that cross it, the formula says 18.61: every column's
    boundary is within one grid cell of the prediction; well below the line every cell
    settles, well above none does."""
    res = align_sweep
    lim = sw.stability_limit(Simulation(ALIGN).pairs)
    assert lim.value == pytest.approx(18.61, abs=0.01)
    cell = res.learning_rate[1] / res.learning_rate[0]
    b = res.boundary()
    ok = np.isfinite(b)
    assert ok.sum() >= 15                      # the line crosses the grid's corner
    pred = lim.lr(res.beta)
    assert np.all(np.abs(np.log(b[ok] / pred[ok])) <= np.log(cell))
    c = res.learning_rate[None, :] * res.beta[:, None] ** 2
    assert not res.unstable[c < 0.8 * lim.value].any()
    assert res.unstable[c > 1.25 * lim.value].all()
    # the columns that never reach the line are stable throughout
    assert not res.unstable[~ok & (pred > res.learning_rate[-1])].any()


def test_instability_is_seen_in_single_runs_too(align_sweep):
    """A hatched cell's run keeps raising its loss now and then; a cell just below the
    boundary settles with its loss never rising at the end (runs 200 steps longer)."""
    res = align_sweep
    i = len(res.beta) - 1                      # beta = 5
    j = res.first_unstable()[i]
    for jj, unstable in ((j, True), (j - 1, False)):
        assert res.unstable[i, jj] == unstable
        sim = Simulation(ALIGN.with_settings(beta=float(res.beta[i]),
                                             learning_rate=float(res.learning_rate[jj])))
        sim.advance(ALIGN.steps + 200)
        loss = sim.history.column("loss")[-100:]
        rises = np.diff(loss) > 1e-9
        assert rises.any() == unstable


def test_ipo_turns_unstable_at_one_learning_rate_whatever_beta():
    """IPO's curvature does not depend on beta: the boundary is a horizontal line at
    1 / lambda_max = 1.757 on align (docs/model.md: converges at 1.6, diverges at 1.8)."""
    pairs = Simulation(ALIGN).pairs
    lim = sw.stability_limit(pairs, LossSpec(loss_type="ipo"))
    assert lim.value == pytest.approx(6 / (2 + math.sqrt(2)), rel=1e-12)
    res = sw.run_sweep(pairs, ALIGN.ref_logits, ALIGN.start_logits(), ALIGN.steps,
                       LossSpec(loss_type="ipo"), betas=[0.1, 1.0, 4.0],
                       learning_rates=[1.0, 1.6, 1.7, 1.8, 3.0])
    assert res.unstable.tolist() == [[False, False, False, True, True]] * 3
    assert res.diverged[:, 3:].all()


def test_no_curvature_no_limit():
    pairs = Simulation(ALIGN).pairs
    off = sw.stability_limit(pairs, LossSpec(adaptive_weight=False))
    hinge = sw.stability_limit(pairs, LossSpec(loss_type="hinge"))
    assert off.kind is None and hinge.kind is None
    res = sw.run_sweep(pairs, ALIGN.ref_logits, ALIGN.start_logits(), 200,
                       LossSpec(adaptive_weight=False), betas=[0.1, 5.0],
                       learning_rates=[0.01, 10.0])
    assert not res.unstable.any()              # the bare margin's loss falls every step
    rob = sw.stability_limit(pairs, LossSpec(loss_type="robust", label_smoothing=0.1))
    dpo_lim = sw.stability_limit(pairs)
    assert rob.kind == "lr*beta^2" and rob.value > dpo_lim.value


# The map (app/ui/views/sweep.js) is tested on the real page, on both hosts, in
# tests/test_ui_stack.py: its status, the text alternative of every quantity, a key or a
# click loading a cell, a flip, waiting while hidden.
