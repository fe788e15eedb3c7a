"""Docs for the lesson tests (Python's and the page's twin): every preset, random valid docs,
hostile texts, and a corpus of broken docs made by mutating the presets."""

from __future__ import annotations

import copy
import json
import math
import tomllib
from pathlib import Path

import numpy as np

from dpo_sim.sim.challenge import COMPARISONS, METRICS, PROMPT_METRICS, ROW_METRICS, TRL_METRICS
from dpo_sim.sim.scenario_io import LIMITS, preset_ids

PRESETS = Path(__file__).resolve().parent.parent / "presets"

HOSTILE = ["<script>alert(1)</script>", '<img src=x onerror="alert(1)">',
           "javascript:alert(1)", "\u202eevil\u202c", "a\u2028b\u2029c", "</script><!--",
           'quote " and \\ backslash', "tab\tand\nnewline", "emoji 🥚 and é",
           "\ufeffbom \u200b zero-width \u061c \u00ad", "'''\"\"\" toml quotes",
           "=cmd|' /C calc'!A0",
           "# not a comment", "[not.a.table]", "key = \"value\""]


def preset_doc(pid: str) -> dict:
    return tomllib.loads((PRESETS / f"{pid}.toml").read_text(encoding="utf-8"))


def preset_docs() -> dict[str, dict]:
    return {pid: preset_doc(pid) for pid in preset_ids()}


def jsonish(v):
    """The value as JavaScript sees it after JSON: a whole float becomes an int (JSON and
    JavaScript do not tell 1.0 from 1)."""
    if isinstance(v, float) and v.is_integer() and abs(v) < 2 ** 53:
        return int(v)
    if isinstance(v, list):
        return [jsonish(x) for x in v]
    if isinstance(v, dict):
        return {k: jsonish(x) for k, x in v.items()}
    return v


def _float(rng):
    """A float of a random size and digits (also whole ones, tiny and huge ones)."""
    kind = rng.integers(5)
    if kind == 0:
        return float(rng.integers(-5, 6))
    if kind == 1:
        return float(rng.normal() * 10.0 ** rng.integers(-8, 8))
    return float(rng.uniform(-3, 3))


def random_doc(seed: int, hostile: bool = False) -> dict:
    """A valid doc with random sizes, numbers, events and a challenge."""
    rng = np.random.default_rng(seed)
    P = int(rng.integers(1, LIMITS["MAX_PROMPTS"] + 1))
    K = int(rng.integers(2, LIMITS["MAX_REPLIES"] + 1))

    def text(n=40):
        if hostile and rng.random() < 0.6:
            return str(rng.choice(HOSTILE)) + " " + str(seed)
        return "".join(rng.choice(list("abc def?!é\"\\"), size=int(rng.integers(1, n))))\
            .strip() or "x"

    doc = {"title": text(60)[:80], "watch": text(200),
           "beta": float(rng.uniform(0.01, 5)) if rng.random() < 0.8 else 1.0,
           "learning_rate": float(rng.uniform(0.01, 3))}
    if rng.random() < 0.7:
        doc["adaptive_weight"] = bool(rng.random() < 0.5)
    if rng.random() < 0.7:
        doc["loss_type"] = str(rng.choice(["sigmoid", "ipo", "hinge", "robust"]))
    if rng.random() < 0.5:
        doc["label_smoothing"] = float(rng.choice([0.0, 0.1, 0.25, 0.4999]))
    if rng.random() < 0.7:
        doc["steps"] = int(rng.integers(1, 5000))
    kind = rng.choice(["uniform", "probs", "logits", "none"])
    if kind == "uniform":
        doc["reference"] = {"kind": "uniform"}
    elif kind == "logits":
        doc["reference"] = {"kind": "logits",
                            "logits": [[_float(rng) for _ in range(K)] for _ in range(P)]}
    elif kind == "probs":
        probs = []
        for _ in range(P):
            w = rng.integers(1, 20, size=K).astype(float)
            row = [float(x) for x in w / w.sum()]
            row[-1] = 1.0 - math.fsum(row[:-1])
            probs.append(row)
        doc["reference"] = {"kind": "probs", "probs": probs}
    if rng.random() < 0.4:
        doc["init"] = [[_float(rng) for _ in range(K)] for _ in range(P)]
    if rng.random() < 0.3:
        doc["true_reward"] = [[_float(rng) for _ in range(K)] for _ in range(P)]
    doc["prompts"] = [{"text": text(), "replies": [text() for _ in range(K)]}
                      for _ in range(P)]
    pairs = []
    for _ in range(int(rng.integers(1, LIMITS["MAX_ROWS"] + 1))):
        x = int(rng.integers(P))
        c, r = (int(v) for v in rng.choice(K, size=2, replace=False))
        vc = float(rng.integers(0, 11)) if rng.random() < 0.6 else float(rng.uniform(0, 9))
        vr = float(rng.integers(1, 11)) if rng.random() < 0.6 else float(rng.uniform(0.1, 9))
        row = {"prompt": x, "chosen": c, "rejected": r, "votes_chosen": vc}
        if rng.random() < 0.9:
            row["votes_rejected"] = vr
        elif vc == 0:
            row["votes_chosen"] = 1.0
        pairs.append(row)
    doc["pairs"] = pairs
    events = []
    for _ in range(int(rng.integers(0, 6))):
        step = int(rng.integers(0, 400))
        if rng.random() < 0.5:
            events.append({"step": step, "flip": int(rng.integers(len(pairs)))})
        else:
            s = {}
            if rng.random() < 0.5:
                s["loss_type"] = "ipo"
            if rng.random() < 0.5 or not s:
                s["beta"] = float(rng.choice([0.5, 2.0, rng.uniform(0.1, 4)]))
            if rng.random() < 0.3:
                s["adaptive_weight"] = False
            events.append({"step": step, "set": s})
    if events:
        doc["events"] = events
    if rng.random() < 0.6:
        doc["challenge"] = random_challenge(rng, P, K, len(pairs), text)
    return doc


