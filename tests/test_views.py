"""The dashboard's views without a browser: what each view would show equals the engine's
numbers, figures are built once, histories are bounded, every update sits in one hold."""

from __future__ import annotations

import contextlib
import csv
import io
import re

import numpy as np
import param
import pytest
from bokeh.document import Document

from dpo_sim.app.dashboard import Dashboard, create_dashboard
from dpo_sim.app.theme import LIGHT
from dpo_sim.app.views.history import HistoryCharts
from dpo_sim.app.views.pairs import row_items
from dpo_sim.sim.scenario_io import load_scenario
from dpo_sim.sim.simulation import Simulation
from helpers import make_scenario, scenarios


def dashboard(**kw) -> Dashboard:
    return create_dashboard(scenarios=scenarios(), scenario="toy", theme="light", **kw)


def values(html: str) -> dict:
    """data-testid -> data-value from a view's HTML."""
    return {m[0]: m[1] for m in re.findall(r'data-testid="([^"]+)" data-value="([^"]+)"', html)}


def test_builds_every_part_and_renders_to_bokeh_models():
    d = dashboard()
    for part in ("controls", "readouts", "bars", "pairs", "formula", "history", "log", "keys",
                 "step"):
        assert part in d.views
    root = d.__panel__().get_root(Document())
    assert root is not None
    assert len(d.views["bars"]) == 2


def test_no_renderer_carries_copies_of_its_glyph_for_selection_or_muting():
    """style_figure leaves the unselected and muted looks to the browser ("auto"): two
    glyph models fewer per renderer; a look switched off on purpose (None) stays off."""
    from bokeh.models import Glyph, GlyphRenderer

    doc = Document()
    d = Dashboard()
    doc.add_root(d.__panel__().get_root(doc))
    renderers = [m for m in doc.models if isinstance(m, GlyphRenderer)]
    assert len(renderers) >= 30
    for r in renderers:
        assert not isinstance(r.nonselection_glyph, Glyph) and not isinstance(
            r.muted_glyph, Glyph), r
    glyphs = [m for m in doc.models if isinstance(m, Glyph)]
    assert len(glyphs) == len(renderers)                  # one glyph model each
    # and one view per source drawn in a figure, not one per renderer
    from bokeh.models import CDSView, Plot

    pairs = {(id(p), id(r.data_source)) for p in doc.models if isinstance(p, Plot)
             for r in p.renderers if isinstance(r, GlyphRenderer)}
    views = [m for m in doc.models if isinstance(m, CDSView)]
    assert len(views) == len(pairs) < len(renderers)
    for p in (m for m in doc.models if isinstance(m, Plot)):
        rs = [r for r in p.renderers if isinstance(r, GlyphRenderer)]
        for a in rs:
            for b in rs:
                assert (a.view is b.view) == (a.data_source is b.data_source)
    sw = d.views["sweep"]
    cells = [r for r in sw.figure.renderers if r.data_source is sw.cells]
    assert len(cells) == 1 and cells[0].nonselection_glyph is None


def test_chart_ranges_are_not_sent_back_by_the_browser():
    """The browser refits a DataRange1d on every repaint; the server never reads the
    result, so the ranges are not synced back (one message fewer each, per update)."""
    from bokeh.models import Plot

    doc = Document()
    doc.add_root(Dashboard().__panel__().get_root(doc))
    plots = [m for m in doc.models if isinstance(m, Plot)]
    assert len(plots) >= 5
    for p in plots:
        assert p.x_range.syncable is False and p.y_range.syncable is False, p


