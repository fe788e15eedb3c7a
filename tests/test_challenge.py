"""The validator's new rules: [challenge], reference kind "probs", the page's limits and no
control characters in texts (sim/challenge.py, sim/scenario_io.py)."""

import copy
import json
import math
import tomllib
from pathlib import Path

import numpy as np
import pytest

from dpo_sim.sim.scenario_io import (
    LIMITS,
    ScenarioError,
    build_scenario,
    load_scenario,
    preset_ids,
    scenario_from_config,
)

PRESETS_DIR = Path(__file__).resolve().parent.parent / "presets"


def align_doc():
    return tomllib.loads((PRESETS_DIR / "align.toml").read_text(encoding="utf-8"))


CHALLENGE = {
    "text": "Every row right with KL below 0.3 on both prompts by step 300, moving only beta.",
    "by_step": 300, "controls": ["beta"],
    "goals": [{"metric": "rewards/accuracies", "per": "row", "at_least": 1},
              {"metric": "kl", "at_most": 0.3}],
}


def build(doc):
    return build_scenario(doc, file="t.toml", id="t")


def error_of(doc):
    with pytest.raises(ScenarioError) as e:
        build(doc)
    return e.value.field, e.value.rule


def test_challenge_normalised_and_in_the_config():
    doc = align_doc()
    doc["challenge"] = copy.deepcopy(CHALLENGE)
    s = build(doc)
    assert s.challenge == {
        "text": CHALLENGE["text"], "by_step": 300, "controls": ["beta"],
        "goals": [{"metric": "rewards/accuracies", "per": "row", "at_least": 1.0},
                  {"metric": "kl", "at_most": 0.3}]}
    cfg = s.config()
    assert cfg["challenge"] == s.challenge and cfg["watch"] == doc["watch"]
    back = scenario_from_config(json.loads(json.dumps(cfg)))
    assert back.challenge == s.challenge and back.config() == cfg
    # defaults filled: a TRL metric without `per` is per judgement
    doc["challenge"] = {"goals": [{"metric": "loss", "below": 0.5}]}
    assert build(doc).challenge == {"goals": [{"metric": "loss", "per": "judgement",
                                               "below": 0.5}]}
    # no challenge: no key in the config (the other config lines keep their bytes)
    assert "challenge" not in load_scenario("align").config()


def test_every_kind_of_goal_is_accepted():
    doc = align_doc()
    goals = [{"metric": "kl_to_rlhf", "prompt": 1, "below": 1},
             {"metric": "pairs/sigma", "row": 5, "above": 0.5},
             {"metric": "probs", "prompt": 0, "reply": 3, "at_most": 0.1, "text": "rude <b>"},
             {"metric": "step", "at_least": 10}, {"metric": "flips", "at_most": 0},
             {"metric": "beta", "above": 0.5}, {"metric": "adaptive_weight", "equals": False},
             {"metric": "loss_type", "equals": "ipo"}]
    doc["challenge"] = {"goals": goals, "controls": []}
    s = build(doc)
    assert s.challenge["controls"] == [] and len(s.challenge["goals"]) == 8
    assert s.challenge["goals"][6] == {"metric": "adaptive_weight", "equals": False}


