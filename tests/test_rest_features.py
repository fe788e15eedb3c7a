"""Rest statements on a features model (sim.rest's ``_features``): every row's statement,
for every loss (and the weight off), checked against long runs of plain gradient descent
in theta written out again here (no code from sim/), with test_rest.py's verdict: "rests at
u" within 1e-3 and still after 20,000 steps, "approaches" within 1e-2 while the row it
names drifts outward, "drifts" onward at the stated pace or ever more slowly, "halts" by
overflowing. Random features scenarios (tests/naive_dpo.py) and the features presets.

A random scenario whose rest point gradient descent cannot reach within the steps (its
smallest curvature along the rows' span too small for the learning rate) is left out of
the "rests" check and counted; a statement of any other kind is still checked on it.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
from js_ui import node_ui, rest_dict
from test_rest import verdict

from dpo_sim.app.numfmt import fixed
from dpo_sim.sim import rest
from dpo_sim.sim.losses import objective
from dpo_sim.sim.model import FeaturesModel
from dpo_sim.sim.pairs import Pairs
from long_run import weight, windowed
from naive_dpo import random_features_case

NODE = shutil.which("node")
DRIVER = Path(__file__).resolve().parent / "features_optimum_driver.js"
LOSSES = {
    "sigmoid": dict(loss_type="sigmoid", adaptive_weight=True, label_smoothing=0.0),
    "ipo": dict(loss_type="ipo", adaptive_weight=True, label_smoothing=0.0),
    "hinge": dict(loss_type="hinge", adaptive_weight=True, label_smoothing=0.0),
    "robust-0.1": dict(loss_type="robust", adaptive_weight=True, label_smoothing=0.1),
    "robust-0.3": dict(loss_type="robust", adaptive_weight=True, label_smoothing=0.3),
    "weight-off": dict(loss_type="sigmoid", adaptive_weight=False, label_smoothing=0.0),
}
STEPS = 20_000
WINDOW = 1_000


class Runs:
    """Gradient descent in theta for many scenarios at once under one loss: row i's margin
    u = beta theta . v_i, the step -lr * beta / N * sum_i (b_i w(-u_i) - a_i w(u_i)) v_i
    with long_run.weight's w (rows padded with no votes, features with zeros)."""

    def __init__(self, cases, settings):
        R = max(len(c["rows"]) for c in cases)
        D = max(c["phi"].shape[2] for c in cases)
        C = len(cases)
        self.settings = settings
        self.v = np.zeros((C, R, D))
        self.a, self.b = np.zeros((C, R)), np.zeros((C, R))
        self.theta = np.zeros((C, D))
        self.beta = np.array([c["beta"] for c in cases])[:, None]
        self.lr = np.array([c["lr"] for c in cases])[:, None]
        self.rows = [len(c["rows"]) for c in cases]
        for i, c in enumerate(cases):
            n_rows, d = len(c["rows"]), c["phi"].shape[2]
            self.v[i, :n_rows, :d] = row_vectors(c)
            self.a[i, :n_rows] = [r[3] for r in c["rows"]]
            self.b[i, :n_rows] = [r[4] for r in c["rows"]]
            self.theta[i, :d] = c["theta0"]
        self.N = (self.a + self.b).sum(axis=1)[:, None]

    def margins(self):
        return self.beta * np.einsum("crd,cd->cr", self.v, self.theta)

    def step(self):
        s = self.settings
        u = self.margins()
        w_for = weight(s["loss_type"], s["adaptive_weight"], s["label_smoothing"], u,
                       self.beta)
        w_against = weight(s["loss_type"], s["adaptive_weight"], s["label_smoothing"], -u,
                           self.beta)
        coef = self.beta * (self.b * w_against - self.a * w_for) / self.N
        self.theta = self.theta - self.lr * np.einsum("cr,crd->cd", coef, self.v)

    def run(self, steps, window=WINDOW):
        """Per scenario: long_run.Lean.run's answer (None where the numbers overflowed)."""
        marks = windowed(self.step, self.margins, steps, window)
        out = []
        for i, n in enumerate(self.rows):
            m = [x[i, :n] for x in marks]
            out.append(None if not all(np.isfinite(x).all() for x in m[:3]) else tuple(m))
        return out


def row_vectors(c):
    rows = c["rows"]
    x = np.array([r[0] for r in rows])
    return c["phi"][x, [r[1] for r in rows]] - c["phi"][x, [r[2] for r in rows]]


def case(seed):
    """A random features scenario, its learning rate a random share (beyond 1 now and
    then) of the largest stable one for its loss's curvature."""
    rng = np.random.default_rng(1000 + seed)
    d = int(rng.integers(1, 4)) if seed % 3 else None
    P, K, rows, ref, phi, theta0, beta = random_features_case(rng, d=d)
    return dict(P=P, K=K, rows=rows, ref=ref, phi=phi, theta0=theta0, beta=beta,
                pairs=Pairs.from_rows(rows, P, K), model=FeaturesModel(phi, theta0),
                share=float(rng.choice([0.3, 0.6, 0.6, 0.6, 1.5])))