def random_challenge(rng, P, K, n_rows, text) -> dict:
    ch = {}
    if rng.random() < 0.7:
        ch["text"] = text(100)
    if rng.random() < 0.5:
        ch["by_step"] = int(rng.integers(1, 1000))
    if rng.random() < 0.5:
        pool = ["beta", "learning_rate", "adaptive_weight", "loss_type", "label_smoothing",
                "flip"]
        ch["controls"] = [str(k) for k in rng.choice(pool, size=int(rng.integers(0, 4)),
                                                     replace=False)]
    goals = []
    for _ in range(int(rng.integers(1, 9))):
        m = str(rng.choice(METRICS))
        g = {"metric": m}
        if m == "adaptive_weight":
            g["equals"] = bool(rng.random() < 0.5)
        elif m == "loss_type":
            g["equals"] = str(rng.choice(["sigmoid", "ipo"]))
        else:
            if m in TRL_METRICS and rng.random() < 0.6:
                g["per"] = str(rng.choice(["judgement", "row"]))
            if m in PROMPT_METRICS and rng.random() < 0.5:
                g["prompt"] = int(rng.integers(P))
            if m in ROW_METRICS and rng.random() < 0.5:
                g["row"] = int(rng.integers(n_rows))
            if m == "probs":
                g["prompt"], g["reply"] = int(rng.integers(P)), int(rng.integers(K))
            g[str(rng.choice(COMPARISONS))] = _float(rng)
        if rng.random() < 0.3:
            g["text"] = text(60)
        goals.append(g)
    ch["goals"] = goals
    return ch


# -- the corpus of broken docs ----------------------------------------------------------
def _paths(v, path=()):
    """Every (path, value) inside a doc."""
    yield path, v
    if isinstance(v, dict):
        for k, x in v.items():
            yield from _paths(x, path + (k,))
    elif isinstance(v, list):
        for i, x in enumerate(v):
            yield from _paths(x, path + (i,))


def _set(doc, path, value):
    d = copy.deepcopy(doc)
    t = d
    for k in path[:-1]:
        t = t[k]
    if value is _DELETE:
        del t[path[-1]]
    else:
        t[path[-1]] = value
    return d


_DELETE = object()
WRONG = ["x", 1, 1.5, -1, 0, True, None, [], {}, [1, 2], {"a": 1}, 1e300, -0.5, 1e-300,
         2 ** 40, "", "  ", "\x00", "a\x1bb", "é" * 500, "\ud800"]


