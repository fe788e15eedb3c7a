"""Importing TRL preference data (sim/trl_import.py, its JavaScript twin app/ui/trl_import.js,
and ``dpo-sim import``).

The expected documents are written out by hand from the fixtures (tests/data/trl_*.json*),
counting judgements by eye; the bad inputs name the field and the rule each must be refused
by. Every case also runs through the JavaScript twin in Node, which must give the same
document or the same message word for word."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from dpo_sim.sim.scenario_io import ScenarioError, build_scenario
from dpo_sim.sim.trl_import import (
    MAX_DEPTH,
    MAX_FILE_BYTES,
    MAX_PROMPTS,
    MAX_REPLIES,
    MAX_ROWS,
    MAX_TEXT,
    MAX_TITLE,
    SETTINGS,
    decode_trl,
    import_trl,
    read_trl,
)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
NODE = shutil.which("node")
DRIVER = ROOT / "tests" / "trl_import_driver.mjs"

# -- the worked example, counted by hand ----------------------------------------------------
BOIL = "At what temperature does water boil at sea level?"
BOIL_REPLIES = ["100 °C (212 °F). Higher up, where the air pressure is lower, it boils at a "
                "lower temperature.", "100 degrees.", "It depends on the pot."]
FRENCH = 'How do you say "thank you" in French?'
FRENCH_REPLIES = ["Merci.", "Gracias.", 'Merci beaucoup, or just "merci".']
#: The eleven lines of trl_small.jsonl: (prompt, chosen, rejected) as indices.
SMALL_LINES = [(0, 0, 1), (0, 0, 2), (0, 1, 2), (0, 0, 1), (0, 1, 0), (0, 0, 2),
               (1, 0, 1), (1, 2, 0), (1, 0, 2), (1, 0, 2), (1, 2, 1)]
#: By eye: boil 0>1 twice and 1>0 once (2:1); 0>2 twice (2:0); 1>2. French 0>1; 2>0 first,
#: then 0>2 twice: outvoted, so the row is 0 over 2, 2:1; 2>1.
SMALL_PAIRS = [
    {"prompt": 0, "chosen": 0, "rejected": 1, "votes_chosen": 2, "votes_rejected": 1},
    {"prompt": 0, "chosen": 0, "rejected": 2, "votes_chosen": 2, "votes_rejected": 0},
    {"prompt": 0, "chosen": 1, "rejected": 2, "votes_chosen": 1, "votes_rejected": 0},
    {"prompt": 1, "chosen": 0, "rejected": 1, "votes_chosen": 1, "votes_rejected": 0},
    {"prompt": 1, "chosen": 0, "rejected": 2, "votes_chosen": 2, "votes_rejected": 1},
    {"prompt": 1, "chosen": 2, "rejected": 1, "votes_chosen": 1, "votes_rejected": 0},
]
SMALL_WATCH = (
    "Imported from {f}: 11 judgements (one per example) on 2 prompts with 3 replies each, in "
    "6 rows (pairs of replies); 5 judgements repeat a pair already seen, 2 the same way as "
    "its first judgement and 3 the other way. In 1 row the first judgement seen was "
    "outvoted, so chosen is the majority's side. The reference is uniform: every reply "
    "starts with the same probability, 1/3.")
SYSTEM = "system: You are a helpful tutor.\nuser: "


def small_doc(file: str, prompt_prefix: str = "") -> dict:
    return {"title": f"Imported from {file}", "watch": SMALL_WATCH.format(f=file),
            "beta": 1.0, "learning_rate": 0.5, "adaptive_weight": True, "steps": 400,
            "reference": {"kind": "uniform"},
            "prompts": [{"text": prompt_prefix + BOIL, "replies": BOIL_REPLIES},
                        {"text": prompt_prefix + FRENCH, "replies": FRENCH_REPLIES}],
            "pairs": SMALL_PAIRS}


def node_cases(cases: list[dict]) -> list[dict]:
    p = subprocess.run([NODE, str(DRIVER)], input=json.dumps({"cases": cases}),
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-3000:]
    out = json.loads(p.stdout)
    # the twin's own constants are Python's
    assert out["constants"] == {"MAX_PROMPTS": MAX_PROMPTS, "MAX_REPLIES": MAX_REPLIES,
                                "MAX_ROWS": MAX_ROWS, "MAX_TEXT": MAX_TEXT,
                                "MAX_TITLE": MAX_TITLE, "MAX_DEPTH": MAX_DEPTH,
                                "MAX_FILE_BYTES": MAX_FILE_BYTES, "SETTINGS": SETTINGS}
    return out["results"]


def python_case(case: dict) -> dict:
    o = case["options"]
    try:
        text = (decode_trl(base64.b64decode(case["bytes"]), o["file"]) if "bytes" in case
                else case["text"])
        r = read_trl(text, file=o["file"], title=o.get("title"), prompts=o.get("prompts"),
                     replies=o.get("replies"))
        return {"doc": r.doc, "notes": r.notes, "dropped": r.dropped}
    except ScenarioError as e:
        return {"error": str(e), "field": e.field, "rule": e.rule}


def line(p, c, r, **extra) -> str:
    return json.dumps({"prompt": p, "chosen": c, "rejected": r, **extra})


def msgs(*pairs) -> list[dict]:
    return [{"role": role, "content": content} for role, content in pairs]


def jsonl(*lines) -> str:
    return "\n".join(lines) + "\n"


def test_the_small_file_counted_by_hand():
    text = (DATA / "trl_small.jsonl").read_text(encoding="utf-8")
    # the fixture is what SMALL_LINES says it is
    got = [json.loads(x) for x in text.splitlines()]
    prompts, replies = [BOIL, FRENCH], [BOIL_REPLIES, FRENCH_REPLIES]
    assert got == [{"prompt": prompts[x], "chosen": replies[x][c], "rejected": replies[x][r]}
                   for x, c, r in SMALL_LINES]
    doc = import_trl(text, file="tests/data/trl_small.jsonl")
    assert doc == small_doc("trl_small.jsonl")
    build_scenario(doc, file="import", id="import")          # a valid scenario


def test_the_three_formats_give_the_same_lesson():
    conv = import_trl((DATA / "trl_conversational.json").read_text(encoding="utf-8"),
                      file="trl_conversational.json")
    assert conv == small_doc("trl_conversational.json")
    implicit = import_trl((DATA / "trl_implicit.jsonl").read_text(encoding="utf-8"),
                          file="trl_implicit.jsonl")
    # the shared first messages (a system message and the user's) are the prompt
    assert implicit == small_doc("trl_implicit.jsonl", prompt_prefix=SYSTEM)


# -- cases run by both languages --------------------------------------------------------
OK = "ok"
P, A, B, C = "Say hi.", "Hi!", "Hello.", "Go away."


def many_prompts(n: int, k: int = 2, all_pairs: bool = False) -> str:
    out = []
    for x in range(n):
        ys = [f"reply {y} to {x}" for y in range(k)]
        pairs = ([(a, b) for a in range(k) for b in range(a + 1, k)] if all_pairs
                 else [(0, y) for y in range(1, k)])
        out += [line(f"prompt {x}", ys[a], ys[b]) for a, b in pairs]
    return jsonl(*out)


UNEVEN = jsonl(line(P, A, B), line(P, A, C), line("Q?", "Yes.", "No."))
# one prompt, six replies a x1 x2 b x3 x4: the two most judged (a, b) never meet
NO_MEETING = jsonl(line(P, "a", "x1"), line(P, "a", "x2"), line(P, "b", "x3"),
                   line(P, "b", "x4"))
LONG = "x" * 100_000

#: (name, case, expected): expected is a (field, words the rule holds) pair, or OK
CASES = [
    ("empty", {"text": ""}, ("file", "is empty")),
    ("blank", {"text": " \n\t\r\n"}, ("file", "is empty")),
    ("empty array", {"text": " []"}, ("file", "holds no examples")),
    ("broken array", {"text": "[{\"prompt\": 1"}, ("file", "is not valid JSON")),
    ("not json", {"text": jsonl(line(P, A, B), "{prompt: 1}")},
     ("line 2", "is not valid JSON")),
    ("blank lines count", {"text": "\n\n" + line(P, A, A) + "\n"},
     ("line 3", "chosen and rejected are the same reply")),
    ("array item not object", {"text": "[1, 2]"},
     ("[0]", "must be a JSON object (one example), got a number")),
    ("line a list", {"text": jsonl(line(P, A, B), "[]")}, ("line 2", "got a list")),
    ("missing rejected", {"text": json.dumps({"prompt": P, "chosen": A})},
     ("line 1", '"rejected" is required but missing')),
    ("unpaired format", {"text": json.dumps({"prompt": P, "completion": A, "label": True})},
     ("line 1", "unpaired preference format")),
    ("same reply", {"text": line(P, A, A)}, ("line 1", "chosen and rejected are the same")),
    ("same after CR", {"text": line(P, "a\r\nb", "a\nb")},
     ("line 1", "chosen and rejected are the same")),
    ("empty text", {"text": line(" \n ", A, B)}, ("line 1, prompt", "must not be empty")),
    ("ideographic space only", {"text": line(P, "\u3000", B)},
     ("line 1, chosen", "must not be empty")),
    ("prompt a number", {"text": line(3, A, B)},
     ("line 1, prompt", "must be a string (TRL's standard format) or a list")),
    ("huge integer", {"text": '{"prompt": 1' + "1" * 5000 + ', "chosen": "a", "rejected": "b"}'},
     ("line 1, prompt", "got a number")),
    ("NaN is not JSON", {"text": '{"prompt": NaN, "chosen": "a", "rejected": "b"}'},
     ("line 1", "is not valid JSON")),
    ("string prompt, list reply", {"text": line(P, msgs(("assistant", A)), B)},
     ("line 1, chosen", "must be a string like \"prompt\"")),
    ("list prompt, string reply", {"text": line(msgs(("user", P)), msgs(("assistant", A)), B)},
     ("line 1, rejected", "must be a list of messages like \"prompt\"")),
    ("NUL", {"text": line("a\u0000b", A, B)},
     ("line 1, prompt", "contains the control character U+0000")),
    ("escape", {"text": line(P, "\u001b[31mred", B)},
     ("line 1, chosen", "control character U+001B")),
    ("C1 control", {"text": line(P, A, "x\u0085y")},
     ("line 1, rejected", "control character U+0085")),
    ("lone surrogate", {"text": '{"prompt": "a\\ud800b", "chosen": "x", "rejected": "y"}'},
     ("line 1, prompt", "U+D800, half of a surrogate pair")),
    ("100,000 characters", {"text": line(P, LONG, B)},
     ("line 1, chosen", f"is 100000 characters long; the page shows at most {MAX_TEXT}")),
    ("astral characters count once", {"text": line(P, "\U0001F600" * MAX_TEXT, B)}, OK),
    ("one over", {"text": line(P, "\U0001F600" * (MAX_TEXT + 1), B)},
     ("line 1, chosen", f"is {MAX_TEXT + 1} characters long")),
    ("deep array", {"text": "[" * 100_000}, ("file", f"more than {MAX_DEPTH} deep")),
    ("deep line", {"text": line(P, A, B) + "\n" + '{"prompt": ' + "[" * 100_000},
     ("line 2", f"more than {MAX_DEPTH} deep")),
    ("brackets in strings are text", {"text": line("[" * 50 + "{", A, B)}, OK),
    ("standard implicit prompt", {"text": json.dumps({"chosen": "a", "rejected": "b"})},
     ("line 1", 'has no "prompt"')),
    ("implicit, no shared message",
     {"text": json.dumps({"chosen": msgs(("user", "a"), ("assistant", "b")),
                          "rejected": msgs(("user", "c"), ("assistant", "d"))})},
     ("line 1", "share no first message")),
    ("implicit, same conversation",
     {"text": json.dumps({"chosen": msgs(("user", "a"), ("assistant", "b")),
                          "rejected": msgs(("user", "a"), ("assistant", "b"))})},
     ("line 1", "the same conversation")),
    ("implicit, one ends",
     {"text": json.dumps({"chosen": msgs(("user", "a"), ("assistant", "b")),
                          "rejected": msgs(("user", "a"))})},
     ("line 1", "must each go on")),
    ("implicit, user last",
     {"text": json.dumps({"chosen": msgs(("user", "a"), ("assistant", "b")),
                          "rejected": msgs(("user", "a"), ("user", "c"))})},
     ("line 1, rejected[1].role", 'must be from the assistant, got "user"')),
    ("conversational, user last",
     {"text": line(msgs(("user", P)), msgs(("user", A)), msgs(("assistant", B)))},
     ("line 1, chosen[0].role", "the last message of a reply must be from the assistant")),
    ("message without content",
     {"text": line(msgs(("user", P)), [{"role": "assistant"}], msgs(("assistant", B)))},
     ("line 1, chosen[0]", '"content" is required but missing')),
    ("bad role", {"text": line(msgs(("us er", P)), msgs(("assistant", A)),
                               msgs(("assistant", B)))},
     ("line 1, prompt[0].role", "must be a role name")),
    ("role a number", {"text": line([{"role": 1, "content": P}], msgs(("assistant", A)),
                                    msgs(("assistant", B)))},
     ("line 1, prompt[0].role", "must be a string, got a number")),
    ("multimodal content",
     {"text": line(msgs(("user", P)), [{"role": "assistant", "content": [{"type": "text"}]}],
                   msgs(("assistant", B)))},
     ("line 1, chosen[0].content", "list of parts")),
    ("message not an object", {"text": line(msgs(("user", P)), ["hi"], msgs(("assistant", B)))},
     ("line 1, chosen[0]", "must be a message {role, content}, got a string")),
    ("no messages", {"text": line([], msgs(("assistant", A)), msgs(("assistant", B)))},
     ("line 1, prompt", "must hold at least one message")),
    ("array index named", {"text": json.dumps([json.loads(line(P, A, B)),
                                               json.loads(line(P, A, 7))])},
     ("[1].rejected", "must be a string like \"prompt\"")),
    ("joined prompt too long",
     {"text": line(msgs(("system", "s" * 300), ("user", "u" * 100)), msgs(("assistant", A)),
                   msgs(("assistant", B)))},
     ("line 1, prompt", "is 415 characters long")),
    ("too many prompts", {"text": many_prompts(MAX_PROMPTS + 1)},
     ("prompts", f"the data has {MAX_PROMPTS + 1} prompts; the page shows at most "
                 f"{MAX_PROMPTS}: keep the first N with --prompts N")),
    ("uneven replies", {"text": UNEVEN},
     ("replies", "the prompts have 3 and 2 replies; the engine needs the same number on "
                 "every prompt, at most 6: keep each prompt's N most-judged replies with "
                 "--replies N (2 to 2)")),
    ("too many replies", {"text": many_prompts(1, MAX_REPLIES + 1)},
     ("replies", f"every prompt has {MAX_REPLIES + 1} replies")),
    ("--replies above the least", {"text": UNEVEN, "options": {"replies": 3}},
     ("replies", "--replies 3 keeps 3 replies on every prompt, but the prompts have 3 and 2: "
                 "choose N from 2 to 2")),
    ("too many rows", {"text": many_prompts(MAX_PROMPTS, MAX_REPLIES, all_pairs=True)},
     ("pairs", f"the data has {MAX_PROMPTS * 15} rows (distinct pairs of replies on a "
               f"prompt); the page shows at most {MAX_ROWS}")),
    ("no judgement left", {"text": NO_MEETING, "options": {"replies": 2}},
     ("pairs", "no judgement is left")),
    ("--prompts 0", {"text": line(P, A, B), "options": {"prompts": 0}},
     ("--prompts", f"must be a whole number from 1 to {MAX_PROMPTS}")),
    ("--prompts too big", {"text": line(P, A, B), "options": {"prompts": MAX_PROMPTS + 1}},
     ("--prompts", "must be a whole number")),
    ("--prompts text", {"text": line(P, A, B), "options": {"prompts": "2"}},
     ("--prompts", "must be a whole number")),
    ("--replies 1", {"text": line(P, A, B), "options": {"replies": 1}},
     ("--replies", f"must be a whole number from 2 to {MAX_REPLIES}")),
    ("--title empty", {"text": line(P, A, B), "options": {"title": "  "}},
     ("--title", "must not be empty")),
    ("--title NUL", {"text": line(P, A, B), "options": {"title": "a\u0000"}},
     ("--title", "contains U+0000")),
    ("--title newline", {"text": line(P, A, B), "options": {"title": "a\nb"}},
     ("--title", "contains U+000A; a title is one line of text")),
    ("--title long", {"text": line(P, A, B), "options": {"title": "t" * (MAX_TITLE + 1)}},
     ("--title", f"is {MAX_TITLE + 1} characters long; at most {MAX_TITLE}")),
    # bytes
    ("not UTF-8", {"bytes": b'{"prompt": "caf\xe9"}'},
     ("file", "is not UTF-8 text: byte 0xe9 at byte offset 15")),
    ("truncated sequence", {"bytes": b"ab\xe2\x82"}, ("file", "byte 0xe2 at byte offset 2")),
    ("overlong", {"bytes": b"\xc0\x80"}, ("file", "byte 0xc0 at byte offset 0")),
    ("encoded surrogate", {"bytes": b"[\xed\xa0\x80]"}, ("file", "byte 0xed at byte offset 1")),
    ("above U+10FFFF", {"bytes": b"x\xf4\x90\x80\x80"}, ("file", "byte 0xf4 at byte offset 1")),
    ("lone continuation", {"bytes": "é".encode() + b"\x80"},
     ("file", "byte 0x80 at byte offset 2")),
    ("byte order mark", {"bytes": b"\xef\xbb\xbf" + line(P, A, B).encode()}, OK),
    ("byte order mark, array", {"bytes": b"\xef\xbb\xbf[" + line(P, A, B).encode() + b"]"}, OK),
    ("markup is text", {"text": line("<script>alert(1)</script>", "<img src=x onerror=alert(1)>",
                                     "[x](javascript:alert(1)) \u202eevil \u2028 </script><!--")},
     OK),
    ("CRLF lines", {"bytes": (line(P, A, B) + "\r\n" + line(P, B, A) + "\r\n").encode()}, OK),
]


def _run_cases():
    cases = []
    for _name, case, _ in CASES:
        c = dict(case)
        c["options"] = {"file": "data.jsonl", **case.get("options", {})}
        if "bytes" in c:
            c["bytes"] = base64.b64encode(c["bytes"]).decode()
        cases.append(c)
    return cases


@pytest.mark.parametrize("name,case,expected", CASES, ids=[c[0] for c in CASES])
def test_python_refuses_bad_input_naming_the_field(name, case, expected):
    c = _run_cases()[[x[0] for x in CASES].index(name)]
    got = python_case(c)
    if expected == OK:
        assert "doc" in got, got
        build_scenario(got["doc"], file="import", id="import")
        return
    field, words = expected
    assert "error" in got, got
    assert got["field"] == field, got["error"]
    assert words in got["rule"], got["error"]
    assert "\n" not in got["error"] and len(got["error"]) < 400, got["error"]
    assert got["error"].startswith("data.jsonl: ")


@pytest.mark.skipif(NODE is None, reason="Node.js (node) is not on PATH")
def test_javascript_twin_gives_python_s_answer_word_for_word():
    cases = _run_cases()
    extra = [{"text": (DATA / f).read_text(encoding="utf-8"), "options": {"file": f}}
             for f in ("trl_small.jsonl", "trl_conversational.json", "trl_implicit.jsonl")]
    extra += [{"text": many_prompts(MAX_PROMPTS + 2, 3), "options": {"file": "d", "prompts": 2}},
              {"text": UNEVEN, "options": {"file": "d", "replies": 2, "title": "Mine"}},
              {"text": line(P, A, B), "options": {"file": "dir/" + "n" * 120 + "\n.jsonl"}}]
    cases += extra
    js = node_cases(cases)
    for c, j in zip(cases, js):
        py = python_case(c)
        assert j == py, (c.get("text", c.get("bytes", ""))[:200], py, j)


# -- the options that choose ------------------------------------------------------------
def test_prompts_keeps_the_first_n_and_says_what_it_left_out():
    r = read_trl(many_prompts(6, 3), file="d.jsonl", prompts=2)
    assert [p["text"] for p in r.doc["prompts"]] == ["prompt 0", "prompt 1"]
    assert r.examples == 12 and r.kept == 4 and r.dropped == 8     # 2 lines per prompt
    assert r.notes == ["left out 8 of 12 judgements: each mentions a prompt after the first "
                       "2 of 6"]
    assert "It left out 8 of 12 judgements" in r.doc["watch"]


def test_replies_keeps_the_most_judged_ties_to_the_first_seen():
    # prompt P: A in 3 judgements, B in 2, C in 2 (C after B), D in 1; --replies 3 keeps A B C
    text = jsonl(line(P, A, B), line(P, C, A), line(P, B, "D"), line(P, A, C),
                 line("Q?", "yes", "no"), line("Q?", "no", "maybe"), line("Q?", "yes", "maybe"),
                 line("Q?", "maybe", "never"))
    r = read_trl(text, file="d.jsonl", replies=3)
    # Q?: yes 2, no 2, maybe 3, never 1 -> yes, no, maybe in their order of appearance
    assert r.doc["prompts"] == [{"text": P, "replies": [A, B, C]},
                                {"text": "Q?", "replies": ["yes", "no", "maybe"]}]
    assert r.doc["pairs"] == [
        {"prompt": 0, "chosen": 0, "rejected": 1, "votes_chosen": 1, "votes_rejected": 0},
        {"prompt": 0, "chosen": 2, "rejected": 0, "votes_chosen": 1, "votes_rejected": 1},
        {"prompt": 1, "chosen": 0, "rejected": 1, "votes_chosen": 1, "votes_rejected": 0},
        {"prompt": 1, "chosen": 1, "rejected": 2, "votes_chosen": 1, "votes_rejected": 0},
        {"prompt": 1, "chosen": 0, "rejected": 2, "votes_chosen": 1, "votes_rejected": 0}]
    assert r.dropped == 2 and r.notes == [
        "left out 2 of 8 judgements: each mentions a reply outside each prompt's 3 most-judged"]


def test_a_tie_keeps_the_first_seen_side_and_extra_keys_are_ignored():
    doc = import_trl(jsonl(line(P, A, B, id=1, score_chosen=9), line(P, B, A)), file="d")
    assert doc["pairs"] == [{"prompt": 0, "chosen": 0, "rejected": 1, "votes_chosen": 1,
                             "votes_rejected": 1}]
    assert doc["watch"].startswith("Imported from d: 2 judgements (one per example) on 1 "
                                   "prompt with 2 replies each, in 1 row (pairs of replies); "
                                   "1 judgement repeats a pair already seen, 0 the same way "
                                   "as its first judgement and 1 the other way. The reference")


def test_markup_and_odd_characters_stay_text_as_written():
    texts = ("<script>alert(1)</script>", "<img src=x onerror=alert(1)>",
             "[x](javascript:alert(1)) \u202eevil\u2028 </script><!--", 'a "quoted" \\ \t tab')
    doc = import_trl(jsonl(line(*texts[:3]), line(texts[0], texts[3], texts[1])), file="d")
    assert doc["prompts"] == [{"text": texts[0], "replies": list(texts[1:])}]


def test_default_title_is_one_short_line():
    doc = import_trl(line(P, A, B), file="some/dir/" + "n" * 100 + "\x1b.jsonl")
    assert len(doc["title"]) == MAX_TITLE and doc["title"].endswith("\u2026")
    assert doc["title"].startswith("Imported from nnn")
    assert "\x1b" not in doc["watch"] and "\ufffd.jsonl" in doc["watch"]


# -- dpo-sim import -----------------------------------------------------------------------
def _cli(capsys, *args):
    from dpo_sim.app.cli import main

    code = main(["import", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def _refused(capsys, *args) -> str:
    code, out, err = _cli(capsys, *args)
    assert code == 2 and out == "", (code, out, err)
    assert err.count("\n") == 1 and err.startswith("dpo-sim: ") and "Traceback" not in err, err
    return err


def test_cli_writes_a_lesson_that_runs_and_learns_as_the_naive_oracle_says(tmp_path, capsys):
    """The README's worked example: import the small file, run it 300 steps; the numbers
    are those of tests/naive_dpo.py's plain gradient descent on the hand-counted rows."""
    import numpy as np

    import naive_dpo
    from dpo_sim.app.cli import main

    out = tmp_path / "lesson.toml"
    code, stdout, err = _cli(capsys, DATA / "trl_small.jsonl", "--out", out)
    assert code == 0 and err == "", err
    assert stdout == (f"dpo-sim: wrote {out} (2 prompts, 3 replies each, 6 rows from 11 "
                      f"judgements); run it with 'dpo-sim run {out}'\n")
    import tomllib

    assert tomllib.loads(out.read_text(encoding="utf-8")) == small_doc("trl_small.jsonl")
    assert main(["run", str(out), "--steps", "300"]) == 0
    lines = capsys.readouterr().out.splitlines()
    last = json.loads(lines[-1])
    assert last["step"] == 300

    rows = [(r["prompt"], r["chosen"], r["rejected"], r["votes_chosen"], r["votes_rejected"])
            for r in SMALL_PAIRS]
    theta, ref = np.zeros((2, 3)), np.zeros((2, 3))
    for _ in range(300):
        theta = theta - 0.5 * naive_dpo.analytic_grad(theta, ref, rows, 1.0)
    want = naive_dpo.metrics(theta, ref, rows, 1.0)
    np.testing.assert_allclose(last["probs"], want["probs"], rtol=1e-9)
    np.testing.assert_allclose(last["kl"], want["kl"], rtol=1e-9)
    for k in ("loss", "rewards/accuracies", "rewards/margins"):
        assert last[k] == pytest.approx(want[k], rel=1e-9), k
    # the numbers the README quotes
    assert np.round(want["probs"], 3).tolist() == [[0.661, 0.33, 0.008], [0.656, 0.012, 0.332]]
    assert np.round(want["kl"], 3).tolist() == [0.419, 0.404]
    assert round(want["loss"], 3) == 0.357
    assert want["rewards/accuracies"] == pytest.approx(9 / 11)    # the 2 minority votes
    assert np.round(want["row_sigma"], 3).tolist() == [0.667, 0.987, 0.975, 0.983, 0.664, 0.966]


