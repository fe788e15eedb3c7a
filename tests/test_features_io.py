"""Issue 19: the features model as data. Read from TOML and from a config line, refused with
one line naming the field (CLI exit 2), written back as TOML and as a link, and the page's
twin (app/ui/lesson.js) agreeing with Python: configs within 1e-12, TOML byte for byte,
links that cross. Import from TRL keeps making tables, in both languages."""

import json
import subprocess
import sys
import tomllib

import numpy as np
import pytest

from dpo_sim.app.cli import main
from dpo_sim.sim.lesson import (
    MAX_LINK,
    config_to_doc,
    decode_lesson,
    doc_of,
    encode_lesson,
    to_toml,
)
from dpo_sim.sim.model import MAX_FEATURES, FeaturesModel
from dpo_sim.sim.scenario_io import ScenarioError, build_scenario, scenario_from_config
from dpo_sim.sim.trl_import import import_trl
from tests.lesson_docs import _DELETE, _set, features_doc, jsonish, random_features_doc
from tests.test_lesson_js import NODE, assert_close, node, py_config

needs_node = pytest.mark.skipif(NODE is None, reason="needs node")


def test_a_features_doc_builds_the_model_it_says():
    s = build_scenario(features_doc(), file="t", id="t")
    m = s.model
    assert isinstance(m, FeaturesModel) and m.kind == "features" and m.d == 3
    assert m.features.tolist() == [[[1, 0, 0.5], [0.9, 0.1, 0.5], [0, 1, 0]],
                                   [[0.5, 0.5, 0], [1e-3, -2, 1], [0, 0, 1]]]
    assert m.init_theta.tolist() == [0.0, 0.5, -0.25]
    assert s.start_params().tolist() == [0.0, 0.5, -0.25]
    cfg = s.config()
    assert "init_logits" not in cfg and cfg["model"]["kind"] == "features"
    # init_theta defaults to zeros; a table doc (no [model]) keeps the table
    d = _set(features_doc(), ("model",), {"kind": "features"})
    assert build_scenario(d, file="t", id="t").model.init_theta.tolist() == [0.0] * 3
    table = {k: v for k, v in features_doc().items() if k != "model"}
    table["prompts"] = [{"text": p["text"], "replies": p["replies"]} for p in table["prompts"]]
    assert build_scenario(table, file="t", id="t").model.kind == "table"
    assert build_scenario({**table, "model": {"kind": "table"}}, file="t", id="t"
                          ).model.kind == "table"
    # d = MAX_FEATURES is the limit, and allowed
    d = _set(features_doc(), ("model", "init_theta"), [0.1] * MAX_FEATURES)
    for p in d["prompts"]:
        p["features"] = [[float(k)] * MAX_FEATURES for k in range(3)]
    assert build_scenario(d, file="t", id="t").model.d == MAX_FEATURES == 16


