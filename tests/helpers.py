"""Small builders shared by several test modules (scenarios made in code, a state on them,
a run with actions, a record comparison). A plain module, not a test module, so test
modules never import each other."""

from __future__ import annotations

import numpy as np

from dpo_sim.sim.scenario import Event, Prompt, Row, Scenario


def make_scenario(sid: str = "toy", beta: float = 0.5, learning_rate: float = 2.0,
                  adaptive_weight: bool = True, events=()) -> Scenario:
    """A small scenario built in code (no preset files): 2 prompts, 3 replies, 4 rows,
    a non-uniform reference on prompt 1."""
    return Scenario(
        id=sid, title=f"Toy {sid}", watch="Watch the toy.", beta=beta,
        learning_rate=learning_rate, adaptive_weight=adaptive_weight,
        prompts=(Prompt("p0?", ("good", "meh", "bad")),
                 Prompt("p1?", ("yes", "no", "maybe"))),
        ref_logits=np.array([[0.0, 0.0, 0.0], [0.5, -0.2, 0.1]]),
        rows=(Row(0, 0, 1, 7, 3), Row(0, 0, 2, 9, 1), Row(1, 0, 1, 6, 4), Row(1, 2, 1, 1, 0)),
        events=tuple(events),
    )


def scenarios():
    return {"toy": make_scenario(), "other": make_scenario("other", beta=2.0,
                                                           learning_rate=0.5,
                                                           adaptive_weight=False)}


def assert_same_record(a, b):
    assert a.step == b.step
    for name in ("loss", "rewards_chosen", "rewards_rejected", "rewards_margins",
                 "rewards_accuracies", "beta", "learning_rate", "adaptive_weight"):
        assert getattr(a, name) == getattr(b, name), name
    for name in ("kl", "probs", "rewards", "row_margin", "row_sigma", "row_weight"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def scenario(events=(), **kw) -> Scenario:
    prompts = (Prompt("Capital of France?", ("Paris.", "Lyon.", "I don't know.", "Rome.")),
               Prompt("2 + 2?", ("4", "5", "22", "four-ish")))
    rows = (Row(0, 0, 1, 8, 2), Row(0, 0, 3, 9, 1), Row(0, 2, 3, 6, 4),
            Row(1, 0, 1, 7, 3), Row(1, 0, 2, 10, 0))
    ref = np.array([[0.3, -0.2, 0.1, 0.0], [0.0, 0.5, -0.4, 0.2]])
    base = dict(id="test", title="test", watch="", beta=0.7, learning_rate=0.9,
                adaptive_weight=True, prompts=prompts, ref_logits=ref, rows=rows,
                events=tuple(events))
    base.update(kw)
    return Scenario(**base)


EVENTS = (Event(3, flip=1), Event(5, set={"beta": 1.5, "adaptive_weight": False}),
          Event(7, set={"learning_rate": 0.4, "adaptive_weight": True}), Event(7, flip=1))


def play_a_run(sim):
    """A run with scripted events and live actions at various steps."""
    sim.advance(2)
    sim.flip(0)
    sim.set(beta=0.3)
    sim.advance(4)
    sim.set(adaptive_weight=False)
    sim.advance(1)
    sim.flip(4)
    sim.flip(4)
    sim.flip(3)
    sim.set(adaptive_weight=True, learning_rate=2.0)
    sim.advance(8)
    return sim


EXPORT_STEPS = 60
EXPORT_FLIP_AT = 30


def export_scenarios() -> list[Scenario]:
    """Two small scenarios built in code: a scripted flip; a non-uniform ref, weight off."""
    a = Scenario(
        id="toy", title="Toy <replay> & friends", watch="Reply A climbs; at step 30 row 0 flips.",
        beta=0.5, learning_rate=2.0, adaptive_weight=True,
        prompts=(Prompt("Name a colour of the sky.", ("Blue.", "Green.", "Loud.")),
                 Prompt("What is 2 + 2?", ("4", "5", "22"))),
        ref_logits=np.zeros((2, 3)),
        rows=(Row(0, 0, 1, 8, 2), Row(0, 0, 2, 9, 1), Row(1, 0, 1, 7, 3), Row(1, 0, 2, 6, 4)),
        events=(Event(step=EXPORT_FLIP_AT, flip=0),), steps=EXPORT_STEPS)
    b = Scenario(
        id="off", title="Weight off", watch="The winner is shoved to 100 %.",
        beta=1.0, learning_rate=1.0, adaptive_weight=False,
        prompts=(Prompt("Pick one.", ("First", "Second", "Third", "Fourth")),),
        ref_logits=np.array([[0.5, 0.0, -0.3, 0.2]]),
        rows=(Row(0, 1, 0, 6, 4), Row(0, 1, 2, 5, 1)), steps=45)
    return [a, b]


class FakePanelServer:
    """What ``pn.serve(start=False)`` returns, doing nothing: for tests that replace
    ``pn.serve`` to see what it was given."""

    class _Loop:
        def set_exception_handler(self, handler):
            self.handler = handler

    class _IOLoop:
        def __init__(self):
            self.asyncio_loop = FakePanelServer._Loop()
            self.callbacks = []

        def add_callback(self, fn, *args):
            self.callbacks.append((fn, args))

        def start(self):
            pass

    def __init__(self):
        self.io_loop = self._IOLoop()

    def start(self):
        pass

    def show(self, path):
        pass
