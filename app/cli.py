"""The ``dpo-sim`` command: run a scenario headless, list presets, serve or export the page.

Only the standard library and ``sim`` are imported here; Panel and Bokeh load lazily inside
``serve`` and ``export``, so ``dpo-sim run`` starts fast and works without a display.

Exit codes: 0 success; 2 bad input, reported as one line on stderr with no traceback:
``file: field: rule`` for a broken scenario or ``--set``, ``--option: rule`` for a bad
option (including argparse's own complaints). ``dpo-sim presets`` lists the good presets
on stdout and every broken file on stderr, and exits 2 if any file is broken (the good
ones are still listed).
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import sys
from pathlib import Path
from typing import Iterator, Sequence, TextIO

from ..sim.scenario_io import (CLI_SETTINGS, ScenarioError, apply_settings, list_presets,
                               load_scenario, parse_settings)
from ..sim.settings import BY_NAME, SettingError, Whole
from .errors import UsageError

EXIT_BAD_INPUT = 2
#: ``run --steps``: the number of updates; 0 prints the config line and step 0 only.
RUN_STEPS = Whole(0, BY_NAME["steps"].kind.hi)
#: ``export --steps``: the file carries every step, so it stays a sensible size.
EXPORT_STEPS = Whole(1, 100_000)
PORTS = Whole(1, 65535)
_ORIGIN = re.compile(r"^(\*|[A-Za-z0-9_.*-]+|\[[0-9A-Fa-f:.]+\])(:(\d{1,5}|\*))?$")
_PREFIX = re.compile(r"^[A-Za-z0-9_.~/-]*$")


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line and exit code 2 (its default code)."""

    def error(self, message):
        message = _suggest(message, self)
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: {message} (see '{self.prog} --help')\n")


def _suggest(message: str, parser: argparse.ArgumentParser) -> str:
    """Add "did you mean --steps?" to argparse's complaint about a mistyped option."""
    m = re.match(r"unrecognized arguments: (--[\w-]+)", message)
    if m:
        known = [o for a in parser._actions for o in a.option_strings]
        close = difflib.get_close_matches(m.group(1), known, n=1)
        if close:
            message += f" (did you mean {close[0]}?)"
    return message


def _build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="dpo-sim",
                description="A teaching simulator of the DPO loss. With no command it opens "
                            "the dashboard (same as 'dpo-sim serve').")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    settable = ", ".join(CLI_SETTINGS)
    r = sub.add_parser("run", help="run a scenario headless and print every step",
                       description="Run SCENARIO (a preset id or a path to a TOML file) and "
                                   "write step 0..N as JSON lines (first line: the config) "
                                   "or CSV.")
    r.add_argument("scenario", metavar="SCENARIO")
    r.add_argument("--steps", metavar="N", help="number of updates, 0 or more (default: the "
                                                "scenario's 'steps')")
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
    e.add_argument("--steps", metavar="N", help=f"number of updates, from 1 to "
                                                f"{EXPORT_STEPS.hi} (default: each "
                                                f"scenario's 'steps')")
    e.add_argument("--set", metavar="KEY=VALUE", action="append", default=[], dest="settings",
                   help=f"override a setting of every scenario; keys: {settable}")
    return p


def _serve_args(s: argparse.ArgumentParser) -> None:
    s.add_argument("--port", default="5006", help="port to listen on, 1 to 65535 "
                                                  "(default 5006)")
    s.add_argument("--address", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; 0.0.0.0: every network)")
    s.add_argument("--allow-websocket-origin", metavar="HOST[:PORT]", action="append",
                   default=[], dest="allow_websocket_origin",
                   help="allow the page to be embedded from this origin (repeatable)")
    s.add_argument("--no-browser", action="store_true", help="do not open a browser")
    s.add_argument("--prefix", metavar="PATH", default="",
                   help="serve under a URL path, e.g. /dpo (behind a reverse proxy)")
    s.add_argument("--use-xheaders", action="store_true", dest="use_xheaders",
                   help="trust X-Forwarded-* headers from a reverse proxy")


