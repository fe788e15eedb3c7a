"""The stacks of runs for the page: ``frontier_reply`` (sim/frontier.py) and
``sweep_reply`` (sim/sweep.py) against independent computations (single Simulation runs,
the tilt by hand), and their JavaScript twins (app/offline/stack.js, ``frontierReply``,
``sweepReply``) against them, to 1e-12, on every preset, a flipped row and changed
settings; node runs ``tests/js_stack_driver.js``.

Where the two cannot agree: a cell of the sweep whose run is chaotic (plain gradient
descent far past its stable step size) amplifies the last-bit differences of V8's exp and
log against NumPy's, so its numbers differ after 400 steps. Such a cell is found in NumPy
alone: it changes by more than 1e-12 when every update is perturbed by one ulp
(``_sensitive``). Every other cell must agree to 1e-12, its flags exactly, and the
sensitive cells must be few.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from dpo_sim.sim import frontier as fr
from dpo_sim.sim import sweep as sw
from dpo_sim.sim.model import FeaturesModel, one_hot
from dpo_sim.sim.numerics import log_softmax
from dpo_sim.sim.scenario import Prompt, Row, Scenario
from dpo_sim.sim.scenario_io import list_presets, load_scenario
from dpo_sim.sim.settings import table_json
from dpo_sim.sim.simulation import Simulation
from naive_dpo import random_features_case

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="Node.js (node) is not on PATH")

DRIVER = Path(__file__).resolve().parent / "js_stack_driver.js"
TOL = 1e-12
PRESETS = [pid for pid, _, err in list_presets() if err is None]
CELL_KEYS = ("kl", "loss", "kl_opt")
FLAG_KEYS = ("diverged", "oscillating")


def node(jobs: list[dict]) -> list[dict]:
    text = json.dumps({"table": table_json(), "jobs": jobs}, allow_nan=False)
    p = subprocess.run([NODE, str(DRIVER)], capture_output=True, text=True, timeout=600,
                       input=text)
    assert p.returncode == 0, p.stderr[-4000:]
    return json.loads(p.stdout)


def node_soon(jobs: list[dict]) -> Future:
    """``node(jobs)`` in a thread: the twin runs in Node while this process computes
    NumPy's side (independent of it until the two are compared); ``.result()`` is its
    reply, or raises what ``node`` raised."""
    pool = ThreadPoolExecutor(1)
    try:
        return pool.submit(node, jobs)
    finally:
        pool.shutdown(wait=False)


def config(s) -> dict:
    """The config line plus the scenario's steps, as the offline page's scenarios carry it."""
    return {**s.config(), "steps": s.steps}


def close(a, b) -> bool:
    if a is None or b is None or isinstance(a, (bool, str)) or isinstance(b, (bool, str)):
        return a == b and type(a) is type(b)
    return abs(a - b) <= TOL * max(1.0, abs(a))


def differences(a, b, path="", skip=()) -> list[str]:
    """Where two replies differ: structure exactly, numbers to TOL (absolute, or relative
    above 1 in size)."""
    if path in skip:
        return []
    if isinstance(a, dict):
        if not isinstance(b, dict) or set(a) != set(b):
            return [f"{path}: keys {sorted(a)} vs {sorted(b) if isinstance(b, dict) else b}"]
        return [d for k in a for d in differences(a[k], b[k], f"{path}.{k}", skip)]
    if isinstance(a, list):
        if not isinstance(b, list) or len(a) != len(b):
            return [f"{path}: {a!r:.60} vs {b!r:.60}"]
        return [d for i, (x, y) in enumerate(zip(a, b))
                for d in differences(x, y, f"{path}[{i}]", skip)]
    return [] if close(a, b) else [f"{path}: {a!r} vs {b!r}"]


# -- the Python replies against independent computations ----------------------------------
def test_frontier_reply_is_the_tilt_and_the_runs():
    """The curve's points are pi_b = softmax(log pi_ref + r*/b) computed here by hand at
    the b it reaches each KL; the sweep's end points are single Simulation runs."""
    s = load_scenario("mislabel")                      # it states its true reward
    sim = Simulation(s)
    rep = fr.frontier_reply(sim, {"op": "frontier", "points": 4000})
    json.dumps(rep, allow_nan=False)
    assert rep["source"] == "scenario" and len(rep["prompts"]) == s.n_prompts
    r = np.asarray(s.true_reward, float)
    for x, p in enumerate(rep["prompts"]):
        lp = sim.logp_ref[x]
        assert p["finite"] and p["r"] == r[x].tolist() and len(p["kl"]) == 4002
        ref = np.exp(lp)
        assert p["start"] == pytest.approx(ref @ r[x], abs=1e-15)
        assert p["best"] == r[x].max() and p["kl_ceiling"] == pytest.approx(-lp.min())
        for b in (0.3, 1.0, 4.0):                       # a tilt by hand lies on the curve
            w = ref * np.exp(r[x] / b)
            pi = w / w.sum()
            kl, e = float(pi @ np.log(pi / ref)), float(pi @ r[x])
            assert np.interp(kl, p["kl"], p["reward"]) == pytest.approx(e, abs=1e-4)
    sweep = rep["sweep"]
    assert sweep["lr_beta2"] == s.learning_rate * s.beta ** 2
    for i in (0, 6, 12):
        b = sweep["beta"][i]
        one = Simulation(s.with_settings(beta=b, learning_rate=sweep["learning_rate"][i],
                                         events=()))
        one.advance(sweep["steps"])
        for x in range(s.n_prompts):
            assert sweep["kl"][i][x] == pytest.approx(one.record.kl[x], abs=1e-12)
            assert sweep["reward"][i][x] == pytest.approx(one.record.probs[x] @ r[x],
                                                          abs=1e-12)


