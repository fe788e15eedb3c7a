"""The features model on the real page (issue 19): the features view, the ring at π*φ, KL to
π*φ and the similarity score, on both hosts, against the presets' own TOML read here with
NumPy (not the engine); no element created per step; absent on a table preset. Then, on
one host (the views are the same modules on both), the layout by real geometry at 390 and
1280 px and axe-core in light and dark. (The views alone, in Node: test_features_view.py.)"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import expect

from browser import axe_violations

pytestmark = pytest.mark.browser
expect.set_options(timeout=15_000)

PRESETS = Path(__file__).resolve().parents[1] / "presets"
FEATURES_PRESETS = ("similar-replies", "unseen-reply", "shared-prompts")


def _toml(pid: str) -> dict:
    return tomllib.loads((PRESETS / f"{pid}.toml").read_text())


def _signed(v: float) -> str:
    """fmt.js fixed(v, 3, true): a sign, except on a zero."""
    t = f"{v:+.3f}"
    return "0.000" if t in ("+0.000", "-0.000") else t


def _phi(doc: dict) -> np.ndarray:
    return np.array([p["features"] for p in doc["prompts"]], dtype=float)


SHOWN = r"""() => {
  const E = window.__e2e, num = (id) => { const e = E.q('[data-testid="' + id + '"]');
    return e ? [e.getAttribute('data-value'), e.textContent.trim()] : null; };
  const bars = E.all('canvas.bars').map(c => c.getAttribute('data-phi-markers') || '');
  const rows = E.all('[data-testid^="similarity-"]').map(e => e.textContent.trim());
  const note = E.q('[data-testid=bars-rlhf-note]');
  return {num: Object.fromEntries(E.all('[data-testid]').map(e => [e.getAttribute('data-testid'),
            [e.getAttribute('data-value'), e.textContent.trim()]])),
          view: !!E.q('[data-testid=features-view]'), bars, rows,
          legend: note ? [note.dataset.state, note.textContent] : null};
}"""

WATCH = r"""() => {
  const sec = window.__e2e.q('[data-testid=features-view]');
  const rows = window.__e2e.q('.dpo-part-pairs');
  window.__m = {els: [...sec.querySelectorAll('*'), ...rows.querySelectorAll('*')], added: 0};
  window.__m.obs = new MutationObserver(ms => { for (const m of ms)
    for (const n of m.addedNodes) if (n.nodeType === 1) window.__m.added++; });
  for (const r of [sec, rows]) window.__m.obs.observe(r, {subtree: true, childList: true});
}"""

SAME = r"""() => { const M = window.__m; M.obs.disconnect();
  const sec = window.__e2e.q('[data-testid=features-view]');
  const rows = window.__e2e.q('.dpo-part-pairs');
  const now = [...sec.querySelectorAll('*'), ...rows.querySelectorAll('*')];
  return [now.length === M.els.length && now.every((e, i) => e === M.els[i]), M.added]; }"""


def test_the_features_presets_show_phi_theta_the_ring_kl_and_similarity(open_page):
    d = open_page("?scenario=similar-replies&step=40", at=40)
    # no element made by a step, in the features view or the rows
    d.page.evaluate(WATCH)
    for _ in range(5):
        d.act("dpoSim.step(1)")
    d.wait_step(45)
    same, added = d.page.evaluate(SAME)
    assert same and added == 0
    for pid in FEATURES_PRESETS:
        doc = _toml(pid)
        phi = _phi(doc)
        d.act(f"dpoSim.load('{pid}')")
        d.wait_step(0)
        d.act("dpoSim.step(25)")
        d.wait_step(25)
        d.idle()
        s = d.state()
        g = d.page.evaluate(SHOWN)
        num = g["num"]
        assert g["view"], pid
        theta = np.array(s["theta"])
        assert theta.shape == (phi.shape[2],) and s["record"]["theta"] == s["theta"]
        P, K, dim = phi.shape
        for x in range(P):
            for y in range(K):
                for j in range(dim):
                    assert float(num[f"phi-{x}-{y}-{j}"][0]) == phi[x, y, j]
                want = float(phi[x, y] @ theta)
                assert float(num[f"score-{x}-{y}"][0]) == pytest.approx(want, abs=1e-12)
                assert num[f"score-{x}-{y}"][1] == _signed(want)
        for j in range(dim):
            assert float(num[f"theta-{j}"][0]) == theta[j]
        # each row's similarity, from the preset's own features (no flip here)
        want = []
        for r in doc["pairs"]:
            w, lo = phi[r["prompt"], r["chosen"]], phi[r["prompt"], r["rejected"]]
            want.append(_signed(w @ lo - w @ w))
        assert g["rows"] == want, pid
        # a flip swaps phi_w and phi_l: row 0's score is then <phi_l, phi_w> - |phi_l|^2
        r = doc["pairs"][0]
        w, lo = phi[r["prompt"], r["chosen"]], phi[r["prompt"], r["rejected"]]
        d.act("dpoSim.flip(0)")
        d.idle()
        expect(d.page.locator("[data-testid=similarity-0]")).to_have_text(_signed(lo @ w - lo @ lo))
        d.act("dpoSim.flip(0)")
        d.idle()
        expect(d.page.locator("[data-testid=similarity-0]")).to_have_text(want[0])
        # KL to pi*_phi beside KL to pi*, the record's numbers
        for x, v in enumerate(s["kl_to_rlhf_phi"]):
            shown = num[f"kl-rlhf-phi-{x}"]
            assert shown[1] == "none" if v is None else float(shown[0]) == v
        # the ring at pi*_phi on every prompt where it differs from pi*, else one sentence
        opt_phi = s["rlhf_phi"]
        coincide = g["legend"][0] == "coincide"
        assert g["legend"][0] == ("coincide" if opt_phi["coincide"] else "ring")
        for x, drawn in enumerate(g["bars"]):
            if coincide or not opt_phi["finite"][x]:
                assert drawn == ""
                continue
            if drawn == "":                    # the diamond marks both on this prompt
                assert opt_phi["probs"][x] == pytest.approx(s["rlhf_probs"][x], abs=1e-9)
                continue
            m = json.loads(drawn)
            got = [(c - m["left"]) / m["scale"] for c in m["centres"]]
            assert got == pytest.approx(opt_phi["probs"][x], abs=1e-9), (pid, x)
        if pid == "unseen-reply":              # its lesson: pi*_phi and pi* differ there
            assert not coincide and g["bars"][0]
    # a table preset: no features view, no ring, no similarity, the table's legend
    d.act("dpoSim.load('align')")
    d.wait_step(0)
    g = d.page.evaluate(SHOWN)
    assert not g["view"] and not any(g["bars"]) and g["rows"] == []
    assert g["legend"][0] == "table" and d.state()["theta"] is None
    assert d.state()["rlhf_phi"] is None


LAYOUT = r"""() => {
  const E = window.__e2e, W = window.innerWidth;
  const box = (el) => { const r = el.getBoundingClientRect();
    return {left: r.left, right: r.right, top: r.top, bottom: r.bottom}; };
  const view = E.q('[data-testid=features-view]');
  const scroll = E.q('.dpo-feat-scroll');
  const bars = E.all('canvas.bars').map(box);
  let right = 0, widest = '';
  for (const el of E.all('*')) {
    const r = el.getBoundingClientRect();
    if (r.width < 1 || r.height < 1) continue;
    let hi = r.right;
    for (let a = el.parentElement; a; a = a.parentElement)
      if (getComputedStyle(a).overflowX !== 'visible') hi = Math.min(hi, a.getBoundingClientRect().right);
    if (hi > right) { right = hi; widest = el.tagName + '.' + el.className; }
  }
  return {W, H: window.innerHeight, right, widest, scrollW: document.documentElement.scrollWidth,
          view: box(view), scroll: box(scroll), bars};
}"""


@pytest.mark.parametrize("host", ["offline"])
def test_the_features_view_fits_and_passes_axe_on_a_phone_and_a_laptop(open_page):
    """Both sizes and both themes in two opens: unseen-reply (the rings) on a phone in light,
    shared-prompts (two prompts) on a laptop in dark."""
    for pid, (w, h, mobile), theme in (("unseen-reply", (390, 844, True), "light"),
                                       ("shared-prompts", (1280, 800, False), "dark")):
        d = open_page(f"?scenario={pid}&step=30", at=30, viewport=(w, h), mobile=mobile,
                      color_scheme=theme)
        g = d.page.evaluate(LAYOUT)
        assert g["W"] == w and g["right"] <= w + 0.5, (w, g["widest"])
        assert g["scrollW"] <= w
        v = g["view"]
        assert v["left"] >= -0.5 and v["right"] <= w + 0.5
        # the first bar chart starts on the first screen (its first replies seen)
        assert g["bars"][0]["top"] <= g["H"] - 60, (w, theme, g["bars"][0])
        # below the bars, in the same column
        assert v["top"] >= max(b["bottom"] for b in g["bars"]) - 0.5
        assert abs(v["left"] - g["bars"][0]["left"]) < 40
        d.page.locator("[data-testid=features-view] button.dpo-term").first.focus()
        found = axe_violations(d.page)
        assert found == [], (w, theme, json.dumps(found, indent=1))
