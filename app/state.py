"""The one state object of a dashboard session: settings as params, a Simulation underneath.

Every control on the page is a widget made from a parameter here, and every change goes
through here, so the page and ``dpo-sim run`` cannot disagree: a slider change becomes
``Simulation.set(...)`` (an action at the current step, in force from the next update),
a click on a row becomes ``Simulation.flip(i)``. Views never touch the Simulation; they
subscribe to changes (``subscribe``) and redraw from the records handed to them, all
inside one ``pn.io.hold()`` per change so the browser gets one message per tick.

Nothing here needs a browser or a server: the play loop is a Panel periodic callback that
simply does not start outside a served session, and tests call ``tick()`` themselves.
"""

from __future__ import annotations

import math
import time
from collections import deque
from typing import Callable

import numpy as np
import panel as pn
import param

from sim.engine import Record
from sim.export_csv import to_csv
from sim.scenario import Scenario
from sim.simulation import Simulation

#: Lines of the step log kept on the page (the whole run stays in the Simulation history).
LOG_LINES = 200
#: Above this many steps per second, play takes several steps per tick instead of ticking
#: faster: the browser redraws at most this often, and nothing queues up.
MAX_TICKS_PER_SECOND = 30
#: While playing, the server sends a new screen update only once the browser has drawn the
#: previous one (it acknowledges it, see ``ack``); an acknowledgement lost on the way must
#: not freeze the page, so after this many seconds the next update goes out anyway.
ACK_TIMEOUT = 1.0
DEFAULT_SCENARIO = "align"

#: The settings a user can change mid-run, and how the step log names them.
LIVE_SETTINGS = ("beta", "learning_rate", "adaptive_weight")


def _fmt(v) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "on" if v else "off"
    return f"{float(v):.4g}"


def _short(text: str, n: int = 32) -> str:
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


def _preset_loader():
    """The preset loader of sim.scenario_io (imported late: it is written concurrently)."""
    from sim.scenario_io import list_presets, load_scenario

    def presets():
        return [(pid, title) for pid, title, err in list_presets() if not err]

    return load_scenario, presets


