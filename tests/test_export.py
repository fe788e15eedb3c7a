"""The static replay (app/export.py): a self-contained file that plays the engine's run.

The browser tests open the file from file:// with every non-file request aborted and
recorded, then drive it through Bokeh's JS document API and the rendered readout.
Expected numbers come from an independent in-process run of sim.simulation.Simulation.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pytest

from browser import files_only
from dpo_sim.app.export import export_html
from dpo_sim.sim.scenario import Scenario
from dpo_sim.sim.simulation import Simulation
from helpers import EXPORT_FLIP_AT as FLIP_AT
from helpers import EXPORT_STEPS as STEPS
from helpers import export_scenarios as _scenarios


def _records(s: Scenario, steps: int):
    sim = Simulation(s)
    sim.advance(steps)
    return sim.history


def _net_vote_winners(s: Scenario, flipped: set[int]) -> list[set[int]]:
    """Naive: per prompt, replies with the most (for - against) judgements, if positive."""
    out = []
    for x in range(s.n_prompts):
        score = [0.0] * s.n_replies
        for i, r in enumerate(s.rows):
            if r.prompt != x:
                continue
            c, l = (r.rejected, r.chosen) if i in flipped else (r.chosen, r.rejected)
            score[c] += r.votes_chosen - r.votes_rejected
            score[l] -= r.votes_chosen - r.votes_rejected
        top = max(score)
        out.append({y for y, v in enumerate(score) if v == top} if top > 0 else set())
    return out


@pytest.fixture(scope="module")
def single(tmp_path_factory) -> Path:
    return export_html(_scenarios()[:1], None, str(tmp_path_factory.mktemp("exp") / "one.html"))


@pytest.fixture(scope="module")
def multi(tmp_path_factory) -> Path:
    return export_html(_scenarios(), None, str(tmp_path_factory.mktemp("exp") / "two.html"))


# -- without a browser -------------------------------------------------------------------

@pytest.mark.slow
def test_html_loads_nothing_from_another_host(single, multi):
    for path in (single, multi):
        text = path.read_text(encoding="utf-8")
        tags = re.findall(r"<(?:script|link|img|iframe)\b[^>]*>", text, flags=re.I)
        assert tags, "expected inline <script> tags"
        for tag in tags:
            assert not re.search(r"""\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", tag, re.I), tag
        assert not re.search(r"@import\s+url\(\s*['\"]?(?:https?:)?//", text, re.I)
        assert "Bokeh" in text and "</html>" in text.lower()


def _fetching_attributes(text: str) -> list[tuple[str, str, str]]:
    """(tag, attribute, value) of every real tag attribute that makes a browser fetch
    something (script contents are not parsed as tags, as in a browser)."""
    from html.parser import HTMLParser

    found = []

    class P(HTMLParser):
        def handle_starttag(self, tag, attrs):
            for k, v in attrs:
                if k in ("src", "href", "srcset", "data", "poster") or (
                        k == "style" and v and "url(" in v):
                    found.append((tag, k, v))

    P().feed(text)
    return found


def _normalised(text: str) -> str:
    """The page without what differs between any two exports: random element ids, Bokeh's
    model ids (a per-process counter), and Panel's process-wide rewrite of Bokeh's onload
    wrapper (it adds ``{once: true}`` to the DOMContentLoaded listener, same behaviour)."""
    text = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "UUID", text)
    text = re.sub(r'"p\d+"', '"P"', text)
    onload = r'\n\s*else document\.addEventListener\("DOMContentLoaded", fn(?:, \{once: true\})?\);'
    return re.sub(onload, '\nelse document.addEventListener("DOMContentLoaded", fn);', text)


EXPORT_WITHOUT_PANEL = """
import sys
sys.path.insert(0, sys.argv[1])
from helpers import export_scenarios
from browser import files_only
from dpo_sim.app.export import export_html
export_html(export_scenarios(), None, sys.argv[2])
assert "panel" not in sys.modules, "panel got imported"
"""


