"""Simulation: the timing contract, live actions, replay, reset, batched runs and
determinism across processes, all against an independent step-by-step computation."""

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import naive_dpo as naive
from dpo_sim.sim.losses import LossSpec
from dpo_sim.sim.pairs import Pairs
from dpo_sim.sim.scenario import Event, Scenario
from dpo_sim.sim.settings import SettingError
from dpo_sim.sim.simulation import Simulation, run
from dpo_sim.sim.stack import RunStack
from helpers import EVENTS, play_a_run, scenario

ROOT = Path(__file__).resolve().parents[1]


class Naive:
    """The contract written out plainly: events for t, then record t, then the update."""

    def __init__(self, sc: Scenario):
        self.sc = sc
        self.ref = np.asarray(sc.ref_logits, float)
        self.theta = sc.start_logits()
        self.rows = [r.as_tuple() for r in sc.rows]
        self.s = {"beta": sc.beta, "learning_rate": sc.learning_rate,
                  "adaptive_weight": sc.adaptive_weight}

    def apply(self, e: Event):
        if e.flip is not None:
            x, c, r, a, b = self.rows[e.flip]
            self.rows[e.flip] = (x, r, c, a, b)
        self.s.update(e.set)

    def record(self):
        return naive.metrics(self.theta, self.ref, self.rows, self.s["beta"],
                             self.s["adaptive_weight"])

    def update(self):
        g = naive.analytic_grad(self.theta, self.ref, self.rows, self.s["beta"],
                                self.s["adaptive_weight"])
        self.theta = self.theta - self.s["learning_rate"] * g


def assert_matches(rec, want, theta_sim=None, theta_naive=None):
    for name, v in rec.scalars().items():
        assert v == pytest.approx(want[name], rel=1e-10, abs=1e-12), name
    for name in ("probs", "kl", "rewards", "row_margin", "row_sigma", "row_weight"):
        np.testing.assert_allclose(getattr(rec, name), want[name], rtol=1e-10, atol=1e-12,
                                   err_msg=name)


def test_scripted_events_apply_before_the_record_of_their_step():
    sc = scenario(EVENTS)
    sim = Simulation(sc)
    ref = Naive(sc)
    for t in range(12):
        for e in sc.events:
            if e.step == t:
                ref.apply(e)
        rec = sim.history[t]
        assert rec.step == t and sim.t == t
        assert rec.beta == ref.s["beta"] and rec.learning_rate == ref.s["learning_rate"]
        assert rec.adaptive_weight == ref.s["adaptive_weight"]
        np.testing.assert_allclose(sim.theta, ref.theta, rtol=1e-11, atol=1e-12)
        assert_matches(rec, ref.record())
        ref.update()
        assert sim.advance() is sim.record
    assert len(sim.history) == 13
    # the flip at 3 is undone at 7: the row's chosen side is back (+ the majority)
    assert sim.flipped == ()


def test_a_live_action_is_an_event_at_the_current_step():
    sc = scenario()
    sim = Simulation(sc)
    ref = Naive(sc)
    for _ in range(4):
        sim.advance()
        ref.update()
    before = len(sim.history)
    rec = sim.flip(2)
    ref.apply(Event(4, flip=2))
    assert rec.step == 4 and sim.t == 4 and len(sim.history) == before
    assert sim.history[-1] is rec and sim.record is rec
    assert_matches(rec, ref.record())
    rec = sim.set(beta=2.0, learning_rate=0.5)
    ref.apply(Event(4, set={"beta": 2.0, "learning_rate": 0.5}))
    assert rec.beta == 2.0 and rec.learning_rate == 0.5 and len(sim.history) == before
    assert_matches(rec, ref.record())
    for _ in range(3):       # the next updates use the flipped row and new settings
        ref.update()
        rec = sim.advance()
        np.testing.assert_allclose(sim.theta, ref.theta, rtol=1e-11, atol=1e-12)
        assert_matches(rec, ref.record())
    assert [(a.step, a.flip, a.set) for a in sim.actions] == [
        (4, 2, {}), (4, None, {"beta": 2.0, "learning_rate": 0.5})]


def test_bad_live_actions_are_refused_without_changing_anything():
    sim = Simulation(scenario())
    sim.advance(2)
    snap = sim.record.to_dict()
    with pytest.raises(IndexError):
        sim.flip(99)
    with pytest.raises(SettingError, match="gamma: cannot be set during a run"):
        sim.set(gamma=1.0)
    with pytest.raises(SettingError, match="gamma"):
        sim.set(beta=3.0, gamma=1.0)
    with pytest.raises(SettingError, match="steps: cannot be set during a run"):
        sim.set(steps=5)
    for bad in (0.0, -1.0, float("nan"), float("inf"), 100.5, "2", True):
        with pytest.raises(SettingError, match=r"beta: must be a number > 0 and <= 100"):
            sim.set(learning_rate=0.5, beta=bad)
    with pytest.raises(SettingError, match="adaptive_weight: must be true or false"):
        sim.set(adaptive_weight=1)
    assert sim.actions == [] and sim.record.to_dict() == snap and sim.beta == 0.7
    sim.set(beta=np.float64(0.9), learning_rate=np.int64(2))    # NumPy numbers are fine
    assert (sim.beta, sim.learning_rate) == (0.9, 2.0)