class SimState(param.Parameterized):
    """Settings, play state and the run of one dashboard session."""

    scenario = param.Selector(default=DEFAULT_SCENARIO, objects=[DEFAULT_SCENARIO],
                              doc="Which preset scenario is loaded (its id).")
    beta = param.Number(default=1.0, bounds=(0.05, 5.0), step=0.05, label="beta",
                        doc="How strongly the policy is held to the reference (larger = closer).")
    learning_rate = param.Number(default=1.0, bounds=(0.01, 10.0), step=0.01,
                                 label="Learning rate", doc="Size of each gradient step.")
    adaptive_weight = param.Boolean(default=True, label="Adaptive sigma weight",
                                    doc="On: DPO's weight sigma(-u) fades as a pair is learned. "
                                        "Off: every pair is pushed with weight 1 forever.")
    speed = param.Integer(default=20, bounds=(1, 120), label="Speed (steps/s)",
                          doc="Steps per second while playing.")
    playing = param.Boolean(default=False, doc="Whether the run is playing.")
    current_step = param.Integer(default=0, constant=True, doc="The step the simulation is at.")
    flipped = param.List(default=[], item_type=int, constant=True,
                         doc="Indices of the flipped rows.")
    hidden = param.List(default=[], item_type=str,
                        doc="Parts of the page hidden (teacher mode, see HIDEABLE).")

    def __init__(self, scenarios: dict[str, Scenario] | None = None,
                 hold: Callable | None = None, **params):
        """``scenarios``: id -> Scenario to use instead of the presets (tests, notebooks).
        ``hold``: the context manager wrapping every update (default ``pn.io.hold``)."""
        if scenarios is not None:
            self._load_scenario = lambda sid: scenarios[sid]
            self._presets = lambda: [(k, s.title) for k, s in scenarios.items()]
        else:
            self._load_scenario, self._presets = _preset_loader()
        self._hold = hold or pn.io.hold
        self._listeners: list[Callable[[str, list[Record]], None]] = []
        self.log: deque[str] = deque(maxlen=LOG_LINES)
        self.log_total = 0
        self._quiet = False            # True while the state itself rewrites settings
        self._callback = None          # the play loop (a Panel PeriodicCallback)
        self._due = 0.0                # fractional steps owed by the play loop
        self._last_tick = None         # wall-clock time of the last beat
        # Flow control (served pages only): steps taken by the play loop wait in _pending
        # until the browser has drawn the previous update; then they go out together.
        self.flow_control = False
        self.push_seq = 0              # numbers the "step" updates sent to the views
        self.push_time = 0.0           # the clock of the last one (tick's ``now``)
        self._pending: list[Record] = []
        self._awaiting: float | None = None   # when the unacknowledged update went out
        presets = self._presets()
        self.titles = dict(presets)
        sid = params.pop("scenario", DEFAULT_SCENARIO)
        if sid not in self.titles and presets:
            sid = presets[0][0]
        settings = {k: params.pop(k) for k in LIVE_SETTINGS if k in params}
        super().__init__(**params)
        self.param.scenario.objects = list(self.titles)
        with param.discard_events(self):
            self.scenario = sid
        self.sim = Simulation(self._load_scenario(sid))
        self._sync_from_sim()
        for k, v in settings.items():
            setattr(self, k, v)
        self.param.watch(self._on_setting, list(LIVE_SETTINGS))
        self.param.watch(self._on_scenario, "scenario")
        self.param.watch(self._on_playing, "playing")
        self.param.watch(self._on_speed, "speed")

    # -- reading -----------------------------------------------------------------------
    @property
    def record(self) -> Record:
        return self.sim.record

    @property
    def spec(self) -> Scenario:
        return self.sim.scenario

    def subscribe(self, fn: Callable[[str, list[Record]], None]) -> None:
        """fn(kind, records): kind is "reset" (history restarted at ``records[0]``),
        "step" (new records appended, possibly several coalesced play steps), "action"
        (the current record recomputed) or "pause" (play stopped; no records: views that
        buffer between screen updates show everything now)."""
        self._listeners.append(fn)

    def csv(self) -> str:
        """The whole run's metrics, one line per step (same columns as the CLI)."""
        return to_csv(self.sim.history)

    # -- actions -----------------------------------------------------------------------
    def play(self) -> None:
        with self._hold():           # the button label and the first beat: one message
            self.playing = True

    def pause(self) -> None:
        with self._hold():           # the last steps and the button label: one message
            self.playing = False

    def toggle(self) -> None:
        self.pause() if self.playing else self.play()

    def step(self) -> None:
        """The Step button: pause, then advance exactly one update."""
        self.pause()
        self.advance(1)

    def advance(self, n: int = 1) -> None:
        """Run n updates and hand the n new records to the views in one update."""
        if n <= 0:
            return
        with self._hold():
            self._run(n)
            self._push()

    def _run(self, n: int) -> None:
        """Take n updates of the simulation and log them; the records wait in _pending
        until they are handed to the views (``_push``)."""
        new = []
        for _ in range(n):
            rec = self.sim.advance(1)
            new.append(rec)
            for e in self.sim.events_at(rec.step):
                self._log_event(e)
            self._log(f"step {rec.step} · loss {rec.loss:.4f} · margin "
                      f"{rec.rewards_margins:.4f} · accuracy {rec.rewards_accuracies:.2f}"
                      f" · KL " + ", ".join(f"{k:.4f}" for k in rec.kl))
        if any(self.sim.events_at(r.step) for r in new):
            self._sync_from_sim()      # the sliders show what the script just set
        self._set_step()
        self._pending += new

    def _push(self, now: float | None = None, *, wait_for_ack: bool = False) -> None:
        """Hand every record not yet shown to the views, as one "step" update (called
        inside the hold). ``wait_for_ack``: a play-loop update; the next one waits until
        the browser acknowledges this one (``ack``) or ACK_TIMEOUT has passed."""
        if not self._pending:
            return
        new, self._pending = self._pending, []
        self.push_seq += 1
        self.push_time = now = time.monotonic() if now is None else now
        if wait_for_ack and self.flow_control:
            self._awaiting = now
        self._notify("step", new)

    def ack(self, seq: int, now: float | None = None) -> None:
        """The browser has drawn update ``seq``: the next one may go out, and if steps
        have piled up meanwhile they go out at once (the newest state, every step in the
        charts). An acknowledgement of an older update is ignored."""
        if seq != self.push_seq or self._awaiting is None:
            return
        self._awaiting = None
        if self.playing and self._pending:
            with self._hold():
                self._push(now, wait_for_ack=True)

    @property
    def waiting_for_ack(self) -> bool:
        return self._awaiting is not None

    def reset(self) -> None:
        """Back exactly to the scenario's start (settings too), paused."""
        self.pause()
        with self._hold():
            self.sim.reset()
            self._sync_from_sim()
            self._log(f"step 0 · reset to the start of {self.spec.id}")
            self._notify("reset", [self.sim.record])

    def load(self, scenario_id: str) -> None:
        """Load a preset by id (this resets the run)."""
        if scenario_id == self.scenario:
            self._do_load(scenario_id)
        else:
            self.scenario = scenario_id     # the watcher loads it

    def flip(self, i: int) -> None:
        """Flip row i (swap chosen and rejected) at the current step; works while playing."""
        with self._hold():
            self._push()               # steps not shown yet first: the flip comes after them
            self.sim.flip(int(i))
            self.last_flip = int(i)
            r = self.spec.rows[i]
            c, l = (r.rejected, r.chosen) if self.sim.flipped[i] else (r.chosen, r.rejected)
            replies = self.spec.prompts[r.prompt].replies
            state = "flipped" if self.sim.flipped[i] else "back to the data"
            votes = f"{_fmt(r.votes_chosen)}:{_fmt(r.votes_rejected)}"
            self._log(f"step {self.sim.t} · flip row {i} ({state}): now "
                      f"“{_short(replies[c])}” > “{_short(replies[l])}” {votes}")
            with param.edit_constant(self):
                self.flipped = [int(j) for j in np.flatnonzero(self.sim.flipped)]
            self._notify("action", [self.sim.record])

    def tick(self, now: float | None = None) -> None:
        """One beat of the play loop: take the steps owed by the wall clock since the last
        beat. A slow beat (busy server) takes several steps instead of falling behind, and
        at most half a second of steps at once. The steps go to the screen only when the
        browser has drawn the previous update (flow control): otherwise they wait and go
        out together with the next ones, so a slow browser sees fewer, bigger updates and
        never a queue."""
        if not self.playing:
            return
        now = time.monotonic() if now is None else now
        last, self._last_tick = self._last_tick, now
        if last is None:
            n = 1
        else:
            self._due = min(self._due + self.speed * (now - last), max(1.0, self.speed / 2))
            n = int(self._due)
            self._due -= n
        if n <= 0 and not self._pending:
            return
        with self._hold():
            if n > 0:
                self._run(n)
            if self._awaiting is not None and now - self._awaiting < ACK_TIMEOUT:
                return                  # the browser is still drawing the last update
            self._awaiting = None
            self._push(now, wait_for_ack=True)

    # -- internals ---------------------------------------------------------------------
    def _log_event(self, e) -> None:
        if e.flip is not None:
            self._log(f"step {e.step} · scenario flips row {e.flip}")
        for k, v in e.set.items():
            label = "sigma weight" if k == "adaptive_weight" else k
            self._log(f"step {e.step} · scenario sets {label} to {_fmt(v)}")

    def _ticks_per_second(self) -> int:
        return min(self.speed, MAX_TICKS_PER_SECOND)

    def _log(self, line: str) -> None:
        self.log.append(line)
        self.log_total += 1

    def _notify(self, kind: str, records: list[Record]) -> None:
        if kind == "reset":
            self._pending, self._awaiting = [], None
        for fn in self._listeners:
            fn(kind, records)

    def _set_step(self) -> None:
        with param.edit_constant(self):
            self.current_step = self.sim.t

    def _sync_from_sim(self) -> None:
        """Make the params show the simulation's settings without logging them as actions."""
        s = self.sim
        if s.t == 0:
            self.last_flip = None      # the row the formula strip explains, if flipped
        self._quiet = True
        try:
            for name in ("beta", "learning_rate"):
                v = float(getattr(s, name))
                lo, hi = self.param[name].bounds
                if not lo <= v <= hi:   # a scenario outside the slider: widen it
                    self.param[name].bounds = (min(lo, v), max(hi, v))
                setattr(self, name, v)
            self.adaptive_weight = bool(s.adaptive_weight)
            with param.edit_constant(self):
                self.flipped = [int(j) for j in np.flatnonzero(s.flipped)]
            self._set_step()
        finally:
            self._quiet = False

    def _on_setting(self, *events) -> None:
        if self._quiet:
            return
        changes = {e.name: e.new for e in events if getattr(self.sim, e.name) != e.new}
        if not changes:
            return
        with self._hold():
            self._push()               # steps not shown yet first: the change comes after
            for k, v in changes.items():
                old = getattr(self.sim, k)
                label = "sigma weight" if k == "adaptive_weight" else k
                self._log(f"step {self.sim.t} · {label} {_fmt(old)} -> {_fmt(v)}")
            self.sim.set(**changes)
            self._notify("action", [self.sim.record])

    def _on_scenario(self, event) -> None:
        self._do_load(event.new)

    def _do_load(self, sid: str) -> None:
        self.pause()
        with self._hold():
            self.sim = Simulation(self._load_scenario(sid))
            self._sync_from_sim()
            self._log(f"step 0 · load scenario {sid} ({self.spec.title})")
            self._notify("reset", [self.sim.record])

    def _on_playing(self, event) -> None:
        if event.new:
            self._due, self._last_tick, self._awaiting = 0.0, None, None
            self._start_loop()
            return
        if self._callback is not None:
            self._callback.stop()
            self._callback = None
        # Paused: the steps taken so far show now, whatever the browser is doing.
        self._awaiting = None
        with self._hold():
            self._push()
            self._notify("pause", [])

    def _on_speed(self, event) -> None:
        if self._callback is not None:
            self._callback.period = self._period()

    def _period(self) -> int:
        return max(1, int(math.floor(1000 / self._ticks_per_second())))

    def _start_loop(self) -> None:
        """A periodic callback in this session's document; outside a served session
        (tests, plain Python) there is no document and nothing runs by itself.
        ``background=True`` keeps Panel from flagging the session busy on every tick,
        which would flicker any busy indicator."""
        if self._callback is not None or pn.state.curdoc is None:
            return
        from panel.io.callbacks import PeriodicCallback

        self._callback = PeriodicCallback(callback=self.tick, period=self._period(),
                                          background=True)
        self._callback.start()