@pytest.fixture(scope="module")
def with_panel(tmp_path_factory) -> Path:
    """Exported in this process after ``import panel`` (as in a combined test run)."""
    import panel  # noqa: F401  (registers Panel's Bokeh models process-wide)
    return export_html(_scenarios(), None, str(tmp_path_factory.mktemp("exp") / "pn.html"))


@pytest.mark.slow
def test_export_with_panel_imported_is_the_same_self_contained_file(with_panel, tmp_path):
    import subprocess
    import sys

    text = with_panel.read_text(encoding="utf-8")
    # no Panel bundle, extension or data-model definition, and no file or URL to fetch
    for marker in ("es-module-shims", "static/extensions", "ReactiveESM", "FlexBox1"):
        assert marker not in text, marker
    assert "<script" in text
    assert _fetching_attributes(text) == []
    # and the very page a process without Panel writes
    plain = tmp_path / "plain.html"
    subprocess.run([sys.executable, "-c", EXPORT_WITHOUT_PANEL, str(Path(__file__).parent),
                    str(plain)], check=True, timeout=120, cwd=Path(__file__).parents[1])
    assert _normalised(text) == _normalised(plain.read_text(encoding="utf-8"))


def test_title_and_watch_text_are_escaped(single):
    text = single.read_text(encoding="utf-8")
    assert "Toy &amp;lt;replay&amp;gt; &amp;amp; friends" in text   # escaped inside a Div
    assert "<replay>" not in text


def test_steps_argument_overrides_scenario_steps(tmp_path):
    p = export_html(_scenarios()[:1], 7, str(tmp_path / "sub" / "seven.html"))
    assert p.exists() and p.parent.name == "sub"
    assert re.search(r'"name":"toy:slider"', p.read_text()) is not None


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "10"])
def test_bad_steps_give_one_clear_error(tmp_path, bad):
    with pytest.raises(ValueError, match="steps"):
        export_html(_scenarios()[:1], bad, str(tmp_path / "x.html"))
    assert not (tmp_path / "x.html").exists()


def test_no_scenarios_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="at least one scenario"):
        export_html([], None, str(tmp_path / "x.html"))


# -- in headless Chromium, from file:// with the network blocked ---------------------------

class Page:
    """One page on the exported file, with every non-file:// request aborted and recorded.
    ``mobile``: a phone (mobile emulation: the viewport tag counts, touch, 3x pixels)."""

    def __init__(self, browser, path: Path, viewport=(1280, 900), mobile: bool = False):
        extra = dict(is_mobile=True, has_touch=True, device_scale_factor=3) if mobile else {}
        self.context = browser.new_context(
            viewport={"width": viewport[0], "height": viewport[1]}, **extra)
        self.blocked: list[str] = []
        self.errors: list[str] = []

        files_only(self.context, self.blocked)
        self.page = self.context.new_page()
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("requestfailed", lambda r: self.errors.append("failed " + r.url))
        self.page.goto(path.as_uri())
        self.page.wait_for_function("window.Bokeh && Bokeh.documents.length > 0")

    def model(self, name: str, attr: str):
        return self.page.evaluate(
            "([n, a]) => { const m = Bokeh.documents[0].get_model_by_name(n);"
            " const v = m[a]; return (v && v.length !== undefined && typeof v !== 'string')"
            " ? Array.from(v) : v; }", [name, attr])

    def bars(self, key: str, x: int) -> dict:
        return self.page.evaluate(
            "n => { const d = Bokeh.documents[0].get_model_by_name(n).data;"
            " return {right: Array.from(d.right), pref: Array.from(d.pref_right, Number.isFinite),"
            " label: Array.from(d.label)}; }", f"{key}:bars:{x}")

    def set_step(self, key: str, t: int) -> None:
        self.page.evaluate("([n, t]) => { Bokeh.documents[0].get_model_by_name(n).value = t; }",
                           [f"{key}:slider", t])
        self.wait_step(key, lambda s: s == t)

    def readout(self, key: str):
        return self.page.locator(f'[data-testid="readout"][data-scenario="{key}"]')

    def step(self, key: str) -> int:
        return int(self.readout(key).get_attribute("data-step"))

    def wait_step(self, key: str, ok, timeout=10.0) -> int:
        """Poll the rendered readout (Playwright's CSS pierces Bokeh's shadow roots)."""
        end = time.monotonic() + timeout
        while True:
            loc = self.readout(key)
            s = loc.get_attribute("data-step", timeout=timeout * 1000) if loc.count() else None
            if s is not None and ok(int(s)):
                return int(s)
            if time.monotonic() > end:
                raise AssertionError(f"readout of {key} stuck at step {s}")
            self.page.wait_for_timeout(40)

    def value(self, key: str, name: str) -> float:
        return float(self.readout(key).locator(f'[data-name="{name}"]').get_attribute("data-value"))

    def shown(self, key: str, name: str) -> str:
        return self.readout(key).locator(f'[data-name="{name}"] b').inner_text()

    def close(self):
        self.context.close()


