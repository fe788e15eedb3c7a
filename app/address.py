"""The page's address: read a link into a fresh state, write the state back as a link.

A link describes a run as the settings and flips in force at step 0 (plain parameters, as
a hand-written link would give them), then the mid-run actions (``events``), then the
step to stop at. Reading replays exactly those actions through the state's own calls, so
the numbers are the ones the link's author saw.

The settings' parameters come from the settings table (``sim.settings``): a setting with
an address name (``url``) is a parameter read and checked by the table's rule, and one
with an action name (``event``) is a KIND of ``events=STEP:KIND:VALUE``. The parameters
that are not settings (scenario, flipped, events, step, autoplay, hide) are declared here.
``theme`` is Panel's own (``pn.config.theme`` reads it); it is accepted and left alone.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from ..sim.settings import SETTINGS, Setting, SettingError, named_in
from .state import SimState

#: Parts of the page a teacher can hide with ``hide=``: whole parts of the page, and each
#: control a setting allows to be hidden, by its address name (``sliders`` hides them all).
PARTS = ("sliders", "picker", "watch", "download", "pairs", "pulls", "charts", "log",
         "formula", "readouts", "share", "try", "learn", "frontier", "sweep")
HIDEABLE = PARTS + tuple(s.url for s in SETTINGS if s.hideable and s.url)
#: The furthest step a link may ask for, and the most mid-run actions it may carry: a link
#: is replayed on load, so it must stay cheap to open.
MAX_URL_STEP = 20_000
MAX_URL_EVENTS = 500
#: ``events=`` KIND -> the setting it changes; ``flip`` flips a row.
EVENT_SETTINGS: dict[str, Setting] = named_in("event")
EVENT_KINDS = tuple(EVENT_SETTINGS) + ("flip",)
#: Parameters Panel itself reads.
PANEL_PARAMS = ("theme",)


class UrlParam:
    """One public query parameter: how to read it into the state and write it back.

    ``parse(text, state, query)`` returns the value or raises ValueError with a short
    reason (``query`` is the whole address, for checks across parameters);
    ``apply(state, value)`` sets it; ``write(state)`` returns the text for the address,
    or None to leave it out (it is at its default)."""

    def __init__(self, name: str, parse: Callable, apply: Callable, write: Callable,
                 doc: str):
        self.name, self.parse, self.apply, self.write, self.doc = name, parse, apply, write, doc


# -- what the run did, as a link says it -----------------------------------------------------
def _baseline(st: SimState) -> dict:
    """Settings at step 0 before any live action: the scenario's own, after its step-0
    scripted events."""
    spec = st.spec
    out = {s.name: getattr(spec, s.name) for s in SETTINGS
           if s.scope == "run" and (s.url or s.event)}
    for e in spec.events:
        if e.step == 0:
            out.update(e.set)
    return out


def _at_zero(st: SimState) -> tuple[dict, list[int]]:
    """(settings in force at step 0 after the live actions taken there, rows flipped
    there by the user)."""
    settings, toggled = _baseline(st), set()
    for e in st.actions:
        if e.step == 0:
            settings.update(e.set)
            if e.flip is not None:
                toggled ^= {e.flip}
    return settings, sorted(toggled)


def _later_actions(st: SimState) -> list[tuple[int, str, object]]:
    """The live actions after step 0 as (step, kind, value), one step at a time: a row
    flipped an even number of times at one step drops out, a setting keeps its last value
    (flips and settings commute within a step, so this replays bit-identically)."""
    by_step: dict[int, tuple[set, dict]] = {}
    for e in st.actions:
        if e.step == 0:
            continue
        flips, sets = by_step.setdefault(e.step, (set(), {}))
        if e.flip is not None:
            flips ^= {e.flip}
        sets.update(e.set)
    out = []
    for step in sorted(by_step):
        flips, sets = by_step[step]
        out += [(step, "flip", i) for i in sorted(flips)]
        out += [(step, kind, sets[s.name]) for kind, s in EVENT_SETTINGS.items()
                if s.name in sets]
    return out


# -- readers and writers -----------------------------------------------------------------------
def _setting_parse(s: Setting):
    def parse(text: str, st: SimState, q=None):
        try:
            return s.parse(text)
        except SettingError as e:
            raise ValueError(str(e)) from None
    return parse


def _setting_write(s: Setting):
    """A run setting: the value in force at step 0, if the user changed it there. A page
    setting: its value, if not the default."""
    if s.scope == "page":
        return lambda st: None if getattr(st, s.name) == s.default else s.write(
            getattr(st, s.name))

    def write(st: SimState):
        v = _at_zero(st)[0][s.name]
        return None if v == _baseline(st)[s.name] else s.write(v)
    return write


def _setting_apply(s: Setting):
    return lambda st, v: setattr(st, s.name, v)


def _parse_scenario(text: str, st: SimState, q=None) -> str:
    if text not in st.titles:     # ids only from the known list: never a path
        raise ValueError(f"unknown scenario; known: {', '.join(st.titles)}")
    return text


def _parse_row(text: str, st: SimState) -> int:
    n = len(st.spec.rows)
    if not (text.isdigit() and int(text) < n):
        raise ValueError(f"row {text[:10]!r} is not a row number from 0 to {n - 1}")
    return int(text)


def _parse_flipped(text: str, st: SimState, q=None) -> list[int]:
    rows = [t.strip() for t in text.split(",") if t.strip()]
    return sorted(set(_parse_row(t, st) for t in rows))


def _parse_step(text: str, st: SimState, q=None) -> int:
    if not text.isdigit() or int(text) > MAX_URL_STEP:
        raise ValueError(f"must be a whole number from 0 to {MAX_URL_STEP}")
    return int(text)


def _parse_events(text: str, st: SimState, q=None) -> list[tuple[int, str, object]]:
    """``STEP:KIND:VALUE,...`` -> sorted by step (stable: actions at one step keep their
    order)."""
    tokens = [t.strip() for t in text.split(",") if t.strip()]
    if len(tokens) > MAX_URL_EVENTS:
        raise ValueError(f"more than {MAX_URL_EVENTS} actions")
    out = []
    for tok in tokens:
        parts = tok.split(":")
        if len(parts) != 3:
            raise ValueError(f"{tok[:30]!r} is not STEP:KIND:VALUE (e.g. 100:beta:0.5)")
        step, kind, value = parts
        if not step.isdigit() or int(step) > MAX_URL_STEP:
            raise ValueError(f"{tok[:30]!r}: the step must be a whole number from 0 to "
                             f"{MAX_URL_STEP}")
        if kind not in EVENT_KINDS:
            raise ValueError(f"{tok[:30]!r}: the kind must be one of "
                             f"{', '.join(EVENT_KINDS)}")
        try:
            v = (_parse_row(value, st) if kind == "flip"
                 else _setting_parse(EVENT_SETTINGS[kind])(value, st))
        except ValueError as e:
            raise ValueError(f"{tok[:30]!r}: {e}") from None
        out.append((int(step), kind, v))
    out.sort(key=lambda a: a[0])
    stop = (q or {}).get("step")
    stop = str(stop) if stop is not None else None
    if out and stop is not None and stop.isdigit() and out[-1][0] > int(stop):
        raise ValueError(f"an action at step {out[-1][0]} is after step={stop}")
    return out


def _apply_events(st: SimState, actions) -> None:
    """Run to each action's step and take it there, as the page would have."""
    for step, kind, v in actions:
        st.advance(step - st.current_step)
        if kind == "flip":
            st.flip(v)
        else:
            setattr(st, EVENT_SETTINGS[kind].name, v)


