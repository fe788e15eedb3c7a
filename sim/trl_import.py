"""Preference data in TRL's formats -> a scenario document (the presets' TOML schema as a dict).

The input is JSON Lines (one example per line; blank lines are skipped) or a JSON array of
examples, decided by the first character that is not a space, tab or line break: ``[`` is an
array. A leading byte order mark is ignored. Three of TRL's preference formats are read:

- standard: ``{"prompt": str, "chosen": str, "rejected": str}``;
- conversational: ``prompt`` a list of messages ``{"role", "content"}`` and ``chosen`` /
  ``rejected`` lists of messages, the last one from the assistant;
- conversational with an implicit prompt: no ``prompt``; ``chosen`` and ``rejected`` are whole
  conversations that begin with the same messages (the prompt); what follows is the reply.

Other keys of an example (an id, scores) are ignored, as TRL's trainers ignore extra columns.
TRL's standard format with an implicit prompt (plain strings, no ``prompt``) is refused: the
texts do not say where the prompt ends. The lesson is always a table model (no ``[model]``):
preference data has no feature vectors (the editor can switch it to shared features).

Texts: a conversation becomes one text, its messages joined as ``role: content`` lines; a
prompt of one user message is just its content, and so is a reply of one assistant message.
A carriage return (``\\r\\n`` or a lone ``\\r``) becomes a newline; any other control
character is refused, as are empty texts and texts longer than MAX_TEXT characters.

Counting: prompts are the distinct prompt texts and each prompt's replies the distinct reply
texts, in order of first appearance (chosen before rejected). Each example is one judgement on
the unordered pair {chosen, rejected} of its prompt: one row per pair, in order of first
appearance, oriented as first seen; a repeated example adds a vote for that side
(``votes_chosen``), the reverse judgement a vote against (``votes_rejected``). Then a row
whose votes against outnumber its votes for is turned round, so the chosen side is the
majority's (a tie keeps the first seen). The reference is uniform (the data has none).

Limits (the page's): at most MAX_PROMPTS prompts (``prompts=N`` keeps the first N), the same
number K of replies on every prompt, at most MAX_REPLIES (``replies=N`` keeps on each prompt
its N most-judged replies, ties to the first seen, in their order of appearance, and leaves
out every judgement that mentions a reply not kept), at most MAX_ROWS rows.

Errors are ``ScenarioError(file, field, rule)``: the field is ``line N`` (JSON Lines, counted
from 1) or ``[I]`` (the array's index, from 0), then the key; ``file`` for the whole file;
``prompts``, ``replies``, ``pairs`` for the limits; ``--title``, ``--prompts``, ``--replies``
for the options. app/ui/trl_import.js is the JavaScript twin: its messages are word for word
these (tests/test_trl_import.py runs both on the same inputs).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from .scenario_io import (
    MAX_PROMPTS,
    MAX_REPLIES,
    MAX_ROWS,
    MAX_TEXT,
    MAX_TITLE,
    ScenarioError,
)

#: A file larger than this is refused before it is read as text (20 MB).
MAX_FILE_BYTES = 20_000_000
#: Lists and objects nested deeper than this are refused before parsing (an example needs 3;
#: a JSON array of examples 4).
MAX_DEPTH = 16
#: The run settings of an imported lesson: those of the presets' baseline, ``align``.
SETTINGS = {"beta": 1.0, "learning_rate": 0.5, "adaptive_weight": True, "steps": 400}

_JSON_SPACE = " \t\n\r"
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_LINE_BREAKING = re.compile("[\x00-\x1f\x7f-\x9f]")     # a title is one line
_SURROGATE = re.compile("[\ud800-\udfff]")
_ROLE = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,31}")


@dataclass
class Imported:
    """The document and the counts behind it (the CLI reports what was left out)."""

    doc: dict
    examples: int                     # judgements read from the file
    kept: int                         # judgements in the lesson
    prompts_in_data: int
    dropped: int = 0
    notes: list[str] = field(default_factory=list)


def _kind(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, (int, float)):
        return "a number"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, list):
        return "a list"
    return "an object"


def _loc(where: str, path: str) -> str:
    if not path:
        return where
    return f"{where}.{path}" if where.startswith("[") else f"{where}, {path}"


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _and(items: list) -> str:
    items = [str(i) for i in items]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def decode_trl(data: bytes, file: str) -> str:
    """The file's bytes as text: at most MAX_FILE_BYTES, strict UTF-8 (the error names the
    byte offset of the first bad sequence)."""
    if len(data) > MAX_FILE_BYTES:
        raise ScenarioError(file, "file", f"is {len(data)} bytes; at most {MAX_FILE_BYTES} "
                                          f"bytes can be imported")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ScenarioError(file, "file", f"is not UTF-8 text: byte 0x{data[e.start]:02x} at "
                                          f"byte offset {e.start} does not belong there"
                            ) from None


def _depth_over(text: str, limit: int) -> bool:
    """Whether lists and objects nest deeper than ``limit`` (outside strings)."""
    depth, in_str, i, n = 0, False, 0, len(text)
    while i < n:
        c = text[i]
        if in_str:
            if c == "\\":
                i += 1
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
        elif c in "[{":
            depth += 1
            if depth > limit:
                return True
        elif c in "]}":
            depth -= 1
        i += 1
    return False


def _no_constant(name):
    raise ValueError(name)


def _parse(text: str):
    """JSON as both languages read it: no NaN or Infinity; numbers are not converted (their
    value is never used, and a 5,000-digit integer is still JSON)."""
    return json.loads(text, parse_constant=_no_constant, parse_int=lambda s: 0,
                      parse_float=lambda s: 0.0)


class _Reader:
    def __init__(self, file: str):
        self.file = file

    def fail(self, field: str, rule: str):
        raise ScenarioError(self.file, field, rule)

    def text(self, v, field: str, limit: bool = True) -> str:
        """A text: a string, carriage returns as newlines, no other control character, not
        only white space, at most MAX_TEXT characters (``limit``)."""
        if not isinstance(v, str):
            self.fail(field, f"must be a string, got {_kind(v)}")
        v = v.replace("\r\n", "\n").replace("\r", "\n")
        m = _SURROGATE.search(v)
        if m:
            self.fail(field, f"contains U+{ord(m.group()):04X}, half of a surrogate pair, "
                             f"which is not text")
        m = _CONTROL.search(v)
        if m:
            self.fail(field, f"contains the control character U+{ord(m.group()):04X}; only "
                             f"newline and tab are allowed")
        if not v.strip():
            self.fail(field, "must not be empty")
        if limit:
            self.length(v, field)
        return v

    def length(self, v: str, field: str) -> None:
        if len(v) > MAX_TEXT:
            self.fail(field, f"is {len(v)} characters long; the page shows at most "
                             f"{MAX_TEXT}")

    def messages(self, v, field: str) -> list[tuple[str, str]]:
        if not isinstance(v, list):
            self.fail(field, f"must be a list of messages {{role, content}}, got {_kind(v)}")
        if not v:
            self.fail(field, "must hold at least one message")
        out = []
        for i, m in enumerate(v):
            f = f"{field}[{i}]"
            if not isinstance(m, dict):
                self.fail(f, f"must be a message {{role, content}}, got {_kind(m)}")
            for key in ("role", "content"):
                if key not in m:
                    self.fail(f, f'"{key}" is required but missing')
            role = m["role"]
            if not isinstance(role, str):
                self.fail(f"{f}.role", f"must be a string, got {_kind(role)}")
            if not _ROLE.fullmatch(role):
                self.fail(f"{f}.role", 'must be a role name such as "user" or "assistant" '
                                       '(a letter, then letters, digits, _ or -; at most 32)')
            content = m["content"]
            if isinstance(content, list):
                self.fail(f"{f}.content", "must be a string: content given as a list of parts "
                                          "(as for images) is not supported")
            out.append((role, self.text(content, f"{f}.content", limit=False)))
        return out

    def ends_with_assistant(self, msgs, field: str) -> None:
        role = msgs[-1][0]
        if role != "assistant":
            self.fail(f"{field}[{len(msgs) - 1}].role",
                      f'the last message of a reply must be from the assistant, got "{role}"')

    def joined(self, msgs, single_role: str, field: str) -> str:
        if len(msgs) == 1 and msgs[0][0] == single_role:
            text = msgs[0][1]
        else:
            text = "\n".join(f"{r}: {c}" for r, c in msgs)
        self.length(text, field)
        return text

    def example(self, ex, where: str) -> tuple[str, str, str]:
        """(prompt, chosen, rejected) texts of one example."""
        loc = lambda path: _loc(where, path)  # noqa: E731
        if not isinstance(ex, dict):
            self.fail(where, f"must be a JSON object (one example), got {_kind(ex)}")
        for key in ("chosen", "rejected"):
            if key not in ex:
                hint = ""
                if "completion" in ex and "label" in ex:
                    hint = ("; this looks like TRL's unpaired preference format (prompt, "
                            "completion, label), which has no pairs to compare")
                self.fail(where, f'"{key}" is required but missing{hint}')
        chosen, rejected = ex["chosen"], ex["rejected"]
        if "prompt" in ex:
            prompt = ex["prompt"]
            if isinstance(prompt, str):
                p = self.text(prompt, loc("prompt"))
                for key, v in (("chosen", chosen), ("rejected", rejected)):
                    if not isinstance(v, str):
                        self.fail(loc(key), f'must be a string like "prompt" (TRL\'s standard '
                                            f'format), got {_kind(v)}')
                c = self.text(chosen, loc("chosen"))
                r = self.text(rejected, loc("rejected"))
            elif isinstance(prompt, list):
                pm = self.messages(prompt, loc("prompt"))
                for key, v in (("chosen", chosen), ("rejected", rejected)):
                    if not isinstance(v, list):
                        self.fail(loc(key), f'must be a list of messages like "prompt" '
                                            f'(TRL\'s conversational format), got {_kind(v)}')
                cm = self.messages(chosen, loc("chosen"))
                rm = self.messages(rejected, loc("rejected"))
                self.ends_with_assistant(cm, loc("chosen"))
                self.ends_with_assistant(rm, loc("rejected"))
                p = self.joined(pm, "user", loc("prompt"))
                c = self.joined(cm, "assistant", loc("chosen"))
                r = self.joined(rm, "assistant", loc("rejected"))
            else:
                self.fail(loc("prompt"), f"must be a string (TRL's standard format) or a list "
                                         f"of messages (conversational), got {_kind(prompt)}")
        else:
            if isinstance(chosen, str) and isinstance(rejected, str):
                self.fail(where, 'has no "prompt": in TRL\'s standard format with an implicit '
                                 'prompt the texts do not say where the prompt ends; add a '
                                 '"prompt" key')
            cm = self.messages(chosen, loc("chosen"))
            rm = self.messages(rejected, loc("rejected"))
            n = 0
            while n < min(len(cm), len(rm)) and cm[n] == rm[n]:
                n += 1
            if n == 0:
                self.fail(where, 'chosen and rejected share no first message: with no "prompt" '
                                 '(an implicit prompt) the prompt is the messages both begin '
                                 'with')
            if n == len(cm) and n == len(rm):
                self.fail(where, "chosen and rejected are the same conversation; an example "
                                 "must compare two different replies")
            if n == len(cm) or n == len(rm):
                self.fail(where, "chosen and rejected must each go on after the messages they "
                                 "share (the prompt): one of them ends there")
            self.ends_with_assistant(cm, loc("chosen"))
            self.ends_with_assistant(rm, loc("rejected"))
            p = self.joined(cm[:n], "user", loc("chosen"))
            c = self.joined(cm[n:], "assistant", loc("chosen"))
            r = self.joined(rm[n:], "assistant", loc("rejected"))
        if c == r:
            self.fail(where, "chosen and rejected are the same reply; an example must compare "
                             "two different replies")
        return p, c, r


def _examples(text: str, file: str) -> list[tuple[str, str, str]]:
    rd = _Reader(file)
    if text.startswith("\ufeff"):
        text = text[1:]
    body = text.lstrip(_JSON_SPACE)
    if not body:
        rd.fail("file", "is empty: expected JSON Lines (one example per line) or a JSON array "
                        "of examples")
    if body[0] == "[":
        if _depth_over(text, MAX_DEPTH):
            rd.fail("file", f"nests lists and objects more than {MAX_DEPTH} deep; an example "
                            f"needs 3")
        try:
            items = _parse(text)
        except (ValueError, RecursionError):
            rd.fail("file", 'is not valid JSON (it begins with "[", so it is read as one JSON '
                            'array of examples)')
        if not items:
            rd.fail("file", "holds no examples (an empty JSON array)")
        return [rd.example(ex, f"[{i}]") for i, ex in enumerate(items)]
    out = []
    for n, line in enumerate(text.split("\n"), start=1):
        if not line.strip(_JSON_SPACE):
            continue
        where = f"line {n}"
        if _depth_over(line, MAX_DEPTH):
            rd.fail(where, f"nests lists and objects more than {MAX_DEPTH} deep; an example "
                           f"needs 3")
        try:
            ex = _parse(line)
        except (ValueError, RecursionError):
            rd.fail(where, "is not valid JSON (JSON Lines: one example, one JSON object, per "
                           "line)")
        out.append(rd.example(ex, where))
    return out


def _whole(file: str, option: str, v, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise ScenarioError(file, option, f"must be a whole number from {lo} to {hi}")
    return v


def _clean(s: str) -> str:
    """A file name fit for a title: control characters and lone surrogates as U+FFFD."""
    return _SURROGATE.sub("\ufffd", _CONTROL.sub("\ufffd", s))


def read_trl(text: str, *, file: str, title: str | None = None, prompts: int | None = None,
             replies: int | None = None) -> Imported:
    """The document and its counts (see the module's docstring for the rules)."""
    rd = _Reader(file)
    if prompts is not None:
        prompts = _whole(file, "--prompts", prompts, 1, MAX_PROMPTS)
    if replies is not None:
        replies = _whole(file, "--replies", replies, 2, MAX_REPLIES)
    name = _clean(file.rsplit("/", 1)[-1])
    if title is None:
        title = f"Imported from {name}"
        if len(title) > MAX_TITLE:
            title = title[:MAX_TITLE - 1] + "\u2026"
    else:
        if not isinstance(title, str):
            rd.fail("--title", f"must be a string, got {_kind(title)}")
        m = _SURROGATE.search(title) or _LINE_BREAKING.search(title)
        if m:
            rd.fail("--title", f"contains U+{ord(m.group()):04X}; a title is one line of text")
        if not title.strip():
            rd.fail("--title", "must not be empty")
        if len(title) > MAX_TITLE:
            rd.fail("--title", f"is {len(title)} characters long; at most {MAX_TITLE}")

    examples = _examples(text, file)
    order: dict[str, dict[str, int]] = {}       # prompt -> {reply: judgements mentioning it}
    for p, c, r in examples:
        rs = order.setdefault(p, {})
        for y in (c, r):
            rs[y] = rs.get(y, 0) + 1
    P = len(order)
    if prompts is None and P > MAX_PROMPTS:
        rd.fail("prompts", f"the data has {P} prompts; the page shows at most {MAX_PROMPTS}: "
                           f"keep the first N with --prompts N (1 to {MAX_PROMPTS})")
    kept_prompts = list(order)[:prompts] if prompts is not None else list(order)
    counts = [len(order[p]) for p in kept_prompts]
    if replies is None:
        if len(set(counts)) != 1 or counts[0] > MAX_REPLIES:
            if len(set(counts)) == 1:
                said = f"every prompt has {counts[0]} replies"
            else:
                said = f"the prompts have {_and(counts)} replies"
            rd.fail("replies", f"{said}; the engine needs the same number on every prompt, "
                               f"at most {MAX_REPLIES}: keep each prompt's N most-judged "
                               f"replies with --replies N (2 to {min(min(counts), MAX_REPLIES)})")
        K = counts[0]
    else:
        if min(counts) < replies:
            rd.fail("replies", f"--replies {replies} keeps {replies} replies on every prompt, "
                               f"but the prompts have {_and(counts)}: choose N from 2 to "
                               f"{min(counts)}")
        K = replies
    keep: dict[str, list[str]] = {}
    for p in kept_prompts:
        seen = list(order[p])
        ranked = sorted(range(len(seen)), key=lambda k: (-order[p][seen[k]], k))[:K]
        keep[p] = [seen[k] for k in sorted(ranked)]

    rows: dict[tuple, list] = {}                # (x, a, b) first seen -> [for, against]
    index = {p: (x, {y: k for k, y in enumerate(keep[p])}) for x, p in enumerate(kept_prompts)}
    kept = 0
    for p, c, r in examples:
        if p not in index or c not in index[p][1] or r not in index[p][1]:
            continue
        kept += 1
        x, ix = index[p]
        a, b = ix[c], ix[r]
        if (x, a, b) in rows:
            rows[(x, a, b)][0] += 1
        elif (x, b, a) in rows:
            rows[(x, b, a)][1] += 1
        else:
            rows[(x, a, b)] = [1, 0]
    dropped = len(examples) - kept
    if not rows:
        rd.fail("pairs", f"no judgement is left: each of the {len(examples)} mentions a reply "
                         f"that --replies {replies} leaves out")
    if len(rows) > MAX_ROWS:
        rd.fail("pairs", f"the data has {len(rows)} rows (distinct pairs of replies on a "
                         f"prompt); the page shows at most {MAX_ROWS}: keep fewer with "
                         f"--prompts N or --replies N")
    pairs, repeats, reverses, turned = [], 0, 0, 0
    for (x, a, b), (v_for, v_against) in rows.items():
        repeats += v_for - 1
        reverses += v_against
        if v_against > v_for:
            turned += 1
            a, b, v_for, v_against = b, a, v_against, v_for
        pairs.append({"prompt": x, "chosen": a, "rejected": b, "votes_chosen": v_for,
                      "votes_rejected": v_against})

    later = kept - len(pairs)
    watch = (f"Imported from {name}: {_plural(kept, 'judgement', 'judgements')} (one per "
             f"example) on {_plural(len(kept_prompts), 'prompt', 'prompts')} with {K} replies "
             f"each, in {_plural(len(pairs), 'row', 'rows')} (pairs of replies)")
    if later:
        watch += (f"; {_plural(later, 'judgement repeats a pair', 'judgements repeat a pair')} "
                  f"already seen, {repeats} the same way as its first judgement and "
                  f"{reverses} the other way.")
    else:
        watch += ": each pair is judged once."
    if turned:
        watch += (f" In {_plural(turned, 'row', 'rows')} the first judgement seen was outvoted, "
                  f"so chosen is the majority's side.")
    notes = []
    if dropped:
        why = []
        if len(kept_prompts) < P:
            why.append(f"a prompt after the first {len(kept_prompts)} of {P}")
        if replies is not None:
            why.append(f"a reply outside each prompt's {K} most-judged")
        notes.append(f"left out {dropped} of {len(examples)} judgements: each mentions "
                     f"{' or '.join(why)}")
        watch += f" It {notes[0]}."
    watch += (f" The reference is uniform: every reply starts with the same probability, "
              f"1/{K}.")
    doc = {"title": title, "watch": watch, **SETTINGS, "reference": {"kind": "uniform"},
           "prompts": [{"text": p, "replies": list(keep[p])} for p in kept_prompts],
           "pairs": pairs}
    return Imported(doc=doc, examples=len(examples), kept=kept, prompts_in_data=P,
                    dropped=dropped, notes=notes)


def import_trl(text: str, *, file: str, title: str | None = None, prompts: int | None = None,
               replies: int | None = None) -> dict:
    """The scenario document of TRL preference data (``text``, read from ``file``)."""
    return read_trl(text, file=file, title=title, prompts=prompts, replies=replies).doc
