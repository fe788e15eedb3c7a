"""Loading scenarios: presets by id, files by path, references, settings, configs."""

import json
import subprocess
import sys

import numpy as np
import pytest

from dpo_sim.sim.scenario_io import (
    ScenarioError,
    apply_settings,
    list_presets,
    load_scenario,
    parse_settings,
    scenario_from_config,
)
from dpo_sim.sim.simulation import run

MINI = """
title = "Mini"
watch = "Watch it."
beta = 2.0
learning_rate = 0.25
{extra}
[[prompts]]
text = "Q"
replies = ["a", "b"]

[[pairs]]
prompt = 0
chosen = 1
rejected = 0
votes_chosen = 3
votes_rejected = 1
"""


def write(tmp_path, name, extra=""):
    f = tmp_path / name
    f.write_text(MINI.format(extra=extra))
    return f


def test_defaults(tmp_path):
    s = load_scenario(write(tmp_path, "mini.toml"))
    assert s.id == "mini" and s.title == "Mini" and s.source.endswith("mini.toml")
    assert s.adaptive_weight is True and s.steps == 200 and s.loss_type == "sigmoid"
    assert np.array_equal(s.ref_logits, np.zeros((1, 2)))
    assert s.init_logits is None and np.array_equal(s.start_logits(), s.ref_logits)
    assert s.rows[0].as_tuple() == (0, 1, 0, 3, 1)
    assert s.events == ()


@pytest.mark.slow
def test_random_reference_is_numpys_default_rng(tmp_path):
    f = write(tmp_path, "r.toml", '[reference]\nkind = "random"\nseed = 11\nscale = 0.5\n')
    a, b = load_scenario(f), load_scenario(f)
    expected = np.random.default_rng(11).normal(scale=0.5, size=(1, 2))
    assert np.array_equal(a.ref_logits, expected) and np.array_equal(b.ref_logits, expected)
    # the same in a fresh process (no hidden global state)
    code = f"from dpo_sim.sim.scenario_io import load_scenario; print(load_scenario({str(f)!r})" \
           f".ref_logits.tolist())"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=60)
    assert json.loads(p.stdout) == expected.tolist()


def test_explicit_reference_and_init(tmp_path):
    f = write(tmp_path, "e.toml", '[reference]\nkind = "logits"\nlogits = [[1.0, -1.0]]\n'
                                  .replace("[reference]", "init = [[0.5, 0.5]]\n[reference]"))
    s = load_scenario(f)
    assert s.ref_logits.tolist() == [[1.0, -1.0]]
    assert s.start_logits().tolist() == [[0.5, 0.5]]


def test_events_keep_their_order_within_a_step(tmp_path):
    extra = ("steps = 9\n[[events]]\nstep = 4\nset = { beta = 1.0 }\n"
             "[[events]]\nstep = 2\nflip = 0\n[[events]]\nstep = 4\nflip = 0\n")
    s = load_scenario(write(tmp_path, "ev.toml", extra))
    assert [e.to_dict() for e in s.events] == [{"step": 2, "flip": 0},
                                               {"step": 4, "set": {"beta": 1.0}},
                                               {"step": 4, "flip": 0}]
    assert s.steps == 9


def test_presets_by_id_and_by_path(tmp_path):
    a = load_scenario("align")
    assert a.source == "presets/align.toml"
    from importlib import resources

    import dpo_sim.presets as presets
    path = resources.files(presets) / "align.toml"
    b = load_scenario(str(path))
    assert b.config() == a.config()


