"""The ``dpo-sim`` command: run a scenario headless, list presets, serve or export the page.

Only the standard library and ``sim`` are imported here; Panel and Bokeh load lazily inside
``serve`` and ``export``, so ``dpo-sim run`` starts fast and works without a display.

Exit codes: 0 success; 2 bad input, reported as one line on stderr with no traceback:
``file: field: rule`` for a broken scenario or ``--set``, ``--option: rule`` for a bad
option (including argparse's own complaints). ``dpo-sim presets`` lists the good presets
on stdout and every broken file on stderr, and exits 2 if any file is broken (the good
ones are still listed). 1: ``run`` could not write to standard output (a full disk), also
one line.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TextIO

import numpy as np

from ..sim.protocol import RlhfTarget, or_null
from ..sim.scenario_io import (
    CLI_SETTINGS,
    ScenarioError,
    apply_settings,
    list_presets,
    load_scenario,
    parse_settings,
    preset_ids,
)
from ..sim.settings import BY_NAME, SettingError, Whole
from ..sim.simulation import Diverged
from .errors import UsageError
from .parts import MAX_URL_STEP

EXIT_BAD_INPUT = 2
EXIT_OUTPUT_FAILED = 1
#: ``run --steps``: the number of updates; 0 prints the config line and step 0 only.
RUN_STEPS = Whole(0, BY_NAME["steps"].kind.hi)
PORTS = Whole(1, 65535)
#: where `dpo-sim serve` listens by default, and so the page's local address for `link`
DEFAULT_ADDRESS, DEFAULT_PORT = "127.0.0.1", 5006
DEFAULT_BASE = f"http://{DEFAULT_ADDRESS}:{DEFAULT_PORT}/"
#: the step a link may ask for (the most the page's address reads)
URL_STEPS = Whole(0, MAX_URL_STEP)
#: ``serve --num-procs``: 0 means one per core.
PROCS = Whole(0, 64)
_ORIGIN = re.compile(r"^(\*|[A-Za-z0-9_.*-]+|\[[0-9A-Fa-f:.]+\])(:(\d{1,5}|\*))?$")
_PREFIX = re.compile(r"^[A-Za-z0-9_.~/-]*$")
_NUMBER = re.compile(r"-\d+|-\d*\.\d+")     # a stray "-5" is a word, not an option


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line and exit code 2 (its default code)."""

    def error(self, message):
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: {_suggest(message)} (see '{self.prog} "
                                  f"--help')\n")


def _suggest(message: str) -> str:
    """Add "did you mean 'serve'?" to argparse's complaint about a mistyped choice."""
    m = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)$", message)
    if m:
        choices = [c.strip().strip("'") for c in m.group(2).split(",")]
        close = difflib.get_close_matches(m.group(1), choices, n=1)
        if close:
            message += f"; did you mean {close[0]!r}?"
    return message


def _extra_args(parser: argparse.ArgumentParser, command: str, extra: list[str]) -> str:
    """The one line for arguments the command does not take: a mistyped option (with the
    closest real one), or a stray word."""
    sub = parser.commands.get(command, parser)
    see = f" (see '{sub.prog} --help')"
    for arg in extra:
        if arg.startswith("-") and len(arg) > 1 and not _NUMBER.fullmatch(arg):
            option = arg.split("=", 1)[0]
            known = [o for a in sub._actions for o in a.option_strings]
            close = difflib.get_close_matches(option, known, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            return f"{sub.prog}: {option}: unknown option{hint}{see}"
    arg = extra[0]
    if command == "serve" and arg in parser.commands:
        return (f"{sub.prog}: unexpected argument {arg!r}: the command goes first, e.g. "
                f"'dpo-sim {arg} ...'{see}")
    return f"{sub.prog}: unexpected argument {arg!r}{see}"


def _build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="dpo-sim",
                description="A teaching simulator of the DPO loss. With no command it opens "
                            "the dashboard (same as 'dpo-sim serve').")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    p.commands = sub.choices             # name -> its parser (for unknown options)

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

    e = sub.add_parser(
        "export", help="write the whole simulator as one HTML file (no server needed)",
        description="Write the interactive simulator as one self-contained HTML file: every "
                    "learner's browser runs its own run, offline. Its scenario picker holds "
                    "the SCENARIOs given (preset ids or TOML files; the first opens), or every "
                    "preset if none is given. To open it at a step, link to it with "
                    "?scenario=ID&step=N (add &autoplay=1 to play from there).")
    e.add_argument("scenarios", metavar="SCENARIO", nargs="*")
    e.add_argument("--out", metavar="FILE.html", required=True)
    e.add_argument("--set", metavar="KEY=VALUE", action="append", default=[], dest="settings",
                   help=f"override a setting of every scenario; keys: {settable}")

    k = sub.add_parser(
        "link", help="print a link to the page that opens a scenario (a preset or a file)",
        description="Print the page's address for SCENARIO: ?scenario=ID for a preset, "
                    "?lesson=... (the whole scenario, compressed) for a TOML file.")
    k.add_argument("scenario", metavar="SCENARIO")
    k.add_argument("--base", metavar="URL", default=None,
                   help=f"the page's address (default: the served page's local address, "
                        f"{DEFAULT_BASE})")
    k.add_argument("--step", metavar="N", help="open the run at step N (0 to "
                                               f"{MAX_URL_STEP})")
    k.add_argument("--set", metavar="KEY=VALUE", action="append", default=[], dest="settings",
                   help="a setting at step 0, as the page's own parameter (e.g. beta=0.5)")
    return p