def test_readouts_and_probabilities_equal_the_engine():
    d = dashboard()
    st = d.state
    st.advance(7)
    st.flip(3)
    ref = Simulation(make_scenario())
    ref.advance(7)
    ref.flip(3)
    rec = ref.record
    v = values(d.views["readouts"].pane.html)
    assert values(d.views["step"].pane.html)["step"] == "7"     # in the header
    assert float(v["loss"]) == rec.loss
    assert float(v["margin"]) == rec.rewards_margins
    assert float(v["accuracy"]) == rec.rewards_accuracies
    for x in range(2):
        assert float(v[f"kl-{x}"]) == rec.kl[x]
        probs = values(d.views["bars"][x].table.html)
        for y in range(3):
            assert float(probs[f"prob-{x}-{y}"]) == rec.probs[x, y]
        src = d.views["bars"][x].source.data
        np.testing.assert_array_equal(src["pi"], rec.probs[x])
        np.testing.assert_array_equal(src["rhat"], rec.rewards[x])
        # the tick sits at pi_ref, computed independently from the reference logits
        t = make_scenario().ref_logits[x]
        np.testing.assert_allclose(src["ref"], np.exp(t) / np.exp(t).sum(), rtol=1e-12)
        ticks = d.views["bars"][x].ref_source.data     # the ticks' own, unpatched source
        np.testing.assert_allclose(ticks["ref"], np.exp(t) / np.exp(t).sum(), rtol=1e-12)
        assert list(ticks["reply"]) == list(src["reply"])


def test_preferred_reply_is_marked_without_colour_alone_and_follows_flips():
    from bokeh.models import HBar

    d = dashboard()
    bars = d.views["bars"][0]
    data = bars.source.data
    # prompt 0: "good" beats both others on votes: it alone is drawn by the top bar glyph
    assert data["pref_pi"][0] == data["pi"][0] and np.isnan(data["pref_pi"][1:]).all()
    assert bars.axis_labels()[0].startswith("★ A")
    assert not any("★" in lab for lab in bars.axis_labels()[1:])
    assert "★" in d.views["bars"][0].table.html.split("</tr>")[1]   # the table's first row
    # that glyph differs by more than its fill: an outline of another colour, and every
    # style is one constant (no per-bar column for BokehJS to recompute each tick)
    base, top = [r.glyph for r in bars.figure.renderers if isinstance(r.glyph, HBar)]
    assert top.right == "pref_pi" and base.right == "pi"
    assert top.line_color != base.line_color and top.line_color != top.fill_color
    assert all(isinstance(g.fill_color, str) and isinstance(g.line_color, str)
               for g in (base, top))
    # flip both rows of prompt 0: now "meh" and "bad" each beat "good"
    d.state.flip(0)
    d.state.flip(1)
    data = bars.source.data
    assert np.isnan(data["pref_pi"][0]) and "★" not in bars.axis_labels()[0]
    assert any(lab.startswith("★") for lab in bars.axis_labels()[1:])
    # the axis was relabelled: its factors are the new labels
    assert list(bars.figure.y_range.factors) == list(reversed(bars.axis_labels()))
    best = int(np.flatnonzero(~np.isnan(data["pref_pi"]))[0])
    assert data["pref_pi"][best] == data["pi"][best] == d.state.record.probs[0, best]


def test_bar_updates_patch_only_the_columns_that_changed(monkeypatch):
    from bokeh.models import ColumnDataSource

    d = dashboard()
    patched = []
    orig = ColumnDataSource.patch
    monkeypatch.setattr(ColumnDataSource, "patch",
                        lambda self, p, *a, **k: (patched.append((self, set(p))),
                                                  orig(self, p, *a, **k)))
    d.state.advance(1)
    bars = {id(b.source) for b in d.views["bars"]}
    patched = [cols for src, cols in patched if id(src) in bars]
    assert len(patched) == 2 and all("ref" not in cols for cols in patched)  # pi_ref stays
    assert all("pi" in cols for cols in patched)


