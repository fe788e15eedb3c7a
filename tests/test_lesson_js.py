"""app/ui/lesson.js, the page's twin of the scenario validator and of sim/lesson.py, against
Python: the same errors word for word on a corpus of broken docs, the same configs, TOML
byte for byte, and links that cross between the two."""

import json
import math
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from dpo_sim.sim.lesson import config_to_doc, decode_lesson, doc_of, encode_lesson, to_toml
from dpo_sim.sim.scenario_io import LIMITS, ScenarioError, build_scenario, load_scenario
from dpo_sim.sim.settings import table_json
from tests.lesson_docs import broken_docs, jsonish, preset_docs, random_doc
from tests.test_lesson import _pack

NODE = shutil.which("node")
DRIVER = Path(__file__).resolve().parent / "lesson_driver.mjs"
pytestmark = pytest.mark.skipif(NODE is None, reason="needs node")


def _nonfinite(v):
    """JSON has no NaN or infinity: they travel as {"$float": "nan" | "inf" | "-inf"} and
    the driver turns them back into numbers."""
    if isinstance(v, float) and not math.isfinite(v):
        return {"$float": repr(v)}
    if isinstance(v, list):
        return [_nonfinite(x) for x in v]
    if isinstance(v, dict):
        return {k: _nonfinite(x) for k, x in v.items()}
    return v


def node(jobs):
    r = subprocess.run([NODE, str(DRIVER)], capture_output=True, text=True, check=True,
                       input=json.dumps({"settings": table_json(), "limits": LIMITS,
                                         "jobs": _nonfinite(jobs)}, allow_nan=False))
    return json.loads(r.stdout)


def py_config(doc):
    s = build_scenario(doc, file="t", id="t")
    return {**s.config(), "steps": s.steps}


def assert_close(a, b, path=""):
    """Equal, numbers within 1e-12 (relative): the JS takes log(probs) with its own Math.log."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), (path, set(a) ^ set(b))
        for k in a:
            assert_close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_close(x, y, f"{path}[{i}]")
    elif isinstance(a, (int, float)) and not isinstance(a, bool):
        assert not isinstance(b, bool) and abs(a - b) <= 1e-12 * max(1, abs(a)), (path, a, b)
    else:
        assert a == b, (path, a, b)


def test_the_corpus_of_broken_docs_gives_pythons_errors_word_for_word():
    docs = broken_docs()
    res = node([{"kind": "check", "doc": d} for _, d in docs])
    rules, valid = Counter(), 0
    for (label, doc), js in zip(docs, res):
        try:
            config = py_config(doc)
        except ScenarioError as e:
            assert js.get("error") == str(e), label
            assert (js["field"], js["rule"]) == (e.field, e.rule), label
            rules[e.rule.split(",")[0][:40]] += 1
            continue
        assert "ok" in js, (label, js)
        assert_close(config, js["ok"])
        valid += 1
    assert len(docs) > 8000 and valid > 500
    assert len(rules) > 60, rules                  # the corpus covers many rules
    for needle in ("did you mean", "what the page can show", "control character",
                   "lone surrogate", "must sum to 1", "exactly one comparison",
                   "must be one of judgement", "twice"):
        assert any(needle in r for r in rules) or any(
            needle in js.get("error", "") for js in res), needle


def test_valid_docs_give_the_same_config_and_toml_byte_for_byte():
    docs = [jsonish(d) for d in preset_docs().values()]
    docs += [jsonish(doc_of(load_scenario(pid))) for pid in preset_docs()]
    docs += [jsonish(random_doc(seed, hostile=seed % 2 == 0)) for seed in range(80)]
    res = node([{"kind": k, "doc": d} for d in docs for k in ("check", "toml")])
    for i, doc in enumerate(docs):
        check, toml = res[2 * i], res[2 * i + 1]
        assert_close(py_config(doc), check["ok"])
        assert toml["ok"] == to_toml(doc), i


def test_config_to_doc_is_the_same_in_both():
    configs = [{**load_scenario(pid).config(), "steps": load_scenario(pid).steps}
               for pid in preset_docs()]
    configs += [py_config(jsonish(random_doc(s))) for s in range(20)]
    res = node([{"kind": "configToDoc", "config": c} for c in configs])
    for c, js in zip(configs, res):
        assert jsonish(config_to_doc(c)) == jsonish(js["ok"])


def test_links_cross_between_python_and_javascript():
    docs = [doc_of(load_scenario(pid)) for pid in preset_docs()]
    docs += [random_doc(seed, hostile=True) for seed in range(20)]
    res = node([{"kind": "decode", "text": encode_lesson(d)} for d in docs]
               + [{"kind": "encode", "doc": jsonish(d)} for d in docs])
    n = len(docs)
    for d, js in zip(docs, res[:n]):
        assert js["ok"] == jsonish(d)                       # Python's link, read by the page
    for d, js in zip(docs, res[n:]):
        assert jsonish(decode_lesson(js["ok"])) == jsonish(d)   # the page's, read by Python
    align = res[n]["ok"]
    assert len("http://localhost:5006/?lesson=" + align) <= 2000, len(align)


def test_bad_links_give_the_same_reasons_in_javascript():
    good = encode_lesson(doc_of(load_scenario("align")))
    texts = ["1." + "A" * 8000, "2.abc", "1.ab<c", "1.a+b/", "1.abcde", good[:len(good) // 2],
             _pack(b" " * 200_001), _pack(b"{not json"), _pack(b"\xff\xfe"),
             _pack(b'{"title": NaN}'), _pack(b"[]"),
             _pack(json.dumps({**doc_of(load_scenario("align")), "beta": 0}).encode())]
    res = node([{"kind": "decode", "text": t} for t in texts])
    for t, js in zip(texts, res):
        with pytest.raises(ValueError) as e:
            decode_lesson(t)
        assert js["error"] == str(e.value), t[:30]


def test_a_random_reference_is_refused_by_the_page_with_a_rule():
    doc = jsonish(preset_docs()["align"])
    doc["reference"] = {"kind": "random", "seed": 1, "scale": 1.0}
    build_scenario(doc, file="t", id="t")               # Python realises it
    [js] = node([{"kind": "check", "doc": doc}])
    assert (js["field"], js["rule"]) == ("reference.kind", "a random reference is realised "
                                         "by the command line: use dpo-sim link or export")
