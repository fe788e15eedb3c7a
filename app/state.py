"""The one state object of a dashboard session: settings as params, a Simulation underneath.

Every control on the page is a widget made from a parameter here, and the parameters are
made from the settings table (``sim.settings.SETTINGS``): a setting with a control on the
page (a live run setting, or a page setting such as the speed) is a parameter with the
table's default, rule, slider range, label and help. Every change goes through here, so
the page and ``dpo-sim run`` cannot disagree: a slider change becomes
``Simulation.set(...)`` (an action at the current step, in force from the next update), a
click on a row becomes ``Simulation.flip(i)``.

Views never touch the Simulation. They read the run through this object's read-only
properties (``record``, ``spec``, ``pairs``, ``pi_ref``, ``preferred``, ...), and they
subscribe themselves to changes (``subscribe``); every change is announced inside one
``pn.io.hold()``, so the browser gets one message per tick.

Nothing here needs a browser or a server: the play loop is a Panel periodic callback that
simply does not start outside a served session, and tests call ``tick()`` themselves.
The page's address is read and written by ``app.address``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import panel as pn
import param

from ..sim import rest, rlhf
from ..sim.dpo import kl_ceiling
from ..sim.engine import Record
from ..sim.export_csv import to_csv
from ..sim.history import History
from ..sim.pairs import Pairs
from ..sim.scenario import Event, Scenario
from ..sim.scenario_io import list_presets, load_scenario
from ..sim.settings import BY_NAME, SETTINGS, Choice, Flag, Number, Setting, Whole
from ..sim.simulation import Diverged, Simulation
from . import texts
from .numfmt import fixed

#: Events kept in the page's log (a run's actions are few; past this, the oldest go).
MAX_EVENTS = 500
#: Above this many steps per second, play takes several steps per tick instead of ticking
#: faster: the browser redraws at most this often, and nothing queues up.
MAX_TICKS_PER_SECOND = 30
#: While playing, the server sends a new screen update only once the browser has drawn the
#: previous one (it acknowledges it, see ``ack``); an acknowledgement lost on the way must
#: not freeze the page, so after this many seconds the next update goes out anyway.
ACK_TIMEOUT = 1.0
DEFAULT_SCENARIO = "align"

#: The settings with a control on the page, in the table's order: the live run settings
#: (an action of the run when changed) and the page's own settings (the speed).
CONTROLS: tuple[Setting, ...] = tuple(s for s in SETTINGS if s.live or s.scope == "page")
#: The live run settings among them (a change is ``Simulation.set``).
LIVE_SETTINGS: tuple[str, ...] = tuple(s.name for s in CONTROLS if s.scope == "run")


#: A session keeps its newest 2,048 to 4,096 records (at most about 1.6 MB for 2 prompts x
#: 4 replies), enough for the charts' 1,500 steps; the CSV is recomputed (``csv``). So a
#: page that plays for an hour holds no more than one that played for two minutes.
HISTORY_LIMIT = 2048


def _fmt(v) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "on" if v else "off"
    if isinstance(v, str):
        return v
    return f"{float(v):.4g}"


@dataclass(frozen=True)
class LogEvent:
    """One line of the page's event log: something that changed the run (a scenario
    loaded, a reset, a flip, a setting, a scripted event), at its step."""

    step: int
    kind: str                  # "load" | "reset" | "flip" | "set" | "script" | "halt"
    text: str
    name: str | None = None    # "set": the setting changed
    old: object = None         # "set": its value before the change

    @property
    def line(self) -> str:
        return f"step {self.step} · {self.text}"


def _log_name(name: str) -> str:
    """How the step log names a setting."""
    return "sigma weight" if name == "adaptive_weight" else name


def _snap(name: str, value):
    """A slider's value on its grid, written shortest: 0.39999999999999997 (8 steps of
    0.05) becomes 0.4. Values off the grid (typed in a link, say) stay exactly as given."""
    s = BY_NAME[name]
    if not (isinstance(s.kind, Number) and s.slider) or isinstance(value, bool):
        return value
    step = s.slider[2]
    k = round(value / step)
    if k and abs(value - k * step) <= 1e-9 * step:
        return float(f"{k * step:.12g}")
    return value


def _short(text: str, n: int = 32) -> str:
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


def _preset_loader():
    """The preset loader: the scenarios that load, by id, and their titles."""
    def presets():
        return [(pid, title) for pid, title, err in list_presets() if not err]

    return load_scenario, presets


def control_param(s: Setting) -> param.Parameter:
    """The parameter of a setting's control, from its row of the settings table: valid
    values are the table's (a link, a file and a slider accept the same), the slider shows
    the table's usual range (``softbounds``) and widens for a valid value outside it."""
    doc, label = s.help, s.label
    k = s.kind
    if isinstance(k, Number):
        lo, hi, step = s.slider
        return param.Number(default=s.default if s.default is not None else lo,
                            bounds=(k.lo, k.hi),
                            inclusive_bounds=(not k.lo_open, not getattr(k, "hi_open", False)),
                            softbounds=(lo, hi), step=step, label=label, doc=doc)
    if isinstance(k, Whole):
        lo, hi, step = s.slider
        return param.Integer(default=s.default, bounds=(k.lo, k.hi), softbounds=(lo, hi),
                             step=step, label=label, doc=doc)
    if isinstance(k, Flag):
        return param.Boolean(default=s.default, label=label, doc=doc)
    if isinstance(k, Choice):
        return param.Selector(default=s.default, objects=list(k.options), label=label,
                              doc=doc)
    raise TypeError(f"no control for a setting of kind {type(k).__name__}")


