"""The texts of "Read at your level" and "Try it" without a browser (app/learn_texts.py).

- the six levels exist, and from college up each gives the whole derivation;
- every number a level states about a preset is the one ``dpo-sim run ID --steps 3000
  --format jsonl`` records (``FACTS``), and no other number about a preset appears;
- every other claim a number can carry is checked with that number here;
- every live value a level quotes is one the page fills in (the numbers themselves, the
  Try-it ticks and "Show me" are checked on the real page, tests/test_e2e_learn.py);
- KaTeX ships with the package (small, complete) and the server serves it; every formula
  is valid TeX for that KaTeX (node, when present).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import re
import shutil
import subprocess
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import numpy as np
import pytest

from dpo_sim.app import learn_texts as T
from dpo_sim.app.cli import main as cli_main
from dpo_sim.app.katex_assets import STATIC_DIR, STATIC_ROUTE
from dpo_sim.sim import dpo
from dpo_sim.sim.losses import LOSS_TYPES
from dpo_sim.sim.numerics import log_softmax
from dpo_sim.sim.scenario import Prompt, Row, Scenario
from dpo_sim.sim.scenario_io import load_scenario
from dpo_sim.sim.simulation import Simulation

ROOT = Path(__file__).resolve().parents[1]


# --- the runs the texts quote: the command line's own output -------------------------------
_RUNS: dict[str, list[dict]] = {}


def run(sid: str) -> list[dict]:
    """``dpo-sim run SID --steps FACT_STEPS --format jsonl``: the step records, by step."""
    if sid not in _RUNS:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert cli_main(["run", sid, "--steps", str(T.FACT_STEPS), "--format",
                             "jsonl"]) == 0
        lines = [json.loads(x) for x in out.getvalue().splitlines()]
        assert lines[0]["type"] == "config"
        steps = lines[1:]
        assert [s["step"] for s in steps] == list(range(T.FACT_STEPS + 1))
        _RUNS[sid] = steps
    return _RUNS[sid]


def series(sid: str, metric: str, *index) -> np.ndarray:
    out = []
    for s in run(sid):
        v = s[metric]
        for i in index:
            v = v[i]
        out.append(v)
    return np.array(out)


def prose(level: T.Level) -> str:
    """A level's words without its formulas and live values."""
    text = "\n".join(b for b in level.blocks if not b.strip().startswith("$$"))
    text = re.sub(r"\$[^$]+\$", " ", text)
    return re.sub(r"\[\[\w+\]\]", " ", text)


# --- the levels ----------------------------------------------------------------------------
def test_six_levels_in_order_each_with_a_live_line():
    assert [lv.id for lv in T.LEVELS] == ["child", "school", "college", "engineer", "phd",
                                          "researcher"]
    assert [lv.label for lv in T.LEVELS] == ["Age 5", "High school", "College", "Engineer",
                                             "PhD student", "Researcher"]
    for lv in T.LEVELS:
        assert lv.blocks and lv.title
        assert {"scenario", "step"} <= set(T.level_keys(lv)), lv.id
        assert lv.blocks[-1].startswith("**Now on this page:**"), lv.id


#: TeX that each step of the derivation needs (the objective, the closed-form optimum and
#: Z(x), the reward solved for, Z cancelling in Bradley-Terry, the loss, the gradient)
DERIVATION = {
    "objective": [r"\beta\,\mathrm{KL}", r"\pi_{\text{ref}}"],
    "optimum": [r"\pi^*", "Z(x)"],
    "reward": [r"=\beta\log", r"+ \beta\log Z(x)"],
    "bradley-terry": [r"\sigma\big(r(x,y_w)-r(x,y_l)\big)"],
    "loss": [r"\log\sigma"],
    "gradient": [r"\sigma(-u)", r"\nabla_\theta\log\pi_\theta(y_w\mid x)",
                 r"\nabla_\theta\log\pi_\theta(y_l\mid x)"],
}


def _tex(level: T.Level) -> str:
    return re.sub(r"\s+", "", " ".join(re.findall(r"\$\$?(.+?)\$\$?", " ".join(level.blocks),
                                                  flags=re.S)))


