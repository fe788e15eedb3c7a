"""Serve the dashboard: one fresh Dashboard per browser session, all resources local."""

from __future__ import annotations

import panel as pn

from .dashboard import TITLE, create_dashboard


def _session():
    return create_dashboard()


def serve(port: int = 5006, address: str = "127.0.0.1",
          allow_websocket_origin: list[str] | None = None, open_browser: bool = True) -> None:
    """Start the Panel server (blocking). Bokeh and Panel assets come from this server
    (``/static``), so the page makes no request to any other host."""
    origins = list(allow_websocket_origin or [])
    if not origins:
        origins = [f"{address}:{port}", f"localhost:{port}", f"127.0.0.1:{port}"]
    pn.serve(
        _session,            # a function: each session builds its own state and views
        port=port,
        address=address,
        websocket_origin=origins,
        show=open_browser,
        title=TITLE,
        start=True,
    )
