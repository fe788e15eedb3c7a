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
from js_ui import finite_json

from dpo_sim.app.texts import CHALLENGE_TEXTS as W
from dpo_sim.sim.settings import table_json

NODE = shutil.which("node")
DRIVER = Path(__file__).resolve().parent / "js_goals_driver.mjs"
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")


def node(jobs: list[dict]) -> list:
    text = json.dumps(finite_json({"T": W, "table": table_json(), "jobs": jobs}), allow_nan=False)
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
             ({"metric": "flips", "at_least": 1}, True),
             ({"metric": "flips", "at_least": 2}, False)]
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
        "KL on prompt 2 at most 0.3",
        "KL on every prompt below 0.3",
        "every row's σ(u) above 0.9",
        "row 2's margin u at least 0",
        "KL to π* on prompt 1 below 0.05",
        "rewards/accuracies per row at least 1",
        "loss per judgement below -1e-05",
        "π(C | prompt 1) at most 0.25",
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


# --- the challenged presets, played through the page -----------------------------------------
def first_met(sid: str, actions: dict[int, list], steps: int) -> tuple[int | None, int]:
    """A run of ``sim.Simulation`` with the learner's actions ({step: [("flip", i) |
    ("set", {...})]}), every step checked against the preset's challenge as written here:
    the first step <= by_step at which every goal holds, and the number of flips made."""
    from dpo_sim.sim.scenario_io import load_scenario
    from dpo_sim.sim.simulation import Simulation

    sc = load_scenario(sid)
    ch = sc.challenge
    sim = Simulation(sc, keep_history=False)
    flips = 0
    rec = sim.record
    for t in range(steps + 1):
        for kind, arg in actions.get(t, []):
            if kind == "flip":
                rec, flips = sim.flip(arg), flips + 1
            else:
                rec = sim.set(**arg)
        if t <= ch["by_step"] and all(_py_goal(g, rec, flips) for g in ch["goals"]):
            return t, flips
        if t < steps:
            rec = sim.advance(1)
    return None, flips


def _py_goal(g: dict, rec, flips: int) -> bool:
    m = g["metric"]
    if m == "rewards/accuracies" and g.get("per") == "row":
        v = float(np.mean(rec.row_margin > 0))            # each row once: u > 0
        return v >= g["at_least"]
    if m == "kl":
        return bool(np.all(rec.kl <= g["at_most"]))
    if m == "step":
        return rec.step >= g["at_least"]
    if m == "probs":
        return rec.probs[g["prompt"], g["reply"]] >= g["at_least"]
    if m == "flips":
        return flips <= g["at_most"]
    raise AssertionError(f"this test does not evaluate {m}")


def preset_config(sid: str) -> dict:
    from dpo_sim.sim.scenario_io import load_scenario

    return load_scenario(sid).config()


def play(sid: str, script: list, query=None) -> list[dict]:
    return node([{"kind": "play", "config": preset_config(sid), "script": script,
                  **({"query": query} if query else {})}])[0]


def verdict(shot: dict) -> tuple:
    s = shot["status"]
    return s["state"], s["metAt"]


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")
def test_loose_leash_a_solution_and_the_natural_non_solutions():
    sid = "loose-leash"
    cases = {  # beta set at step 0 -> met?
        1.3: True, 1.15: True, 1.5: True,      # solutions
        0.25: False, 1.0: False, 1.1: False, 1.55: False, 4.0: False}
    jobs = []
    for beta in cases:
        script = ([] if beta == 0.25 else [["set", {"beta": beta}]]) + [["each", 300]]
        jobs.append({"kind": "play", "config": preset_config(sid), "script": script})
    for beta, shots in zip(cases, node(jobs)):
        py, _ = first_met(sid, {} if beta == 0.25 else {0: [("set", {"beta": beta})]}, 300)
        assert (py is not None) == cases[beta], (beta, py)           # the preset's comment
        end = shots[-1]
        assert end["t"] == 300
        assert verdict(end) == (("met", py) if py is not None else ("missed", None)), beta
        status = dict(end["texts"])["challenge-status"]
        assert status == (W["met"].format(step=300) if py is not None
                          else W["missed"].format(by_step=300))
        assert [g[2] for g in end["goals"]] == (["true"] * 3 if py is not None else
                                                 [g[2] for g in end["goals"]])
        assert end["goals"][2][1:] == (["Held: ", "true", "the step at least 300"]
                                       if py is not None
                                       else ["Holds now: ", "true", "the step at least 300"])


