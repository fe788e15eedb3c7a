"""Challenges and their goals on the page (app/ui/goals.js, views/challenge.js), in Node:

- the evaluator on every metric and every comparison, at and around each boundary, against
  the comparison computed here (exact: no rounding);
- the words of a goal without its own text;
- a challenge's status: open, met (sticky, at the first step all goals hold at once, only
  up to by_step), can no longer be met (past by_step; a control outside `controls`, said by
  name; a link's), and a reset starting it again;
- which controls a challenge refuses, and why;
- the two challenged presets played through the page's controller over the twin engine
  (solutions and non-solutions), the page's verdict held against a run of
  ``sim.Simulation`` with the same actions and the goals evaluated here, in Python;
- the cost of checking the goals per screen update.
"""

from __future__ import annotations

import json
import math
import operator
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from dpo_sim.app.texts import CHALLENGE_TEXTS as W
from dpo_sim.sim.settings import table_json

NODE = shutil.which("node")
DRIVER = Path(__file__).resolve().parent / "js_goals_driver.mjs"
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")


def _fin(v):
    if isinstance(v, float) and not math.isfinite(v):
        return "__NaN__" if v != v else ("__Inf__" if v > 0 else "__-Inf__")
    if isinstance(v, dict):
        return {k: _fin(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_fin(x) for x in v]
    return v


def node(jobs: list[dict]) -> list:
    text = json.dumps(_fin({"T": W, "table": table_json(), "jobs": jobs}), allow_nan=False)
    p = subprocess.run([NODE, str(DRIVER)], input=text, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr[-4000:]
    return json.loads(p.stdout)


# --- the evaluator ---------------------------------------------------------------------------
CMP = {"above": operator.gt, "below": operator.lt, "at_least": operator.ge,
       "at_most": operator.le}


def base_view() -> dict:
    """A page state with distinct numbers everywhere (2 prompts x 3 replies, 3 rows)."""
    rec = {"step": 7, "loss": 0.5, "rewards/chosen": 0.25, "rewards/rejected": -0.125,
           "rewards/margins": 0.375, "rewards/accuracies": 0.75, "logps/chosen": -1.5,
           "logps/rejected": -2.5, "kl": [0.1, 0.3], "kl_to_rlhf": [0.02, None],
           "pairs/margin": [0.5, -0.25, 1.5], "pairs/sigma": [0.6, 0.45, 0.9],
           "pairs/weight": [0.4, 0.55, 0.1], "probs": [[0.5, 0.3, 0.2], [0.25, 0.25, 0.5]],
           "beta": 2.0, "learning_rate": 0.5, "adaptive_weight": True,
           "loss_type": "sigmoid", "label_smoothing": 0.0}
    stored = {"loss": 0.7, "rewards/chosen": 0.2, "rewards/rejected": -0.1,
              "rewards/margins": 0.3, "rewards/accuracies": 2 / 3, "logps/chosen": -1.25,
              "logps/rejected": -2.75}
    state = {"t": 7, "beta": 2.0, "learning_rate": 0.5, "adaptive_weight": True,
             "loss_type": "sigmoid", "label_smoothing": 0.0, "flipped": [1]}
    return {"rec": rec, "stored": stored, "state": state, "id": "demo",
            "actions": [{"step": 0, "flip": 1}, {"step": 3, "set": {"beta": 2.0}}]}


def values_of(goal: dict, view: dict) -> list:
    """The numbers a goal compares, read here from the view (every prompt / every row when
    none is named)."""
    m, rec = goal["metric"], view["rec"]
    if m in ("loss", "rewards/chosen", "rewards/rejected", "rewards/margins",
             "rewards/accuracies", "logps/chosen", "logps/rejected"):
        return [(view["stored"] if goal.get("per") == "row" else rec)[m]]
    if m in ("kl", "kl_to_rlhf"):
        return [rec[m][goal["prompt"]]] if "prompt" in goal else rec[m]
    if m.startswith("pairs/"):
        return [rec[m][goal["row"]]] if "row" in goal else rec[m]
    if m == "probs":
        return [rec["probs"][goal["prompt"]][goal["reply"]]]
    if m == "step":
        return [rec["step"]]
    if m == "flips":
        return [sum(1 for a in view["actions"] if "flip" in a)]
    return [view["state"][m]]


def py_holds(goal: dict, view: dict) -> bool:
    if "equals" in goal:
        return values_of(goal, view)[0] == goal["equals"]
    (kind, target), = [(k, goal[k]) for k in CMP if k in goal]
    vals = values_of(goal, view)
    return bool(vals) and all(v is not None and not (isinstance(v, float) and math.isnan(v))
                              and CMP[kind](v, target) for v in vals)


def numeric_goals(view: dict) -> list[dict]:
    """Every numeric metric (with and without its prompt / row), each comparison, at the
    value itself, a hair either side (the next doubles), and well away."""
    wheres = [{"metric": m, "per": p} for m in ("loss", "rewards/chosen", "rewards/rejected",
                                                "rewards/margins", "rewards/accuracies",
                                                "logps/chosen", "logps/rejected")
              for p in ("judgement", "row")]
    wheres += [{"metric": m} for m in ("kl", "kl_to_rlhf", "pairs/margin", "pairs/sigma",
                                       "pairs/weight", "step", "flips", "beta",
                                       "learning_rate", "label_smoothing")]
    wheres += [{"metric": m, "prompt": x} for m in ("kl", "kl_to_rlhf") for x in (0, 1)]
    wheres += [{"metric": m, "row": i} for m in ("pairs/margin", "pairs/sigma",
                                                  "pairs/weight") for i in (0, 1, 2)]
    wheres += [{"metric": "probs", "prompt": x, "reply": y} for x in (0, 1)
               for y in (0, 1, 2)]
    goals = []
    for w in wheres:
        vals = [v for v in values_of(w, view) if v is not None]
        targets = set()
        for v in vals:
            v = float(v)
            targets |= {v, np.nextafter(v, np.inf), np.nextafter(v, -np.inf), v + 1, v - 1}
        for t in sorted(targets):
            for k in CMP:
                goals.append(dict(w, **{k: float(t)}))
    return goals


def test_every_metric_and_comparison_exactly_as_computed_here():
    view = base_view()
    goals = numeric_goals(view)
    goals += [{"metric": "adaptive_weight", "equals": b} for b in (True, False)]
    goals += [{"metric": "loss_type", "equals": s} for s in ("sigmoid", "ipo")]
    # a NaN (a diverged run) meets no comparison
    nan_view = base_view()
    nan_view["rec"]["loss"] = math.nan
    nan_goals = [{"metric": "loss", "per": "judgement", k: 0.0} for k in CMP]
    got = node([{"kind": "holds", "cases": [{"goal": g, "view": view} for g in goals]
                 + [{"goal": g, "view": nan_view} for g in nan_goals]}])[0]
    want = [py_holds(g, view) for g in goals] + [False] * len(nan_goals)
    bad = [(g, a, b) for g, a, b in zip(goals + nan_goals, got, want) if a != b]
    assert not bad, bad[:5]
    assert len(goals) > 500 and any(got) and not all(got)
    # the exact boundary: 0.9 is not above 0.9; the next double below 0.9 is not at least it
    assert py_holds({"metric": "pairs/sigma", "row": 2, "at_least": 0.9}, view)
    assert not py_holds({"metric": "pairs/sigma", "row": 2, "above": 0.9}, view)


def test_every_prompt_and_every_row_and_kl_to_pi_star_where_it_is_not_finite():
    view = base_view()
    cases = [({"metric": "kl", "at_most": 0.3}, True),           # both prompts
             ({"metric": "kl", "below": 0.3}, False),             # prompt 1 is at 0.3
             ({"metric": "kl_to_rlhf", "prompt": 0, "below": 1}, True),
             ({"metric": "kl_to_rlhf", "prompt": 1, "below": 1}, False),   # null: π* infinite
             ({"metric": "kl_to_rlhf", "below": 1}, False),
             ({"metric": "pairs/margin", "above": 0}, False),     # row 1 is wrong
             ({"metric": "pairs/margin", "above": -1}, True),
             ({"metric": "rewards/accuracies", "per": "row", "at_least": 1}, False),
             ({"metric": "flips", "at_least": 1}, True), ({"metric": "flips", "at_least": 2}, False)]
    got = node([{"kind": "holds", "cases": [{"goal": g, "view": view} for g, _ in cases]}])[0]
    assert got == [w for _, w in cases]


def test_try_it_goals_scenario_and_the_learners_own_setting():
    """Try it's own two fields: a goal for one scenario only, a setting the learner set."""
    from dpo_sim.app.learn_texts import TRY_STEPS

    goal = {s.id: s.goal for s in TRY_STEPS}
    v = base_view()
    v["rec"]["step"] = 100
    learner = dict(v, actions=[{"step": 2, "set": {"beta": 4.5}}],
                   state=dict(v["state"], beta=4.5))
    loaded = dict(v, actions=[], state=dict(v["state"], beta=4.5))
    cases = [(goal["play-align"], dict(v, id="align"), True),
             (goal["play-align"], dict(v, id="unanimous"), False),
             (goal["beta"], learner, True), (goal["beta"], loaded, False),
             (goal["flip"], v, True), (goal["flip"], dict(v, actions=[]), False),
             (goal["ipo"], v, False)]
    got = node([{"kind": "holds", "cases": [{"goal": g, "view": w} for g, w, _ in cases]}])[0]
    assert got == [want for *_, want in cases]


def test_the_words_of_a_goal_without_its_text():
    goals = [{"metric": "kl", "prompt": 1, "at_most": 0.3},
             {"metric": "kl", "below": 0.3},
             {"metric": "pairs/sigma", "above": 0.9},
             {"metric": "pairs/margin", "row": 2, "at_least": 0.0},
             {"metric": "kl_to_rlhf", "prompt": 0, "below": 0.05},
             {"metric": "rewards/accuracies", "per": "row", "at_least": 1.0},
             {"metric": "loss", "per": "judgement", "below": -1e-05},
             {"metric": "probs", "prompt": 0, "reply": 2, "at_most": 0.25},
             {"metric": "step", "at_least": 300.0},
             {"metric": "flips", "at_most": 1.0},
             {"metric": "beta", "above": 1.5},
             {"metric": "adaptive_weight", "equals": False},
             {"metric": "loss_type", "equals": "ipo"},
             {"metric": "kl", "at_most": 0.3, "text": "<b>mine</b>"}]
    assert node([{"kind": "text", "goals": goals}])[0] == [
        "KL on prompt 1 at most 0.3",
        "KL on every prompt below 0.3",
        "every row's σ(u) above 0.9",
        "row 2's margin u at least 0",
        "KL to π* on prompt 0 below 0.05",
        "rewards/accuracies per row at least 1",
        "loss per judgement below -1e-05",
        "π(reply 2 | prompt 0) at most 0.25",
        "the step at least 300",
        "your flips at most 1",
        "β above 1.5",
        "the σ weight off",
        "the loss is ipo",
        "<b>mine</b>",
    ]


def test_which_controls_a_challenge_refuses_and_why():
    only_beta = {"controls": ["beta"], "goals": [{"metric": "step", "at_least": 1.0}]}
    acts = [{"set": {"beta": 2.0}}, {"set": {"learning_rate": 1.0}}, {"flip": 0},
            {"set": {"beta": 2.0, "loss_type": "ipo"}}]
    r = node([{"kind": "refusal", "challenge": only_beta, "actions": acts},
              {"kind": "refusal", "challenge": dict(only_beta, controls=["flip", "beta"]),
               "actions": acts},
              {"kind": "refusal", "challenge": dict(only_beta, controls=[]), "actions": acts},
              {"kind": "refusal", "challenge": {"goals": only_beta["goals"]},
               "actions": acts}])
    beta = "This challenge lets you move only β."
    assert r[0] == {"reasons": [None, beta, beta, beta], "lock": beta}
    both = "This challenge lets you move only flips and β."
    assert r[1] == {"reasons": [None, both, None, both], "lock": both}
    assert r[2]["reasons"] == [W["none"]] * 4 and r[2]["lock"] == W["none"]
    assert r[3] == {"reasons": [None] * 4, "lock": None}


def _v(step, kl, run=0, actions=()):
    v = base_view()
    v["rec"]["step"], v["rec"]["kl"] = step, list(kl)
    return dict(v, run=run, actions=list(actions))


def test_a_challenges_status_open_met_sticky_missed_void_and_restarted():
    ch = {"by_step": 10, "controls": ["beta"],
          "goals": [{"metric": "kl", "at_most": 0.3}, {"metric": "step", "at_least": 5.0}]}
    views = [_v(0, [0.1, 0.1]),                    # open: the step goal not yet
             _v(4, [0.1, 0.1]),
             _v(6, [0.4, 0.1]),                    # KL goal not now
             _v(8, [0.2, 0.3]),                    # both: met at 8
             _v(9, [0.9, 0.9]),                    # sticky
             _v(0, [0.0, 0.0], run=1),             # a reset: open again
             _v(10, [0.5, 0.1], run=1),            # by_step, not met: missed
             _v(12, [0.1, 0.1], run=1),            # past by_step: all hold, still missed
             _v(3, [0.1, 0.1], run=2, actions=[{"step": 1, "set": {"learning_rate": 1.0}}]),
             _v(6, [0.1, 0.1], run=2, actions=[{"step": 1, "set": {"learning_rate": 1.0}}]),
             _v(6, [0.1, 0.1], run=3, actions=[{"step": 0, "set": {"beta": 2.0}},
                                               {"step": 0, "flip": 1, "link": True}]),
             _v(10, [0.3, 0.3], run=4, actions=[{"step": 2, "set": {"beta": 3.0}}])]
    st = node([{"kind": "track", "challenge": ch, "views": views}])[0]
    assert [s["state"] for s in st] == ["open", "open", "open", "met", "met", "open", "missed",
                                        "missed", "void", "void", "void", "met"]
    assert [s["metAt"] for s in st] == [None, None, None, 8, 8, None, None, None, None, None,
                                        None, 10]
    assert [s["holds"] for s in st[:5]] == [[True, False], [True, False], [False, True],
                                            [True, True], [False, True]]
    assert st[8]["used"] == ["learning_rate"] and st[8]["usedWords"] == "the learning rate"
    assert st[8]["fromLink"] is False
    assert st[10]["used"] == ["flip"] and st[10]["fromLink"] is True
    # without by_step: open until met, at any step
    st = node([{"kind": "track", "challenge": {"goals": ch["goals"]},
                "views": [_v(500, [0.5, 0.5]), _v(900, [0.1, 0.2])]}])[0]
    assert [(s["state"], s["metAt"]) for s in st] == [("open", None), ("met", 900)]