# -- the address bar (issue 4): ONE table of the public query parameters ---------------------
#: Parts of the page a teacher can hide with ``hide=`` (the dashboard maps them to views).
HIDEABLE = ("sliders", "picker", "pairs", "charts", "log", "formula", "readouts", "share")
#: The furthest step a link may ask for, and the most mid-run actions it may carry: a link
#: is replayed on load, so it must stay cheap to open.
MAX_URL_STEP = 20_000
MAX_URL_EVENTS = 500
#: ``events=`` kinds -> the setting they change (``flip`` flips a row).
EVENT_KINDS = {"beta": "beta", "lr": "learning_rate", "weight": "adaptive_weight",
               "flip": None}


class UrlParam:
    """One public query parameter: how to read it into the state and write it back.

    ``parse(text, state, query)`` returns the value or raises ValueError with a short
    reason (``query`` is the whole address, for checks across parameters);
    ``apply(state, value)`` sets it; ``write(state)`` returns the text for the address,
    or None to leave it out (it is at its default)."""

    def __init__(self, name, parse, apply, write, doc):
        self.name, self.parse, self.apply, self.write, self.doc = name, parse, apply, write, doc


# Links describe a run as: the settings and flips in force at step 0 (plain parameters,
# as a hand-written link would give them), then the mid-run actions (``events``), then the
# step to stop at. Reading replays exactly those actions through the same Simulation calls
# the page makes, so the numbers are the ones the link's author saw.