def test_loose_leash_on_the_page_words_locks_and_the_step_it_never_steps_over():
    shots = play("loose-leash", [["set", {"beta": 1.3}], ["set", {"learning_rate": 1.0}],
                                 ["flip", 0], ["step", 250], ["step", 100], ["reset"],
                                 ["step", 1]])
    first = shots[0]
    assert first["hidden"] is False
    lines = dict(first["texts"])
    assert lines["challenge-text"] == ("Tighten the leash with β alone: at step 300, every "
                                       "row right and KL at most 0.3 on both prompts.")
    assert lines["challenge-lock"] == "This challenge lets you move only β."
    assert [g[3] for g in first["goals"]] == ["every row right (u > 0 on each row)",
                                              "KL on every prompt at most 0.3",
                                              "the step at least 300"]
    assert [g[:3] for g in first["goals"]] == [["○", "Not yet: ", "false"],
                                               ["✓", "Holds now: ", "true"],
                                               ["○", "Not yet: ", "false"]]
    assert lines["challenge-status"] == W["open_by"].format(left=300, by_step=300)
    # the learning rate and a flip: refused with the reason, nothing changed
    lr, flip = shots[2], shots[3]
    assert lr["refusal"] == flip["refusal"] == "This challenge lets you move only β."
    assert dict(lr["texts"])["challenge-refusal"] == "This challenge lets you move only β."
    assert lr["actions"] == flip["actions"] == [{"step": 0, "set": {"beta": 1.3}}]
    assert flip["flipped"] == [] and flip["status"]["state"] == "open"
    # 250 then 100 steps: step 300 was checked on the way (met there), the run is at 350
    assert verdict(shots[4]) == ("open", None)
    assert shots[5]["t"] == 350 and verdict(shots[5]) == ("met", 300)
    assert shots[5]["said"] == "Challenge met at step 300."
    # Reset starts it again (β 1.3 kept: it is allowed), the refusal gone
    assert verdict(shots[6]) == ("open", None) and shots[6]["refusal"] == ""
    assert shots[6]["actions"] == [{"step": 0, "set": {"beta": 1.3}}]


def test_a_challenge_not_taken_locks_nothing_and_taking_it_starts_again_under_its_rule():
    """A scenario's challenge is the learner's to take: until then every control and any
    link works as in a scenario without one (the goals ticked as the run meets them), and
    taking it starts the run again with only the allowed settings kept."""
    job = {"kind": "play", "config": preset_config("loose-leash"), "take": False,
           "query": [["scenario", "loose-leash"], ["lr", "2"], ["beta", "1.3"]],
           "script": [["each", 5], ["flip", 0], ["take"], ["set", {"learning_rate": 1.0}],
                      ["take", False], ["set", {"learning_rate": 1.0}]]}
    shots = node([job])[0]
    first = shots[0]
    assert first["status"]["state"] == "off" and first["refusal"] == ""
    assert dict(first["texts"])["challenge-status"] == W["not_taken"].format(
        lock="This challenge lets you move only β.")
    assert "challenge-lock" not in dict(first["texts"])
    assert first["goals"][1][:3] == ["✓", "Holds now: ", "true"]     # ticked all the same
    assert shots[1]["t"] == 5 and shots[2]["flipped"] == [0]         # a flip: not refused
    # taken: step 0 again, the learning rate back to the scenario's, β (allowed) kept
    taken = shots[3]
    assert taken["t"] == 0 and taken["flipped"] == [] and taken["status"]["state"] == "open"
    assert taken["actions"] == [{"step": 0, "set": {"beta": 1.3}}]
    assert dict(taken["texts"])["challenge-lock"] == "This challenge lets you move only β."
    assert shots[4]["refusal"] == "This challenge lets you move only β."
    assert shots[4]["actions"] == [{"step": 0, "set": {"beta": 1.3}}]
    # left: free again, the run kept
    assert shots[6]["refusal"] == "" and shots[6]["status"]["state"] == "off"
    assert shots[6]["actions"][-1] == {"step": 0, "set": {"learning_rate": 1.0}}


