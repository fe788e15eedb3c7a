"""The dashboard's state object, without a browser: transitions, timing, logging, CSV.

Every number the state shows is checked against a plain ``Simulation`` driven with the
same actions (the CLI's engine), or against a closed form."""

from __future__ import annotations

import contextlib
import csv
import io
import math

import numpy as np
import pytest

from dpo_sim.app.state import MAX_EVENTS, SimState
from dpo_sim.sim.scenario import Event
from dpo_sim.sim.simulation import Simulation
from helpers import assert_same_record, make_scenario, new_state, scenarios


def test_opens_paused_at_step_zero_with_the_scenario_settings():
    st = new_state()
    spec = scenarios()["toy"]
    assert (st.current_step, st.playing, st.scenario) == (0, False, "toy")
    assert (st.beta, st.learning_rate, st.adaptive_weight) == (
        spec.beta, spec.learning_rate, spec.adaptive_weight)
    assert st.record.loss == pytest.approx(math.log(2))     # pi == pi_ref: loss is log 2
    assert st.flipped == []
    assert st.log == [] and st.events == [] and st.focus_row == 0


def test_default_scenario_is_the_align_preset():
    pytest.importorskip("dpo_sim.sim.scenario_io")
    st = SimState()
    assert st.scenario == "align" and st.current_step == 0 and not st.playing
    assert st.spec.title == st.titles["align"]


def test_step_advances_exactly_one_and_pauses():
    st = new_state()
    st.play()
    st.step()
    assert st.current_step == 1 and not st.playing
    ref = Simulation(scenarios()["toy"])
    ref.advance(1)
    assert_same_record(st.record, ref.record)


def test_slider_change_takes_effect_from_the_next_step():
    st = new_state()
    st.advance(3)
    before = st.record.probs.copy()
    st.beta = 1.5
    # the current record is recomputed with the new beta but the policy has not moved
    assert st.record.step == 3 and st.record.beta == 1.5
    np.testing.assert_array_equal(st.record.probs, before)
    st.advance(1)
    # the update 3 -> 4 used beta 1.5: compare with the engine driven the same way
    ref = Simulation(scenarios()["toy"])
    ref.advance(3)
    ref.set(beta=1.5)
    ref.advance(1)
    assert_same_record(st.record, ref.record)
    assert any("beta 0.5 -> 1.5" in line and line.startswith("step 3") for line in st.log)


def test_weight_toggle_is_logged_and_makes_every_weight_one():
    st = new_state()
    st.advance(2)
    st.adaptive_weight = False
    assert "step 2 · sigma weight on -> off" in st.log
    st.advance(1)
    np.testing.assert_array_equal(st.record.row_weight, np.ones(4))


def test_page_numbers_equal_a_simulation_driven_with_the_same_actions():
    rng = np.random.default_rng(7)
    st = new_state()
    ref = Simulation(scenarios()["toy"])
    for _ in range(40):
        kind = rng.integers(4)
        if kind == 0:
            n = int(rng.integers(1, 6))
            st.advance(n)
            ref.advance(n)
        elif kind == 1:
            i = int(rng.integers(4))
            st.flip(i)
            ref.flip(i)
        elif kind == 2:
            b = float(np.round(rng.uniform(0.1, 3.0), 2))
            if b != st.beta:
                st.beta = b
                ref.set(beta=b)
        else:
            w = not st.adaptive_weight
            st.adaptive_weight = w
            ref.set(adaptive_weight=w)
        assert_same_record(st.record, ref.record)
    assert len(st.history) == len(ref.history)
    for a, b in zip(st.history, ref.history):
        assert_same_record(a, b)
    # and the run replays through the scenario's events (as the CLI would run it)
    replayed = Simulation(st.replay_scenario())
    replayed.advance(st.current_step)
    assert_same_record(replayed.record, st.record)


def test_flip_marks_the_row_and_swaps_chosen_and_rejected():
    st = new_state()
    st.advance(2)
    st.flip(1)
    assert st.flipped == [1] and st.focus_row == 1
    assert st.pairs.chosen[1] == 2 and st.pairs.rejected[1] == 0
    assert any(line.startswith("step 2 · flip row 1") for line in st.log)
    st.flip(1)
    assert st.flipped == []


def test_flip_while_playing_keeps_playing():
    st = new_state()
    st.play()
    st.flip(0)
    assert st.playing and st.flipped == [0]


