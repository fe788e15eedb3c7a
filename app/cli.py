"""The ``dpo-sim`` command: run a scenario headless, list presets, serve or export the page.

Only the standard library and ``sim`` are imported here; Panel and Bokeh load lazily inside
``serve`` and ``export``, so ``dpo-sim run`` starts fast and works without a display.

Exit codes: 0 success; 2 bad input (a broken scenario, an unknown id, a bad --set or
--steps), reported as one line ``file: field: rule`` on stderr with no traceback.
``dpo-sim presets`` lists the good presets on stdout and every broken file on stderr,
and exits 2 if any file is broken (the good ones are still listed).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Iterator, Sequence, TextIO

from sim.scenario_io import (CLI_SETTABLE, ScenarioError, apply_settings, list_presets,
                             load_scenario, parse_settings)

EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line and exit code 2 (its default code)."""

    def error(self, message):
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n"
                                  f"(try '{self.prog} --help')\n")


def _build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="dpo-sim",
                description="A teaching simulator of the DPO loss. With no command it opens "
                            "the dashboard (same as 'dpo-sim serve').")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    settable = ", ".join(CLI_SETTABLE)
    r = sub.add_parser("run", help="run a scenario headless and print every step",
                       description="Run SCENARIO (a preset id or a path to a TOML file) and "
                                   "write step 0..N as JSON lines (first line: the config) "
                                   "or CSV.")
    r.add_argument("scenario", metavar="SCENARIO")
    r.add_argument("--steps", metavar="N", help="number of updates (default: the scenario's "
                                                "'steps')")
    r.add_argument("--set", metavar="KEY=VALUE", action="append", default=[], dest="settings",
                   help=f"override a setting, repeatable; keys: {settable}")
    r.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    r.add_argument("--out", metavar="FILE", help="write to FILE instead of stdout")

    sub.add_parser("presets", help="list the preset scenarios",
                   description="List preset ids and titles; broken files go to stderr with "
                               "their error (exit code 2 if any is broken).")

    s = sub.add_parser("serve", help="open the dashboard in the browser")
    _serve_args(s)

    e = sub.add_parser("export", help="write a self-contained HTML replay (no server needed)")
    e.add_argument("scenarios", metavar="SCENARIO", nargs="+")
    e.add_argument("--out", metavar="FILE.html", required=True)
    e.add_argument("--steps", metavar="N", help="number of updates (default: each "
                                                "scenario's 'steps')")
    e.add_argument("--set", metavar="KEY=VALUE", action="append", default=[], dest="settings",
                   help=f"override a setting of every scenario; keys: {settable}")
    return p


def _serve_args(s: argparse.ArgumentParser) -> None:
    s.add_argument("--port", type=int, default=5006)
    s.add_argument("--address", default="127.0.0.1")
    s.add_argument("--allow-websocket-origin", metavar="HOST[:PORT]", action="append",
                   default=[], dest="allow_websocket_origin",
                   help="allow the page to be embedded from this origin (repeatable)")
    s.add_argument("--no-browser", action="store_true", help="do not open a browser")
    s.add_argument("--prefix", metavar="PATH", default="",
                   help="serve under a URL path, e.g. /dpo (behind a reverse proxy)")
    s.add_argument("--use-xheaders", action="store_true", dest="use_xheaders",
                   help="trust X-Forwarded-* headers from a reverse proxy")


def _steps(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        n = int(value)
    except ValueError:
        n = -1
    if n < 0:
        raise ScenarioError("command line", "--steps",
                            f"must be a whole number >= 0, got {value!r}")
    return n


def _load(ref: str, settings: list[str]):
    scenario = load_scenario(ref)
    return apply_settings(scenario, parse_settings(settings)) if settings else scenario


def _records(scenario, steps: int) -> Iterator:
    """Records of steps 0..steps, computed one at a time (no history kept)."""
    from sim.simulation import Simulation

    sim = Simulation(scenario, keep_history=False)
    yield sim.record
    for _ in range(steps):
        yield sim.advance()


def write_run(scenario, steps: int, fmt: str, out: TextIO) -> None:
    """The run's output: JSON lines (config line, then one line per step) or CSV."""
    if fmt == "csv":
        from sim.export_csv import write_csv

        write_csv(_records(scenario, steps), out)
        return
    out.write(json.dumps(scenario.config()) + "\n")
    for rec in _records(scenario, steps):
        out.write(json.dumps(rec.to_dict()) + "\n")


def _cmd_run(a) -> int:
    steps = _steps(a.steps)
    scenario = _load(a.scenario, a.settings)
    n = scenario.steps if steps is None else steps
    if a.out:
        try:
            f = open(a.out, "w", encoding="utf-8", newline="")
        except OSError as exc:
            raise ScenarioError(a.out, "--out", f"cannot be written ({exc.strerror})") from None
        with f:
            write_run(scenario, n, a.format, f)
    else:
        write_run(scenario, n, a.format, sys.stdout)
        sys.stdout.flush()
    return 0


def _cmd_presets(a) -> int:
    broken = 0
    for id, title, err in list_presets():
        if err is None:
            print(f"{id:<20} {title}")
        else:
            broken += 1
            print(f"broken preset {id}: {err}", file=sys.stderr)
    return EXIT_BAD_INPUT if broken else 0


def _cmd_serve(a) -> int:
    from app.server import serve

    proxy = {}                   # only when given, so plain calls stay as they were
    if a.prefix:
        proxy["prefix"] = a.prefix
    if a.use_xheaders:
        proxy["use_xheaders"] = True
    serve(port=a.port, address=a.address,
          allow_websocket_origin=list(a.allow_websocket_origin) or None,
          open_browser=not a.no_browser, **proxy)
    return 0


def _cmd_export(a) -> int:
    steps = _steps(a.steps)
    scenarios = [_load(ref, a.settings) for ref in a.scenarios]
    from app.export import export_html

    export_html(scenarios, steps, a.out)
    return 0


COMMANDS = {"run": _cmd_run, "presets": _cmd_presets, "serve": _cmd_serve,
            "export": _cmd_export}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _build_parser()
    if not argv or argv[0].startswith("--") and argv[0] not in ("--help", "-h"):
        argv = ["serve"] + argv          # `dpo-sim` alone (or with serve flags) = serve
    a = parser.parse_args(argv)
    try:
        return COMMANDS[a.command](a)
    except ScenarioError as err:
        print(f"dpo-sim: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:              # `dpo-sim run align | head`: not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())   # keep the exit-time flush quiet
        return 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
