"""The whole simulator in one offline file (`dpo-sim export`, app/interactive.py), in
headless Chromium from file:// with every other request aborted.

What is checked, each against an independent computation where there is a number:
- the file is one file, at most 2.5 MB, and the page makes no request but for itself;
- the numbers on the page (and `window.dpoSim.state()`) are the NumPy engine's, to 1e-12,
  after Play, Step, flips, setting changes and scenario changes, in Chromium's JavaScript;
- every control: Play/Pause, Step, Reset, speed, the picker, beta, the learning rate, the
  weight toggle, the loss, label smoothing, a row's Flip button and Enter on a row, the
  keyboard shortcuts, Share, Download CSV, hide=;
- the API: state, play, pause, step, reset, flip, set, load, loadConfig (the first line of
  `dpo-sim run --format jsonl` of a TOML file of our own), with clear errors;
- the link format is the served page's: a link read by the file gives the CLI's numbers,
  and the link the file writes is the one app/address.py writes for the same run;
- a run that diverges stops with the served page's alert; light and dark; a phone's
  layout measured by element boxes; axe-core finds nothing serious or critical.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from browser import axe_violations, files_only
from dpo_sim.sim.scenario import Event
from dpo_sim.sim.scenario_io import load_scenario
from dpo_sim.sim.simulation import Simulation

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[1]
MAX_BYTES = 2_500_000


def _cli(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dpo_sim", *args], cwd=ROOT, text=True,
                          capture_output=True, timeout=180, **kw)


@pytest.fixture(scope="module")
def offline_file(tmp_path_factory) -> Path:
    """`dpo-sim export --out FILE` with no scenario: every preset, align first."""
    out = tmp_path_factory.mktemp("offline") / "dpo-sim.html"
    p = _cli("export", "--out", str(out))
    assert p.returncode == 0, p.stderr
    assert "interactive simulator" in p.stdout and str(out) in p.stdout
    return out


class Page:
    """The file opened from file://; every request to anything else is aborted and kept."""

    def __init__(self, browser, path: Path, query: str = "", viewport=(1280, 800),
                 mobile: bool = False, dark: bool = False):
        extra = dict(is_mobile=True, has_touch=True, device_scale_factor=3) if mobile else {}
        self.context = browser.new_context(
            viewport={"width": viewport[0], "height": viewport[1]},
            color_scheme="dark" if dark else "light", accept_downloads=True, **extra)
        self.blocked: list[str] = []
        self.requests: list[str] = []
        self.errors: list[str] = []

        files_only(self.context, self.blocked, self.requests)
        self.page = self.context.new_page()
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(path.as_uri() + query)
        self.page.wait_for_function("document.documentElement.dataset.ready === '1'")

    def state(self) -> dict:
        return self.page.evaluate("() => dpoSim.state()")

    def call(self, expr: str, arg=None):
        return self.page.evaluate(expr, arg)

    def value(self, testid: str) -> float:
        return float(self.page.get_attribute(f'[data-testid="{testid}"]', "data-value"))

    def text(self, testid: str) -> str:
        return self.page.inner_text(f'[data-testid="{testid}"]').strip()

    def close(self) -> None:
        assert not self.errors, self.errors
        self.context.close()


@pytest.fixture()
def page(browser, offline_file):
    pages = []

    def open_(query: str = "", **kw) -> Page:
        p = Page(browser, offline_file, query, **kw)
        pages.append(p)
        return p

    yield open_
    for p in pages:
        p.close()


def _numbers(rec) -> dict:
    """A Python record as the page's state gives it."""
    d = rec.to_dict()
    return {k: d[k] for k in ("loss", "rewards/chosen", "rewards/rejected", "rewards/margins",
                              "rewards/accuracies", "logps/chosen", "logps/rejected")}