@pytest.fixture
def open_page(browser):
    pages = []

    def _open(path, **kw):
        p = Page(browser, path, **kw)
        pages.append(p)
        return p

    yield _open
    for p in pages:
        assert p.blocked == [], f"requests left file://: {p.blocked}"
        assert p.errors == [], f"console errors: {p.errors}"
        p.close()


def _assert_matches_run(pg: Page, key: str, s: Scenario, rec) -> None:
    """Readout and bars at the page's current step equal the engine's record (float32)."""
    tol = dict(rel=1e-6, abs=1e-9)
    assert pg.value(key, "step") == rec.step
    assert pg.value(key, "loss") == pytest.approx(rec.loss, **tol)
    assert pg.value(key, "margin") == pytest.approx(rec.rewards_margins, **tol)
    assert pg.value(key, "accuracy") == pytest.approx(rec.rewards_accuracies, **tol)
    # the shown text is the value rounded to 4 places
    assert abs(float(pg.shown(key, "loss")) - rec.loss) <= 0.5e-4 + 1e-7
    for x in range(s.n_prompts):
        assert pg.value(key, f"kl-{x}") == pytest.approx(rec.kl[x], **tol)
        assert abs(float(pg.shown(key, f"kl-{x}")) - rec.kl[x]) <= 0.5e-4 + 1e-7
        np.testing.assert_allclose(pg.bars(key, x)["right"], rec.probs[x], rtol=1e-6, atol=1e-9)


@pytest.mark.browser
def test_replay_plays_scrubs_and_matches_the_engine(open_page, single):
    s = _scenarios()[0]
    recs = _records(s, s.steps)
    pg = open_page(single)
    pg.wait_step("toy", lambda t: t == 0)
    _assert_matches_run(pg, "toy", s, recs[0])
    assert pg.model("toy:slider", "end") == s.steps

    # Play advances the step; Pause stops it
    play = pg.page.get_by_role("button", name=re.compile("Play"))
    play.click()
    pg.wait_step("toy", lambda t: t >= 5)
    pg.page.get_by_role("button", name=re.compile("Pause")).click()
    stopped = pg.step("toy")
    pg.page.wait_for_timeout(300)
    assert pg.step("toy") == stopped
    _assert_matches_run(pg, "toy", s, recs[stopped])

    # the slider moves the bars and readouts, and every value matches the engine's run
    before = pg.bars("toy", 0)["right"]
    for t in (STEPS, 3, FLIP_AT - 1, FLIP_AT):
        pg.set_step("toy", t)
        _assert_matches_run(pg, "toy", s, recs[t])
    assert pg.bars("toy", 0)["right"] != before

    # the data-preferred reply is drawn as on the page (its bar again on top, stronger and
    # outlined) and starred, and follows the scripted flip
    for t, flipped in ((FLIP_AT - 1, set()), (FLIP_AT, {0})):
        pg.set_step("toy", t)
        want = _net_vote_winners(s, flipped)
        for x in range(s.n_prompts):
            b = pg.bars("toy", x)
            marked = {y for y, p in enumerate(b["pref"]) if p}
            starred = {y for y, lab in enumerate(b["label"]) if lab.startswith("\u2605")}
            assert marked == starred == want[x]
    assert _net_vote_winners(s, set())[0] != _net_vote_winners(s, {0})[0]

    # playing at the end restarts from 0 and stops by itself at the last step
    pg.set_step("toy", STEPS - 2)
    pg.page.get_by_role("button", name=re.compile("Play")).click()
    pg.wait_step("toy", lambda t: t == STEPS)
    pg.page.get_by_role("button", name=re.compile("Play")).wait_for()
    assert pg.model("toy:play", "active") is False