def test_the_college_level_gives_the_derivation():
    tex = _tex(T.BY_ID["college"])
    for step, needles in DERIVATION.items():
        for n in needles:
            assert re.sub(r"\s+", "", n) in tex, (step, n)


def _sentences(level: T.Level) -> set[str]:
    text = " ".join(b for b in level.blocks if not b.strip().startswith("$$"))
    parts = re.split(r"(?<=[.:;!?])\s+", " ".join(text.split()))
    return {p for p in parts if len(p) > 30 and "[[" not in p}


def _formulas(level: T.Level) -> set[str]:
    return {re.sub(r"\s+", "", f) for f in re.findall(r"\$\$(.+?)\$\$", " ".join(level.blocks),
                                                     flags=re.S)}


def test_no_level_repeats_another_word_for_word():
    """Each level says what the others do not: no sentence (longer than a few words) and
    no displayed formula appears in two levels, and every number quoted about a preset
    is quoted at one level only (the levels above refer to the one below instead)."""
    levels = list(T.LEVELS)
    for i, a in enumerate(levels):
        for b in levels[i + 1:]:
            assert not _sentences(a) & _sentences(b), (a.id, b.id, _sentences(a) & _sentences(b))
            assert not _formulas(a) & _formulas(b), (a.id, b.id)
    for fact in T.FACTS:
        assert len(fact.levels) == 1
        holders = [lv.id for lv in levels if re.search(rf"(?<![\d.]){re.escape(fact.text)}"
                                                       rf"(?![\d]| %)", prose(lv))]
        assert holders == list(fact.levels), (fact.text, holders)


def test_the_levels_below_college_stay_free_of_the_derivation():
    for level in ("child", "school"):
        assert r"\nabla" not in _tex(T.BY_ID[level]) and "Z(x)" not in _tex(T.BY_ID[level])
    assert "$" not in " ".join(T.BY_ID["child"].blocks)     # no formula for a five-year-old


def test_the_researcher_level_names_the_critiques_and_the_table():
    text = " ".join(T.BY_ID["researcher"].blocks)
    for needle in ("Azar et al. (2023)", "IPO", "Razin et al., 2024", "Pal et al., 2024",
                   "Chowdhury et al. (2024)", "likelihood", "not a language model",
                   r"\mathcal{L}_{\text{IPO}}", "Appendix Table 3"):
        assert needle in text, needle


# --- every number stated about a preset is the command line's ------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("fact", T.FACTS, ids=lambda f: f"{f.scenario}-{f.metric}-{f.text}")
def test_every_quoted_number_is_the_engines(fact):
    v = series(fact.scenario, fact.metric, *fact.index)[fact.step] * fact.scale
    assert f"{v:.{fact.digits}f}".replace("-", "−") == fact.text, (fact, v)
    for level in fact.levels:
        assert fact.text in prose(T.BY_ID[level]), (level, fact.text)


#: Numbers in the levels' words that are not read off a run, each checked below or here:
#: 0.5 = σ(0) (and a learning rate, checked in test_engineer_numbers_and_claims); 0.7 =
#: 7/(7+3); 0.0001 a tolerance; log 4 = 1.386 (four replies, uniform reference: the KL
#: ceiling of the presets quoted); the six vote shares of align; (7/3)^(1/4) = 1.24; the
#: stability limit 18.6; the two terms of logps/chosen (0.622, 0.096); the paper's section
#: numbers (6.1 to 6.4) and a sampling temperature (0.25); the features model's similarity
#: score of similar-replies (1.21), its ratio to |phi_w - phi_l|^2 (0.45) and pi* of the
#: unjudged reply in unseen-reply (0.219), checked in test_the_features_models_numbers.
GENERIC = {"0.5", "0.7", "0.0001", "1.386", "0.9", "0.8", "0.6", "1.24", "18.6", "0.622",
           "0.096", "6.1", "6.2", "6.3", "6.4", "0.25", "1.21", "0.45", "0.219"}


