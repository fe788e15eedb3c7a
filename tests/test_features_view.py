"""What the page shows of the features model (issue 19), in Node on the small stand-in DOM
(tests/js_fake_dom.mjs): the features view (views/features.js: φ, θ now and θ·φ, against
NumPy), its absence on a table model, no element created by a step; the ring at π*φ on the
bars (views/bars.js: its centres on the axis drawn, against opt_phi.probs) and the legend
when π*φ and π* coincide; KL to π*φ in the numbers (views/readouts.js); the similarity
score in the rows (views/rows.js) and in the formula strip (views/formula.js, the margin
β θ·(φ_w − φ_l) and ⟨φ_w, φ_l⟩ − ‖φ_w‖² worked out here in NumPy).

The page's replies are the engine's for the table preset "align" (sim/protocol.py),
with the features model's fields of the contract (docs/ui.md) made here by hand, so the
views are tested before and apart from the engine."""

from __future__ import annotations

import numpy as np
import pytest
from js_ui import NODE, find_testid, finite_json, node_ui, tree_text

from dpo_sim.app.interactive import page_texts, scenario_json
from dpo_sim.app.texts import FEATURES_TEXTS as F
from dpo_sim.sim.protocol import Session
from dpo_sim.sim.scenario_io import load_scenario

pytestmark = pytest.mark.skipif(NODE is None, reason="Node.js (node) is not on PATH")

T = page_texts()




def _all(tree, tag):
    out = []
    if isinstance(tree, list):
        if tree[0] == tag:
            out.append(tree)
        for kid in tree[2:]:
            out += _all(kid, tag)
    return out




def _canvases(tree):
    return [c[-1] for c in _all(tree, "canvas")]


def table_view(sid="align", steps=5) -> dict:
    """The page's view of a preset after ``steps`` steps, from the engine's own replies."""
    sc = load_scenario(sid)
    sess = Session({sid: sc})
    r = sess.handle({"op": "load", "scenario": sid})
    if steps:
        r.update({k: v for k, v in sess.handle({"op": "advance", "n": steps}).items()
                  if k != "op"})
    st = r["state"]
    return {"cfg": scenario_json(sc), "state": st, "settings": st, "rows": st["rows"],
            "flipped": st["flipped"], "rec": r["record"], "opt": r["opt"], "rest": r["rest"],
            "stored": r["stored"], "pulls": r["pulls"], "refProbs": np.exp(r["logp_ref"]).tolist(),
            "klCeiling": r["kl_ceiling"], "looked": 0, "pin": None, "model": {"kind": "table"}}


def features_view(seed=3, d=3, coincide=False) -> tuple[dict, dict]:
    """align's view with a features model of the contract: φ (P, K, d) in hundredths, θ,
    each row's similarity, π*φ (opt_phi) and KL to it; returns (view, the numbers used)."""
    v = table_view()
    rng = np.random.default_rng(seed)
    P, K = len(v["cfg"]["prompts"]), len(v["cfg"]["prompts"][0]["replies"])
    phi = np.round(rng.normal(size=(P, K, d)), 2)
    theta = rng.normal(size=d)
    model = {"kind": "features", "features": phi.tolist(), "init_theta": [0.0] * d}
    v["model"] = model
    v["cfg"] = dict(v["cfg"], model=model)
    v["rec"] = dict(v["rec"], theta=theta.tolist(),
                    kl_to_rlhf_phi=[0.0123, None] + [0.5] * (P - 2))
    sims = []
    for r in v["rows"]:
        w, lo = phi[r["prompt"], r["chosen"]], phi[r["prompt"], r["rejected"]]
        sims.append(float(w @ lo - w @ w))
    v["rows"] = [dict(r, similarity=s) for r, s in zip(v["rows"], sims)]
    probs = rng.dirichlet(np.ones(K), size=P)
    v["optPhi"] = {"finite": [True] * P, "probs": probs.tolist(), "coincide": coincide,
                   "heading": [[False] * K] * P}
    return v, {"phi": phi, "theta": theta, "sims": sims, "probs": probs}


def run(mount, views, **kw):
    return node_ui([{"kind": "view", "mount": mount, "T": T, "views": finite_json(views),
                     "pal": {"background": "#fff", "text": "#000", "rlhf_tick": "#a00"}, **kw}])[0]