def test_reset_returns_exactly_to_the_start_when_the_sliders_are_untouched():
    st = new_state()
    start = st.record
    st.advance(5)
    st.flip(2)
    st.play()
    st.reset()
    assert (st.current_step, st.playing, st.flipped) == (0, False, [])
    assert (st.beta, st.learning_rate) == (0.5, 2.0)
    assert_same_record(st.record, start)
    assert len(st.history) == 1 and st.actions == ()
    assert st.log == ["step 0 · reset to the start of toy"]


def test_reset_restarts_with_the_settings_now_on_the_sliders():
    """As TensorFlow Playground's reset: the run starts again from step 0 with the
    sliders as they are (flips undone); the address and the CSV say so."""
    from dpo_sim.app.address import to_query

    st = new_state()
    st.advance(5)
    st.flip(2)
    st.beta = 2.5
    st.learning_rate = 0.7
    st.reset()
    assert (st.current_step, st.flipped, st.beta, st.learning_rate) == (0, [], 2.5, 0.7)
    want = Simulation(scenarios()["toy"].with_settings(beta=2.5, learning_rate=0.7))
    assert_same_record(st.record, want.record)
    st.advance(3)
    want.advance(3)
    assert_same_record(st.record, want.record)
    assert st.log[0] == ("step 0 · reset to the start of toy, keeping beta 2.5, "
                         "learning_rate 0.7 from the sliders")
    assert to_query(st)["beta"] == "2.5" and to_query(st)["lr"] == "0.7"


def test_load_switches_scenario_with_its_own_settings_and_keeps_playing():
    st = new_state()
    st.advance(4)
    st.beta = 1.75
    st.load("other")                 # paused: stays paused
    assert (st.scenario, st.current_step, st.playing) == ("other", 0, False)
    assert (st.beta, st.learning_rate, st.adaptive_weight) == (2.0, 0.5, False)
    assert st.log == ["step 0 · load scenario other (Toy other)"]
    st.play()
    st.load("toy")                   # playing: the new run plays on
    assert (st.scenario, st.current_step, st.playing) == ("toy", 0, True)
    assert (st.beta, st.learning_rate) == (0.5, 2.0)     # the scenario's own
    st.pause()
    # setting the param directly (the picker) does the same
    st.scenario = "toy"
    assert st.spec.id == "toy" and st.beta == 0.5
    assert not any(" -> " in line for line in st.log)


def test_scripted_events_apply_on_the_page_as_in_the_engine():
    spec = make_scenario(events=[Event(step=3, flip=0), Event(step=5, set={"beta": 1.0})])
    st = SimState(scenarios={"ev": spec}, scenario="ev")
    st.advance(6)
    ref = Simulation(spec)
    ref.advance(6)
    assert_same_record(st.record, ref.record)
    assert st.beta == 1.0 and st.flipped == [0]     # the controls follow the script
    assert "step 3 · scenario flips row 0" in st.log
    assert "step 5 · scenario sets beta to 1" in st.log
    assert not any(" -> " in line for line in st.log)   # not logged as user actions


def test_speed_is_20_by_default_and_goes_to_at_least_60():
    st = new_state()
    assert st.speed == 20
    st.speed = 60
    assert st.speed == 60 and st.param.speed.bounds[1] >= 60


def test_tick_follows_the_wall_clock_and_never_builds_a_backlog():
    st = new_state()
    st.speed = 20
    st.tick(now=0.0)
    assert st.current_step == 0          # paused: nothing happens
    st.play()
    st.tick(now=10.0)                    # first beat after Play: one step
    assert st.current_step == 1
    st.tick(now=10.5)                    # 0.5 s at 20 steps/s
    assert st.current_step == 11
    st.tick(now=10.525)                  # half a step owed: none yet
    assert st.current_step == 11
    st.tick(now=10.55)                   # the half adds up to one
    assert st.current_step == 12
    st.tick(now=100.0)                   # a long stall: at most half a second of steps
    assert st.current_step == 22
    st.pause()
    st.tick(now=200.0)
    assert st.current_step == 22


def test_one_hold_per_tick_wraps_every_view_update():
    depth = {"now": 0, "entered": 0}
    seen = []

    @contextlib.contextmanager
    def hold():
        if depth["now"] == 0:
            depth["entered"] += 1
        depth["now"] += 1
        try:
            yield
        finally:
            depth["now"] -= 1

    st = SimState(scenarios=scenarios(), hold=hold)
    st.subscribe(lambda kind, recs: seen.append((kind, depth["now"] > 0, len(recs))))
    st.play()
    depth["entered"] = 0
    st.tick(now=0.0)
    st.tick(now=0.2)                     # 4 steps in one beat
    assert depth["entered"] == 2
    assert seen == [("step", True, 1), ("step", True, 4)]
    st.flip(0)
    st.beta = 1.0
    st.reset()                           # pauses first: one hold for the pause, one reset
    assert depth["entered"] == 6
    assert [k for k, inside, _ in seen[2:]] == ["action", "action", "pause", "reset"]
    assert all(inside for _, inside, _ in seen)