def test_chart_updates_never_touch_the_recorded_history():
    d = dashboard()
    st = d.state
    start = st.record.probs.copy()
    st.advance(4)
    st.flip(1)
    st.advance(2)
    np.testing.assert_array_equal(st.history[0].probs, start)
    ref = Simulation(make_scenario())
    ref.advance(4)
    ref.flip(1)
    ref.advance(2)
    for a, b in zip(st.history, ref.history):
        np.testing.assert_array_equal(a.probs, b.probs)
        np.testing.assert_array_equal(a.rewards, b.rewards)


def test_figures_are_built_once_per_session():
    d = dashboard()
    figs = [b.figure for b in d.views["bars"]] + list(d.views["history"].figures)
    sources = [b.source for b in d.views["bars"]] + [d.views["history"].source]
    st = d.state
    st.advance(5)
    st.flip(0)
    st.beta = 1.0
    st.reset()
    st.load("other")
    st.advance(3)
    assert [b.figure for b in d.views["bars"]] + list(d.views["history"].figures) == figs
    assert [b.source for b in d.views["bars"]] + [d.views["history"].source] == sources


def test_history_is_bounded_by_rollover_and_the_last_point_follows_actions():
    st = dashboard().state
    h = HistoryCharts(st, LIGHT, rollover=50)
    st.subscribe(lambda kind, recs: h.append(recs) if kind == "step" else
                 h.replace_last(recs[-1]) if kind == "action" else h.restart())
    st.advance(120)
    assert len(h.source.data["step"]) == 50
    assert h.source.data["step"][-1] == 120 and h.source.data["step"][0] == 71
    st.flip(0)                                  # record 120 recomputed
    assert len(h.source.data["step"]) == 50
    assert h.source.data["loss"][-1] == st.record.loss
    np.testing.assert_array_equal(
        [h.source.data[c][-1] for c in ("kl0", "kl1")], st.record.kl)
    assert len(st.history) == 121           # the whole run stays downloadable
    st.reset()
    assert list(h.source.data["step"]) == [0]


def test_every_chart_update_happens_inside_the_single_hold(monkeypatch):
    from bokeh.models import ColumnDataSource

    inside = {"n": 0}
    holds = []

    @contextlib.contextmanager
    def hold():
        holds.append(1)
        inside["n"] += 1
        try:
            yield
        finally:
            inside["n"] -= 1

    calls = []
    for name in ("patch", "stream"):
        orig = getattr(ColumnDataSource, name)

        def wrapped(self, *a, _orig=orig, _name=name, **k):
            calls.append((_name, inside["n"] > 0))
            return _orig(self, *a, **k)
        monkeypatch.setattr(ColumnDataSource, name, wrapped)

    d = create_dashboard(scenarios=scenarios(), theme="light", hold=hold)
    st = d.state
    st.play()
    holds.clear()
    st.tick(now=0.0)
    st.tick(now=0.05)      # history streamed at most 10 times a second: this one waits
    st.tick(now=0.25)
    assert len(holds) == 3
    # per beat: each prompt's bars patched, the history streamed, all inside the hold
    bars = [("patch", True)] * 3          # the two bar charts and the pulls picture
    history = [("stream", True)]
    frontier = [("stream", True), ("patch", True)]     # its path, and the run's point
    assert calls == (bars + history + frontier + bars + frontier
                     + bars + history + frontier)
    st.tick(now=0.32)      # one more step; its stream waits, and Pause shows it
    calls.clear()
    st.pause()
    assert calls == [("stream", True)]
    steps = list(d.views["history"].source.data["step"])
    assert steps == list(range(st.current_step + 1)) and st.current_step == 7


