"""`dpo-sim link`: a preset gives ?scenario=ID, a TOML file ?lesson=..., --set the page's own
parameters, --step step=N; bad input exits 2 with one line."""

import shutil
from urllib.parse import parse_qsl, urlsplit

import pytest

from dpo_sim.app.cli import _build_parser, main
from dpo_sim.sim.lesson import decode_lesson, to_toml
from dpo_sim.sim.scenario_io import build_scenario, load_scenario
from tests.lesson_docs import HOSTILE, PRESETS, preset_doc
from tests.test_cli import RANDOM_TOML


def link(capsys, *args):
    assert main(["link", *args]) == 0
    out = capsys.readouterr().out
    assert out.endswith("\n") and out.count("\n") == 1
    return out.strip()


def bad(capsys, *args) -> str:
    assert main(["link", *args]) == 2
    cap = capsys.readouterr()
    assert cap.out == "" and cap.err.count("\n") == 1 and "Traceback" not in cap.err
    return cap.err.strip()


def test_a_preset_gives_its_id_and_the_default_base_is_where_serve_listens(capsys):
    serve = _build_parser().parse_args(["serve"])
    base = f"http://{serve.address}:{serve.port}/"
    assert link(capsys, "align") == base + "?scenario=align"
    assert link(capsys, "align", "--step", "120", "--set", "adaptive_weight=off",
                "--set", "beta=2") == base + "?scenario=align&beta=2.0&weight=off&step=120"
    assert link(capsys, "mislabel", "--base", "https://example.org/dpo/", "--set",
                "loss_type=ipo", "--set", "label_smoothing=0.1", "--set",
                "learning_rate=0.25") == ("https://example.org/dpo/?scenario=mislabel&lr=0.25"
                                          "&loss=ipo&eps=0.1")
    assert link(capsys, "tie", "--base", "http://localhost:5006").startswith(
        "http://localhost:5006/?scenario=tie")


def test_a_toml_file_gives_the_whole_scenario(tmp_path, capsys):
    f = tmp_path / "random.toml"
    f.write_text(RANDOM_TOML, encoding="utf-8")
    url = link(capsys, str(f), "--step", "30", "--set", "beta=0.5")
    parts = urlsplit(url)
    q = parse_qsl(parts.query)
    assert [k for k, _ in q] == ["lesson", "beta", "step"] and q[1:] == [("beta", "0.5"),
                                                                         ("step", "30")]
    doc = decode_lesson(q[0][1])
    assert doc["reference"]["kind"] == "logits"          # the random reference, realised
    s = load_scenario(str(f))
    back = build_scenario(doc, file="link", id=s.id)
    assert back.config() == s.config() and back.steps == s.steps


def test_hostile_texts_travel_in_the_link_as_written(tmp_path, capsys):
    doc = preset_doc("align")
    doc["title"] = "<b>x</b>"
    doc["prompts"][0]["replies"] = HOSTILE[:4]
    doc["prompts"][1]["replies"] = HOSTILE[4:8]
    f = tmp_path / "hostile.toml"
    f.write_text(to_toml(doc), encoding="utf-8")
    q = dict(parse_qsl(urlsplit(link(capsys, str(f))).query))
    back = decode_lesson(q["lesson"])
    assert back["title"] == "<b>x</b>"
    assert [p["replies"] for p in back["prompts"]] == [HOSTILE[:4], HOSTILE[4:8]]


def test_align_as_a_file_is_a_short_link(tmp_path, capsys):
    f = tmp_path / "align.toml"
    shutil.copy(PRESETS / "align.toml", f)
    url = link(capsys, str(f), "--base", "http://localhost:5006/")
    assert "?lesson=1." in url and len(url) <= 2000, len(url)


@pytest.mark.parametrize("args, message", [
    (["nope"], "dpo-sim: nope: scenario: is neither a preset id"),
    (["missing.toml"], "dpo-sim: missing.toml: file: does not exist or is not a file"),
    (["align", "--base", "ftp://x"], "dpo-sim: --base: must be the page's address"),
    (["align", "--base", "http://x/?a=1"], "dpo-sim: --base: must be the page's address"),
    (["align", "--step", "-1"], "dpo-sim: --step: must be a whole number from 0 to 20000"),
    (["align", "--step", "20001"], "dpo-sim: --step: must be a whole number from 0 to 20000"),
    (["align", "--set", "beta=0"], "dpo-sim: --set: beta: must be a number > 0 and <= 100"),
    (["align", "--set", "beta"], "dpo-sim: --set: beta: must be KEY=VALUE"),
    (["align", "--set", "bta=1"],
     "dpo-sim: --set: bta: unknown setting (did you mean 'beta'?)"),
    (["align", "--set", "beta=1", "--set", "beta=2"], "dpo-sim: --set: beta: given twice"),
    (["align", "--set", "steps=5"], "dpo-sim: --set: steps: the page's address has no "
                                    "parameter for it"),
    (["align", "--set", "speed=5"], "dpo-sim: --set: speed: unknown setting"),
    (["align", "--frobnicate"], "dpo-sim link: --frobnicate: unknown option"),
])
def test_bad_input_exits_2_with_one_line(capsys, args, message):
    assert bad(capsys, *args).startswith(message)


def test_a_broken_file_names_the_file_and_field(tmp_path, capsys):
    f = tmp_path / "broken.toml"
    f.write_text(RANDOM_TOML.replace('text = "Q0"', 'text = "Q\\u0000"'), encoding="utf-8")
    assert bad(capsys, str(f)) == (f"dpo-sim: {f}: prompts[0].text: must not contain the "
                                   f"control character U+0000 (only newline and tab are "
                                   f"allowed)")
