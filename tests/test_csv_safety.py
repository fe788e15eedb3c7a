"""CSV cells a spreadsheet could run: a text cell beginning with =, +, -, @, a tab or a
carriage return is written with a leading apostrophe (sim/export_csv.text_cell and its twin
csvText in app/ui/local_engine.js); numbers stay numbers. Today the header is the only
text; a scenario whose texts begin like formulas cannot put one in any cell, on both
engines."""

import csv
import io
import json
import shutil
import subprocess
import tomllib

import pytest

from dpo_sim.app.cli import main
from dpo_sim.sim.export_csv import text_cell
from dpo_sim.sim.history import csv_header
from dpo_sim.sim.lesson import to_toml
from dpo_sim.sim.scenario_io import build_scenario
from tests.lesson_docs import preset_doc
from tests.test_protocol import ROOT, js_replies, py_replies

CASES = [("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"), ("+1", "'+1"), ("-2+3", "'-2+3"),
         ("@SUM(A1)", "'@SUM(A1)"), ("\t=x", "'\t=x"), ("\r=x", "\"'\r=x\""),
         ("a,b", '"a,b"'), ('say "hi"', '"say ""hi"""'), ("=a,b", "\"'=a,b\""),
         ("plain", "plain"), ("kl/0", "kl/0"), ("a=b", "a=b"), ("", "")]
FORMULA = ("=", "+", "-", "@", "\t", "\r")
HOSTILE = ["=cmd|' /C calc'!A0", "+SUM(1,2)", "-1+1", "@import", "\t=1", "=HYPERLINK(\"x\")"]


def test_text_cell_neutralises_formulas():
    for text, cell in CASES:
        assert text_cell(text) == cell, text
        if text:       # a spreadsheet reading the file gets the text back, apostrophe first
            back = next(csv.reader(io.StringIO(cell + "\n")))[0]
            assert back == ("'" + text if text.startswith(FORMULA) else text)


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node")
def test_the_twin_neutralises_the_same_way():
    script = ("import { csvText } from './app/ui/local_engine.js';"
              "const xs = JSON.parse(process.argv[1]);"
              "process.stdout.write(JSON.stringify(xs.map(csvText)));")
    out = subprocess.run(["node", "--input-type=module", "-e", script,
                          json.dumps([t for t, _ in CASES])], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout
    assert json.loads(out) == [c for _, c in CASES]


def hostile_doc():
    doc = preset_doc("fix-label")
    doc["title"] = HOSTILE[0]
    doc["watch"] = HOSTILE[1]
    doc["prompts"][0]["text"] = HOSTILE[2]
    doc["prompts"][0]["replies"] = HOSTILE[:4]
    doc["prompts"][1]["replies"] = HOSTILE[2:6]
    return doc


def assert_no_formula(text: str, P: int, K: int, N: int):
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == csv_header(P, K, N)
    assert len(rows) > 2
    for row in rows[1:]:
        for cell in row:
            float(cell)                    # every other cell is a number
            assert not cell.startswith(("=", "+", "@", "\t", "\r")), cell
    assert "cmd" not in text and "SUM" not in text and "HYPERLINK" not in text


def test_a_scenario_of_formulas_puts_none_in_the_cli_csv(tmp_path, capsys):
    f = tmp_path / "formulas.toml"
    f.write_text(to_toml(hostile_doc()), encoding="utf-8")
    assert main(["run", str(f), "--format", "csv", "--steps", "120"]) == 0
    assert_no_formula(capsys.readouterr().out, 2, 4, 6)


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node")
def test_a_scenario_of_formulas_puts_none_in_the_pages_csv_on_both_engines():
    s = build_scenario(tomllib.loads(to_toml(hostile_doc())), file="t", id="formulas")
    cmds = [[{"op": "load", "config": {**s.config(), "steps": s.steps}},
             {"op": "set", "changes": {"beta": 0.5}}, {"op": "advance", "n": 120},
             {"op": "csv"}]]
    for replies in (py_replies(cmds), js_replies(cmds)):
        assert_no_formula(replies[0][-1]["csv"], 2, 4, 6)
    assert py_replies(cmds)[0][-1]["csv"].splitlines()[0] == \
        js_replies(cmds)[0][-1]["csv"].splitlines()[0]