def test_pairs_rows_show_the_engine_numbers_and_flip_only_on_purpose():
    d = dashboard()
    st = d.state
    st.advance(4)
    rows = d.views["pairs"].rows
    before = st.record
    rows._handle_msg({"look": 3})                # hover, focus or tap: no change to the run
    assert st.record is before and st.flipped == [] and st.focus_row == 3
    assert rows.looked == 3
    rows._handle_msg({"flip": 2})                # the Flip button or Enter
    assert st.flipped == [2] and st.focus_row == 2
    items = rows.rows
    assert items == row_items(st)
    rec = st.record
    spec = st.spec
    for i, item in enumerate(items):
        a, b = spec.rows[i].votes_chosen, spec.rows[i].votes_rejected
        u = rec.row_margin[i]
        sig = 1 / (1 + np.exp(-u))               # independent: the formula, not the record
        assert float(item["u"]) == pytest.approx(u, abs=5e-4)
        assert float(item["sigma"]) == pytest.approx(sig, abs=5e-4)
        assert float(item["pull_for"]) == pytest.approx(a * (1 - sig), abs=5e-4)
        assert float(item["pull_against"]) == pytest.approx(b * sig, abs=5e-4)
        assert float(item["net"]) == pytest.approx(a * (1 - sig) - b * sig, abs=1e-3)
    assert items[2]["flipped"] and not items[0]["flipped"]
    # row 2 was "yes" > "no" 6:4; flipped it reads "no" > "yes", in full
    assert items[2]["pair"] == "“B: no” > “A: yes”" and items[2]["votes"] == "6:4"


def test_the_log_shows_every_event_newest_first_and_the_latest_step():
    d = dashboard()
    html = d.views["log"].pane.html
    assert "Nothing has happened yet" in html and "Flip" in html
    d.state.advance(45)
    d.state.flip(1)
    d.state.advance(2)
    html = d.views["log"].pane.html
    assert 'data-testid="step-line">step 47 · loss' in html
    assert html.count("<li ") == 1 and "step 45 · flip row 1" in html


def test_formula_strip_works_out_the_row_with_both_pulls():
    d = dashboard()
    st = d.state
    st.advance(6)
    st.look(0)
    html = d.views["formula"].pane.html
    rec = st.record
    # row 0 on prompt 0: "good" over "meh" 7:3; implicit rewards recomputed by hand
    pi = rec.probs[0]
    ref = np.exp(st.logp_ref[0])
    rc = st.beta * np.log(pi[0] / ref[0])
    rr = st.beta * np.log(pi[1] / ref[1])
    assert f"= {rc:+.3f}" in html and f"= {rr:+.3f}" in html
    s = 1 / (1 + np.exp(-(rc - rr)))
    assert f"7 × σ(−u) = {7 * (1 - s):.3f}" in html and f"3 × σ(u) = {3 * s:.3f}" in html
    assert f"{7 * (1 - s) - 3 * s:+.3f}</span>" in html
    # where it ends: at its vote share (its prompt's two rows form no cycle, none drifts)
    assert "σ(u) = 0.700, its share of the votes" in html
    assert float(re.search(r'data-u="([^"]+)"', html)[1]) == pytest.approx(np.log(7 / 3),
                                                                         abs=1e-12)
    st.adaptive_weight = False
    html = d.views["formula"].pane.html
    assert "7 × 1 = 7.000" in html and 'data-u="none"' in html
    # with weight 1 everywhere u moves by the same amount each step, as the strip says
    u0 = st.record.row_margin[0]
    st.advance(1)
    pace = st.record.row_margin[0] - u0
    assert f"{pace:+.4f} per step" in html


def test_keyboard_messages_drive_play_step_and_reset():
    d = dashboard()
    keys, st = d.views["keys"], d.state
    keys._handle_msg({"key": "step"})
    keys._handle_msg({"key": "step"})
    assert st.current_step == 2
    keys._handle_msg({"key": "toggle"})
    assert st.playing
    keys._handle_msg({"key": "toggle"})
    assert not st.playing
    keys._handle_msg({"key": "reset"})
    assert st.current_step == 0
    keys._handle_msg({"key": "unknown"})             # ignored, no error