# -- options, checked before anything runs ------------------------------------------------
def _whole(option: str, kind: Whole, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return kind.parse(value)
    except SettingError as e:
        raise UsageError(option, str(e)) from None


def _out_file(path: str) -> Path:
    """--out must name a file (not a folder) in a folder that exists."""
    p = Path(path)
    if path.strip() == "" or p.is_dir():
        raise UsageError("--out", f"must name a file, not a folder, got {path!r} (for "
                                  f"example {os.path.join(path, 'out.html')!r})")
    if not p.parent.is_dir():
        raise UsageError("--out", f"cannot write {path!r}: its folder {str(p.parent)!r} does "
                                  f"not exist")
    return p


def _origins(values: list[str]) -> list[str]:
    for v in values:
        if not _ORIGIN.match(v.strip()):
            raise UsageError("--allow-websocket-origin",
                             f"must be HOST or HOST:PORT (a name students type, no "
                             f"http:// and no path), got {v!r}")
    return [v.strip() for v in values]


def _prefix(value: str) -> str:
    if not _PREFIX.match(value) or ".." in value.split("/"):
        raise UsageError("--prefix", f"must be a URL path of letters, digits and - _ . ~ / "
                                     f"(for example /dpo), got {value!r}")
    return value


def _load(ref: str, settings: list[str]):
    scenario = load_scenario(ref)
    return apply_settings(scenario, parse_settings(settings)) if settings else scenario


def _records(scenario, steps: int) -> Iterator:
    """Records of steps 0..steps, computed one at a time (no history kept)."""
    from ..sim.simulation import Simulation

    sim = Simulation(scenario, keep_history=False)
    yield sim.record
    for _ in range(steps):
        yield sim.advance()


def write_run(scenario, steps: int, fmt: str, out: TextIO) -> None:
    """The run's output: JSON lines (config line, then one line per step) or CSV."""
    if fmt == "csv":
        from ..sim.export_csv import write_csv

        write_csv(_records(scenario, steps), out)
        return
    out.write(json.dumps(scenario.config()) + "\n")
    for rec in _records(scenario, steps):
        out.write(json.dumps(rec.to_dict()) + "\n")


# -- commands -----------------------------------------------------------------------------
def _cmd_run(a) -> int:
    steps = _whole("--steps", RUN_STEPS, a.steps)
    path = _out_file(a.out) if a.out else None
    scenario = _load(a.scenario, a.settings)
    n = scenario.steps if steps is None else steps
    if path is not None:
        try:
            f = open(path, "w", encoding="utf-8", newline="")
        except OSError as exc:
            raise UsageError("--out", f"cannot write {a.out!r} ({exc.strerror})") from None
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
    port = _whole("--port", PORTS, a.port)
    origins = _origins(a.allow_websocket_origin)
    proxy = {}                   # only when given, so plain calls stay as they were
    if a.prefix:
        proxy["prefix"] = _prefix(a.prefix)
    if a.use_xheaders:
        proxy["use_xheaders"] = True
    from .server import serve

    serve(port=port, address=a.address, allow_websocket_origin=origins or None,
          open_browser=not a.no_browser, **proxy)
    return 0


def _cmd_export(a) -> int:
    steps = _whole("--steps", EXPORT_STEPS, a.steps)
    path = _out_file(a.out)
    scenarios = [_load(ref, a.settings) for ref in a.scenarios]
    if steps is None:
        for s in scenarios:
            if s.steps > EXPORT_STEPS.hi:
                raise UsageError("--steps", f"scenario {s.id!r} has steps = {s.steps}; an "
                                            f"export holds every step, so give --steps N "
                                            f"with N at most {EXPORT_STEPS.hi}")
    from .export import export_html

    try:
        export_html(scenarios, steps, str(path))
    except OSError as exc:
        raise UsageError("--out", f"cannot write {a.out!r} ({exc.strerror})") from None
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
    except (ScenarioError, UsageError) as err:
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
