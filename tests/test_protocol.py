"""The engine protocol's two implementations agree (docs/ui.md): sim/protocol.py's Session
(the served page's NumPy engine) and app/ui/local_engine.js's makeSession (the offline
file's, over the JavaScript twin app/offline/engine.js, run in Node by
tests/protocol_driver.mjs) get the same sequences of commands, and every field of every
reply is the same: numbers within 1e-12, texts and flags equal, a refusal the same error
(name and message). The page cannot tell which engine it talks to."""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from dpo_sim.app.interactive import scenario_json
from dpo_sim.sim.model import FeaturesModel, one_hot
from dpo_sim.sim.numerics import log_softmax
from dpo_sim.sim.protocol import Session
from dpo_sim.sim.scenario import Event, Prompt, Row, Scenario
from dpo_sim.sim.scenario_io import list_presets, load_scenario
from dpo_sim.sim.settings import table_json
from naive_dpo import random_features_case

ROOT = Path(__file__).resolve().parents[1]
DRIVER = ROOT / "tests" / "protocol_driver.mjs"
TOL = 1e-12

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js")

PRESETS = {pid: load_scenario(pid) for pid, _, err in list_presets() if err is None}


def js_replies(sequences: list[list[dict]]) -> list[list[dict]]:
    data = {"table": table_json(), "sequences": sequences,
            "scenarios": {pid: scenario_json(s) for pid, s in PRESETS.items()}}
    p = subprocess.run(["node", str(DRIVER)], input=json.dumps(data), capture_output=True,
                       text=True, timeout=300, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def py_replies(sequences: list[list[dict]]) -> list[list[dict]]:
    out = []
    for cmds in sequences:
        s = Session(PRESETS)
        # as the page receives them: JSON (NaN allowed, as Python's json writes it)
        out.append([json.loads(json.dumps(s.handle(json.loads(json.dumps(c)))))
                    for c in cmds])
    return out


def _csv_rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def nan(v) -> bool:
    return v is None or (isinstance(v, float) and v != v)


def diff(a, b, path: str = "") -> list[str]:
    """Where two replies differ (a: Python's, b: JavaScript's)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return [] if a is b else [f"{path}: {a!r} != {b!r}"]
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if nan(a) and nan(b):
            return []
        if math.isinf(a) or math.isinf(b):
            return [] if a == b else [f"{path}: {a!r} != {b!r}"]
        ok = math.isclose(a, b, rel_tol=TOL, abs_tol=TOL)
        return [] if ok else [f"{path}: {a!r} != {b!r}"]
    if nan(a) and nan(b):
        return []
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                out.append(f"{path}.{k}: only in {'Python' if k in a else 'JavaScript'}")
            elif k == "csv":
                ra, rb = _csv_rows(a[k]), _csv_rows(b[k])
                if len(ra) != len(rb) or (ra and list(ra[0]) != list(rb[0])):
                    out.append(f"{path}.csv: shape differs")
                else:
                    for i, (x, y) in enumerate(zip(ra, rb)):
                        out += diff({c: _num(v) for c, v in x.items()},
                                    {c: _num(v) for c, v in y.items()}, f"{path}.csv[{i}]")
            else:
                out += diff(a[k], b[k], f"{path}.{k}")
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: length {len(a)} != {len(b)}"]
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            out += diff(x, y, f"{path}[{i}]")
        return out
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def _num(v: str):
    try:
        return float(v)
    except ValueError:
        return v


def assert_agree(sequences: list[list[dict]]) -> list[list[dict]]:
    py, js = py_replies(sequences), js_replies(sequences)
    problems = []
    for n, (cmds, a, b) in enumerate(zip(sequences, py, js)):
        for i, (cmd, x, y) in enumerate(zip(cmds, a, b)):
            d = diff(x, y)
            if d:
                problems.append(f"sequence {n}, command {i} {json.dumps(cmd)[:80]}: "
                                + "; ".join(d[:6]) + (f" (+{len(d) - 6} more)" if len(d) > 6
                                                      else ""))
    assert not problems, "\n".join(problems[:30])
    return py


def test_every_preset_through_every_command_agrees():
    """Each preset: load, steps, a flip, every live setting, every loss, reset, the CSV."""
    seqs = []
    for pid in PRESETS:
        seqs.append([
            {"op": "load", "scenario": pid},
            {"op": "advance", "n": 1},
            {"op": "advance", "n": 49},
            {"op": "flip", "row": 0},
            {"op": "advance", "n": 10},
            {"op": "set", "changes": {"beta": 0.5}},
            {"op": "set", "changes": {"learning_rate": 2.0}},
            {"op": "set", "changes": {"adaptive_weight": False}},
            {"op": "advance", "n": 5},
            {"op": "set", "changes": {"adaptive_weight": True, "loss_type": "ipo"}},
            {"op": "advance", "n": 5},
            {"op": "set", "changes": {"loss_type": "robust", "label_smoothing": 0.2}},
            {"op": "advance", "n": 5},
            {"op": "set", "changes": {"loss_type": "hinge"}},
            {"op": "flip", "row": 0},
            {"op": "advance", "n": 3},
            {"op": "csv"},
            {"op": "reset"},
            {"op": "advance", "n": 2},
        ])
    py = assert_agree(seqs)
    # the replies carry what docs/ui.md says they do
    load, adv = py[0][0], py[0][2]
    assert {"state", "record", "opt", "rest", "stored", "pulls", "kl_ceiling",
            "logp_ref", "series"} <= set(load)
    assert {"records" if "records" in adv else "record", "stored", "pulls", "rest"} <= set(adv)
    assert len(adv["series"]) == 49


def test_a_config_sent_by_the_page_with_scripted_events_agrees():
    """A scenario sent whole (as the offline file and dpoSim.loadConfig send it), with its
    scripted events inside one advance (the reply then carries pi* again)."""
    seqs = []
    for pid in ("fix-label", "ipo-stops-drift", "mass-flow"):
        cfg = scenario_json(PRESETS[pid])
        seqs.append([{"op": "load", "config": cfg}, {"op": "advance", "n": 400},
                     {"op": "advance", "n": 1}])
    py = assert_agree(seqs)
    assert any("opt" in seq[1] for seq in py)      # an event inside the steps


def test_a_run_that_diverges_agrees_and_stops_at_its_last_finite_step():
    seqs = [[{"op": "load", "scenario": "loose-leash"},
             {"op": "set", "changes": {"loss_type": "ipo"}},
             {"op": "advance", "n": 400},
             {"op": "advance", "n": 1},
             {"op": "set", "changes": {"learning_rate": 1.0}},
             {"op": "reset"},
             {"op": "advance", "n": 400}]]
    py = assert_agree(seqs)[0]
    assert py[2]["diverged"]["step"] == 170 and py[2]["state"]["t"] == 169
    assert py[3]["diverged"]["step"] == 170 and py[3]["series"] == []
    assert "diverged" not in py[6] and py[6]["state"]["t"] == 400


BAD = [
    {"op": "advance", "n": 1},                       # nothing loaded yet
    {"op": "load", "scenario": "nope"},
    {"op": "load", "scenario": "align"},
    {"op": "flip", "row": 99},
    {"op": "flip", "row": -1},
    {"op": "flip", "row": 1.5},
    {"op": "flip", "row": "a"},
    {"op": "flip"},
    {"op": "set", "changes": {"beta": 0}},
    {"op": "set", "changes": {"beta": "x"}},
    {"op": "set", "changes": {"loss_type": "zap"}},
    {"op": "set", "changes": {"label_smoothing": 0.5}},
    {"op": "set", "changes": {"steps": 3}},
    {"op": "set", "changes": {"bogus": 1}},
    {"op": "set", "changes": "beta"},
    {"op": "set"},
    {"op": "advance", "n": 0},
    {"op": "advance", "n": 100001},
    {"op": "advance", "n": 2.5},
    {"op": "advance"},
    {"op": "zap"},
    {},
    {"op": "advance", "n": 3},                        # and the session still works
]


@pytest.mark.parametrize("i", range(len(BAD)))
def test_a_bad_command_is_refused_the_same_way_and_changes_nothing(i):
    """Each bad command after align's load and 3 steps: the same error (name and message)
    from both, and the next command's reply is as if it had not been sent."""
    start = [{"op": "load", "scenario": "align"}, {"op": "advance", "n": 3}]
    cmd = BAD[i]
    seq = [cmd] if i < 2 else start + [cmd, {"op": "advance", "n": 1}]
    py = assert_agree([seq])[0]
    got = py[-2] if i >= 2 else py[0]
    if i not in (2, len(BAD) - 1):
        assert "error" in got, (cmd, got)
        assert set(got["error"]) == {"name", "message"}
    if i >= 3:
        t = 7 if i == len(BAD) - 1 else 4
        assert py[-1]["state"]["t"] == t and py[-1]["state"]["flipped"] == []


def test_the_served_page_answers_every_command_once_even_when_the_engine_breaks():
    """The served page matches replies to commands first in, first out: a command that
    fails unexpectedly (not a refusal) must still get exactly one reply, an error, and the
    session must go on answering."""
    from dpo_sim.app.page import answer

    session = Session(PRESETS)
    json.loads(answer(session, {"op": "load", "scenario": "align"}))

    def broken(cmd):
        raise RuntimeError("a bug in the engine")

    real = session.handle
    session.handle = broken
    reply = json.loads(answer(session, {"op": "advance", "n": 1}))
    assert reply == {"op": "advance", "error": {"name": "RuntimeError",
                                                "message": "a bug in the engine"}}
    session.handle = real
    assert json.loads(answer(session, {"op": "advance", "n": 2}))["state"]["t"] == 2


# -- the features (log-linear) model -------------------------------------------------------
def _features_scenario(seed: int):
    """A random features scenario the page can show (K <= 6), at a stable learning rate:
    the margins are linear in theta, so the mean loss's curvature is at most
    max(beta^2 / 4, 2) times the largest |phi_w - phi_l|^2 of a row."""
    rng = np.random.default_rng(500 + seed)
    while True:
        P, K, rows, ref, phi, theta0, beta = random_features_case(rng)
        if K <= 6:
            break
    spread = max(float(np.sum((phi[x, c] - phi[x, r]) ** 2)) for x, c, r, *_ in rows)
    lr = float(f"{min(1.5, 0.5 / (max(spread, 1e-3) * max(2.0, beta * beta))):.4g}")
    prompts = tuple(Prompt(f"prompt {x}", tuple(f"reply {k}" for k in range(K)))
                    for x in range(P))
    events = (Event(7, flip=len(rows) - 1), Event(9, set={"beta": round(beta / 2, 4)}))
    return Scenario(id=f"features-{seed}", title="features", watch="", prompts=prompts,
                    ref_logits=ref, rows=tuple(Row(*r) for r in rows), beta=beta,
                    learning_rate=lr, adaptive_weight=True, events=events,
                    model=FeaturesModel(phi, theta0))


def _one_hot(s):
    init = s.start_logits() - log_softmax(np.asarray(s.ref_logits, dtype=float))
    return s.with_settings(init_logits=None, model=FeaturesModel(
        one_hot(s.n_prompts, s.n_replies).features, init.reshape(-1)))


def test_features_scenarios_agree_through_every_command():
    """Random features scenarios sent whole (scripted events inside the steps), and presets
    as one-hot features models: load's model, record.theta, each row's similarity, opt_phi
    (pi*_phi, its params and coincide) and kl_to_rlhf_phi, through steps, flips, every
    loss, the weight toggle, beta changes (pi*_phi refitted), the CSV (theta columns) and
    reset."""
    scenarios = [_features_scenario(seed) for seed in range(10)]
    scenarios += [_one_hot(s) for s in PRESETS.values()
                  if s.model.kind == "table" and s.n_prompts * s.n_replies <= 16][:4]
    seqs = []
    for s in scenarios:
        seqs.append([
            {"op": "load", "config": scenario_json(s)},
            {"op": "advance", "n": 12},
            {"op": "flip", "row": 0},
            {"op": "advance", "n": 20},
            {"op": "set", "changes": {"beta": 0.7}},
            {"op": "set", "changes": {"adaptive_weight": False}},
            {"op": "advance", "n": 3},
            {"op": "set", "changes": {"adaptive_weight": True, "loss_type": "ipo"}},
            {"op": "advance", "n": 3},
            {"op": "set", "changes": {"loss_type": "robust", "label_smoothing": 0.2}},
            {"op": "advance", "n": 3},
            {"op": "set", "changes": {"loss_type": "hinge"}},
            {"op": "advance", "n": 3},
            {"op": "csv"},
            {"op": "reset"},
            {"op": "advance", "n": 5},
        ])
    py = assert_agree(seqs)
    for s, replies in zip(scenarios, py):
        load = replies[0]
        assert load["model"]["kind"] == "features"
        assert load["model"]["init_theta"] == s.model.init_theta.tolist()
        d = s.model.d
        for r in replies:
            if "error" in r or r.get("op") == "csv":
                assert "error" not in r, (s.id, r)
                assert f"theta[{d - 1}]" in r["csv"].splitlines()[0]
                continue
            assert len(r["record"]["theta"]) == d and "kl_to_rlhf_phi" in r["record"]
            assert all("similarity" in row for row in r["state"]["rows"])
        assert {"params", "coincide"} <= set(load["opt_phi"])
    # the similarity is Razin's score of the row as it stands: after the flip of row 0
    s, flipped = scenarios[0], py[0][2]["state"]["rows"][0]
    phi = s.model.features[flipped["prompt"]]
    w, lo = phi[flipped["chosen"]], phi[flipped["rejected"]]
    assert flipped["chosen"] == s.rows[0].rejected
    assert flipped["similarity"] == pytest.approx(float(w @ lo - w @ w), abs=1e-12)


def test_a_table_reply_has_no_features_fields():
    """On a table the replies keep their shape: model {kind: table}, no theta, no
    similarity, no opt_phi, no kl_to_rlhf_phi (from either host)."""
    py = assert_agree([[{"op": "load", "scenario": "align"}, {"op": "advance", "n": 2}]])[0]
    assert py[0]["model"] == {"kind": "table"}
    for r in py:
        assert "theta" not in r["record"] and "kl_to_rlhf_phi" not in r["record"]
        assert "opt_phi" not in r and all("similarity" not in row for row in r["state"]["rows"])
