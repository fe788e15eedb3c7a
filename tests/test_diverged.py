"""A run that diverges (IPO with a learning rate too large for its curvature) stops at its
last finite step, says why in one line on the command line (exit 2, the finite steps kept)
and in an alert on the page (both hosts), and every clause of what the page says is
checked here."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

import dpo_sim
from dpo_sim.sim.engine import evaluate
from dpo_sim.sim.losses import LossSpec
from dpo_sim.sim.scenario import Event
from dpo_sim.sim.settings import BY_NAME
from dpo_sim.sim.simulation import Diverged, Simulation
from helpers import scenario

PY = sys.executable
IPO_LR8 = dict(loss_type="ipo")          # loose-leash: beta 0.25, learning_rate 8
LAST_FINITE = 169                        # found by running it; the tests check why


def _ipo_run():
    return Simulation(dpo_sim.load_scenario("loose-leash", **IPO_LR8))


def _finite_losses(sim, limit=10_000):
    losses = [sim.record.loss]
    with np.errstate(over="ignore", invalid="ignore"):
        try:
            for _ in range(limit):
                losses.append(sim.advance().loss)
        except Diverged as e:
            return np.array(losses), e
    return np.array(losses), None


def test_the_run_stops_at_its_last_finite_step_and_the_next_one_is_not_finite():
    sim = _ipo_run()
    losses, err = _finite_losses(sim)
    assert err is not None and err.step == LAST_FINITE + 1
    assert sim.t == LAST_FINITE and len(sim.history) == LAST_FINITE + 1
    assert np.isfinite(losses).all() and np.isfinite(sim.theta).all()
    assert np.isfinite(sim.record.grad).all()
    # the update the run refused, done by hand, really leaves the loss non-finite
    theta = sim.theta - sim.learning_rate * sim.record.grad
    with np.errstate(over="ignore", invalid="ignore"):
        rec = evaluate(theta, sim.logp_ref, sim.pairs, sim.beta, LossSpec(loss_type="ipo"))
    assert not math.isfinite(rec.loss)


def test_what_the_page_says_about_it_holds():
    """'Each update overshoots, further than the one before': the loss grows at every
    step, and each row's IPO residual h - 1/(2 beta) changes sign at every step (it jumps
    past its target) while its size grows."""
    sim = _ipo_run()
    losses, _ = _finite_losses(sim)
    assert (np.diff(losses) > 0).all()
    h = np.array([r.row_margin for r in sim.history]) / sim.beta   # u = beta h
    residual = h - 1 / (2 * sim.beta)
    sizes = np.abs(residual).max(axis=1)
    assert (np.diff(sizes[1:]) > 0).all()
    big = np.argmax(np.abs(residual[-1]))
    signs = np.sign(residual[1:, big])
    assert (signs[1:] == -signs[:-1]).all()


@pytest.mark.parametrize("lr", [0.5, 1.0])
def test_a_lower_learning_rate_does_not_diverge(lr):
    """'Lower the learning rate and press Reset' works: a tenth of the rate runs 5,000
    steps finite, and IPO settles (its loss stops changing)."""
    sim = Simulation(dpo_sim.load_scenario("loose-leash", learning_rate=lr, **IPO_LR8))
    losses, err = _finite_losses(sim, 5000)
    assert err is None and len(losses) == 5001
    assert abs(losses[-1] - losses[-2]) < 1e-12


@pytest.mark.parametrize("loss_type", ["sigmoid", "hinge", "robust"])
def test_the_bounded_losses_never_diverge_at_the_largest_settings(loss_type):
    """Their gradients are bounded (by beta times the largest weight), so theta can only
    grow linearly: at the largest beta and learning rate 20,000 steps stay finite."""
    beta = BY_NAME["beta"].kind.hi
    sim = Simulation(dpo_sim.load_scenario("loose-leash", loss_type=loss_type, beta=beta,
                                           learning_rate=100, label_smoothing=0.4))
    losses, err = _finite_losses(sim, 20_000)
    assert err is None and np.isfinite(losses).all()
    assert np.isfinite(sim.theta).all()


def test_the_events_of_the_step_that_diverged_do_not_happen():
    """A scripted flip and setting at the step that would diverge are not applied: the
    run is exactly at its last finite step, rows and settings as they were."""
    sim = _ipo_run()
    sim.advance(LAST_FINITE)
    beta, pairs = sim.beta, sim.pairs
    s = sim.scenario
    sim2 = Simulation(type(s)(**{**s.__dict__, "events": (
        Event(LAST_FINITE + 1, flip=0), Event(LAST_FINITE + 1, set={"beta": 0.5}))}))
    sim2.advance(LAST_FINITE)
    with np.errstate(over="ignore", invalid="ignore"), pytest.raises(Diverged):
        sim2.advance(1)
    assert sim2.beta == beta and sim2.flipped == () and sim2.t == LAST_FINITE
    np.testing.assert_array_equal(sim2.pairs.chosen, pairs.chosen)
    np.testing.assert_array_equal(sim2.theta, sim.theta)


def test_a_run_that_does_not_diverge_is_unchanged_by_the_check():
    """The check reads one scalar; the records are those of a plain loop over
    sim.engine.evaluate (the independent path)."""
    s = scenario()
    sim = Simulation(s)
    sim.advance(50)
    theta = s.start_logits()
    logp_ref = sim.logp_ref
    for _ in range(50):
        theta = theta - s.learning_rate * evaluate(theta, logp_ref, sim.pairs, s.beta).grad
    np.testing.assert_array_equal(theta, sim.theta)


# -- the command line -------------------------------------------------------------------
def _cli(*args):
    return subprocess.run([PY, "-m", "dpo_sim", *args], capture_output=True, text=True,
                          timeout=120)


def test_cli_run_keeps_the_finite_steps_and_says_why_in_one_line(tmp_path):
    out = tmp_path / "run.jsonl"
    p = _cli("run", "loose-leash", "--set", "loss_type=ipo", "--steps", "300",
             "--out", str(out))
    assert p.returncode == 2 and p.stdout == ""
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in p.stderr and "Warning" not in p.stderr
    line = lines[0]
    assert line.startswith("dpo-sim: loose-leash: the run diverged at step 170")
    assert "learning_rate" in line and f"holds steps 0..{LAST_FINITE}" in line
    records = [json.loads(x) for x in out.read_text().splitlines()]
    assert records[0]["type"] == "config"
    assert [r["step"] for r in records[1:]] == list(range(LAST_FINITE + 1))
    assert all(math.isfinite(r["loss"]) for r in records[1:])


# -- the page, on both hosts ----------------------------------------------------------------
@pytest.mark.browser
def test_the_page_pauses_at_the_last_finite_step_and_says_why(open_page):
    """Play runs into the divergence: the page pauses at the last finite step, says why in
    an alert (texts.DIVERGED) and in the log; Step is refused again; 'lower the learning
    rate and press Reset' then runs 400 steps."""
    from dpo_sim.app import texts

    d = open_page("?scenario=loose-leash&loss=ipo&speed=120")
    d.play()
    d.button("Play").wait_for(state="visible", timeout=30_000)     # it paused itself
    st = d.state()
    assert not st["playing"] and st["step"] == LAST_FINITE
    alert = d.page.locator("[data-testid=halted]").first
    assert alert.get_attribute("role") == "alert"
    assert d.text("halted") == texts.DIVERGED.format(step=LAST_FINITE, loss="ipo", beta="0.25",
                                                     lr="8")
    assert st["halted"] == d.text("halted") and "learning rate 8" in st["halted"]
    assert f"stopped: step {LAST_FINITE + 1} would overflow the loss" in d.log_text()
    assert all(math.isfinite(v) for row in st["probs"] for v in row)
    assert math.isfinite(st["loss"])
    d.button("Step").click()                                      # Step again: refused
    st = d.state()
    assert st["step"] == LAST_FINITE and st["halted"]
    d.act("dpoSim.set({learning_rate: 1})")
    st = d.act("dpoSim.reset()")
    assert st["step"] == 0 and st["halted"] is None
    assert not alert.is_visible()
    st = d.act("dpoSim.step(400)")
    assert st["step"] == 400 and st["halted"] is None