def _baseline(st: "SimState") -> dict:
    """Settings at step 0 before any live action: the scenario's own, after its step-0
    scripted events."""
    spec = st.spec
    out = {"beta": float(spec.beta), "learning_rate": float(spec.learning_rate),
           "adaptive_weight": bool(spec.adaptive_weight)}
    for e in spec.events:
        if e.step == 0:
            out.update(e.set)
    return out


def _at_zero(st: "SimState") -> tuple[dict, list[int]]:
    """(settings in force at step 0 after the live actions taken there, rows flipped
    there by the user)."""
    settings, toggled = _baseline(st), set()
    for e in st.sim.actions:
        if e.step == 0:
            settings.update(e.set)
            if e.flip is not None:
                toggled ^= {e.flip}
    return settings, sorted(toggled)


def _later_actions(st: "SimState") -> list[tuple[int, str, object]]:
    """The live actions after step 0 as (step, kind, value), one step at a time: a row
    flipped an even number of times at one step drops out, a setting keeps its last value
    (flips and settings commute within a step, so this replays bit-identically)."""
    by_step: dict[int, tuple[set, dict]] = {}
    for e in st.sim.actions:
        if e.step == 0:
            continue
        flips, sets = by_step.setdefault(e.step, (set(), {}))
        if e.flip is not None:
            flips ^= {e.flip}
        sets.update(e.set)
    kinds = {v: k for k, v in EVENT_KINDS.items() if v}
    out = []
    for step in sorted(by_step):
        flips, sets = by_step[step]
        out += [(step, "flip", i) for i in sorted(flips)]
        out += [(step, kinds[k], sets[k]) for k in ("beta", "learning_rate", "adaptive_weight")
                if k in sets]
    return out