def test_controls_play_label_picker_titles_and_csv_download():
    d = dashboard()
    c, st = d.views["controls"], d.state
    assert c.play.label == "Play"
    c.play.clicks += 1
    assert st.playing and c.play.label == "Pause"
    c.step.clicks += 1                               # Step pauses and steps once
    assert not st.playing and st.current_step == 1 and c.play.label == "Play"
    assert c.scenario.options == {"Toy toy": "toy", "Toy other": "other"}
    c.scenario.value = "other"
    assert st.spec.id == "other" and "Watch the toy." in c.watch.object
    assert c.weight.label.endswith("off")          # "other" has the sigma weight off
    with param.edit_constant(c.beta):                # a slider released at 1.5
        c.beta.value_throttled = 1.5
    assert st.beta == 1.5 and st.record.beta == 1.5
    st.advance(2)
    text = c.download.callback().getvalue()
    assert text == st.csv()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 3 and float(rows[-1]["loss"]) == st.record.loss
    assert c.download.filename == "dpo-sim-other.csv"


def test_dark_theme_builds_and_two_dashboards_share_nothing():
    a = create_dashboard(scenarios=scenarios(), theme="dark")
    b = create_dashboard(scenarios=scenarios(), theme="light")
    assert a.theme == "dark" and b.theme == "light"
    a.state.advance(3)
    a.state.flip(0)
    assert b.state.current_step == 0 and b.state.flipped == []
    assert a.views["bars"][0].source is not b.views["bars"][0].source


def test_unknown_setting_is_one_clear_error():
    with pytest.raises(TypeError, match="unknown dashboard settings: colour"):
        create_dashboard(scenarios=scenarios(), theme="light", colour="red")


def test_teacher_mode_hides_parts_and_bad_values_show_a_notice():
    d = dashboard(query={"hide": "log,charts,sliders", "beta": "nope", "step": "3"})
    assert d.state.current_step == 3
    shown = lambda view: view.__panel__().visible  # noqa: E731
    assert not shown(d.views["log"]) and not shown(d.views["history"])
    assert not d.views["controls"].boxes["beta"].visible and d.views["controls"].scenario.visible
    assert shown(d.views["pairs"])
    assert len(d.notices) == 1 and "beta" in d.notices[0] and d._notice.visible
    d.state.hidden = []
    assert shown(d.views["log"]) and d.views["controls"].boxes["beta"].visible


def test_loading_a_scenario_with_another_number_of_prompts_rebuilds_its_charts():
    from dataclasses import replace

    from dpo_sim.sim.scenario import Prompt, Row

    base = make_scenario()
    three = replace(base, id="three", title="Three prompts",
                    prompts=base.prompts + (Prompt("p2?", ("x", "y", "z")),),
                    ref_logits=np.zeros((3, 3)),
                    rows=base.rows + (Row(2, 1, 0, 5, 5),))
    d = create_dashboard(scenarios={"toy": base, "three": three}, theme="light")
    d.state.advance(3)
    d.state.load("three")
    assert len(d.views["bars"]) == 3 and d.views["history"].n_prompts == 3
    assert d._history_slot.objects[0] is d.views["history"].__panel__()
    d.state.advance(2)
    np.testing.assert_array_equal(d.views["bars"][2].source.data["pi"], d.state.record.probs[2])
    assert list(d.views["history"].source.data["step"]) == [0, 1, 2]
    assert "kl2" in d.views["history"].source.data


