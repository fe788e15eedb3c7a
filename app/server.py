"""Serve the dashboard: one fresh Dashboard per browser session, all resources local.

Websocket origins: Bokeh refuses the page's websocket unless the address the *browser*
used (host[:port]) is allowed. The page's own addresses on this machine are always
allowed; ``--allow-websocket-origin`` adds more (the name students type, a proxy's
public host) instead of replacing them, so adding one never breaks the page at its own
address. An iframe does not need one: its websocket's Origin is the app's own address,
not the embedding page's.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import json
import logging
import os
import resource
import socket

import panel as pn
from tornado.iostream import StreamClosedError
from tornado.web import RequestHandler
from tornado.websocket import WebSocketClosedError

from . import page
from .dashboard import TITLE, create_dashboard
from .errors import UsageError
from .katex_assets import STATIC_DIR, STATIC_ROUTE

#: Listening on every interface: the names the machine itself answers to are allowed.
ALL_INTERFACES = ("0.0.0.0", "::", "")
#: A session whose page has gone (tab closed, connection dropped) is destroyed after this
#: long without a connection (Bokeh's unused-session settings): its play loop stops and
#: its memory is freed. It also bounds how long a page may take from its HTML to its
#: websocket (a session made by the HTML request and destroyed before the websocket comes
#: makes Bokeh fail that page), so it must outlast a slow page load on a busy server.
UNUSED_SESSION_MS = int(os.environ.get("DPO_SIM_UNUSED_SESSION_MS", "20000"))
CHECK_UNUSED_MS = int(os.environ.get("DPO_SIM_CHECK_UNUSED_MS", "5000"))
#: The server's status (JSON): this process's live sessions and memory, for the load
#: benchmark and the tests (``GET /dpo-sim-status``).
STATUS_ROUTE = "/dpo-sim-status"
#: The whole simulator as one file (``dpo-sim export``), every preset, served as it is:
#: each browser runs its own run, so a page costs the server one file and nothing after.
OFFLINE_ROUTE = "/offline"


def _session():
    panel_assets_from_this_server()
    return create_dashboard()


def panel_assets_from_this_server() -> None:
    """Panel's stylesheets (``css/loading.css``, the theme's ``bundled/theme/default.css`` and
    ``native.css``) from this server, in every session, whichever process made it.

    Panel writes these URLs into the models as it builds them, from the session document's
    template variable ``dist_url``; without one it uses its CDN
    (``https://cdn.holoviz.org/panel/<version>/dist/``). Panel sets ``dist_url`` (to
    ``static/extensions/panel/``) only when it renders a page's HTML
    (``panel.io.server.server_html_page_for_session``), and rewrites the models' URLs then.
    With several processes the page's websocket often goes to another process than its
    HTML (the kernel hands each connection to one of them); Bokeh then builds a fresh
    session there from the page's session id (``create_session_if_needed``), one whose
    HTML was never rendered, so every URL kept Panel's CDN: measured, 6 of 12 pages with
    ``--num-procs 2`` asked cdn.holoviz.org for those three files, 0 of 12 after this.

    No Panel or Bokeh setting governs it (``BOKEH_RESOURCES`` is already "server"; the URLs
    come from the document, not the resource mode), so the session sets the variable itself
    before its views are built: Bokeh's ``Document.template_variables`` is public; the key
    ``dist_url`` is Panel's own, and its value is what Panel would set there
    (``panel.io.resources.get_dist_path``: the local path in "server" mode, under the
    app's relative path if any)."""
    from panel.io.resources import get_dist_path

    doc = pn.state.curdoc
    if doc is not None:
        doc.template_variables["dist_url"] = get_dist_path()


class PageScriptHandler(RequestHandler):
    """The page's script (``app/page.py`` ``page_script``). Asked for with its version, it may
    be kept for good (a new version has a new address); without, it is checked each time."""

    def get(self):
        raw, version = page.page_script()
        self.set_header("Content-Type", "text/javascript; charset=utf-8")
        if self.get_argument("v", None) == version:
            self.set_header("Cache-Control", "public, max-age=31536000, immutable")
        else:
            self.set_header("Cache-Control", "no-cache")
        self.write(raw)


def load_page_script() -> None:
    """Every page of this server loads the page's script from its HTML, next to Bokeh's own
    (Panel's ``config.js_files``, a public setting), and gets the light ``ServedPage``."""
    pn.config.js_files = {**pn.config.js_files, page.SCRIPT_KEY: page.page_script_url()}
    # Nor does the page need Panel's browser info (dark mode, time zone, WebGL, ...; the page
    # reads the system's theme itself): seven messages from every page as it opens.
    pn.config.browser_info = False


class StatusHandler(RequestHandler):
    """``{"pid", "sessions", "rss_bytes", "max_rss_bytes"}`` of the process that answers
    (with several processes, each request goes to one of them). ``self.application`` is
    Bokeh's tornado application, which holds every session of this process."""

    def get(self):
        sessions = sum(len(ctx.sessions) for ctx in self.application.applications.values())
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.write(json.dumps({"pid": os.getpid(), "sessions": sessions,
                               "rss_bytes": _rss_bytes(),
                               "max_rss_bytes": resource.getrusage(
                                   resource.RUSAGE_SELF).ru_maxrss * 1024}))


class OfflineHandler(RequestHandler):
    """The offline file (app/interactive.py) with every preset, built once per process."""

    _page: bytes | None = None

    def get(self):
        cls = type(self)
        if cls._page is None:
            from ..sim.scenario_io import list_presets, load_scenario
            from .interactive import interactive_html

            scenarios = [load_scenario(pid) for pid, _, err in list_presets() if err is None]
            cls._page = interactive_html(scenarios).encode("utf-8")
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "public, max-age=300")
        self.write(cls._page)


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


