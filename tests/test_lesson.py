"""sim/lesson.py: a scenario back to its doc, out as TOML (the presets' format) and into a
link, each tested by reading it back with the loader the files and the page use."""

import base64
import json
import tomllib
import zlib

import numpy as np
import pytest

from dpo_sim.sim import lesson
from dpo_sim.sim.lesson import decode_lesson, doc_of, encode_lesson, to_toml
from dpo_sim.sim.scenario_io import build_scenario, load_scenario, preset_ids
from tests.lesson_docs import HOSTILE, broken_docs, preset_docs, random_doc


def config(doc):
    s = build_scenario(doc, file="t", id="t")
    return {**s.config(), "steps": s.steps}


@pytest.mark.parametrize("pid", preset_ids())
def test_toml_of_every_preset_reads_back_the_same_scenario(pid):
    s = load_scenario(pid)
    doc = doc_of(s)
    text = to_toml(doc)
    again = tomllib.loads(text)
    assert config(again) == {**s.config(), "steps": s.steps, "scenario": "t"}
    assert to_toml(again) == text                     # a fixed point: deterministic
    # the raw preset (as tomllib reads the file) writes the same scenario too
    raw = preset_docs()[pid]
    assert config(tomllib.loads(to_toml(raw))) == config(raw)


def test_doc_of_reference_and_init():
    assert doc_of(load_scenario("align"))["reference"] == {"kind": "uniform"}
    assert "init" not in doc_of(load_scenario("align"))
    mass = doc_of(load_scenario("mass-flow"))
    assert mass["reference"]["kind"] == "logits"
    assert mass["reference"]["logits"][0][1] == 4.499809670330265
    doc = preset_docs()["align"]
    doc["reference"] = {"kind": "random", "seed": 3, "scale": 1.0}
    s = build_scenario(doc, file="t", id="t")
    d = doc_of(s)          # the random reference realised as its logits
    assert d["reference"]["kind"] == "logits"
    assert np.array_equal(np.array(d["reference"]["logits"]),
                          np.random.default_rng(3).normal(scale=1.0, size=(2, 4)))
    assert config(tomllib.loads(to_toml(d))) == config(doc)
    doc["init"] = [[1.0, 0, 0, 0], [0, 0, 0, 2.5]]
    assert doc_of(build_scenario(doc, file="t", id="t"))["init"] == [[1.0, 0, 0, 0],
                                                                     [0, 0, 0, 2.5]]


@pytest.mark.parametrize("seed", range(60))
def test_toml_of_random_and_hostile_docs_reads_back(seed):
    doc = random_doc(seed, hostile=seed % 2 == 1)
    text = to_toml(doc)
    assert config(tomllib.loads(text)) == config(doc)
    assert decode_lesson(encode_lesson(doc)) == doc


def test_hostile_texts_are_escaped_in_toml():
    doc = preset_docs()["align"]
    doc["title"] = "\u202eevil\u2028\u2029"
    doc["prompts"][0]["text"] = "\n".join(HOSTILE)
    text = to_toml(doc)
    for ch in "\u202e\u2028\u2029\ufeff\u200b\r":
        assert ch not in text
    assert 'title = "\\u202Eevil\\u2028\\u2029"' in text
    assert tomllib.loads(text)["prompts"][0]["text"] == doc["prompts"][0]["text"]
    # every line of the file is a comment, blank, a key, a table header or a list item
    for line in text.splitlines():
        assert (line == "" or line.startswith(("#", "[", "  ", "]"))
                or line.split(" = ")[0].isidentifier()), line