def test_the_page_and_the_export_mark_the_same_preferred_replies_ties_included():
    """One rule (Pairs.preferred): every reply tied for the most net votes is marked, a
    prompt whose rows cancel marks none; the page's bars and the export agree step by step,
    through a flip that changes the answer."""
    from dpo_sim.app.export import replay_series
    from dpo_sim.sim.scenario import Event, Prompt, Row, Scenario

    s = Scenario(
        id="ties", title="Ties", watch="w", beta=1.0, learning_rate=0.5, adaptive_weight=True,
        prompts=(Prompt("p0", ("A", "B", "C", "D")), Prompt("p1", ("E", "F", "G", "H"))),
        ref_logits=np.zeros((2, 4)),
        # prompt 0: A and C tie at +1; prompt 1: a 5:5 split cancels
        rows=(Row(0, 0, 1, 1, 0), Row(0, 2, 3, 1, 0), Row(1, 0, 1, 5, 5)),
        events=(Event(step=3, flip=1),), steps=6)
    want = {0: [{0, 2}, set()], 3: [{0, 3}, set()]}      # the flip makes D, not C, tie A
    series = replay_series(s, 6)
    d = create_dashboard(scenarios={"ties": s}, scenario="ties", theme="light")
    for t in range(7):
        if t:
            d.state.advance(1)
        expect = want[0] if t < 3 else want[3]
        for x in range(2):
            src = d.views["bars"][x].source.data
            page = {y for y, v in enumerate(src["pref_pi"]) if np.isfinite(v)}
            starred = {y for y, lab in enumerate(d.views["bars"][x].axis_labels())
                       if "★" in lab}
            mask = int(series[f"pref_{x}"][t])
            export = {y for y in range(4) if mask >> y & 1}
            assert page == starred == export == expect[x], (t, x)


def test_the_pulls_picture_puts_each_row_on_the_weight_curve_and_its_rest_point():
    d = dashboard()
    st = d.state
    st.advance(40)
    p = d.views["pulls"]
    rec = st.record
    np.testing.assert_array_equal(p.dots.data["u"], rec.row_margin)
    # the curve is sigma(-u), computed here independently
    u = np.asarray(p.curve.data["u"])
    np.testing.assert_allclose(p.curve.data["w"], 1 / (1 + np.exp(u)), rtol=1e-12)
    np.testing.assert_allclose(p.dots.data["w"], 1 / (1 + np.exp(rec.row_margin)), rtol=1e-12)
    # prompt 0's split rows rest where a·σ(−u) = b·σ(u): u = log(a / b); on prompt 1 the 1:0
    # row drifts for ever and the 6:4 row sharing its reply only approaches: no tick
    np.testing.assert_allclose(sorted(p.ticks.data["u"]), [np.log(7 / 3), np.log(9)],
                               atol=1e-9)
    assert list(p.ticks.data["label"]) == ["0", "1"]
    st.adaptive_weight = False           # the bare margin: flat at 1, nothing rests
    assert set(p.curve.data["w"]) == {1.0} and list(p.ticks.data["u"]) == []


# -- the RLHF optimum on the page ---------------------------------------------------------
def _kl(p, q):
    return float(np.sum(p * (np.log(p) - np.log(q))))


def test_the_rlhf_diamond_marks_where_dpo_ends_up_and_the_readout_goes_to_0():
    """align has a finite optimum: after 3,000 steps the bars (the run itself, not the
    optimum's formula) sit on the diamonds, and the readout's KL(pi || pi*), checked
    against the KL written out here, is below 1e-9."""
    d = create_dashboard(scenario="align", theme="light")
    st = d.state
    diamonds0 = [np.array(b.rlhf_source.data["pstar"]) for b in d.views["bars"]]
    v0 = values(d.views["readouts"].pane.html)
    for x, q in enumerate(diamonds0):
        assert q.sum() == pytest.approx(1.0, abs=1e-12)
        assert float(v0[f"kl-rlhf-{x}"]) == pytest.approx(_kl(st.record.probs[x], q), rel=1e-9)
        assert float(v0[f"kl-rlhf-{x}"]) > 1e-3              # it starts away from pi*
    st.advance(3000)
    v = values(d.views["readouts"].pane.html)
    for x, b in enumerate(d.views["bars"]):
        q = np.array(b.rlhf_source.data["pstar"])
        np.testing.assert_array_equal(q, diamonds0[x])       # pi* does not move with steps
        np.testing.assert_allclose(st.record.probs[x], q, atol=1e-9)
        # the sum written out loses to rounding at this size; it agrees to 1e-15
        assert float(v[f"kl-rlhf-{x}"]) == pytest.approx(_kl(st.record.probs[x], q),
                                                          abs=1e-15)
        assert float(v[f"kl-rlhf-{x}"]) < 1e-9
    assert "no-optimum" not in "".join(b.heading.object for b in d.views["bars"])