def test_no_other_decimal_number_appears_in_any_level():
    quoted = {f.text.lstrip("−") for f in T.FACTS}
    for lv in T.LEVELS:
        for m in re.findall(r"\d+\.\d+", prose(lv)):
            assert m in quoted or m in GENERIC, (lv.id, m)
    assert f"{math.log(4):.3f}" == "1.386" and f"{7 / 10:.1f}" == "0.7"
    assert f"{(7 / 3) ** 0.25:.2f}" == "1.24"


def test_the_papers_figures_are_quoted_where_the_paper_gives_them():
    """Every percentage a level states is a figure of the DPO paper listed in T.PAPER
    (with the place in the paper, named in the same paragraph), or align's 100 % per
    stored row (checked in test_engineer_numbers_and_claims)."""
    listed = {}
    for f in T.PAPER:
        for num in re.findall(r"\d+ %", f.text):
            listed[(f.level, num)] = f.where
    for lv in T.LEVELS:
        for block in lv.blocks:
            for num in re.findall(r"\d+ %", block):
                if (lv.id, num) == ("engineer", "100 %"):
                    continue
                where = listed.get((lv.id, num))
                assert where, (lv.id, num)
                for part in where.split(" and "):
                    assert part.replace("Section ", "Section ") in block, (lv.id, num, part)
    for f in T.PAPER:
        assert f.text in " ".join(T.BY_ID[f.level].blocks), f.text


def test_the_whole_numbers_said_about_presets():
    """Steps and counts in the words: 44 (peak), 655 (below its start from then on),
    400 and 3000 (the steps quoted), 47 of 60 (accuracy), 7 and 3 (align's first row),
    25 and 61 in 100 (the child level, in FACTS)."""
    lc = series("unanimous", "logps/chosen")
    assert int(np.argmax(lc)) == 44 and "(step 44)" in prose(T.BY_ID["engineer"])
    below = lc < lc[0]
    assert not below[654] and below[655:].all()
    assert "from step 655 on" in prose(T.BY_ID["engineer"])
    acc = series("align", "rewards/accuracies")
    assert acc[0] == 0 and (acc[1:] == 47 / 60).all() and f"{47 / 60:.4f}" == "0.7833"
    assert "47 of its 60 judgements" in prose(T.BY_ID["engineer"])


def test_child_level_seven_cards_for_every_three():
    """align's first row is the long egg answer over "Boil it.", 7:3; with beta = 1 and a
    uniform reference, sigma(u) = 0.7 means pi(long) : pi(boil) = 7 : 3."""
    s = load_scenario("align")
    r = s.rows[0]
    assert (r.prompt, r.votes_chosen, r.votes_rejected) == (0, 7, 3)
    assert s.prompts[0].replies[r.chosen].startswith("Lower the egg")     # the long one
    assert s.prompts[0].replies[r.rejected] == "Boil it."
    assert s.beta == 1.0 and np.all(s.ref_logits == 0)
    p = series("align", "probs", 0)
    assert p[-1, r.chosen] / p[-1, r.rejected] == pytest.approx(7 / 3, rel=1e-9)
    # "about 61 times in 100 by lesson 400, and it stays there"
    assert (np.round(100 * p[400:, 0]) == 61).all()
    assert "7 grown-ups" in prose(T.BY_ID["child"]) and "3 liked “Boil it.”" in \
        prose(T.BY_ID["child"])


def test_school_and_phd_every_row_ends_at_its_vote_share():
    s = load_scenario("align")
    shares = [r.votes_chosen / (r.votes_chosen + r.votes_rejected) for r in s.rows]
    assert shares == [0.7, 0.9, 0.8, 0.6, 0.9, 0.8]
    assert "0.7, 0.9, 0.8, 0.6, 0.9 and 0.8" in prose(T.BY_ID["school"])
    sig = series("align", "pairs/sigma")[T.FACT_STEPS]
    assert np.max(np.abs(sig - shares)) < 1e-4
    assert "within 0.0001" in prose(T.BY_ID["school"])
    # the balance: 7 sigma(-u) = 3 sigma(u) at sigma(u) = 0.7; sigma(0) = 0.5
    assert math.isclose(7 * (1 - 0.7), 3 * 0.7) and 1 / (1 + math.exp(0)) == 0.5