@pytest.mark.parametrize("challenge, field, rule", [
    ({}, "challenge.goals", "is required but missing"),
    ({"goals": []}, "challenge.goals", "must hold at least one goal"),
    ({"goals": [{"metric": "kl", "below": 1}] * 9}, "challenge.goals",
     "holds 9 goals; at most 8 (what the page can show)"),
    ({"goals": [{"below": 1}]}, "challenge.goals[0].metric", "is required: one of"),
    ({"goals": [{"metric": "kl", "below": 1}, {"metric": "acc", "below": 1}]},
     "challenge.goals[1].metric", "must be one of loss, "),
    ({"goals": [{"metric": "kl", "prompt": 2, "below": 1}]}, "challenge.goals[0].prompt",
     "must be an index of a prompt (0..1), got 2"),
    ({"goals": [{"metric": "kl", "row": 0, "below": 1}]}, "challenge.goals[0].row",
     "unknown key"),
    ({"goals": [{"metric": "pairs/weight", "row": 6, "below": 1}]},
     "challenge.goals[0].row", "must be an index of a row of pairs (0..5), got 6"),
    ({"goals": [{"metric": "probs", "prompt": 0, "below": 1}]}, "challenge.goals[0].reply",
     "is required but missing"),
    ({"goals": [{"metric": "kl"}]}, "challenge.goals[0]",
     "must have exactly one comparison: one of above, below, at_least, at_most"),
    ({"goals": [{"metric": "kl", "above": 0, "below": 1}]}, "challenge.goals[0]",
     "must have exactly one comparison: one of above, below, at_least, at_most, got 2 "
     "(above, below)"),
    ({"goals": [{"metric": "kl", "below": math.inf}]}, "challenge.goals[0].below",
     "must be a finite number, got inf"),
    ({"goals": [{"metric": "kl", "equals": 1}]}, "challenge.goals[0].equals", "unknown key"),
    ({"goals": [{"metric": "loss_type", "below": 1}]}, "challenge.goals[0].below",
     "unknown key"),
    ({"goals": [{"metric": "loss_type", "equals": "dpo"}]}, "challenge.goals[0].equals",
     "must be one of sigmoid, ipo, hinge, robust, got 'dpo'"),
    ({"goals": [{"metric": "loss", "per": "pair", "below": 1}]}, "challenge.goals[0].per",
     "must be one of judgement, row, got 'pair'"),
    ({"goals": [{"metric": "kl", "below": 1}], "by_step": 0}, "challenge.by_step",
     "must be >= 1, got 0"),
    ({"goals": [{"metric": "kl", "below": 1}], "controls": ["beta", "speed"]},
     "challenge.controls[1]", "must be one of beta, learning_rate, adaptive_weight, "
     "loss_type, label_smoothing, flip, got 'speed'"),
    ({"goals": [{"metric": "kl", "below": 1}], "controls": ["flip", "flip"]},
     "challenge.controls[1]", "lists 'flip' twice"),
    ({"goals": [{"metric": "kl", "below": 1}], "hint": "x"}, "challenge.hint",
     "unknown key"),
    ({"goals": [{"metric": "kl", "below": 1, "text": "a\x00b"}]},
     "challenge.goals[0].text", "must not contain the control character U+0000"),
])
def test_challenge_errors_name_the_field(challenge, field, rule):
    doc = align_doc()
    doc["challenge"] = challenge
    f, r = error_of(doc)
    assert f == field and r.startswith(rule), (f, r)


def test_reference_probs():
    doc = align_doc()
    probs = [[0.4, 0.3, 0.2, 0.1], [0.25, 0.25, 0.25, 0.25]]
    doc["reference"] = {"kind": "probs", "probs": probs}
    s = build(doc)
    ref = np.exp(s.ref_logits)          # softmax of log p is p when p sums to 1
    assert np.allclose(ref / ref.sum(axis=1, keepdims=True), probs, atol=1e-15)
    assert s.ref_logits[0, 0] == math.log(0.4)
    doc["reference"]["probs"] = [[0.4, 0.3, 0.2, 0.0], probs[1]]
    assert error_of(doc) == ("reference.probs[0][3]", "must be > 0 (a probability), got 0.0")
    doc["reference"]["probs"] = [[0.4, 0.3, 0.2, 0.2], probs[1]]
    assert error_of(doc) == ("reference.probs[0]",
                             "must sum to 1 (within 1e-09), got 1.1")
    doc["reference"]["probs"] = [probs[0]]
    assert error_of(doc) == ("reference.probs",
                             "must have one row of probabilities per prompt (2), got 1")
    # within the tolerance is accepted
    doc["reference"]["probs"] = [[0.4 + 5e-10, 0.3, 0.2, 0.1], probs[1]]
    build(doc)