def test_a_flip_or_a_new_beta_moves_the_diamonds_to_the_new_optimum():
    from dpo_sim.sim import rlhf

    d = create_dashboard(scenario="align", theme="light")
    st = d.state
    before = [np.array(b.rlhf_source.data["pstar"]) for b in d.views["bars"]]
    st.flip(0)
    st.beta = 2 * st.beta
    sim = Simulation(st.spec)
    sim.flip(0)
    sim.set(beta=st.beta)
    sim.advance(4000)                    # where DPO goes now: the diamonds' new place
    for x, b in enumerate(d.views["bars"]):
        q = np.array(b.rlhf_source.data["pstar"])
        assert not np.allclose(q, before[x], atol=1e-3)
        np.testing.assert_allclose(q, sim.record.probs[x], atol=1e-8)
        np.testing.assert_allclose(q, rlhf.optimum(sim.pairs, sim.logp_ref,
                                                   st.spec.start_logits(), st.beta).probs[x],
                                   atol=1e-12)


def test_no_finite_optimum_draws_no_diamond_and_says_where_the_policy_heads():
    """unanimous: every row is 10:0, so no finite optimum; the note names the reply the
    run's own probabilities pile onto."""
    from dpo_sim.app.texts import NO_OPTIMUM

    d = create_dashboard(scenario="unanimous", theme="light")
    st = d.state
    st.advance(3000)
    for x, b in enumerate(d.views["bars"]):
        assert list(b.rlhf_source.data["pstar"]) == []
        top = "ABCDEFGH"[int(np.argmax(st.record.probs[x]))]
        assert st.record.probs[x].max() > 0.9
        assert f'data-testid="no-optimum-{x}"' in b.heading.object
        assert NO_OPTIMUM.replace("’", "&#x27;")[:40] in \
            b.heading.object.replace("’", "&#x27;")
        assert f"Under DPO the policy heads toward {top}." in b.heading.object
    v = values(d.views["readouts"].pane.html)
    assert v["kl-rlhf-0"] == "nan" and v["kl-rlhf-1"] == "nan"
    # under IPO the same rows come to rest: the note no longer says the policy heads there
    st.loss_type = "ipo"
    st.step()
    for b in d.views["bars"]:
        assert "Under DPO the policy would head toward A; under the loss in force it need " \
               "not." in b.heading.object
    sim = Simulation(load_scenario("unanimous").with_settings(loss_type="ipo"),
                     keep_history=False)
    rec = sim.advance(3000)
    assert rec.probs.max() < 0.9 and np.allclose(sim.advance(10).probs, rec.probs, atol=1e-12)


def test_the_loss_menu_runs_the_chosen_loss_from_the_next_step():
    d = create_dashboard(scenario="align", theme="light")
    st = d.state
    w = d.views["controls"].widgets
    st.advance(5)
    w["loss_type"].value = "robust"
    with param.edit_constant(w["label_smoothing"]):      # a slider released at 0.2
        w["label_smoothing"].value_throttled = 0.2
    st.advance(5)
    sim = Simulation(st.spec)
    sim.advance(5)
    sim.set(loss_type="robust")
    sim.set(label_smoothing=0.2)
    sim.advance(5)
    assert (st.record.loss_type, st.record.label_smoothing) == ("robust", 0.2)
    assert st.record.loss == sim.record.loss
    np.testing.assert_array_equal(st.record.probs, sim.record.probs)
    assert float(values(d.views["readouts"].pane.html)["loss"]) == sim.record.loss
    assert list(w["loss_type"].values) == ["sigmoid", "ipo", "hinge", "robust"]
    assert w["label_smoothing"].end < 0.5          # the slider never offers ε = 0.5