@pytest.mark.browser
def test_export_made_with_panel_imported_plays_from_file_offline(open_page, with_panel):
    """The clash this guards against: Panel's bundle in the file, a script that cannot
    load from file:// (recorded by the page as a failed request / console error)."""
    s = _scenarios()[0]
    recs = _records(s, s.steps)
    pg = open_page(with_panel)
    pg.wait_step("toy", lambda t: t == 0)
    pg.page.get_by_role("button", name=re.compile("Play")).first.click()
    pg.wait_step("toy", lambda t: t >= 5)
    pg.page.get_by_role("button", name=re.compile("Pause")).first.click()
    pg.set_step("toy", FLIP_AT)
    _assert_matches_run(pg, "toy", s, recs[FLIP_AT])


@pytest.mark.browser
def test_keyboard_moves_the_slider(open_page, single):
    pg = open_page(single)
    pg.wait_step("toy", lambda t: t == 0)
    handle = pg.page.locator('[role="slider"]').first
    handle.focus()
    handle.press("ArrowRight")
    handle.press("ArrowRight")
    assert pg.wait_step("toy", lambda t: t == 2) == 2


@pytest.mark.browser
def test_picker_switches_scenarios(open_page, multi):
    a, b = _scenarios()
    pg = open_page(multi)
    pg.wait_step("toy", lambda t: t == 0)
    assert pg.model("toy:block", "visible") is True
    assert pg.model("off:block", "visible") is False
    pg.page.get_by_role("button", name=re.compile("Play")).first.click()
    pg.wait_step("toy", lambda t: t >= 2)

    pg.page.locator("select").first.select_option(label=b.title)
    pg.page.wait_for_function(
        "() => Bokeh.documents[0].get_model_by_name('off:block').visible")
    assert pg.model("toy:block", "visible") is False
    assert pg.model("toy:play", "active") is False          # leaving a scenario pauses it
    assert pg.model("off:slider", "end") == b.steps
    assert pg.readout("off").is_visible()

    recs = _records(b, b.steps)
    for t in (0, 17, b.steps):
        pg.set_step("off", t)
        _assert_matches_run(pg, "off", b, recs[t])
    # the reference ticks sit at pi_ref
    ref = np.exp(b.ref_logits[0]) / np.exp(b.ref_logits[0]).sum()
    shown_ref = pg.page.evaluate(
        "() => Array.from(Bokeh.documents[0].get_model_by_name('off:bars:0').data.ref)")
    np.testing.assert_allclose(shown_ref, ref, rtol=1e-12)


@pytest.mark.browser
def test_cli_export_of_align_matches_dpo_sim_run(open_page, tmp_path):
    """`dpo-sim export` and `dpo-sim run` (separate processes) agree at every probed step."""
    import json
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "align.html"
    cli = [sys.executable, "-m", "dpo_sim"]
    subprocess.run(cli + ["export", "--replay", "align", "mislabel", "--steps", "40", "--set",
                          "beta=0.7", "--out", str(out)], cwd=root, check=True, timeout=120)
    run = subprocess.run(cli + ["run", "align", "--steps", "40", "--set", "beta=0.7",
                                "--format", "jsonl"], cwd=root, check=True, timeout=120,
                         capture_output=True, text=True).stdout.splitlines()
    config, steps = json.loads(run[0]), [json.loads(line) for line in run[1:]]
    assert config["beta"] == 0.7 and len(steps) == 41

    pg = open_page(out)
    pg.wait_step("align", lambda t: t == 0)
    assert pg.page.locator("select").first.locator("option").count() == 2
    for t in (0, 13, 40):
        pg.set_step("align", t)
        want = steps[t]
        assert pg.value("align", "loss") == pytest.approx(want["loss"], rel=1e-6, abs=1e-9)
        assert pg.value("align", "margin") == pytest.approx(want["rewards/margins"],
                                                            rel=1e-6, abs=1e-9)
        for x, kl in enumerate(want["kl"]):
            assert pg.value("align", f"kl-{x}") == pytest.approx(kl, rel=1e-6, abs=1e-9)
            np.testing.assert_allclose(pg.bars("align", x)["right"], want["probs"][x],
                                       rtol=1e-6, atol=1e-9)


