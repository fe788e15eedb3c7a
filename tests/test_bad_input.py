"""Every kind of bad input gives exit code 2 and one line naming file, field and rule."""

import copy
import errno
import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from dpo_sim.app.cli import main
from dpo_sim.sim.scenario_io import preset_ids
from helpers import FakePanelServer

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
    ("loss_type=dpo", "loss_type", "one of sigmoid, ipo, hinge, robust"),
    ("label_smoothing=0.5", "label_smoothing", "a number >= 0 and < 0.5"),
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


# -- bad command lines: every command, and none (which means serve) ------------------------
# Each gives exit code 2, nothing on stdout and exactly the one line shown on stderr.
# In argv and the line: {dir} is an existing folder, {file} an existing file, {toml} a good
# scenario file, {long} a name too long for the system.
RUN_SEE = " (see 'dpo-sim run --help')"
SERVE_SEE = " (see 'dpo-sim serve --help')"
ORIGIN_RULE = ("dpo-sim: --allow-websocket-origin: must be HOST or HOST:PORT (a name "
               "students type, no http:// and no path), got ")
PREFIX_RULE = ("dpo-sim: --prefix: must be a URL path of letters, digits and - _ . ~ / "
               "(for example /dpo), got ")
PORT_RULE = "dpo-sim: --port: must be a whole number from 1 to 65535, got "
ADDRESS_EMPTY = ("dpo-sim: --address: must be an address of this machine (127.0.0.1: this "
                 "machine only, 0.0.0.0: every network), got ")
SCENARIO_EMPTY = ("dpo-sim: SCENARIO: must be a preset id (see 'dpo-sim presets') or a path "
                  "to a TOML file, got ''")

