"""The settings table (sim/settings.py) is the only place a setting is declared: every way
of giving a value (a TOML file, --set, the page's address, a scripted action in a file or
in the address, Simulation.set, the page's slider) accepts the same values, and the
parameters, widgets, address names and hide flags are the table's."""

from __future__ import annotations

import json
import math
import subprocess

import numpy as np
import pytest

from dpo_sim.app.parts import HIDEABLE
from dpo_sim.sim import settings as S
from dpo_sim.sim.scenario_io import (
    CLI_SETTINGS,
    TOML_SETTINGS,
    TOP_KEYS,
    ScenarioError,
    apply_settings,
    build_scenario,
    load_scenario,
)
from dpo_sim.sim.settings import SETTINGS, SettingError
from dpo_sim.sim.simulation import Simulation

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]
RULES_JS = r"""
import { readFileSync } from "fs";
import { makeRules } from "./app/ui/rules.js";
const input = JSON.parse(readFileSync(0, "utf8"));
const rules = makeRules(input.table);
const verdict = (s, text) => { try { rules.parseSetting(s, text); return [true, null]; }
                               catch (e) { return [false, e.message]; } };
process.stdout.write(JSON.stringify({
  controls: rules.CONTROLS.map((s) => s.name), live: rules.LIVE, page: rules.PAGE,
  event_kinds: rules.EVENT_KINDS,
  url: input.values.map(([name, text]) => verdict(rules.BY_NAME[name], text)),
  event: input.values.map(([name, text]) => rules.BY_NAME[name].event
    ? verdict(rules.EVENT_SETTINGS[rules.BY_NAME[name].event], text) : null),
}));
"""


def page_rules(values=(), table=None) -> dict:
    """The page's rules (app/ui/rules.js, the same module on both hosts), run in Node: the
    controls it shows, the kinds of a link's actions, and its verdict on each (setting,
    text) as a link's parameter and as a link's mid-run action."""
    import shutil

    if shutil.which("node") is None:
        pytest.skip("needs Node.js")
    p = subprocess.run(["node", "--input-type=module", "-e", RULES_JS], cwd=ROOT,
                       input=json.dumps({"table": table or S.table_json(),
                                         "values": list(values)}),
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)

DOC = {"title": "T", "watch": "W", "beta": 1.0, "learning_rate": 0.5,
       "prompts": [{"text": "Q", "replies": ["a", "b", "c"]}],
       "pairs": [{"prompt": 0, "chosen": 0, "rejected": 1, "votes_chosen": 3,
                  "votes_rejected": 1}]}

# (setting, typed value as TOML or Python gives it, the same as text, valid?)
VALUES = [
    ("beta", 8.0, "8", True), ("beta", 100, "100", True), ("beta", 1e-9, "1e-9", True),
    ("beta", 0.0, "0", False), ("beta", -1.0, "-1", False), ("beta", 100.5, "100.5", False),
    ("beta", math.inf, "inf", False), ("beta", math.nan, "nan", False),
    ("learning_rate", 20.0, "20", True), ("learning_rate", 0.0, "0", False),
    ("learning_rate", 1000.0, "1e3", False),
    ("adaptive_weight", False, "off", True), ("adaptive_weight", True, "on", True),
    ("adaptive_weight", 1, "maybe", False),
    ("loss_type", "sigmoid", "sigmoid", True), ("loss_type", "ipo", "ipo", True),
    ("loss_type", "hinge", "hinge", True), ("loss_type", "robust", "robust", True),
    ("loss_type", "dpo", "dpo", False), ("loss_type", "IPO", "IPO", False),
    ("loss_type", "cdpo", "cdpo", False), ("loss_type", 1, "1", False),
    ("label_smoothing", 0.0, "0", True), ("label_smoothing", 0.1, "0.1", True),
    ("label_smoothing", 0.45, "0.45", True), ("label_smoothing", 0.4999, "0.4999", True),
    ("label_smoothing", 0.5, "0.5", False), ("label_smoothing", 0.6, "0.6", False),
    ("label_smoothing", -0.1, "-0.1", False), ("label_smoothing", math.nan, "nan", False),
    ("label_smoothing", True, "on", False),
    ("steps", 1, "1", True), ("steps", 10_000_000, "10000000", True),
    ("steps", 0, "0", False), ("steps", 2.5, "2.5", False),
    ("speed", 120, "120", True), ("speed", 1, "1", True), ("speed", 0, "0", False),
    ("speed", 121, "121", False),
]