def test_sweep_reply_cells_are_single_runs():
    s = load_scenario("tie")
    sim = Simulation(s)
    sim.flip(0)
    rep = sw.sweep_reply(sim, {"op": "sweep", "steps": 50, "n_beta": 5, "n_lr": 4})
    json.dumps(rep, allow_nan=False)
    assert rep["steps"] == 50 and len(rep["kl"]) == 20 and rep["moved"]
    for i, b in enumerate(rep["beta"]):
        for j, lr in enumerate(rep["learning_rate"]):
            one = Simulation(s.with_settings(beta=b, learning_rate=lr, events=()))
            one.flip(0)
            one.advance(50)
            c = i * 4 + j
            assert rep["kl"][c] == pytest.approx(one.record.kl.mean(), abs=1e-12)
            assert rep["loss"][c] == pytest.approx(one.record.loss, abs=1e-12)
    with pytest.raises(ValueError, match="steps"):
        sw.sweep_reply(sim, {"op": "sweep", "steps": 0})


# -- the twins ------------------------------------------------------------------------------
def test_frontier_twin_agrees_on_every_preset():
    jobs = [{"config": config(load_scenario(pid)), "cmd": {"op": "frontier"}}
            for pid in PRESETS]
    for pid, out in zip(PRESETS, node(jobs)):
        py = fr.frontier_reply(Simulation(load_scenario(pid)), {"op": "frontier"})
        assert "reply" in out, (pid, out)
        assert differences(py, out["reply"]) == [], pid


class _Noisy(sw.RunStack):
    """A RunStack whose every update is moved by a few ulps, randomly (seeded); ``sign``
    -1 moves it by the opposite noise (a run that sits on an unstable symmetric point
    leaves it the other way: which way is decided by the first rounding)."""

    rng = np.random.default_rng(0)
    size = 2.0 ** -52
    sign = 1.0

    def step(self, theta, *a, **k):
        t = super().step(theta, *a, **k)
        noise = self.rng.choice([-1.0, 1.0], size=t.shape) * (self.sign * self.size)
        return t * (1.0 + noise)