def _recorder(st):
    """Subscribe to st; returns the list of (kind, [steps]) the views are handed."""
    seen = []
    st.subscribe(lambda kind, recs: seen.append((kind, [r.step for r in recs])))
    return seen


def test_play_loop_sends_nothing_new_until_the_browser_has_drawn_the_last_update():
    from dpo_sim.app.state import ACK_TIMEOUT

    st = new_state()
    st.flow_control = True               # what a served page sets
    seen = _recorder(st)
    st.play()
    st.tick(now=0.0)                     # 20 steps/s
    assert seen == [("step", [1])] and st.waiting_for_ack
    first = st.push_seq
    st.tick(now=0.05)
    st.tick(now=0.10)                    # the simulation keeps time...
    assert st.current_step == 3
    assert seen == [("step", [1])]       # ...but the browser is still drawing: nothing sent
    st.ack(first - 1, now=0.11)          # an old acknowledgement changes nothing
    assert seen == [("step", [1])]
    st.ack(first, now=0.11)              # drawn: the waiting steps go out together, at once
    assert seen[-1] == ("step", [2, 3]) and st.waiting_for_ack
    st.tick(now=0.15)
    st.tick(now=0.11 + ACK_TIMEOUT - 0.01)
    assert seen[-1] == ("step", [2, 3])  # that one is not acknowledged yet
    st.tick(now=0.11 + ACK_TIMEOUT + 0.5)    # a lost acknowledgement: sent anyway
    assert seen[-1] == ("step", list(range(4, st.current_step + 1)))
    assert st.current_step > 4
    # every step reached the views exactly once, in order, and equals the run
    shown = [s for kind, steps in seen for s in steps]
    assert shown == list(range(1, st.current_step + 1))
    assert len(st.history) == st.current_step + 1


def test_pause_and_actions_show_the_waiting_steps_at_once():
    st = new_state()
    st.flow_control = True
    seen = _recorder(st)
    st.play()
    st.tick(now=0.0)
    st.tick(now=0.1)                     # two steps wait for an acknowledgement
    assert seen == [("step", [1])]
    st.flip(2)                           # a flip comes after the steps taken before it
    assert seen[1:] == [("step", [2, 3]), ("action", [3])]
    st.tick(now=0.2)                     # still waiting (the flip is not a play update)
    st.tick(now=0.3)
    n = st.current_step
    assert n > 4 and seen[-1] == ("action", [3])
    st.pause()                           # Pause: whatever waits shows now, acknowledged or not
    assert seen[-2:] == [("step", list(range(4, n + 1))), ("pause", [])]
    assert not st.waiting_for_ack
    st.tick(now=5.0)
    assert st.current_step == n
    # the page and the engine agree on the run with the flip at step 3
    ref = Simulation(scenarios()["toy"])
    ref.advance(3)
    ref.flip(2)
    ref.advance(n - 3)
    assert_same_record(st.record, ref.record)


def test_without_flow_control_every_beat_is_sent():
    st = new_state()                     # a notebook or a test: nobody acknowledges
    seen = _recorder(st)
    st.play()
    for t in (0.0, 0.05, 0.1):
        st.tick(now=t)
    assert seen == [("step", [1]), ("step", [2]), ("step", [3])]
    assert not st.waiting_for_ack


def test_the_log_keeps_every_event_and_one_line_for_the_latest_step():
    st = new_state()
    st.advance(250)
    assert st.log == [] and st.step_line.startswith("step 250 · loss ")
    st.flip(1)
    st.advance(3)
    st.adaptive_weight = False
    assert st.log == ["step 250 · flip row 1 (flipped): now “bad” > “good” 9:1",
                      "step 253 · sigma weight on -> off"]
    assert [e.kind for e in st.events] == ["flip", "set"]
    assert [e.step for e in st.marks()] == [250, 253]
    # the full run stays in the simulation history (for the CSV)
    assert len(st.history) == 254
    for _ in range(MAX_EVENTS + 10):      # a bound, should someone flip all day
        st.flip(0)
    assert len(st.events) == MAX_EVENTS and st.events[-1].kind == "flip"


