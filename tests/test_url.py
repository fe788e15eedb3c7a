"""The address bar without a browser: every public query parameter reads and writes, a
link written after any mix of mid-run actions replays bit-identically (checked against
``dpo-sim run`` on a TOML that scripts the same actions), bad values become notices and
defaults, no value from a link is ever opened as a path, and teacher mode hides parts."""

from __future__ import annotations

import builtins
import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from dpo_sim.app.address import (
    HIDEABLE,
    MAX_URL_EVENTS,
    URL_PARAMS,
    apply_query,
    query_string,
    to_query,
)
from dpo_sim.app.dashboard import create_dashboard
from dpo_sim.app.state import SimState
from dpo_sim.app.views.share import snippet
from dpo_sim.sim.scenario import Event
from dpo_sim.sim.simulation import Simulation
from helpers import assert_same_record, make_scenario, new_state, scenarios

ROOT = Path(__file__).resolve().parents[1]


def round_trip(a: SimState) -> SimState:
    """to_query -> the text of an address -> apply_query on a fresh state."""
    text = query_string(to_query(a))
    b = new_state()
    assert apply_query(b, dict(parse_qsl(urlsplit(text).query))) == []
    return b


def assert_same_run(a: SimState, b: SimState) -> None:
    assert b.current_step == a.current_step
    assert len(b.history) == len(a.history)
    for ra, rb in zip(a.history, b.history):
        assert_same_record(rb, ra)
    assert_same_record(b.record, a.record)
    assert (b.beta, b.learning_rate, b.adaptive_weight, b.flipped) == (
        a.beta, a.learning_rate, a.adaptive_weight, a.flipped)


# -- every parameter reads and writes ------------------------------------------------------
def test_every_parameter_reads_and_writes_back_to_the_same_text():
    q = {"scenario": "other", "beta": "1.25", "lr": "0.75", "weight": "on", "speed": "45",
         "flipped": "0,3", "events": "4:flip:1,4:beta:0.5,7:lr:2.5,7:weight:off,9:flip:1",
         "step": "12", "hide": "log,share"}
    st = new_state()
    assert apply_query(st, q) == []
    assert {p.name for p in URL_PARAMS} == set(q) | {"autoplay", "loss", "eps"}
    assert to_query(st) == q
    assert (st.scenario, st.current_step, st.speed, st.hidden) == (
        "other", 12, 45, ["log", "share"])
    # the state at step 12 is the one the actions lead to
    assert (st.beta, st.learning_rate, st.adaptive_weight, st.flipped) == (0.5, 2.5, False,
                                                                          [0, 3])
    assert not st.playing
    auto = new_state()
    assert apply_query(auto, {"autoplay": "1"}) == [] and auto.playing
    assert "autoplay" not in to_query(auto)        # a link never starts playing by itself


def test_the_address_text_is_short_and_readable():
    st = new_state()
    st.advance(3)
    st.beta = 0.45
    st.flip(2)
    st.advance(2)
    text = query_string(to_query(st))
    assert text == "?scenario=toy&events=3:flip:2,3:beta:0.45&step=5"
    assert query_string({}) == ""


def test_a_hand_written_simple_link_runs_from_step_zero_with_those_settings():
    st = new_state()
    assert apply_query(st, {"scenario": "other", "beta": "0.5", "step": "20"}) == []
    ref = Simulation(scenarios()["other"].with_settings(beta=0.5))
    ref.advance(20)
    assert_same_record(st.record, ref.record)
    assert to_query(st) == {"scenario": "other", "beta": "0.5", "step": "20"}


def test_step_and_autoplay_together_run_to_the_step_then_play():
    st = new_state()
    assert apply_query(st, {"step": "8", "autoplay": "1"}) == []
    assert st.current_step == 8 and st.playing
    assert "step" not in to_query(st)               # a playing page's link has no step
    st.pause()
    assert to_query(st)["step"] == "8"