class _ClosedBeforeAttached(logging.Filter):
    """Drops tornado's "Uncaught exception GET /ws" for one known race: a websocket that
    closes before Bokeh has attached its session (a tab closed while it was still
    connecting) fails Bokeh's ``assert self._session is not None`` in ``on_close``. The
    unattached session is destroyed unused like any other; nothing is lost."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info
        if not exc or exc[0] is not AssertionError or exc[2] is None:
            return True
        tb = exc[2]
        while tb.tb_next is not None:
            tb = tb.tb_next
        code = tb.tb_frame.f_code
        return not (code.co_name == "session"
                    and code.co_filename.endswith(os.path.join("bokeh", "server",
                                                               "connection.py")))


def _quiet_closed_connections(loop: asyncio.AbstractEventLoop) -> None:
    """A tab closed (or a connection dropped) while an update was on its way is normal:
    tornado then reports the unsent message's future as "Task exception was never
    retrieved" with a WebSocketClosedError traceback, and Bokeh warns "Failed sending
    message". Neither says anything an operator can act on, so neither is logged;
    everything else still is."""
    def handler(loop, context):
        exc = context.get("exception")
        if isinstance(exc, (WebSocketClosedError, StreamClosedError)):
            return
        loop.default_exception_handler(context)
    loop.set_exception_handler(handler)
    logging.getLogger("bokeh.server.views.ws").setLevel(logging.ERROR)
    logging.getLogger("tornado.application").addFilter(_ClosedBeforeAttached())


def _exit_with_parent() -> None:
    """A forked worker ends when the process that started it ends. Tornado's parent
    process only waits for its workers; stopped by a signal (``kill``, a service manager
    stopping the parent), it would leave them serving on their own, found by the test
    suite as stray servers. Linux's parent-death signal stops them with it."""
    import ctypes
    import signal

    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)          # PR_SET_PDEATHSIG
    except (OSError, AttributeError):                  # not Linux: nothing to ask for
        return
    if os.getppid() != parent:                         # the parent went before that
        os._exit(0)


def skip_bokeh_diagnostics() -> None:
    """Bokeh's "did you mean" suggestions for an unknown attribute run difflib over the
    model's properties; Panel looks up an attribute a JSComponent's model does not have
    on every change of the component (and catches the error), so served, that spelling
    aid was 16 % of the server's CPU per screen update (cProfile of the play loop). The
    server never shows it to anyone, so it is switched off for the server's process."""
    from bokeh.settings import settings

    settings.perform_error_diagnostics.set_value(False)


def websocket_nodelay() -> None:
    """Send each websocket message at once (TCP_NODELAY). Bokeh writes a message as several
    websocket frames (header, metadata, content); with Nagle's algorithm on, the later
    frames wait for the client's delayed acknowledgement, about 40 ms, so every reply to the
    page took 55-80 ms on one machine (measured, tests of benchmarks/bench_page.py). Neither
    Bokeh nor Panel offers a setting for it, so the server's websocket handler
    (``bokeh.server.views.ws.WSHandler``, a private class) asks for it when a page connects.
    This and the two wrappers below are where the server reaches into Bokeh's and Panel's
    internals (tests/test_serve_wire.py checks what they change on the wire)."""
    from bokeh.server.views.ws import WSHandler

    if getattr(WSHandler, "_dpo_nodelay", False):
        return
    opened = WSHandler.open

    def open_nodelay(self, *args, **kwargs):
        self.set_nodelay(True)
        return opened(self, *args, **kwargs)

    WSHandler.open = open_nodelay
    WSHandler._dpo_nodelay = True