def _number(name: str):
    def parse(text: str, st: "SimState", q=None) -> float:
        try:
            v = float(text)
        except ValueError:
            raise ValueError("not a number") from None
        lo, hi = st.param[name].bounds
        if not (math.isfinite(v) and lo <= v <= hi):
            raise ValueError(f"must be between {lo:g} and {hi:g}")
        return v
    return parse


def _setting_write(name: str):
    """The setting in force at step 0, if the user changed it there."""
    def write(st: "SimState"):
        v = _at_zero(st)[0][name]
        if v == _baseline(st)[name]:
            return None
        return ("on" if v else "off") if isinstance(v, bool) else repr(float(v))
    return write


def _parse_scenario(text: str, st: "SimState", q=None) -> str:
    if text not in st.titles:     # ids only from the known list: never a path
        raise ValueError(f"unknown scenario; known: {', '.join(st.titles)}")
    return text


def _parse_weight(text: str, st: "SimState", q=None) -> bool:
    if text.lower() not in ("on", "off"):
        raise ValueError("must be on or off")
    return text.lower() == "on"


def _parse_speed(text: str, st: "SimState", q=None) -> int:
    lo, hi = st.param.speed.bounds
    if not text.isdigit() or not lo <= int(text) <= hi:
        raise ValueError(f"must be a whole number from {lo} to {hi}")
    return int(text)


def _parse_row(text: str, st: "SimState") -> int:
    n = len(st.spec.rows)
    if not (text.isdigit() and int(text) < n):
        raise ValueError(f"row {text[:10]!r} is not a row number from 0 to {n - 1}")
    return int(text)


def _parse_flipped(text: str, st: "SimState", q=None) -> list[int]:
    rows = [t.strip() for t in text.split(",") if t.strip()]
    return sorted(set(_parse_row(t, st) for t in rows))


def _parse_step(text: str, st: "SimState", q=None) -> int:
    if not text.isdigit() or int(text) > MAX_URL_STEP:
        raise ValueError(f"must be a whole number from 0 to {MAX_URL_STEP}")
    return int(text)


def _parse_events(text: str, st: "SimState", q=None) -> list[tuple[int, str, object]]:
    """``STEP:KIND:VALUE,...`` with KIND beta | lr | weight | flip -> sorted by step
    (stable: actions at one step keep their order)."""
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
            if kind == "flip":
                v = _parse_row(value, st)
            elif kind == "weight":
                v = _parse_weight(value, st)
            else:
                v = _number(EVENT_KINDS[kind])(value, st)
        except ValueError as e:
            raise ValueError(f"{tok[:30]!r}: {e}") from None
        out.append((int(step), kind, v))
    out.sort(key=lambda a: a[0])
    stop = (q or {}).get("step")
    stop = str(stop) if stop is not None else None
    if out and stop is not None and stop.isdigit() and out[-1][0] > int(stop):
        raise ValueError(f"an action at step {out[-1][0]} is after step={stop}")
    return out