F0 = ("prompts", 0, "features")
# (case, path into features_doc(), new value, field, the rule's words)
BAD = [
    ("wrong length", ("prompts", 1, "features", 2), [1, 2], "prompts[1].features[2]",
     "must have 3 numbers (d, set by prompts[0].features[0]), got 2"),
    ("nan", F0 + (1, 2), float("nan"), "prompts[0].features[1][2]",
     "must be a finite number, got nan"),
    ("inf", ("prompts", 1, "features", 0, 0), float("-inf"), "prompts[1].features[0][0]",
     "must be a finite number, got -inf"),
    ("string", F0 + (1, 0), "1.5", "prompts[0].features[1][0]",
     "must be a number, got a string '1.5'"),
    ("bool", F0 + (1, 0), True, "prompts[0].features[1][0]",
     "must be a number, got a boolean True"),
    ("d over the limit", F0 + (0,), [0.5] * 17, "prompts[0].features[0]",
     "holds 17 numbers; at most 16 (what the page can show)"),
    ("d 0", F0 + (0,), [], "prompts[0].features[0]",
     "must hold at least 1 number (d >= 1), got 0"),
    ("features on a table", ("model",), _DELETE, "prompts[0].features",
     'is only for a features model: add [model] with kind = "features", or remove it'),
    ("features on kind table", ("model",), {"kind": "table"}, "prompts[0].features",
     "is only for a features model"),
    ("a prompt without features", ("prompts", 1, "features"), _DELETE, "prompts[1].features",
     'is required by a features model (model.kind = "features"): one vector of numbers '
     "per reply"),
    ("a reply without a vector", F0, [[1, 0, 0.5], [0.9, 0.1, 0.5]], "prompts[0].features",
     "must hold one vector per reply (3), got 2: reply 2 has none"),
    ("too many vectors", F0, [[1, 0, 0.5]] * 4, "prompts[0].features",
     "must hold one vector per reply (3), got 4"),
    ("a vector not a list", F0 + (1,), 3, "prompts[0].features[1]",
     "must be a list, got an integer"),
    ("init with features", ("init",), [[0, 0, 0], [0, 0, 0]], "init",
     "gives start logits, which a features model does not have: it starts at [model] "
     'init_theta (remove init, or set model.kind = "table")'),
    ("init_theta short", ("model", "init_theta"), [0, 0], "model.init_theta",
     "must have 3 numbers (d, set by prompts[0].features[0]), got 2"),
    ("init_theta long", ("model", "init_theta"), [0, 0, 0, 0], "model.init_theta",
     "must have 3 numbers (d, set by prompts[0].features[0]), got 4"),
    ("init_theta nan", ("model", "init_theta", 1), float("nan"), "model.init_theta[1]",
     "must be a finite number, got nan"),
    ("init_theta on a table", ("model", "kind"), "table", "model.init_theta",
     'is only for a features model (model.kind = "features")'),
    ("unknown kind", ("model", "kind"), "mlp", "model.kind",
     "must be one of table, features, got 'mlp'"),
    ("unknown model key", ("model", "d"), 3, "model.d",
     "unknown key; allowed here: kind, init_theta"),
]


def _toml_file(tmp_path, doc):
    """The doc as a TOML file, by tests/test_bad_input.py's own small writer (sim/lesson.py's
    writes valid docs only)."""
    from tests.test_bad_input import to_toml as plain_toml

    f = tmp_path / "lesson.toml"
    f.write_text(plain_toml(doc), encoding="utf-8")
    return f