def test_the_loss_axis_names_the_loss_plotted_at_every_step_shown():
    from dpo_sim.app.texts import LOSS_AXIS
    from dpo_sim.sim.losses import LOSS_TYPES

    assert set(LOSS_AXIS) == set(LOSS_TYPES)
    d = dashboard()
    st = d.state
    axis = d.views["history"].figures[0].yaxis[0]
    assert axis.axis_label == "mean −log σ(u)"
    st.advance(3)
    st.loss_type = "ipo"
    st.advance(3)
    assert axis.axis_label == "mean −log σ(u) or (h − 1/(2β))²"
    st.adaptive_weight = False
    st.advance(1)
    assert axis.axis_label == "mean −log σ(u) or (h − 1/(2β))² or −u (weight off)"
    st.adaptive_weight = True
    st.loss_type = "hinge"
    st.reset()                           # a new run: only what it plots
    assert axis.axis_label == "mean max(0, 1 − u)"


def test_a_run_that_blows_up_keeps_every_number_in_its_place():
    """loose-leash under IPO reaches |loss| ~ 1e306 at step 169: every number on the page
    is then written in powers of ten (no run of more than 7 digits), and the alert shows."""
    d = create_dashboard(scenario="loose-leash", theme="light")
    st = d.state
    st.loss_type = "ipo"
    st.advance(300)
    assert st.current_step == 169 and st.halted
    assert d._alert.visible and "stopped at step 169" in d._alert.object
    html = "".join([d.views["readouts"].pane.html, str(row_items(st)),
                    d.views["formula"].pane.html, d.views["log"].pane.html]
                   + [b.table.html for b in d.views["bars"]])
    assert "e+" in html
    assert not re.search(r"\d{8,}", re.sub(r'data-value="[^"]*"', "", html))
    st.reset()
    assert not d._alert.visible


@pytest.mark.parametrize("v, digits, sign, want", [
    (0.12345, 3, False, "0.123"), (-0.0001, 3, True, "0.000"), (2.5, 2, True, "+2.50"),
    (99999.4, 1, False, "99999.4"), (123456.0, 3, False, "1.23e+05"),
    (-1.3987e306, 4, True, "-1.40e+306"), (float("inf"), 3, True, "+∞"),
    (float("nan"), 3, False, "NaN")])
def test_numbers_are_written_to_fit(v, digits, sign, want):
    from dpo_sim.app.numfmt import fixed

    assert fixed(v, digits, sign) == want


@pytest.mark.parametrize("v, want", [(0.5, "0.500"), (0.001, "0.001"), (0.00027, "2.7e-04"),
                                     (0.0, "0"), (3.2e-17, "3.2e-17")])
def test_a_value_going_to_zero_never_reads_zero_before_it_is(v, want):
    from dpo_sim.app.numfmt import small

    assert small(v) == want


def test_value_labels_start_past_the_diamond_and_end_short_of_it():
    """mislabel at step 120: the microwave's bar (71.5 %) ends short of its diamond
    (pi* 0.84), so its label starts past the diamond; wherever pi* sits just inside a
    bar whose label is inside, that label ends short of it."""
    from dpo_sim.app.views.bars import INSIDE, LABEL_SPAN

    d = create_dashboard(scenario="mislabel", theme="light")
    st = d.state
    st.advance(120)
    seen_past = 0
    for x, b in enumerate(d.views["bars"]):
        data, star = b.source.data, st.optimum.probs[x]
        for y, pi in enumerate(data["pi"]):
            at = data["x_at"][y]
            if pi <= INSIDE:                       # label outside the bar
                assert at >= max(pi, star[y])
                seen_past += star[y] > pi
            elif pi - LABEL_SPAN < star[y] < pi:   # inside, diamond near the end
                assert at == star[y]
            else:
                assert at == pi
    assert seen_past >= 1