BAD_COMMANDS = [
    # no command: the serve options
    ("none port 0", ["--port", "0"], PORT_RULE + "0"),
    ("none unknown option", ["--prot", "5006"],
     "dpo-sim serve: --prot: unknown option; did you mean --port?" + SERVE_SEE),
    ("none short unknown option", ["-x"], "dpo-sim serve: -x: unknown option" + SERVE_SEE),
    ("none command after flags", ["--no-browser", "run", "align"],
     "dpo-sim serve: unexpected argument 'run': the command goes first, e.g. "
     "'dpo-sim run ...'" + SERVE_SEE),
    ("unknown command", ["bogus"],
     "dpo-sim: argument COMMAND: invalid choice: 'bogus' (choose from 'run', 'presets', "
     "'serve', 'export', 'link') (see 'dpo-sim --help')"),
    ("mistyped command", ["srve"],
     "dpo-sim: argument COMMAND: invalid choice: 'srve' (choose from 'run', 'presets', "
     "'serve', 'export', 'link'); did you mean 'serve'? (see 'dpo-sim --help')"),
    # serve: checked before anything starts
    ("serve port 0", ["serve", "--port", "0"], PORT_RULE + "0"),
    ("serve port -1", ["serve", "--port", "-1"], PORT_RULE + "-1"),
    ("serve port 99999", ["serve", "--port", "99999"], PORT_RULE + "99999"),
    ("serve port abc", ["serve", "--port", "abc"], PORT_RULE + "'abc'"),
    ("serve port empty", ["serve", "--port", ""], PORT_RULE + "''"),
    ("serve port float", ["serve", "--port", "5006.0"], PORT_RULE + "'5006.0'"),
    ("serve port missing", ["serve", "--port"],
     "dpo-sim serve: argument --port: expected one argument" + SERVE_SEE),
    ("serve address empty", ["serve", "--address", ""], ADDRESS_EMPTY + "''"),
    ("serve address blank", ["serve", "--address", "  "], ADDRESS_EMPTY + "'  '"),
    ("origin with scheme", ["serve", "--allow-websocket-origin", "http://x.org"],
     ORIGIN_RULE + "'http://x.org'"),
    ("origin with path", ["serve", "--allow-websocket-origin", "x.org/path"],
     ORIGIN_RULE + "'x.org/path'"),
    ("origin empty", ["serve", "--allow-websocket-origin", ""], ORIGIN_RULE + "''"),
    ("origin port too big", ["serve", "--allow-websocket-origin", "x.org:99999"],
     "dpo-sim: --allow-websocket-origin: the port must be from 1 to 65535, got "
     "'x.org:99999'"),
    ("origin port 0", ["serve", "--allow-websocket-origin", "x.org:0"],
     "dpo-sim: --allow-websocket-origin: the port must be from 1 to 65535, got 'x.org:0'"),
    ("prefix with space", ["serve", "--prefix", "a b"], PREFIX_RULE + "'a b'"),
    ("prefix up", ["serve", "--prefix", "../x"], PREFIX_RULE + "'../x'"),
    ("prefix dot", ["serve", "--prefix", "/./x"], PREFIX_RULE + "'/./x'"),
    ("prefix query", ["serve", "--prefix", "/dpo?x=1"], PREFIX_RULE + "'/dpo?x=1'"),
    ("serve unknown option", ["serve", "--prot", "5006"],
     "dpo-sim serve: --prot: unknown option; did you mean --port?" + SERVE_SEE),
    ("serve stray word", ["serve", "extra"],
     "dpo-sim serve: unexpected argument 'extra'" + SERVE_SEE),
    # run
    ("run no scenario", ["run"],
     "dpo-sim run: the following arguments are required: SCENARIO" + RUN_SEE),
    ("run empty scenario", ["run", ""], SCENARIO_EMPTY),
    ("run folder scenario", ["run", "{dir}"], "dpo-sim: {dir}: file: is a folder, not a TOML file"),
    ("run folder named .toml", ["run", "{dir}/d.toml"],
     "dpo-sim: {dir}/d.toml: file: is a folder, not a TOML file"),
    ("run scenario name too long", ["run", "{long}.toml"],
     "dpo-sim: {long}.toml: file: cannot be read (File name too long)"),
    ("run mistyped option", ["run", "align", "--stpes", "5"],
     "dpo-sim run: --stpes: unknown option; did you mean --steps?" + RUN_SEE),
    ("run mistyped option with =", ["run", "align", "--stpes=5"],
     "dpo-sim run: --stpes: unknown option; did you mean --steps?" + RUN_SEE),
    ("run ambiguous option", ["run", "align", "--s", "5"],
     "dpo-sim run: ambiguous option: --s could match --steps, --set" + RUN_SEE),
    ("run stray word", ["run", "align", "extra"],
     "dpo-sim run: unexpected argument 'extra'" + RUN_SEE),
    ("run stray number", ["run", "align", "-5"],
     "dpo-sim run: unexpected argument '-5'" + RUN_SEE),
    ("run steps empty", ["run", "align", "--steps", ""],
     "dpo-sim: --steps: must be a whole number from 0 to 10000000, got ''"),
    ("run steps too many", ["run", "align", "--steps", "10000001"],
     "dpo-sim: --steps: must be a whole number from 0 to 10000000, got 10000001"),
    ("run format xml", ["run", "align", "--format", "xml"],
     "dpo-sim run: argument --format: invalid choice: 'xml' (choose from 'jsonl', 'csv')"
     + RUN_SEE),
    ("run format mistyped", ["run", "align", "--format", "jsnl"],
     "dpo-sim run: argument --format: invalid choice: 'jsnl' (choose from 'jsonl', 'csv'); "
     "did you mean 'jsonl'?" + RUN_SEE),
    ("run out folder", ["run", "align", "--out", "{dir}"],
     "dpo-sim: --out: must name a file, not a folder, got '{dir}' (for example "
     "'{dir}/run.jsonl')"),
    ("run out empty", ["run", "align", "--out", ""],
     "dpo-sim: --out: must name a file (for example 'run.jsonl'), got ''"),
    ("run out under a file", ["run", "align", "--out", "{file}/x.jsonl"],
     "dpo-sim: --out: cannot write '{file}/x.jsonl': '{file}' is a file, not a folder"),
    ("run out name too long", ["run", "align", "--out", "{dir}/{long}"],
     "dpo-sim: --out: cannot write '{dir}/{long}' (File name too long)"),
    ("run out is the scenario", ["run", "{toml}", "--out", "{toml}"],
     "dpo-sim: --out: would overwrite the scenario file '{toml}'; choose another file, "
     "got '{toml}'"),
    ("run set missing value", ["run", "align", "--set"],
     "dpo-sim run: argument --set: expected one argument" + RUN_SEE),
    ("run set empty", ["run", "align", "--set", ""],
     "dpo-sim: --set: (empty): must be KEY=VALUE, e.g. beta=0.5; keys: beta, learning_rate, "
     "adaptive_weight, loss_type, label_smoothing, steps"),
    ("run set no key", ["run", "align", "--set", "=1"],
     "dpo-sim: --set: =1: must be KEY=VALUE, e.g. beta=0.5; keys: beta, learning_rate, "
     "adaptive_weight, loss_type, label_smoothing, steps"),
    ("run set empty value", ["run", "align", "--set", "beta="],
     "dpo-sim: --set: beta: must be a number > 0 and <= 100, got ''"),
    ("run set twice", ["run", "align", "--set", "beta=1", "--set", "beta=2"],
     "dpo-sim: --set: beta: given twice ('1' and '2'); give it once"),
    ("run steps and set steps", ["run", "align", "--steps", "5", "--set", "steps=7"],
     "dpo-sim: --steps: given together with --set steps=7; give one of them"),
    # presets
    ("presets stray word", ["presets", "extra"],
     "dpo-sim presets: unexpected argument 'extra' (see 'dpo-sim presets --help')"),
    ("presets unknown option", ["presets", "--bogus"],
     "dpo-sim presets: --bogus: unknown option (see 'dpo-sim presets --help')"),
    # export
    # the static replay is retired: a link with step= (and autoplay=1) does its job
    ("export replay retired", ["export", "align", "--replay", "--out", "{dir}/x.html"],
     "dpo-sim export: --replay: unknown option (see 'dpo-sim export --help')"),
    ("export steps retired", ["export", "align", "--out", "{dir}/x.html", "--steps", "5"],
     "dpo-sim export: --steps: unknown option; did you mean --set? (see 'dpo-sim export "
     "--help')"),
    ("export out folder", ["export", "align", "--out", "{dir}"],
     "dpo-sim: --out: must name a file, not a folder, got '{dir}' (for example "
     "'{dir}/dpo-sim.html')"),
    ("export out empty", ["export", "align", "--out", ""],
     "dpo-sim: --out: must name a file (for example 'dpo-sim.html'), got ''"),
    ("export a scenario twice", ["export", "align", "tie", "align", "--out", "{dir}/x.html"],
     "dpo-sim: SCENARIO: 'align' and 'align' are both scenario 'align'; give each once"),
    ("export out in missing folder", ["export", "align", "--out", "{dir}/nope/x.html"],
     "dpo-sim: --out: cannot write '{dir}/nope/x.html': its folder '{dir}/nope' does not "
     "exist"),
    ("export out name too long", ["export", "align", "--out", "{dir}/{long}.html"],
     "dpo-sim: --out: cannot write '{dir}/{long}.html' (File name too long)"),
    ("export out is a scenario", ["export", "align", "{toml}", "--out", "{toml}"],
     "dpo-sim: --out: would overwrite the scenario file '{toml}'; choose another file, "
     "got '{toml}'"),
    ("export no out", ["export", "align"],
     "dpo-sim export: the following arguments are required: --out "
     "(see 'dpo-sim export --help')"),
    ("export empty scenario", ["export", "", "--out", "{dir}/x.html"], SCENARIO_EMPTY),
    ("export folder scenario", ["export", "{dir}", "--out", "{dir}/x.html"],
     "dpo-sim: {dir}: file: is a folder, not a TOML file"),
    ("export mistyped option", ["export", "align", "--out", "{dir}/x.html", "--sett", "beta=1"],
     "dpo-sim export: --sett: unknown option; did you mean --set? "
     "(see 'dpo-sim export --help')"),
    ("export set twice", ["export", "align", "--out", "{dir}/x.html",
                          "--set", "beta=1", "--set", "beta=1"],
     "dpo-sim: --set: beta: given twice ('1' and '1'); give it once"),
]