def test_the_features_view_shows_phi_theta_and_theta_dot_phi_and_a_step_makes_no_node():
    v, n = features_view()
    phi, theta = n["phi"], n["theta"]
    theta2 = theta + np.array([0.25, -1.5, 3.0])
    step = dict(v, why="step", rec=dict(v["rec"], theta=theta2.tolist()))
    first, second = run("features", [dict(v, why="scenario"), step])
    for out, th in ((first, theta), (second, theta2)):
        tree = out["tree"]
        assert tree_text(find_testid(tree, "features-view")).startswith(F["heading"])
        P, K, d = phi.shape
        for x in range(P):
            for y in range(K):
                for j in range(d):
                    cell = find_testid(tree, f"phi-{x}-{y}-{j}")
                    assert float(cell[1]["data-value"]) == phi[x, y, j]
                    assert tree_text(cell) == f"{phi[x, y, j]:.2f}".replace("-0.00", "0.00")
                s = find_testid(tree, f"score-{x}-{y}")
                assert float(s[1]["data-value"]) == pytest.approx(phi[x, y] @ th, abs=1e-12)
                assert tree_text(s) == f"{phi[x, y] @ th:+.3f}"
        for j in range(d):
            c = find_testid(tree, f"theta-{j}")
            assert float(c[1]["data-value"]) == th[j] and tree_text(c) == f"{th[j]:+.3f}"
        # a real table: a header per coordinate, a row header per reply
        heads = [h for h in _all(tree, "th") if h[1].get("scope") == "col"]
        assert len(heads) == d + 2
        assert len([h for h in _all(tree, "th") if h[1].get("scope") == "row"]) == P * K + 1
    assert first["made"] > 0 and second["made"] == 0


def test_on_a_table_model_the_features_view_is_absent():
    v = table_view()
    out = run("features", [dict(v, why="scenario"), dict(v, why="step")])
    assert out[0]["tree"] == ["div", {}] and out[1]["tree"] == ["div", {}]
    # and after a features scenario, a table scenario empties it again
    fv, _ = features_view()
    out = run("features", [dict(fv, why="scenario"), dict(v, why="scenario")])
    assert find_testid(out[0]["tree"], "features") and out[1]["tree"] == ["div", {}]


def _axis(canvas):
    ticks = {o[1]: o[2] for o in canvas["drawn"] if o[0] == "text"}
    return ticks["0"], ticks["1"]


def test_the_ring_marks_pi_star_phi_where_it_differs_and_the_legend_says_when_they_coincide():
    v, n = features_view()
    (out,) = run("bars", [dict(v, why="scenario")])
    canvases = _canvases(out["tree"])
    assert len(canvases) == len(n["probs"])
    for x, c in enumerate(canvases):
        x0, x1 = _axis(c)
        arcs = [o for o in c["drawn"] if o[0] == "arc"]
        # each ring: two arcs (a halo, then the ring), one pair per reply, at pi*_phi
        centres = [a[1] for a in arcs[1::2]]
        assert len(arcs) == 2 * len(n["probs"][x])
        for y, cx in enumerate(centres):
            # (the tick labels sit on whole pixels + 0.5: each end within half a pixel)
            assert (cx - x0) / (x1 - x0) == pytest.approx(n["probs"][x][y], abs=1 / (x1 - x0))
    legend = tree_text(find_testid(out["tree"], "bars-rlhf-note"))
    assert "Ring (where it differs from π*): π*φ" in legend
    assert "the diamond marks both" not in legend
    # coinciding: no ring, the legend says so once
    v2, _ = features_view(coincide=True)
    (out2,) = run("bars", [dict(v2, why="scenario")])
    assert not [o for c in _canvases(out2["tree"]) for o in c["drawn"] if o[0] == "arc"]
    legend = tree_text(find_testid(out2["tree"], "bars-rlhf-note"))
    assert legend.count("the diamond marks both") == 1 and "Ring" not in legend
    # a prompt where pi*_phi is pi*: no ring there, the others keep theirs
    v3 = dict(v, optPhi=dict(v["optPhi"], probs=[v["opt"]["probs"][0]] + v["optPhi"]["probs"][1:]))
    (out4,) = run("bars", [dict(v3, why="scenario")])
    arcs = [[o for o in c["drawn"] if o[0] == "arc"] for c in _canvases(out4["tree"])]
    assert arcs[0] == [] and len(arcs[1]) == 2 * len(n["probs"][1])
    # a table model: no ring, the table's legend, word for word
    (out3,) = run("bars", [dict(table_view(), why="scenario")])
    assert not [o for c in _canvases(out3["tree"]) for o in c["drawn"] if o[0] == "arc"]
    assert tree_text(find_testid(out3["tree"], "bars-rlhf-note")) == T["LEGEND_RLHF"]


def test_kl_to_pi_star_phi_is_a_readout_beside_kl_to_pi_star_on_a_features_model_only():
    v, _ = features_view()
    (out,) = run("readouts", [dict(v, why="scenario")])
    tree = out["tree"]
    line = find_testid(tree, "kl-rlhf-phi")
    assert tree_text(line).startswith("KL to π*φ")
    assert tree_text(find_testid(tree, "kl-rlhf-phi-0")) == "0.012"
    assert tree_text(find_testid(tree, "kl-rlhf-phi-1")) == "none"
    # its explanation is the features one; KL to pi*'s explanation names the floor
    assert "goes to 0" in tree_text(line) and "floor" in tree_text(find_testid(tree, "kl-rlhf-phi"))
    assert F["loss_term"] in tree_text(tree) and T["TERMS"]["loss"] not in tree_text(tree)
    (ipo,) = run("readouts", [dict(v, why="scenario", state=dict(v["state"], loss_type="ipo"))])
    assert F["loss_term_other"] in tree_text(ipo["tree"])
    (out,) = run("readouts", [dict(table_view(), why="scenario")])
    assert find_testid(out["tree"], "kl-rlhf-phi") is None


