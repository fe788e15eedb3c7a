"""A light client for `dpo-sim serve`: it speaks Bokeh's websocket protocol as the page does,
without drawing anything, so a benchmark can open a hundred sessions on the server's own
machine and measure the server rather than a hundred browsers.

What it does, taken from the frames a Chromium page sends (captured with Playwright):
- GET the page (the server makes the session and puts its token in the HTML);
- open ``/ws`` with the subprotocols ``bokeh`` and the token; on the server's ACK send
  PULL-DOC-REQ; from the document find the page's keyboard component and send what the
  browser sends when it is drawn: ``document_ready``, then ``{key: "hello", width, dark}``
  (the server builds the views for that screen then);
- in every PATCH-DOC, read the step readout (``data-testid="step" data-value=N``) and the
  frame number (``seq``), and acknowledge each frame as the page does after drawing it
  (``{ack: seq}`` to the flow-control component), after ``draw_ms``, a display's frame;
- ``flip(i)`` sends ``{flip: i}`` to the rows' component, as a click on Flip does, and
  times the server's answer: the first message that carries the log line of that flip.

It parses a message's JSON only until it has found those three components (the first
two or three messages); afterwards it searches the raw text.
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
STEP = re.compile(r'data-testid=\\"step\\" data-value=\\"(\d+)')
SEQ = re.compile(r'"attr":"seq","new":(\d+)')
MARKS = {"keys": 'key: "hello"', "ack": "ack: seq", "pairs": "send({ flip: i })"}


def _find(node, found: dict) -> None:
    """The ids of the ReactiveESM models whose code holds each mark (first match)."""
    if isinstance(node, dict):
        esm = node.get("attributes", {}).get("esm") if "attributes" in node else None
        if isinstance(esm, str) and node.get("name", "").endswith("ReactiveESM"):
            for k, mark in MARKS.items():
                if k not in found and mark in esm:
                    found[k] = node["id"]
                    data = node["attributes"].get("data")
                    if k == "ack" and isinstance(data, dict):
                        found["seq"] = data.get("attributes", {}).get("seq", 0)
        for v in node.values():
            _find(v, found)
    elif isinstance(node, list):
        for v in node:
            _find(v, found)


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

    def __init__(self, base: str, query: str = "", width: int = 1280, draw_ms: float = 16.0):
        self.base = base.rstrip("/") + "/"
        self.query = query
        self.width = width
        self.draw_ms = draw_ms
        self.ids: dict[str, str] = {}
        self.step: int | None = None
        self.frames = 0
        self.t_open: float | None = None
        self.opened = asyncio.Event()
        self.bytes = 0
        self._flip_wait: tuple[str, float, asyncio.Future] | None = None
        self._ws = None
        self._lock = asyncio.Lock()       # a message's three frames go out together
        self._reader: asyncio.Task | None = None

    async def open(self) -> None:
        t0 = time.monotonic()
        r = await AsyncHTTPClient().fetch(self.base + self.query, request_timeout=600)
        token = TOKEN.search(r.body.decode()).group(1)
        ws_url = self.base.replace("http://", "ws://") + "ws"
        self._ws = await websocket_connect(ws_url, subprotocols=["bokeh", token],
                                           max_message_size=256 * 1024 * 1024,
                                           connect_timeout=600)
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
            elif kind in ("PULL-DOC-REPLY", "PATCH-DOC"):
                await self._on_content(kind, content)

    async def _on_content(self, kind: str, text: str) -> None:
        if len(self.ids) < len(MARKS) and "ReactiveESM" in text:
            had_ack = "ack" in self.ids
            _find(json.loads(text), self.ids)
            if "ack" in self.ids and not had_ack:     # drawn: the page acks what it shows
                self._ack(self.ids.pop("seq", 0))
            if kind == "PULL-DOC-REPLY":
                await self._patch(_event("document_ready"))
                await self._patch(_data_event(self.ids["keys"], {
                    "key": "hello", "width": self.width, "dark": False}))
        steps = STEP.findall(text)
        if steps:
            self.step = int(steps[-1])
            self.opened.set()
        if self._flip_wait and self._flip_wait[0] in text:
            _, t0, fut = self._flip_wait
            self._flip_wait = None
            fut.set_result(time.monotonic() - t0)
        seqs = SEQ.findall(text)
        if seqs and "ack" in self.ids:
            self.frames += 1
            seq = int(seqs[-1])
            asyncio.get_running_loop().call_later(self.draw_ms / 1000, self._ack, seq)

    def _ack(self, seq: int) -> None:
        asyncio.ensure_future(self._send_ack(seq))

    async def _send_ack(self, seq: int) -> None:
        with contextlib.suppress(WebSocketClosedError):   # closed: nothing to acknowledge
            await self._patch(_data_event(self.ids["ack"], {"ack": seq}))

    async def click(self, model_key: str, data: dict) -> None:
        await self._patch(_data_event(self.ids[model_key], data))

    async def flip(self, i: int) -> float:
        """Seconds from sending a flip of row i to the update that logs it."""
        fut = asyncio.get_running_loop().create_future()
        self._flip_wait = (f"flip row {i} (", time.monotonic(), fut)
        await self.click("pairs", {"flip": i})
        return await asyncio.wait_for(fut, 60)

    async def close(self) -> None:
        if self._ws is not None:
            self._ws.close()
        if self._reader is not None:
            with contextlib.suppress(Exception):        # closing anyway
                await asyncio.wait_for(self._reader, 5)


def query(**params) -> str:
    return "?" + urllib.parse.urlencode(params) if params else ""