def broken_docs() -> list[tuple[str, dict]]:
    """(label, doc) pairs: each preset (with a challenge added) with one field wrong in each
    way: missing, wrong type, out of range, unknown key, over each limit, control
    characters, bad challenge goals."""
    out = []
    base = {}
    for pid, doc in preset_docs().items():
        doc = jsonish(doc)
        if pid in ("align", "tie", "mass-flow"):
            doc["challenge"] = {"text": "Do it.", "by_step": 300, "controls": ["beta", "flip"],
                                "goals": [{"metric": "rewards/accuracies", "per": "row",
                                           "at_least": 1},
                                          {"metric": "kl", "prompt": 0, "at_most": 0.3},
                                          {"metric": "probs", "prompt": 0, "reply": 1,
                                           "below": 0.5},
                                          {"metric": "pairs/sigma", "row": 0, "above": 0.6},
                                          {"metric": "loss_type", "equals": "sigmoid"}]}
        if pid == "dpo-is-rlhf":
            doc["reference"] = {"kind": "probs", "probs": [[0.5, 0.25, 0.25]]}
        base[pid] = doc
    for pid in ("align", "tie", "mass-flow", "dpo-is-rlhf", "fix-label", "mislabel"):
        doc = base[pid]
        for path, value in list(_paths(doc)):
            if not path:
                continue
            label = pid + ":" + ".".join(map(str, path))
            out.append((label + " deleted", _set(doc, path, _DELETE))
                       if isinstance(path[-1], str) else (label + " none", _set(doc, path, None)))
            for w in WRONG:
                if isinstance(w, type(value)) and w == value:
                    continue
                out.append((f"{label}={w!r}"[:120], _set(doc, path, w)))
            if isinstance(value, dict):
                out.append((label + " +unknown", _set(doc, path + ("nonsense",), 1)))
                out.append((label + " +near miss", _set(doc, path + ("tilte",), 1)))
            if isinstance(value, list) and value:
                out.append((label + " empty", _set(doc, path, [])))
                out.append((label + " x30", _set(doc, path, value * 30)))
                out.append((label + " +1", _set(doc, path, value + value[:1])))
    # near misses ("did you mean"), also a long key (difflib ignores popular characters)
    doc = base["align"]
    for path in (("tilte",), ("learning-rate",), ("reference", "knd"),
                 ("pairs", 0, "vote_chosen"), ("challenge", "goals", 0, "metrc"),
                 ("prompts", 1, "replys"), ("t" * 250 + "itle",),
                 ("w" * 120 + "atch" + "x" * 100,), ("evnts",), ("ab",),
                 ("challenge", "by_stp"), ("events", 0, "fip")):
        if path[0] == "events":
            doc = base["fix-label"]
        out.append((f"near miss {path[-1][:20]}", _set(doc, path, 1)))
        doc = base["align"]
    # over each limit, and around them
    for key, n in (("title", 80), ("watch", 1200)):
        for m in (n, n + 1):
            out.append((f"{key} {m}", _set(doc, (key,), "w" * m)))
    out.append(("text 401", _set(doc, ("prompts", 0, "text"), "q" * 401)))
    out.append(("reply 401 astral", _set(doc, ("prompts", 0, "replies", 1), "🥚" * 401)))
    out.append(("reply 400 astral", _set(doc, ("prompts", 0, "replies", 1), "🥚" * 400)))
    out.append(("5 prompts", _set(doc, ("prompts",), doc["prompts"] * 2 + doc["prompts"][:1])))
    seven = [dict(p, replies=p["replies"] + ["a", "b", "c"]) for p in doc["prompts"]]
    out.append(("7 replies", _set(doc, ("prompts",), seven)))
    out.append(("25 rows", _set(doc, ("pairs",), (doc["pairs"] * 5)[:25])))
    out.append(("51 events", _set(doc, ("events",), [{"step": 1, "flip": 0}] * 51)))
    out.append(("9 goals", _set(base["align"], ("challenge", "goals"),
                                [{"metric": "kl", "below": 1}] * 9)))
    for ch in ("\x00", "\x07", "\r", "\x7f", "\x85", "\u2028", "\u202e", "\ud83d"):
        out.append((f"control {ord(ch):04X}", _set(doc, ("title",), f"a{ch}b")))
    # goals wrong in each way
    goals = [{}, {"metric": "kl"}, {"metric": "kl", "above": 1, "below": 2},
             {"metric": "kl", "equals": 1}, {"metric": "nope", "below": 1},
             {"metric": 3, "below": 1}, {"metric": "probs", "below": 1},
             {"metric": "probs", "prompt": 0, "reply": 9, "below": 1},
             {"metric": "loss", "per": "x", "below": 1}, {"metric": "loss", "per": 1,
                                                          "below": 1},
             {"metric": "adaptive_weight", "equals": "on"},
             {"metric": "adaptive_weight", "below": 1}, {"metric": "beta", "at_most": "1"},
             {"metric": "kl", "below": 1, "text": ""}, {"metric": "kl", "below": 1, "text": 5},
             {"metric": "kl", "below": 1, "prompt": 5}, {"metric": "step", "row": 0,
                                                         "below": 1},
             {"metric": "pairs/weight", "row": -1, "below": 1},
             {"metric": "kl", "below": 1, "per": "row"}]
    for i, g in enumerate(goals):
        out.append((f"goal {i}", _set(base["align"], ("challenge", "goals", 1), g)))
    for c in (["speed"], ["beta", "beta"], "beta", [1], None):
        out.append((f"controls {c!r}", _set(base["align"], ("challenge", "controls"), c)))
    # probs wrong
    for p in ([[0.5, 0.5, 0.25]], [[0.5, 0.5, 0]], [[0.5, 0.6, -0.1]], [[1, 0.5]],
              [[0.3333333333, 0.3333333333, 0.3333333334]], [[0.5, 0.25, 0.25000001]]):
        out.append((f"probs {p}", _set(base["dpo-is-rlhf"], ("reference", "probs"), p)))
    return out + features_broken_docs()


