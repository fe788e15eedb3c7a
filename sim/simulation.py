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
from dataclasses import replace

import numpy as np

from .engine import Engine, Record
from .history import History
from .losses import LossSpec
from .numerics import log_softmax
from .pairs import Pairs
from .scenario import Event, Scenario
from .settings import BY_NAME, RUN, SettingError, check_live


class Diverged(ArithmeticError):
    """An update left the numbers non-finite; the run stays at its last finite step."""

    def __init__(self, sim: Simulation, step: int):
        self.step, self.scenario_id = step, sim.scenario.id
        self.loss_type = sim.loss_type
        self.beta, self.learning_rate = sim.beta, sim.learning_rate
        super().__init__(
            f"the run diverged at step {step}: the loss stopped being a finite number "
            f"(loss {sim.loss_type}, beta {sim.beta:g}, learning_rate {sim.learning_rate:g}). "
            f"Gradient descent with steps too large for the loss's curvature overshoots "
            f"further at every update; a smaller learning_rate avoids it")


class Simulation:
    """A single run: ``reset()``, ``advance()``, ``flip(i)``, ``set(beta=...)``."""

    def __init__(self, scenario: Scenario, keep_history: bool = True,
                 history_limit: int | None = None):
        """``history_limit``: keep only about that many of the newest records (between it
        and twice it; ``History(limit=...)``), so a run that goes on for hours stays a
        few MB; None keeps every record."""
        self.scenario = scenario
        self.keep_history = keep_history
        self.history_limit = history_limit
        self._events: dict[int, list[Event]] = {}
        for e in scenario.events:
            self._events.setdefault(e.step, []).append(e)
        self.reset()

    # -- state -------------------------------------------------------------------------
    def reset(self) -> Record:
        """Back to exactly the scenario's start (step 0, no flips, scenario settings)."""
        s = self.scenario
        self.t = 0
        self.model = s.model
        self.theta = s.start_params()     # the parameters: logits (table) or theta (d,)
        self.logp_ref = log_softmax(np.asarray(s.ref_logits, dtype=float))
        for name in RUN:     # beta, learning_rate, adaptive_weight, loss_type, ..., steps
            try:
                setattr(self, name, BY_NAME[name].check(getattr(s, name)))
            except SettingError as e:
                raise SettingError(f"scenario {s.id!r}: {name}: {e}") from None
        self._flip_mask = np.zeros(len(s.rows), dtype=bool)
        self.pairs = Pairs.from_rows([r.as_tuple() for r in s.rows], s.n_prompts,
                                     s.n_replies)
        self._compile()
        self.actions: list[Event] = []      # live actions, as events (reproducible)
        self.history = History(self.history_limit)   # column store; records built on access
        self._apply_events(0)
        self.record = self._evaluate()
        self._push(self.record)
        return self.record

    @property
    def flipped(self) -> tuple[int, ...]:
        """The rows flipped now (by actions or scripted events), in row order."""
        return tuple(int(i) for i in np.flatnonzero(self._flip_mask))

    def _compile(self) -> None:
        """Cache what the hot path needs: the compiled rows and the loss in force. Called
        whenever the rows or the settings change, so a step does no look-ups."""
        self._engine = Engine(self.pairs, self.logp_ref, self.model)
        #: the loss in force, as one value (losses.LossSpec)
        self.loss_spec = LossSpec.of(self)

    def _evaluate(self) -> Record:
        # The code path of sim.engine.evaluate(theta, logp_ref, pairs, ...): bit-identical.
        return self._engine.evaluate(self.theta, self.beta, self.loss_spec, self.t,
                                     self.learning_rate)

    def _push(self, rec: Record) -> None:
        if self.keep_history:
            h = self.history
            if h and h.last.step == rec.step:
                h.replace_last(rec)
            else:
                h.append(rec)

    def _apply(self, e: Event) -> None:
        # checked against the settings table before anything changes: a bad action
        # leaves no trace (SettingError, a ValueError, names the setting and the rule)
        changes = check_live(e.set)
        if e.flip is not None:
            self._flip_mask[e.flip] = not self._flip_mask[e.flip]
            self.pairs = self.pairs.flip(e.flip)
        for k, v in changes.items():
            setattr(self, k, v)
        self._compile()

    def events_at(self, t: int) -> tuple[Event, ...]:
        """The scenario's scripted events for step t, in file order."""
        return tuple(self._events.get(t, ()))

    def _apply_events(self, t: int) -> None:
        for e in self._events.get(t, ()):
            self._apply(e)

    # -- moving ------------------------------------------------------------------------
    def advance(self, n: int = 1) -> Record:
        """Run n updates; returns the record of the step arrived at.

        Raises ``Diverged`` (the run stays at the last finite step) when an update leaves
        the numbers non-finite: plain gradient descent overshoots without bound when the
        learning rate is too large for the loss's curvature (IPO's, say)."""
        events = self._events
        for _ in range(n):
            theta = self.theta - self.learning_rate * self.record.grad
            t = self.t + 1
            saved = None
            if t in events:
                saved = self._settings_now()
                self._apply_events(t)
            rec = self._engine.evaluate(theta, self.beta, self.loss_spec, t,
                                        self.learning_rate)
            # One scalar test is enough: at finite theta every loss here has a finite
            # gradient wherever its value is finite, and theta that overflowed makes the
            # loss NaN (tests/test_diverged.py checks both on runs that blow up).
            if not math.isfinite(rec.loss):
                if saved is not None:       # step t's events did not happen either
                    self._restore(saved)
                raise Diverged(self, t)
            self.theta, self.t, self.record = theta, t, rec
            self._push(rec)
        return self.record

    def _settings_now(self) -> tuple:
        return ({k: getattr(self, k) for k in RUN}, self._flip_mask.copy(), self.pairs)

    def _restore(self, saved: tuple) -> None:
        values, self._flip_mask, self.pairs = saved
        for k, v in values.items():
            setattr(self, k, v)
        self._compile()

    def act(self, event: Event) -> Record:
        """A live action at the current step (flip or set); record t is recomputed."""
        event = replace(event, step=self.t)
        n = len(self._flip_mask)
        if event.flip is not None and not 0 <= event.flip < n:
            raise IndexError(f"no row {event.flip}; rows are 0..{n - 1}")
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