@pytest.mark.browser
def test_the_network_guard_would_catch_a_request(open_page, single):
    """Self-check of the harness: a request to another host is aborted and recorded."""
    pg = open_page(single)
    pg.page.evaluate("() => fetch('https://example.invalid/x.js').catch(() => null)")
    for _ in range(50):
        if pg.blocked and any("ERR_FAILED" in e for e in pg.errors):
            break
        pg.page.wait_for_timeout(40)
    assert pg.blocked == ["https://example.invalid/x.js"]
    assert any("ERR_FAILED" in e for e in pg.errors)      # console errors are caught too
    pg.blocked.clear()
    pg.errors.clear()


# -- what the page says: the loss it plots, the star, the ceiling -------------------------

def _built(s: Scenario, steps: int):
    """One scenario's block, as export_html builds it (no file, no browser)."""
    from dpo_sim.app.export import _block

    block, _, _ = _block(s.id, s, steps)
    return block


def test_loss_chart_names_the_loss_it_plots():
    """With the sigma weight on the loss is mean -log sigma(u); off, it is the bare margin
    mean(-u), which goes negative: the chart's title says which, and the data agree."""
    from dpo_sim.app.export import loss_title, replay_series
    from helpers import EVENTS, scenario

    toy, off = _scenarios()
    mixed = scenario(events=EVENTS, steps=12)         # off at step 5, back on at step 7
    titles = {}
    for s in (toy, off, mixed):
        fig = _built(s, s.steps).select_one({"name": f"{s.id}:lossfig"})
        titles[s.id] = fig.title.text
    assert titles["toy"] == "Loss: mean \u2212log \u03c3(u) over judgements"
    assert titles["off"] == "Loss: mean \u2212u over judgements (\u03c3 weight off)"
    assert titles["test"] == ("Loss: mean \u2212log \u03c3(u) over judgements,\n"
                              "mean \u2212u while the \u03c3 weight is off")
    assert loss_title(np.array([1, 1])) == titles["toy"]
    assert loss_title(np.array([0, 0])) == titles["off"]
    assert loss_title(np.array([1, 0, 1])) == titles["test"]

    # what is plotted is what the title says: -u (= -margin, the mean u) where the weight
    # is off, -log sigma(u) > 0 where it is on
    for s, want_off in ((toy, []), (off, list(range(off.steps + 1))), (mixed, [5, 6])):
        cols = replay_series(s, s.steps)
        w = cols["weight"]
        assert [t for t in range(len(w)) if not w[t]] == want_off
        np.testing.assert_allclose(cols["loss"][w == 0], -cols["margin"][w == 0], rtol=1e-6,
                                   atol=1e-6)
        assert (cols["loss"][w == 1] > 0).all()
    assert (replay_series(off, off.steps)["loss"] < 0).any()      # it does go negative


def test_starred_reply_is_labelled_by_its_net_votes(single):
    text = single.read_text(encoding="utf-8")
    assert "(most net votes)" in text
    assert "preferred by the data" not in text


