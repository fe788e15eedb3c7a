"""Scenarios as data: load and strictly validate presets/*.toml, list presets, apply --set.

Why strict: a scenario is written by hand (often by a teacher, not a programmer), so every
mistake must come back as one sentence naming the file, the field and the rule, never as a
traceback from deep inside the engine. Everything is checked before a ``Scenario`` exists.

Schema (see presets/README.md for a commented example)::

    title, watch                               required
    the run settings of ``settings.SETTINGS`` by their TOML names: beta and learning_rate
        (required), adaptive_weight, loss_type, label_smoothing, steps; each checked by
        the table's rule
    [reference] kind = "uniform" | "probs" (P x K, each row > 0 summing to 1) |
        "logits" (logits = P x K) | "random" (seed, scale)
    init = P x K logits for the policy (default: a copy of the reference)
    true_reward = P x K numbers: the true quality of each reply (optional; the frontier
        view scores policies with it, default the Bradley-Terry fit to the votes)
    [model] kind = "table" (default: each reply its own logit) | "features" (log-linear,
        sim/model.py), init_theta = d numbers (features only; default 0: pi starts at pi_ref)
    [[prompts]] text, replies             P >= 1 prompts, each with the same K >= 2 replies;
        features = K vectors of d numbers (1 <= d <= MAX_FEATURES), one per reply: required
        with a features model, refused with the table; ``init`` is refused with features
    [[pairs]] prompt, chosen, rejected, votes_chosen, votes_rejected (default 0)
    [[events]] step, and exactly one of flip = ROW or set = {live settings by TOML name}
    [challenge] text, by_step, controls, [[challenge.goals]]   (optional; sim/challenge.py)

Limits: what the page can show (``LIMITS``): at most MAX_PROMPTS prompts, MAX_REPLIES
replies per prompt, MAX_ROWS rows, MAX_EVENTS events; a prompt's or a reply's text at most
MAX_TEXT characters, the title MAX_TITLE, "what to watch" MAX_WATCH. No text may hold a
control character other than newline and tab.
"""

from __future__ import annotations

import difflib
import math
import tomllib
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from .challenge import check_challenge
from .model import MAX_FEATURES, MODEL_KINDS, TABLE, FeaturesModel
from .scenario import Event, Prompt, Row, Scenario
from .settings import LIVE, Setting, SettingError, _got, named_in

PRESET_PACKAGE = "dpo_sim.presets"

#: The run settings by their TOML names, by their --set names, and those an event may set.
TOML_SETTINGS = named_in("toml")
CLI_SETTINGS = named_in("cli")
EVENT_SETTINGS = {k: s for k, s in TOML_SETTINGS.items() if s.name in LIVE}
TOP_KEYS = (("title", "watch") + tuple(TOML_SETTINGS)
            + ("model", "reference", "init", "true_reward", "prompts", "pairs", "events",
               "challenge"))
REQUIRED_TOP = (("title", "watch") + tuple(k for k, s in TOML_SETTINGS.items()
                                           if s.default is None) + ("prompts", "pairs"))
PROMPT_KEYS = ("text", "replies", "features")
PROMPT_REQUIRED = ("text", "replies")
MODEL_KEYS = {"table": ("kind",), "features": ("kind", "init_theta")}
PAIR_KEYS = ("prompt", "chosen", "rejected", "votes_chosen", "votes_rejected")
EVENT_KEYS = ("step", "flip", "set")
REFERENCE_KINDS = ("uniform", "probs", "logits", "random")
REFERENCE_KEYS = {"uniform": ("kind",), "probs": ("kind", "probs"),
                  "logits": ("kind", "logits"), "random": ("kind", "seed", "scale")}
#: how far a row of reference probabilities may be from summing to 1
PROBS_TOLERANCE = 1e-9

#: What the page can show (sent to it as DATA.limits): counts and text lengths.
MAX_PROMPTS = 4
MAX_REPLIES = 6         # per prompt
MAX_ROWS = 24
MAX_TEXT = 400          # a prompt's or a reply's text (and a challenge's texts)
MAX_TITLE = 80
MAX_WATCH = 1200
MAX_EVENTS = 50
LIMITS = {"MAX_PROMPTS": MAX_PROMPTS, "MAX_REPLIES": MAX_REPLIES, "MAX_ROWS": MAX_ROWS,
          "MAX_TEXT": MAX_TEXT, "MAX_TITLE": MAX_TITLE, "MAX_WATCH": MAX_WATCH,
          "MAX_EVENTS": MAX_EVENTS, "MAX_FEATURES": MAX_FEATURES}
