"""The served page: one Panel ``JSComponent`` whose ``_esm`` is the page's modules
(``app/ui/``, joined by ``app/bundle.py``), and a NumPy session that answers its commands.

Why one component: the views are JavaScript drawn on canvases and text nodes, so a screen
update is one small message (``sim/protocol.py``'s reply) and no Bokeh model changes. Panel
stays the host: the page, the session, the notebook's comm, and the message channel
(``JSComponent._handle_msg`` / ``_send_msg``, Panel's documented API for custom messages).
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import multiprocessing
import os
import re
import threading
import time
from concurrent.futures import ProcessPoolExecutor

import panel as pn
import param
from panel.io.state import set_curdoc

from ..sim.protocol import Session, stack_reply
from ..sim.scenario_io import list_presets, load_scenario
from .bundle import UI, bundle, classic, stylesheet
from .interactive import HERE, page_data, palette_css
from .katex_assets import katex_base

log = logging.getLogger(__name__)


def _presets() -> dict:
    return {pid: load_scenario(pid) for pid, _, err in list_presets() if err is None}


_PRESETS: dict | None = None


def presets() -> dict:
    """Every preset, read once per process (scenarios are immutable)."""
    global _PRESETS
    if _PRESETS is None:
        _PRESETS = _presets()
    return _PRESETS


def _engine_js() -> str:
    """The twin engine, which the served page runs for Python's number formats and the
    settings' checks (no number on the page comes from it)."""
    return (HERE / "engine.js").read_text(encoding="utf-8") + "\n"


def served_esm() -> str:
    """engine.js and the page's modules, as one module."""
    return _engine_js() + bundle("host_served.js")


#: Where ``dpo-sim serve`` sends the page's script (relative to the page, under any prefix).
PAGE_SCRIPT_ROUTE = "/dpo-sim-page.js"
_SCRIPT: tuple[bytes, str] | None = None


def page_script() -> tuple[bytes, str]:
    """The page's script as ``dpo-sim serve`` sends it, and its version (a hash of it): the
    twin engine (for Python's number formats), the page's modules as one classic script
    (``globalThis.dpoSimServed.render``) and the data every page of the server shares (the
    presets, settings table and texts, ``globalThis.dpoSimData``). One file the browser
    fetches alongside Bokeh's and may keep: the document of each session then carries a
    few hundred bytes instead of ~600 kB, and Panel does not transpile the page's ~440 kB
    of modules in the browser (sucrase: ~250 ms of the first chart, profiled)."""
    global _SCRIPT
    if _SCRIPT is None:
        data = json.dumps(shared_data(), ensure_ascii=False, allow_nan=False)
        text = (_engine_js() + classic("host_served.js", "dpoSimServed")
                + f"globalThis.dpoSimData = JSON.parse({json.dumps(data)});\n")
        raw = text.encode("utf-8")
        _SCRIPT = raw, hashlib.sha256(raw).hexdigest()[:16]
    return _SCRIPT


#: The page script's name in Panel's ``config.js_files`` (set by ``dpo-sim serve``).
SCRIPT_KEY = "dpo_sim_page"


def script_in_html() -> bool:
    """Whether this process's pages load ``page_script()`` from their HTML."""
    return SCRIPT_KEY in pn.config.js_files


def page_script_url() -> str:
    """The script's address relative to the page, with its version (so a browser may keep
    it for good: a new version is a new address)."""
    return PAGE_SCRIPT_ROUTE.lstrip("/") + "?v=" + page_script()[1]


def scenarios_data(scenarios: dict) -> dict:
    """The page's data for these scenarios, less its per-page fields."""
    data = page_data(list(scenarios.values()))
    data["presets"] = list(scenarios)
    return data


def shared_data() -> dict:
    """What every page with the presets gets (``ServedPage`` leaves it to the script)."""
    return scenarios_data(presets())


#: The commands answered in a worker process (sim.protocol.stack_reply).
STACKS = ("frontier", "sweep")
_POOL: ProcessPoolExecutor | None = None


