"""One run of a scenario through time, with scripted events and live actions.

Timing (the contract shared by the CLI and the dashboard): the simulation always sits at a
step t with policy theta_t. Arriving at step t, the scenario's events for t apply first,
then record t is computed from theta_t, and ``advance()`` runs the update t -> t+1 with the
settings in force at t. A live action (flip, set) taken while at step t is an event at step
t: it applies at once, record t is recomputed, and the next update uses it. So replaying
``actions`` as events through the CLI gives bit-identical numbers.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import replace

import numpy as np

from .engine import Batch, Pairs, Record, log_softmax
from .history import History
from .losses import get_loss
from .scenario import SETTABLE, Event, Scenario


class Simulation:
    """A single run: ``reset()``, ``advance()``, ``flip(i)``, ``set(beta=...)``."""

    def __init__(self, scenario: Scenario, keep_history: bool = True):
        self.scenario = scenario
        self.keep_history = keep_history
        self._events: dict[int, list[Event]] = {}
        for e in scenario.events:
            self._events.setdefault(e.step, []).append(e)
        self.reset()

    # -- state -------------------------------------------------------------------------
    def reset(self) -> Record:
        """Back to exactly the scenario's start (step 0, no flips, scenario settings)."""
        s = self.scenario
        self.t = 0
        self.theta = s.start_logits()
        self.logp_ref = log_softmax(np.asarray(s.ref_logits, dtype=float))
        self.beta = float(s.beta)
        self.learning_rate = float(s.learning_rate)
        self.adaptive_weight = bool(s.adaptive_weight)
        self.loss_type = s.loss_type
        self.flipped = np.zeros(len(s.rows), dtype=bool)
        self._base_pairs = Pairs.from_rows([r.as_tuple() for r in s.rows],
                                           s.n_prompts, s.n_replies)
        self.pairs = self._base_pairs
        self._compile()
        self.actions: list[Event] = []      # live actions, as events (reproducible)
        self.history = History()            # column store; records built on access
        self._apply_events(0)
        self.record = self._evaluate()
        self._push(self.record)
        return self.record

    def _compile(self) -> None:
        """Cache what the hot path needs: the compiled rows and the loss in force. Called
        whenever the rows or the settings change, so a step does no look-ups."""
        self._batch = Batch._from_logp_ref(self.pairs, self.logp_ref)
        self._loss = get_loss(self.loss_type, self.adaptive_weight)

    def _evaluate(self) -> Record:
        # Same code path as sim.engine.evaluate(theta, logp_ref, pairs, ...): bit-identical.
        return self._batch._evaluate(self.theta, self.beta, self._loss, self.adaptive_weight,
                                     self.t, self.learning_rate)

    def _push(self, rec: Record) -> None:
        if self.keep_history:
            h = self.history
            if h and h.last.step == rec.step:
                h.replace_last(rec)
            else:
                h.append(rec)

    def _apply(self, e: Event) -> None:
        bad = [k for k in e.set if k not in SETTABLE]
        if bad:       # refuse before changing anything, so a bad action leaves no trace
            raise KeyError(f"cannot set {bad[0]!r}; settable: {', '.join(SETTABLE)}")
        for k in ("beta", "learning_rate"):
            if k in e.set and not (isinstance(e.set[k], numbers.Real)
                                   and not isinstance(e.set[k], (bool, np.bool_))
                                   and math.isfinite(e.set[k]) and e.set[k] > 0):
                raise ValueError(f"{k} must be a finite positive number, got {e.set[k]!r}")
        if e.flip is not None:
            self.flipped[e.flip] = not self.flipped[e.flip]
            self.pairs = self.pairs.flipped(e.flip)
        for k, v in e.set.items():
            if k == "adaptive_weight":
                self.adaptive_weight = bool(v)
            else:
                setattr(self, k, float(v))
        self._compile()

    def events_at(self, t: int) -> tuple[Event, ...]:
        """The scenario's scripted events for step t, in file order."""
        return tuple(self._events.get(t, ()))

    def _apply_events(self, t: int) -> None:
        for e in self._events.get(t, ()):
            self._apply(e)

    # -- moving ------------------------------------------------------------------------
    def advance(self, n: int = 1) -> Record:
        """Run n updates; returns the record of the step arrived at."""
        events = self._events
        for _ in range(n):
            self.theta = self.theta - self.learning_rate * self.record.grad
            self.t += 1
            if self.t in events:
                self._apply_events(self.t)
            self.record = self._evaluate()
            self._push(self.record)
        return self.record

    def act(self, event: Event) -> Record:
        """A live action at the current step (flip or set); record t is recomputed."""
        event = replace(event, step=self.t)
        if event.flip is not None and not 0 <= event.flip < len(self.flipped):
            raise IndexError(f"no row {event.flip}; rows are 0..{len(self.flipped) - 1}")
        self._apply(event)
        self.actions.append(event)
        self.record = self._evaluate()
        self._push(self.record)
        return self.record

    def flip(self, i: int) -> Record:
        return self.act(Event(step=self.t, flip=int(i)))

    def set(self, **settings) -> Record:
        return self.act(Event(step=self.t, set=dict(settings)))

    def replay_scenario(self) -> Scenario:
        """The scenario plus the live actions as scripted events: replays this run exactly."""
        return replace(self.scenario, events=tuple(self.scenario.events) + tuple(self.actions))


def run(scenario: Scenario, steps: int) -> History:
    """Records of steps 0..steps (steps + 1 records; only the last keeps its ``grad``)."""
    sim = Simulation(scenario)
    sim.advance(steps)
    return sim.history