def _cells(res) -> dict:
    return {"kl": res.quantity("kl").ravel(), "loss": res.loss.ravel(),
            "kl_opt": res.quantity("kl_opt").ravel(), "diverged": res.diverged.ravel(),
            "oscillating": res.oscillating.ravel()}


def _sensitive(sim, steps: int) -> np.ndarray:
    """(B * L,) bool: the cells whose NumPy numbers move by more than TOL (or whose flags
    change) when every update is perturbed by one or sixteen ulps, each noise and its
    opposite: four runs, the union."""
    s = sim.scenario
    clean = _cells(sw.run_sweep(sim.pairs, s.ref_logits, s.start_params(), steps,
                                sim.loss_spec, model=s.model))
    out = np.zeros(sw.N_BETA * sw.N_LR, bool)
    orig = sw.RunStack
    try:
        sw.RunStack = _Noisy
        for seed, size, sign in ((1, 2.0 ** -52, 1.0), (1, 2.0 ** -52, -1.0),
                                 (2, 2.0 ** -48, 1.0), (2, 2.0 ** -48, -1.0)):
            _Noisy.rng = np.random.default_rng(seed)
            _Noisy.size, _Noisy.sign = size, sign
            noisy = _cells(sw.run_sweep(sim.pairs, s.ref_logits, s.start_params(), steps,
                                        sim.loss_spec, model=s.model))
            for k in CELL_KEYS:
                a, b = clean[k], noisy[k]
                out |= ~((np.isnan(a) & np.isnan(b)) |
                         (np.abs(a - b) <= TOL * np.maximum(1.0, np.abs(a))))
            for k in FLAG_KEYS:
                out |= clean[k] != noisy[k]
    finally:
        sw.RunStack = orig
    return out


def check_sweep(py: dict, js: dict, sensitive: np.ndarray, name: str) -> int:
    """Every cell NumPy reproduces under rounding noise agrees to TOL, flags exactly; the
    rest of the reply too (boundary: the columns without a sensitive cell). Returns how
    many cells were held to it."""
    L = len(py["learning_rate"])
    keep = ~sensitive
    for k in CELL_KEYS + FLAG_KEYS:
        for c in np.flatnonzero(keep):
            assert close(py[k][c], js[k][c]), (name, k, divmod(int(c), L), py[k][c], js[k][c])
    cols = ~sensitive.reshape(-1, L).any(axis=1)
    for i in np.flatnonzero(cols):
        assert close(py["boundary"][i], js["boundary"][i]), (name, "boundary", i)
    skip = {f".{k}" for k in CELL_KEYS + FLAG_KEYS + ("boundary",)}
    if sensitive.any():
        skip.add(".moved")
    assert differences(py, js, skip=skip) == [], name
    return int(keep.sum())


@pytest.mark.parametrize("part", range(3))
def test_sweep_twin_agrees_on_every_preset(part):
    """In three parts of the presets (every third), so two test workers share the work."""
    presets = PRESETS[part::3]
    jobs = [{"config": config(load_scenario(pid)), "cmd": {"op": "sweep"}} for pid in presets]
    twin = node_soon(jobs)
    ours = {}
    for pid in presets:
        sim = Simulation(load_scenario(pid))
        py = sw.sweep_reply(sim, {"op": "sweep"})
        ours[pid] = py, _sensitive(sim, py["steps"])
    held = {}
    for pid, out in zip(presets, twin.result()):
        py, sens = ours[pid]
        assert "reply" in out, (pid, out)
        held[pid] = check_sweep(py, out["reply"], sens, pid)
        # the cells no implementation can pin down are a small part of the map, and
        # lie where plain gradient descent is unstable or at its edge
        assert sens.mean() < 0.08, (pid, sens.sum())
    assert sum(held.values()) > 0.95 * 4096 * len(presets)