def test_cli_writes_to_stdout_and_says_what_it_left_out(capsys):
    import tomllib

    code, out, err = _cli(capsys, DATA / "trl_small.jsonl", "--prompts", "1", "--title", "Boil")
    assert code == 0
    assert err == ("dpo-sim: import: " + str(DATA / "trl_small.jsonl") + ": left out 5 of 11 "
                   "judgements: each mentions a prompt after the first 1 of 2\n")
    doc = tomllib.loads(out)
    assert doc["title"] == "Boil" and [p["text"] for p in doc["prompts"]] == [BOIL]
    assert doc["pairs"] == SMALL_PAIRS[:3]
    code, out, err = _cli(capsys, DATA / "trl_small.jsonl", "--replies", "2")
    assert code == 0
    # boil: reply 0 in 5 judgements, 1 in 4, 2 in 3; French: 0 in 4, 1 in 2, 2 in 4; left
    # out: the 3 boil lines with reply 2 and the 2 French lines with reply 1
    assert [p["replies"] for p in tomllib.loads(out)["prompts"]] == [
        BOIL_REPLIES[:2], [FRENCH_REPLIES[0], FRENCH_REPLIES[2]]]
    assert err == ("dpo-sim: import: " + str(DATA / "trl_small.jsonl") + ": left out 5 of 11 "
                   "judgements: each mentions a reply outside each prompt's 2 most-judged\n")