#: the two control characters a text may hold
ALLOWED_CONTROLS = ("\n", "\t")


def is_control(ch: str) -> bool:
    """A control character (Unicode category Cc: U+0000..U+001F, U+007F..U+009F)."""
    o = ord(ch)
    return o < 0x20 or 0x7F <= o <= 0x9F


class ScenarioError(Exception):
    """A bad scenario or setting: ``file: field: rule``."""

    def __init__(self, file: str, field: str, rule: str):
        self.file, self.field, self.rule = str(file), str(field), str(rule)
        super().__init__(f"{self.file}: {self.field}: {self.rule}")


# -- small typed readers; each raises ScenarioError naming the field ----------------------
class _Checker:
    def __init__(self, file: str):
        self.file = file

    def fail(self, field: str, rule: str):
        raise ScenarioError(self.file, field, rule)

    def table(self, value, field: str) -> dict:
        if not isinstance(value, dict):
            self.fail(field, f"must be a table, got {_kind(value)}")
        return value

    def keys(self, table: dict, allowed: Iterable[str], prefix: str,
             required: Iterable[str] = ()) -> None:
        allowed = tuple(allowed)
        for k in table:
            if k not in allowed:
                close = difflib.get_close_matches(k, allowed, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                self.fail(_join(prefix, k),
                          f"unknown key{hint}; allowed here: {', '.join(allowed)}")
        for k in required:
            if k not in table:
                self.fail(_join(prefix, k), "is required but missing")

    def text(self, value, field: str, limit: int | None = None) -> str:
        if not isinstance(value, str):
            self.fail(field, f"must be a string, got {_kind(value)}")
        if not value.strip():
            self.fail(field, "must not be empty")
        for ch in value:
            if is_control(ch) and ch not in ALLOWED_CONTROLS:
                self.fail(field, f"must not contain the control character U+{ord(ch):04X} "
                                 f"(only newline and tab are allowed)")
            if 0xD800 <= ord(ch) <= 0xDFFF:
                self.fail(field, f"must not contain the lone surrogate U+{ord(ch):04X} "
                                 f"(not a character)")
        if limit is not None and len(value) > limit:
            self.fail(field, f"is {len(value)} characters long; at most {limit} "
                             f"(what the page can show)")
        return value

    def count(self, items: list, field: str, limit: int, what: str, per: str = "") -> None:
        if len(items) > limit:
            self.fail(field, f"holds {len(items)} {what}; at most {limit}{per} "
                             f"(what the page can show)")

    def setting(self, s: Setting, value, field: str, text: bool = False):
        """A setting's value, checked by its rule in the settings table (``text``: typed
        on a command line, so read from text first)."""
        try:
            return s.parse(value) if text and isinstance(value, str) else s.check(value)
        except SettingError as e:
            self.fail(field, str(e))

    def integer(self, value, field: str, low: int | None = None, what: str = "") -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(field, f"must be a whole number{what}, got {_kind(value)} {value!r}")
        if low is not None and value < low:
            self.fail(field, f"must be >= {low}{what}, got {value}")
        return value

    def number(self, value, field: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(field, f"must be a number, got {_kind(value)} {_got(value)}")
        if not math.isfinite(value):
            self.fail(field, f"must be a finite number, got {value!r}")
        return value

    def index(self, value, field: str, n: int, what: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(field, f"must be an index of {what} (0..{n - 1}), got {_kind(value)} "
                             f"{value!r}")
        if not 0 <= value < n:
            self.fail(field, f"must be an index of {what} (0..{n - 1}), got {value}")
        return value

    def array_list(self, value, field: str) -> list:
        if not isinstance(value, list):
            self.fail(field, f"must be a list, got {_kind(value)}")
        return value

    def logits(self, value, field: str, replies_per_prompt: list[int],
               unit: str = "logit", units: str | None = None) -> np.ndarray:
        """A P x K table of finite numbers, one row per prompt, one ``unit`` (a logit, a
        reward) per reply."""
        P = len(replies_per_prompt)
        rows = self.array_list(value, field)
        if len(rows) != P:
            self.fail(field, f"must have one row of {units or unit + 's'} per prompt ({P}), "
                             f"got {len(rows)}")
        out = []
        for x, row in enumerate(rows):
            f = f"{field}[{x}]"
            row = self.array_list(row, f)
            if len(row) != replies_per_prompt[x]:
                self.fail(f, f"must have one {unit} per reply of prompt {x} "
                             f"({replies_per_prompt[x]}), got {len(row)}")
            out.append([float(self.number(v, f"{f}[{k}]")) for k, v in enumerate(row)])
        return np.array(out, dtype=float).reshape(P, replies_per_prompt[0] if P else 0)


def _kind(value) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "a list", dict: "a table"}.get(type(value), type(value).__name__)


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


# -- the validator ---------------------------------------------------------------------
def build_scenario(doc: dict, *, file: str, id: str,
                   features_at: str = "prompts[{x}].features") -> Scenario:
    """Validate a parsed TOML document and build the Scenario (raises ScenarioError).

    ``features_at``: the name of prompt x's feature vectors in errors (a config line keeps
    them in ``model.features[x]``)."""
    c = _Checker(file)
    c.table(doc, "(top level)")
    c.keys(doc, TOP_KEYS, "", REQUIRED_TOP)

    title = c.text(doc["title"], "title", MAX_TITLE)
    watch = c.text(doc["watch"], "watch", MAX_WATCH)
    settings = {s.name: c.setting(s, doc[key], key) if key in doc else s.default
                for key, s in TOML_SETTINGS.items()}

    # prompts: P >= 1, each with the same K >= 2 replies (the engine needs a P x K table)
    prompts_in = c.array_list(doc["prompts"], "prompts")
    if not prompts_in:
        c.fail("prompts", "must hold at least one prompt")
    c.count(prompts_in, "prompts", MAX_PROMPTS, "prompts")
    prompts = []
    for x, p in enumerate(prompts_in):
        f = f"prompts[{x}]"
        c.table(p, f)
        c.keys(p, PROMPT_KEYS, f, PROMPT_REQUIRED)
        text = c.text(p["text"], f"{f}.text", MAX_TEXT)
        replies = c.array_list(p["replies"], f"{f}.replies")
        if len(replies) < 2:
            c.fail(f"{f}.replies", f"must hold at least 2 replies, got {len(replies)}")
        c.count(replies, f"{f}.replies", MAX_REPLIES, "replies", " per prompt")
        replies = tuple(c.text(r, f"{f}.replies[{k}]", MAX_TEXT)
                        for k, r in enumerate(replies))
        if x > 0 and len(replies) != len(prompts[0].replies):
            c.fail(f"{f}.replies",
                   f"every prompt must have the same number of replies (the policy is a "
                   f"P x K table): prompt 0 has {len(prompts[0].replies)}, this one has "
                   f"{len(replies)}")
        prompts.append(Prompt(text=text, replies=replies))
    P, K = len(prompts), len(prompts[0].replies)
    per_prompt = [K] * P
    model_in = _model_table(c, doc)

    # reference
    ref = c.table(doc.get("reference", {"kind": "uniform"}), "reference")
    kind = ref.get("kind")
    if kind is None:
        c.fail("reference.kind", f"is required: one of {', '.join(REFERENCE_KINDS)}")
    if kind not in REFERENCE_KINDS:
        c.fail("reference.kind", f"must be one of {', '.join(REFERENCE_KINDS)}, got {kind!r}")
    c.keys(ref, REFERENCE_KEYS[kind], "reference", REFERENCE_KEYS[kind])
    if kind == "uniform":
        ref_logits = np.zeros((P, K))
    elif kind == "probs":
        probs = c.logits(ref["probs"], "reference.probs", per_prompt, unit="probability",
                         units="probabilities")
        for x in range(P):
            for k in range(K):
                if not probs[x, k] > 0:
                    c.fail(f"reference.probs[{x}][{k}]",
                           f"must be > 0 (a probability), got {ref['probs'][x][k]!r}")
            total = math.fsum(probs[x])
            if not abs(total - 1.0) <= PROBS_TOLERANCE:
                c.fail(f"reference.probs[{x}]",
                       f"must sum to 1 (within {PROBS_TOLERANCE:g}), got {total!r}")
        ref_logits = np.log(probs)
    elif kind == "logits":
        ref_logits = c.logits(ref["logits"], "reference.logits", per_prompt)
    else:
        seed = c.integer(ref["seed"], "reference.seed", 0)
        scale = c.number(ref["scale"], "reference.scale")
        if scale < 0:
            c.fail("reference.scale", f"must be >= 0, got {scale!r}")
        ref_logits = np.random.default_rng(seed).normal(scale=float(scale), size=(P, K))

    init = None
    if "init" in doc:
        if model_in["kind"] == "features":
            c.fail("init", "gives start logits, which a features model does not have: it "
                           "starts at [model] init_theta (remove init, or set model.kind = "
                           "\"table\")")
        init = c.logits(doc["init"], "init", per_prompt)
    true_reward = None
    if "true_reward" in doc:
        true_reward = c.logits(doc["true_reward"], "true_reward", per_prompt, unit="reward")
    model = _model(c, model_in, [p.get("features", _ABSENT) for p in prompts_in], K,
                   features_at)

    # preference rows
    pairs_in = c.array_list(doc["pairs"], "pairs")
    if not pairs_in:
        c.fail("pairs", "must hold at least one preference row")
    c.count(pairs_in, "pairs", MAX_ROWS, "rows")
    rows = []
    for i, r in enumerate(pairs_in):
        f = f"pairs[{i}]"
        c.table(r, f)
        c.keys(r, PAIR_KEYS, f, ("prompt", "chosen", "rejected", "votes_chosen"))
        x = c.index(r["prompt"], f"{f}.prompt", P, "a prompt")
        ch = c.index(r["chosen"], f"{f}.chosen", K, f"a reply of prompt {x}")
        rj = c.index(r["rejected"], f"{f}.rejected", K, f"a reply of prompt {x}")
        if ch == rj:
            c.fail(f"{f}.rejected", f"must differ from chosen: a row cannot compare reply "
                                    f"{ch} with itself")
        votes = []
        for key in ("votes_chosen", "votes_rejected"):
            v = c.number(r.get(key, 0), f"{f}.{key}")
            if v < 0:
                c.fail(f"{f}.{key}", f"must be >= 0 (a count of annotators), got {v!r}")
            votes.append(v)
        if votes[0] + votes[1] <= 0:
            c.fail(f"{f}.votes_chosen", "the row has no votes: votes_chosen + votes_rejected "
                                        "must be > 0")
        rows.append(Row(x, ch, rj, votes[0], votes[1]))

    # scripted events
    events = []
    events_in = c.array_list(doc.get("events", []), "events")
    c.count(events_in, "events", MAX_EVENTS, "events")
    for j, e in enumerate(events_in):
        f = f"events[{j}]"
        c.table(e, f)
        c.keys(e, EVENT_KEYS, f, ("step",))
        step = c.integer(e["step"], f"{f}.step", 0)
        has_flip, has_set = "flip" in e, "set" in e
        if has_flip == has_set:
            c.fail(f, "must have exactly one of 'flip = ROW' or 'set = { ... }'")
        if has_flip:
            events.append(Event(step=step, flip=c.index(e["flip"], f"{f}.flip", len(rows),
                                                          "a row of pairs")))
        else:
            s = c.table(e["set"], f"{f}.set")
            if not s:
                c.fail(f"{f}.set", f"must set at least one of {', '.join(EVENT_SETTINGS)}")
            c.keys(s, EVENT_SETTINGS, f"{f}.set")
            events.append(Event(step=step, set={
                EVENT_SETTINGS[k].name: c.setting(EVENT_SETTINGS[k], v, f"{f}.set.{k}")
                for k, v in s.items()}))
    events.sort(key=lambda ev: ev.step)     # stable: same-step events keep file order

    challenge = None
    if "challenge" in doc:
        challenge = check_challenge(c, doc["challenge"], n_prompts=P, n_replies=K,
                                    n_rows=len(rows), max_text=MAX_TEXT)

    return Scenario(id=id, title=title, watch=watch, prompts=tuple(prompts),
                    ref_logits=ref_logits, rows=tuple(rows), events=tuple(events),
                    init_logits=init, source=file, true_reward=true_reward,
                    challenge=challenge, model=model, **settings)


_ABSENT = object()      # a prompt without features (not the same as features = null)


def _model_table(c: _Checker, doc: dict) -> dict:
    """The ``[model]`` table, its kind checked (absent: the table model)."""
    m = c.table(doc.get("model", {"kind": "table"}), "model")
    kind = m.get("kind", "table")
    if not isinstance(kind, str) or kind not in MODEL_KINDS:
        c.fail("model.kind", f"must be one of {', '.join(MODEL_KINDS)}, got {_got(kind)}")
    if kind == "table" and "init_theta" in m:
        c.fail("model.init_theta", "is only for a features model (model.kind = \"features\")")
    c.keys(m, MODEL_KEYS[kind], "model")
    return {**m, "kind": kind}


def _model(c: _Checker, m: dict, vectors: list, K: int, at: str):
    """The model: the table, or a features model from each prompt's ``features`` (``at``:
    where a prompt's vectors are, e.g. ``prompts[{x}].features``) and ``init_theta``.

    Every vector has d numbers, d set by the first one (1 <= d <= MAX_FEATURES)."""
    if m["kind"] == "table":
        for x, v in enumerate(vectors):
            if v is not _ABSENT:
                c.fail(at.format(x=x), "is only for a features model: add [model] with kind "
                                       "= \"features\", or remove it")
        return TABLE
    origin = at.format(x=0) + "[0]"
    d = None
    out = []
    for x, v in enumerate(vectors):
        f = at.format(x=x)
        if v is _ABSENT:
            c.fail(f, "is required by a features model (model.kind = \"features\"): one "
                      "vector of numbers per reply")
        v = c.array_list(v, f)
        if len(v) != K:
            c.fail(f, f"must hold one vector per reply ({K}), got {len(v)}"
                      + (f": reply {len(v)} has none" if len(v) < K else ""))
        row = []
        for k, vec in enumerate(v):
            fv = f"{f}[{k}]"
            vec = c.array_list(vec, fv)
            if d is None:
                if not vec:
                    c.fail(fv, "must hold at least 1 number (d >= 1), got 0")
                c.count(vec, fv, MAX_FEATURES, "numbers")
                d = len(vec)
            elif len(vec) != d:
                c.fail(fv, f"must have {d} numbers (d, set by {origin}), got {len(vec)}")
            row.append([float(c.number(a, f"{fv}[{j}]")) for j, a in enumerate(vec)])
        out.append(row)
    theta = np.zeros(d)
    if "init_theta" in m:
        t = c.array_list(m["init_theta"], "model.init_theta")
        if len(t) != d:
            c.fail("model.init_theta", f"must have {d} numbers (d, set by {origin}), "
                                       f"got {len(t)}")
        theta = np.array([float(c.number(a, f"model.init_theta[{j}]"))
                          for j, a in enumerate(t)])
    return FeaturesModel(np.array(out, dtype=float), theta)


# -- files and presets -----------------------------------------------------------------
def _preset_dir():
    return resources.files(PRESET_PACKAGE)


def preset_ids() -> list[str]:
    return sorted(p.name[:-5] for p in _preset_dir().iterdir()
                  if p.name.endswith(".toml") and p.is_file())


def _parse(text: str, file: str, id: str) -> Scenario:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(file, "TOML syntax", str(exc)) from None
    return build_scenario(doc, file=file, id=id)


def load_scenario(ref: str | Path) -> Scenario:
    """A preset id (``align``) or a path to a TOML file -> a validated Scenario."""
    ref_s = str(ref)
    path = Path(ref_s)
    plain_id = bool(ref_s) and not (ref_s.endswith(".toml") or "/" in ref_s or "\\" in ref_s)
    res = _preset_dir() / f"{ref_s}.toml" if plain_id else None
    if plain_id and (res.is_file() or not path.is_file()):
        if not res.is_file():
            known = ", ".join(preset_ids())
            raise ScenarioError(ref_s, "scenario",
                                f"is neither a preset id ({known}) nor a TOML file")
        return _parse(res.read_text(encoding="utf-8"), f"presets/{ref_s}.toml", ref_s)
    if not path.is_file():
        raise ScenarioError(ref_s, "file", "does not exist or is not a file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(ref_s, "file", f"cannot be read as UTF-8 text ({exc})") from None
    return _parse(text, ref_s, path.stem)


def list_presets(directory: str | Path | None = None
                 ) -> list[tuple[str, str | None, ScenarioError | None]]:
    """(id, title, error) of every TOML file, sorted by id: a broken file is listed with its
    error and never hides the good ones. ``directory`` defaults to the presets package."""
    if directory is None:
        files = [(p.name[:-5], f"presets/{p.name}", p) for p in _preset_dir().iterdir()
                 if p.name.endswith(".toml") and p.is_file()]
    else:
        d = Path(directory)
        files = [(p.stem, str(p), p) for p in d.glob("*.toml") if p.is_file()]
    out = []
    for id, label, res in sorted(files):
        try:
            try:
                text = res.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise ScenarioError(label, "file",
                                    f"cannot be read as UTF-8 text ({exc})") from None
            s = _parse(text, label, id)
            out.append((id, s.title, None))
        except ScenarioError as err:
            out.append((id, None, err))
    return out


# -- settings from the command line (--set KEY=VALUE) ----------------------------------
def parse_settings(items: Iterable[str], file: str = "--set") -> dict[str, str]:
    """["beta=0.5", ...] -> {"beta": "0.5"}; values stay strings for apply_settings."""
    out = {}
    for item in items:
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq or not key:
            raise ScenarioError(file, item or "(empty)",
                                "must be KEY=VALUE, e.g. beta=0.5; keys: "
                                + ", ".join(CLI_SETTINGS))
        out[key] = value.strip()
    return out


def apply_settings(scenario: Scenario, settings: dict[str, Any], file: str = "--set"
                   ) -> Scenario:
    """A copy of ``scenario`` with some run settings replaced, by their --set names.

    Values may be text as typed on the command line ("0.5", "off") or typed values; both
    are checked by the settings table's rule."""
    c = _Checker(file)
    changes: dict[str, Any] = {}
    for key, raw in settings.items():
        s = CLI_SETTINGS.get(key)
        if s is None:
            close = difflib.get_close_matches(key, CLI_SETTINGS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            c.fail(key, f"unknown setting{hint}; settable: {', '.join(CLI_SETTINGS)}")
        changes[s.name] = c.setting(s, raw, key, text=True)
    return scenario.with_settings(**changes) if changes else scenario


# -- reproduce a run from its own output -----------------------------------------------
def scenario_from_config(config: dict, file: str = "(config line)") -> Scenario:
    """Rebuild the Scenario from the JSONL ``config`` line (``Scenario.config()``).

    The config holds the realised reference and start logits, so a random reference comes
    back bit-identical without its seed. Validated with the same rules as a TOML file."""
    c = _Checker(file)
    c.table(config, "(config)")
    known = (("type", "scenario", "title", "watch") + tuple(TOML_SETTINGS)
             + ("prompts", "ref_logits", "init_logits", "pairs", "events", "rlhf_probs",
                "true_reward", "challenge", "model"))
    required = tuple(k for k, s in TOML_SETTINGS.items() if s.default is None)
    c.keys(config, known, "", required + ("prompts", "ref_logits", "pairs"))
    if config.get("type", "config") != "config":
        c.fail("type", f"must be 'config', got {config.get('type')!r}")
    doc = {k: config[k] for k in tuple(TOML_SETTINGS) + ("prompts", "pairs", "events")
           if k in config}
    if config.get("true_reward") is not None:
        doc["true_reward"] = config["true_reward"]
    if config.get("challenge") is not None:
        doc["challenge"] = config["challenge"]
    doc["title"] = config.get("title") or str(config.get("scenario") or "replayed run")
    doc["watch"] = config.get("watch") or "Replayed from a run's config line."
    doc["reference"] = {"kind": "logits", "logits": config["ref_logits"]}
    if config.get("init_logits") is not None:
        doc["init"] = config["init_logits"]
    if config.get("model") is not None:
        _config_model(c, config, doc)
    return build_scenario(doc, file=file, id=str(config.get("scenario") or "replay"),
                          features_at="model.features[{x}]")


def _config_model(c: _Checker, config: dict, doc: dict) -> None:
    """The config line's ``model`` into ``doc``: its kind and init_theta as ``[model]``, its
    features (per prompt, per reply, a vector) into each prompt, checked by the TOML rules."""
    for x, p in enumerate(doc["prompts"] if isinstance(doc["prompts"], list) else []):
        if isinstance(p, dict) and "features" in p:
            c.fail(f"prompts[{x}].features", "unknown key: a config line gives the features "
                                             "in model.features")
    m = c.table(config["model"], "model")
    kind = m.get("kind", "table")
    if kind != "features":
        doc["model"] = m
        return
    c.keys(m, ("kind", "features", "init_theta"), "model", ("features",))
    if config.get("init_logits") is not None:
        c.fail("init_logits", "gives start logits, which a features model does not have: it "
                              "starts at model.init_theta (remove init_logits)")
    doc["model"] = {k: v for k, v in m.items() if k != "features"}
    features = c.array_list(m["features"], "model.features")
    prompts = doc["prompts"]
    if not isinstance(prompts, list):
        return                  # build_scenario says what is wrong with the prompts
    if len(features) != len(prompts):
        c.fail("model.features", f"must have one list of vectors per prompt ({len(prompts)}), "
                                 f"got {len(features)}")
    doc["prompts"] = [{**p, "features": v} if isinstance(p, dict) else p
                      for p, v in zip(prompts, features)]