def with_lr(c, settings):
    v = row_vectors(c)
    n = np.array([r[3] + r[4] for r in c["rows"]], dtype=float)
    per = c["beta"] ** 2 * n / 4 if settings["loss_type"] != "ipo" else 2 * n
    if not settings["adaptive_weight"]:
        per = n / 4 * c["beta"] ** 2
    top = np.linalg.eigvalsh((v * per[:, None]).T @ v).max() / n.sum()
    return dict(c, lr=(2.0 / top if top > 0 else 1.0) * c["share"])


def said_of(c, settings, margins_now=None):
    loss = objective(settings["loss_type"], settings["adaptive_weight"],
                     settings["label_smoothing"])
    plan = rest.analyse(c["pairs"], c["beta"], c["lr"], loss, c["model"])
    u_now = margins_now if margins_now is not None else c["beta"] * row_vectors(c) @ c[
        "theta0"]
    rr = rest.at(plan, u_now, np.ones(c["phi"].shape[2]))
    return rr, [dict(kind=r.kind, claim=r.claim, u=r.u, how=r.how, via=r.via, pace=r.pace)
                for r in rr]


def slow(c, rr, settings):
    """Can gradient descent not settle within 200,000 steps here? (the smallest curvature
    at the stated rest margins, along the span of the rows that rest)"""
    v = row_vectors(c)
    n = np.array([r[3] + r[4] for r in c["rows"]], dtype=float)
    resting = np.array([r.kind in ("rests", "approaches") for r in rr])
    if not resting.any():
        return False
    u = np.array([r.u if r.kind in ("rests", "approaches") else 0.0 for r in rr])
    if settings["loss_type"] == "ipo":
        curv = 2 * n
    else:
        s = 1 / (1 + np.exp(-u))
        curv = c["beta"] ** 2 * n * s * (1 - s)
    H = (v[resting] * curv[resting][:, None]).T @ v[resting] / n.sum()
    ev = np.linalg.eigvalsh(H)
    low = ev[ev > 1e-12 * max(1.0, ev.max())]
    return len(low) and 30.0 / (c["lr"] * low.min()) > 200_000


def check(cases, settings):
    """(bad statements, rows checked, scenarios skipped as slow) for one loss."""
    said_all, keep = [], []
    for c in cases:
        rr, said = said_of(c, settings)
        if slow(c, rr, settings):
            said = [dict(s, kind="open") if s["kind"] in ("rests", "approaches") else s
                    for s in said]
            keep.append(False)
        else:
            keep.append(True)
        said_all.append(said)
    bad = []
    results = Runs(cases, settings).run(STEPS)
    again = [i for i, (s, r) in enumerate(zip(said_all, results)) if verdict(s, r)]
    if again:
        longer = Runs([cases[i] for i in again], settings).run(10 * STEPS)
        for i, r in zip(again, longer):
            b = verdict(said_all[i], r)
            if b:
                bad.append((i, settings, [(j, said_all[i][j]) for j in b]))
    rows = sum(len(s) for s in said_all)
    return bad, rows, keep.count(False), said_all


def test_random_features_statements_hold_in_long_runs():
    cases = [case(seed) for seed in range(36)]
    cases = [c for c in cases if np.any(row_vectors(c))]
    assert len(cases) >= 30
    kinds = {}
    for name, settings in LOSSES.items():
        cs = [with_lr(c, settings) for c in cases]
        bad, rows, skipped, said = check(cs, settings)
        assert not bad, (name, bad)
        assert skipped <= len(cs) // 4, (name, skipped)
        for s in said:
            for x in s:
                kinds[(name, x["kind"])] = kinds.get((name, x["kind"]), 0) + 1
    # what the random scenarios cover
    for need in [("sigmoid", "rests"), ("sigmoid", "drifts"), ("sigmoid", "approaches"),
                 ("ipo", "rests"), ("weight-off", "drifts"), ("robust-0.1", "rests"),
                 ("robust-0.1", "open"), ("hinge", "open"), ("weight-off", "rests"),
                 ("sigmoid", "heads"), ("sigmoid", "overshoots"), ("ipo", "overshoots"),
                 ("robust-0.3", "rests")]:
        assert kinds.get(need, 0) > 0, (need, kinds)