def test_limits_name_the_count_and_the_limit():
    assert LIMITS == {"MAX_PROMPTS": 4, "MAX_REPLIES": 6, "MAX_ROWS": 24, "MAX_TEXT": 400,
                      "MAX_TITLE": 80, "MAX_WATCH": 1200, "MAX_EVENTS": 50,
                      "MAX_FEATURES": 16}
    doc = align_doc()
    d = copy.deepcopy(doc)
    d["prompts"] = d["prompts"] + d["prompts"] + d["prompts"][:1]
    assert error_of(d) == ("prompts", "holds 5 prompts; at most 4 (what the page can show)")
    d = copy.deepcopy(doc)
    for p in d["prompts"]:
        p["replies"] = p["replies"] + ["a", "b", "c"]
    assert error_of(d) == ("prompts[0].replies",
                           "holds 7 replies; at most 6 per prompt (what the page can show)")
    d = copy.deepcopy(doc)
    d["pairs"] = d["pairs"] * 5
    assert error_of(d) == ("pairs", "holds 30 rows; at most 24 (what the page can show)")
    d = copy.deepcopy(doc)
    d["events"] = [{"step": 1, "flip": 0}] * 51
    assert error_of(d) == ("events", "holds 51 events; at most 50 (what the page can show)")
    for field, limit, path in (("title", 80, ("title",)), ("watch", 1200, ("watch",)),
                               ("prompts[1].text", 400, ("prompts", 1, "text")),
                               ("prompts[0].replies[2]", 400, ("prompts", 0, "replies", 2))):
        d = copy.deepcopy(doc)
        t = d
        for k in path[:-1]:
            t = t[k]
        t[path[-1]] = "é" * limit       # at the limit: fine (characters, not bytes)
        build(d)
        t[path[-1]] = "é" * (limit + 1)
        assert error_of(d) == (field, f"is {limit + 1} characters long; at most {limit} "
                                      f"(what the page can show)")


@pytest.mark.parametrize("ch", ["\x00", "\x07", "\r", "\x1b", "\x7f", "\x85", "\x9f"])
def test_control_characters_are_refused(ch):
    doc = align_doc()
    doc["prompts"][0]["replies"][1] = f"Boil{ch}it."
    assert error_of(doc) == ("prompts[0].replies[1]",
                             f"must not contain the control character U+{ord(ch):04X} "
                             f"(only newline and tab are allowed)")


def test_newline_tab_and_other_unicode_are_texts():
    doc = align_doc()
    doc["title"] = "a\tb"
    doc["prompts"][0]["text"] = "line 1\nline 2 \u202e\u2028\u2029 <script>"
    assert build(doc).prompts[0].text == doc["prompts"][0]["text"]


def test_every_preset_still_loads_and_its_config_round_trips():
    for pid in preset_ids():
        s = load_scenario(pid)
        cfg = json.loads(json.dumps(s.config()))
        assert cfg["watch"] == s.watch
        assert scenario_from_config(cfg).config() == s.config()


def test_the_format_example_in_presets_readme_is_valid():
    text = (PRESETS_DIR / "README.md").read_text(encoding="utf-8")
    block = text.split("```toml\n", 1)[1].split("```", 1)[0]
    s = build_scenario(tomllib.loads(block), file="presets/README.md", id="example")
    assert s.challenge["by_step"] == 300 and s.challenge["controls"] == ["beta"]
    assert [g["metric"] for g in s.challenge["goals"]] == ["rewards/accuracies", "kl"]


def test_the_page_gets_the_limits():
    from dpo_sim.app.interactive import page_data

    data = page_data([load_scenario("align")])
    assert data["limits"] == {"MAX_PROMPTS": 4, "MAX_REPLIES": 6, "MAX_ROWS": 24,
                              "MAX_TEXT": 400, "MAX_TITLE": 80, "MAX_WATCH": 1200,
                              "MAX_EVENTS": 50, "MAX_FEATURES": 16}