def test_a_setting_moved_again_at_the_same_step_is_one_line():
    """A slider moved by its arrow keys sends one value per key press: the log shows
    one action per settled value, from the first value to the last."""
    st = new_state()
    st.advance(2)
    for b in (0.55, 0.6, 0.65):
        st.beta = b
    assert st.log == ["step 2 · beta 0.5 -> 0.65"]
    st.flip(0)
    st.beta = 0.7                           # after another event: a line of its own
    st.advance(1)
    st.beta = 0.75                          # another step: a line of its own
    assert st.log[-2:] == ["step 2 · beta 0.65 -> 0.7", "step 3 · beta 0.7 -> 0.75"]


def test_slider_values_are_kept_on_their_grid():
    """A slider's arithmetic gives 0.39999999999999997 for 8 steps of 0.05; the state
    keeps 0.4, so the address says 0.4. A value off the grid stays as given."""
    from dpo_sim.app.address import to_query

    st = new_state()
    st.advance(3)
    st.beta = 0.39999999999999997          # what the browser's slider sends for 0.4
    assert st.beta == 0.4 and st.record.beta == 0.4
    assert to_query(st)["events"] == "3:beta:0.4"
    st.beta = 0.123456789
    assert st.beta == 0.123456789


def test_looking_at_a_row_changes_nothing_but_the_row_explained():
    st = new_state()
    st.advance(3)
    before = st.record
    st.look(3)
    assert st.focus_row == 3 and st.record is before and st.actions == ()
    st.look(99)                             # no such row: ignored
    assert st.focus_row == 3


def test_csv_holds_the_whole_run_with_exact_numbers():
    st = new_state()
    st.advance(3)
    st.flip(0)
    st.beta = 1.25
    st.advance(2)
    rows = list(csv.DictReader(io.StringIO(st.csv())))
    assert [int(r["step"]) for r in rows] == list(range(6))
    for r, rec in zip(rows, st.history):
        assert float(r["loss"]) == rec.loss
        assert float(r["beta"]) == rec.beta
        probs = np.array([[float(r[f"probs/{x}/{y}"]) for y in range(3)] for x in range(2)])
        np.testing.assert_array_equal(probs, rec.probs)
        # independent check: KL from the written probabilities and the reference
        ref = np.exp(st.logp_ref)
        kl = (probs * np.log(probs / ref)).sum(axis=1)
        np.testing.assert_allclose([float(r["kl/0"]), float(r["kl/1"])], kl, atol=1e-12)
    assert float(rows[0]["loss"]) == pytest.approx(math.log(2))
    assert rows[4]["beta"] == "1.25" and rows[3]["beta"] == "1.25"   # set at step 3


def test_play_loop_is_a_background_periodic_callback_at_the_right_period():
    """Panel marks the session busy around every non-background periodic callback, which
    would flicker a busy indicator at every tick; the play loop must not."""
    import panel as pn
    from bokeh.document import Document
    from panel.io.state import set_curdoc

    st = new_state()
    with set_curdoc(Document()):
        st.play()
        cb = st._callback
        assert cb is not None and cb._background
        assert cb.period == 50                       # 20 steps/s, one step per beat
        st.speed = 60
        assert cb.period == 33                       # capped at 30 beats/s, 2 steps each
        before = list(pn.state._busy_counter)
        st.pause()
    assert st._callback is None and not cb.running
    assert list(pn.state._busy_counter) == before


# -- bounded memory: a session that plays for hours -----------------------------------------
def test_a_session_s_stored_size_does_not_grow_however_long_it_plays():
    """Half an hour at 20 steps/s (36,000 steps, with actions on the way): the stored
    records stop growing once the charts' window is held, and the CSV, recomputed from
    the scenario and the actions, is still every step, bit for bit the CLI's."""
    from dpo_sim.app.state import HISTORY_LIMIT
    from dpo_sim.sim.export_csv import to_csv
    from dpo_sim.sim.scenario_io import load_scenario

    st = SimState()
    st.load("align")
    sizes = []
    for k in range(36):
        st.advance(1000)
        if k == 3:
            st.flip(2)
        if k == 7:
            st.beta = 0.5
        sizes.append(st.history.nbytes)
    assert max(sizes[5:]) == min(sizes[5:]) == 2 * HISTORY_LIMIT * st.history.width * 8
    assert len(st.history) >= 1500 and st.history.dropped > 30_000    # the charts' 1,500
    assert st.history.first.step == 0
    text = st.csv()
    sc = load_scenario("align").with_settings(
        events=(Event(4000, flip=2), Event(8000, set={"beta": 0.5})))
    sim = Simulation(sc)
    sim.advance(36_000)
    assert text == to_csv(sim.history)