def test_engineer_numbers_and_claims():
    # per stored row (TRL on these rows): every row has u > 0 from step 1 on
    margins = series("align", "pairs/margin")
    assert (margins[1:] > 0).all()
    # the floor: the mean binary entropy of the six vote shares
    shares = np.array([0.7, 0.9, 0.8, 0.6, 0.9, 0.8])
    entropy = float(np.mean(-(shares * np.log(shares) + (1 - shares) * np.log(1 - shares))))
    assert series("align", "loss")[-1] == pytest.approx(entropy, abs=1e-9)
    # unanimous: logps/rejected falls at every step, every row's margin grows at every step
    assert (np.diff(series("unanimous", "logps/rejected")) < 0).all()
    assert (np.diff(series("unanimous", "pairs/margin"), axis=0) > 0).all()
    assert "every row's margin grows at every step" in prose(T.BY_ID["engineer"])
    # tight leash (beta 4) ends closer to the reference than loose leash (beta 0.25)
    tight = Simulation(load_scenario("tight-leash"), keep_history=False).advance(3000)
    loose = Simulation(load_scenario("loose-leash"), keep_history=False).advance(3000)
    assert (tight.kl < loose.kl).all()


@pytest.mark.parametrize("beta", [0.25, 1.0, 4.0])
def test_with_unanimous_labels_no_beta_stops_the_drift(beta):
    sim = Simulation(load_scenario("unanimous").with_settings(beta=beta), keep_history=False)
    kl = [sim.advance(500).kl[0] for _ in range(6)]
    assert all(b > a for a, b in zip(kl, kl[1:]))


def test_phd_and_researcher_unanimous_claims():
    s = load_scenario("unanimous")
    assert all(r.votes_rejected == 0 for r in s.rows)
    kl = series("unanimous", "kl", 0)
    assert (np.diff(kl) > 0).all() and kl[-1] < math.log(4)
    sim = Simulation(s, keep_history=False)
    assert f"{sim_ceiling(sim):.3f}" == "1.386"
    # one reply on each prompt wins a row and loses another, “Boil it.” and “Canberra.”,
    # and each sinks at every step
    for x, name in ((0, "Boil it."), (1, "Canberra.")):
        y = s.prompts[x].replies.index(name)
        rows = [r for r in s.rows if r.prompt == x]
        assert any(r.chosen == y for r in rows) and any(r.rejected == y for r in rows)
        assert sum(r.chosen == k and r.rejected == y or r.chosen == y and r.rejected == k
                   for r in rows for k in range(4)) == 2
        others = [k for k in range(4) if k != y and any(r.chosen == k and r.rejected != k
                                                         and k in (r.chosen,) for r in rows)
                  and any(r.rejected == k for r in rows)]
        assert others == []                         # the only such reply on its prompt
        assert (np.diff(series("unanimous", "probs", x, y)) < 0).all()
    # their terms in the mean logps/chosen (six rows of 10 votes: each row's chosen reply
    # weighs 1/6) fall by 0.622 from step 44 to 3000; each good answer's rises by 0.096
    text = prose(T.BY_ID["researcher"])
    p = series("unanimous", "probs")
    for x, y, change in ((0, 1, "0.622"), (1, 1, "0.622"), (0, 0, "0.096"), (1, 0, "0.096")):
        weight = sum(r.chosen == y for r in s.rows if r.prompt == x) / 6
        d = weight * (np.log(p[3000, x, y]) - np.log(p[44, x, y]))
        assert f"{abs(d):.3f}" == change and (d < 0) == (change == "0.622"), (x, y, d)
    assert "falls by 0.622 from step 44 to step 3000" in text and "by only 0.096" in text
    lc = series("unanimous", "logps/chosen")
    fall = lc[44] - lc[3000]
    assert fall == pytest.approx(2 * 0.622 - 2 * 0.096, abs=2e-3)     # theirs, in equal shares