def _workers() -> ProcessPoolExecutor:
    """One worker process for every session's stacks of this server process (two at once
    would only share the same cores), started at the first request, by spawning: the
    server has threads, which a fork would copy mid-flight. It keeps sim.protocol's cache
    of replies, so a class opening the same lesson computes each once."""
    global _POOL
    if _POOL is None:
        _POOL = ProcessPoolExecutor(max_workers=1,
                                    mp_context=multiprocessing.get_context("spawn"),
                                    initializer=_exit_with, initargs=(os.getpid(),))
    return _POOL


def _exit_with(parent: int) -> None:
    """In the worker: exit once the server process is gone. A server stopped by a signal
    never shuts its pool down, and its worker (60 MB) would otherwise live on, orphaned:
    the tests' servers left 31 of them behind in one run of the suite."""
    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="dpo-sim-exit-with-server", daemon=True).start()


class SimPage(pn.custom.JSComponent):
    """The whole page for one session (or one notebook cell)."""

    data = param.String(default="{}", doc="The page's data as JSON text: scenarios, the "
                        "settings table, texts (text: Bokeh passes a string through, where "
                        "it would walk a dict of ~3,000 values in Python on every page open)")

    _esm = served_esm()
    _stylesheets = [palette_css() + "\n" + stylesheet()
                    + "\n:host { display: block; width: 100%; }"]

    def __init__(self, scenarios: dict | None = None, shareable: bool = True,
                 query: dict | None = None, **params):
        """``query``: the page's starting link as {parameter: text} (a notebook's
        settings); a served page's own address comes after it."""
        self.scenarios = scenarios if scenarios is not None else presets()
        data = self._data(scenarios)
        data["shareable"] = shareable
        data["query"] = [[k, v] for k, v in (query or {}).items()]
        data["katex_base"] = katex_base()
        params.setdefault("sizing_mode", "stretch_width")
        params.setdefault("margin", 0)
        super().__init__(data=json.dumps(data, ensure_ascii=False, allow_nan=False), **params)
        self.session = Session(self.scenarios)
        self.in_order = InOrder(self.session)

    def _data(self, scenarios: dict | None) -> dict:
        return scenarios_data(self.scenarios)

    def _process_bokeh_event(self, doc, event) -> None:
        """Panel's own version also counts the event for its busy indicator: three updates
        of ``pn.state``'s parameters per message, 0.5 ms of the server's CPU per screen
        update (cProfile), for an indicator this page does not show. Private Panel API,
        overridden here because no public setting turns the counting off."""
        with set_curdoc(doc):
            self._process_event(event)

    def _handle_msg(self, msg) -> None:
        # the reply goes as JSON text: Bokeh's serializer walks a dict in Python (2-3 ms
        # for a reply of ~300 numbers, measured); a string it passes through
        if isinstance(msg, dict) and msg.get("op") in STACKS and "_rid" in msg:
            self._stack_later(msg)
        elif isinstance(msg, dict) and "_seq" in msg:
            for text in self.in_order.take(msg):
                self._send_msg(text)
        else:
            self._send_msg(answer(self.session, msg))

    def _stack_later(self, msg: dict) -> None:
        """A stack of runs (the sweep map: 4,096 runs, ~0.3 s) in a worker process, so the
        server goes on answering every page's steps meanwhile (a thread would hold the GIL
        for much of it: a flip while playing took 231 ms to show, p95). It runs on a copy of
        the run as it stands; its reply carries the request's ``_rid`` (it may overtake
        steps)."""
        sim = self.session.sim
        rid = msg["_rid"]
        if sim is None:
            self._send_msg(json_text({"_rid": rid, "error": {"name": "ValueError",
                                                            "message": "no scenario"}}))
            return
        snap = copy.copy(sim)
        snap._flip_mask = sim._flip_mask.copy()
        cmd = {k: v for k, v in msg.items() if k != "_rid"}

        def done(future):
            try:
                reply = future.result()
            except (ValueError, TypeError) as e:
                reply = {"op": cmd.get("op"), "error": {"name": type(e).__name__,
                                                        "message": str(e)}}
            except Exception as e:  # noqa: BLE001 - a broken pool: say so, keep serving
                reply = {"op": cmd.get("op"), "error": {"name": type(e).__name__,
                                                        "message": str(e)[:200]}}
            self._send_msg(json_text({**reply, "_rid": rid}))

        _workers().submit(stack_reply, snap, cmd).add_done_callback(done)


