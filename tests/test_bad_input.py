"""Every kind of bad input gives exit code 2 and one line naming file, field and rule."""

import copy
import json
import subprocess
import sys

import pytest

from dpo_sim.app.cli import main

GOOD = {
    "title": "Tiny",
    "watch": "Something to watch.",
    "beta": 1.0,
    "learning_rate": 0.5,
    "prompts": [
        {"text": "Q0", "replies": ["a", "b", "c", "d"]},
        {"text": "Q1", "replies": ["e", "f", "g", "h"]},
    ],
    "pairs": [
        {"prompt": 0, "chosen": 0, "rejected": 1, "votes_chosen": 7, "votes_rejected": 3},
        {"prompt": 1, "chosen": 2, "rejected": 3, "votes_chosen": 1},
    ],
    "events": [{"step": 3, "flip": 1}, {"step": 5, "set": {"beta": 2.0}}],
}


def _value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, float):
        return {float("inf"): "inf", float("-inf"): "-inf"}.get(v, "nan" if v != v else repr(v))
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    return repr(v)


def to_toml(doc: dict) -> str:
    """A tiny TOML writer for the shapes a scenario uses (enough for these tests)."""
    lines, tables = [], []
    for k, v in doc.items():
        if isinstance(v, dict):
            tables.append(f"[{k}]\n" + "".join(f"{a} = {_value(b)}\n" for a, b in v.items()))
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            for x in v:
                tables.append(f"[[{k}]]\n" + "".join(f"{a} = {_value(b)}\n"
                                                     for a, b in x.items()))
        else:
            lines.append(f"{k} = {_value(v)}")
    return "\n".join(lines) + "\n\n" + "\n".join(tables)


def edit(path, value):
    """A copy of GOOD with doc[path...] = value (value DELETE removes the key)."""
    doc = copy.deepcopy(GOOD)
    *head, last = path
    node = doc
    for p in head:
        node = node[p]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return doc


DELETE = object()

# (case id, path into GOOD, new value, field named in the message, words of the rule)
CASES = [
    ("unknown key", ["colour"], "red", "colour", "unknown key"),
    ("unknown nested key", ["pairs", 0, "vote"], 3, "pairs[0].vote", "unknown key"),
    ("missing title", ["title"], DELETE, "title", "required"),
    ("beta wrong type", ["beta"], "high", "beta", "must be a number"),
    ("beta zero", ["beta"], 0.0, "beta", "must be a number > 0 and <= 100"),
    ("beta negative", ["beta"], -1, "beta", "must be a number > 0 and <= 100"),
    ("beta infinite", ["beta"], float("inf"), "beta", "> 0 and <= 100, got inf"),
    ("learning rate nan", ["learning_rate"], float("nan"), "learning_rate",
     "> 0 and <= 100, got nan"),
    ("weight wrong type", ["adaptive_weight"], "off", "adaptive_weight", "true or false"),
    ("steps zero", ["steps"], 0, "steps", "whole number from 1 to"),
    ("steps float", ["steps"], 2.5, "steps", "whole number"),
    ("unknown loss", ["loss_type"], "magic", "loss_type", "must be one of"),
    ("no prompts", ["prompts"], [], "prompts", "at least one prompt"),
    ("one reply", ["prompts", 1, "replies"], ["e"], "prompts[1].replies", "at least 2"),
    ("ragged prompts", ["prompts", 1, "replies"], ["e", "f", "g"], "prompts[1].replies",
     "same number of replies"),
    ("reply not text", ["prompts", 0, "replies", 2], 3, "prompts[0].replies[2]",
     "must be a string"),
    ("no rows", ["pairs"], [], "pairs", "at least one"),
    ("reply index", ["pairs", 0, "chosen"], 7, "pairs[0].chosen",
     "must be an index of a reply of prompt 0 (0..3), got 7"),
    ("negative index", ["pairs", 1, "rejected"], -1, "pairs[1].rejected", "index of a reply"),
    ("prompt index", ["pairs", 1, "prompt"], 2, "pairs[1].prompt", "index of a prompt"),
    ("index float", ["pairs", 0, "rejected"], 1.0, "pairs[0].rejected", "index"),
    ("self compare", ["pairs", 0, "rejected"], 0, "pairs[0].rejected", "with itself"),
    ("negative votes", ["pairs", 0, "votes_rejected"], -2, "pairs[0].votes_rejected", ">= 0"),
    ("no votes", ["pairs", 1, "votes_chosen"], 0, "pairs[1].votes_chosen", "no votes"),
    ("votes bool", ["pairs", 0, "votes_chosen"], True, "pairs[0].votes_chosen",
     "must be a number"),
    ("bad reference kind", ["reference"], {"kind": "magic"}, "reference.kind",
     "must be one of"),
    ("reference logits length", ["reference"],
     {"kind": "logits", "logits": [[0.0, 0, 0, 0], [0.0, 1, 2]]}, "reference.logits[1]",
     "one logit per reply"),
    ("reference logits rows", ["reference"], {"kind": "logits", "logits": [[0.0, 0, 0, 0]]},
     "reference.logits", "one row of logits per prompt"),
    ("reference logit not a number", ["reference"],
     {"kind": "logits", "logits": [[0.0, 0, 0, 0], [0.0, 1, 2, "x"]]},
     "reference.logits[1][3]", "must be a number"),
    ("random without seed", ["reference"], {"kind": "random", "scale": 1.0},
     "reference.seed", "required"),
    ("random negative scale", ["reference"], {"kind": "random", "seed": 1, "scale": -1.0},
     "reference.scale", ">= 0"),
    ("uniform with logits", ["reference"], {"kind": "uniform", "logits": [[0.0]]},
     "reference.logits", "unknown key"),
    ("init length", ["init"], [[0.0, 0, 0, 0], [1.0, 2, 3, 4, 5]], "init[1]",
     "one logit per reply"),
    ("unknown event kind", ["events", 0], {"step": 3, "explode": 1}, "events[0].explode",
     "unknown key"),
    ("event with nothing", ["events", 0], {"step": 3}, "events[0]", "exactly one of"),
    ("event with both", ["events", 0], {"step": 3, "flip": 0, "set": {"beta": 1.0}},
     "events[0]", "exactly one of"),
    ("event flip range", ["events", 0, "flip"], 2, "events[0].flip", "index of a row"),
    ("event negative step", ["events", 0, "step"], -1, "events[0].step", ">= 0"),
    ("event set unknown", ["events", 1, "set"], {"gamma": 1.0}, "events[1].set.gamma",
     "unknown key"),
    ("event set beta", ["events", 1, "set"], {"beta": 0.0}, "events[1].set.beta",
     "must be a number > 0 and <= 100"),
    ("event set weight", ["events", 1, "set"], {"adaptive_weight": 1},
     "events[1].set.adaptive_weight", "true or false"),
]