def test_cli_refuses_bad_input_with_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"prompt": "caf\xe9", "chosen": "a", "rejected": "b"}\n')
    err = _refused(capsys, bad)
    assert err == f"dpo-sim: {bad}: file: is not UTF-8 text: byte 0xe9 at byte offset 15 " \
                  f"does not belong there\n"
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 200_000)
    assert "more than 16 deep" in _refused(capsys, deep)
    nul = tmp_path / "nul.jsonl"
    nul.write_text(line(P, A, B) + "\n" + line(P, "a\u0000", B) + "\n")
    assert _refused(capsys, nul) == (f"dpo-sim: {nul}: line 2, chosen: contains the control "
                                     f"character U+0000; only newline and tab are allowed\n")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert "file: is empty" in _refused(capsys, empty)
    many = tmp_path / "many.jsonl"
    many.write_text(many_prompts(6))
    assert _refused(capsys, many) == (f"dpo-sim: {many}: prompts: the data has 6 prompts; the "
                                      f"page shows at most 4: keep the first N with --prompts "
                                      f"N (1 to 4)\n")
    assert "--prompts: must be a whole number from 1 to 4, got 5" in _refused(
        capsys, many, "--prompts", "5")
    assert "--replies: must be a whole number from 2 to 6, got 'two'" in _refused(
        capsys, many, "--prompts", "1", "--replies", "two")
    assert "does not exist" in _refused(capsys, tmp_path / "missing.jsonl")
    assert "is a folder" in _refused(capsys, tmp_path)
    assert "--out: must name a .toml file" in _refused(capsys, DATA / "trl_small.jsonl", "--out",
                                                       tmp_path / "x.jsonl")
    same = tmp_path / "data.toml"
    same.write_text(line(P, A, B))
    assert "--out: would overwrite the data file" in _refused(capsys, same, "--out", same)
    assert same.read_text() == line(P, A, B)
    assert "--title: contains U+000A" in _refused(capsys, DATA / "trl_small.jsonl", "--title",
                                                  "two\nlines")