@pytest.mark.parametrize("case", [
    ("mislabel", [{"flip": 1}], {}),
    ("align", [{"set": {"loss_type": "ipo"}}], {}),
    ("fix-label", [{"flip": 0}, {"set": {"loss_type": "robust", "label_smoothing": 0.1}}],
     {}),
    ("tie", [{"set": {"adaptive_weight": False}}], {}),
    ("mislabel", [{"flip": 1}, {"set": {"loss_type": "hinge", "beta": 2.0}}], {}),
])
def test_twins_agree_after_a_flip_and_a_setting(case):
    pid, actions, _ = case
    s = load_scenario(pid)
    sim = Simulation(s)
    sim.advance(7)                     # the step does not matter, the rows and loss do
    for a in actions:
        if "flip" in a:
            sim.flip(a["flip"])
        else:
            sim.set(**a["set"])
    cmds = [{"op": "frontier"}, {"op": "sweep", "steps": 120}]
    jobs = [{"config": config(s), "advance": 7, "actions": actions, "cmd": c, "via": via}
            for c in cmds for via in ("sim", "snapshot")]
    twin = node_soon(jobs)
    py_f = fr.frontier_reply(sim, cmds[0])
    py_s = sw.sweep_reply(sim, cmds[1])
    sens = _sensitive(sim, 120)
    for job, out in zip(jobs, twin.result()):
        assert "reply" in out, out
        if job["cmd"]["op"] == "frontier":
            assert differences(py_f, out["reply"]) == [], job
        else:
            assert check_sweep(py_s, out["reply"], sens, pid) > 0.9 * 4096
    # the flip and the setting reached the stacks: they differ from the scenario's own
    base = fr.frontier_reply(Simulation(s), cmds[0])
    base_s = sw.sweep_reply(Simulation(s), cmds[1])
    assert differences(base, py_f) != [] or differences(base_s, py_s) != []


def _random_features(seed: int):
    """A random features scenario (tests/naive_dpo.random_features_case), K <= 6."""
    rng = np.random.default_rng(900 + seed)
    while True:
        P, K, rows, ref, phi, theta0, beta = random_features_case(rng)
        if K <= 6:
            break
    prompts = tuple(Prompt(f"p{x}", tuple(f"r{k}" for k in range(K))) for x in range(P))
    return Scenario(id=f"features-{seed}", title="f", watch="", prompts=prompts,
                    ref_logits=ref, rows=tuple(Row(*r) for r in rows), beta=beta,
                    learning_rate=0.5, adaptive_weight=True, steps=150,
                    model=FeaturesModel(phi, theta0))


@pytest.mark.parametrize("case", [
    ("similar-replies", [{"flip": 0}, {"set": {"loss_type": "robust", "label_smoothing": 0.1}}]),
    ("shared-prompts", [{"set": {"adaptive_weight": False}}]),
    ("random", [{"flip": 0}, {"set": {"loss_type": "ipo", "beta": 0.8}}]),
])
def test_twins_agree_on_a_features_model(case):
    """The stacks on a features model: theta (d) per run, made into logits and the
    gradient pulled back run by run. The frontier and the sweep map from the simulation
    and from its snapshot (what a Worker is sent) agree with NumPy's to 1e-12 (the cells
    NumPy cannot pin down under rounding noise aside); the sweep says it predicts no limit
    on a features model."""
    pid, actions = case
    s = _random_features(1) if pid == "random" else load_scenario(pid)
    assert s.model.kind == "features"
    sim = Simulation(s)
    sim.advance(5)
    for a in actions:
        sim.flip(a["flip"]) if "flip" in a else sim.set(**a["set"])
    cmds = [{"op": "frontier"}, {"op": "sweep", "steps": 120}]
    jobs = [{"config": config(s), "advance": 5, "actions": actions, "cmd": c, "via": via}
            for c in cmds for via in ("sim", "snapshot")]
    twin = node_soon(jobs)
    py_f = fr.frontier_reply(sim, cmds[0])
    py_s = sw.sweep_reply(sim, cmds[1])
    assert py_s["limit"]["kind"] is None and "features" in py_s["limit"]["why"]
    sens = _sensitive(sim, 120)
    for job, out in zip(jobs, twin.result()):
        assert "reply" in out, out
        if job["cmd"]["op"] == "frontier":
            assert differences(py_f, out["reply"]) == [], job
        else:
            assert check_sweep(py_s, out["reply"], sens, pid) > 0.9 * 4096


