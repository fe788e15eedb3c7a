"""`dpo-sim serve` options for a course: websocket origins are added to the page's own
addresses (never replace them), --prefix and --use-xheaders reach the Bokeh server."""

from __future__ import annotations

import socket

import pytest

import dpo_sim.app.server as server
from dpo_sim.app.cli import main
from helpers import FakePanelServer


def test_prefix_and_xheaders_pass_through_the_cli(fake_server):
    assert main(["serve", "--no-browser", "--prefix", "/dpo", "--use-xheaders"]) == 0
    kw = fake_server[-1]
    assert kw["prefix"] == "/dpo" and kw["use_xheaders"] is True
    assert main(["serve", "--no-browser"]) == 0
    assert "prefix" not in fake_server[-1] and "use_xheaders" not in fake_server[-1]


@pytest.fixture
def pn_serve(monkeypatch):

    # serve() sets these for its process; here they go back after the test
    monkeypatch.setattr(server.pn.config, "js_files", dict(server.pn.config.js_files))
    monkeypatch.setattr(server.pn.config, "browser_info", server.pn.config.browser_info)
    calls = []
    monkeypatch.setattr(server.pn, "serve",
                        lambda panel, **kw: calls.append((panel, kw)) or FakePanelServer())
    return calls


def test_serve_hands_pn_serve_a_session_function_and_the_options(pn_serve):
    server.serve(port=7101, open_browser=False, prefix="dpo/", use_xheaders=True,
                 allow_websocket_origin=["course.example.org"])
    panel, kw = pn_serve[-1]
    assert callable(panel) and kw["port"] == 7101 and kw["show"] is False
    assert kw["prefix"] == "/dpo" and kw["use_xheaders"] is True
    assert kw["websocket_origin"][:2] == ["localhost:7101", "127.0.0.1:7101"]
    assert kw["websocket_origin"][-1] == "course.example.org"
    server.serve(port=7102, open_browser=False)
    _, kw = pn_serve[-1]
    assert "prefix" not in kw and "use_xheaders" not in kw


def test_allowed_origins_are_added_to_the_pages_own_addresses():
    own = server.websocket_origins("127.0.0.1", 5006)
    assert own == ["localhost:5006", "127.0.0.1:5006"]
    more = server.websocket_origins("127.0.0.1", 5006, ["course.example.org", "localhost:5006"])
    assert more == own + ["course.example.org"]
    assert server.websocket_origins("10.1.2.3", 80)[0] == "10.1.2.3:80"


def test_listening_everywhere_allows_the_names_of_this_machine():
    origins = server.websocket_origins("0.0.0.0", 5006)
    assert f"{socket.gethostname()}:5006" in origins
    assert "localhost:5006" in origins and "127.0.0.1:5006" in origins
    assert "0.0.0.0:5006" not in origins
    assert len(origins) == len(set(origins))


@pytest.mark.parametrize("given, want", [("dpo", "/dpo"), ("/dpo/", "/dpo"), ("/", ""),
                                         ("", ""), (None, ""), ("/a/b", "/a/b")])
def test_prefix_is_normalised(given, want):
    assert server.normalize_prefix(given) == want


def test_a_public_name_without_a_port_lets_http_and_https_pages_connect():
    """What Bokeh does with the list: an https page behind a proxy sends Origin
    https://course.example.org, which Bokeh checks as course.example.org:80."""
    from bokeh.server.util import check_allowlist

    origins = server.websocket_origins("127.0.0.1", 5006, ["course.example.org"])
    assert check_allowlist("course.example.org", origins)           # https, no port
    assert check_allowlist("course.example.org:8443", origins)
    assert check_allowlist("127.0.0.1:5006", origins)               # its own address
    assert not check_allowlist("evil.example.com", origins)


def test_serve_passes_the_process_count_and_the_session_cleanup(pn_serve, monkeypatch):
    from tornado.process import cpu_count

    server.serve(port=7103, open_browser=False)
    _, kw = pn_serve[-1]
    assert kw["num_procs"] == 1 and kw["start"] is False
    assert kw["unused_session_lifetime_milliseconds"] == server.UNUSED_SESSION_MS
    assert kw["check_unused_sessions_milliseconds"] == server.CHECK_UNUSED_MS
    assert [p[0] for p in kw["extra_patterns"]] == ["/dpo-sim-status", "/offline",
                                                     "/dpo-sim-page.js"]
    server.serve(port=7104, open_browser=False, num_procs=0)
    assert pn_serve[-1][1]["num_procs"] == cpu_count()


def test_cli_num_procs_reaches_serve(fake_server):
    assert main(["serve", "--no-browser", "--num-procs", "0"]) == 0
    assert fake_server[-1]["num_procs"] == 0
    assert main(["serve", "--no-browser"]) == 0
    assert "num_procs" not in fake_server[-1]


def test_only_bokeh_s_closed_before_attached_race_is_kept_out_of_the_log():
    import logging
    import sys

    from bokeh.server.connection import ServerConnection

    conn = ServerConnection.__new__(ServerConnection)
    conn._session = None            # a websocket closed before its session was attached
    try:
        _ = conn.session
    except AssertionError:
        race = sys.exc_info()
    try:
        assert 1 == 2, "another assertion"
    except AssertionError:
        other = sys.exc_info()

    def record(exc):
        return logging.LogRecord("tornado.application", logging.ERROR, __file__, 1,
                                 "Uncaught exception GET /ws", None, exc)

    f = server._ClosedBeforeAttached()
    assert f.filter(record(race)) is False
    assert f.filter(record(other)) is True
    assert f.filter(record(None)) is True


def test_a_served_process_skips_bokehs_spelling_suggestions(pn_serve):
    """Bokeh's "did you mean" diagnostics (difflib) ran on every JSComponent change."""
    from bokeh.models import Div
    from bokeh.settings import settings

    try:
        settings.perform_error_diagnostics.unset_value()
        with pytest.raises(AttributeError, match="similar"):
            Div().textt                                          # noqa: B018
        server.serve(port=7103, open_browser=False)
        assert settings.perform_error_diagnostics() is False
        with pytest.raises(AttributeError) as e:
            Div().textt                                          # noqa: B018
        assert "similar" not in str(e.value)
    finally:
        settings.perform_error_diagnostics.unset_value()