def sim_ceiling(sim) -> float:
    return float(dpo.kl_ceiling(sim.logp_ref)[0])


def _one_row(votes_for=10, votes_against=0, K=4, **kw) -> Scenario:
    base = dict(id="one", title="one", watch="", beta=1.0, learning_rate=0.5,
                adaptive_weight=True, prompts=(Prompt("q", tuple("ABCD"[:K])),),
                ref_logits=np.array([[0.3, -0.2, 0.1, 0.0][:K]]),
                rows=(Row(0, 1, 2, votes_for, votes_against),))
    base.update(kw)
    return Scenario(**base)


def test_researcher_a_single_unanimous_row_raises_its_winner_at_every_step():
    """The displayed formula for the change of log pi(winner) is the engine's, and > 0."""
    sim = Simulation(_one_row(), keep_history=False)
    prev = sim.record
    for _ in range(300):
        rec = sim.advance()
        lw0, lw1 = np.log(prev.probs[0, 1]), np.log(rec.probs[0, 1])
        pw, pl = prev.probs[0, 1], prev.probs[0, 2]
        delta = 0.5 * 1.0 * float(prev.row_weight[0])          # lr * beta * weight
        formula = delta - math.log(1 + pw * math.expm1(delta) - pl * -math.expm1(-delta))
        assert lw1 - lw0 == pytest.approx(formula, rel=1e-9, abs=1e-15)
        assert lw1 > lw0
        prev = rec


def test_the_derivations_identities_hold_numerically():
    """The Gibbs identity J(pi) = beta log Z - beta KL(pi || pi*), the reward solved for,
    Z cancelling in Bradley-Terry, and the gradient formula on a table."""
    rng = np.random.default_rng(7)
    beta = 0.7
    ref = np.exp(log_softmax(rng.normal(size=5)))
    r = rng.normal(size=5)
    Z = float(np.sum(ref * np.exp(r / beta)))
    star = ref * np.exp(r / beta) / Z
    for _ in range(5):
        pi = np.exp(log_softmax(rng.normal(size=5)))
        J = float(np.sum(pi * r) - beta * np.sum(pi * np.log(pi / ref)))
        gibbs = beta * math.log(Z) - beta * float(np.sum(pi * np.log(pi / star)))
        assert math.isclose(J, gibbs, rel_tol=1e-12, abs_tol=1e-12)
    assert np.allclose(r, beta * np.log(star / ref) + beta * math.log(Z))
    implicit = beta * np.log(star / ref)
    assert implicit[0] - implicit[3] == pytest.approx(r[0] - r[3])
    # the gradient on a table: -beta sigma(-u) (e_w - e_l), per judgement
    s = _one_row(votes_for=1, votes_against=0, K=4, beta=beta)
    theta = rng.normal(size=(1, 4))
    logp_ref = log_softmax(s.ref_logits)
    sim = Simulation(s)
    g = dpo.gradient(theta, logp_ref, sim.pairs, beta, LOSS_TYPES["sigmoid"])
    u = beta * ((log_softmax(theta)[0, 1] - logp_ref[0, 1])
                - (log_softmax(theta)[0, 2] - logp_ref[0, 2]))
    want = np.zeros((1, 4))
    want[0, 1], want[0, 2] = -beta / (1 + math.exp(u)), beta / (1 + math.exp(u))
    assert np.allclose(g, want, atol=1e-14)


def test_ipo_has_a_finite_rest_point_for_a_unanimous_row():
    if "ipo" not in LOSS_TYPES:
        pytest.skip("no IPO loss in this engine yet")
    ipo = LOSS_TYPES["ipo"]
    beta = 0.5
    u = np.linspace(-2, 2, 4001)
    assert u[np.argmin(ipo.value(u, beta))] == pytest.approx(0.5, abs=1e-3)   # h = 1/(2 beta)
    assert "has a resting point" in next(s.see for s in T.TRY_STEPS if s.id == "ipo")