def assert_state_is(state: dict, sim: Simulation, tol: float = 1e-12) -> None:
    rec = sim.record
    assert state["step"] == rec.step
    np.testing.assert_allclose(state["probs"], rec.probs, rtol=0, atol=tol)
    np.testing.assert_allclose(state["kl"], rec.kl, rtol=0, atol=tol)
    for k, v in _numbers(rec).items():
        got = state["metrics"][k]
        assert math.isclose(got, v, rel_tol=tol, abs_tol=tol), (k, got, v)
    assert state["flipped"] == list(sim.flipped)
    for k in ("beta", "learning_rate", "adaptive_weight", "loss_type", "label_smoothing"):
        assert state[k] == getattr(sim, k), k


# -- one file, offline ----------------------------------------------------------------------
def test_the_file_is_one_offline_file_under_the_size_limit(offline_file):
    size = offline_file.stat().st_size
    assert size <= MAX_BYTES, size
    text = offline_file.read_text(encoding="utf-8")
    # nothing that could fetch: no src= or href= to anything, no @import, no url(http..)
    for bad in ("src=", "<link", "@import", "http://", "https://cdn", "fonts.googleapis"):
        assert bad not in text.split('<script type="application/json"')[0], bad
    tags = [line for line in text.splitlines() if line.startswith("<script")]
    assert tags == ['<script type="application/json" id="dpo-data">' + tags[0].split(">", 1)[1],
                    "<script>", "<script>"]            # the data, the engine, the page


def test_opened_from_file_it_requests_nothing_else_and_runs(page, offline_file):
    p = page()
    assert p.requests == [offline_file.as_uri()]
    assert p.text("step") == "0"
    p.page.click('[data-testid="step-button"]')
    p.page.click('[data-testid="play"]')
    p.page.wait_for_function("dpoSim.state().step >= 20")
    p.page.click('[data-testid="play"]')
    assert p.blocked == [] and p.requests == [offline_file.as_uri()]


# -- the numbers are the NumPy engine's -------------------------------------------------------
def test_the_page_shows_the_engine_s_numbers_after_steps_flips_and_settings(page):
    p = page()
    sim = Simulation(load_scenario("align"))
    p.call("() => dpoSim.step(37)")
    sim.advance(37)
    p.page.click('[data-testid="flip-1"]')
    sim.flip(1)
    p.call("() => dpoSim.set({beta: 0.3, loss_type: 'robust', label_smoothing: 0.1})")
    sim.set(beta=0.3, loss_type="robust", label_smoothing=0.1)
    p.call("() => dpoSim.step(150)")
    sim.advance(150)
    st = p.state()
    assert_state_is(st, sim)
    # what the page shows is what the state holds (the readouts' full-precision values)
    for x in range(2):
        assert p.value(f"kl-{x}") == st["kl"][x]
        for y in range(4):
            assert p.value(f"prob-{x}-{y}") == st["probs"][x][y]
    assert p.value("loss") == st["metrics"]["loss"]
    assert p.text("loss") == f"{sim.record.loss:.4f}"
    assert p.text("accuracy") == f"{sim.record.rewards_accuracies:.0%}"


def test_every_preset_matches_the_engine_in_chromium(page):
    """Each preset, 300 steps with its scripted events, in Chromium's JavaScript."""
    from dpo_sim.sim.scenario_io import preset_ids

    p = page()
    for sid in preset_ids():
        sim = Simulation(load_scenario(sid))
        try:
            sim.advance(300)
        except Exception:            # noqa: BLE001 - a preset never diverges (checked below)
            raise
        st = p.call("id => { dpoSim.load(id); return dpoSim.step(300); }", sid)
        assert st["scenario"] == sid
        assert_state_is(st, sim)