def test_hostile_texts_survive_the_toml_and_load(tmp_path, capsys):
    """Markup, quotes, backslashes, a TOML string's end, a right-to-left override, U+2028/9,
    tabs and newlines go through import -> TOML -> `run` as written."""
    import tomllib

    from dpo_sim.sim.scenario_io import load_scenario

    texts = ['<script>alert("x")</script>', "<img src=x onerror=alert(1)>",
             '""" \\ \'\'\' end = 1\n[[pairs]]', "\u202eevil\u2028\u2029 \t</script><!--",
             "=cmd|' /C calc'!A0"]
    data = tmp_path / "hostile.jsonl"
    data.write_text(jsonl(line(texts[0], texts[1], texts[2]), line(texts[0], texts[3],
                                                                 texts[4]),
                          line(texts[0], texts[1], texts[4])), encoding="utf-8")
    out = tmp_path / "hostile.toml"
    code, _, err = _cli(capsys, data, "--out", out, "--title", "<b>bold</b> \u202e")
    assert code == 0, err
    doc = tomllib.loads(out.read_text(encoding="utf-8"))
    assert doc["title"] == "<b>bold</b> \u202e"
    assert doc["prompts"] == [{"text": texts[0], "replies": texts[1:]}]
    s = load_scenario(str(out))
    assert s.prompts[0].replies == tuple(texts[1:]) and len(s.rows) == 3


def test_run_given_trl_data_points_to_import(capsys):
    from dpo_sim.app.cli import main

    for ref in (DATA / "trl_small.jsonl", "trl_small.jsonl"):
        assert main(["run", str(ref)]) == 2
        out, err = capsys.readouterr()
        assert out == "" and err == (f"dpo-sim: {ref}: file: is JSON, not a TOML scenario; to "
                                     f"make a lesson of preference data in TRL's formats: "
                                     f"'dpo-sim import FILE --out LESSON.toml'\n")


def test_a_real_process_exits_2_with_one_line_on_hostile_files(tmp_path):
    import sys

    files = {"deep.json": b"[" * 300_000, "bad.jsonl": b"\xff\xfe{}"}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        p = subprocess.run([sys.executable, "-m", "dpo_sim", "import", str(tmp_path / name)],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 2 and p.stdout == "", (name, p.stderr)
        assert p.stderr.count("\n") == 1 and p.stderr.startswith(f"dpo-sim: {tmp_path / name}: ")