def skip_patch_acknowledgements() -> None:
    """No ``OK`` reply to a page's ``PATCH-DOC``. Bokeh's server acknowledges every patch a
    page sends (a command is one), a message of three websocket frames that BokehJS only
    logs at trace level (``ClientSession._handle_ok``: its patches are sent with ``send``,
    not ``send_with_reply``) and Bokeh's Python client does not wait for either. Writing it
    held Bokeh's write lock over three awaited writes, during which Panel queued the next
    reply (``panel.io.document.unlocked``) for a later turn of the event loop. Bokeh has no
    setting for it, so ``ServerConnection.ok`` (private) returns no message for a patch;
    every other request (``PULL-DOC-REQ``, ``PUSH-DOC``, ``SERVER-INFO-REQ``) and every
    ``ERROR`` reply is answered as before."""
    from bokeh.server.connection import ServerConnection

    if getattr(ServerConnection, "_dpo_no_patch_ok", False):
        return
    ok = ServerConnection.ok

    def ok_unless_patch(self, message):
        if message.msgtype == "PATCH-DOC":
            return None
        return ok(self, message)

    ServerConnection.ok = ok_unless_patch
    ServerConnection._dpo_no_patch_ok = True


def one_segment_messages() -> None:
    """Panel writes each message to a page as three websocket frames (header, metadata,
    content) in three writes (``panel.io.document.dispatch_tornado``, private); with
    TCP_NODELAY (``websocket_nodelay``) each went out as its own TCP segment, three wake-ups
    of the browser's network process for one reply. Corking the socket (Linux's TCP_CORK)
    around those writes sends them as one segment when it is uncorked at the end of the
    same call: the bytes and their order are unchanged, and nothing waits. Panel offers no
    hook for its writes, so its module function is wrapped; without TCP_CORK (not Linux),
    nothing changes."""
    import panel.io.document as panel_document

    cork = getattr(socket, "TCP_CORK", None)
    dispatch = panel_document.dispatch_tornado
    if cork is None or getattr(dispatch, "_dpo_one_segment", False):
        return

    def dispatch_one_segment(conn, events=None, msg=None):
        stream = getattr(getattr(conn._socket, "ws_connection", None), "stream", None)
        sock = getattr(stream, "socket", None)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, cork, 1)
        except (AttributeError, OSError):        # closed, or not a TCP socket
            return dispatch(conn, events, msg)
        try:
            return dispatch(conn, events, msg)
        finally:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, cork, 0)

    dispatch_one_segment._dpo_one_segment = True
    panel_document.dispatch_tornado = dispatch_one_segment


def _machine_names() -> list[str]:
    """This machine's host name, full name and addresses (what students may type)."""
    names = []
    try:
        host = socket.gethostname()
        names += [host, socket.getfqdn()]
        names += socket.gethostbyname_ex(host)[2]
    except OSError:
        pass
    return names


def websocket_origins(address: str, port: int, extra: list[str] | None = None) -> list[str]:
    """The origins allowed to open the page's websocket: the page's own addresses first,
    then ``extra`` as given. Bokeh compares the browser's Origin host (with ":80" added
    when it has no port, even for https) to these patterns, and a pattern without a port
    matches any port: so give a proxy's public name alone (``course.example.org``)."""
    hosts = ["localhost", "127.0.0.1"]
    if address in ALL_INTERFACES:
        hosts += _machine_names()
    elif address not in hosts:
        hosts.insert(0, address)
    out = [f"{h}:{port}" for h in hosts]
    for o in extra or []:
        o = o.strip()
        if o and o not in out:
            out.append(o)
    return list(dict.fromkeys(out))


def normalize_prefix(prefix: str | None) -> str:
    """"dpo", "/dpo/" -> "/dpo"; "" or "/" -> "" (served at the root)."""
    p = (prefix or "").strip().strip("/")
    return f"/{p}" if p else ""