def test_ceiling_label_sits_inside_the_plot_above_the_line():
    """Right-aligned at the last step, its bottom just above the highest ceiling: inside
    the frame (so clear of the title), where no KL curve can reach."""
    from bokeh.models import Label

    from dpo_sim.sim.dpo import kl_ceiling
    from dpo_sim.sim.numerics import log_softmax

    for s in _scenarios():
        kl = _built(s, s.steps).select_one({"name": f"{s.id}:klfig"})
        (label,) = kl.select({"type": Label})
        top = float(kl_ceiling(log_softmax(np.asarray(s.ref_logits, float))).max())
        assert label.y == pytest.approx(top) and label.x == s.steps
        assert label.text_align == "right" and label.text_baseline == "bottom"
        assert label.y_offset > 0 and label.x_offset < 0
        assert kl.y_range.end >= 1.2 * top                 # room above the line
        assert "log(1/min \u03c0_ref)" in label.text


def test_page_has_a_viewport_tag(single):
    head = single.read_text(encoding="utf-8").split("<body", 1)[0]
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in head


# -- every screen, from a phone up: real geometry in Chromium -----------------------------

SIZES = {"phone": (390, 844, True), "760": (760, 900, False), "1024": (1024, 768, False),
         "1280": (1280, 800, False), "1920": (1920, 1080, False)}


@pytest.fixture(scope="module")
def presets(tmp_path_factory) -> Path:
    """Two presets with long reply labels (align, drop-sigma), as `dpo-sim export` makes."""
    from dpo_sim.sim.scenario_io import load_scenario

    scenarios = [load_scenario("align"), load_scenario("drop-sigma")]
    return export_html(scenarios, 40, str(tmp_path_factory.mktemp("exp") / "presets.html"))


GEOMETRY_JS = r"""
([key, names]) => {
  const doc = Bokeh.documents[0], views = doc.views_manager;
  const box = el => { const r = el.getBoundingClientRect();
                      return {left: r.left, right: r.right, width: r.width, height: r.height}; };
  const models = {};
  for (const n of names) {
    const m = doc.get_model_by_name(n);
    const v = m && views.find_one(m);
    models[n] = v ? box(v.el) : null;
  }
  function all(sel, root, out) {
    root = root || document; out = out || [];
    for (const el of root.querySelectorAll(sel)) out.push(el);
    for (const el of root.querySelectorAll('*')) if (el.shadowRoot) all(sel, el.shadowRoot, out);
    return out;
  }
  const shown = sel => all(sel).map(box).filter(b => b.width > 0 && b.height > 0);
  // the bar charts' labels: every drawn line measured in the glyphs' font, and the bands
  const ctx = document.createElement('canvas').getContext('2d');
  ctx.font = '12px helvetica';
  const bars = [];
  for (let x = 0; doc.get_model_by_name(key + ':bars:' + x); x++) {
    const fig = doc.get_model_by_name(key + ':barfig:' + x);
    const d = doc.get_model_by_name(key + ':bars:' + x).data;
    bars.push({inner_width: fig.inner_width, inner_height: fig.inner_height,
               y_end: fig.y_range.end, y_start: fig.y_range.start,
               lines: Array.from(d.label, s => s.split('\n').length),
               widest: Math.max(...Array.from(d.label).flatMap(
                   s => s.split('\n').map(l => ctx.measureText(l).width))),
               label_y: Array.from(d.label_y), ref_lo: Array.from(d.ref_lo),
               ref_hi: Array.from(d.ref_hi)});
  }
  const kl = doc.get_model_by_name(key + ':klfig');
  return {W: window.innerWidth, scale: window.visualViewport.scale, models,
          canvases: shown('canvas'), handles: shown('[role=slider]'), bars,
          kl: {inner_height: kl.inner_height, start: kl.y_range.start, end: kl.y_range.end}};
}
"""


def _geometry(pg: Page, key: str, names: list[str]) -> dict:
    """The page's geometry once the layout has settled (two equal readings in a row)."""
    last = None
    for _ in range(50):
        g = pg.page.evaluate(GEOMETRY_JS, [key, names])
        if g == last:
            return g
        last = g
        pg.page.wait_for_timeout(100)
    raise AssertionError("the layout never settled")