def _serve_args(s: argparse.ArgumentParser) -> None:
    s.add_argument("--port", default=str(DEFAULT_PORT), help="port to listen on, 1 to 65535 "
                                                            f"(default {DEFAULT_PORT})")
    s.add_argument("--address", default=DEFAULT_ADDRESS,
                   help="address to listen on (default 127.0.0.1; 0.0.0.0: every network)")
    s.add_argument("--allow-websocket-origin", metavar="HOST[:PORT]", action="append",
                   default=[], dest="allow_websocket_origin",
                   help="allow the page to be embedded from this origin (repeatable)")
    s.add_argument("--no-browser", action="store_true", help="do not open a browser")
    s.add_argument("--prefix", metavar="PATH", default="",
                   help="serve under a URL path, e.g. /dpo (behind a reverse proxy)")
    s.add_argument("--use-xheaders", action="store_true", dest="use_xheaders",
                   help="trust X-Forwarded-* headers from a reverse proxy")
    s.add_argument("--num-procs", metavar="N", dest="num_procs", default="1",
                   help=f"processes sharing the port, 0 to {PROCS.hi} (0: one per core; "
                        f"default 1); each session is served whole by one of them")


# -- options, checked before anything runs ------------------------------------------------
def _whole(option: str, kind: Whole, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return kind.parse(value)
    except SettingError as e:
        raise UsageError(option, str(e)) from None


def _out_file(path: str, example: str) -> Path:
    """--out must name a file (not a folder) in a folder that exists."""
    p = Path(path)
    try:
        if path.strip() == "":
            raise UsageError("--out", f"must name a file (for example {example!r}), "
                                      f"got {path!r}")
        if p.is_dir():
            raise UsageError("--out", f"must name a file, not a folder, got {path!r} (for "
                                      f"example {os.path.join(path, example)!r})")
        if p.parent.exists() and not p.parent.is_dir():
            raise UsageError("--out", f"cannot write {path!r}: {str(p.parent)!r} is a file, "
                                      f"not a folder")
        if not p.parent.is_dir():
            raise UsageError("--out", f"cannot write {path!r}: its folder "
                                      f"{str(p.parent)!r} does not exist")
    except OSError as exc:                  # a name too long for the system, say
        raise UsageError("--out", f"cannot write {path!r} ({exc.strerror})") from None
    return p


def _check_writable(path: Path, shown: str) -> None:
    """Fail before the work rather than after it: open the file for appending if it exists
    (which changes nothing), else create and remove a scratch file beside it."""
    try:
        if path.exists():
            with open(path, "a"):
                pass
        else:
            fd, scratch = tempfile.mkstemp(dir=path.parent, prefix=".dpo-sim-")
            os.close(fd)
            os.unlink(scratch)
    except OSError as exc:
        raise UsageError("--out", f"cannot write {shown!r} ({exc.strerror})") from None


def _not_a_scenario(path: Path, shown: str, refs: list[str]) -> None:
    """--out must not overwrite a scenario file given on the same command line."""
    for ref in refs:
        try:
            same = path.exists() and Path(ref).is_file() and os.path.samefile(path, ref)
        except OSError:
            same = False
        if same:
            raise UsageError("--out", f"would overwrite the scenario file {ref!r}; choose "
                                      f"another file, got {shown!r}")


def _origins(values: list[str]) -> list[str]:
    for v in values:
        m = _ORIGIN.match(v.strip())
        if not m:
            raise UsageError("--allow-websocket-origin",
                             f"must be HOST or HOST:PORT (a name students type, no "
                             f"http:// and no path), got {v!r}")
        if m.group(3) and m.group(3) != "*" and not 1 <= int(m.group(3)) <= PORTS.hi:
            raise UsageError("--allow-websocket-origin",
                             f"the port must be from 1 to {PORTS.hi}, got {v!r}")
    return [v.strip() for v in values]


def _address(value: str) -> str:
    if not value.strip():
        raise UsageError("--address", f"must be an address of this machine (127.0.0.1: this "
                                      f"machine only, 0.0.0.0: every network), got {value!r}")
    return value


def _prefix(value: str) -> str:
    if not _PREFIX.match(value) or {".", ".."} & set(value.split("/")):
        raise UsageError("--prefix", f"must be a URL path of letters, digits and - _ . ~ / "
                                     f"(for example /dpo), got {value!r}")
    return value


def _settings(items: list[str]) -> dict[str, str]:
    """--set KEY=VALUE items; a key given twice is an error (which one was meant?)."""
    seen: dict[str, str] = {}
    for item in items:
        key, eq, value = item.partition("=")
        key = key.strip()
        if eq and key in seen:
            raise ScenarioError("--set", key, f"given twice ({seen[key]!r} and "
                                              f"{value.strip()!r}); give it once")
        seen[key] = value.strip()
    return parse_settings(items)


def _load(ref: str, settings: dict[str, str]):
    if ref.strip() == "":
        raise UsageError("SCENARIO", f"must be a preset id (see 'dpo-sim presets') or a path "
                                     f"to a TOML file, got {ref!r}")
    try:
        scenario = load_scenario(ref)
    except ScenarioError:
        if _is_dir(ref) and ref not in preset_ids():
            raise ScenarioError(ref, "file", "is a folder, not a TOML file") from None
        raise
    except OSError as exc:               # a name too long for the system, say
        raise ScenarioError(ref, "file", f"cannot be read ({exc.strerror})") from None
    return apply_settings(scenario, settings) if settings else scenario


def _is_dir(ref: str) -> bool:
    try:
        return Path(ref).is_dir()
    except OSError:
        return False


def _steps_once(steps: int | None, settings: dict[str, str]) -> None:
    if steps is not None and "steps" in settings:
        raise UsageError("--steps", f"given together with --set steps={settings['steps']}; "
                                    f"give one of them")


def _records(scenario, steps: int) -> Iterator:
    """Records of steps 0..steps, computed one at a time (no history kept)."""
    from ..sim.simulation import Simulation

    sim = Simulation(scenario, keep_history=False)
    yield sim.record
    for _ in range(steps):
        yield sim.advance()


def write_run(scenario, steps: int, fmt: str, out: TextIO) -> None:
    """The run's output: JSON lines (config line, then one line per step) or CSV.

    In JSON lines two keys come last, after the run's own numbers: the config line's
    ``rlhf_probs`` (per prompt, pi* of the RLHF optimum for the rows and beta of step 0,
    or null where no finite optimum exists) and each step's ``kl_to_rlhf`` (per prompt,
    KL(pi || pi*) for the rows and beta in force at that step, or null). The CSV layout is
    the page's (``sim.export_csv``) and has neither."""
    if fmt == "csv":
        from ..sim.export_csv import write_csv

        write_csv(_records(scenario, steps), out)
        return
    from ..sim.rlhf import kl_to_optimum
    from ..sim.simulation import Simulation

    sim = Simulation(scenario, keep_history=False)
    target = RlhfTarget(sim)
    config = scenario.config()
    config["rlhf_probs"] = [row if ok else None
                            for row, ok in zip(target.opt.probs.tolist(), target.opt.finite)]
    out.write(json.dumps(config) + "\n")
    rec = sim.record
    for t in range(steps + 1):
        if t:
            rec = sim.advance()
        d = rec.to_dict()
        d["kl_to_rlhf"] = or_null(kl_to_optimum(rec.probs, target.update()))
        out.write(json.dumps(d) + "\n")


# -- commands -----------------------------------------------------------------------------
def _cmd_run(a) -> int:
    steps = _whole("--steps", RUN_STEPS, a.steps)
    path = _out_file(a.out, "run." + a.format) if a.out is not None else None
    settings = _settings(a.settings)
    _steps_once(steps, settings)
    scenario = _load(a.scenario, settings)
    if path is not None:
        _not_a_scenario(path, a.out, [a.scenario])
    n = scenario.steps if steps is None else steps
    try:
        if path is not None:
            try:             # opening it, or writing it (a full disk, say)
                with open(path, "w", encoding="utf-8", newline="") as f:
                    write_run(scenario, n, a.format, f)
            except OSError as exc:
                raise UsageError("--out", f"cannot write {a.out!r} ({exc.strerror})") from None
        else:
            try:
                write_run(scenario, n, a.format, sys.stdout)
                sys.stdout.flush()
            except BrokenPipeError:
                raise
            except OSError as exc:           # `> /dev/full`: not bad input, but no traceback
                _quiet_stdout()
                print(f"dpo-sim: cannot write to standard output ({exc.strerror})",
                      file=sys.stderr)
                return EXIT_OUTPUT_FAILED
    except Diverged as err:                  # the finite steps are written and kept
        where = f"{a.out!r}" if path is not None else "the output"
        print(f"dpo-sim: {err.scenario_id}: {err} (--set learning_rate=...); {where} holds "
              f"steps 0..{err.step - 1}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so the flush at exit does not fail a second time."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):        # no real file descriptor (captured in tests)
        pass


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
    address = _address(a.address)
    origins = _origins(a.allow_websocket_origin)
    proxy = {}                   # only when given, so plain calls stay as they were
    if a.prefix:
        proxy["prefix"] = _prefix(a.prefix)
    if a.use_xheaders:
        proxy["use_xheaders"] = True
    procs = _whole("--num-procs", PROCS, a.num_procs)
    if procs != 1:
        proxy["num_procs"] = procs
    from .server import serve

    serve(port=port, address=address, allow_websocket_origin=origins or None,
          open_browser=not a.no_browser, **proxy)
    return 0


def _export_interactive(a) -> int:
    """``export``: the whole simulator in one file."""
    settings = _settings(a.settings)
    refs = list(a.scenarios) or [pid for pid, _, err in list_presets() if err is None]
    scenarios = [_load(ref, settings) for ref in refs]
    seen: dict[str, str] = {}
    for ref, s in zip(refs, scenarios):
        if s.id in seen:
            raise UsageError("SCENARIO", f"{ref!r} and {seen[s.id]!r} are both scenario "
                                         f"{s.id!r}; give each once")
        seen[s.id] = ref
    path = _out_file(a.out, "dpo-sim.html")
    _not_a_scenario(path, a.out, refs)
    _check_writable(path, a.out)
    from .interactive import export_interactive

    try:
        export_interactive(scenarios, str(path))
    except OSError as exc:
        raise UsageError("--out", f"cannot write {a.out!r} ({exc.strerror})") from None
    size = path.stat().st_size
    n = len(scenarios)
    print(f"dpo-sim: wrote {path} ({size / 1e6:.2f} MB, the interactive simulator with "
          f"{n} scenario{'s' if n > 1 else ''}; open it in a browser, no server needed)")
    return 0


def _cmd_export(a) -> int:
    return _export_interactive(a)


_BASE = re.compile(r"(https?|file)://[^\s?#]*")


def _cmd_link(a) -> int:
    """``link``: the page's address for a scenario, its --set and its --step."""
    from urllib.parse import quote

    from ..sim.lesson import doc_of, encode_lesson

    base = DEFAULT_BASE if a.base is None else a.base.strip()
    if not _BASE.fullmatch(base):
        raise UsageError("--base", f"must be the page's address: http://, https:// or "
                                   f"file:// and no ? or #, got {a.base!r}")
    if re.fullmatch(r"https?://[^/]+", base):
        base += "/"
    step = _whole("--step", URL_STEPS, a.step)
    settings = _settings(a.settings)
    for key in settings:
        s = CLI_SETTINGS.get(key)
        if s is not None and s.url is None:
            raise ScenarioError("--set", key, "the page's address has no parameter for it; "
                                "a link may set " + ", ".join(
                                    k for k, t in CLI_SETTINGS.items() if t.url))
    scenario = _load(a.scenario, {})
    changed = apply_settings(scenario, settings) if settings else scenario
    if scenario.source == f"presets/{a.scenario}.toml":
        query = [("scenario", scenario.id)]
    else:
        try:
            query = [("lesson", encode_lesson(doc_of(scenario)))]
        except ValueError as e:
            raise ScenarioError(a.scenario, "link", str(e)) from None
    for key, s in CLI_SETTINGS.items():      # the settings table's order, as the page writes
        if key in settings and s.url:
            query.append((s.url, s.write(getattr(changed, s.name))))
    if step is not None:
        query.append(("step", str(step)))
    print(base + "?" + "&".join(f"{k}={quote(v, safe=',:')}" for k, v in query))
    return 0


COMMANDS = {"run": _cmd_run, "presets": _cmd_presets, "serve": _cmd_serve,
            "export": _cmd_export, "link": _cmd_link}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _build_parser()
    if not argv or argv[0].startswith("-") and argv[0] not in ("--help", "-h"):
        argv = ["serve"] + argv          # `dpo-sim` alone (or with serve flags) = serve
    a, extra = parser.parse_known_args(argv)
    if extra:
        print(_extra_args(parser, a.command, extra), file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        with np.errstate(over="ignore", invalid="ignore"):   # a run that diverges
            return COMMANDS[a.command](a)                     # says so in one line
    except (ScenarioError, UsageError) as err:
        print(f"dpo-sim: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:              # `dpo-sim run align | head`: not an error
        _quiet_stdout()                  # keep the exit-time flush quiet
        return 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
