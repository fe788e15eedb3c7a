"""What the served page's websocket carries per command (app/server.py's wrappers of Bokeh's
and Panel's server): one reply message, sent as one TCP segment, and no ``OK``.

A client speaks the page's protocol as BokehJS does (benchmarks/_light_client.py describes
it): GET the page, open ``/ws`` with its token, PULL-DOC-REQ, ``document_ready``, then
engine commands as ``data_event`` patches. With TCP_NODELAY, as Chromium sets it. The TCP
segments that carried data to it are read from the kernel (Linux's TCP_INFO,
``tcpi_data_segs_in``): before the wrappers, every command brought six (the reply's three
frames and Bokeh's ``OK``'s three), each its own wake-up of the browser.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import socket
import struct
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

# tcpi_data_segs_in: the u32 at byte 152 of struct tcp_info (Linux 4.6 and later)
DATA_SEGS_IN = 152
COMMANDS = 30


def data_segments_in(sock: socket.socket) -> int:
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    return struct.unpack_from("I", info, DATA_SEGS_IN)[0]


def _event(name: str, values: dict | None = None) -> dict:
    return {"kind": "MessageSent", "msg_type": "bokeh_event",
            "msg_data": {"type": "event", "name": name, "values": values or {"type": "map"}}}


async def _session(url: str) -> dict:
    from tornado.httpclient import AsyncHTTPClient
    from tornado.websocket import websocket_connect

    page = (await AsyncHTTPClient().fetch(url + "?scenario=align", request_timeout=60)).body
    token = re.search(r'"token":"([^"]+)"', page.decode()).group(1)
    ws = await websocket_connect(url.replace("http://", "ws://") + "ws",
                                 subprotocols=["bokeh", token], connect_timeout=60)
    ws.stream.set_nodelay(True)

    async def send(msgtype: str, content: dict) -> None:
        header = {"msgid": uuid.uuid4().hex, "msgtype": msgtype}
        for frame in (json.dumps(header), "{}", json.dumps(content)):
            await ws.write_message(frame)

    async def receive() -> tuple[str, str]:
        header = json.loads(await asyncio.wait_for(ws.read_message(), 30))
        await ws.read_message()                                   # metadata
        content = await ws.read_message()
        for _ in range(2 * header.get("num_buffers", 0)):
            await ws.read_message()
        return header["msgtype"], content

    async def command(model: str, cmd: dict) -> None:
        data = {"type": "map", "entries": [[k, v] for k, v in cmd.items()]}
        await send("PATCH-DOC", {"events": [_event("data_event", {"type": "map", "entries": [
            ["model", {"id": model}], ["data", data]]})]})

    async def reply() -> tuple[list[str], str]:
        """Every message up to the next reply of the engine: (their types, the reply)."""
        seen = []
        while True:
            kind, content = await receive()
            seen.append(kind)
            if kind == "PATCH-DOC" and '"esm_event"' in content:
                return seen, content

    assert (await receive())[0] == "ACK"
    await send("PULL-DOC-REQ", {})
    kind, doc = await receive()
    assert kind == "PULL-DOC-REPLY"
    model = re.search(r'"name":"panel\.models\.esm\.ReactiveESM","id":"([^"]+)"', doc).group(1)
    await send("PATCH-DOC", {"events": [_event("document_ready")]})
    await command(model, {"op": "load", "scenario": "align"})
    seen, _ = await reply()
    await asyncio.sleep(0.3)                  # the page's own start-up messages, if any

    sock = ws.stream.socket
    segs0 = data_segments_in(sock)
    kinds, replies = [], []
    for _ in range(COMMANDS):                 # one at a time: each reply alone on the wire
        await command(model, {"op": "advance", "n": 1})
        seen, text = await reply()
        kinds += seen
        replies.append(text)
    await asyncio.sleep(0.3)                  # anything sent after the last reply
    segs = data_segments_in(sock) - segs0
    ws.close()
    return {"kinds": kinds, "replies": replies, "segments": segs, "load": seen}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="TCP_INFO and TCP_CORK: Linux")
def test_a_command_gets_one_reply_in_one_segment_and_no_ok(server):
    # in a thread of its own: Playwright's sync API (the browser fixture, if this worker
    # has started it) keeps an event loop running in this one
    with ThreadPoolExecutor(1) as pool:
        got = pool.submit(asyncio.run, _session(server.url)).result()
    # exactly one message per command, the engine's reply (no OK from Bokeh before it)
    assert got["kinds"] == ["PATCH-DOC"] * COMMANDS, got["kinds"][:12]
    steps = [int(m.group(1)) for r in got["replies"]
             if (m := re.search(r'\\"t\\":(\d+)', r))]
    assert steps == list(range(1, COMMANDS + 1))
    # each reply one TCP segment (three websocket frames, corked); before: six per command
    assert COMMANDS <= got["segments"] <= COMMANDS + 2, got["segments"]


def test_only_a_patch_goes_unacknowledged():
    from bokeh.protocol import Protocol
    from bokeh.server.connection import ServerConnection

    from dpo_sim.app.server import skip_patch_acknowledgements

    skip_patch_acknowledgements()
    skip_patch_acknowledgements()                       # once is enough; twice changes nothing
    protocol = Protocol()
    conn = ServerConnection(protocol, None, None, SimpleNamespace(subscribe=lambda c: None))
    patch = protocol.assemble('{"msgid":"1","msgtype":"PATCH-DOC"}', "{}",
                              json.dumps({"events": [_event("document_ready")]}))
    assert conn.ok(patch) is None
    request = protocol.create("SERVER-INFO-REQ")
    ok = conn.ok(request)
    assert ok.msgtype == "OK" and ok.header["reqid"] == request.header["msgid"]
    assert conn.error(patch, "bad").msgtype == "ERROR"


def test_one_segment_wraps_panel_once():
    import panel.io.document as panel_document

    from dpo_sim.app.server import one_segment_messages

    one_segment_messages()
    wrapped = panel_document.dispatch_tornado
    one_segment_messages()
    assert panel_document.dispatch_tornado is wrapped
    assert getattr(wrapped, "_dpo_one_segment", False) == hasattr(socket, "TCP_CORK")


_REVIVE = {"__NaN__": math.nan, "__Inf__": math.inf, "__-Inf__": -math.inf}
_values = st.recursive(
    st.floats(allow_nan=True, allow_infinity=True) | st.integers() | st.none() | st.booleans()
    | st.text().filter(lambda t: t not in _REVIVE)
    | st.sampled_from(["NaN", "-Infinity", 'a "NaN" b', "x\\Infinity", "é NaN"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                 max_size=4),
    max_leaves=20)


def _same(a, b) -> bool:
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(_same, a, b))
    return a == b and type(a) is type(b)


@given(st.dictionaries(st.text(max_size=6), _values, max_size=5))
def test_json_text_reads_back_as_the_page_reads_it(reply):
    """The page's reader (app/ui/host_served.js) turns the three strings back into numbers;
    a text that merely says "NaN" stays text (here a reply never holds those three strings
    as text: the protocol's texts are sentences and names)."""
    from dpo_sim.app.page import json_text

    text = json_text(reply)

    def revive(v):
        if isinstance(v, str):
            return _REVIVE.get(v, v)
        if isinstance(v, list):
            return [revive(x) for x in v]
        if isinstance(v, dict):
            return {k: revive(x) for k, x in v.items()}
        return v

    assert _same(reply, revive(json.loads(text)))