@pytest.fixture
def places(tmp_path):
    """The {names} of BAD_COMMANDS: real paths under tmp_path."""
    d = tmp_path / "folder"
    (d / "d.toml").mkdir(parents=True)
    f = tmp_path / "plain.txt"
    f.write_text("not a folder")
    toml = tmp_path / "mine.toml"
    toml.write_text(to_toml(GOOD))
    return {"dir": str(d), "file": str(f), "toml": str(toml), "long": "a" * 300}


@pytest.fixture
def no_export(monkeypatch):
    """``app.interactive`` replaced by a recorder: a bad command must never reach it."""
    import types

    calls = []
    mod2 = types.ModuleType("dpo_sim.app.interactive")
    mod2.export_interactive = lambda *args: calls.append(args)
    monkeypatch.setitem(sys.modules, "dpo_sim.app.interactive", mod2)
    return calls


def one_bad_line(code, out, err):
    """Exit 2, nothing on stdout, one line on stderr (returned without its newline)."""
    assert code == 2, err
    assert out == ""
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err[:-1]


@pytest.mark.parametrize("case,argv,line", BAD_COMMANDS, ids=[c[0] for c in BAD_COMMANDS])
def test_bad_command_line(capsys, places, fake_server, no_export, case, argv, line):
    argv = [a.format(**places) for a in argv]
    try:
        code = main(argv)
    except SystemExit as e:                # argparse's own complaints exit from inside
        code = e.code
    out, err = capsys.readouterr()
    assert one_bad_line(code, out, err) == line.format(**places)
    assert fake_server == [] and no_export == []      # nothing started, nothing written
    assert not (Path(places["dir"]) / "x.html").exists()
    assert Path(places["toml"]).read_text() == to_toml(GOOD)