def test_numbers_are_written_by_field_type():
    doc = preset_docs()["fix-label"]
    doc["pairs"][0]["votes_chosen"] = 2.5
    doc["pairs"][1]["votes_rejected"] = 1.0
    doc["beta"] = 2
    doc["challenge"] = {"by_step": 30, "goals": [{"metric": "step", "at_least": 30},
                                                 {"metric": "probs", "prompt": 1,
                                                  "reply": 0, "above": 1e-05}]}
    text = to_toml(doc)
    assert "beta = 2.0\n" in text and "steps = 300\n" in text
    assert "votes_chosen = 2.5\n" in text and "votes_rejected = 1\n" in text
    assert "step = 100\nflip = 1\n" in text
    assert "by_step = 30\n" in text and "at_least = 30.0\n" in text
    assert "prompt = 1\nreply = 0\nabove = 1e-05\n" in text
    doc["events"] = [{"step": 2, "set": {"adaptive_weight": False, "beta": 2}}]
    assert "set = { beta = 2.0, adaptive_weight = false }\n" in to_toml(doc)


def test_align_link_fits_in_2000_characters():
    url = "http://localhost:5006/?lesson=" + encode_lesson(doc_of(load_scenario("align")))
    assert len(url) <= 2000, len(url)


def _pack(raw: bytes) -> str:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return "1." + base64.urlsafe_b64encode(c.compress(raw) + c.flush()).decode().rstrip("=")


def test_bad_links_say_what_is_wrong():
    good = encode_lesson(doc_of(load_scenario("align")))
    cases = [
        ("1." + "A" * lesson.MAX_LINK, "too long: the lesson is 8002 characters; at most 8000"),
        ("2.abc", "not a lesson: it must begin with '1.'"),
        ("1.ab<c", "not base64url"), ("1.a+b/", "not base64url"), ("1.abcde", "not base64url"),
        (good[:len(good) // 2], "truncated"),
        (_pack(b" " * (lesson.MAX_INFLATED + 1)),
         f"too long: the lesson inflates to more than {lesson.MAX_INFLATED} bytes"),
        (_pack(b"{not json"), "not JSON"), (_pack(b"\xff\xfe"), "not JSON"),
        (_pack(b"[" * 100000 + b"]" * 100000), "not JSON"),
        (_pack(b'{"title": NaN}'), "not JSON"),
        (_pack(b"[]"), "(top level): must be a table, got a list"),
        (_pack(json.dumps({**doc_of(load_scenario("align")), "beta": 0}).encode()),
         "beta: must be a number > 0 and <= 100, got 0"),
    ]
    for text, reason in cases:
        with pytest.raises(ValueError) as e:
            decode_lesson(text)
        msg = str(e.value)
        assert msg.startswith(reason) and "\n" not in msg, (text[:40], msg)
    assert len(_pack(b"[" * 100000 + b"]" * 100000)) < lesson.MAX_LINK
    # bytes after the end of the DEFLATE stream: damaged (Chrome's DecompressionStream
    # refuses them too; Node's ignores them, so the twin's test leaves this case out)
    raw = base64.urlsafe_b64decode(good[2:] + "=" * (-len(good[2:]) % 4)) + b"junk"
    with pytest.raises(ValueError, match="^truncated: "):
        decode_lesson("1." + base64.urlsafe_b64encode(raw).decode().rstrip("="))


def test_a_too_big_doc_cannot_be_encoded():
    doc = random_doc(5)
    doc["watch"] = "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(1200))
    doc["prompts"] = [dict(p, text="".join(chr(0x4E00 + (i * 31 + j) % 20000)
                                           for i in range(400))) for j, p in
                      enumerate(doc["prompts"])] * 1
    try:
        encode_lesson(doc)
    except ValueError as e:
        assert str(e).startswith("too long: the lesson is ")


def test_the_broken_corpus_is_refused_by_the_link_too():
    n = 0
    for label, doc in broken_docs()[::37]:
        try:
            build_scenario(doc, file="t", id="t")
            continue
        except Exception as e:
            rule = f"{e.field}: {e.rule}"
        with pytest.raises(ValueError) as e:
            decode_lesson(_pack(json.dumps(doc, ensure_ascii=False)
                                .encode("utf-8", "surrogatepass")))
        assert str(e.value) == rule or str(e.value).startswith("not JSON"), label
        n += 1
    assert n > 50
