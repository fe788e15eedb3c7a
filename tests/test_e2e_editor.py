"""The editor ("Your own lesson", app/ui/views/editor.js), lesson links (?lesson=) and the
downloads (Download TOML, Download this page) in headless Chromium. Where the hosts differ
(Apply and a link go to the engine: NumPy on the served page, the twin offline; the page
download fetches /offline on the served page, copies itself offline) a test runs on both;
the form itself is the same script on both hosts and is tested once, offline.

The numbers come from `dpo-sim run` on a TOML file written here (served: exact; offline:
1e-12); the links are made by Python's encoder (sim.lesson.encode_lesson)."""

from __future__ import annotations

import base64
import json
import re
import tomllib
import zlib
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import expect

from browser import ROOT, DashboardPage, assert_readouts, axe_violations, cli_records
from dpo_sim.sim import scenario_io
from dpo_sim.sim.lesson import decode_lesson, encode_lesson, to_toml
from dpo_sim.sim.scenario_io import build_scenario, load_scenario

pytestmark = pytest.mark.browser
#: The form is the same script on both hosts: what only the form does is tested offline.
OFFLINE_ONLY = pytest.mark.parametrize("host", ["offline"])
expect.set_options(timeout=15_000)

ALIGN = (ROOT / "presets" / "align.toml").read_text(encoding="utf-8")
HOSTILE = {
    "script": "<script>window.__pwned = 1</script>",
    "img": '<img src=x onerror="window.__pwned = 1">',
    "js": "javascript:window.__pwned = 1",
    "rlo": "abc\u202edef",
    "end": "a </script><!-- b",
    "lines": "one\u2028two\u2029three",
}


def my_toml(tmp_path) -> tuple[str, dict]:
    """align.toml with its own title and one reply rewritten: (path, its TOML document)."""
    text = ALIGN.replace('title = "Align to preferences"', 'title = "My egg lesson"')
    text = text.replace('"Boil it.",', '"Just boil it.",')
    path = tmp_path / "mine.toml"
    path.write_text(text, encoding="utf-8")
    return str(path), tomllib.loads(text)


def config_of(doc: dict) -> dict:
    """The config the validator builds from a document (the scenario id left out)."""
    c = build_scenario(doc, file="test", id="x").config()
    c.pop("scenario")
    return c


def editor(d: DashboardPage):
    d.page.locator("[data-testid=editor-open]").click()
    dlg = d.page.locator("[data-testid=editor]")
    expect(dlg).to_be_visible()
    return dlg


def fld(d: DashboardPage, path: str):
    return d.page.locator(f'[data-testid=editor] [data-field="{path}"]')


def assert_refused_at(d: DashboardPage, path: str, words: str) -> None:
    """The field shows the validator's error (aria-invalid, aria-describedby to its text)
    and the status says nothing is applied."""
    f = d.page.locator("[data-testid=editor] [aria-invalid=true]")
    expect(f).to_have_count(1)
    assert f.get_attribute("data-field").startswith(path), (f.get_attribute("data-field"), path)
    note = d.page.locator("#" + f.get_attribute("aria-describedby"))
    expect(note).to_contain_text(path)
    expect(note).to_contain_text(words)
    expect(d.page.locator("[data-testid=editor-status]")).to_contain_text("Not applied")


def assert_valid(d: DashboardPage) -> None:
    expect(d.page.locator("[data-testid=editor-status]")).to_contain_text("Valid")
    assert d.page.locator("[data-testid=editor] [aria-invalid=true]").count() == 0