def _each_scenario(pg):
    """align as the page opens, then drop-sigma chosen in the picker, each at step 0."""
    for i, (key, title) in enumerate((("align", "Align to preferences"),
                                      ("drop-sigma", "Drop the sigma weight"))):
        if i:
            pg.page.locator("select").first.select_option(label=title)
        pg.wait_step(key, lambda t: t == 0)
        yield key


@pytest.mark.browser
@pytest.mark.parametrize("size", list(SIZES))
def test_fits_the_screen_without_sideways_scrolling(open_page, presets, size):
    """At each size every control, bar chart and chart over time lies inside the window's
    width (bounding boxes, not scrollWidth), and the reply labels fit their charts."""
    from dpo_sim.app.export import BAR_PX, LINE_PX, MIN_WIDTH

    w, h, mobile = SIZES[size]
    pg = open_page(presets, viewport=(w, h), mobile=mobile)
    for key in _each_scenario(pg):
        figs = [f"{key}:barfig:0", f"{key}:barfig:1", f"{key}:lossfig", f"{key}:klfig"]
        names = ["picker", f"{key}:play", f"{key}:slider", f"{key}:speed", f"{key}:readout",
                 *figs]
        g = _geometry(pg, key, names)
        # the viewport tag works: a phone lays the page out at its own width, unzoomed
        assert g["W"] == w and g["scale"] == 1
        for name, b in g["models"].items():
            assert b is not None and b["width"] > 0, f"{name} not shown at {size}"
            assert b["left"] >= 0 and b["right"] <= w, f"{name} {b} outside 0..{w} ({size})"
        for kind in ("canvases", "handles"):
            assert g[kind], kind
            for b in g[kind]:
                assert b["left"] >= 0 and b["right"] <= w, f"a {kind[:-1]} at {b} ({size})"
        for name in figs:
            assert g["models"][name]["width"] >= MIN_WIDTH
        m = g["models"]
        if w >= 1024:      # room for both: bars left, charts over time right
            assert m[f"{key}:lossfig"]["left"] >= m[f"{key}:barfig:0"]["right"]
        else:              # one above the other, each the window's width (less gutters)
            assert m[f"{key}:lossfig"]["width"] >= w - 30

        # reply labels: every line fits the chart; bands never overlap (1 unit = 1 px)
        for b in g["bars"]:
            assert b["widest"] <= b["inner_width"], (size, b)
            assert b["y_start"] == 0 and b["y_end"] == b["inner_height"]
            for y, n in enumerate(b["lines"]):
                assert b["label_y"][y] >= b["ref_hi"][y]                 # above its bar
                above = b["ref_lo"][y - 1] if y else b["y_end"]
                assert b["label_y"][y] + n * LINE_PX <= above            # below the last
            assert b["ref_hi"][0] - b["ref_lo"][0] >= BAR_PX
        if mobile:         # the long labels are wrapped to the phone, not cut or shrunk
            assert max(max(b["lines"]) for b in g["bars"]) >= 3

        # the ceiling label (11 px, 3 px above the line) fits inside the KL frame
        k = g["kl"]
        top = float(np.log(4))                                   # uniform over 4 replies
        room = (k["end"] - top) / (k["end"] - k["start"]) * k["inner_height"]
        assert room >= 3 + 11 * 1.3, room


@pytest.mark.browser
@pytest.mark.parametrize("size", ["1280", "phone"])
def test_no_serious_or_critical_accessibility_violations(open_page, presets, size):
    """axe-core on each scenario of the page: the slider, the Play toggle's contrast, the
    speed select's label (all three failed before)."""
    from browser import axe_violations

    w, h, mobile = SIZES[size]
    pg = open_page(presets, viewport=(w, h), mobile=mobile)
    for _key in _each_scenario(pg):
        pg.page.get_by_role("slider", name="Step").first.wait_for()
        assert pg.page.get_by_role("combobox", name="Speed").first.is_visible()
        assert axe_violations(pg.page, impacts=("serious", "critical")) == []