def test_limitations_say_what_the_readme_says():
    text = " ".join(T.LIMITATIONS)
    for needle in ("offline", "β is chosen by hand", "Not a language model",
                   "given by the lesson, not learned", "no depth",
                   "Full-batch gradient descent", "no sampling",
                   "Unlikelihood baseline", "weight toggle", "single judgement per pair",
                   "Adam or RMSprop", "minibatches", "sum over its tokens",
                   "supervised fine-tuned (SFT)"):
        assert needle in text, needle
    # "each stored pair behaves like a 1:0 row ... (no rest point: it drifts)"
    one = Simulation(_one_row(votes_for=1, votes_against=0), keep_history=False)
    u = [one.advance(1000).row_margin[0] for _ in range(4)]
    assert all(b > a for a, b in zip(u, u[1:]))
    # a run is exactly repeatable; a flip on prompt 0 leaves prompt 1 untouched
    s = load_scenario("align")
    a, b = Simulation(s, keep_history=False), Simulation(s, keep_history=False)
    b.flip(0)
    ra, rb = a.advance(200), b.advance(200)
    assert np.array_equal(ra.probs[1], rb.probs[1])
    assert np.array_equal(Simulation(s, keep_history=False).advance(200).probs, ra.probs)


# --- KaTeX: shipped, small, complete, served -----------------------------------------------
KATEX = STATIC_DIR / "katex"


def test_katex_ships_small_and_complete():
    css = (KATEX / "katex.min.css").read_text()
    fonts = set(re.findall(r"url\((fonts/[^)]+)\)", css))
    assert fonts and all((KATEX / f).is_file() for f in fonts)
    assert all(f.endswith(".woff2") for f in fonts)
    shipped = {f"fonts/{p.name}" for p in (KATEX / "fonts").iterdir()}
    assert shipped == fonts                              # nothing unused
    total = sum(p.stat().st_size for p in KATEX.rglob("*") if p.is_file())
    assert total < 600_000, total
    assert "http" not in css
    assert (KATEX / "LICENSE").read_text().startswith("The MIT License")


def test_the_package_data_covers_every_static_file():
    """Every file under app/static (KaTeX) and app/offline ships in the wheel: the folder
    is a package of its own and one of its package-data patterns matches the file."""
    setup = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    data, packages = setup["package-data"], set(setup["packages"])
    files = [p for d in (STATIC_DIR, ROOT / "app" / "offline") for p in d.rglob("*")
             if p.is_file() and "__pycache__" not in p.parts]
    assert files
    for f in files:
        rel = f.parent.relative_to(ROOT / "app").as_posix()
        package = "dpo_sim.app." + rel.replace("/", ".")
        assert package in packages, package
        assert any(fnmatch(f.name, pat) for pat in data.get(package, [])), f


def test_the_server_serves_the_static_folder(monkeypatch):
    from dpo_sim.app import server
    from helpers import FakePanelServer

    calls = []
    monkeypatch.setattr(server.pn, "serve",
                        lambda *a, **kw: calls.append(kw) or FakePanelServer())
    monkeypatch.setattr(server, "check_can_listen", lambda *a: None)
    server.serve(port=5999, open_browser=False)
    assert calls[0]["static_dirs"] == {STATIC_ROUTE: str(STATIC_DIR)}
    assert (STATIC_DIR / "katex" / "katex.min.js").is_file()


NODE = shutil.which("node")


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_every_formula_is_valid_tex_for_the_shipped_katex():
    formulas = []
    for lv in T.LEVELS:
        for b in lv.blocks + T.LIMITATIONS:
            b = b.strip()
            if b.startswith("$$") and b.endswith("$$"):
                formulas.append([b[2:-2], True])
            else:
                formulas += [[m, False] for m in re.findall(r"\$([^$]+)\$", b)]
    assert len(formulas) > 30
    script = ("const katex = require(process.argv[1]);"
              "const fs = require('fs');"
              "const items = JSON.parse(fs.readFileSync(0, 'utf8'));"
              "let bad = [];"
              "for (const [tex, display] of items) {"
              "  try { katex.renderToString(tex, {displayMode: display, throwOnError: true,"
              "        strict: 'error'}); }"
              "  catch (e) { bad.push(tex + ' :: ' + e.message); } }"
              "console.log(JSON.stringify(bad));")
    out = subprocess.run([NODE, "-e", script, str(KATEX / "katex.min.js")],
                         input=json.dumps(formulas), capture_output=True, text=True,
                         timeout=60, check=True)
    assert json.loads(out.stdout) == []