@pytest.mark.parametrize("case,path,value,field,rule", BAD, ids=[b[0] for b in BAD])
def test_the_cli_refuses_each_features_rule_with_one_line(tmp_path, capsys, case, path, value,
                                                          field, rule):
    f = _toml_file(tmp_path, _set(features_doc(), path, value))
    code = main(["run", str(f), "--steps", "3"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err == f"dpo-sim: {f}: {field}: {rule}\n" or (
        err.startswith(f"dpo-sim: {f}: {field}: {rule}") and err.count("\n") == 1), err


def test_a_real_process_exits_2_with_one_line_on_bad_features(tmp_path):
    for case, path, value, field, rule in (BAD[0], BAD[1], BAD[5], BAD[13]):
        f = _toml_file(tmp_path, _set(features_doc(), path, value))
        p = subprocess.run([sys.executable, "-m", "dpo_sim", "run", str(f)],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 2 and p.stdout == "", case
        assert p.stderr == f"dpo-sim: {f}: {field}: {rule}\n", (case, p.stderr)


# -- the config line ---------------------------------------------------------------------
def test_a_features_config_line_rebuilds_the_same_scenario():
    for doc in [features_doc()] + [random_features_doc(s) for s in range(10)]:
        s = build_scenario(doc, file="t", id="t")
        cfg = json.loads(json.dumps(s.config()))
        back = scenario_from_config(cfg)
        assert back.model == s.model and back.config() == s.config()
        assert "init_logits" not in cfg
        assert cfg["model"] == {"kind": "features", "features": s.model.features.tolist(),
                                "init_theta": s.model.init_theta.tolist()}


def _cfg_error(edit) -> tuple[str, str]:
    cfg = json.loads(json.dumps(build_scenario(features_doc(), file="t", id="t").config()))
    edit(cfg)
    with pytest.raises(ScenarioError) as e:
        scenario_from_config(cfg)
    return e.value.field, e.value.rule


def test_a_bad_config_line_model_names_its_own_field():
    def at(*path, value):
        def edit(cfg):
            t = cfg
            for k in path[:-1]:
                t = t[k]
            t[path[-1]] = value
        return edit

    assert _cfg_error(at("model", "features", 1, 2, value=[1.0])) == (
        "model.features[1][2]", "must have 3 numbers (d, set by model.features[0][0]), got 1")
    assert _cfg_error(at("model", "features", 0, 0, 1, value=float("nan"))) == (
        "model.features[0][0][1]", "must be a finite number, got nan")
    assert _cfg_error(at("model", "features", value=[[[1.0]] * 3])) == (
        "model.features", "must have one list of vectors per prompt (2), got 1")
    assert _cfg_error(at("model", "features", 0, value=[[1.0, 2, 3]] * 2)) == (
        "model.features[0]", "must hold one vector per reply (3), got 2: reply 2 has none")
    assert _cfg_error(at("model", "init_theta", value=[0.0])) == (
        "model.init_theta", "must have 3 numbers (d, set by model.features[0][0]), got 1")
    assert _cfg_error(at("init_logits", value=[[0.0] * 3] * 2))[0] == "init_logits"
    assert _cfg_error(lambda c: c["model"].pop("features")) == (
        "model.features", "is required but missing")
    assert _cfg_error(lambda c: c.update(model={"kind": "table", "features": [[[1.0]]]})) == (
        "model.features", "unknown key; allowed here: kind")
    assert _cfg_error(at("prompts", 0, "features", value=[[1.0]] * 3))[0] == \
        "prompts[0].features"
    assert _cfg_error(at("model", value=[1])) == ("model", "must be a table, got a list")
    assert _cfg_error(at("prompts", value="Q")) == ("prompts", "must be a list, got a string")


# -- TOML and links ---------------------------------------------------------------------
def test_a_features_scenario_round_trips_through_toml_and_a_link():
    for doc in [features_doc()] + [random_features_doc(s) for s in range(30)]:
        s = build_scenario(doc, file="t", id="t")
        want = {**s.config(), "steps": s.steps}
        d = doc_of(s)
        assert d["model"]["kind"] == "features" and "init" not in d
        text = to_toml(d)
        assert "\n[model]\nkind = \"features\"\n" in text
        from_toml = build_scenario(tomllib.loads(text), file="t", id="t")
        assert {**from_toml.config(), "steps": from_toml.steps} == want
        from_link = build_scenario(decode_lesson(encode_lesson(d)), file="t", id="t")
        assert {**from_link.config(), "steps": from_link.steps} == want
    # init_theta all zero is left out (the default), as init is when it is the reference
    s = build_scenario(_set(features_doc(), ("model",), {"kind": "features"}), file="t",
                       id="t")
    assert doc_of(s)["model"] == {"kind": "features"}
    # the presets' layout: [model] after the settings, features inside each [[prompts]]
    text = to_toml(doc_of(build_scenario(features_doc(), file="t", id="t")))
    assert text.index("steps = 300") < text.index("[model]") < text.index("[reference]")
    assert "init_theta = [0.0, 0.5, -0.25]\n" in text
    assert ('replies = [\n  "a",\n  "b",\n  "c",\n]\nfeatures = [\n  [1.0, 0.0, 0.5],\n'
            '  [0.9, 0.1, 0.5],\n  [0.0, 1.0, 0.0],\n]\n') in text


def _features_of_size(P, K, d, rng, digits=None):
    doc = features_doc()
    doc["prompts"] = [{"text": f"Prompt {x}: a question a teacher might ask, written out.",
                       "replies": [f"Reply {k} of prompt {x}, a sentence or two long." for k
                                   in range(K)],
                       "features": [[float(v) if digits is None else round(float(v), digits)
                                     for v in rng.normal(size=d)] for _ in range(K)]}
                      for x in range(P)]
    doc["model"] = {"kind": "features", "init_theta": [0.0] * d}
    doc["reference"] = {"kind": "uniform"}
    doc["pairs"] = [{"prompt": x, "chosen": 0, "rejected": 1, "votes_chosen": 3}
                    for x in range(P)]
    return doc


def test_a_preset_sized_features_link_stays_within_the_limit():
    rng = np.random.default_rng(19)
    # a preset's size (2 prompts, 4 replies, d = 4, numbers of 2 decimals): a short link
    preset = encode_lesson(doc_of(build_scenario(_features_of_size(2, 4, 4, rng, 2),
                                                 file="t", id="t")))
    assert len(preset) < 1000, len(preset)
    # the largest the page allows, every number with 17 digits: still within MAX_LINK
    big = doc_of(build_scenario(_features_of_size(4, 6, 16, rng), file="t", id="t"))
    text = encode_lesson(big)
    assert len(text) <= MAX_LINK, len(text)
    assert decode_lesson(text) == json.loads(json.dumps(big))


# -- the page's twin ----------------------------------------------------------------------
@needs_node
def test_the_twin_gives_the_same_configs_toml_and_docs_on_features():
    docs = [jsonish(features_doc())]
    docs += [jsonish(random_features_doc(s)) for s in range(40)]
    res = node([{"kind": k, "doc": d} for d in docs for k in ("check", "toml")])
    for i, doc in enumerate(docs):
        check, toml = res[2 * i], res[2 * i + 1]
        assert "ok" in check, check
        assert_close(py_config(doc), check["ok"])
        assert toml["ok"] == to_toml(doc), i
        # the page's config is what the served page's engine reads (sim/protocol.py)
        back = scenario_from_config(check["ok"], file="the page's scenario")
        assert back.model == build_scenario(doc, file="t", id="t").model
    configs = [py_config(d) for d in docs]
    res = node([{"kind": "configToDoc", "config": c} for c in configs])
    for c, js in zip(configs, res):
        assert jsonish(config_to_doc(c)) == jsonish(js["ok"])
    # links cross both ways
    docs = [doc_of(build_scenario(d, file="t", id="t")) for d in docs[:10]]
    res = node([{"kind": "decode", "text": encode_lesson(d)} for d in docs]
               + [{"kind": "encode", "doc": jsonish(d)} for d in docs])
    for d, js in zip(docs, res[:10]):
        assert js["ok"] == jsonish(d)
    for d, js in zip(docs, res[10:]):
        assert jsonish(decode_lesson(js["ok"])) == jsonish(d)


@needs_node
def test_the_twin_refuses_each_features_rule_in_pythons_words():
    docs = [_set(jsonish(features_doc()), path, value) for _, path, value, _, _ in BAD]
    res = node([{"kind": "check", "doc": d} for d in docs])
    for (case, _, _, field, rule), js in zip(BAD, res):
        assert (js.get("field"), js.get("rule")) == (field, rule) or (
            js.get("field") == field and js.get("rule", "").startswith(rule)), (case, js)


# -- import keeps making tables ---------------------------------------------------------
@needs_node
def test_an_imported_lesson_is_a_table_in_both_languages():
    from dpo_sim.sim.scenario_io import LIMITS
    from dpo_sim.sim.settings import table_json
    from tests.test_trl_import import DATA
    from tests.test_trl_import import DRIVER as TRL_DRIVER

    files = ("trl_small.jsonl", "trl_conversational.json", "trl_implicit.jsonl")
    texts = [(DATA / f).read_text(encoding="utf-8") for f in files]
    for f, text in zip(files, texts):
        doc = import_trl(text, file=f)
        assert "model" not in doc and all("features" not in p for p in doc["prompts"])
        assert build_scenario(doc, file=f, id="i").model.kind == "table"
    p = subprocess.run([NODE, str(TRL_DRIVER)], capture_output=True, text=True, timeout=120,
                       input=json.dumps({"cases": [{"text": t, "options": {"file": f}}
                                                   for f, t in zip(files, texts)],
                                         "limits": LIMITS, "settings": table_json(),
                                         "modelKinds": True}))
    assert p.returncode == 0, p.stderr[-2000:]
    results = json.loads(p.stdout)["results"]
    assert [r.get("model_kind") for r in results] == ["table"] * 3, results
    assert all("model" not in r["doc"] for r in results)


# -- the editor's edits (app/ui/editor_doc.js), run under Node ----------------------------
def _edit(doc, *ops):
    [res] = node([{"kind": "edit", "doc": jsonish(doc), "ops": [list(o) for o in ops]}])
    assert "ok" in res, res
    return res["ok"]


@needs_node
def test_the_editor_switches_a_preset_to_features_and_back():
    from tests.lesson_docs import preset_doc

    align = jsonish(preset_doc("align"))           # 2 prompts, 4 replies, a table
    got = _edit(align, ("setModelKind", "features", MAX_FEATURES))
    assert got["kind"] == "features" and got["d"] == 4 and "init" not in got["doc"]
    assert [p["features"] for p in got["doc"]["prompts"]] == [np.eye(4).tolist()] * 2
    cfg = got["check"]["ok"]
    assert cfg["model"]["kind"] == "features" and "init_logits" not in cfg
    assert_close(py_config(got["doc"]), cfg)          # Python reads the editor's doc the same
    # with e_k features and theta = 0 the start is the reference: the model's logits
    m = build_scenario(got["doc"], file="t", id="t").model
    s = build_scenario(got["doc"], file="t", id="t")
    assert np.array_equal(m.logits(s.start_params(), s.ref_logits), s.ref_logits)
    # back to the table: the doc is the preset's again
    back = _edit(got["doc"], ("setModelKind", "table", MAX_FEATURES))
    assert back["doc"] == align and back["kind"] == "table"
    assert_close(py_config(align), back["check"]["ok"])
    # a start given as logits is dropped with the switch (init is refused with features)
    with_init = {**align, "init": [[0.5, 0, 0, 0], [0, 0, 0, 1]]}
    assert "init" not in _edit(with_init, ("setModelKind", "features", 16))["doc"]


@needs_node
def test_the_editor_resizes_d_and_keeps_replies_and_prompts_in_step():
    doc = jsonish(features_doc())
    got = _edit(doc, ("setFeaturesD", 5))
    assert got["d"] == 5 and got["check"]["ok"]["model"]["init_theta"] == [0, 0.5, -0.25, 0, 0]
    assert got["doc"]["prompts"][1]["features"][1] == [1e-3, -2, 1, 0, 0]
    got = _edit(doc, ("setFeaturesD", 1))
    assert got["check"]["ok"]["model"]["features"] == [[[1], [0.9], [0]], [[0.5], [1e-3], [0]]]
    got = _edit(doc, ("setFeaturesD", MAX_FEATURES))
    assert "ok" in got["check"] and got["d"] == 16
    # a reply added to each prompt gets a zero vector; removing one removes its vector
    d2 = copy_doc(doc)
    d2["reference"] = {"kind": "uniform"}
    for p in d2["prompts"]:
        p["replies"].append("new")
    got = _edit(d2, ("addReplyVector", 0), ("addReplyVector", 1))
    assert "ok" in got["check"], got["check"]
    assert [p["features"][3] for p in got["doc"]["prompts"]] == [[0, 0, 0]] * 2
    # half done (one prompt only): the validator names the prompt whose vectors are short
    got = _edit(d2, ("addReplyVector", 0))
    assert (got["check"]["field"], got["check"]["rule"]) == (
        "prompts[1].features", "must hold one vector per reply (4), got 3: reply 3 has none")
    d3 = copy_doc(d2)
    del d3["prompts"][0]["replies"][0]
    got = _edit(d3, ("removeReplyVector", 0, 0))
    assert got["doc"]["prompts"][0]["features"] == [[0.9, 0.1, 0.5], [0, 1, 0]]


def copy_doc(doc):
    return json.loads(json.dumps(doc))


@needs_node
def test_hostile_cells_are_refused_at_their_field_in_pythons_words():
    doc = jsonish(features_doc())
    cases = [("1e999", "must be a finite number, got inf"),
             ("-1e999", "must be a finite number, got -inf"),
             ("1" * 10_000, "must be a finite number, got inf"),
             ("NaN", "must be a number, got a string 'NaN'"),
             ("Infinity", "must be a finite number, got inf"),
             ("<img src=x onerror=alert(1)>", "must be a number, got a string "
                                             "'<img src=x onerror=alert(1)>'"),
             ("", "must be a number, got a string ''"),
             ("true", "must be a number, got a boolean True"),
             ("0x1g", "must be a number, got a string '0x1g'")]
    res = node([{"kind": "edit", "doc": doc, "ops": [["setFeatureCell", 1, 2, 0, text]]}
                for text, _ in cases]
               + [{"kind": "edit", "doc": doc, "ops": [["setThetaCell", 2, text]]}
                  for text, _ in cases])
    n = len(cases)
    for (text, rule), js in zip(cases, res[:n]):
        c = js["ok"]["check"]
        assert (c["field"], c["rule"]) == ("prompts[1].features[2][0]", rule), text[:20]
        # Python says the same of the same value
        value = {"1e999": float("inf"), "-1e999": -float("inf"), "Infinity": float("inf"),
                 "1" * 10_000: float("inf"), "true": True}.get(text, text)
        with pytest.raises(ScenarioError) as e:
            build_scenario(_set(doc, ("prompts", 1, "features", 2, 0), value), file="t", id="t")
        assert (e.value.field, e.value.rule) == (c["field"], c["rule"])
    for (text, rule), js in zip(cases, res[n:]):
        c = js["ok"]["check"]
        assert (c["field"], c["rule"]) == ("model.init_theta[2]", rule), text[:20]
    # a good typed number is read as a number; theta is written once a coordinate is typed
    got = _edit(_set(doc, ("model",), {"kind": "features"}), ("setThetaCell", 1, " 2.5e-1 "))
    assert got["check"]["ok"]["model"]["init_theta"] == [0, 0.25, 0]
    got = _edit(doc, ("setFeatureCell", 0, 0, 2, "-3"))
    assert got["check"]["ok"]["model"]["features"][0][0] == [1, 0, -3]


def test_the_features_presets_round_trip_and_their_links_are_short():
    from dpo_sim.sim.scenario_io import load_scenario, preset_ids

    features = [p for p in preset_ids() if load_scenario(p).model.kind == "features"]
    assert len(features) >= 3, features
    for pid in features:
        s = load_scenario(pid)
        want = {**s.config(), "scenario": "x", "steps": s.steps}
        d = doc_of(s)
        for back in (build_scenario(tomllib.loads(to_toml(d)), file="t", id="x"),
                     build_scenario(decode_lesson(encode_lesson(d)), file="t", id="x")):
            assert {**back.config(), "steps": back.steps} == want, pid
        url = "http://localhost:5006/?lesson=" + encode_lesson(d)
        assert len(url) <= 2000, (pid, len(url))