def test_the_statements_render_with_their_numbers():
    """Each features statement as the page renders it (app/ui/rest_text.js): a sentence for
    every kind and how, the claimed margin in it, and no word of the table's reasons
    (replies shared through rows, cycles) where the reason is the shared theta."""
    cases = [case(seed) for seed in range(36)]
    jobs, rrs = [], []
    for c in cases:
        for settings in LOSSES.values():
            cl = with_lr(c, settings)
            rr, _ = said_of(cl, settings)
            rrs.append(rr)
            jobs.append({"kind": "statements", "rests": [rest_dict(r) for r in rr],
                         "rows": [{"votes_chosen": r[3], "votes_rejected": r[4]}
                                  for r in c["rows"]],
                         "settings": dict(settings, beta=c["beta"], learning_rate=cl["lr"])})
    seen = set()
    for rr, said in zip(rrs, node_ui(jobs)):
        for r, x in zip(rr, said, strict=True):
            text = x["text"]
            assert text and "{" not in text, text
            seen.add((r.kind, r.how))
            if r.claim is not None and not math.isnan(r.claim):
                assert f"u = {fixed(r.claim, 3, sign=True).replace('-', '−')}" in text
            assert "cycle" not in text and "linked" not in text, text
            if r.how.startswith("theta") and r.kind != "overshoots":
                assert "θ" in text, text
    assert {("rests", "theta"), ("drifts", "theta-slowing"), ("open", "theta-hinge")} <= seen


def test_the_javascript_twin_decides_the_same():
    """DPO.analyseFeaturesRest / featuresRestAt (app/offline/engine.js, the offline page's
    statements) against sim.rest on the same random scenarios and every loss."""
    jobs, expected = [], []
    for seed in range(36):
        c = case(seed)
        for settings in LOSSES.values():
            cl = with_lr(c, settings)
            rr, _ = said_of(cl, settings)
            loss = objective(settings["loss_type"], settings["adaptive_weight"],
                             settings["label_smoothing"])
            expected.append(rr)
            jobs.append(dict(kind="rest", rows=[list(r) for r in c["rows"]], P=c["P"],
                             K=c["K"], features=c["phi"].tolist(),
                             theta0=np.asarray(c["theta0"]).tolist(), beta=c["beta"],
                             lr=cl["lr"], loss={"name": loss.name,
                                                "label_smoothing": loss.label_smoothing},
                             margins=(c["beta"] * row_vectors(c) @ c["theta0"]).tolist(),
                             grad=[1.0] * c["phi"].shape[2]))
    p = subprocess.run([NODE, str(DRIVER)], input=json.dumps(jobs), capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    for rr, js in zip(expected, json.loads(p.stdout), strict=True):
        for r, j in zip(rr, js, strict=True):
            assert (j["kind"], j["how"], j["via"]) == (r.kind, r.how, r.via), (r, j)
            for key in ("u", "lr_limit", "pace"):
                a, b = float(j[key]), getattr(r, key)
                assert (math.isnan(a) and math.isnan(b)) or a == b or abs(a - b) <= 1e-9 * max(
                    1.0, abs(b)), (key, r, j)


FEATURES_PRESETS = ("similar-replies", "unseen-reply", "shared-prompts")


def test_every_loss_and_row_of_the_features_presets_ends_as_the_page_says():
    """The features presets x every loss and the weight off: the statements as the page
    renders them (sim_rest, the protocol's call, through app/ui/rest_text.js), against
    long runs in theta at the preset's own learning rate."""
    from test_rest import LOSSES as TABLE_LOSSES
    from test_rest import page_statements_of

    from dpo_sim.sim.scenario_io import load_scenario
    from dpo_sim.sim.simulation import Simulation

    claims = 0
    bases = [load_scenario(pid) for pid in FEATURES_PRESETS]
    for base in bases:
        assert base.model.kind == "features" and not base.events
    every = {name: [Simulation(b.with_settings(**settings), keep_history=False)
                    for b in bases] for name, settings in TABLE_LOSSES.items()}
    said_all = iter(page_statements_of([sim for sims in every.values() for sim in sims]))
    for name, sims in every.items():
        pages = [next(said_all) for _ in sims]
        cases = []
        for sim in sims:
            s = sim.scenario
            rows = [(r.prompt, r.chosen, r.rejected, r.votes_chosen, r.votes_rejected)
                    for r in s.rows]
            cases.append(dict(rows=rows, phi=s.model.features, theta0=s.model.init_theta,
                              beta=sim.beta, lr=sim.learning_rate))
        full = dict(loss_type=sims[0].loss_type, adaptive_weight=sims[0].adaptive_weight,
                    label_smoothing=sims[0].label_smoothing)
        for pid, c, said, run in zip(FEATURES_PRESETS, cases, pages,
                                     Runs(cases, full).run(STEPS)):
            bad = verdict(said, run)
            if bad:
                (run,) = Runs([c], full).run(10 * STEPS)
                bad = verdict(said, run)
            assert not bad, (pid, name, [(i, said[i]["kind"], said[i]["text"]) for i in bad])
            for x in said:
                assert "cycle" not in x["text"] and "linked" not in x["text"], x["text"]
            claims += sum(x["claim"] is not None for x in said)
    assert claims > 0