def _toml_ok(name, value) -> bool:
    try:
        build_scenario({**DOC, name: value}, file="t.toml", id="t")
        return True
    except ScenarioError as e:
        assert e.field == name and e.rule.startswith("must be "), e
        return False


def _toml_event_ok(name, value) -> bool:
    ev = {"step": 2, "set": {name: value}}
    try:
        build_scenario({**DOC, "events": [ev]}, file="t.toml", id="t")
        return True
    except ScenarioError as e:
        assert e.field == f"events[0].set.{name}", e
        return False


def _cli_ok(name, text) -> bool:
    try:
        apply_settings(load_scenario("align"), {name: text})
        return True
    except ScenarioError as e:
        assert (e.file, e.field) == ("--set", name)
        return False


_PAGE = {}


def _url_ok(name, text, where="url") -> bool:
    """The page's verdict on a link's value (all VALUES asked of Node at once)."""
    if not _PAGE:
        _PAGE.update(page_rules([(v[0], v[2]) for v in VALUES]))
    i = [(v[0], v[2]) for v in VALUES].index((name, text))
    ok, message = _PAGE[where][i]
    if not ok:
        assert message.startswith("must be "), message
    return ok


def _sim_ok(name, value) -> bool:
    sim = Simulation(load_scenario("align"))
    try:
        sim.set(**{name: value})
        return True
    except SettingError as e:
        assert str(e).startswith(f"{name}: must be ")
        return False


@pytest.mark.parametrize("name, value, text, valid", VALUES,
                         ids=[f"{v[0]}={v[2]}" for v in VALUES])
def test_a_value_is_valid_everywhere_or_nowhere(name, value, text, valid):
    s = S.BY_NAME[name]
    if valid:
        assert s.check(value) == value and s.parse(text) == value
    else:
        for bad in (value, text):
            with pytest.raises(SettingError, match="^must be "):
                s.parse(bad) if isinstance(bad, str) else s.check(bad)
    seen = {}
    if s.toml:
        seen["toml"] = _toml_ok(s.toml, value)
    if s.cli:
        seen["--set"] = _cli_ok(s.cli, text)
    if s.url:
        seen["address"] = _url_ok(name, text)
    if s.event:
        seen["address events"] = _url_ok(name, text, "event")
    if s.live and s.scope == "run":
        seen["file events"] = _toml_event_ok(s.toml, value)
        seen["Simulation.set"] = _sim_ok(name, value)
    assert seen and set(seen.values()) == {valid}, seen


def test_every_place_takes_its_names_from_the_table():
    assert {s.toml: s for s in SETTINGS if s.toml} == TOML_SETTINGS
    assert set(TOML_SETTINGS) <= set(TOP_KEYS)
    assert {s.cli: s for s in SETTINGS if s.cli} == CLI_SETTINGS
    assert {s.url for s in SETTINGS if s.hideable} <= set(HIDEABLE)
    # the page (both hosts): one control per live or page setting, the page's own first,
    # and a link's actions are the table's events and flip
    page = page_rules()
    assert page["controls"] == ([s.name for s in SETTINGS if s.scope == "page"]
                                + [s.name for s in SETTINGS if s.live and s.scope == "run"])
    assert page["live"] == [s.name for s in SETTINGS if s.live and s.scope == "run"]
    assert set(page["event_kinds"]) == {s.event for s in SETTINGS if s.event} | {"flip"}


def test_a_scenario_built_in_code_is_checked_by_the_same_rules():
    s = load_scenario("align")
    from dataclasses import replace
    with pytest.raises(SettingError, match=r"scenario 'align': beta: must be a number > 0"):
        Simulation(replace(s, beta=0.0))
    with pytest.raises(SettingError, match="learning_rate"):
        Simulation(replace(s, learning_rate=1e9))


