"""A scenario as a document: back from its config, out as TOML, and into a link.

The document ("doc") is the presets' TOML schema as a plain dict (what ``tomllib.loads``
gives; ``sim.scenario_io.build_scenario`` validates it). Three ways out of a Scenario:

- ``doc_of(scenario)`` / ``config_to_doc(config)``: the doc that builds the same scenario
  (a random reference comes back as its realised logits);
- ``to_toml(doc)``: the doc in the presets' format, deterministic, byte-identical to the
  page's ``toToml`` (app/ui/lesson.js);
- ``encode_lesson(doc)`` / ``decode_lesson(text)``: the page's ``?lesson=`` parameter,
  ``1.`` + base64url of raw DEFLATE of the doc's compact JSON.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import zlib

from .challenge import COMPARISONS
from .scenario import Scenario
from .scenario_io import TOML_SETTINGS, ScenarioError, build_scenario
from .settings import Flag, Number, Whole

#: the link's version prefix, and its limits
LINK_PREFIX = "1."
MAX_LINK = 8000               # characters of the ?lesson= parameter
MAX_INFLATED = 200_000        # bytes of the JSON it inflates to
#: a goal's keys in the order the TOML writer gives them
GOAL_ORDER = ("metric", "per", "prompt", "row", "reply") + COMPARISONS + ("equals", "text")
_B64URL = re.compile(r"[A-Za-z0-9_-]*={0,2}")


# -- config -> doc ---------------------------------------------------------------------
def doc_of(scenario: Scenario) -> dict:
    """The doc that builds ``scenario`` again (its run length included)."""
    return config_to_doc({**scenario.config(), "steps": scenario.steps})


def config_to_doc(config: dict) -> dict:
    """A config line (``Scenario.config()``, maybe with "steps") -> its doc: reference
    "uniform" when every reference logit is 0, else "logits"; ``init`` only when the start
    differs from the reference; every setting written; events, challenge, true_reward kept;
    a features model as ``[model]`` (init_theta only when not all 0) and each prompt's
    ``features`` (a table model writes no ``[model]``)."""
    doc: dict = {"title": config["title"], "watch": config["watch"]}
    for key, s in TOML_SETTINGS.items():
        if s.name in config:
            doc[key] = config[s.name]
    ref = [list(map(float, row)) for row in config["ref_logits"]]
    if all(v == 0 for row in ref for v in row):
        doc["reference"] = {"kind": "uniform"}
    else:
        doc["reference"] = {"kind": "logits", "logits": ref}
    init = config.get("init_logits")
    if init is not None and [list(map(float, row)) for row in init] != ref:
        doc["init"] = [list(map(float, row)) for row in init]
    if config.get("true_reward") is not None:
        doc["true_reward"] = [list(map(float, row)) for row in config["true_reward"]]
    model = config.get("model") or {"kind": "table"}
    features = None
    if model.get("kind") == "features":
        doc["model"] = {"kind": "features"}
        theta = [float(v) for v in model.get("init_theta") or []]
        if any(v != 0 for v in theta):
            doc["model"]["init_theta"] = theta
        features = [[list(map(float, vec)) for vec in prompt] for prompt in model["features"]]
    doc["prompts"] = [{"text": p["text"], "replies": list(p["replies"]),
                       **({} if features is None else {"features": features[x]})}
                      for x, p in enumerate(config["prompts"])]
    doc["pairs"] = [dict(r) for r in config["pairs"]]
    if config.get("events"):
        doc["events"] = [dict(e) if "set" not in e else {**e, "set": dict(e["set"])}
                         for e in config["events"]]
    if config.get("challenge") is not None:
        doc["challenge"] = json.loads(json.dumps(config["challenge"]))
    return doc


# -- doc -> TOML -----------------------------------------------------------------------
#: characters a TOML string writes as \uXXXX: controls, and the invisible ones that
#: change how text around them reads (bidirectional overrides, line separators, ...)
_ESCAPED = ([(0x00, 0x1F), (0x7F, 0x9F), (0xAD, 0xAD), (0x061C, 0x061C), (0x180E, 0x180E),
             (0x200B, 0x200F), (0x2028, 0x202E), (0x2060, 0x206F), (0xFEFF, 0xFEFF),
             (0xFFF9, 0xFFFB)])


def _escaped(o: int) -> bool:
    return any(lo <= o <= hi for lo, hi in _ESCAPED)


def toml_string(text: str) -> str:
    """A TOML basic string: \\" \\\\ \\n \\t, and \\uXXXX for the characters above."""
    out = ['"']
    for ch in text:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif _escaped(o):
            out.append(f"\\u{o:04X}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _float(v) -> str:
    return repr(float(v))


def _int(v) -> str:
    return str(int(v))


def _count(v) -> str:
    """A vote count: whole numbers as integers (safe ones: below 2**53), else a float."""
    f = float(v)
    return str(int(f)) if f.is_integer() and abs(f) < 2 ** 53 else repr(f)


def _setting(key: str, v) -> str:
    kind = TOML_SETTINGS[key].kind
    if isinstance(kind, Flag):
        return "true" if v else "false"
    if isinstance(kind, Whole):
        return _int(v)
    if isinstance(kind, Number):
        return _float(v)
    return toml_string(v)


def _matrix(rows) -> str:
    return "[\n" + "".join("  [" + ", ".join(_float(v) for v in row) + "],\n"
                           for row in rows) + "]"


def _goal_value(key: str, metric: str, v) -> str:
    if key in ("prompt", "row", "reply"):
        return _int(v)
    if key in COMPARISONS:
        return _float(v)
    if key == "equals":
        return _setting(metric, v)
    return toml_string(v)


def to_toml(doc: dict) -> str:
    """The (valid) doc in the presets' format. Deterministic: keys in a fixed order, each
    number written by its field's type (indices and steps as integers, votes as integers
    when whole, other numbers as Python's repr of a float)."""
    out = ["# A dpo-sim scenario (the format: presets/README.md).",
           f"title = {toml_string(doc['title'])}",
           f"watch = {toml_string(doc['watch'])}", ""]
    for key in TOML_SETTINGS:
        if key in doc:
            out.append(f"{key} = {_setting(key, doc[key])}")
    for key in ("init", "true_reward"):
        if key in doc:
            out.append(f"{key} = {_matrix(doc[key])}")
    model = doc.get("model")
    if model is not None:
        out += ["", "[model]"]
        if "kind" in model:
            out.append(f"kind = {toml_string(model['kind'])}")
        if "init_theta" in model:
            out.append("init_theta = [" + ", ".join(_float(v) for v in model["init_theta"])
                       + "]")
    ref = doc.get("reference", {"kind": "uniform"})
    out += ["", "[reference]", f"kind = {toml_string(ref['kind'])}"]
    if ref["kind"] in ("probs", "logits"):
        out.append(f"{ref['kind']} = {_matrix(ref[ref['kind']])}")
    elif ref["kind"] == "random":
        out += [f"seed = {_int(ref['seed'])}", f"scale = {_float(ref['scale'])}"]
    for p in doc["prompts"]:
        out += ["", "[[prompts]]", f"text = {toml_string(p['text'])}", "replies = ["]
        out += [f"  {toml_string(r)}," for r in p["replies"]]
        out.append("]")
        if "features" in p:
            out.append(f"features = {_matrix(p['features'])}")
    for r in doc["pairs"]:
        out += ["", "[[pairs]]"] + [f"{k} = {_int(r[k])}" for k in
                                    ("prompt", "chosen", "rejected")]
        out.append(f"votes_chosen = {_count(r['votes_chosen'])}")
        out.append(f"votes_rejected = {_count(r.get('votes_rejected', 0))}")
    for e in doc.get("events", []):
        out += ["", "[[events]]", f"step = {_int(e['step'])}"]
        if "flip" in e:
            out.append(f"flip = {_int(e['flip'])}")
        else:
            items = [f"{k} = {_setting(k, e['set'][k])}" for k in TOML_SETTINGS
                     if k in e["set"]]
            out.append("set = { " + ", ".join(items) + " }")
    ch = doc.get("challenge")
    if ch is not None:
        out += ["", "[challenge]"]
        if "text" in ch:
            out.append(f"text = {toml_string(ch['text'])}")
        if "by_step" in ch:
            out.append(f"by_step = {_int(ch['by_step'])}")
        if "controls" in ch:
            out.append("controls = [" + ", ".join(toml_string(k) for k in ch["controls"])
                       + "]")
        for g in ch["goals"]:
            out += ["", "[[challenge.goals]]"]
            out += [f"{k} = {_goal_value(k, g['metric'], g[k])}" for k in GOAL_ORDER
                    if k in g]
    return "\n".join(out) + "\n"


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


# -- the link --------------------------------------------------------------------------
def encode_lesson(doc: dict) -> str:
    """The ``?lesson=`` value of a doc (ValueError if it is over the link's limit)."""
    raw = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    packed = c.compress(raw) + c.flush()
    text = LINK_PREFIX + base64.urlsafe_b64encode(packed).decode("ascii").rstrip("=")
    if len(text) > MAX_LINK:
        raise ValueError(f"too long: the lesson is {len(text)} characters; at most "
                         f"{MAX_LINK}")
    return text


def decode_lesson(text: str, file: str = "the link") -> dict:
    """A ``?lesson=`` value -> its doc, validated; ValueError with a one-line reason (not
    base64url / truncated / too long / not JSON / the validator's ``field: rule``)."""
    if len(text) > MAX_LINK:
        raise ValueError(f"too long: the lesson is {len(text)} characters; at most "
                         f"{MAX_LINK}")
    if not text.startswith(LINK_PREFIX):
        raise ValueError("not a lesson: it must begin with '1.'")
    body = text[len(LINK_PREFIX):]
    if not _B64URL.fullmatch(body) or len(body.rstrip("=")) % 4 == 1:
        raise ValueError("not base64url: a lesson is '1.' and then only letters, digits, "
                         "'-' and '_'")
    try:
        packed = base64.urlsafe_b64decode(body.rstrip("=") + "=" * (-len(body.rstrip("=")) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("not base64url: a lesson is '1.' and then only letters, digits, "
                         "'-' and '_'") from None
    d = zlib.decompressobj(-15)
    try:
        raw = d.decompress(packed, MAX_INFLATED + 1)
    except zlib.error:
        raise ValueError("truncated: the compressed lesson is damaged or incomplete") from None
    if len(raw) > MAX_INFLATED:
        raise ValueError(f"too long: the lesson inflates to more than {MAX_INFLATED} bytes")
    if not d.eof or d.unused_data:
        raise ValueError("truncated: the compressed lesson is damaged or incomplete")
    try:
        doc = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ValueError("not JSON: the lesson does not hold a JSON scenario") from None
    try:
        build_scenario(doc, file=file, id="lesson")
    except ScenarioError as e:
        raise ValueError(f"{e.field}: {e.rule}") from None
    except RecursionError:
        raise ValueError("not JSON: the lesson does not hold a JSON scenario") from None
    return doc