def test_each_row_shows_its_similarity_and_the_strip_works_it_out_in_numpy():
    v, n = features_view()
    phi, theta = n["phi"], n["theta"]
    (rows,) = run("rows", [dict(v, why="scenario")])
    for i, r in enumerate(v["rows"]):
        w, lo = phi[r["prompt"], r["chosen"]], phi[r["prompt"], r["rejected"]]
        want = float(w @ lo - w @ w)
        cell = find_testid(rows["tree"], f"similarity-{i}")
        assert tree_text(cell) == f"{want:+.3f}"
    # the pulls' explanations say they move theta (a row's push need not raise its chosen reply)
    said = tree_text(rows["tree"])
    for k in ("pull_for", "pull_against", "net"):
        assert F[k + "_term"] in said and T["TERMS"][k] not in said
    # the note under the rows is the features model's, not the table's
    assert F["not_lm"].format(d=3) in tree_text(rows["tree"])
    assert T["TABLE_NOT_LM"] not in tree_text(rows["tree"])
    looks = [dict(v, looked=i, why="look") for i in range(len(v["rows"]))]
    outs = run("formula", looks)
    beta = v["rec"]["beta"]
    for i, out in enumerate(outs):
        r = v["rows"][i]
        w, lo = phi[r["prompt"], r["chosen"]], phi[r["prompt"], r["rejected"]]
        u = beta * float(theta @ (w - lo))
        line = find_testid(out["tree"], "formula-u-phi")
        assert float(line[1]["data-value"]) == pytest.approx(u, abs=1e-12)
        assert tree_text(line).endswith(f"= {u:+.3f}".replace("+0.000", "0.000"))
        s = find_testid(out["tree"], "formula-similarity")
        assert float(s[1]["data-value"]) == pytest.approx(float(w @ lo - w @ w), abs=1e-12)
        assert tree_text(s) == f"{w @ lo:.3f} − {w @ w:.3f} = {w @ lo - w @ w:+.3f}"
        said = F["similarity_pos"] if w @ lo - w @ w > 0 else F["similarity_neg"]
        assert said in tree_text(out["tree"])
    # a table model: the strip has no features line
    t = table_view()
    out = run("formula", [dict(t, why="look")])[0]
    assert find_testid(out["tree"], "formula-u-phi") is None
    # (and a features scenario then a table one hides the lines)
    out = run("formula", [dict(v, why="look"), dict(t, why="scenario")])
    assert find_testid(out[1]["tree"], "formula-u-phi") is not None
    box = [n for n in _all(out[1]["tree"], "div") if n[1].get("class") == "dpo-formula-phi"][0]
    assert "hidden" in box[1]


def test_the_features_texts_reach_the_page_and_name_pi_star_phi_once_each():
    assert T["FEATURES_TEXTS"] == F
    assert "goes to 0" in F["kl_phi_term"] and "floor" in F["kl_star_term"]
    for k in ("legend_ring", "coincide", "kl_phi_term"):
        assert "π*φ" in F[k]


def test_where_pi_star_is_not_finite_the_note_names_pi_star_phi_not_the_tables_heading():
    """On a features model the table's heading (the reply that never loses) need not be
    where DPO goes: the note says where π*φ is finite, names π*φ's heading where it is not,
    and names no heading without π*φ."""
    v, _ = features_view()
    P, K = len(v["opt"]["finite"]), len(v["opt"]["probs"][0])
    opt = dict(v["opt"], finite=[False] + [True] * (P - 1),
               heading=[[True] + [False] * (K - 1)] + [[False] * K] * (P - 1))
    lost = dict(v["optPhi"], finite=[False] + [True] * (P - 1),
                heading=[[False, False, True] + [False] * (K - 3)] + [[False] * K] * (P - 1))
    cases = [dict(v, opt=opt, why="scenario"), dict(v, opt=opt, optPhi=lost, why="scenario"),
             dict(v, opt=opt, optPhi=None, why="scenario")]
    outs = [run("bars", [c])[0]["tree"] for c in cases]
    notes = [tree_text(find_testid(t, "no-optimum-0")) for t in outs]
    # no finite pi*_phi anywhere: the legend explains no ring
    nowhere = dict(cases[1], optPhi=dict(lost, finite=[False] * P))
    legend = find_testid(run("bars", [nowhere])[0]["tree"], "bars-rlhf-note")
    assert legend[1]["data-state"] == "features" and tree_text(legend) == F["legend_rlhf"]
    assert notes[0] == F["no_optimum_phi"]
    assert notes[1].endswith("Under DPO the policy heads toward C.")
    assert notes[2] == T["NO_OPTIMUM"].replace(" {then}", "") and "heads" not in notes[2]
