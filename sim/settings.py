"""Every setting, declared once.

One row of ``SETTINGS`` says all there is to say about a setting: its type and what makes a
value valid, its default, the page's slider, its label and one line of help for learners,
and its name in each place it can be given: the scenario's TOML file, ``--set`` on the
command line, the page's address, and the address's scripted actions
(``events=STEP:KIND:VALUE``). The scenario loader, ``--set``, the Simulation, the page's
state and its address codec all read this table, so a value is valid everywhere or
nowhere, and a new setting is one new row (plus its use in the maths).

(TensorFlow Playground's ``PROPS`` table in ``state.ts`` is the model.)
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from .losses import LOSS_TYPES


class SettingError(ValueError):
    """A value that breaks a setting's rule; the message is the rule, e.g.
    "must be a number > 0 and <= 100, got 0". Callers add where it came from."""


def _got(value) -> str:
    return repr(value) if not isinstance(value, str) else repr(value[:40])


# -- kinds of value: how one is checked, read from text and written as text -----------------
class Number:
    """A finite real number in (lo, hi] (``lo_open=False``: lo itself is allowed too;
    ``hi_open=True``: hi itself is not)."""

    def __init__(self, lo: float, hi: float, lo_open: bool = True, hi_open: bool = False):
        self.lo, self.hi, self.lo_open, self.hi_open = lo, hi, lo_open, hi_open

    @property
    def rule(self) -> str:
        return (f"a number {'>' if self.lo_open else '>='} {self.lo:g} and "
                f"{'<' if self.hi_open else '<='} {self.hi:g}")

    def valid(self, v: float) -> bool:
        return ((self.lo < v if self.lo_open else self.lo <= v)
                and (v < self.hi if self.hi_open else v <= self.hi))

    def check(self, value) -> float:
        if (isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real)
                or not math.isfinite(value) or not self.valid(float(value))):
            raise SettingError(f"must be {self.rule}, got {_got(value)}")
        return float(value)

    def parse(self, text: str) -> float:
        try:
            value = float(text.strip())
        except ValueError:
            raise SettingError(f"must be {self.rule}, got {_got(text)}") from None
        return self.check(value)

    def write(self, value) -> str:
        return repr(float(value))        # the shortest text that reads back exactly


class Whole:
    """A whole number in [lo, hi]."""

    def __init__(self, lo: int, hi: int):
        self.lo, self.hi = lo, hi

    @property
    def rule(self) -> str:
        return f"a whole number from {self.lo} to {self.hi}"

    def check(self, value) -> int:
        if (isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral)
                or not self.lo <= value <= self.hi):
            raise SettingError(f"must be {self.rule}, got {_got(value)}")
        return int(value)

    def parse(self, text: str) -> int:
        t = text.strip()
        if not (t.isascii() and t.lstrip("+-").isdigit()):
            raise SettingError(f"must be {self.rule}, got {_got(text)}")
        return self.check(int(t))

    def write(self, value) -> str:
        return str(int(value))


class Flag:
    """On or off (true/false in TOML; on/off, true/false, yes/no or 1/0 as text)."""

    ON = ("on", "true", "yes", "1")
    OFF = ("off", "false", "no", "0")
    rule = "on or off"

    def check(self, value) -> bool:
        if not isinstance(value, (bool, np.bool_)):
            raise SettingError(f"must be true or false, got {_got(value)}")
        return bool(value)

    def parse(self, text: str) -> bool:
        t = text.strip().lower()
        if t in self.ON or t in self.OFF:
            return t in self.ON
        raise SettingError(f"must be on or off (or true/false, yes/no, 1/0), got {_got(text)}")

    def write(self, value) -> str:
        return "on" if value else "off"


class Choice:
    """One of a fixed list of names."""

    def __init__(self, *options: str):
        self.options = options

    @property
    def rule(self) -> str:
        return "one of " + ", ".join(self.options)

    def check(self, value) -> str:
        if not isinstance(value, str) or value not in self.options:
            raise SettingError(f"must be {self.rule}, got {_got(value)}")
        return value

    def parse(self, text: str) -> str:
        return self.check(text.strip())

    def write(self, value) -> str:
        return str(value)


# -- the table ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Setting:
    name: str                      # in a Scenario, Simulation.set() and the JSONL config
    kind: Any                      # Number | Whole | Flag | Choice: the rule
    default: Any                   # None: every scenario must give it
    label: str                     # the control's label on the page
    help: str                      # one line for learners
    scope: str                     # "run": part of a scenario; "page": of the page only
    live: bool = False             # may change mid-run (the page, a scripted event)
    slider: tuple | None = None  # (start, end, step) of the page's slider
    toml: str | None = None     # key in a scenario's TOML file
    cli: str | None = None      # KEY in --set KEY=VALUE
    url: str | None = None      # query parameter in the page's address
    event: str | None = None    # KIND in the address's events=STEP:KIND:VALUE
    hideable: bool = False         # teacher mode: hide=<url name> hides its control
    shapes_loss: bool = False      # part of the loss in force (losses.LossSpec's fields)

    @property
    def rule(self) -> str:
        return self.kind.rule

    def check(self, value):
        """The value, typed, if it is valid; else SettingError naming the rule."""
        return self.kind.check(value)

    def parse(self, text: str):
        """A value typed as text (command line, address) -> the typed value."""
        return self.kind.parse(str(text))

    def write(self, value) -> str:
        """The value as text for an address or a log line (reads back exactly)."""
        return self.kind.write(value)


SETTINGS: tuple[Setting, ...] = (
    Setting("beta", Number(0, 100), None, "beta",
            "How strongly the policy is held to the reference when the votes are split "
            "(larger = closer): where a pair rests, its rows forming no cycle, its odds are "
            "the reference's odds times the vote odds to the power 1/beta. A larger beta "
            "needs a smaller learning rate (DPO's curvature grows like beta²). With unanimous "
            "votes it only slows the drift: KL keeps rising at any beta.",
            scope="run", live=True, slider=(0.05, 5.0, 0.05),
            toml="beta", cli="beta", url="beta", event="beta", hideable=True),
    Setting("learning_rate", Number(0, 100), None, "Learning rate",
            "Size of each gradient step: the policy moves by the learning rate times the "
            "gradient of the mean loss.",
            scope="run", live=True, slider=(0.01, 10.0, 0.01),
            toml="learning_rate", cli="learning_rate", url="lr", event="lr", hideable=True),
    Setting("adaptive_weight", Flag(), True, "Adaptive sigma weight",
            "On: each judgement pulls with DPO's weight σ(−u), which shrinks as the model "
            "comes to agree with it. Off: every judgement pulls with weight 1 forever (the "
            "bare margin −u).",
            scope="run", live=True,
            toml="adaptive_weight", cli="adaptive_weight", url="weight", event="weight",
            hideable=True, shapes_loss=True),
    Setting("loss_type", Choice(*LOSS_TYPES), "sigmoid", "Loss",
            "The per-judgement loss, by TRL's name: sigmoid is DPO, −log σ(u); ipo pulls "
            "each pair to a finite margin, even a unanimous one; hinge stops pulling once "
            "the margin u reaches 1; robust is DPO corrected for a share ε of flipped labels "
            "(rDPO, Chowdhury et al. 2024).",
            scope="run", live=True,
            toml="loss_type", cli="loss_type", url="loss", event="loss", hideable=True,
            shapes_loss=True),
    Setting("label_smoothing", Number(0, 0.5, lo_open=False, hi_open=True), 0.0,
            "label smoothing ε (robust)",
            "The share ε of labels the robust loss assumes were flipped by mistake; its "
            "weight never falls below ε/(1−2ε), so learned pairs keep pulling, and a row "
            "whose vote share is 1 − ε or more never rests (the other losses ignore ε).",
            scope="run", live=True, slider=(0.0, 0.45, 0.05),
            toml="label_smoothing", cli="label_smoothing", url="eps", event="eps",
            hideable=True, shapes_loss=True),
    Setting("steps", Whole(1, 10_000_000), 200, "Steps",
            "How many updates the scenario's story takes (the command line's default).",
            scope="run", toml="steps", cli="steps"),
    Setting("speed", Whole(1, 120), 20, "Speed (steps/s)",
            "Gradient steps per second while playing.",
            scope="page", slider=(1, 120, 1), url="speed", hideable=True),
)

BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}


def named_in(place: str) -> dict[str, Setting]:
    """{name there: setting} for one place: "toml", "cli", "url" or "event"."""
    return {getattr(s, place): s for s in SETTINGS if getattr(s, place)}


#: The run settings an action may change mid-run (Simulation.set, scripted events).
LIVE: tuple[str, ...] = tuple(s.name for s in SETTINGS if s.live and s.scope == "run")
#: The run settings a scenario holds (its TOML keys and Scenario fields).
RUN: tuple[str, ...] = tuple(s.name for s in SETTINGS if s.scope == "run")
#: Those that shape the numbers of a step (all but the run's length): the JSONL config
#: line holds them.
SHAPING: tuple[str, ...] = tuple(n for n in RUN if n != "steps")
#: Those that shape the per-judgement loss: the fields of ``losses.LossSpec``, the loss in
#: force as one value.
LOSS: tuple[str, ...] = tuple(s.name for s in SETTINGS if s.shapes_loss)


def check_live(changes: dict) -> dict:
    """``{name: value}`` of live settings, each checked and typed; SettingError names the
    first bad one (as "name: rule")."""
    out = {}
    for name, value in changes.items():
        s = BY_NAME.get(name)
        if s is None or name not in LIVE:
            raise SettingError(f"{name}: cannot be set during a run; settable: "
                               f"{', '.join(LIVE)}")
        try:
            out[name] = s.check(value)
        except SettingError as e:
            raise SettingError(f"{name}: {e}") from None
    return out


def table_json() -> list[dict]:
    """The table as JSON-ready dicts, one per setting, for code outside Python (the
    offline page's JavaScript engine checks values with these rules, so a setting is still
    declared only here). ``kind`` is "number", "whole", "flag" or "choice"; ``lo``, ``hi``,
    ``lo_open``, ``hi_open`` bound a number or a whole number (None for the other kinds),
    ``options`` lists a choice's names (None otherwise) and ``rule`` is the text a bad
    value's message quotes ("must be <rule>, got ...")."""
    out = []
    for s in SETTINGS:
        k = s.kind
        kind = {Number: "number", Whole: "whole", Flag: "flag", Choice: "choice"}[type(k)]
        bounded = kind in ("number", "whole")
        out.append({
            "name": s.name, "kind": kind,
            "lo": k.lo if bounded else None, "hi": k.hi if bounded else None,
            "lo_open": k.lo_open if kind == "number" else (False if bounded else None),
            "hi_open": k.hi_open if kind == "number" else (False if bounded else None),
            "options": list(k.options) if kind == "choice" else None,
            "rule": s.rule, "default": s.default, "label": s.label, "help": s.help,
            "scope": s.scope, "live": s.live,
            "slider": list(s.slider) if s.slider is not None else None,
            "toml": s.toml, "cli": s.cli, "url": s.url, "event": s.event,
            "hideable": s.hideable, "shapes_loss": s.shapes_loss,
        })
    return out