# -- serve: what only binding the address and port can tell (the real server module, with
# pn.serve replaced by a recorder so nothing starts even if a check wrongly passes) --------
@pytest.fixture
def real_serve(monkeypatch):
    import dpo_sim.app.server as server

    calls = []
    monkeypatch.setattr(server.pn, "serve",
                        lambda *a, **kw: calls.append(kw) or FakePanelServer())
    return calls


def serve_cli(argv, capsys):
    code = main(["serve", "--no-browser", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_serve_port_in_use(real_serve, capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, out, err = serve_cli(["--port", str(port)], capsys)
    assert one_bad_line(code, out, err) == (f"dpo-sim: --port: {port} is already in use on "
                                            f"127.0.0.1; choose another, e.g. --port "
                                            f"{port + 1}")
    assert real_serve == []


def test_serve_port_in_use_on_every_network(real_serve, capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, out, err = serve_cli(["--port", str(port), "--address", "0.0.0.0"], capsys)
    assert one_bad_line(code, out, err) == (f"dpo-sim: --port: {port} is already in use on "
                                            f"0.0.0.0; choose another, e.g. --port "
                                            f"{port + 1}")
    assert real_serve == []


LOOKUP_RULE = ("dpo-sim: --address: must be an address of this machine (such as 127.0.0.1 "
               "or 0.0.0.0) or a name it can look up")


@pytest.mark.parametrize("address,line", [
    ("999.1.1.1", LOOKUP_RULE + ", got '999.1.1.1'"),
    ("not-a-host.invalid", LOOKUP_RULE + ", got 'not-a-host.invalid'"),
    ("http://127.0.0.1", LOOKUP_RULE + " (no http:// and no path), got 'http://127.0.0.1'"),
    ("127.0.0.1:5006", LOOKUP_RULE + " (give the port with --port 5006), got "
                                     "'127.0.0.1:5006'"),
    ("8.8.8.8", "dpo-sim: --address: '8.8.8.8' is not an address of this machine"),
    ("255.255.255.255", "dpo-sim: --address: '255.255.255.255' is a broadcast or multicast "
                        "address, not an address of this machine"),
    ("224.0.0.1", "dpo-sim: --address: '224.0.0.1' is a broadcast or multicast address, not "
                  "an address of this machine"),
], ids=["bad numbers", "unknown name", "url", "with port", "foreign", "broadcast",
        "multicast"])
def test_serve_address_not_of_this_machine(real_serve, capsys, address, line):
    code, out, err = serve_cli(["--port", "5006", "--address", address], capsys)
    assert one_bad_line(code, out, err) == line
    assert real_serve == []


def test_serve_privileged_port(real_serve, capsys, monkeypatch):
    """As root, port 80 binds (not an error); as anyone else the system refuses it with
    EACCES, as the fake socket here does."""
    import dpo_sim.app.server as server

    class Refusing(socket.socket):
        def bind(self, address):
            raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(server.socket, "socket", Refusing)
    code, out, err = serve_cli(["--port", "80"], capsys)
    assert one_bad_line(code, out, err) == ("dpo-sim: --port: 80 needs administrator rights "
                                            "(ports below 1024); choose 1024 or above")
    assert real_serve == []


def test_good_serve_options_reach_the_server(real_serve, capsys):
    """The checks above do not refuse a good command line (a free port, this machine)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert main(["serve", "--no-browser", "--port", str(port)]) == 0
    assert real_serve[-1]["port"] == port and real_serve[-1]["address"] == "127.0.0.1"


# -- --out where nothing can be written -----------------------------------------------------
def _unwritable_folder(tmp_path):
    """A folder this user cannot create files in, with the system's reason; skip if there
    is none (root writes almost anywhere: then /sys, where even root cannot)."""
    candidates = []
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    candidates.append(locked)
    candidates.append(Path("/sys"))
    for folder in candidates:
        try:
            fd, scratch = tempfile.mkstemp(dir=folder)
        except FileNotFoundError:
            continue
        except OSError as exc:
            return folder, exc.strerror
        os.close(fd)
        os.unlink(scratch)
    pytest.skip("no folder here refuses a new file (running as root?)")


@pytest.mark.parametrize("command", ["run", "export"])
def test_out_in_a_folder_that_cannot_be_written(tmp_path, capsys, no_export, command):
    folder, reason = _unwritable_folder(tmp_path)
    try:
        out = str(folder / "x.out")
        extra = ["--steps", "2"] if command == "run" else []
        code, stdout, err = run_cli([command, "align", *extra, "--out", out], capsys)
        assert one_bad_line(code, stdout, err) == (f"dpo-sim: --out: cannot write {out!r} "
                                                   f"({reason})")
        assert no_export == []                 # checked before building the file
    finally:
        if folder.is_relative_to(tmp_path):
            folder.chmod(0o755)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_out_on_a_full_disk(capsys):
    code, out, err = run_cli(["run", "align", "--steps", "2", "--out", "/dev/full"], capsys)
    assert one_bad_line(code, out, err) == ("dpo-sim: --out: cannot write '/dev/full' "
                                            "(No space left on device)")


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_stdout_on_a_full_disk_is_one_line_too():
    """Not bad input (exit 1), but no traceback either, in a real process."""
    with open("/dev/full", "w") as full:
        p = subprocess.run([sys.executable, "-m", "dpo_sim", "run", "align", "--steps", "2"],
                           stdout=full, stderr=subprocess.PIPE, text=True, timeout=60)
    assert p.returncode == 1
    assert p.stderr == "dpo-sim: cannot write to standard output (No space left on device)\n"


# -- the same in real processes: exit code 2, one line, no traceback --------------------------
@pytest.mark.slow
def test_real_processes_print_one_line_for_bad_command_lines(tmp_path):
    py = [sys.executable, "-m", "dpo_sim"]
    cases = [
        (["export", "align", "--replay", "--out", str(tmp_path / "x.html")],
         "dpo-sim export: --replay: unknown option (see 'dpo-sim export --help')"),
        (["export", "align", "--out", str(tmp_path)],
         f"dpo-sim: --out: must name a file, not a folder, got {str(tmp_path)!r} (for example "
         f"{str(tmp_path / 'dpo-sim.html')!r})"),
        (["serve", "--no-browser", "--port", "99999"], PORT_RULE + "99999"),
        (["--port", "abc"], PORT_RULE + "'abc'"),
        (["run", "align", "--stpes", "5"],
         "dpo-sim run: --stpes: unknown option; did you mean --steps?" + RUN_SEE),
        (["run", b"\xff"],                 # not UTF-8: Python keeps it as \udcff
         "dpo-sim: \\udcff: scenario: is neither a preset id (" + ", ".join(preset_ids())
         + ") nor a TOML file"),
    ]
    for argv, line in cases:
        p = subprocess.run(py + argv, capture_output=True, timeout=60)
        err = p.stderr.decode("utf-8", "backslashreplace")
        assert (p.returncode, p.stdout, err) == (2, b"", line + "\n"), argv
    assert not (tmp_path / "x.html").exists()


@pytest.mark.slow
def test_a_real_server_process_refuses_a_port_in_use():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        # if the check wrongly passed, a server would start: the timeout then ends it
        p = subprocess.run([sys.executable, "-m", "dpo_sim", "serve", "--no-browser",
                            "--port", str(port)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr == (f"dpo-sim: --port: {port} is already in use on 127.0.0.1; choose "
                        f"another, e.g. --port {port + 1}\n")