# -- the editor: prefilled, checked at each field, applied only when valid -------------------
def test_the_editor_checks_each_field_and_apply_runs_the_lesson_with_the_cli_numbers(open_page, tmp_path):
    path, _ = my_toml(tmp_path)
    d = open_page("?scenario=align")
    editor(d)
    limits = d.page.locator("[data-testid=editor-limits]").inner_text()
    for n in (scenario_io.MAX_PROMPTS, scenario_io.MAX_REPLIES, scenario_io.MAX_ROWS,
              scenario_io.MAX_TEXT, scenario_io.MAX_TITLE, scenario_io.MAX_WATCH):
        assert re.search(rf"\b{n}\b", limits), (n, limits)
    expect(fld(d, "title")).to_have_value("Align to preferences")       # prefilled
    expect(fld(d, "prompts[0].replies[1]")).to_have_value("Boil it.")
    apply = d.page.locator("[data-testid=editor-apply]")

    fld(d, "prompts[0].replies[1]").fill("Boil\x00it.")               # NUL: refused there
    assert_refused_at(d, "prompts[0].replies[1]", "control")
    expect(apply).to_have_attribute("aria-disabled", "true")           # and not applied
    apply.click(force=True)
    d.idle()
    assert d.state()["scenario"] == "align"
    expect(d.page.locator("[data-testid=editor]")).to_be_visible()
    fld(d, "prompts[0].replies[1]").fill("Just boil it.")
    fld(d, "beta").fill("two")
    assert_refused_at(d, "beta", "beta")
    fld(d, "beta").fill("1")
    fld(d, "pairs[0].votes_rejected").fill("-1")
    assert_refused_at(d, "pairs[0].votes_rejected", ">= 0")
    fld(d, "pairs[0].votes_rejected").fill("3")
    fld(d, "title").fill("My egg lesson")
    assert_valid(d)

    apply.click()                                   # Apply: loaded and playing
    expect(d.page.locator("[data-testid=editor]")).to_be_hidden()
    d.wait_js("() => window.dpoSim.state().scenario === 'lesson' && window.dpoSim.state().playing")
    d.act("dpoSim.pause()")
    d.act("dpoSim.reset()")
    d.act("dpoSim.step(25)")
    assert_readouts(d, cli_records(path, 25)[25], "the applied lesson")
    assert d.scenario_select().evaluate("s => s.options[s.selectedIndex].text") == "My egg lesson"
    expect(d.page.get_by_text("Just boil it.").first).to_be_visible()


@OFFLINE_ONLY
def test_adding_and_removing_prompts_replies_rows_and_the_reference_table(open_page):
    d = open_page("?scenario=tie")
    editor(d)
    n_prompts = len(load_scenario("tie").prompts)
    d.page.locator("[data-testid=editor-add-prompt]").click()
    expect(d.page.locator(".dpo-ed-prompt")).to_have_count(n_prompts + 1)
    assert_valid(d)                                 # a new prompt has the same number of replies
    k = len(load_scenario("tie").prompts[0].replies)
    d.page.locator("[data-testid=editor-add-reply-0]").click()   # one prompt only: refused
    assert_refused_at(d, "prompts[1].replies", "same number of replies")
    for x in range(1, n_prompts + 1):
        d.page.locator(f"[data-testid=editor-add-reply-{x}]").click()
    assert_valid(d)
    expect(fld(d, f"prompts[0].replies[{k}]")).to_have_value(f"Reply {k}")
    rows = d.page.locator(".dpo-ed-rows tbody tr")
    before = rows.count()
    d.page.locator("[data-testid=editor-add-row]").click()
    expect(rows).to_have_count(before + 1)
    d.page.get_by_role("button", name=f"Remove row {before}").click()
    expect(rows).to_have_count(before)
    # the reference as probabilities: a table of 1/K, each row summing to 1
    fld(d, "reference.kind").select_option("probs")
    cell = fld(d, "reference.probs[0][0]")
    assert abs(float(cell.input_value()) - 1 / (k + 1)) < 1e-12
    assert_valid(d)
    cell.fill("0.9")
    f = d.page.locator("[data-testid=editor] [aria-invalid=true]")
    expect(f).to_have_count(1)
    assert f.get_attribute("data-field").startswith("reference.probs")
    fld(d, "reference.kind").select_option("uniform")
    assert_valid(d)
    fld(d, "init").select_option("logits")
    fld(d, "init[0][0]").fill("x")
    assert_refused_at(d, "init", "init")
    d.page.locator("[data-testid=editor-close]").click()
    expect(d.page.locator("[data-testid=editor]")).to_be_hidden()
    assert d.state()["scenario"] == "tie"           # nothing applied
    editor(d)                                       # and the edits are still there
    expect(d.page.locator(".dpo-ed-prompt")).to_have_count(n_prompts + 1)