def check_can_listen(address: str, port: int) -> None:
    """Bind (address, port) once and let go, so a port in use, a privileged port or an
    address that is not this machine's (or is a broadcast or multicast one, which the system
    would let a server bind) is a one-line UsageError before the server starts, not a
    traceback from inside it. (SO_REUSEADDR, as the server itself binds.)"""
    try:
        infos = socket.getaddrinfo(address or None, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError):
        hint = _address_hint(address or "")
        raise UsageError("--address", f"must be an address of this machine (such as "
                                      f"127.0.0.1 or 0.0.0.0) or a name it can look up"
                                      f"{hint}, got {address!r}") from None
    host = address or "0.0.0.0"
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    for family, kind, proto, _, sockaddr in dict.fromkeys(infos):
        if _not_one_machine(sockaddr[0]):
            raise UsageError("--address", f"{address!r} is a broadcast or multicast address, "
                                          f"not an address of this machine")
        s = socket.socket(family, kind, proto)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(sockaddr)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                other = port + 1 if port < 65535 else 5006
                raise UsageError("--port", f"{port} is already in use on {host}; choose "
                                           f"another, e.g. --port {other}") from None
            if e.errno == errno.EACCES:
                raise UsageError("--port", f"{port} needs administrator rights (ports below "
                                           f"1024); choose 1024 or above") from None
            if e.errno == errno.EADDRNOTAVAIL:
                raise UsageError("--address", f"{address!r} is not an address of this "
                                              f"machine") from None
            raise UsageError("--address", f"cannot listen on {where} ({e.strerror})") from None
        finally:
            s.close()


def _not_one_machine(host: str) -> bool:
    """A multicast or the broadcast address: the system lets a server bind it, but no
    browser can reach the page there."""
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return ip.is_multicast or ip == ipaddress.IPv4Address("255.255.255.255")


def _address_hint(address: str) -> str:
    if "/" in address:
        return " (no http:// and no path)"
    host, colon, port = address.rpartition(":")
    if colon and port.isdigit() and host.count(":") == 0:
        return f" (give the port with --port {port})"
    return ""


def serve(port: int = 5006, address: str = "127.0.0.1",
          allow_websocket_origin: list[str] | None = None, open_browser: bool = True,
          prefix: str | None = None, use_xheaders: bool = False, num_procs: int = 1) -> None:
    """Start the Panel server (blocking). Bokeh and Panel assets come from this server
    (``/static``, under ``prefix`` if given), and so does KaTeX (``/dpo-sim-static``, the
    package's ``app/static``), so the page makes no request to any other host.
    ``prefix``: serve under a path (``/dpo`` -> ``http://host/dpo/``), for a reverse
    proxy that forwards that path unchanged. ``use_xheaders``: trust the proxy's
    X-Forwarded-For / X-Real-Ip / X-Forwarded-Proto / X-Scheme headers (client address and
    http/https in the server's logs and redirects). ``num_procs``: how many processes
    share the port (0: one per core); the kernel hands each connection to one of them, so
    a page's websocket may reach another process than its HTML did: that process then
    builds the page's session itself (Bokeh), which lives there whole, and the session
    made for the HTML goes unused and is destroyed (``UNUSED_SESSION_MS``)."""
    from tornado.process import cpu_count, task_id

    kwargs = {}
    p = normalize_prefix(prefix)
    if p:
        kwargs["prefix"] = p
    if use_xheaders:
        kwargs["use_xheaders"] = True
    check_can_listen(address, port)
    origins = websocket_origins(address, port, allow_websocket_origin)
    procs = num_procs or cpu_count()
    print(f"dpo-sim: pages may connect from {', '.join(origins)} "
          "(add more with --allow-websocket-origin)"
          + (f"; {procs} processes" if procs > 1 else ""), flush=True)
    websocket_nodelay()
    skip_patch_acknowledgements()
    one_segment_messages()
    load_page_script()
    server = pn.serve(
        _session,            # a function: each session builds its own state and views
        port=port,
        address=address,
        websocket_origin=origins,
        show=False,
        title=TITLE,
        start=False,
        # the package's own static files (KaTeX for the formulas), under the prefix too
        static_dirs={STATIC_ROUTE: str(STATIC_DIR)},
        num_procs=procs,
        check_unused_sessions_milliseconds=CHECK_UNUSED_MS,
        unused_session_lifetime_milliseconds=UNUSED_SESSION_MS,
        extra_patterns=[(STATUS_ROUTE, StatusHandler), (OFFLINE_ROUTE, OfflineHandler),
                        (page.PAGE_SCRIPT_ROUTE, PageScriptHandler)],
        **kwargs,
    )
    # from here on this is one of the processes (the fork happened inside)
    if task_id() is not None:
        _exit_with_parent()
    _quiet_closed_connections(server.io_loop.asyncio_loop)
    skip_bokeh_diagnostics()
    if open_browser and task_id() in (None, 0):      # one tab, however many processes
        server.io_loop.add_callback(server.show, "/")
    server.start()
    server.io_loop.start()