class SimState(param.Parameterized):
    """Settings, play state and the run of one dashboard session. The settings' own
    parameters (beta, learning_rate, adaptive_weight, speed, ...) are added from the
    settings table below the class."""

    scenario = param.Selector(default=DEFAULT_SCENARIO, objects=[DEFAULT_SCENARIO],
                              doc="Which preset scenario is loaded (its id).")
    playing = param.Boolean(default=False, doc="Whether the run is playing.")
    current_step = param.Integer(default=0, constant=True, doc="The step the simulation is at.")
    flipped = param.List(default=[], item_type=int, constant=True,
                         doc="Indices of the flipped rows.")
    hidden = param.List(default=[], item_type=str,
                        doc="Parts of the page hidden (teacher mode, see address.HIDEABLE).")
    halted = param.String(default="", doc="Why the run stopped by itself (the next update "
                          "would overflow the loss); empty while it can go on.")
    focus_row = param.Integer(default=0, bounds=(0, None),
                              doc="The row the formula strip works out: the one looked at "
                                  "or flipped last.")

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
        self._listeners: list[tuple[int, int, Callable]] = []   # (order, n, fn)
        self._n_listeners = 0
        #: this run's events (since the scenario was loaded or reset), oldest first
        self.events: list[LogEvent] = []
        self.events_version = 0        # counts changes of ``events`` (views redraw on it)
        self.step_line = ""            # the latest step's numbers, one line
        self._optimum = self._optimum_key = self._optimum_sim = None
        self._rest_plan = self._rest_key = self._rest_sim = self._rest_now = None
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
        self._sim = Simulation(self._load_scenario(sid), history_limit=HISTORY_LIMIT)
        self._sync_from_sim()
        for e in self._sim.events_at(0):       # the scenario's own step-0 events
            self._log_event(e)
        self._set_step_line()
        self.param.watch(self._on_setting, list(LIVE_SETTINGS))
        self.param.watch(self._on_scenario, "scenario")
        self.param.watch(self._on_playing, "playing")
        self.param.watch(self._on_speed, "speed")
        # settings given here are actions at step 0, as a link's would be: the run uses
        # them (not only the sliders), and the address writes them
        self.param.update(settings)

    # -- reading (the views' whole access to the run) ------------------------------------
    @property
    def record(self) -> Record:
        """The current step's record (computed from the policy before its update)."""
        return self._sim.record

    @property
    def spec(self) -> Scenario:
        """The scenario loaded (prompts, replies, rows as in the file, title, ...)."""
        return self._sim.scenario

    @property
    def pairs(self) -> Pairs:
        """The preference rows as they stand now, flips applied."""
        return self._sim.pairs

    @property
    def optimum(self):
        """``sim.rlhf.Optimum``: pi*, the policy RLHF would reach with a Bradley-Terry
        reward fitted to the rows as they stand, at the beta in force. Refitted only when
        the rows (a flip) or beta change, so reading it every tick costs nothing."""
        sim = self._sim
        key = (sim.pairs.chosen.tobytes(), sim.pairs.rejected.tobytes(), sim.beta)
        if self._optimum_key != key or self._optimum_sim is not sim:
            self._optimum = rlhf.optimum(sim.pairs, sim.logp_ref, sim.scenario.start_logits(),
                                         sim.beta)
            self._optimum_key, self._optimum_sim = key, sim
        return self._optimum

    @property
    def rest(self) -> tuple:
        """``sim.rest``'s ``RowRest`` of every row: where it ends with the rows and the
        settings in force, from the policy now. The rows' structure is analysed again only
        when the rows or the settings change; each step only looks at the gradient now."""
        sim = self._sim
        key = (sim.pairs.chosen.tobytes(), sim.pairs.rejected.tobytes(), sim.beta,
               sim.learning_rate, sim._loss)
        if self._rest_key != key or self._rest_sim is not sim:
            self._rest_plan = rest.analyse(sim.pairs, sim.beta, sim.learning_rate, sim._loss)
            self._rest_key, self._rest_sim = key, sim
            self._rest_now = None
        rec = sim.record
        if self._rest_now is None or self._rest_now[0] is not rec:    # once per record
            self._rest_now = (rec, rest.at(self._rest_plan, rec.row_margin, rec.grad))
        return self._rest_now[1]

    def kl_to_optimum(self) -> np.ndarray:
        """(P,) KL(pi || pi*) now; NaN on a prompt with no finite optimum."""
        return rlhf.kl_to_optimum(self._sim.record.probs, self.optimum)

    @property
    def loss(self):
        """The per-judgement loss in force (``sim.losses``), with the weight toggle applied."""
        return self._sim._loss

    @property
    def logp_ref(self) -> np.ndarray:
        """(P, K) log pi_ref."""
        return self._sim.logp_ref

    @property
    def pi_ref(self) -> np.ndarray:
        """(P, K) the reference's probabilities."""
        return np.exp(self._sim.logp_ref)

    @property
    def kl_ceiling(self) -> np.ndarray:
        """(P,) the largest KL(pi || pi_ref) each prompt can reach."""
        return kl_ceiling(self._sim.logp_ref)

    @property
    def preferred(self) -> np.ndarray:
        """(P, K) bool: the replies the data prefers now (``Pairs.preferred``)."""
        return self._sim.pairs.preferred()

    @property
    def history(self) -> History:
        """The whole run so far, one record per step (read it; do not change it)."""
        return self._sim.history

    @property
    def actions(self) -> tuple[Event, ...]:
        """The live actions taken in this run, as events at their steps."""
        return tuple(self._sim.actions)

    def events_at(self, t: int) -> tuple[Event, ...]:
        """The scenario's scripted events at step t."""
        return self._sim.events_at(t)

    def replay_scenario(self) -> Scenario:
        """The scenario plus this run's live actions as scripted events."""
        return self._sim.replay_scenario()

    def subscribe(self, fn: Callable[[str, list[Record]], None], order: int = 0
                  ) -> Callable[[], None]:
        """fn(kind, records), called on every change; returns a function that unsubscribes.

        kind is "reset" (history restarted at ``records[0]``), "step" (new records
        appended, possibly several coalesced play steps), "action" (the current record
        recomputed) or "pause" (play stopped; no records: views that buffer between
        screen updates show everything now). Listeners run in ``order``, then in the order
        they subscribed; the acknowledgement of a screen update (``views.ack``) goes last
        (order 1), so it travels after the data it acknowledges."""
        self._n_listeners += 1
        entry = (order, self._n_listeners, fn)
        self._listeners.append(entry)
        self._listeners.sort(key=lambda e: e[:2])
        return lambda: self._listeners.remove(entry) if entry in self._listeners else None

    def csv(self) -> str:
        """The whole run's metrics, one line per step (same columns as the CLI).

        Recomputed from the scenario and the actions taken (the run is deterministic and
        the replay bit-identical), so a session keeps only its newest records
        (``HISTORY_LIMIT``) however long it plays: about 60 ms per 2,000 steps."""
        sim = self._sim
        replay = Simulation(sim.replay_scenario(), keep_history=False)

        def records():
            yield replay.record
            with np.errstate(over="ignore", invalid="ignore"):
                while replay.t < sim.t:
                    yield replay.advance()

        return to_csv(records())

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
        diverged = None
        try:
            with np.errstate(over="ignore", invalid="ignore"):   # said in ``halted``
                for _ in range(n):
                    rec = self._sim.advance(1)
                    new.append(rec)
                    for e in self._sim.events_at(rec.step):
                        self._log_event(e)
        except Diverged as e:
            diverged = e
        if diverged is not None:
            self._halt(diverged)
        elif new and self.halted:
            self.halted = ""
        self._set_step_line()
        if any(self._sim.events_at(r.step) for r in new):
            self._sync_from_sim()      # the sliders show what the script just set
        self._set_step()
        self._pending += new

    def _halt(self, e: Diverged) -> None:
        """The next update would leave the loss non-finite: pause at the last finite
        step and say why (``halted``); the run is intact and Reset starts it again."""
        self.pause()
        self.halted = texts.DIVERGED.format(step=e.step - 1, loss=e.loss_type,
                                            beta=_fmt(e.beta), lr=_fmt(e.learning_rate))
        self._log("halt", f"stopped: step {e.step} would overflow the loss",
                  step=e.step - 1)

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
        """Back to step 0, paused, with the settings now on the sliders (as TensorFlow
        Playground's reset does) and the rows as in the scenario (flips undone). The
        settings that differ from the scenario's are actions at step 0, so the address
        and the CSV say what ran. (Choosing a scenario restores its own settings.)"""
        self.pause()
        now = {name: getattr(self, name) for name in LIVE_SETTINGS}
        with self._hold():
            self._sim.reset()
            self.halted = ""
            changes = {k: v for k, v in now.items() if getattr(self._sim, k) != v}
            if changes:
                self._sim.set(**changes)
            self._sync_from_sim()
            kept = ", ".join(f"{_log_name(k)} {_fmt(v)}" for k, v in changes.items())
            self._restart_log("reset", f"reset to the start of {self.spec.id}"
                              + (f", keeping {kept} from the sliders" if kept else ""))
            self._notify("reset", [self._sim.record])

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
            self._sim.flip(int(i))
            self.focus_row = int(i)
            r = self.spec.rows[i]
            now_flipped = int(i) in self._sim.flipped
            c, l = (r.rejected, r.chosen) if now_flipped else (r.chosen, r.rejected)
            replies = self.spec.prompts[r.prompt].replies
            state = "flipped" if now_flipped else "back to the data"
            votes = f"{_fmt(r.votes_chosen)}:{_fmt(r.votes_rejected)}"
            self._log("flip", f"flip row {i} ({state}): now “{_short(replies[c])}” > "
                              f"“{_short(replies[l])}” {votes}")
            with param.edit_constant(self):
                self.flipped = list(self._sim.flipped)
            self._notify("action", [self._sim.record])

    def look(self, i: int) -> None:
        """Show row i's numbers in the formula strip (hover, focus or tap on the row); the
        run does not change."""
        if 0 <= int(i) < len(self.spec.rows):
            self.focus_row = int(i)

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
            self._log("script", f"scenario flips row {e.flip}", step=e.step)
        for k, v in e.set.items():
            self._log("script", f"scenario sets {_log_name(k)} to {_fmt(v)}", step=e.step)

    def _ticks_per_second(self) -> int:
        return min(self.speed, MAX_TICKS_PER_SECOND)

    def _log(self, kind: str, text: str, step: int | None = None, **kw) -> None:
        self.events.append(LogEvent(self._sim.t if step is None else step, kind, text, **kw))
        del self.events[:-MAX_EVENTS]
        self.events_version += 1

    def _restart_log(self, kind: str, text: str) -> None:
        """A new run (a scenario loaded, a reset): its log starts with this event (and
        the scenario's own step-0 events)."""
        self.events = []
        self._log(kind, text, step=0)
        for e in self._sim.events_at(0):
            self._log_event(e)
        self._set_step_line()

    def _set_step_line(self) -> None:
        rec = self._sim.record
        self.step_line = (f"step {rec.step} · loss {fixed(rec.loss, 4)} · margin "
                          f"{fixed(rec.rewards_margins, 4, sign=True)} · accuracy "
                          f"{rec.rewards_accuracies:.0%} · KL "
                          + ", ".join(fixed(k, 4) for k in rec.kl))

    @property
    def log(self) -> list[str]:
        """This run's events as lines, oldest first."""
        return [e.line for e in self.events]

    def marks(self) -> list[LogEvent]:
        """The events after step 0 (flips, settings, scripted events), for the charts."""
        return [e for e in self.events if e.step > 0 and e.kind in ("flip", "set", "script")]

    def _notify(self, kind: str, records: list[Record]) -> None:
        if kind == "reset":
            self._pending, self._awaiting = [], None
        for _, _, fn in list(self._listeners):
            fn(kind, records)

    def _set_step(self) -> None:
        with param.edit_constant(self):
            self.current_step = self._sim.t

    def _sync_from_sim(self) -> None:
        """Make the params show the simulation's settings without logging them as actions."""
        s = self._sim
        if s.t == 0 and self.focus_row >= len(s.scenario.rows):
            self.focus_row = 0
        self._quiet = True
        try:
            self.param.update({name: getattr(s, name) for name in LIVE_SETTINGS})
            with param.edit_constant(self):
                self.flipped = list(s.flipped)
            self._set_step()
        finally:
            self._quiet = False

    def _on_setting(self, *events) -> None:
        if self._quiet:
            return
        snapped = {e.name: _snap(e.name, e.new) for e in events}
        if any(v != e.new for e, v in zip(events, snapped.values())):
            self._quiet = True         # show the tidy value, without a second action
            try:
                self.param.update(snapped)
            finally:
                self._quiet = False
        changes = {k: v for k, v in snapped.items() if getattr(self._sim, k) != v}
        if not changes:
            return
        with self._hold():
            self._push()               # steps not shown yet first: the change comes after
            for k, v in changes.items():
                self._log_setting(k, getattr(self._sim, k), v)
            self._sim.set(**changes)
            self._notify("action", [self._sim.record])

    def _log_setting(self, name: str, old, new) -> None:
        """One line per settled value: a setting changed again at the same step, with
        nothing else in between (a slider moved by its arrow keys, say), updates its line."""
        last = self.events[-1] if self.events else None
        if (last is not None and last.kind == "set" and last.name == name
                and last.step == self._sim.t):
            old = last.old
            self.events.pop()
        self._log("set", f"{_log_name(name)} {_fmt(old)} -> {_fmt(new)}", name=name,
                  old=old)

    def _on_scenario(self, event) -> None:
        self._do_load(event.new)

    def _do_load(self, sid: str) -> None:
        """A scenario's own start (its own settings); if the run was playing, the new one
        plays on."""
        playing = self.playing
        self.pause()
        with self._hold():
            self._sim = Simulation(self._load_scenario(sid), history_limit=HISTORY_LIMIT)
            self.halted = ""
            self.focus_row = 0
            self._sync_from_sim()
            self._restart_log("load", f"load scenario {sid} ({self.spec.title})")
            self._notify("reset", [self._sim.record])
        if playing:
            self.play()

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


for _s in CONTROLS:
    SimState.param.add_parameter(_s.name, control_param(_s))
del _s