def test_a_one_hot_features_stack_is_the_table_s():
    """One-hot features (theta_0 = the start logits less log pi_ref) make the table's
    runs: the twin's sweep map on the features model equals its map on the table to
    1e-12 in every cell NumPy pins down, an independent check of the pullback."""
    s = load_scenario("align")
    m = one_hot(s.n_prompts, s.n_replies)
    init = s.start_logits() - log_softmax(np.asarray(s.ref_logits, dtype=float))
    f = s.with_settings(init_logits=None, model=FeaturesModel(m.features, init.reshape(-1)))
    cmd = {"op": "sweep", "steps": 60, "n_beta": 16, "n_lr": 16}
    table, feats = (out["reply"] for out in node([{"config": config(x), "cmd": cmd}
                                                  for x in (s, f)]))
    calm = [not (table[k][c] or feats[k][c]) for k in FLAG_KEYS for c in range(256)]
    calm = np.array(calm).reshape(2, 256).all(axis=0)
    worst = 0.0
    for k in CELL_KEYS:
        for c in np.flatnonzero(calm):
            a, b = table[k][c], feats[k][c]
            assert (a is None) == (b is None), (k, c)
            if a is not None:
                worst = max(worst, abs(a - b) / max(1.0, abs(a)))
    print("one-hot features against the table, calm cells:", calm.sum(), "worst", worst)
    assert calm.sum() > 100 and worst <= 1e-12


def test_the_comparison_can_fail():
    """The checks above see a change far below any drawn difference."""
    sim = Simulation(load_scenario("align"))
    py = fr.frontier_reply(sim, {"op": "frontier", "points": 10})
    other = json.loads(json.dumps(py))
    other["prompts"][1]["kl"][5] += 1e-10
    assert differences(py, other) == [".prompts[1].kl[5]: " + repr(py["prompts"][1]["kl"][5])
                                      + " vs " + repr(other["prompts"][1]["kl"][5])]
    other = json.loads(json.dumps(py))
    other["source"] = "scenario"
    assert len(differences(py, other)) == 1
    py_s = sw.sweep_reply(sim, {"op": "sweep", "steps": 30, "n_beta": 3, "n_lr": 3})
    bad = json.loads(json.dumps(py_s))
    bad["oscillating"][4] = not bad["oscillating"][4]
    with pytest.raises(AssertionError):
        check_sweep(py_s, bad, np.zeros(9, bool), "flag")


def test_bad_commands_are_refused_by_both():
    s = load_scenario("align")
    outs = node([{"config": config(s), "cmd": {"op": "sweep", "steps": 0}},
                 {"config": config(s), "cmd": {"op": "frontier", "points": 1}}])
    assert "steps must be a whole number from 1 to 1000" in outs[0]["error"]
    assert "points must be a whole number from 2 to 4000" in outs[1]["error"]
    with pytest.raises(ValueError, match="points"):
        fr.frontier_reply(Simulation(s), {"op": "frontier", "points": 1})


if __name__ == "__main__":                       # how long the twin takes, per preset
    for pid, out in zip(PRESETS, node([{"config": config(load_scenario(p)),
                                        "cmd": {"op": "sweep"}} for p in PRESETS])):
        print(f"{pid:22s} sweep {out['ms']:.0f} ms")