def test_events_without_a_step_stop_at_the_last_action():
    st = new_state()
    assert apply_query(st, {"events": "6:flip:0,3:beta:2"}) == []   # order by step
    assert st.current_step == 6 and st.beta == 2.0 and st.flipped == [0]


# -- exact replays ---------------------------------------------------------------------------
def test_actions_at_step_zero_stay_in_the_plain_parameters():
    a = new_state()
    a.beta = 1.5
    a.flip(1)
    a.flip(2)
    a.flip(1)                    # back: only row 2 stays flipped
    a.adaptive_weight = False
    a.adaptive_weight = True     # back to the scenario's value: left out
    a.advance(10)
    q = to_query(a)
    assert q == {"scenario": "toy", "beta": "1.5", "flipped": "2", "step": "10"}
    assert_same_run(a, round_trip(a))


def test_a_link_written_mid_run_replays_bit_identically():
    a = new_state()
    a.advance(5)
    a.beta = 2.0
    a.flip(0)
    a.advance(1)
    a.flip(0)                    # back at the very next step
    a.learning_rate = 0.3
    a.advance(4)
    a.adaptive_weight = False
    a.flip(3)
    a.flip(3)                    # twice at one step: drops out of the link
    a.beta = 0.25
    a.beta = 0.75                # last value at a step wins
    a.advance(7)
    q = to_query(a)
    assert q["events"] == ("5:flip:0,5:beta:2.0,6:flip:0,6:lr:0.3,10:beta:0.75,"
                           "10:weight:off")
    assert q["step"] == "17"
    b = round_trip(a)
    assert_same_run(a, b)
    assert to_query(b) == q
    # and the Simulation's own replay (scripted events) gives the same numbers
    ref = Simulation(a.replay_scenario())
    ref.advance(17)
    for ra, rb in zip(ref.history, b.history):
        assert_same_record(rb, ra)


ACTION = hs.one_of(
    hs.tuples(hs.just("advance"), hs.integers(1, 6)),
    hs.tuples(hs.just("flip"), hs.integers(0, 3)),
    hs.tuples(hs.just("beta"), hs.sampled_from([0.05, 0.3, 0.5, 1.0, 2.45, 5.0])),
    hs.tuples(hs.just("learning_rate"), hs.sampled_from([0.01, 0.5, 2.0, 3.3])),
    hs.tuples(hs.just("adaptive_weight"), hs.booleans()),
)


@settings(max_examples=40, deadline=None)
@given(hs.sampled_from(["toy", "other"]), hs.lists(ACTION, max_size=14))
def test_any_mix_of_actions_round_trips_bit_identically(sid, actions):
    a = new_state()
    a.load(sid)
    for kind, v in actions:
        if kind == "advance":
            a.advance(v)
        elif kind == "flip":
            a.flip(v)
        else:
            setattr(a, kind, v)
    b = round_trip(a)
    assert b.scenario == sid
    assert_same_run(a, b)


def _toml_events(actions: list[tuple[int, str, object]]) -> str:
    out = []
    for step, key, v in actions:
        if key == "flip":
            out.append(f"[[events]]\nstep = {step}\nflip = {v}\n")
        else:
            val = ("true" if v else "false") if isinstance(v, bool) else repr(float(v))
            out.append(f"[[events]]\nstep = {step}\nset = {{ {key} = {val} }}\n")
    return "\n".join(out)