# -- features models (issue 19) -----------------------------------------------------------
def features_doc() -> dict:
    """A valid features doc: 2 prompts, 3 replies, d = 3, an init_theta and a challenge."""
    return {"title": "Shared features", "watch": "The chosen reply falls.", "beta": 1.0,
            "learning_rate": 0.5, "steps": 300,
            "model": {"kind": "features", "init_theta": [0.0, 0.5, -0.25]},
            "reference": {"kind": "logits", "logits": [[0.5, 0, -0.5], [0, 0, 1.5]]},
            "prompts": [{"text": "Q0", "replies": ["a", "b", "c"],
                         "features": [[1, 0, 0.5], [0.9, 0.1, 0.5], [0, 1, 0]]},
                        {"text": "Q1", "replies": ["d", "e", "f"],
                         "features": [[0.5, 0.5, 0], [1e-3, -2, 1], [0, 0, 1]]}],
            "pairs": [{"prompt": 0, "chosen": 0, "rejected": 1, "votes_chosen": 1},
                      {"prompt": 1, "chosen": 2, "rejected": 0, "votes_chosen": 3,
                       "votes_rejected": 1}],
            "challenge": {"goals": [{"metric": "probs", "prompt": 0, "reply": 0, "below": 0.3}]}}


def random_features_doc(seed: int) -> dict:
    """A valid features doc of random sizes (d from 1 to MAX_FEATURES), numbers of every size."""
    rng = np.random.default_rng(seed)
    doc = random_doc(seed)
    doc.pop("init", None)
    P, K = len(doc["prompts"]), len(doc["prompts"][0]["replies"])
    d = int(rng.integers(1, LIMITS["MAX_FEATURES"] + 1))
    doc["model"] = {"kind": "features"}
    if rng.random() < 0.5:
        doc["model"]["init_theta"] = [_float(rng) for _ in range(d)]
    for p in doc["prompts"]:
        p["features"] = [[_float(rng) for _ in range(d)] for _ in range(K)]
    assert P >= 1
    return doc


#: what a number cell may be given besides WRONG: non-finite values and hostile text
NONFINITE = [float("nan"), float("inf"), -float("inf"), "1e999", "NaN",
             "<img src=x onerror=alert(1)>", "1" * 10_000]


