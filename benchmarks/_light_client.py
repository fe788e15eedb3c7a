"""A light client for `dpo-sim serve`: it speaks the served page's protocol as the page does,
without drawing anything, so a benchmark can open a hundred sessions on the server's own
machine and measure the server rather than a hundred browsers.

The served page is one Panel JSComponent (app/page.py); its script sends engine commands
(`sim/protocol.py`) as Bokeh `data_event`s (`model.send_msg(cmd)`) and the server answers
each with one `esm_event` (`_send_msg(reply)`), in order (docs/ui.md, "The engine
protocol"). What this client does, taken from the frames a Chromium page sends (captured
with Playwright):

- GET the page (the server makes the session and puts its token in the HTML);
- open ``/ws`` with the subprotocols ``bokeh`` and the token; on the server's ACK send
  PULL-DOC-REQ; in the document find the page's component (the root ``ReactiveESM``);
  send ``document_ready`` and then ``{op: "load", scenario}`` as the page does when drawn;
  it is open when the reply (step 0) arrives;
- playing, the page's controller (app/ui/controller.js ``frame``) runs once per animation
  frame: the steps due at ``speed`` since the last frame (at most speed/2 at once), sent as
  ``{op: "advance", n}`` while fewer than two advances are in flight; each reply is one
  screen update. Here ``frame(now)`` does the same, called by the benchmark's one 60 Hz
  ticker for every session;
- ``flip(i)`` sends ``{op: "flip", row: i}`` as a click on Flip does, and times it to its
  reply (replies come in command order).

It parses only the reply's step (``state.t``) with a regular expression, not the JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
import urllib.parse
import uuid

from tornado.httpclient import AsyncHTTPClient
from tornado.websocket import WebSocketClosedError, websocket_connect

TOKEN = re.compile(r'"token":"([^"]+)"')
# state.t: as a Bokeh map entry (["t",N]) or inside a reply sent as a JSON string (\"t\":N)
STEP = re.compile(r'\["t",(\d+)\]|\\"t\\":(\d+)')
ROOT_ESM = re.compile(r'"name":"panel\.models\.esm\.ReactiveESM","id":"([^"]+)"')


def _event(name: str, values: dict | None = None) -> dict:
    return {"kind": "MessageSent", "msg_type": "bokeh_event",
            "msg_data": {"type": "event", "name": name,
                         "values": values or {"type": "map"}}}


def _data_event(model: str, data: dict) -> dict:
    entries = [[k, v] for k, v in data.items()]
    return _event("data_event", {"type": "map", "entries": [
        ["model", {"id": model}], ["data", {"type": "map", "entries": entries}]]})


class LightSession:
    """One page's worth of protocol, no drawing. ``steps`` / ``frames`` count what came."""

    def __init__(self, base: str, query: str = "", scenario: str = "align", speed: int = 20):
        self.base = base.rstrip("/") + "/"
        self.query = query
        self.scenario = scenario
        self.speed = speed
        self.model: str | None = None
        self.step: int | None = None
        self.frames = 0                     # replies to advance: screen updates
        self.t_open: float | None = None
        self.opened = asyncio.Event()
        self.bytes = 0
        self.playing = False
        self._due = 0.0
        self._last: float | None = None
        self._advancing = 0
        self._waiting: list = []            # callbacks for the replies, first in first out
        self._seq = 0
        self._ws = None
        self._lock = asyncio.Lock()         # a message's three frames go out together
        self._reader: asyncio.Task | None = None

    async def open(self) -> None:
        t0 = time.monotonic()
        r = await AsyncHTTPClient().fetch(self.base + self.query, request_timeout=600)
        token = TOKEN.search(r.body.decode()).group(1)
        ws_url = self.base.replace("http://", "ws://") + "ws"
        self._ws = await websocket_connect(ws_url, subprotocols=["bokeh", token],
                                           max_message_size=256 * 1024 * 1024,
                                           connect_timeout=600)
        # as Chromium does: without it, Nagle's algorithm held each command's second and
        # third frames for the server's delayed ACK (22 instead of 45 replies/s at speed 60)
        self._ws.stream.set_nodelay(True)
        self._reader = asyncio.ensure_future(self._read())
        await self.opened.wait()
        self.t_open = time.monotonic() - t0

    async def _send(self, msgtype: str, content: dict) -> None:
        header = {"msgid": uuid.uuid4().hex, "msgtype": msgtype}
        async with self._lock:
            for frame in (json.dumps(header), "{}", json.dumps(content)):
                await self._ws.write_message(frame)

    async def _patch(self, *events: dict) -> None:
        await self._send("PATCH-DOC", {"events": list(events)})

    async def _read(self) -> None:
        while True:
            header = await self._ws.read_message()
            if header is None:
                return
            h = json.loads(header)
            await self._ws.read_message()                        # metadata
            content = await self._ws.read_message()
            for _ in range(2 * h.get("num_buffers", 0)):         # buffer header, payload
                b = await self._ws.read_message()
                self.bytes += len(b)
            self.bytes += len(content)
            kind = h["msgtype"]
            if kind == "ACK":
                await self._send("PULL-DOC-REQ", {})
            elif kind == "PULL-DOC-REPLY":
                self.model = ROOT_ESM.search(content).group(1)
                await self._patch(_event("document_ready"))
                self.command({"op": "load", "scenario": self.scenario}, self._loaded)
            elif kind == "PATCH-DOC" and '"esm_event"' in content:
                self._on_reply(content)

    def _loaded(self, text: str) -> None:
        self.opened.set()

    def _on_reply(self, text: str) -> None:
        m = STEP.search(text)
        if m:
            self.step = int(m.group(1) or m.group(2))
        cb = self._waiting.pop(0) if self._waiting else None
        if cb:
            cb(text)

    def command(self, cmd: dict, on_reply=None) -> None:
        """Send one engine command, numbered as the page numbers them (``_seq``,
        app/ui/channel.js); ``on_reply(raw text)`` when its reply comes (the server answers
        numbered commands in their order)."""
        self._seq += 1
        self._waiting.append(on_reply)
        asyncio.ensure_future(self._send_cmd({**cmd, "_seq": self._seq}))

    async def _send_cmd(self, cmd: dict) -> None:
        with contextlib.suppress(WebSocketClosedError):   # closed: nothing to send
            await self._patch(_data_event(self.model, cmd))

    # -- playing, as app/ui/controller.js's frame() ----------------------------------------
    def play(self) -> None:
        self.playing, self._due, self._last = True, 0.0, None

    def pause(self) -> None:
        self.playing = False

    def frame(self, now: float) -> None:
        """One animation frame (`now` in seconds)."""
        if not self.playing:
            return
        if self._last is None:
            n = 1
        else:
            self._due = min(self._due + self.speed * (now - self._last),
                            max(1, self.speed / 2))
            n = int(self._due)
        self._last = now
        if n > 0 and self._advancing < 2:
            self._due -= n
            self._advancing += 1
            self.command({"op": "advance", "n": n}, self._advanced)

    def _advanced(self, text: str) -> None:
        self._advancing -= 1
        self.frames += 1

    async def flip(self, i: int) -> float:
        """Seconds from sending a flip of row i to its reply."""
        fut = asyncio.get_running_loop().create_future()
        t0 = time.monotonic()
        self.command({"op": "flip", "row": i},
                     lambda text: fut.done() or fut.set_result(time.monotonic() - t0))
        return await asyncio.wait_for(fut, 60)

    async def close(self) -> None:
        self.playing = False
        if self._ws is not None:
            self._ws.close()
        if self._reader is not None:
            with contextlib.suppress(Exception):        # closing anyway
                await asyncio.wait_for(self._reader, 5)


def query(**params) -> str:
    return "?" + urllib.parse.urlencode(params) if params else ""