def test_a_mid_run_link_matches_dpo_sim_run_on_a_toml_scripting_the_same_actions(tmp_path):
    """The page side: a real preset driven like a learner would (sliders, flips, mid-run);
    the CLI side: the preset file plus [[events]] written here from the same action list,
    run by `python -m dpo_sim run`; every record of the link's replay must be equal."""
    script = [(0, "beta", 0.5), (0, "flip", 3), (20, "beta", 1.5), (30, "flip", 1),
              (30, "adaptive_weight", False), (30, "flip", 4), (45, "learning_rate", 0.3)]
    a = SimState(scenario="mislabel")
    for step, key, v in script:
        a.advance(step - a.current_step)
        a.flip(v) if key == "flip" else setattr(a, key, v)
    a.advance(50 - a.current_step)
    q = to_query(a)
    assert q["beta"] == "0.5" and q["flipped"] == "3" and q["step"] == "50"
    assert q["events"] == "20:beta:1.5,30:flip:1,30:flip:4,30:weight:off,45:lr:0.3"

    b = SimState()
    assert apply_query(b, dict(parse_qsl(query_string(q)[1:]))) == []
    toml = tmp_path / "scripted.toml"
    toml.write_text((ROOT / "presets" / "mislabel.toml").read_text() + "\n"
                    + _toml_events(script))
    out = subprocess.run([sys.executable, "-m", "dpo_sim", "run", str(toml), "--steps", "50",
                          "--format", "jsonl"], cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    lines = [json.loads(s) for s in out.stdout.splitlines()[1:]]
    assert [d["step"] for d in lines] == list(range(51))
    assert len(b.history) == 51
    for d, rec in zip(lines, b.history):
        d.pop("kl_to_rlhf")            # the CLI's own addition (the distance to RLHF's pi*)
        assert json.loads(json.dumps(rec.to_dict())) == d, d["step"]


def assert_as_fresh(st):
    """The state shows exactly what a fresh one shows: the bad values changed nothing."""
    assert_same_record(st.record, new_state().record)
    assert (st.scenario, st.speed, st.flipped, st.hidden, st.playing) == ("toy", 20, [], [],
                                                                         False)


# -- bad values ------------------------------------------------------------------------------
BAD = [
    ("scenario", "nope"), ("scenario", "../../etc/passwd"), ("scenario", "/etc/passwd"),
    ("scenario", "presets/align.toml"), ("beta", "abc"), ("beta", "nan"), ("beta", "inf"),
    ("beta", "1e9"), ("beta", "0"), ("lr", "-1"), ("weight", "maybe"), ("speed", "0"),
    ("speed", "1.5"), ("speed", "999"), ("flipped", "1,9"), ("flipped", "-1"),
    ("flipped", "a"), ("events", "10:beta"), ("events", "x:beta:1"), ("events", "-3:beta:1"),
    ("events", "10:gamma:1"), ("events", "10:flip:9"), ("events", "10:beta:nan"),
    ("events", "10:beta:101"), ("beta", "100.5"), ("lr", "1e3"),
    ("events", "10:weight:maybe"), ("events", "20001:flip:0"),
    ("events", ",".join(f"{i}:flip:0" for i in range(MAX_URL_EVENTS + 1))),
    ("step", "-3"), ("step", "1e3"), ("step", "20001"), ("step", "x"), ("autoplay", "yes"),
    ("hide", "log,everything"), ("colour", "red"),
]


@pytest.mark.parametrize("name, text", BAD)
def test_a_bad_value_is_ignored_with_a_notice_naming_it_and_defaults_stay(name, text):
    st = new_state()
    notices = apply_query(st, {name: text})
    assert len(notices) == 1 and notices[0].startswith(f"ignored {name}"), notices
    assert len(notices[0]) < 250         # one line; hide= lists its 21 parts
    assert_as_fresh(st)


def test_actions_after_the_step_of_the_link_are_inconsistent():
    st = new_state()
    notices = apply_query(st, {"events": "5:beta:2,30:flip:1", "step": "10"})
    assert len(notices) == 1 and notices[0].startswith("ignored events")
    assert "after step=10" in notices[0]
    ref = Simulation(scenarios()["toy"])
    ref.advance(10)
    assert_same_record(st.record, ref.record)      # the step still applies, without them


def test_one_bad_value_leaves_the_good_ones_working():
    st = new_state()
    notices = apply_query(st, {"scenario": "other", "beta": "x", "flipped": "1", "step": "4"})
    assert [n.split(":")[0] for n in notices] == ["ignored beta=x"]
    ref = Simulation(scenarios()["other"])
    ref.flip(1)
    ref.advance(4)
    assert_same_record(st.record, ref.record)


def test_no_value_from_a_link_is_ever_opened_as_a_path(monkeypatch):
    """With the real presets: the loader is only asked for known ids, and no file named
    by the link is opened."""
    st = SimState()
    asked = []
    loader = st._load_scenario
    st._load_scenario = lambda sid: asked.append(sid) or loader(sid)
    real_open = builtins.open
    opened = []

    def spy(file, *a, **kw):
        opened.append(str(file))
        return real_open(file, *a, **kw)

    monkeypatch.setattr(builtins, "open", spy)
    for text in ("../../etc/passwd", "/etc/passwd", str(ROOT / "presets" / "align.toml"),
                 "align.toml", "presets/align", "..", "align/../drop-sigma"):
        notices = apply_query(st, {"scenario": text})
        assert len(notices) == 1 and "unknown scenario" in notices[0]
    assert asked == []
    assert not any("passwd" in f or f.endswith("align.toml") for f in opened), opened
    assert st.scenario == "align"


# -- teacher mode ----------------------------------------------------------------------------
def test_every_hideable_part_hides_its_views_and_share_is_one_of_them():
    assert set(HIDEABLE) == {"sliders", "picker", "watch", "download", "pairs", "pulls",
                             "charts", "log", "formula", "readouts", "share", "try", "learn",
                             "frontier", "sweep", "beta", "lr", "weight", "loss", "eps", "speed"}
    d = create_dashboard(scenarios=scenarios(), scenario="toy", theme="light",
                         query={"hide": ",".join(HIDEABLE)})
    assert d.notices == [] and d.state.hidden == list(HIDEABLE)
    for part, objs in d._parts.items():
        assert objs and not any(o.visible for o in objs), part
    d.state.hidden = ["pairs"]
    assert not d.views["pairs"].__panel__().visible
    assert d.views["log"].__panel__().visible and d.views["controls"].boxes["beta"].visible
    # one setting's control alone, by its address name
    c = d.views["controls"]
    d.state.hidden = ["beta"]
    assert not c.boxes["beta"].visible
    assert c.boxes["learning_rate"].visible and c.boxes["speed"].visible
    d.state.hidden = ["lr", "weight"]
    assert c.boxes["beta"].visible and not c.boxes["learning_rate"].visible
    assert not c.boxes["adaptive_weight"].visible
    d.state.hidden = ["sliders"]
    assert not any(b.visible for b in c.boxes.values())
    d.state.hidden = []
    assert all(b.visible for b in c.boxes.values())
    # the side column's parts each hide alone; all of them hidden, the column goes
    d.state.hidden = ["picker"]
    assert not c.scenario.visible and c.watch.visible and d._side.visible
    d.state.hidden = ["sliders", "picker", "watch", "download", "share"]
    assert not c.download.visible and not d._side.visible
    assert d._body.css_classes == ["no-side"]
    d.state.hidden = ["readouts"]
    assert not d.views["readouts"].__panel__().visible and d.views["step"].pane.visible
    assert d._side.visible and d._body.css_classes == []


def test_hide_repeats_collapse_and_round_trip():
    st = new_state()
    assert apply_query(st, {"hide": "log,log,charts"}) == []
    assert st.hidden == ["log", "charts"] and to_query(st)["hide"] == "log,charts"


# -- the Share control's text ----------------------------------------------------------------
def test_share_control_follows_the_state_and_the_snippet_escapes_the_link():
    d = create_dashboard(scenarios=scenarios(), scenario="toy", theme="light")
    share = d.views["share"].widget
    assert share.query == "?scenario=toy" and share.title == "Toy toy"
    d.state.advance(2)
    d.state.flip(1)
    assert share.query == "?scenario=toy&events=2:flip:1&step=2"
    d.state.load("other")
    assert share.query == "?scenario=other" and share.title == "Toy other"
    assert share.note == ""
    d.state.advance(3)
    d.state.play()
    assert share.query == "?scenario=other" and "Pause first" in share.note
    d.state.pause()
    assert share.query == "?scenario=other&step=3" and share.note == ""
    s = snippet("http://h:1/?scenario=a&beta=2", 'A "b"')
    assert s == ('<iframe src="http://h:1/?scenario=a&amp;beta=2" width="100%" height="900" '
                 'style="border:0" title="dpo-sim: A &quot;b&quot;"></iframe>')


def test_round_trip_with_scripted_events_in_the_scenario():
    """A scenario that flips row 1 at step 0 and sets beta at step 6 by itself: the link
    carries only what the user did (here: flip row 1 back at step 0, beta at step 4)."""

    spec = make_scenario("scripted", events=[Event(0, flip=1), Event(6, set={"beta": 3.0})])
    mk = lambda: SimState(scenarios={"scripted": spec}, scenario="scripted")  # noqa: E731
    a = mk()
    assert a.flipped == [1]
    a.flip(1)                                  # undo the scenario's own step-0 flip
    a.advance(4)
    a.beta = 0.2
    a.advance(5)                               # past the scripted beta at step 6
    q = to_query(a)
    assert q == {"scenario": "scripted", "flipped": "1", "events": "4:beta:0.2", "step": "9"}
    b = mk()
    assert apply_query(b, q) == []
    assert_same_run(a, b)
    assert b.beta == 3.0 and b.flipped == []
    ref = Simulation(a.replay_scenario())
    ref.advance(9)
    assert_same_record(b.record, ref.record)


# -- the address (URL_PARAMS) ------------------------------------------------------------


def test_url_params_are_the_public_names():
    assert [p.name for p in URL_PARAMS] == ["scenario", "beta", "lr", "weight", "loss", "eps",
                                            "speed", "flipped", "events", "step", "autoplay",
                                            "hide"]


def test_a_query_reproduces_the_state_it_was_written_from():
    a = new_state()
    a.load("other")
    a.beta = 1.25
    a.adaptive_weight = True
    a.speed = 45
    a.flip(3)
    a.flip(0)
    a.advance(9)
    a.hidden = ["log", "pairs"]
    q = to_query(a)
    assert q == {"scenario": "other", "beta": "1.25", "weight": "on", "speed": "45",
                 "flipped": "0,3", "step": "9", "hide": "log,pairs"}
    b = new_state()
    assert apply_query(b, q) == []
    assert_same_record(b.record, a.record)
    assert (b.scenario, b.speed, b.flipped, b.hidden, b.playing) == (
        "other", 45, [0, 3], ["log", "pairs"], False)
    assert to_query(b) == q


def test_bad_query_values_are_ignored_with_a_notice_and_defaults_stay():
    st = new_state()
    notices = apply_query(st, {"scenario": "../../etc/passwd", "beta": "abc", "lr": "1e9",
                               "weight": "maybe", "speed": "0", "flipped": "1,9",
                               "step": "-3", "autoplay": "yes", "hide": "log,everything",
                               "colour": "red"})
    assert len(notices) == 10
    for name in ("scenario", "beta", "lr", "weight", "speed", "flipped", "step",
                 "autoplay", "hide", "colour"):
        assert any(n.startswith(f"ignored {name}") for n in notices), name
    assert "unknown scenario" in " ".join(notices)
    assert_as_fresh(st)


def test_autoplay_and_step_in_the_query():
    st = new_state()
    assert apply_query(st, {"step": "12", "autoplay": "1"}) == []
    assert st.current_step == 12 and st.playing
    assert set(HIDEABLE) >= {"sliders", "log", "charts", "picker", "pairs"}