def features_broken_docs() -> list[tuple[str, dict]]:
    """The features rules, each broken: every field of features_doc() wrong in each way,
    and the named cases (wrong length, non-finite, d over the limit or 0, features on a
    table, a reply without a vector, too many vectors, init with features, init_theta)."""
    out = []
    doc = jsonish(features_doc())
    for path, value in list(_paths(doc)):
        if not path or path[0] in ("title", "watch", "challenge", "pairs"):
            continue
        label = "features:" + ".".join(map(str, path))
        out.append((label + " deleted", _set(doc, path, _DELETE))
                   if isinstance(path[-1], str) else (label + " none", _set(doc, path, None)))
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        for w in WRONG + (NONFINITE if number else []):
            if isinstance(w, type(value)) and w == value:
                continue
            out.append((f"{label}={w!r}"[:120], _set(doc, path, w)))
        if isinstance(value, dict):
            out.append((label + " +unknown", _set(doc, path + ("nonsense",), 1)))
        if isinstance(value, list) and value:
            out.append((label + " empty", _set(doc, path, [])))
            out.append((label + " +1", _set(doc, path, value + value[:1])))
            out.append((label + " -1", _set(doc, path, value[:-1])))
    f0 = ("prompts", 0, "features")
    out += [
        ("d 17", _set(doc, f0 + (0,), [0.5] * 17)),
        ("d 16 then 17", _set(_set(doc, f0 + (0,), [0.5] * 16), f0 + (1,), [0.5] * 17)),
        ("d 16 everywhere", _set(_set(_set(doc, ("model", "init_theta"), [0.25] * 16),
                                      ("prompts",), [dict(p, features=[[1.0] * 16] * 3)
                                                     for p in doc["prompts"]]),
                                 ("steps",), 5)),
        ("d 0", _set(doc, f0 + (0,), [])),
        ("d 0 later", _set(doc, f0 + (2,), [])),
        ("wrong length later", _set(doc, ("prompts", 1, "features", 2), [1, 2])),
        ("nan", _set(doc, f0 + (1, 2), float("nan"))),
        ("inf", _set(doc, ("prompts", 1, "features", 0, 0), float("inf"))),
        ("bool", _set(doc, f0 + (1, 0), True)),
        ("string", _set(doc, f0 + (1, 0), "1.5")),
        ("features on a table", _set(doc, ("model",), {"kind": "table"})),
        ("features on no model", _set(doc, ("model",), _DELETE)),
        ("features null on a table", _set(_set(doc, ("model",), _DELETE), f0, None)),
        ("table with init_theta", _set(doc, ("model",), {"kind": "table", "init_theta": [0]})),
        ("no kind with init_theta", _set(doc, ("model",), {"init_theta": [0, 0, 0]})),
        ("kind TABLE", _set(doc, ("model", "kind"), "TABLE")),
        ("kind near miss", _set(doc, ("model", "knd"), "features")),
        ("features missing on prompt 1", _set(doc, ("prompts", 1, "features"), _DELETE)),
        ("reply without a vector", _set(doc, f0, doc["prompts"][0]["features"][:2])),
        ("too many vectors", _set(doc, f0, doc["prompts"][0]["features"] * 2)),
        ("init with features", _set(doc, ("init",), [[0, 0, 0], [0, 0, 0]])),
        ("bad init with features", _set(doc, ("init",), "x")),
        ("init_theta short", _set(doc, ("model", "init_theta"), [0, 0])),
        ("init_theta long", _set(doc, ("model", "init_theta"), [0, 0, 0, 0])),
        ("init_theta nan", _set(doc, ("model", "init_theta"), [0, float("nan"), 0])),
        ("init_theta empty", _set(doc, ("model", "init_theta"), [])),
        ("features a table", _set(doc, f0, {"a": [1, 2, 3]})),
        ("vector a number", _set(doc, f0 + (1,), 3)),
        ("a 7th reply's vector", _set(doc, f0, doc["prompts"][0]["features"] * 3)),
        ("a features model, no prompt with features",
         _set(doc, ("prompts",), [{"text": p["text"], "replies": p["replies"]}
                                  for p in doc["prompts"]])),
    ]
    return out


def as_json(doc) -> str:
    return json.dumps(doc, ensure_ascii=False)