def test_texts_and_live_keys_agree():
    """Every live value a level quotes is one the page's learn.js fills in (its LIVE table)
    and every placeholder is written [[key]] (the browser test checks none is left)."""
    js = (ROOT / "app" / "ui" / "views" / "learn.js").read_text(encoding="utf-8")
    filled = set(re.findall(r"^ {4}(\w+): (?:\(view|scalar\(|rowNumber\()", js, flags=re.M))
    used = {k for lv in T.LEVELS for k in T.level_keys(lv)}
    assert used and used <= filled, used - filled
    for lv in T.LEVELS:
        assert not re.search(r"\[\[(?!\w+\]\])", " ".join(lv.blocks)), lv.id


def test_the_leash_at_the_lowest_levels():
    """The child level: in Tight leash (beta 4) 'at about 5 cards of the long answer for
    every 4 of “Boil it.”' (the odds at rest are (7/3)^(1/4) = 1.236); the school level:
    '(7/3)^(1/4), about 1.24'."""
    assert "about 5 cards of the long answer for every 4 of “Boil it.”" in prose(
        T.BY_ID["child"])
    assert "(7/3)^(1/4), about 1.24" in prose(T.BY_ID["school"])
    s = load_scenario("tight-leash")
    assert s.beta == 4.0 and np.all(s.ref_logits == 0) and s.rows[0].as_tuple() == (
        0, 0, 1, 7, 3)
    rec = Simulation(s, keep_history=False).advance(20_000)
    odds = rec.probs[0, 0] / rec.probs[0, 1]
    assert odds == pytest.approx((7 / 3) ** 0.25, rel=1e-9) and abs(odds - 5 / 4) < 0.02


def test_the_engineers_beta_and_learning_rate():
    """'settles only while learning rate × β² stays below a limit the data set, 18.6 for
    these rows. “Loose leash” with β raised to 4 and its own learning rate 8 (learning rate
    × β² = 128) never settles; with the learning rate cut to 0.5 (learning rate × β² = 8)
    it does.'"""
    from dpo_sim.sim.sweep import stability_limit

    text = prose(T.BY_ID["engineer"])
    assert "18.6 for these rows" in text and "= 128) never settles" in text
    s = load_scenario("loose-leash")
    assert round(stability_limit(Simulation(s).pairs).value, 1) == 18.6
    assert s.learning_rate * 4.0 ** 2 == 128 and 0.5 * 4.0 ** 2 == 8
    wild = Simulation(s.with_settings(beta=4.0), keep_history=False)
    a = wild.advance(3000).kl.copy()
    assert np.abs(wild.advance(1).kl - a).max() > 1e-3                 # still swinging
    calm = Simulation(s.with_settings(beta=4.0, learning_rate=0.5), keep_history=False)
    a = calm.advance(3000).kl.copy()
    assert np.abs(calm.advance(1).kl - a).max() < 1e-12


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")
def test_the_try_it_steps_say_what_the_runs_show():
    """The β step: align at β = 4 'settles nearer the reference (KL about 0.03 on each
    prompt, against 0.37 and 0.29 at β = 1)', Loose leash 'never settles at β = 4'; the IPO
    step: Loose leash's learning rate 8 makes IPO's run blow up."""
    from dpo_sim.sim.simulation import Diverged

    beta = next(s for s in T.TRY_STEPS if s.id == "beta")
    assert "KL about 0.03 on each prompt, against 0.37 and 0.29 at β = 1" in beta.see
    kl = {}
    for b in (1.0, 4.0):
        sim = Simulation(load_scenario("align").with_settings(beta=b), keep_history=False)
        kl[b] = sim.advance(3000).kl.copy()
        assert np.abs(sim.advance(1).kl - kl[b]).max() < 1e-10            # settled
    assert [round(float(v), 2) for v in kl[4.0]] == [0.03, 0.03]
    assert [round(float(v), 2) for v in kl[1.0]] == [0.37, 0.29]
    ipo = next(s for s in T.TRY_STEPS if s.id == "ipo")
    assert "“Loose leash”'s 8 does not: its run blows up" in ipo.see
    with pytest.raises(Diverged):
        Simulation(load_scenario("loose-leash").with_settings(loss_type="ipo"),
                   keep_history=False).advance(3000)