def test_mislabel_solutions_and_non_solutions_against_the_engine():
    sid = "mislabel"
    plays = {  # name: (page script, the same actions for the Python run)
        "flip row 1 at 0": ([["flip", 1], ["each", 200]], {0: [("flip", 1)]}),
        "flip row 1 at 150": ([["each", 150], ["flip", 1], ["each", 50]], {150: [("flip", 1)]}),
        "flip row 1 at 170": ([["each", 170], ["flip", 1], ["each", 30]], {170: [("flip", 1)]}),
        "flip row 1 at 200": ([["each", 200], ["flip", 1], ["each", 40]], {200: [("flip", 1)]}),
        "no flip": ([["each", 200]], {}),
        "flip row 0": ([["flip", 0], ["each", 200]], {0: [("flip", 0)]}),
        "flip row 2": ([["flip", 2], ["each", 200]], {0: [("flip", 2)]}),
        "rows 0 and 1": ([["flip", 0], ["flip", 1], ["each", 200]],
                         {0: [("flip", 0), ("flip", 1)]}),
    }
    out = node([{"kind": "play", "config": preset_config(sid), "script": s}
                for s, _ in plays.values()])
    met = {}
    for (name, (_, acts)), shots in zip(plays.items(), out):
        end = shots[-1]
        py, flips = first_met(sid, acts, end["t"])
        met[name] = py
        assert verdict(end) == (("met", py) if py is not None else ("missed", None)), name
        assert sum(1 for a in end["actions"] if "flip" in a) == flips
    # what the preset's comment says
    assert met["flip row 1 at 0"] == 36 and met["flip row 1 at 150"] == 176
    assert met["flip row 1 at 170"] is not None and met["flip row 1 at 170"] <= 200
    assert [met[k] for k in ("flip row 1 at 200", "no flip", "flip row 0", "flip row 2",
                             "rows 0 and 1")] == [None] * 5
    # the page's words on the way
    shots = out[0]
    assert dict(shots[0]["texts"])["challenge-lock"] == "This challenge lets you move only flips."
    assert shots[1]["goals"][1][1:] == ["Holds now: ", "true", "your flips at most 1"]
    assert shots[-1]["said"] == "Challenge met at step 36."
    missed = out[4][-1]
    assert dict(missed["texts"])["challenge-status"] == W["missed"].format(by_step=200)
    assert missed["said"].startswith(W["said_missed"])


def test_a_scenario_without_a_challenge_shows_none_and_locks_nothing():
    shots = play("align", [["set", {"learning_rate": 1.0}], ["flip", 0], ["each", 3]])
    assert all(s["hidden"] and s["status"] is None and s["refusal"] == "" for s in shots)
    assert shots[-1]["flipped"] == [0] and len(shots[-1]["actions"]) == 2


def test_checking_the_goals_costs_well_under_a_millisecond_per_screen_update():
    cfg = preset_config("loose-leash")
    cfg["challenge"]["goals"] = cfg["challenge"]["goals"] + [
        {"metric": "pairs/sigma", "above": 0.5}, {"metric": "kl_to_rlhf", "below": 1.0},
        {"metric": "rewards/margins", "per": "row", "above": 0.0},
        {"metric": "probs", "prompt": 1, "reply": 0, "at_least": 0.1},
        {"metric": "beta", "at_most": 5.0}]                       # 8 goals, the most
    mean, median, p99 = node([{"kind": "speed", "config": cfg, "steps": 400}])[0]
    # (about 0.004 ms a check on a quiet machine; the bounds leave room for a busy one)
    assert median < 0.1 and mean < 0.5, (mean, median, p99)