def test_text_forms_of_a_flag_and_numbers():
    f = S.BY_NAME["adaptive_weight"]
    assert [f.parse(t) for t in ("on", "OFF", " true ", "no", "1", "0")] == [
        True, False, True, False, True, False]
    assert f.write(True) == "on" and f.write(False) == "off"
    b = S.BY_NAME["beta"]
    assert b.parse(b.write(0.1 + 0.2)) == 0.1 + 0.2       # the text reads back exactly
    assert S.BY_NAME["steps"].parse(" 12 ") == 12
    with pytest.raises(SettingError, match="got '12.0'"):
        S.BY_NAME["steps"].parse("12.0")


def test_a_new_setting_is_one_new_entry_in_the_table():
    """A page setting added to the table (as JSON, what the page reads) is a control of
    the page, hideable, and a link's value for it is checked by its rule."""
    table = S.table_json() + [{**S.table_json()[-1], "name": "zoom", "lo": 1, "hi": 4,
                               "default": 2, "label": "Zoom", "help": "How big the bars are.",
                               "slider": [1, 4, 1], "url": "zoom",
                               "rule": "a whole number from 1 to 4"}]
    page = page_rules([("zoom", "3"), ("zoom", "9")], table=table)
    assert "zoom" in page["controls"] and "zoom" in page["page"]
    assert page["url"] == [[True, None], [False, "must be a whole number from 1 to 4, got '9'"]]


def test_the_table_is_consistent():
    names = [s.name for s in SETTINGS]
    assert len(set(names)) == len(names)
    for place in ("toml", "cli", "url", "event"):
        given = [getattr(s, place) for s in SETTINGS if getattr(s, place)]
        assert len(set(given)) == len(given), place
    for s in SETTINGS:
        assert s.scope in ("run", "page") and s.label and s.help.endswith((".", ")"))
        if s.slider:
            lo, hi, step = s.slider
            assert s.check(lo) == lo and s.check(hi) == hi and 0 < step < hi - lo
        if s.default is not None:
            assert s.check(s.default) == s.default
        if s.event:
            assert s.live and s.url, s.name
        if s.scope == "page":
            assert not (s.toml or s.cli or s.event), s.name
    assert np.isclose(S.BY_NAME["beta"].kind.hi, 100)


def test_the_table_as_json_round_trips_and_says_what_the_table_says():
    """``table_json`` (read by the offline page's JavaScript engine) carries every field of
    every setting, survives JSON unchanged, and its bounds give the same verdicts as the
    Python rule."""
    table = S.table_json()
    assert json.loads(json.dumps(table)) == table
    assert [row["name"] for row in table] == [s.name for s in SETTINGS]
    fields = {"name", "kind", "lo", "hi", "lo_open", "hi_open", "options", "rule",
              "default", "label", "help", "scope", "live", "slider", "toml", "cli", "url",
              "event", "hideable", "shapes_loss"}
    for row, s in zip(table, SETTINGS):
        assert set(row) == fields, s.name
        assert row["rule"] == s.rule and row["default"] == s.default
        for f in ("label", "help", "scope", "live", "toml", "cli", "url", "event",
                  "hideable", "shapes_loss"):
            assert row[f] == getattr(s, f), (s.name, f)
        assert row["slider"] == (list(s.slider) if s.slider else None)
        if row["kind"] == "choice":
            assert row["options"] == list(s.kind.options)
        if row["kind"] in ("number", "whole"):
            lo, hi = row["lo"], row["hi"]
            for v in (lo, hi, (lo + hi) / 2, lo - 1, hi + 1):
                ok = ((lo < v if row["lo_open"] else lo <= v)
                      and (v < hi if row["hi_open"] else v <= hi))
                if row["kind"] == "whole":
                    v = round(v)
                    ok = lo <= v <= hi
                try:
                    s.check(v)
                    valid = True
                except SettingError:
                    valid = False
                assert valid == ok, (s.name, v)
