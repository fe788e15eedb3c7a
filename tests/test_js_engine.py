"""The offline page's JavaScript engine (app/offline/engine.js) computes what the NumPy
engine (sim/) computes, step for step: every number of every record (to 1e-12, absolute,
or relative where the value exceeds 1 in size), KL to the RLHF optimum, the optimum
itself, the stored-row metrics, divergence and the messages for bad input.

Node.js runs the JavaScript: ``tests/js_engine_driver.js`` takes a batch of jobs on stdin
and writes every result on stdout, one process per test. The runs: every preset for 500
steps with its scripted events, and 64 random scenarios (seeded) with random rows, votes,
references, start logits, scripted events and live actions, at settings where gradient
descent is stable. ``python tests/test_js_engine.py`` prints the largest difference seen
for each quantity.
"""

from __future__ import annotations

import io
import json
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import dpo_sim
from dpo_sim.app.cli import write_run
from dpo_sim.sim import rest
from dpo_sim.sim.dpo import kl_ceiling
from dpo_sim.sim.engine import stored_row_metrics
from dpo_sim.sim.losses import LOSS_TYPES, objective
from dpo_sim.sim.model import FeaturesModel, one_hot
from dpo_sim.sim.numerics import log_softmax
from dpo_sim.sim.protocol import RlhfTarget as _RlhfTarget
from dpo_sim.sim.protocol import optimum_json as optimum_dict
from dpo_sim.sim.protocol import optimum_phi_json
from dpo_sim.sim.protocol import or_null as _or_null
from dpo_sim.sim.rlhf import kl_to_optimum
from dpo_sim.sim.scenario import Event, Prompt, Row, Scenario
from dpo_sim.sim.scenario_io import list_presets, load_scenario, scenario_from_config
from dpo_sim.sim.settings import SettingError, table_json
from dpo_sim.sim.simulation import Diverged, Simulation
from long_run import random_scenario
from naive_dpo import features_fd_grad, features_metrics, random_features_case

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="Node.js (node) is not on PATH: the "
                                                     "JavaScript engine cannot be run")

DRIVER = Path(__file__).resolve().parent / "js_engine_driver.js"
STEPS = 500
TOL = 1e-12
N_RANDOM = 64
CHUNKS = 4
PRESETS = [pid for pid, _, err in list_presets() if err is None]

#: the largest difference seen per quantity (absolute, or relative above 1 in size)
DIFFS: dict[str, float] = {}
#: how many (step, row) margins and steps had a sign that rounding decides (undecided_signs)
UNDECIDED = {"rows": 0, "steps": 0}