def _dump(sim):
    return [json.dumps(r.to_dict()) for r in sim.history], sim.theta.tobytes()


def test_replay_scenario_reproduces_the_run_bit_identically():
    sim = play_a_run(Simulation(scenario(EVENTS)))
    replay = Simulation(sim.replay_scenario())
    replay.advance(sim.t)
    assert _dump(replay) == _dump(sim)
    # past records keep no gradient (sim/history.py); the current one does, and theta
    # (compared in _dump) is the sum of every past update
    assert sim.record.grad.tobytes() == replay.record.grad.tobytes()
    assert list(replay.flipped) == list(sim.flipped)


def test_reset_returns_exactly_to_the_start():
    sc = scenario(EVENTS)
    fresh = Simulation(sc)
    sim = play_a_run(Simulation(sc))
    rec = sim.reset()
    assert sim.t == 0 and sim.actions == [] and sim.flipped == ()
    assert (sim.beta, sim.learning_rate, sim.adaptive_weight) == (sc.beta, sc.learning_rate,
                                                                  sc.adaptive_weight)
    assert sim.theta.tobytes() == sc.start_logits().tobytes()
    assert len(sim.history) == 1 and rec is sim.record
    play_a_run(sim)
    play_a_run(fresh)
    assert _dump(sim) == _dump(fresh)


def test_records_equal_evaluate_to_the_bit():
    from dpo_sim.sim.engine import evaluate
    sim = play_a_run(Simulation(scenario(EVENTS)))
    rec = evaluate(sim.theta, sim.logp_ref, sim.pairs, sim.beta, sim.loss_spec,
                   step=sim.t, learning_rate=sim.learning_rate)
    assert rec.to_dict() == sim.record.to_dict()
    assert rec.grad.tobytes() == sim.record.grad.tobytes()


def test_history_off_gives_the_same_records():
    a, b = Simulation(scenario(EVENTS)), Simulation(scenario(EVENTS), keep_history=False)
    for _ in range(10):
        ra, rb = a.advance(), b.advance()
        assert ra.to_dict() == rb.to_dict()
    assert b.history == [] and len(a.history) == 11


def test_run_returns_every_step():
    recs = run(scenario(EVENTS), 9)
    assert [r.step for r in recs] == list(range(10))
    sim = Simulation(scenario(EVENTS))
    sim.advance(9)
    assert [r.to_dict() for r in recs] == [r.to_dict() for r in sim.history]


@pytest.mark.parametrize("weight_on", [True, False])
def test_a_stack_of_runs_equals_single_runs(weight_on):
    """RunStack.step on (R, P, K) with per-run beta and learning rate = R Simulations, to the
    bit (they share one sequence of operations), even where the dynamics are chaotic."""
    sc = scenario(adaptive_weight=weight_on)
    R, steps = 6, 60
    betas = np.geomspace(0.05, 5.0, R)
    lrs = np.linspace(0.2, 3.0, R)
    pairs = Pairs.from_rows([r.as_tuple() for r in sc.rows], sc.n_prompts, sc.n_replies)
    batch = RunStack(pairs, sc.ref_logits)
    theta = np.broadcast_to(sc.start_logits(), (R, sc.n_prompts, sc.n_replies)).copy()
    sims = [Simulation(replace(sc, beta=b, learning_rate=lr), keep_history=False)
            for b, lr in zip(betas, lrs)]
    for _ in range(steps):
        theta = batch.step(theta, betas, lrs, LossSpec(weight_on))
        for s in sims:
            s.advance()
    single = np.stack([s.theta for s in sims])
    assert np.abs(single - sims[0].scenario.start_logits()).max() > 0.1   # they moved
    np.testing.assert_array_equal(theta, single)


SCRIPT = r"""
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from helpers import EVENTS, play_a_run, scenario
from dpo_sim.sim.simulation import Simulation
sim = play_a_run(Simulation(scenario(EVENTS)))
sim.advance(200)
for r in sim.history:
    sys.stdout.write(json.dumps(r.to_dict()) + "\n")
sys.stdout.write(sim.theta.tobytes().hex() + "\n")
"""


@pytest.mark.slow
def test_deterministic_across_processes():
    outs = []
    for seed in ("0", "12345"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        p = subprocess.run([sys.executable, "-c", SCRIPT, str(Path(__file__).parent)],
                           capture_output=True, env=env, cwd=ROOT, check=True, timeout=120)
        outs.append(p.stdout)
    assert outs[0] == outs[1] and len(outs[0]) > 10_000
    here = play_a_run(Simulation(scenario(EVENTS)))
    here.advance(200)
    mine = "".join(json.dumps(r.to_dict()) + "\n" for r in here.history)
    mine += here.theta.tobytes().hex() + "\n"
    assert outs[0] == mine.encode()