def test_hostile_text_in_the_editor_stays_text_and_the_page_stays_usable(browser, server):
    d = DashboardPage(browser, server.url + "offline", host="offline").open("?scenario=align")
    try:
        editor(d)
        fld(d, "title").fill(HOSTILE["img"])
        fld(d, "watch").fill(HOSTILE["script"] + " " + HOSTILE["js"])
        fld(d, "prompts[0].text").fill(HOSTILE["rlo"])
        for k, key in enumerate(("script", "img", "js", "end")):
            fld(d, f"prompts[1].replies[{k}]").fill(HOSTILE[key])
        fld(d, "prompts[0].replies[0]").fill("x" * 100_000)        # too long: refused there
        assert_refused_at(d, "prompts[0].replies[0]", str(scenario_io.MAX_TEXT))
        fld(d, "prompts[0].replies[0]").fill("fine")
        assert_valid(d)
        d.page.locator("[data-testid=editor-apply]").click()
        d.wait_js("() => window.dpoSim.state().scenario === 'lesson'")
        d.act("dpoSim.pause()")
        d.act("dpoSim.step(3)")
        body = d.page.locator("body").inner_text()
        for key in ("script", "img", "js", "end"):
            assert HOSTILE[key] in body, key
        assert HOSTILE["rlo"] in d.page.locator("body").text_content()
        assert d.page.evaluate("() => window.__pwned") is None
        assert d.page.locator(".dpo-page img").count() == 0
        assert d.page.locator(".dpo-page script").count() == 0
        assert d.errors == []
    finally:
        d.close()


# -- links -------------------------------------------------------------------------------------
def test_a_python_made_lesson_link_replays_to_its_step_with_the_cli_numbers(open_page, tmp_path):
    path, doc = my_toml(tmp_path)
    code = encode_lesson(doc)
    d = open_page(f"?lesson={code}&beta=2&flipped=1&events=20:beta:0.5&step=30&hide=sweep"
                  "&theme=dark", at=30)
    # the CLI has no flip option: the link's actions are the scripted events of the TOML
    scripted = tmp_path / "flipped.toml"
    scripted.write_text((tmp_path / "mine.toml").read_text(encoding="utf-8")
                        + "\n[[events]]\nstep = 0\nflip = 1\n"
                        + "\n[[events]]\nstep = 20\nset = { beta = 0.5 }\n", encoding="utf-8")
    assert_readouts(d, cli_records(str(scripted), 30, "--set", "beta=2")[30], "the lesson link")
    s = d.state()
    assert s["scenario"] == "lesson" and s["beta"] == 0.5 and s["flipped"] == [1]
    assert d.page.locator(".dpo-page").get_attribute("data-theme") == "dark"
    expect(d.page.locator(".dpo-part-sweep").first).to_be_hidden()
    assert "step 20 · beta 2 -> 0.5" in d.log_text()
    assert d.scenario_select().evaluate("s => s.options[s.selectedIndex].text") == "My egg lesson"
    link = d.page.evaluate("() => window.dpoSim.link()")
    assert f"lesson={code}" in link and "scenario=" not in link   # Share gives the lesson back
    for part in ("step=30", "beta=2", "flipped=1", "events=20:beta:0.5", "hide=sweep", "theme=dark"):
        assert part in link, (part, link)
    # the link `dpo-sim link FILE --step N --set beta=2` prints opens the same run
    printed = cli_output("link", path, "--base", "http://example.invalid/", "--step", "40",
                         "--set", "beta=2").strip()
    assert printed.startswith("http://example.invalid/?lesson="), printed
    d.open(printed.split("/", 3)[3], at=40)
    assert_readouts(d, cli_records(path, 40, "--set", "beta=2")[40], "dpo-sim link's link")
    assert d.state()["scenario"] == "lesson"


def cli_output(*argv: str) -> str:
    """What `dpo-sim ARGV...` prints (its main(), in this process); it must exit 0."""
    import contextlib
    import io

    from dpo_sim.app.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(list(argv)) == 0
    return out.getvalue()


def raw_link(payload: bytes) -> str:
    z = zlib.compressobj(9, zlib.DEFLATED, -15)
    return "1." + base64.urlsafe_b64encode(z.compress(payload) + z.flush()).decode().rstrip("=")