def _finite_json(v):
    """Non-finite numbers as the driver's strings (JSON has no NaN or Infinity)."""
    if isinstance(v, float) and not math.isfinite(v):
        return "__NaN__" if v != v else ("__Inf__" if v > 0 else "__-Inf__")
    if isinstance(v, dict):
        return {k: _finite_json(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_finite_json(x) for x in v]
    return v


def node(jobs: list[dict]) -> list:
    """Run the jobs through the driver in one Node process."""
    text = json.dumps(_finite_json({"table": table_json(), "jobs": jobs}), allow_nan=False)
    p = subprocess.run([NODE, str(DRIVER)], capture_output=True, text=True, timeout=300,
                       input=text)
    assert p.returncode == 0, p.stderr[-4000:]
    return json.loads(p.stdout)


# -- the NumPy side -----------------------------------------------------------------------
def state(sim) -> dict:
    return {"t": sim.t, "flipped": list(sim.flipped), "beta": sim.beta,
            "learning_rate": sim.learning_rate, "adaptive_weight": sim.adaptive_weight,
            "loss_type": sim.loss_type, "label_smoothing": sim.label_smoothing,
            "actions": [e.to_dict() for e in sim.actions],
            "rows": [dict(zip(("prompt", "chosen", "rejected", "votes_chosen",
                               "votes_rejected"), r))
                     for r in zip(sim.pairs.prompt.tolist(), sim.pairs.chosen.tolist(),
                                  sim.pairs.rejected.tolist(),
                                  sim.pairs.votes_chosen.tolist(),
                                  sim.pairs.votes_rejected.tolist())]}


def _line(sim, target) -> dict:
    """A step's line as ``write_run`` writes it (record, then kl_to_rlhf), plus on a
    features model the page's kl_to_rlhf_phi (protocol.Session's record)."""
    d = sim.record.to_dict()
    d["kl_to_rlhf"] = _or_null(kl_to_optimum(sim.record.probs, target.update()))
    if target.opt_phi is not None:
        d["kl_to_rlhf_phi"] = _or_null(kl_to_optimum(sim.record.probs, target.opt_phi))
    return d


def python_run(scenario: Scenario, steps: int, actions: dict, optimum_at=(),
               every_grad: bool = False) -> dict:
    """What the driver's "run" job does, with sim.simulation.Simulation; each step's
    line as ``write_run`` writes it (record, then kl_to_rlhf); ``every_grad``: the
    gradient in the parameters of every step (else of the last)."""
    sim = Simulation(scenario, keep_history=False)
    target = _RlhfTarget(sim)
    out = {"records": [], "stored": [], "optima": {}, "error": None, "grads": [],
           "kl_ceiling": kl_ceiling(sim.logp_ref).tolist()}
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(steps + 1):
            if t:
                try:
                    sim.advance()
                except Diverged as e:
                    d = _line(sim, target)
                    out["error"] = {"name": "Diverged", "step": e.step, "message": str(e),
                                    "state": state(sim), "record": d}
                    break
            for a in actions.get(str(t), ()):
                if "flip" in a:
                    sim.flip(a["flip"])
                else:
                    sim.set(**a["set"])
            d = _line(sim, target)
            out["records"].append(d)
            if every_grad:
                out["grads"].append(sim.record.grad.tolist())
            loss = objective(sim.loss_type, sim.adaptive_weight, sim.label_smoothing)
            out["stored"].append(stored_row_metrics(sim.record, sim.pairs, loss))
            if t in optimum_at:
                out["optima"][str(t)] = optimum_dict(target.update())
                if target.opt_phi is not None:
                    out["optima"][str(t)]["phi"] = optimum_phi_json(target.opt_phi)
    if not every_grad:
        out["grads"] = [sim.record.grad.tolist()]
    out["state"] = state(sim)
    scores = sim.model.similarity(sim.pairs)
    if scores is not None:
        out["state"]["similarity"] = scores.tolist()
    return out


# -- comparing ----------------------------------------------------------------------------
EXACT = ("type", "step", "adaptive_weight", "loss_type")


def close(js, py, what: str, where: str) -> None:
    """Every number within TOL (relative above 1 in size); NaN, null and inf where the
    other side has the same."""
    a = np.asarray(js, dtype=float)
    b = np.asarray(py, dtype=float)
    assert a.shape == b.shape, (where, what, a.shape, b.shape)
    special = (np.isnan(a) & np.isnan(b)) | (np.isinf(b) & (a == b))
    both = np.isfinite(a) & np.isfinite(b)
    bad = ~(special | both)
    assert not bad.any(), (where, what, "non-finite differs", np.argwhere(bad)[:3].tolist())
    if not both.any():
        return
    a0, b0 = np.where(both, a, 0.0), np.where(both, b, 0.0)
    d = np.abs(a0 - b0) / np.maximum(1.0, np.abs(b0))
    worst = float(d.max())
    DIFFS[what] = max(DIFFS.get(what, 0.0), worst)
    if worst > TOL:
        i = np.unravel_index(np.argmax(d), d.shape)
        raise AssertionError(f"{where}: {what} differs by {worst:.3g} at {list(i)}: "
                             f"JS {a[i]!r}, NumPy {b[i]!r}")


def nulls(values):
    """Where a list (of lists) holds None, as a nested list of bools."""
    if isinstance(values, list):
        return [nulls(v) for v in values]
    return values is None


def compare_records(js: list[dict], py: list[dict], where: str, votes) -> None:
    """Two engines' records of the same steps; ``votes``: each row's (votes_chosen,
    votes_rejected), for the accuracies."""
    assert len(js) == len(py), (where, len(js), len(py))
    for a, b in zip(js, py):
        assert list(a) == list(b), (where, b["step"], list(a), list(b))
    for key in py[0]:
        col_js, col_py = [r[key] for r in js], [r[key] for r in py]
        if key in EXACT:
            assert col_js == col_py, (where, key)
            assert [type(v) for v in col_js] == [type(v) for v in col_py], (where, key)
            continue
        if key == "rewards/accuracies":
            continue
        assert nulls(col_js) == nulls(col_py), (where, key, "null where the other has none")
        close([_fill(v) for v in col_js], [_fill(v) for v in col_py], key, where)
    u_js = np.array([r["pairs/margin"] for r in js])
    u_py = np.array([r["pairs/margin"] for r in py])
    vc, vr = np.asarray(votes, dtype=float).T / np.sum(votes)
    # rewards/accuracies: the share of judgements with u > 0 on their side
    undecided = undecided_signs(u_js, u_py, where)

    def own(u):       # each engine's count of the undecided rows, by its own sign of u
        return (np.where(u > 0, vc, np.where(u < 0, vr, 0.0)) * undecided).sum(axis=1)

    close(np.array([r["rewards/accuracies"] for r in js]) - own(u_js),
          np.array([r["rewards/accuracies"] for r in py]) - own(u_py),
          "rewards/accuracies", where)


def undecided_signs(u_js, u_py, where: str) -> np.ndarray:
    """Where the two engines' margins u have different signs: allowed only for rounding
    noise around 0 (|u| <= TOL in both), e.g. a 5:5 row whose replies do not move while
    another row of its prompt moves the softmax normaliser. The sign of such a u is the
    sign of the rounding of log pi - log pi_ref, which V8's log and glibc's may round
    differently; an accuracy (u > 0) counts it all the same."""
    undecided = np.sign(u_js) != np.sign(u_py)
    assert (np.abs(u_js[undecided]) <= TOL).all() and (np.abs(u_py[undecided]) <= TOL).all(), (
        where, "margins of different signs beyond rounding noise")
    UNDECIDED["rows"] += int(undecided.sum())
    UNDECIDED["steps"] += int(undecided.any(axis=1).sum())
    return undecided


def _fill(v):
    if isinstance(v, list):
        return [_fill(x) for x in v]
    return math.nan if v is None else v


def _fill_rows(rows):
    """Per-prompt rows with None (no finite optimum) as rows of NaN."""
    k = max((len(r) for r in rows if isinstance(r, list)), default=0)
    return [[math.nan] * k if r is None and k else _fill(r) for r in rows]


def compare_optima(js: dict, py: dict, where: str) -> None:
    assert js.keys() == py.keys(), where
    for t in py:
        a, b = js[t], py[t]
        assert ("phi" in a) == ("phi" in b), (where, t)
        if "phi" in b:              # pi*_phi (features): optimum_json's shape, params, coincide
            compare_optima({t: a["phi"]}, {t: b["phi"]}, f"{where} pi*_phi")
            assert a["phi"]["coincide"] == b["phi"]["coincide"], (where, t)
            assert nulls(a["phi"]["params"]) == nulls(b["phi"]["params"]), (where, t)
            close(_fill(a["phi"]["params"]), _fill(b["phi"]["params"]), "pi*_phi params",
                  f"{where} step {t}")
        assert a["finite"] == b["finite"] and a["heading"] == b["heading"], (where, t)
        for key in ("probs", "log_probs", "theta", "reward", "beta_log_z"):
            assert nulls(a[key]) == nulls(b[key]), (where, t, key)
            close(_fill_rows(a[key]), _fill_rows(b[key]), f"optimum {key}",
                  f"{where} step {t}")


def compare_runs(js: dict, py: dict, where: str) -> None:
    votes = [(r["votes_chosen"], r["votes_rejected"]) for r in py["state"]["rows"]]
    compare_records(js["records"], py["records"], where, votes)
    for key in py["stored"][0]:
        if key != "rewards/accuracies":
            close([s[key] for s in js["stored"]], [s[key] for s in py["stored"]],
                  f"stored {key}", where)
    assert [list(s) for s in js["stored"]] == [list(s) for s in py["stored"]], where
    # stored rows' accuracies: the share of rows with u > 0, each row once
    u_js = np.array([r["pairs/margin"] for r in js["records"]])
    u_py = np.array([r["pairs/margin"] for r in py["records"]])
    undecided = undecided_signs(u_js, u_py, where)
    n = u_py.shape[1]
    close(np.array([s["rewards/accuracies"] for s in js["stored"]])
          - ((u_js > 0) & undecided).sum(axis=1) / n,
          np.array([s["rewards/accuracies"] for s in py["stored"]])
          - ((u_py > 0) & undecided).sum(axis=1) / n, "stored rewards/accuracies", where)
    compare_optima(js["optima"], py["optima"], where)
    close(js["grads"], py["grads"], "grad", where)
    close(js["kl_ceiling"], py["kl_ceiling"], "kl_ceiling", where)
    compare_state(js["state"], py["state"], where)
    assert ("similarity" in js["state"]) == ("similarity" in py["state"]), where
    if "similarity" in py["state"]:
        close(js["state"]["similarity"], py["state"]["similarity"], "similarity", where)
    assert (js["error"] is None) == (py["error"] is None), (where, js["error"], py["error"])
    if py["error"] is not None:
        a, b = js["error"], py["error"]
        assert (a["name"], a["step"], a["message"]) == (b["name"], b["step"], b["message"])
        compare_state(a["state"], b["state"], where)
        compare_records([a["record"]], [b["record"]], where + " (last finite record)", votes)


def compare_state(a: dict, b: dict, where: str) -> None:
    for key in ("t", "flipped", "adaptive_weight", "loss_type", "actions", "rows"):
        assert a[key] == b[key], (where, key, a[key], b[key])
    for key in ("beta", "learning_rate", "label_smoothing"):
        assert a[key] == b[key], (where, key)


# -- the runs -----------------------------------------------------------------------------
def changed_steps(scenario: Scenario, actions: dict, steps: int) -> list[int]:
    """Step 0, the last step and every step where the rows or beta may change."""
    return sorted({0, steps} | {e.step for e in scenario.events if e.step <= steps}
                  | {int(t) for t in actions})


def preset_jobs():
    """Each preset's config line and step lines as ``dpo-sim run --format jsonl`` writes
    them, and the same run through Simulation (stored rows, optimum, grad)."""
    jobs, expected = [], []
    for pid in PRESETS:
        s = load_scenario(pid)
        buf = io.StringIO()
        write_run(s, STEPS, "jsonl", buf)
        lines = [json.loads(line) for line in buf.getvalue().splitlines()]
        config, steps = lines[0], lines[1:]
        at = changed_steps(s, {}, STEPS)
        py = python_run(scenario_from_config(config), STEPS, {}, at)
        # the Simulation path is write_run's, exactly (the page's kl_to_rlhf_phi aside)
        assert [{k: v for k, v in r.items() if k != "kl_to_rlhf_phi"}
                for r in py["records"]] == steps
        jobs.append({"kind": "run", "config": config, "steps": STEPS, "actions": {},
                     "optimum_at": at})
        expected.append(py)
    return jobs, expected


def test_every_preset_runs_the_same_500_steps_in_javascript():
    jobs, expected = preset_jobs()
    for pid, js, py in zip(PRESETS, node(jobs), expected):
        compare_runs(js, py, pid)
        # the config line's rlhf_probs is the optimum of step 0
        config = jobs[PRESETS.index(pid)]["config"]
        assert nulls(js["optima"]["0"]["probs"]) == nulls(config["rlhf_probs"]), pid
        close(_fill(js["optima"]["0"]["probs"]), _fill(config["rlhf_probs"]), "rlhf_probs",
              pid)


def random_case(seed: int):
    """A random scenario (rows, votes, reference, start logits, scripted events) and
    random live actions, at settings where gradient descent is stable: DPO's curvature is
    at most beta^2 / 2 (so learning_rate * beta^2 <= 1.5 is safe) and IPO's at most 4
    (learning_rate <= 0.35); hinge and the bare margin have none."""
    rng = np.random.default_rng(seed)
    P, K = int(rng.integers(1, 5)), int(rng.integers(2, 7))  # MAX_REPLIES = 6
    rows = []
    for _ in range(int(rng.integers(1, 2 * P + 4))):
        x = int(rng.integers(P))
        c, r = (int(v) for v in rng.choice(K, size=2, replace=False))
        kind = rng.random()
        if kind < 0.15:
            vc, vr = int(rng.integers(1, 11)), 0            # unanimous
        elif kind < 0.25:
            vc, vr = 0, int(rng.integers(1, 11))            # unanimous the other way
        elif kind < 0.35:
            vc = vr = 5                                     # a tie
        elif kind < 0.42:
            vc, vr = int(rng.integers(1, 20)) / 4, int(rng.integers(1, 20)) / 4
        else:
            vc, vr = int(rng.integers(0, 11)), int(rng.integers(0, 11))
            if vc + vr == 0:
                vc = 1
        rows.append(Row(x, c, r, vc, vr))
    ref = rng.normal(scale=rng.uniform(0.0, 2.0), size=(P, K))
    init = None if rng.random() < 0.4 else ref + rng.normal(scale=rng.uniform(0, 1.5),
                                                            size=(P, K))
    lr, start, events, actions = random_settings(rng, len(rows), 2.0)
    prompts = tuple(Prompt(f"prompt {x}", tuple(f"reply {k}" for k in range(K)))
                    for x in range(P))
    s = Scenario(id=f"random-{seed}", title=f"random {seed}", watch="", prompts=prompts,
                 ref_logits=ref, init_logits=init, rows=tuple(rows), events=tuple(events),
                 learning_rate=lr, **start)
    # validated by the loader's rules (and rebuilt from the config line, as the page will)
    s = scenario_from_config(s.config())
    return s, actions


def random_settings(rng, n_rows: int, spread: float, steps: int = STEPS):
    """Random start settings, scripted events and live actions (flips of the n_rows rows,
    every live setting, step 0 and later), at learning rates where gradient descent is
    stable: DPO's curvature in the margin is at most beta^2 / 4 per judgement and IPO's
    2, times ``spread``, the largest |d margin / d params|^2 of a row (2 on a table)."""

    def loss_type():
        return str(rng.choice(list(LOSS_TYPES), p=[0.4, 0.2, 0.2, 0.2]))

    def beta():
        return float(np.round(np.exp(rng.uniform(np.log(0.1), np.log(4.0))), 3))

    def changes():
        """(step, {set} or flip) for a scripted event or a live action."""
        out = []
        for _ in range(int(rng.integers(0, 7))):
            step = int(rng.choice([0, int(rng.integers(1, steps + 1))], p=[0.1, 0.9]))
            what = rng.choice(["flip", "beta", "learning_rate", "adaptive_weight",
                               "loss_type", "label_smoothing", "several"])
            if what == "flip":
                out.append((step, int(rng.integers(n_rows))))
                continue
            names = ([str(what)] if what != "several" else
                     [str(n) for n in rng.choice(["beta", "learning_rate", "adaptive_weight",
                                                  "loss_type", "label_smoothing"],
                                                 size=2, replace=False)])
            s = {}
            for n in names:
                s[n] = {"beta": beta, "learning_rate": lambda: None,
                        "adaptive_weight": lambda: bool(rng.random() < 0.6),
                        "loss_type": loss_type,
                        "label_smoothing": lambda: float(rng.choice(
                            [0.0, 0.05, 0.1, 0.25, 0.45]))}[n]()
            out.append((step, s))
        return out

    start = {"beta": beta(), "loss_type": loss_type(), "adaptive_weight": bool(rng.random() < 0.8),
             "label_smoothing": float(rng.choice([0.0, 0.1, 0.3]))}
    scripted, live = changes(), changes()
    sets = [c for _, c in scripted + live if isinstance(c, dict)]
    beta_max = max([start["beta"]] + [s["beta"] for s in sets if "beta" in s])
    ipo = start["loss_type"] == "ipo" or any(s.get("loss_type") == "ipo" for s in sets)
    cap = min(2.0, min(1.5 / beta_max**2, 0.35 if ipo else math.inf) / (spread / 2.0))

    def lr():
        v = rng.uniform(0.1, 1.0) * cap
        return float(np.round(v, 4)) if spread == 2.0 else float(f"{v:.4g}")

    for s in sets:
        if "learning_rate" in s:
            s["learning_rate"] = lr()
    events = sorted((Event(step, flip=c) if isinstance(c, int) else Event(step, set=c)
                     for step, c in scripted), key=lambda e: e.step)
    actions: dict[str, list] = {}
    for step, c in live:
        actions.setdefault(str(step), []).append(
            {"flip": c} if isinstance(c, int) else {"set": c})
    return lr(), start, events, actions


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_random_scenarios_with_events_and_live_actions_run_the_same(chunk):
    seeds = range(chunk, N_RANDOM, CHUNKS)
    cases = [random_case(seed) for seed in seeds]
    jobs, expected = [], []
    for s, actions in cases:
        at = changed_steps(s, actions, STEPS)
        jobs.append({"kind": "run", "config": s.config(), "steps": STEPS, "actions": actions,
                     "optimum_at": at})
        expected.append(python_run(s, STEPS, actions, at))
    for (s, _), js, py in zip(cases, node(jobs), expected):
        assert py["error"] is None, f"{s.id} diverged: make random_case's settings safer"
        compare_runs(js, py, s.id)


def test_the_random_scenarios_cover_what_they_should():
    """Ties, 0-vote sides, several prompts, 6 replies (the page's most), events and
    actions of every kind, prompts without a finite optimum, every loss type."""
    seen = {"tie": 0, "zero side": 0, "P4": 0, "K6": 0, "flip event": 0, "set event": 0,
            "flip action": 0, "set action": 0, "no finite optimum": 0, "step-0 action": 0}
    losses = set()
    for seed in range(N_RANDOM):
        s, actions = random_case(seed)
        seen["tie"] += any(r.votes_chosen == r.votes_rejected for r in s.rows)
        seen["zero side"] += any(0 in (r.votes_chosen, r.votes_rejected) for r in s.rows)
        seen["P4"] += s.n_prompts == 4
        seen["K6"] += s.n_replies == 6
        seen["flip event"] += any(e.flip is not None for e in s.events)
        seen["set event"] += any(e.set for e in s.events)
        acts = [a for v in actions.values() for a in v]
        seen["flip action"] += any("flip" in a for a in acts)
        seen["set action"] += any("set" in a for a in acts)
        seen["step-0 action"] += "0" in actions
        sim = Simulation(s)
        seen["no finite optimum"] += not _RlhfTarget(sim).opt.finite.all()
        losses.add(s.loss_type)
        for e in s.events:
            losses.add(e.set.get("loss_type", s.loss_type))
    assert all(n >= 3 for n in seen.values()), seen
    assert losses == set(LOSS_TYPES)


# -- the features (log-linear) model ------------------------------------------------------
FEATURE_STEPS = 300
N_FEATURES = 32


def one_hot_features(s: Scenario) -> Scenario:
    """The scenario on the features model with one-hot features (one coordinate per
    reply), theta_0 the start logits less log pi_ref: the table's run, as a features run."""
    m = one_hot(s.n_prompts, s.n_replies)
    init = s.start_logits() - log_softmax(np.asarray(s.ref_logits, dtype=float))
    return s.with_settings(id=s.id + "-one-hot", init_logits=None,
                           model=FeaturesModel(m.features, init.reshape(-1)))


def random_features_scenario(seed: int):
    """A random features scenario (tests/naive_dpo.random_features_case: d 1..16, replies
    that resemble one another, shared coordinates, a random theta_0), with random_settings'
    scripted events and live actions at stable learning rates."""
    rng = np.random.default_rng(10_000 + seed)
    d = {0: 1, 4: 2}.get(seed % 8)                  # short vectors too: d = 1 and 2
    P, K, rows, ref, phi, theta0, _ = random_features_case(rng, d)
    spread = max(float(np.sum((phi[x, c] - phi[x, r]) ** 2)) for x, c, r, *_ in rows)
    lr, start, events, actions = random_settings(rng, len(rows), max(spread, 1e-3),
                                                 FEATURE_STEPS)
    prompts = tuple(Prompt(f"prompt {x}", tuple(f"reply {k}" for k in range(K)))
                    for x in range(P))
    s = Scenario(id=f"features-{seed}", title=f"features {seed}", watch="", prompts=prompts,
                 ref_logits=ref, rows=tuple(Row(*r) for r in rows), events=tuple(events),
                 learning_rate=lr, model=FeaturesModel(phi, theta0), **start)
    return s, actions


def features_jobs(cases):
    jobs, expected = [], []
    for s, actions in cases:
        at = changed_steps(s, actions, FEATURE_STEPS)
        jobs.append({"kind": "run", "config": s.config(), "steps": FEATURE_STEPS,
                     "actions": actions, "optimum_at": at, "every_grad": True})
        expected.append(python_run(s, FEATURE_STEPS, actions, at, every_grad=True))
    return jobs, expected


def test_every_preset_as_a_one_hot_features_model_runs_the_same_in_javascript():
    """Each preset (its scripted events too) on one-hot features: theta, the gradient in
    theta at every step and every recorded number within 1e-12 of NumPy's."""
    cases = [(one_hot_features(load_scenario(pid)), {"1": [{"flip": 0}]}) for pid in PRESETS
             if load_scenario(pid).model.kind == "table"]
    jobs, expected = features_jobs(cases)
    for (s, _), js, py in zip(cases, node(jobs), expected):
        assert py["error"] is None, s.id
        assert len(py["records"][0]["theta"]) == s.n_prompts * s.n_replies
        compare_runs(js, py, s.id)


@pytest.mark.parametrize("chunk", range(2))
def test_random_features_scenarios_run_the_same_in_javascript(chunk):
    """32 random features scenarios, 300 steps each with scripted events and live actions:
    every recorded number, theta, the gradient in theta at every step and the rows'
    similarity within 1e-12 of NumPy's."""
    cases = [random_features_scenario(seed) for seed in range(chunk, N_FEATURES, 2)]
    jobs, expected = features_jobs(cases)
    for (s, _), js, py in zip(cases, node(jobs), expected):
        assert py["error"] is None, f"{s.id} diverged: make random_settings safer"
        assert "theta" in py["records"][0] and len(py["grads"]) == FEATURE_STEPS + 1
        compare_runs(js, py, s.id)


def test_the_random_features_scenarios_cover_what_they_should():
    """Every loss, the weight toggled, flips and settings as scripted events and as live
    actions, at step 0 and later; d from 1 to 16; several prompts; runs that move."""
    seen = {"flip event": 0, "set event": 0, "flip action": 0, "set action": 0,
            "weight off": 0, "step-0 action": 0, "P>1": 0, "d=1": 0, "d>8": 0}
    losses = set()
    for seed in range(N_FEATURES):
        s, actions = random_features_scenario(seed)
        acts = [a for v in actions.values() for a in v]
        sets = [e.set for e in s.events if e.set] + [a["set"] for a in acts if "set" in a]
        seen["flip event"] += any(e.flip is not None for e in s.events)
        seen["set event"] += any(e.set for e in s.events)
        seen["flip action"] += any("flip" in a for a in acts)
        seen["set action"] += any("set" in a for a in acts)
        seen["step-0 action"] += "0" in actions
        seen["weight off"] += (not s.adaptive_weight) or any(
            c.get("adaptive_weight") is False for c in sets)
        seen["P>1"] += s.n_prompts > 1
        seen["d=1"] += s.model.d == 1
        seen["d>8"] += s.model.d > 8
        losses |= {s.loss_type} | {c["loss_type"] for c in sets if "loss_type" in c}
    assert all(n >= 2 for n in seen.values()), seen
    assert losses == set(LOSS_TYPES)
    # the runs move theta: not a comparison of two standing policies
    s, actions = random_features_scenario(0)
    py = python_run(s, 50, actions)
    assert py["records"][-1]["theta"] != py["records"][0]["theta"]


def test_similarity_is_razin_s_score_of_the_rows_as_they_stand():
    """DPO.similarity(features, pairs): <phi_w, phi_l> - |phi_w|^2 per row, computed here
    by hand in plain floats, and after a flip with the chosen reply swapped."""
    s, _ = random_features_scenario(3)
    phi = s.model.features.tolist()

    def by_hand(rows):
        return [math.fsum(a * b for a, b in zip(phi[x][c], phi[x][r]))
                - math.fsum(a * a for a in phi[x][c]) for x, c, r, *_ in rows]

    flipped = [(x, r, c, b, a) if i == 0 else (x, c, r, a, b)
               for i, (x, c, r, a, b) in enumerate(row.as_tuple() for row in s.rows)]
    js = node([{"kind": "run", "config": s.with_settings(events=()).config(), "steps": 0,
                "actions": {"0": [{"flip": 0}]}}])[0]
    close(js["state"]["similarity"], by_hand(flipped), "similarity by hand", s.id)
    # the flip changed row 0's score: the chosen reply's own norm is the one subtracted
    assert abs(by_hand(flipped)[0] - by_hand([r.as_tuple() for r in s.rows])[0]) > 1e-6


def test_a_features_run_matches_the_naive_reference_and_finite_differences():
    """Independent of NumPy's engine: the twin's step-0 numbers are the naive features
    policy's (tests/naive_dpo.py) and its gradient in theta the finite differences of the
    naive mean loss."""
    rng = np.random.default_rng(77)
    cases, jobs = [], []
    for _ in range(8):
        P, K, rows, ref, phi, theta0, beta = random_features_case(rng)
        s = Scenario(id="naive", title="naive", watch="", beta=beta, learning_rate=0.1,
                     adaptive_weight=True,
                     prompts=tuple(Prompt("p", tuple(map(str, range(K)))) for _ in range(P)),
                     ref_logits=ref, rows=tuple(Row(*r) for r in rows),
                     model=FeaturesModel(phi, theta0))
        cases.append((rows, ref, phi, theta0, beta))
        jobs.append({"kind": "run", "config": s.config(), "steps": 0, "actions": {}})
    for (rows, ref, phi, theta0, beta), js in zip(cases, node(jobs)):
        rec = js["records"][0]
        m = features_metrics(theta0, ref, phi.tolist(), rows, beta)
        for key in ("loss", "rewards/chosen", "rewards/rejected", "logps/chosen",
                    "logps/rejected"):
            assert rec[key] == pytest.approx(m[key], abs=1e-12), key
        np.testing.assert_allclose(rec["probs"], m["probs"], atol=1e-12)
        np.testing.assert_allclose(rec["pairs/margin"], m["row_margin"], atol=1e-12)
        np.testing.assert_allclose(js["grads"][0], features_fd_grad(
            theta0, ref, phi.tolist(), rows, beta), atol=1e-7)
        assert rec["theta"] == pytest.approx(theta0.tolist(), abs=0)


# -- where each row ends (sim/rest.py) -----------------------------------------------------
REST_SETTINGS = ({}, {"loss_type": "ipo"}, {"loss_type": "hinge"},
                 {"loss_type": "robust", "label_smoothing": 0.1},
                 {"loss_type": "robust", "label_smoothing": 0.3}, {"adaptive_weight": False},
                 {"learning_rate": 40.0}, {"loss_type": "ipo", "learning_rate": 8.0})


def _rest_py(s: Scenario, steps: int, actions: dict) -> list[dict]:
    sim = Simulation(s, keep_history=False)
    for t in range(steps + 1):
        if t:
            sim.advance()
        for a in actions.get(str(t), []):
            sim.flip(a["flip"]) if "flip" in a else sim.set(**a["set"])
    rr = rest.rest_points(sim.pairs, sim.beta, sim.learning_rate, sim.loss_spec.loss,
                          sim.record.row_margin, sim.record.grad_logits, s.model)
    return [dict(vars(r), claim=r.claim) for r in rr]


def test_every_rest_statement_is_the_same_in_javascript():
    """sim.rest and its twin agree on every row: the kind, why, the row named, the cycle,
    and the margins and limits to 1e-12: every preset under every loss (after its scripted
    events, and after flipping its first row), and the random scenarios of the rest tests
    (cycles, shared replies, every loss, learning rates on both sides of stability)."""
    cases = []
    for pid in PRESETS:
        for kw in REST_SETTINGS:
            s = load_scenario(pid).with_settings(**kw)
            last = max((e.step for e in s.events), default=0)
            cases += [(s, last, {}), (s, 3, {"3": [{"flip": 0}]})]
    cases += [(random_scenario(seed), 0, {}) for seed in range(120)]
    jobs = [{"kind": "rest", "config": s.config(), "steps": t, "actions": a}
            for s, t, a in cases]
    for (s, t, a), js, py in zip(cases, node(jobs), [_rest_py(*c) for c in cases]):
        assert len(js) == len(py)
        for i, (x, y) in enumerate(zip(js, py)):
            where = f"{s.id} {s.loss_type} {t} {a} row {i}"
            for k in ("kind", "how", "via", "cycle"):
                assert x[k] == y[k], (where, k, x, y)
            for k in ("u", "lr_limit", "pace", "claim"):
                if y[k] is None or x[k] is None:
                    assert x[k] is y[k] is None, (where, k)
                elif math.isnan(y[k]) or math.isnan(x[k]):
                    assert math.isnan(x[k]) and math.isnan(y[k]), (where, k, x[k], y[k])
                else:
                    close(x[k], y[k], f"rest {k}", where)


# -- divergence ---------------------------------------------------------------------------
def test_a_run_that_diverges_stops_at_the_same_step_with_the_same_last_record():
    """IPO at loose-leash's settings (learning rate 8) diverges at step 170; with the
    learning rate raised to 9 at step 60 it diverges at 164, where a scripted flip and a
    change of beta are undone (the run stays at step 163 with its settings and rows)."""
    base = dpo_sim.load_scenario("loose-leash", loss_type="ipo")
    undone = base.with_settings(events=(
        Event(60, set={"learning_rate": 9.0}), Event(164, flip=0),
        Event(164, set={"beta": 0.3}), Event(165, flip=1)))
    cases = [base, undone]
    expected = [python_run(s, STEPS, {}, [0]) for s in cases]
    assert [py["error"]["step"] for py in expected] == [170, 164]
    assert expected[1]["error"]["state"]["flipped"] == []
    js = node([{"kind": "run", "config": s.config(), "steps": STEPS, "actions": {},
                "optimum_at": [0]} for s in cases])
    for s, a, b in zip(cases, js, expected):
        compare_runs(a, b, s.id)
    # advance(n) throws Diverged out of the middle of n updates and keeps the steps before
    calls = node([{"kind": "calls", "config": base.config(),
                   "calls": [{"op": "advance", "arg": 100}, {"op": "advance", "arg": 100},
                             {"op": "advance", "arg": 1}]}])[0]
    assert [c["ok"] for c in calls] == [True, False, False]
    assert [c["state"]["t"] for c in calls] == [100, 169, 169]
    assert calls[1]["is_diverged"] and calls[1]["name"] == "Diverged"
    assert calls[1]["step"] == calls[2]["step"] == 170
    assert calls[1]["message"] == expected[0]["error"]["message"]


# -- bad input ----------------------------------------------------------------------------
BAD_CALLS = [
    ("set", {"beta": 0}), ("set", {"beta": -1.5}), ("set", {"beta": 100.5}),
    ("set", {"beta": "0.5"}), ("set", {"beta": True}), ("set", {"beta": None}),
    ("set", {"beta": 1e300}), ("set", {"learning_rate": 0}), ("set", {"learning_rate": 1e-05}),
    ("set", {"beta": 0.5, "learning_rate": 0}), ("set", {"adaptive_weight": 1}),
    ("set", {"adaptive_weight": "on"}), ("set", {"loss_type": "dpo"}),
    ("set", {"loss_type": "x" * 60}), ("set", {"loss_type": "it's"}),
    ("set", {"label_smoothing": 0.5}), ("set", {"label_smoothing": -0.25}),
    ("set", {"steps": 5}), ("set", {"speed": 5}), ("set", {"temperature": 1}),
    ("set", {"beta": 2.5, "loss_type": "ipo"}), ("set", {}),
    ("flip", 7), ("flip", 6), ("flip", -1), ("flip", 5), ("flip", 5),
    ("advance", 3), ("set", {"label_smoothing": 0.2, "loss_type": "robust"}), ("flip", 0),
    ("flip", "2"), ("flip", 2.7), ("flip", " 1 "), ("flip", True), ("flip", "x"),
    ("flip", "2.5"), ("flip", None), ("flip", [1]), ("flip", math.nan), ("flip", math.inf),
    ("flip", "9"),
]


def python_calls(scenario: Scenario, calls) -> list[dict]:
    sim = Simulation(scenario, keep_history=False)
    out = []
    for op, arg in calls:
        o = {"ok": True}
        try:
            if op == "flip":
                sim.flip(arg)
            elif op == "set":
                sim.set(**arg)
            else:
                sim.advance(arg)
        except (ValueError, IndexError, TypeError, OverflowError) as e:
            name = {SettingError: "SettingError", IndexError: "RangeError"}.get(
                type(e), type(e).__name__)
            o = {"ok": False, "message": str(e), "name": name}
        o["state"] = state(sim)
        o["record"] = sim.record.to_dict()
        out.append(o)
    return out


def test_bad_input_to_set_and_flip_gives_python_s_messages_and_changes_nothing():
    s = load_scenario("align")
    expected = python_calls(s, BAD_CALLS)
    js = node([{"kind": "calls", "config": s.config(),
                "calls": [{"op": op, "arg": arg} for op, arg in BAD_CALLS]}])[0]
    for (op, arg), a, b in zip(BAD_CALLS, js, expected):
        assert a["ok"] == b["ok"], (op, arg, a.get("message"), b.get("message"))
        if not b["ok"]:
            assert (a["name"], a["message"]) == (b["name"], b["message"]), (op, arg)
        compare_state(a["state"], b["state"], f"{op} {arg}")
        del a["record"]["kl_to_rlhf"]
        votes = [(r["votes_chosen"], r["votes_rejected"]) for r in b["state"]["rows"]]
        compare_records([a["record"]], [b["record"]], f"{op} {arg}", votes)
    assert js[0]["message"] == "beta: must be a number > 0 and <= 100, got 0"
    assert js[22]["message"] == "no row 7; rows are 0..5"


def test_a_config_with_a_bad_setting_is_refused_with_python_s_message():
    configs = []
    for bad in ({"beta": 0}, {"learning_rate": 250}, {"loss_type": "kto"},
                {"label_smoothing": 0.5}, {"adaptive_weight": "yes"}):
        configs.append({**load_scenario("tie").config(), **bad})
    js = node([{"kind": "construct", "config": c} for c in configs])
    for c, a in zip(configs, js):
        s = scenario_from_config({**load_scenario("tie").config(), "beta": 1.0})
        s = s.with_settings(**{k: c[k] for k in ("beta", "learning_rate", "loss_type",
                                                 "label_smoothing", "adaptive_weight")})
        with pytest.raises(SettingError) as err:
            Simulation(s)
        assert (a["ok"], a["name"], a["message"]) == (False, "SettingError", str(err.value))


# -- the building blocks ------------------------------------------------------------------
def test_fsum_is_python_s_math_fsum():
    rng = np.random.default_rng(7)
    lists = [[], [0.0], [1e-16, 1.0, 1e16], [1.0, 1e100, 1.0, -1e100], [0.1] * 10,
             [1e308, 1e308, -1e308], [math.inf, 1.0], [-math.inf, 2.0], [math.nan, 1.0],
             [math.inf, -math.inf], [2.0**53, 1.0, 2.0**-53], [-0.0, -0.0],
             [1.0, -2.0**-53, 2.0**-106]]
    lists += [(rng.normal(size=int(rng.integers(1, 40)))
               * 10.0 ** rng.integers(-20, 20, size=1)).tolist() for _ in range(200)]
    lists += [(rng.standard_cauchy(size=50) * 1e10).tolist() + [1e-30] for _ in range(50)]
    js = node([{"kind": "fsum", "lists": lists}])[0]
    for values, a in zip(lists, js):
        try:
            b = math.fsum(values)
        except OverflowError as e:
            assert (a["ok"], a["name"], a["message"]) == (False, "OverflowError", str(e))
            continue
        except ValueError as e:
            assert (a["ok"], a["message"]) == (False, str(e))
            continue
        assert a["ok"], (values, a)
        a["value"] = float(a["value"])     # JS writes 4.355316832084725e16 as 43553168320847250
        assert (a["value"] == b and math.copysign(1, a["value"]) == math.copysign(1, b)) or (
            math.isnan(a["value"]) and math.isnan(b)), (values, a["value"], b)


def test_numbers_are_written_as_python_writes_them():
    values = [0.25, 8.0, 1e-05, 0.0001, 123456789.0, 1234567.0, 1e16, 1.5e16, 1e300, -2.5e-7,
              math.inf, -math.inf, math.nan, 0.1 + 0.2, 5e-324, 100.0, 1234565.0, 0.5,
              12345.65, 2.0**70]
    g = node([{"kind": "formatG", "values": values}])[0]
    assert g == [format(v, "g") for v in values]
    floats = [v for v in values if not float(v).is_integer() or abs(v) >= 1e16]
    reprs = node([{"kind": "repr", "values": floats + ["a'b", 'q"', "x\ny", 3, -7, True,
                                                       None]}])[0]
    assert reprs == [repr(v) for v in floats] + [repr("a'b"), repr('q"'), repr("x\ny"),
                                                 "3", "-7", "True", "None"]


def test_numbers_are_written_with_a_precision_as_python_writes_them():
    """formatG(v, P) is format(v, ".Pg"): the page's log writes settings with P = 4, and
    a number whose digits end at the decimal point keeps no bare point (120000, not
    120000.)."""
    values = [0.05, 1.25, 0.3 + 1e-16, 1.0, 8.0, 100.0, 1e-05, -0.25, 1234.5, 9999.5,
              12345.0, 0.000012345, 65.7, 123456.5, 120000.0, 1e16, 2.5]
    for p in (1, 4, 6):
        got = node([{"kind": "formatG", "values": values, "precision": p}])[0]
        assert got == [format(v, f".{p}g") for v in values], p


def test_the_module_is_one_plain_script_that_defines_window_dpo():
    """No imports, no build step, no syntax past ES2019: as a page's <script> it defines
    DPO on the window and nothing else, with the same numbers as in Node."""
    text = (Path(__file__).resolve().parent.parent / "app" / "offline" / "engine.js").read_text()
    for token in ("?.", "??", "import ", "export ", "require(", "document", "#"):
        assert token not in text, token
    s = load_scenario("align")
    out = node([{"kind": "script", "config": s.config()},
                {"kind": "run", "config": s.config(), "steps": 1, "actions": {}}])
    assert out[0]["globals"] == ["DPO", "self"]
    assert {"Simulation", "Diverged", "SettingError", "storedRowMetrics", "klCeiling", "fsum",
            "LOSS_TYPES"} <= set(out[0]["exports"])
    assert out[0]["record"] == out[1]["records"][1]


if __name__ == "__main__":        # the largest differences, quantity by quantity
    test_every_preset_runs_the_same_500_steps_in_javascript()
    for chunk in range(CHUNKS):
        test_random_scenarios_with_events_and_live_actions_run_the_same(chunk)
    test_a_run_that_diverges_stops_at_the_same_step_with_the_same_last_record()
    for what, d in sorted(DIFFS.items(), key=lambda kv: -kv[1]):
        print(f"{what:28s} {d:.3g}")
    print("margins whose sign rounding decides:", UNDECIDED)