@pytest.mark.slow
def test_presets_are_found_from_an_installed_package_in_another_folder(tmp_path):
    code = ("from dpo_sim.sim.scenario_io import list_presets; "
            "print(sum(e is None for _, _, e in list_presets()))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       cwd=tmp_path, timeout=60)
    assert p.returncode == 0 and int(p.stdout) >= 7


def test_list_presets_names_broken_files_without_hiding_good_ones(tmp_path):
    write(tmp_path, "good.toml")
    (tmp_path / "bad.toml").write_text(MINI.format(extra="beta_typo = 1\n"))
    (tmp_path / "syntax.toml").write_text("title = \n")
    listed = list_presets(tmp_path)
    assert [x[0] for x in listed] == ["bad", "good", "syntax"]
    (_, t_bad, e_bad), (_, t_good, e_good), (_, _, e_syn) = listed
    assert t_good == "Mini" and e_good is None
    assert t_bad is None and isinstance(e_bad, ScenarioError)
    assert e_bad.file.endswith("bad.toml") and e_bad.field == "beta_typo"
    assert "unknown key" in e_bad.rule and "did you mean 'beta'" in e_bad.rule
    assert e_syn.field == "TOML syntax"


def test_error_has_file_field_rule():
    e = ScenarioError("presets/broken.toml", "pairs[2].chosen",
                      "must be an index of a reply of prompt 0 (0..3), got 7")
    assert str(e) == ("presets/broken.toml: pairs[2].chosen: must be an index of a reply of "
                      "prompt 0 (0..3), got 7")


@pytest.mark.parametrize("value,expected", [("on", True), ("off", False), ("true", True),
                                            ("False", False), ("1", True), ("0", False)])
def test_apply_settings_weight(value, expected):
    s = apply_settings(load_scenario("align"), {"adaptive_weight": value})
    assert s.adaptive_weight is expected


def test_apply_settings_numbers_and_steps():
    a = load_scenario("align")
    s = apply_settings(a, parse_settings(["beta=0.5", "learning_rate=2e-1", "steps=12"]))
    assert (s.beta, s.learning_rate, s.steps) == (0.5, 0.2, 12)
    assert a.beta == 1.0 and a.steps == 400        # the original is untouched
    assert apply_settings(a, {}) is a


def test_scenario_from_config_round_trip(tmp_path):
    extra = ('init = [[0.25, -0.5]]\n[reference]\nkind = "random"\nseed = 3\nscale = 1.0\n'
             '[[events]]\nstep = 5\nflip = 0\n[[events]]\nstep = 7\n'
             'set = { learning_rate = 0.1, adaptive_weight = false }\n')
    s = load_scenario(write(tmp_path, "rt.toml", extra))
    config = json.loads(json.dumps(s.config()))
    back = scenario_from_config(config)
    assert back.config() == s.config()
    ha, hb = run(s, 30), run(back, 30)
    assert [r.to_dict() for r in ha] == [r.to_dict() for r in hb]


def test_scenario_from_config_validates():
    config = load_scenario("align").config()
    config["pairs"][1]["chosen"] = 9
    with pytest.raises(ScenarioError) as e:
        scenario_from_config(config)
    assert e.value.field == "pairs[1].chosen"
    config = load_scenario("align").config()
    config["extra"] = 1
    with pytest.raises(ScenarioError, match="extra: unknown key"):
        scenario_from_config(config)


# -- the optional true reward (the frontier view's r*) ---------------------------------
def test_true_reward_is_read_and_kept_in_the_config_line_only_when_given(tmp_path):
    s = load_scenario(write(tmp_path, "tr.toml", "true_reward = [[0.5, -1.25]]\n"))
    assert s.true_reward.tolist() == [[0.5, -1.25]] and s.true_reward.dtype == float
    config = json.loads(json.dumps(s.config()))
    assert config["true_reward"] == [[0.5, -1.25]]
    back = scenario_from_config(config)
    assert back.true_reward.tolist() == [[0.5, -1.25]] and back.config() == s.config()
    # without one: None, and the config line has no such key (other scenarios' config
    # lines keep their bytes)
    plain = load_scenario(write(tmp_path, "plain.toml"))
    assert plain.true_reward is None and "true_reward" not in plain.config()
    assert list(load_scenario("align").config())[-1] == "events"
    assert scenario_from_config(plain.config()).true_reward is None


def test_mislabel_states_its_true_reward_with_the_microwave_lowest():
    s = load_scenario("mislabel")
    assert s.true_reward.shape == (2, 4)
    egg = s.prompts[0].replies
    low = int(np.argmin(s.true_reward[0]))
    assert "Microwave" in egg[low]
    assert int(np.argmax(s.true_reward[0])) == 0          # the good answer
    assert all(load_scenario(p).true_reward is None for p in ("align", "unanimous"))


@pytest.mark.parametrize("value, field, rule", [
    ("[[0.5, -1.0], [1.0, 2.0]]", "true_reward",
     "must have one row of rewards per prompt (1), got 2"),
    ("[[0.5, -1.0, 2.0]]", "true_reward[0]",
     "must have one reward per reply of prompt 0 (2), got 3"),
    ("[[0.5]]", "true_reward[0]", "must have one reward per reply of prompt 0 (2), got 1"),
    ("[[0.5, inf]]", "true_reward[0][1]", "must be a finite number, got inf"),
    ("[[nan, 1.0]]", "true_reward[0][0]", "must be a finite number, got nan"),
    ("[[0.5, \"high\"]]", "true_reward[0][1]", "must be a number, got a string 'high'"),
    ("[0.5]", "true_reward[0]", "must be a list, got a number"),
    ("1.0", "true_reward", "must be a list, got a number"),
])
def test_true_reward_errors_name_the_file_field_and_rule(tmp_path, value, field, rule):
    f = write(tmp_path, "bad.toml", f"true_reward = {value}\n")
    with pytest.raises(ScenarioError) as e:
        load_scenario(f)
    assert e.value.file == str(f) and e.value.field == field and e.value.rule == rule
    assert str(e.value) == f"{f}: {field}: {rule}"


def test_true_reward_in_a_config_line_is_checked_too():
    config = load_scenario("mislabel").config()
    config["true_reward"] = [[0.0, 1.0, 2.0, 3.0]]
    with pytest.raises(ScenarioError) as e:
        scenario_from_config(config, file="run.jsonl")
    assert (e.value.file, e.value.field) == ("run.jsonl", "true_reward")
    assert e.value.rule == "must have one row of rewards per prompt (2), got 1"