def test_a_bad_lesson_link_opens_the_default_lesson_with_a_notice(open_page):
    d = open_page("?lesson=1.%%%not-base64&step=5", at=0, errors_ok=True)
    s = d.state()
    assert s["scenario"] != "lesson" and s["step"] == 0          # the default, at its start
    expect(d.page.get_by_text("ignored lesson=").first).to_be_visible()
    expect(d.page.get_by_text("not base64url").first).to_be_visible()
    d.act("dpoSim.step(2)")
    assert d.state()["step"] == 2


def unchecked_link(doc: dict) -> str:
    """A link to a document the validator refuses (Python's encoder checks it first)."""
    return raw_link(json.dumps(doc).encode())


#: (a bad lesson link, words its notice must say)
BAD_LINKS = {
    "truncated": (lambda: encode_lesson(tomllib.loads(ALIGN))[:60], "truncated"),
    "too long": (lambda: "1." + "A" * 9000, "too long"),
    "not JSON": (lambda: raw_link(b"{not json"), "not JSON"),
    "nested": (lambda: raw_link(b"[" * 100_000 + b"]" * 100_000), ""),
    "field": (lambda: unchecked_link({**tomllib.loads(ALIGN), "beta": "x"}), "beta"),
    "hostile": (lambda: unchecked_link({**tomllib.loads(ALIGN), "title": HOSTILE["img"],
                                        "watch": HOSTILE["script"], "beta": -1}), "beta"),
}


def test_malformed_truncated_oversized_and_hostile_lesson_links(browser, server):
    d = DashboardPage(browser, server.url + "offline", host="offline")
    try:
        initial = None
        for name, (make, words) in BAD_LINKS.items():
            d.open("?lesson=" + make() + "&step=7")
            s = d.state()
            initial = initial or s["scenario"]
            assert s["scenario"] == initial != "lesson", name
            alerts = d.page.locator(".dpo-page").inner_text()
            assert "ignored lesson=" in alerts and "opened the default lesson" in alerts, name
            assert words in alerts, (name, words)
            assert s["step"] == 0, name
            assert d.page.evaluate("() => window.__pwned") is None
        d.act("dpoSim.step(2)")
        assert d.state()["step"] == 2
        assert d.errors == []
    finally:
        d.close()


# -- downloads ---------------------------------------------------------------------------------
def download(d: DashboardPage, testid: str, tmp_path) -> str:
    with d.page.expect_download() as info:
        d.page.locator(f"[data-testid={testid}]").click()
    dl = info.value
    path = tmp_path / dl.suggested_filename
    dl.save_as(path)
    return path.read_text(encoding="utf-8")


def test_download_toml_gives_back_the_same_scenario(open_page, tmp_path):
    d = open_page("?scenario=align")
    text = download(d, "download-toml", tmp_path)
    want = load_scenario("align").config()
    want.pop("scenario")
    assert config_of(tomllib.loads(text)) == want
    # a preset TOML opened by link comes back as the same scenario
    d.open("?lesson=" + encode_lesson(tomllib.loads(ALIGN)))
    again = download(d, "download-toml", tmp_path)
    assert config_of(tomllib.loads(again)) == config_of(tomllib.loads(ALIGN))


def test_download_this_page_opens_on_the_lesson_with_its_texts_as_written(open_page, browser, tmp_path):
    doc = tomllib.loads(ALIGN)
    doc["title"] = "T " + HOSTILE["end"]
    doc["watch"] = HOSTILE["lines"] + " " + HOSTILE["script"]
    doc["prompts"][0]["replies"][:3] = [HOSTILE["end"], HOSTILE["lines"], HOSTILE["img"]]
    d = open_page("?lesson=" + encode_lesson(doc))
    assert d.state()["scenario"] == "lesson"
    body = d.page.locator(".dpo-page").text_content()
    assert HOSTILE["img"] in body and HOSTILE["end"] in body   # shown as text, on this host too
    assert d.page.evaluate("() => window.__pwned") is None
    html = download(d, "download-page", tmp_path)
    data = html.split('<script type="application/json" id="dpo-data">', 1)[1].split("</script>", 1)[0]
    assert "<!--" not in data and "\u2028" not in data and "\u2029" not in data
    assert json.loads(data)["scenarios"][0]["prompts"][0]["replies"][:3] == doc["prompts"][0]["replies"][:3]
    path = tmp_path / "page.html"
    path.write_text(html, encoding="utf-8")
    ctx = browser.new_context()
    try:
        pg = ctx.new_page()
        errors = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.goto(path.as_uri())
        pg.wait_for_function("document.documentElement.dataset.ready === '1'")
        s = pg.evaluate("() => window.dpoSim.state()")
        assert s["scenario"] == "lesson"
        shown = pg.evaluate("() => document.body.textContent")
        for t in (HOSTILE["end"], HOSTILE["lines"], HOSTILE["img"], doc["title"]):
            assert t in shown, t
        assert pg.title() == "dpo-sim: " + doc["title"]
        assert pg.evaluate("() => window.__pwned") is None and errors == []
    finally:
        ctx.close()