def test_each_try_it_step_points_at_the_control_it_names():
    """Each step's "Show me" names the part of the page its instruction names, by the
    part's hide= name (the browser test checks the button finds and marks the part)."""
    from dpo_sim.app.parts import HIDEABLE

    names = {"play-align": "picker", "flip": "pairs", "beta": "beta",
             "drop-sigma": "picker", "unanimous": "picker", "ipo": "loss"}
    assert [s.id for s in T.TRY_STEPS] == list(names)
    for step in T.TRY_STEPS:
        assert step.target == names[step.id] and step.target in HIDEABLE
        assert step.target_label


def test_the_features_models_numbers():
    """The Researcher level: similar-replies' similarity score '1.21' and 'the chosen logit
    loses 0.45 for every unit the margin gains' (score / |phi_w - phi_l|^2, from the
    vectors); the PhD level: 'π* keeps its start logit and gives it 0.219' (the table's
    optimum by hand: the linked replies rest at logits log 4/3, log 4/3, -2 log 4/3 with
    their sum kept, the unjudged reply keeps 0); 'DPO gives it 0.640 by step 300, above
    every labelled reply'."""
    s = load_scenario("similar-replies")
    r = s.rows[0]
    phi = np.asarray(s.model.features)
    fw, fl = phi[r.prompt, r.chosen], phi[r.prompt, r.rejected]
    score = float(fw @ fl - fw @ fw)
    assert f"{score:.2f}" == "1.21" and f"{score / float((fw - fl) @ (fw - fl)):.2f}" == "0.45"
    text = prose(T.BY_ID["researcher"])
    assert "the score is 1.21" in text and "loses 0.45 for every unit the margin gains" in text
    u = load_scenario("unseen-reply")
    assert [x.as_tuple() for x in u.rows] == [(0, 0, 2, 8, 2), (0, 1, 2, 8, 2)]
    L = math.log(4)
    logits = np.array([L / 3, L / 3, -2 * L / 3, 0.0])
    star = np.exp(logits) / np.exp(logits).sum()
    assert f"{star[3]:.3f}" == "0.219"
    assert "π* keeps its start logit and gives it 0.219" in prose(T.BY_ID["phd"])
    p = series("unseen-reply", "probs", 0)[300]
    assert p[3] > p[:3].max()


def test_the_engineers_similar_replies_claims():
    """'a single hard label is right from step 1 on and its margin grows at every step, yet
    logps/chosen falls at every step' (the run the facts come from, 3000 steps), and 'The
    mass goes to a short reply that no row mentions'."""
    text = prose(T.BY_ID["engineer"])
    assert "right from step 1 on and its margin grows at every step, yet logps/chosen " \
        "falls at every step" in text
    acc = series("similar-replies", "rewards/accuracies")
    assert acc[0] == 0 and (acc[1:] == 1).all()
    assert (np.diff(series("similar-replies", "pairs/margin", 0)) > 0).all()
    assert (np.diff(series("similar-replies", "logps/chosen")) < 0).all()
    s = load_scenario("similar-replies")
    assert len(s.rows) == 1 and s.rows[0].votes_rejected == 0
    p = series("similar-replies", "probs", 0)
    best = int(np.argmax(p[300] - p[0]))
    assert best not in (s.rows[0].chosen, s.rows[0].rejected)
    assert len(s.prompts[0].replies[best].split()) < 5       # "a short reply"