def _write_events(st: SimState):
    out = []
    for step, kind, v in _later_actions(st):
        text = str(v) if kind == "flip" else EVENT_SETTINGS[kind].write(v)
        out.append(f"{step}:{kind}:{text}")
    return ",".join(out) or None


def _parse_flag(text: str, st: SimState, q=None) -> bool:
    if text not in ("0", "1"):
        raise ValueError("must be 0 or 1")
    return text == "1"


def _parse_hide(text: str, st: SimState, q=None) -> list[str]:
    parts = [t.strip() for t in text.split(",") if t.strip()]
    bad = [p for p in parts if p not in HIDEABLE]
    if bad:
        raise ValueError(f"unknown part {bad[0][:20]!r}; parts: {', '.join(HIDEABLE)}")
    return list(dict.fromkeys(parts))


def _apply_flipped(st: SimState, rows: list[int]) -> None:
    for i in rows:              # at step 0, relative to the scenario's start
        st.flip(i)


def _setting_params() -> tuple[UrlParam, ...]:
    return tuple(UrlParam(s.url, _setting_parse(s), _setting_apply(s), _setting_write(s),
                          s.help + (" (at step 0)" if s.scope == "run" else ""))
                 for s in SETTINGS if s.url)


#: The public query parameters, in the order they are applied. Names are a stable
#: interface: course pages link to them. The settings hold what was in force at step 0;
#: events holds what was done later; step is where the link stops.
URL_PARAMS: tuple[UrlParam, ...] = (
    UrlParam("scenario", _parse_scenario, lambda st, v: st.load(v),
             lambda st: st.scenario, "scenario id (one of the presets)"),
    *_setting_params(),
    UrlParam("flipped", _parse_flipped, _apply_flipped,
             lambda st: ",".join(map(str, _at_zero(st)[1])) or None,
             "rows flipped at step 0, numbered from 0"),
    UrlParam("events", _parse_events, _apply_events, _write_events,
             "mid-run actions STEP:KIND:VALUE, KIND " + " | ".join(EVENT_KINDS)),
    UrlParam("step", _parse_step, lambda st, v: st.advance(v - st.current_step),
             lambda st: None if st.playing or st.current_step == 0 else str(st.current_step),
             "run to this step on load, then pause"),
    UrlParam("autoplay", _parse_flag, lambda st, v: st.play() if v else None,
             lambda st: None, "1: play on load (from step, if given)"),
    UrlParam("hide", _parse_hide, lambda st, v: setattr(st, "hidden", list(v)),
             lambda st: ",".join(st.hidden) or None, "parts of the page to hide"),
)
#: The state's parameters whose change rewrites the address.
WATCHED = ("scenario",) + tuple(s.name for s in SETTINGS if s.url) + (
    "flipped", "playing", "current_step", "hidden")


def apply_query(state: SimState, query: dict) -> list[str]:
    """Apply ``{name: text}`` from an address to a fresh state, in table order. A bad or
    unknown value is ignored (the default stays) and reported in the returned notices."""
    notices = []
    known = {p.name for p in URL_PARAMS}
    for name in query:
        if name not in known and name not in PANEL_PARAMS:
            notices.append(f"ignored {str(name)[:40]}: not a setting of this page")
    for p in URL_PARAMS:
        if p.name not in query:
            continue
        text = str(query[p.name])
        try:
            value = p.parse(text, state, query)
        except ValueError as e:
            notices.append(f"ignored {p.name}={text[:40]}: {e}")
            continue
        p.apply(state, value)
    return notices


def to_query(state: SimState) -> dict:
    """The query that reproduces what the state shows (settings at their defaults left out)."""
    out = {}
    for p in URL_PARAMS:
        v = p.write(state)
        if v is not None:
            out[p.name] = v
    return out


def query_string(query: dict) -> str:
    """``?a=1&b=2`` for the address (commas and colons kept readable), or "" if empty."""
    return "?" + urlencode(query, safe=",:") if query else ""