# -- the limits: shown without overflow, and accessible ----------------------------------------
def at_the_limits() -> dict:
    L = scenario_io
    K, P = L.MAX_REPLIES, L.MAX_PROMPTS
    long = ("W" * 30 + " ") * (L.MAX_TEXT // 31)
    long = (long + "x" * L.MAX_TEXT)[:L.MAX_TEXT]
    rows = [{"prompt": i % P, "chosen": (i // P) % K, "rejected": ((i // P) + 1) % K,
             "votes_chosen": 3, "votes_rejected": 1} for i in range(L.MAX_ROWS)]
    return {"title": ("Title " * 20)[:L.MAX_TITLE], "watch": ("watch " * 300)[:L.MAX_WATCH],
            "beta": 1.0, "learning_rate": 0.5,
            "reference": {"kind": "probs", "probs": [[1 / K] * K for _ in range(P)]},
            "prompts": [{"text": long, "replies": [long] * K} for _ in range(P)],
            "pairs": rows}


@pytest.mark.parametrize("size", [(390, 844), (1280, 800)])
def test_a_lesson_at_the_limits_shows_without_overflow(browser, server, size):
    doc = at_the_limits()
    config_of(doc)                                   # valid: at the limits, not over
    d = DashboardPage(browser, server.url + "offline", host="offline", viewport=size,
                      mobile=size[0] < 500).open("?lesson=" + encode_lesson(doc))
    try:
        assert d.state()["scenario"] == "lesson"
        over = "() => document.documentElement.scrollWidth - window.innerWidth"
        assert d.page.evaluate(over) <= 0
        editor(d)
        wide = d.page.evaluate("""() => {
            const dlg = document.querySelector('[data-testid=editor]');
            const r = dlg.getBoundingClientRect(), out = [];
            if (r.left < 0 || r.right > window.innerWidth + 0.5) out.push('dialog ' + r.left + '..' + r.right);
            for (const e of dlg.querySelectorAll('input, textarea, select, button, label, p, h2, h3')) {
              if (e.closest('.dpo-ed-scroll')) continue;     // the tables scroll in their own box
              const b = e.getBoundingClientRect();
              if (b.width && (b.left < r.left - 0.5 || b.right > r.right + 0.5)) out.push(e.tagName + ' ' + (e.dataset.field || e.textContent.slice(0, 20)));
            }
            const body = dlg.querySelector('.dpo-ed-body');
            if (body.scrollWidth > body.clientWidth + 1) out.push('body scrolls sideways');
            return out; }""")
        assert wide == []
        assert_valid(d)
        assert d.page.evaluate(over) <= 0
    finally:
        d.close()


def test_no_serious_accessibility_violation_with_the_editor_open(browser, server):
    for scheme in ("light", "dark"):
        d = DashboardPage(browser, server.url + "offline", host="offline",
                          color_scheme=scheme).open("?scenario=align")
        try:
            editor(d)
            d.page.locator("[data-testid=editor] details summary").click()
            fld(d, "beta").fill("x")                 # with an error showing
            assert axe_violations(d.page) == [], scheme
            fld(d, "model.kind").select_option("features")   # the features grids, an error
            fld(d, "prompts[1].features[0][1]").fill("NaN")  # in one cell
            assert axe_violations(d.page) == [], scheme
        finally:
            d.close()


# -- importing TRL-format data into the editor ---------------------------------------------------
@OFFLINE_ONLY
def test_imported_trl_data_fills_the_editor_and_runs_after_apply(open_page, tmp_path):
    from dpo_sim.sim.lesson import to_toml
    from dpo_sim.sim.trl_import import import_trl

    data = (ROOT / "tests" / "data" / "trl_small.jsonl").read_text(encoding="utf-8")
    d = open_page("?scenario=align")
    editor(d)
    d.page.locator("[data-testid=editor] details summary").click()
    d.page.locator("[data-testid=import-file]").set_input_files(
        files=[{"name": "bad.jsonl", "mimeType": "application/json",
                "buffer": b'{"prompt": "a", "chosen": "b", "rejected": "c"}\n{"prompt": 1}\n'}])
    expect(d.page.locator("[data-testid=import-text]")).to_have_value(re.compile("prompt"))
    d.page.locator("[data-testid=import-go]").click()
    err = d.page.locator("[data-testid=import-error]")
    expect(err).to_contain_text("line 2")                     # one line, naming the line
    assert "\n" not in err.inner_text().strip()
    d.page.locator("[data-testid=import-text]").fill(data)     # pasted
    d.page.locator("[data-testid=import-title]").fill("Boiling water")
    d.page.locator("[data-testid=import-go]").click()
    expect(err).to_have_text("")
    doc = import_trl(data, file="pasted", title="Boiling water")
    expect(fld(d, "title")).to_have_value("Boiling water")
    expect(fld(d, "prompts[0].replies[1]")).to_have_value(doc["prompts"][0]["replies"][1])
    assert_valid(d)
    assert d.state()["scenario"] == "align"                   # not applied until Apply
    d.page.locator("[data-testid=editor-apply]").click()
    d.wait_js("() => window.dpoSim.state().scenario === 'lesson'")
    d.act("dpoSim.pause()")
    d.act("dpoSim.reset()")
    d.act("dpoSim.step(20)")
    path = tmp_path / "imported.toml"
    path.write_text(to_toml(doc), encoding="utf-8")
    assert_readouts(d, cli_records(str(path), 20)[20], "the imported lesson")


@OFFLINE_ONLY
def test_a_challenge_written_in_the_editor_is_checked_and_kept(open_page, tmp_path):
    d = open_page("?scenario=align")
    editor(d)
    d.page.locator("[data-testid=editor-add-challenge]").click()
    fld(d, "challenge.text").fill("Every row right by step 300, moving only beta.")
    fld(d, "challenge.by_step").fill("0")
    assert_refused_at(d, "challenge.by_step", "challenge.by_step")
    fld(d, "challenge.by_step").fill("300")
    fld(d, "challenge.goals[0].at_least").fill("x")
    assert_refused_at(d, "challenge.goals[0].at_least", "challenge.goals[0]")
    fld(d, "challenge.goals[0].at_least").fill("1")
    fld(d, "challenge.controls").select_option("only")
    d.page.get_by_label("beta", exact=True).last.check()
    assert_valid(d)
    d.page.locator("[data-testid=editor-apply]").click()
    d.wait_js("() => window.dpoSim.state().scenario === 'lesson'")
    d.act("dpoSim.pause()")
    got = tomllib.loads(download(d, "download-toml", tmp_path))["challenge"]
    assert got == {"text": "Every row right by step 300, moving only beta.", "by_step": 300,
                   "controls": ["beta"],
                   "goals": [{"metric": "rewards/accuracies", "at_least": 1}]}


def test_a_lesson_too_long_for_a_link_says_so_and_still_runs(browser, server):
    import random

    rng = random.Random(18)
    d = DashboardPage(browser, server.url + "offline", host="offline").open(
        "?lesson=" + encode_lesson(at_the_limits()))
    try:
        editor(d)
        # every text at its limit, of letters that do not compress: over the link's limit
        texts = {}
        for x in range(scenario_io.MAX_PROMPTS):
            texts[f"prompts[{x}].text"] = None
            for k in range(scenario_io.MAX_REPLIES):
                texts[f"prompts[{x}].replies[{k}]"] = None
        for f in texts:
            texts[f] = "".join(rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
                               for _ in range(scenario_io.MAX_TEXT))
        d.page.evaluate("""texts => { for (const [f, v] of Object.entries(texts)) {
            const e = document.querySelector(`[data-testid=editor] [data-field="${f}"]`);
            e.value = v; e.dispatchEvent(new Event('input')); } }""", texts)
        assert_valid(d)
        d.page.locator("[data-testid=editor-apply]").click()
        d.wait_js("() => window.dpoSim.state().playing")
        expect(d.page.locator("[data-testid=download-status]")).to_contain_text("too long for a link")
        assert d.state()["scenario"] == "lesson"
    finally:
        d.close()


@OFFLINE_ONLY
def test_scripted_events_the_form_cannot_edit_are_kept_or_removed(open_page):
    d = open_page("?scenario=fix-label")
    editor(d)
    expect(d.page.locator("[data-testid=editor]")).to_contain_text("scripted events (1) are kept")
    for _ in range(5):                               # rows 1.. gone: the event's row with them
        d.page.get_by_role("button", name="Remove row 1").click()
    status = d.page.locator("[data-testid=editor-status]")
    expect(status).to_contain_text("events[0].flip")       # said, though no field shows it
    expect(d.page.locator("[data-testid=editor-apply]")).to_have_attribute("aria-disabled", "true")
    d.page.locator("[data-testid=editor-drop-events]").click()
    assert_valid(d)


# -- the features model (issue 19) --------------------------------------------------------
def test_a_features_model_written_in_the_editor_refuses_hostile_cells_and_runs(open_page, tmp_path):
    """align switched to shared features in the form: d and each reply's vector editable,
    hostile cells refused at their field, Apply runs it with the CLI's numbers (served:
    NumPy checks the config again and runs it; offline: the twin)."""
    d = open_page("?scenario=align")
    editor(d)
    fld(d, "model.kind").select_option("features")
    expect(fld(d, "model.d")).to_have_value("4")                     # d = K, e_k vectors
    expect(fld(d, "prompts[1].features[2][2]")).to_have_value("1")
    expect(fld(d, "prompts[1].features[2][1]")).to_have_value("0")
    expect(d.page.locator('[data-testid=editor] [data-field="init"]')).to_have_count(0)
    assert_valid(d)
    cell = "prompts[0].features[1][0]"
    for text, words in (("1e999", "must be a finite number, got inf"),
                        ("NaN", "must be a number, got a string 'NaN'"),
                        (HOSTILE["img"], "must be a number, got a string"),
                        ("9" * 10_000, "must be a finite number, got inf")):
        fld(d, cell).fill(text)
        assert_refused_at(d, cell, words)
        expect(d.page.locator("[data-testid=editor-apply]")).to_have_attribute(
            "aria-disabled", "true")
    assert d.page.evaluate("() => window.__pwned") is None
    fld(d, cell).fill("0.8")                       # "Boil it." now resembles the good answer
    fld(d, "model.d").select_option("5")
    expect(fld(d, "prompts[0].features[0][4]")).to_have_value("0")
    fld(d, "prompts[0].features[0][4]").fill("0.5")
    fld(d, "model.init_theta[4]").fill("-1e999")
    assert_refused_at(d, "model.init_theta[4]", "finite")
    fld(d, "model.init_theta[4]").fill("0.25")
    assert_valid(d)
    d.page.locator("[data-testid=editor-apply]").click()
    expect(d.page.locator("[data-testid=editor]")).to_be_hidden()
    d.wait_js("() => window.dpoSim.state().scenario === 'lesson'")
    d.act("dpoSim.pause()")
    d.act("dpoSim.reset()")
    d.act("dpoSim.step(25)")
    # the same lesson written by hand, run by the CLI
    doc = tomllib.loads(ALIGN)
    eye = [[1.0 if j == k else 0.0 for j in range(5)] for k in range(4)]
    doc["model"] = {"kind": "features", "init_theta": [0, 0, 0, 0, 0.25]}
    doc["prompts"][0]["features"] = [list(v) for v in eye]
    doc["prompts"][0]["features"][1][0] = 0.8
    doc["prompts"][0]["features"][0][4] = 0.5
    doc["prompts"][1]["features"] = [list(v) for v in eye]
    path = tmp_path / "features.toml"
    path.write_text(to_toml(doc), encoding="utf-8")
    assert_readouts(d, cli_records(str(path), 25)[25], "the features lesson")
    # the link Share gives carries the features: Python reads the same scenario from it
    link = d.page.evaluate("() => window.dpoSim.link()")
    code = parse_qs(urlparse(link).query)["lesson"][0]
    assert config_of(decode_lesson(code)) == config_of(doc)
