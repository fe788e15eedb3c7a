"""A scenario: everything that defines a run, as plain data (loaded from presets/*.toml).

The loader and its validation live in ``sim.scenario_io``; this module only holds the
types, so the engine and the dashboard can build scenarios in code too.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace

import numpy as np

from .model import TABLE
from .settings import SHAPING


@dataclass(frozen=True)
class Prompt:
    text: str
    replies: tuple[str, ...]


@dataclass(frozen=True)
class Row:
    """On ``prompt``, ``votes_chosen`` annotators preferred ``chosen`` over ``rejected``
    and ``votes_rejected`` preferred the opposite."""

    prompt: int
    chosen: int
    rejected: int
    votes_chosen: float
    votes_rejected: float = 0.0

    def as_tuple(self):
        return (self.prompt, self.chosen, self.rejected, self.votes_chosen, self.votes_rejected)

    def to_dict(self) -> dict:
        return {"prompt": self.prompt, "chosen": self.chosen, "rejected": self.rejected,
                "votes_chosen": self.votes_chosen, "votes_rejected": self.votes_rejected}


@dataclass(frozen=True)
class Event:
    """At ``step``: flip row ``flip``, or set some live settings (``settings.LIVE``)."""

    step: int
    flip: int | None = None
    set: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        if self.flip is not None:
            return {"step": self.step, "flip": self.flip}
        return {"step": self.step, "set": dict(self.set)}


@dataclass(frozen=True)
class Scenario:
    id: str
    title: str
    watch: str
    beta: float
    learning_rate: float
    adaptive_weight: bool
    prompts: tuple[Prompt, ...]
    ref_logits: np.ndarray          # (P, K)
    rows: tuple[Row, ...]
    events: tuple[Event, ...] = ()
    loss_type: str = "sigmoid"
    label_smoothing: float = 0.0    # eps of the robust loss (the other losses ignore it)
    init_logits: np.ndarray | None = None   # (P, K); None means a copy of the reference
    steps: int = 200                # suggested run length: the story is told by then
    source: str = ""                # the file it came from, for error messages
    #: (P, K) the true quality r*(y) of each reply, if the scenario states one (the reward
    #: the frontier view scores a policy with); None: the Bradley-Terry fit to the votes
    true_reward: np.ndarray | None = None
    #: the challenge, validated and normalised (sim/challenge.py), or None
    challenge: dict | None = None
    #: how the parameters make the logits (sim/model.py): the table, or shared features
    model: object = TABLE

    @property
    def n_prompts(self) -> int:
        return len(self.prompts)

    @property
    def n_replies(self) -> int:
        return len(self.prompts[0].replies)

    def start_logits(self) -> np.ndarray:
        return np.array(self.ref_logits if self.init_logits is None else self.init_logits,
                        dtype=float)

    def start_params(self) -> np.ndarray:
        """The parameters at step 0: the start logits (table) or theta_0 (features)."""
        return self.model.start(self.start_logits())

    def with_settings(self, **kw) -> Scenario:
        """A copy with some top-level settings replaced (beta=..., learning_rate=...)."""
        return replace(self, **kw)

    def config(self) -> dict:
        """The JSON ``config`` line: everything needed to reproduce the run."""
        return {
            "type": "config",
            "scenario": self.id,
            "title": self.title,
            "watch": self.watch,
            **{name: getattr(self, name) for name in SHAPING},
            "prompts": [{"text": p.text, "replies": list(p.replies)} for p in self.prompts],
            "ref_logits": np.asarray(self.ref_logits, dtype=float).tolist(),
            # a features model has no start logits: theta_0 is in "model"
            **({"init_logits": self.start_logits().tolist()} if self.model.kind == "table"
               else {}),
            "model": self.model.config(),
            "pairs": [r.to_dict() for r in self.rows],
            "events": [e.to_dict() for e in self.events],
            # only when given, so the config lines of the other scenarios keep their bytes
            **({} if self.true_reward is None else
               {"true_reward": np.asarray(self.true_reward, dtype=float).tolist()}),
            **({} if self.challenge is None else {"challenge": copy.deepcopy(self.challenge)}),
        }