def _apply_events(st: "SimState", actions) -> None:
    """Run to each action's step and take it there, as the page would have."""
    for step, kind, v in actions:
        st.advance(step - st.current_step)
        if kind == "flip":
            st.flip(v)
        else:
            setattr(st, EVENT_KINDS[kind], v)


def _write_events(st: "SimState"):
    out = []
    for step, kind, v in _later_actions(st):
        if kind == "flip":
            text = str(v)
        elif kind == "weight":
            text = "on" if v else "off"
        else:
            text = repr(float(v))
        out.append(f"{step}:{kind}:{text}")
    return ",".join(out) or None


def _parse_flag(text: str, st: "SimState", q=None) -> bool:
    if text not in ("0", "1"):
        raise ValueError("must be 0 or 1")
    return text == "1"


def _parse_hide(text: str, st: "SimState", q=None) -> list[str]:
    parts = [t.strip() for t in text.split(",") if t.strip()]
    bad = [p for p in parts if p not in HIDEABLE]
    if bad:
        raise ValueError(f"unknown part {bad[0][:20]!r}; parts: {', '.join(HIDEABLE)}")
    return list(dict.fromkeys(parts))


def _apply_flipped(st: "SimState", rows: list[int]) -> None:
    for i in rows:              # at step 0, relative to the scenario's start
        st.flip(i)


def _set(name):
    return lambda st, v: setattr(st, name, v)


#: The public query parameters, in the order they are applied. Names are a stable
#: interface: course pages link to them. beta, lr, weight and flipped hold what was in
#: force at step 0; events holds what was done later; step is where the link stops.
URL_PARAMS: tuple[UrlParam, ...] = (
    UrlParam("scenario", _parse_scenario, lambda st, v: st.load(v),
             lambda st: st.scenario, "scenario id (one of the presets)"),
    UrlParam("beta", _number("beta"), _set("beta"), _setting_write("beta"),
             "beta at step 0"),
    UrlParam("lr", _number("learning_rate"), _set("learning_rate"),
             _setting_write("learning_rate"), "learning rate at step 0"),
    UrlParam("weight", _parse_weight, _set("adaptive_weight"),
             _setting_write("adaptive_weight"), "adaptive sigma weight at step 0: on | off"),
    UrlParam("speed", _parse_speed, _set("speed"),
             lambda st: None if st.speed == st.param.speed.default else str(st.speed),
             "steps per second while playing"),
    UrlParam("flipped", _parse_flipped, _apply_flipped,
             lambda st: ",".join(map(str, _at_zero(st)[1])) or None,
             "rows flipped at step 0, numbered from 0"),
    UrlParam("events", _parse_events, _apply_events, _write_events,
             "mid-run actions STEP:KIND:VALUE, KIND beta | lr | weight | flip"),
    UrlParam("step", _parse_step, lambda st, v: st.advance(v - st.current_step),
             lambda st: None if st.playing or st.current_step == 0 else str(st.current_step),
             "run to this step on load, then pause"),
    UrlParam("autoplay", _parse_flag, lambda st, v: st.play() if v else None,
             lambda st: None, "1: play on load (from step, if given)"),
    UrlParam("hide", _parse_hide, lambda st, v: setattr(st, "hidden", list(v)),
             lambda st: ",".join(st.hidden) or None, "parts of the page to hide"),
)


def apply_query(state: "SimState", query: dict) -> list[str]:
    """Apply ``{name: text}`` from an address to a fresh state, in table order. A bad or
    unknown value is ignored (the default stays) and reported in the returned notices."""
    notices = []
    known = {p.name for p in URL_PARAMS}
    for name in query:
        if name not in known and name != "theme":
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


def to_query(state: "SimState") -> dict:
    """The query that reproduces what the state shows (settings at their defaults left out)."""
    out = {}
    for p in URL_PARAMS:
        v = p.write(state)
        if v is not None:
            out[p.name] = v
    return out


def query_string(query: dict) -> str:
    """``?a=1&b=2`` for the address (commas and colons kept readable), or "" if empty."""
    from urllib.parse import urlencode

    return "?" + urlencode(query, safe=",:") if query else ""