def run_cli(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_the_good_file_runs(tmp_path, capsys):
    f = tmp_path / "good.toml"
    f.write_text(to_toml(GOOD))
    code, out, err = run_cli(["run", str(f), "--steps", "6"], capsys)
    assert code == 0 and err == ""
    assert len(out.splitlines()) == 8


@pytest.mark.parametrize("case,path,value,field,rule", CASES, ids=[c[0] for c in CASES])
def test_broken_scenario(tmp_path, capsys, case, path, value, field, rule):
    f = tmp_path / "broken.toml"
    f.write_text(to_toml(edit(path, value)))
    code, out, err = run_cli(["run", str(f), "--steps", "3"], capsys)
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert f"{f}: {field}: " in lines[0]
    assert rule in lines[0]
    assert "Traceback" not in err


def test_toml_syntax_error(tmp_path, capsys):
    f = tmp_path / "syntax.toml"
    f.write_text('title = "x\nbeta = 1\n')
    code, out, err = run_cli(["run", str(f)], capsys)
    assert code == 2 and f"{f}: TOML syntax: " in err and "line" in err


def test_not_utf8(tmp_path, capsys):
    f = tmp_path / "latin.toml"
    f.write_bytes(b'title = "caf\xe9"\n')
    code, _, err = run_cli(["run", str(f)], capsys)
    assert code == 2 and f"{f}: file: " in err and "UTF-8" in err


def test_missing_file_and_unknown_id(tmp_path, capsys):
    missing = tmp_path / "nope.toml"
    code, _, err = run_cli(["run", str(missing)], capsys)
    assert code == 2 and f"{missing}: file: does not exist" in err
    code, _, err = run_cli(["run", "no-such-preset"], capsys)
    assert code == 2 and "no-such-preset: scenario: " in err and "align" in err


@pytest.mark.parametrize("setting,field,rule", [
    ("beta=abc", "beta", "must be a number > 0 and <= 100, got 'abc'"),
    ("beta=-1", "beta", "> 0 and <= 100"),
    ("beta=nan", "beta", "> 0 and <= 100"),
    ("beta=100.5", "beta", "> 0 and <= 100"),
    ("learning_rate=0", "learning_rate", "> 0 and <= 100"),
    ("learning_rate=inf", "learning_rate", "> 0 and <= 100"),
    ("adaptive_weight=maybe", "adaptive_weight", "on or off"),
    ("loss_type=ipo", "loss_type", "one of sigmoid"),
    ("steps=0", "steps", "whole number from 1 to"),
    ("steps=1.5", "steps", "whole number"),
    ("gamma=1", "gamma", "unknown setting"),
    ("bta=1", "bta", "did you mean 'beta'"),
    ("beta", "beta", "must be KEY=VALUE"),
])
def test_bad_set(capsys, setting, field, rule):
    code, out, err = run_cli(["run", "align", "--set", setting], capsys)
    assert code == 2 and out == ""
    assert f"--set: {field}: " in err and rule in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize("steps", ["-1", "abc", "2.5"])
def test_bad_steps(capsys, steps):
    code, out, err = run_cli(["run", "align", "--steps", steps], capsys)
    assert code == 2 and out == ""
    assert "--steps: must be a whole number from 0 to 10000000" in err and steps in err


def test_export_reports_a_broken_scenario_before_building_anything(tmp_path, capsys):
    f = tmp_path / "broken.toml"
    f.write_text(to_toml(edit(["beta"], -1)))
    code, _, err = run_cli(["export", "align", str(f), "--out", str(tmp_path / "x.html")],
                           capsys)
    assert code == 2 and f"{f}: beta: " in err
    assert not (tmp_path / "x.html").exists()


def test_unwritable_out(tmp_path, capsys):
    out = tmp_path / "missing-dir" / "run.jsonl"
    code, _, err = run_cli(["run", "align", "--steps", "1", "--out", str(out)], capsys)
    assert code == 2 and err == (f"dpo-sim: --out: cannot write {str(out)!r}: its folder "
                                 f"{str(out.parent)!r} does not exist\n")


def test_a_real_process_prints_no_traceback(tmp_path):
    f = tmp_path / "broken.toml"
    f.write_text(to_toml(edit(["pairs", 0, "chosen"], 7)))
    p = subprocess.run([sys.executable, "-m", "dpo_sim", "run", str(f)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.strip() == (f"dpo-sim: {f}: pairs[0].chosen: must be an index of a reply "
                                f"of prompt 0 (0..3), got 7")