class ServedPage(SimPage):
    """The page as ``dpo-sim serve`` sends it: the same page, whose script and shared data
    come from the server's ``page_script()`` (loaded by the HTML, see app/server.py) rather
    than inside the session's document. Only for that server: a Panel app of one's own (or
    a notebook) uses ``SimPage``, which carries everything itself."""

    _esm = UI / "served_component.js"

    def _data(self, scenarios: dict | None) -> dict:
        if scenarios is None:
            return {"shared": True}         # the rest is globalThis.dpoSimData
        return super()._data(scenarios)


class InOrder:
    """The page's numbered commands (``_seq``: 1, 2, ..., app/ui/channel.js) run in their
    order, each once, whatever order Panel delivers them in; each reply carries its number.
    A command that comes early waits for those before it; one that comes again (the page
    sends a command again when its reply is late) gets the same reply, without running
    twice."""

    KEEP = 64           # replies kept for commands sent again
    MAX_EARLY = 256     # commands kept while one before them is missing

    def __init__(self, session: Session):
        self.session = session
        self.next = 1
        self.early: dict[int, dict] = {}
        self.sent: dict[int, str] = {}

    def take(self, msg: dict) -> list[str]:
        """The replies to send now (none, one, or several in order)."""
        seq = msg.get("_seq")
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
            return [json_text({"op": None, "error": {
                "name": "ValueError", "message": "_seq must be a whole number >= 1"}})]
        if seq < self.next:
            return [self.sent[seq]] if seq in self.sent else []
        if seq not in self.early and len(self.early) < self.MAX_EARLY:
            self.early[seq] = msg
        out = []
        while self.next in self.early:
            cmd = {k: v for k, v in self.early.pop(self.next).items() if k != "_seq"}
            text = answer(self.session, cmd, seq=self.next)
            self.sent[self.next] = text
            self.sent.pop(self.next - self.KEEP, None)
            self.next += 1
            out.append(text)
        return out


def answer(session: Session, msg, seq: int | None = None) -> str:
    """The reply to one command as JSON text (with the command's ``_seq`` if it had one),
    always exactly one: a command that failed unexpectedly (a bug, not a refusal, which
    ``Session.handle`` answers itself) still gets an error reply, and is logged, instead of
    leaving the page waiting for ever."""
    try:
        reply = session.handle(msg)
    except Exception as e:  # noqa: BLE001 - one reply per command, whatever happened
        log.exception("dpo-sim: the command %.200r failed", msg)
        op = msg.get("op") if isinstance(msg, dict) else None
        reply = {"op": op if isinstance(op, str) else None,
                 "error": {"name": type(e).__name__, "message": str(e)[:200]}}
    if seq is not None:
        reply = {**reply, "_seq": seq}
    return json_text(reply)


#: JSON's string literals, so the non-finite numbers outside them can be rewritten.
_STRINGS = re.compile(r'("(?:[^"\\]|\\.)*")')


def _finite(outside: str) -> str:
    """JSON text outside string literals, its non-finite numbers as the page's strings."""
    if "N" in outside:
        outside = outside.replace("NaN", '"__NaN__"')
    if "I" in outside:
        outside = outside.replace("-Infinity", '"__-Inf__"').replace("Infinity", '"__Inf__"')
    return outside


def json_text(reply: dict) -> str:
    """A reply as JSON text. JSON has no NaN or infinity: outside string literals they are
    written as the strings "__NaN__", "__Inf__", "__-Inf__", which the page's reader turns
    back into numbers (app/ui/host_served.js). Without a backslash in the text, every ``"``
    opens or closes a string literal, so a plain split finds them (a reply to ``advance``:
    18 us, where the regular expression took 65 us); with one, the expression does."""
    text = json.dumps(reply, separators=(",", ":"))
    if "\\" not in text:
        parts = text.split('"')
        parts[::2] = map(_finite, parts[::2])            # even parts: outside the literals
        return '"'.join(parts)
    parts = _STRINGS.split(text)
    parts[::2] = map(_finite, parts[::2])
    return "".join(parts)