def test_kl_to_the_rlhf_optimum_matches_the_cli(page):
    p = page()
    run = _cli("run", "dpo-is-rlhf", "--steps", "120", "--format", "jsonl")
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    st = p.call("() => { dpoSim.load('dpo-is-rlhf'); return dpoSim.step(120); }")
    np.testing.assert_allclose(st["rlhf_probs"], lines[0]["rlhf_probs"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(st["kl_to_rlhf"], lines[-1]["kl_to_rlhf"], rtol=1e-9, atol=1e-13)
    assert p.value("kl-rlhf-0") == st["kl_to_rlhf"][0]


# -- the controls ------------------------------------------------------------------------------
def test_play_pause_step_reset_and_speed(page):
    p = page()
    p.page.click('[data-testid="step-button"]')
    assert p.state()["step"] == 1 and p.text("step") == "1"
    p.page.fill('[data-testid="ctl-speed"]', "60")
    p.page.dispatch_event('[data-testid="ctl-speed"]', "change")
    assert p.state()["speed"] == 60
    p.page.click('[data-testid="play"]')
    assert p.page.inner_text('[data-testid="play"]') == "Pause"
    p.page.wait_for_function("dpoSim.state().step >= 40")
    p.page.click('[data-testid="play"]')
    st = p.state()
    assert not st["playing"] and p.page.inner_text('[data-testid="play"]') == "Play"
    p.page.wait_for_timeout(200)
    assert p.state()["step"] == st["step"]          # paused means paused
    p.page.click('[data-testid="reset"]')
    assert p.state()["step"] == 0 and p.text("step") == "0"
    assert "reset to the start of align" in p.text("step-log")


def test_the_sliders_the_toggle_and_the_loss_menu_change_the_run(page):
    p = page()
    sim = Simulation(load_scenario("align"))
    p.call("() => dpoSim.step(10)")
    sim.advance(10)
    p.page.fill('[data-testid="ctl-beta"]', "0.5")
    p.page.dispatch_event('[data-testid="ctl-beta"]', "change")
    sim.set(beta=0.5)
    p.page.fill('[data-testid="ctl-lr"]', "2")
    p.page.dispatch_event('[data-testid="ctl-lr"]', "change")
    sim.set(learning_rate=2.0)
    p.page.click('[data-testid="ctl-weight"]')
    sim.set(adaptive_weight=False)
    assert p.page.get_attribute('[data-testid="ctl-weight"]', "aria-pressed") == "false"
    assert "off" in p.page.inner_text('[data-testid="ctl-weight"]')
    p.page.click('[data-testid="step-button"]')
    sim.advance(1)
    p.page.click('[data-testid="ctl-weight"]')
    sim.set(adaptive_weight=True)
    p.page.select_option('[data-testid="ctl-loss"]', "ipo")
    sim.set(loss_type="ipo")
    p.page.click('[data-testid="step-button"]')
    sim.advance(1)
    assert_state_is(p.state(), sim)
    log = p.text("step-log")
    for line in ("step 10 · beta 1 -> 0.5", "step 10 · learning_rate 0.5 -> 2",
                 "step 10 · sigma weight on -> off", "step 11 · sigma weight off -> on",
                 "step 11 · loss_type sigmoid -> ipo"):
        assert line in log, (line, log)
    assert "loss (ipo)" in p.page.inner_text("table.dpo-metrics.wide")


def test_the_picker_loads_a_scenario_with_its_own_settings(page):
    p = page()
    p.page.select_option('[data-testid="picker"]', "drop-sigma")
    st = p.state()
    sc = load_scenario("drop-sigma")
    assert st["scenario"] == "drop-sigma" and st["step"] == 0
    assert st["adaptive_weight"] is sc.adaptive_weight and st["beta"] == sc.beta
    assert sc.title in p.page.inner_text("header")
    assert sc.watch[:40] in p.text("watch")


def test_a_flip_by_button_and_by_enter_on_the_row(page):
    p = page()
    p.page.click('[data-testid="flip-0"]')
    assert p.state()["flipped"] == [0]
    assert p.page.get_attribute('[data-testid="flip-0"]', "aria-pressed") == "true"
    assert "flipped" in p.page.inner_text('[data-testid="pair-0"]')
    p.page.focus('[data-testid="pair-2"]')
    p.page.keyboard.press("Enter")
    assert p.state()["flipped"] == [0, 2]
    p.page.keyboard.press("Enter")
    assert p.state()["flipped"] == [0]
    assert "flip row 2 (back to the data)" in p.text("step-log")


def test_keyboard_space_plays_r_resets_arrow_steps(page):
    p = page()
    p.page.focus("body")
    p.page.keyboard.press("ArrowRight")
    p.page.keyboard.press("ArrowRight")
    assert p.state()["step"] == 2
    p.page.keyboard.press(" ")
    assert p.state()["playing"]
    p.page.keyboard.press(" ")
    assert not p.state()["playing"]
    p.page.keyboard.press("r")
    assert p.state()["step"] == 0


def test_a_flip_reaches_the_screen_within_a_frame(page):
    """The row's badge and the readouts change in the same task as the click."""
    p = page()
    before = p.text("rows-accuracy")
    p.page.click('[data-testid="flip-0"]')
    assert p.text("rows-accuracy") != before or p.state()["flipped"] == [0]
    assert "flipped" in p.page.inner_text('[data-testid="pair-0"]')


def test_download_csv_is_the_cli_s_csv(page, tmp_path):
    p = page()
    p.call("() => { dpoSim.step(20); dpoSim.flip(3); dpoSim.set({beta: 2}); dpoSim.step(10); }")
    with p.page.expect_download() as d:
        p.page.click('[data-testid="download"]')
    got = (tmp_path / "page.csv")
    d.value.save_as(got)
    assert d.value.suggested_filename == "dpo-sim-align.csv"
    sc = load_scenario("align").with_settings(events=(Event(20, flip=3),
                                                      Event(20, set={"beta": 2.0})))
    ref = tmp_path / "cli.toml"
    del ref
    sim = Simulation(sc)
    sim.advance(30)
    from dpo_sim.sim.export_csv import to_csv

    want = to_csv(sim.history).splitlines()
    have = got.read_text().splitlines()
    assert have[0] == want[0] and len(have) == len(want) == 32
    a = np.array([[float(v) for v in line.split(",")] for line in have[1:]])
    b = np.array([[float(v) for v in line.split(",")] for line in want[1:]])
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


# -- the API ---------------------------------------------------------------------------------
def test_the_api_runs_a_config_line_from_dpo_sim_run(page, tmp_path):
    toml = (ROOT / "presets" / "mass-flow.toml").read_text()
    mine = tmp_path / "my-lesson.toml"
    mine.write_text(toml.replace('title = "', 'title = "Mine: ', 1))
    lines = _cli("run", str(mine), "--steps", "250", "--set", "beta=0.7",
                 "--format", "jsonl").stdout.splitlines()
    cfg, last = json.loads(lines[0]), json.loads(lines[-1])
    p = page()
    st = p.call("cfg => { dpoSim.loadConfig(cfg); return dpoSim.step(250); }", cfg)
    assert st["scenario"] == cfg["scenario"] and st["beta"] == 0.7
    np.testing.assert_allclose(st["probs"], last["probs"], rtol=0, atol=1e-12)
    assert math.isclose(st["loss"], last["loss"], rel_tol=1e-12)
    ids = [s["id"] for s in p.call("() => dpoSim.scenarios()")]
    assert cfg["scenario"] in ids and "align" in ids
    assert cfg["title"] in p.page.inner_text("header")


def test_the_api_s_errors_name_the_setting_and_the_rule(page):
    p = page()
    err = p.call("() => { try { dpoSim.set({beta: 0}); } catch (e) { return e.message; } }")
    assert err == "beta: must be a number > 0 and <= 100, got 0"
    err = p.call("() => { try { dpoSim.set({steps: 3}); } catch (e) { return e.message; } }")
    assert err.startswith("steps: cannot be set during a run; settable: beta, learning_rate")
    err = p.call("() => { try { dpoSim.flip(9); } catch (e) { return e.message; } }")
    assert err == "no row 9; rows are 0..5"
    err = p.call("() => { try { dpoSim.load('nope'); } catch (e) { return e.message; } }")
    assert err.startswith('unknown scenario "nope"; known: align, both-fall')
    assert p.state()["step"] == 0 and p.state()["beta"] == 1.0     # nothing changed


def test_play_pause_and_reset_by_the_api(page):
    p = page()
    assert p.call("() => dpoSim.play().playing") is True
    p.page.wait_for_function("dpoSim.state().step >= 5")
    st = p.call("() => dpoSim.pause()")
    assert not st["playing"] and st["step"] >= 5
    assert p.call("() => dpoSim.reset().step") == 0


# -- links: the served page's format ------------------------------------------------------------
LINK = "?scenario=align&beta=2&events=100:beta:0.2,120:flip:1&step=200"


def test_a_served_page_link_gives_the_cli_s_numbers(page):
    p = page(LINK)
    sc = load_scenario("align").with_settings(
        beta=2.0, events=(Event(100, set={"beta": 0.2}), Event(120, flip=1)))
    sim = Simulation(sc)
    sim.advance(200)
    assert_state_is(p.state(), sim)
    log = p.text("step-log")
    assert "step 100 · beta 2 -> 0.2" in log and "step 120 · flip row 1 (flipped)" in log


def test_the_file_writes_the_link_the_served_page_writes(page):
    from dpo_sim.app.address import apply_query, query_string, to_query
    from dpo_sim.app.state import SimState

    p = page()
    p.call("""() => { dpoSim.set({learning_rate: 0.3}); dpoSim.flip(2); dpoSim.step(40);
                      dpoSim.set({beta: 0.25, loss_type: 'ipo'}); dpoSim.step(10);
                      dpoSim.flip(0); dpoSim.step(5); }""")
    link = p.call("() => dpoSim.state().link")
    st = SimState()
    q = dict(kv.split("=", 1) for kv in link[1:].split("&"))
    assert apply_query(st, q) == []
    assert query_string(to_query(st)) == link
    assert link == ("?scenario=align&lr=0.3&flipped=2&events=40:beta:0.25,40:loss:ipo,"
                    "50:flip:0&step=55")
    # and the address bar holds it (a reload comes back to the same step)
    assert p.page.url.endswith(link)
    p.page.reload()
    p.page.wait_for_function("document.documentElement.dataset.ready === '1'")
    assert p.state()["step"] == 55 and p.state()["flipped"] == [0, 2]


def test_bad_link_values_are_ignored_with_a_notice(page):
    p = page("?scenario=align&beta=0&bogus=1&flipped=9&step=5")
    notes = p.text("notices")
    assert "ignored beta=0: must be a number > 0 and <= 100, got '0'" in notes
    assert "ignored bogus: not a setting of this page" in notes
    assert "ignored flipped=9: row '9' is not a row number from 0 to 5" in notes
    assert p.state()["step"] == 5 and p.state()["beta"] == 1.0


def test_hide_takes_the_served_page_s_parts(page):
    p = page("?hide=sliders,picker,watch,download,share,log")
    assert not p.page.is_visible("#dpo-side")
    assert not p.page.is_visible('[data-part="log"]')
    assert p.page.is_visible('[data-testid="bars-0"]')
    q = page("?hide=beta,charts")
    assert not q.page.is_visible('[data-setting="beta"]')
    assert q.page.is_visible('[data-setting="learning_rate"]')
    assert not q.page.is_visible('[data-testid="chart-loss"]')


# -- the run that diverges, themes, screens, accessibility --------------------------------------
def test_a_run_that_diverges_stops_with_the_served_page_s_alert(page):
    from dpo_sim.app import texts

    sc = load_scenario("loose-leash")
    p = page("?scenario=loose-leash&loss=ipo")
    st = p.call("() => dpoSim.step(400)")
    assert st["step"] == 169 and not st["playing"]
    alert = p.text("halted")
    assert alert == texts.DIVERGED.format(step=169, loss="ipo", beta=f"{sc.beta:.4g}",
                                          lr=f"{sc.learning_rate:.4g}")
    assert "stopped: step 170 would overflow the loss" in p.text("step-log")
    assert all(math.isfinite(v) for row in st["probs"] for v in row)


def test_dark_theme_by_link_and_by_the_system(page):
    from dpo_sim.app.theme import DARK, LIGHT

    def bg(p):
        return p.call("() => getComputedStyle(document.body).backgroundColor")

    def rgb(h):
        return "rgb(" + ", ".join(str(int(h[i:i + 2], 16)) for i in (1, 3, 5)) + ")"

    assert bg(page("?theme=dark")) == rgb(DARK.background)
    assert bg(page(dark=True)) == rgb(DARK.background)
    assert bg(page()) == rgb(LIGHT.background)
    assert page("?theme=dark").state()["link"].endswith("theme=dark")


@pytest.mark.parametrize("size", [(390, 844), (760, 900), (1280, 800), (1920, 1080)])
def test_every_part_fits_the_screen(page, size):
    p = page(viewport=size, mobile=size[0] < 500)
    W = p.call("() => document.documentElement.clientWidth")
    assert size[0] == W
    boxes = p.call("""() => Array.from(document.querySelectorAll(
        'header *, #dpo-main *, #dpo-side *, #dpo-details .row, canvas'))
        .filter(e => e.offsetParent !== null && !e.closest('.dpo-tip')
                     && !e.classList.contains('dpo-sr'))
        .map(e => { const r = e.getBoundingClientRect();
                    return [e.tagName + '.' + e.className, r.left, r.right]; })""")
    out = [b for b in boxes if b[1] < -0.5 or b[2] > W + 0.5]
    assert not out, out[:5]
    if size == (1280, 800):         # three columns: the bars and the charts in view
        for sel in ('[data-testid="bars-1"]', '[data-testid="chart-loss"]'):
            r = p.page.locator(sel).bounding_box()
            assert r["x"] >= 0 and r["x"] + r["width"] <= 1280 and r["y"] < 800, (sel, r)


@pytest.mark.parametrize("dark,mobile", [(False, False), (True, False), (False, True)])
def test_axe_finds_nothing_serious(page, dark, mobile):
    p = page("?scenario=unanimous&step=30", dark=dark, mobile=mobile,
             viewport=(390, 844) if mobile else (1280, 800))
    p.page.click('[data-testid="flip-0"]')
    assert axe_violations(p.page) == []


def test_label_smoothing_slider_and_share_and_autoplay(page):
    p = page()
    p.page.select_option('[data-testid="ctl-loss"]', "robust")
    p.page.fill('[data-testid="ctl-eps"]', "0.1")
    p.page.dispatch_event('[data-testid="ctl-eps"]', "change")
    st = p.state()
    assert st["loss_type"] == "robust" and st["label_smoothing"] == 0.1
    assert "label_smoothing 0 -> 0.1" in p.text("step-log")
    p.call("() => dpoSim.step(12)")
    p.page.click('[data-testid="share"]')
    link = p.page.input_value('[data-testid="share-link"]')
    assert link.startswith("file://") and link.endswith(
        "?scenario=align&loss=robust&eps=0.1&step=12")
    assert link == p.call("() => dpoSim.link()")
    embed = p.page.input_value('[data-testid="share-embed"]')
    assert embed.startswith('<iframe src="file://') and 'height="900"' in embed
    q = page("?scenario=tie&autoplay=1&speed=60")
    q.page.wait_for_function("dpoSim.state().step >= 30")
    assert q.state()["playing"] and q.state()["speed"] == 60
