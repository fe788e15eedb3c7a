"""The reward-KL frontier of one prompt: the DPO paper's Figure 2, in miniature.

A policy pi on a prompt is a point ``(KL(pi || pi_ref), E_pi[r*])``: how far it moved from
the reference, and how good its replies are by a true reward r*. For a given KL no policy
scores higher than the exponential tilt of the reference,

    pi_b(y) = pi_ref(y) exp(r*(y) / b) / Z(b),        b > 0,

because pi_b maximises ``E_pi[r*] - b KL(pi || pi_ref)`` (the RLHF objective with beta =
b; docs/model.md, "The RLHF optimum"). So the curve ``b -> (KL(pi_b), E_{pi_b}[r*])``,
b running from infinity (pi_ref: KL 0) down to 0 (all the mass on the best replies), is
the upper edge of every point a policy can reach. It rises and flattens; its slope at b is
b itself (dE/db = -Var/b^2, dKL/db = -Var/b^3). Past the KL of its end (``kl_end``) the
best reward is already reached, so the frontier is flat there.

The true reward is the scenario's ``true_reward`` when it gives one, else the
Bradley-Terry fit to the votes (``rlhf.fit_bradley_terry``): then DPO with split votes
ends exactly on the curve, at b = beta, and a run trained on wrong labels ends below the
curve of the true reward. The fit is not finite where votes are unanimous (rows with no
way back): there is no default frontier on such a prompt.

How far a point is from the curve is measured in the plot's own coordinates, as the
vertical gap at the same KL: ``gap = best(KL) - E``, >= 0 up to rounding, where ``best``
finds the b with ``KL(pi_b) = KL`` by bisection (``frontier_reward``).

Pure NumPy; ``beta_sweep`` runs a stack of DPO runs (``stack.RunStack``), one per beta.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .losses import DPO, LossSpec
from .model import TABLE
from .numerics import log_softmax
from .pairs import Pairs
from .rlhf import fit_bradley_terry
from .stack import RunStack

#: Points of the drawn curve (log-spaced in b).
CURVE_POINTS = 400
#: The largest number of updates a beta sweep runs: its 13 runs take about 50 us per
#: update together (benchmarks/bench_sweep.py), so at most about a quarter of a second.
MAX_SWEEP_STEPS = 5_000
#: The betas of the sweep on the frontier: 13 values, 0.1 to 10, three per factor of ten.
SWEEP_BETAS = tuple(float(f"{b:.3g}") for b in np.geomspace(0.1, 10.0, 13))
#: Bisection steps on log b when a KL is turned back into a b (each halves the bracket).
_BISECT = 200


@dataclass(frozen=True)
class TrueReward:
    """The reward r* the frontier is drawn for.

    - ``reward`` (P, K): r*(y) per reply; NaN rows on prompts without one.
    - ``finite`` (P,) bool: the prompt has a finite r*.
    - ``source``: "scenario" (the scenario's ``true_reward``) or "bradley-terry" (the fit
      to the votes as they stand, flips applied).
    - ``linked`` (P,) bool: every reply of the prompt is in one group of rows, so the fit
      relates them all (with several groups, or replies no row names, the fit leaves
      their offsets open: each group is centred on 0 and a reply in no row gets 0).
      Always True for a scenario's own reward.
    """

    reward: np.ndarray
    finite: np.ndarray
    source: str
    linked: np.ndarray


def true_reward(pairs: Pairs, given: np.ndarray | None = None) -> TrueReward:
    """r* per prompt: ``given`` (the scenario's ``true_reward``, (P, K)) if not None, else
    the Bradley-Terry fit to ``pairs``."""
    P = pairs.n_prompts
    if given is not None:
        r = np.array(given, dtype=float).reshape(P, pairs.n_replies)
        ok = np.isfinite(r).all(axis=1)
        return TrueReward(np.where(ok[:, None], r, np.nan), ok, "scenario", np.ones(P, bool))
    fit = fit_bradley_terry(pairs)
    r = np.where(fit.finite[:, None], fit.reward, np.nan)
    linked = (fit.group == 0).all(axis=1)
    return TrueReward(r, fit.finite.copy(), "bradley-terry", linked)


# -- the curve ------------------------------------------------------------------------------
def tilt(logp_ref: np.ndarray, reward: np.ndarray, b) -> np.ndarray:
    """log pi_b = log softmax(log pi_ref + r / b) for one prompt (``logp_ref``, ``reward``
    of shape (K,)) and every b in ``b`` (any shape S); returns S + (K,)."""
    b = np.asarray(b, dtype=float)
    return log_softmax(np.asarray(logp_ref, float) + np.asarray(reward, float) / b[..., None])


def kl_and_reward(logp: np.ndarray, logp_ref: np.ndarray, reward: np.ndarray):
    """(KL(pi || pi_ref), E_pi[r]) of policies given by ``logp`` (..., K), each summed over
    the last axis; KL clipped at 0 from below (rounding at pi == pi_ref), as the engine
    records it."""
    p = np.exp(logp)
    kl = np.maximum(np.sum(p * (logp - logp_ref), axis=-1), 0.0)
    return kl, np.sum(p * reward, axis=-1)


@dataclass(frozen=True)
class Frontier:
    """The frontier of one prompt (module docstring).

    - ``b``, ``kl``, ``reward``: the curve, b decreasing, so KL and E increasing; its first
      point is pi_ref itself (b = inf, KL 0) and its last the limit b -> 0 (``kl_end``,
      ``best``).
    - ``kl_end``: KL of the limit b -> 0: -log of the reference mass on the best replies.
    - ``best``: max r*, the highest expected reward any policy reaches.
    - ``start``: E_{pi_ref}[r*].
    - ``logp_ref``, ``r``: what it was drawn for (K,).
    """

    b: np.ndarray
    kl: np.ndarray
    reward: np.ndarray
    kl_end: float
    best: float
    start: float
    logp_ref: np.ndarray
    r: np.ndarray

    @property
    def flat(self) -> bool:
        """r* is the same for every reply: the frontier is a single point."""
        return self.best == self.start and self.kl_end == 0.0


#: Rewards within this (relative) of the best are the best: a fitted reward that ties two
#: replies in exact arithmetic may split them by an ulp (LAPACK's fit against V8's), and
#: that ulp must not decide where the curve ends (log 1/(mass of both) or of one).
TIE_TOL = 1e-12


def _top(r: np.ndarray) -> np.ndarray:
    """The replies with the best reward (ties within ``TIE_TOL``)."""
    best = r.max()
    return r >= best - TIE_TOL * max(1.0, abs(float(best)))


def _b_range(logp_ref: np.ndarray, r: np.ndarray) -> tuple[float, float]:
    """A range of b from (almost) the reference to (almost) the limit b -> 0: the ends
    are within 1e-10 of KL 0 and of ``kl_end``."""
    spread = float(r.max() - r.min())
    top = r.max()
    below = r[~_top(r)]
    gap = float(top - below.max()) if below.size else spread
    ref_span = float(logp_ref.max() - logp_ref.min())
    # b_lo: every reply below the best has weight exp(-gap / b) * (ref ratio) < 1e-13
    b_lo = gap / (30.0 + ref_span + np.log(len(r)))
    # b_hi: KL ~ Var_ref(r) / (2 b^2) <= spread^2 / (8 b^2) < 1e-10
    b_hi = spread * 1e5
    return b_lo, b_hi


def frontier(logp_ref: np.ndarray, reward: np.ndarray, n: int = CURVE_POINTS) -> Frontier:
    """The frontier of one prompt: ``logp_ref`` = log pi_ref (K,), ``reward`` = r* (K,)."""
    lp = np.asarray(logp_ref, dtype=float)
    r = np.asarray(reward, dtype=float)
    if not np.isfinite(r).all():
        raise ValueError("the frontier needs a finite reward for every reply")
    p_ref = np.exp(lp)
    start = float(np.sum(p_ref * r))
    best = float(r.max())
    top = _top(r)
    kl_end = float(max(-np.log(p_ref[top].sum()), 0.0))
    if r.max() == r.min():
        return Frontier(np.array([np.inf]), np.zeros(1), np.array([start]), 0.0, best,
                        start, lp, r)
    b_lo, b_hi = _b_range(lp, r)
    b = np.geomspace(b_hi, b_lo, n)
    kl, e = kl_and_reward(tilt(lp, r, b), lp, r)
    b = np.concatenate(([np.inf], b, [0.0]))
    kl = np.concatenate(([0.0], kl, [kl_end]))
    e = np.concatenate(([start], e, [best]))
    # rounding must not make the drawn curve step back
    kl = np.maximum.accumulate(kl)
    e = np.maximum.accumulate(e)
    return Frontier(b, kl, e, kl_end, best, start, lp, r)


def frontier_reward(f: Frontier, kl) -> np.ndarray:
    """The highest E_pi[r*] of any policy with KL(pi || pi_ref) = ``kl`` (array): the
    curve's height at that KL, with the b of ``KL(pi_b) = kl`` found by bisection on
    log b; ``best`` from ``kl_end`` on (the flat part)."""
    kl = np.asarray(kl, dtype=float)
    out = np.full(kl.shape, f.best)
    if f.flat:
        return np.where(kl <= 0.0, f.start, out)
    inside = kl < f.kl_end
    if not inside.any():
        return out
    target = kl[inside]
    b_lo, b_hi = _b_range(f.logp_ref, f.r)
    lo = np.full(target.shape, np.log(b_lo) - 5.0)     # small b: KL above the target
    hi = np.full(target.shape, np.log(b_hi) + 5.0)     # large b: KL below it
    for _ in range(_BISECT):
        mid = 0.5 * (lo + hi)
        k, _e = kl_and_reward(tilt(f.logp_ref, f.r, np.exp(mid)), f.logp_ref, f.r)
        above = k > target
        lo = np.where(above, mid, lo)
        hi = np.where(above, hi, mid)
        if np.all(hi - lo < 1e-14):
            break
    _k, e = kl_and_reward(tilt(f.logp_ref, f.r, np.exp(0.5 * (lo + hi))), f.logp_ref, f.r)
    out[inside] = np.where(target <= 0.0, f.start, e)
    return out


def gap(f: Frontier, kl, reward) -> np.ndarray:
    """How far below the curve the points (kl, reward) lie, vertically, in reward units:
    ``frontier_reward(kl) - reward`` (>= 0 up to rounding; a point cannot lie above)."""
    return frontier_reward(f, kl) - np.asarray(reward, dtype=float)


def plot_distance(f: Frontier, kl, reward, kl_span: float, reward_span: float
                  ) -> np.ndarray:
    """The distance from points (kl, reward) to the drawn curve (its flat part included)
    in the plot's coordinates scaled to its axes (each axis's span counts 1): the nearest
    point of the curve, refined on the segment between its neighbours. A second measure
    beside ``gap``, which is vertical."""
    kl_real = np.atleast_1d(np.asarray(kl, float))
    kl = kl_real / kl_span
    e = np.atleast_1d(np.asarray(reward, float)) / reward_span
    far = max(f.kl_end, float(kl_real.max())) + kl_span        # the flat part, far enough
    cx = np.concatenate((f.kl, [far])) / kl_span
    cy = np.concatenate((f.reward, [f.best])) / reward_span
    ax, ay, bx, by = cx[:-1], cy[:-1], cx[1:], cy[1:]
    dx, dy = bx - ax, by - ay
    seg = np.maximum(dx * dx + dy * dy, 1e-300)
    t = np.clip(((kl[:, None] - ax) * dx + (e[:, None] - ay) * dy) / seg, 0.0, 1.0)
    px, py = ax + t * dx, ay + t * dy
    return np.sqrt(((kl[:, None] - px) ** 2 + (e[:, None] - py) ** 2).min(axis=1))


# -- points of runs -------------------------------------------------------------------------
def point(probs: np.ndarray, logp_ref: np.ndarray, reward: np.ndarray):
    """(KL(pi || pi_ref), E_pi[r*]) of a policy given by its probabilities (..., K); the KL
    from log pi = log(probs)."""
    probs = np.asarray(probs, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        logp = np.log(probs)
        terms = np.where(probs > 0, probs * (logp - logp_ref), 0.0)
    return np.maximum(terms.sum(axis=-1), 0.0), np.sum(probs * reward, axis=-1)


def path(kl: np.ndarray, probs: np.ndarray, reward: np.ndarray):
    """(KL, E_pi[r*]) of one prompt over a run: the recorded ``kl`` (n,) and ``probs``
    (n, K) of that prompt, and r* (K,)."""
    return np.asarray(kl, dtype=float), np.asarray(probs, dtype=float) @ np.asarray(reward,
                                                                                   float)


@dataclass(frozen=True)
class BetaSweep:
    """Where DPO runs with several betas are after ``steps`` updates.

    - ``beta`` (B,), ``learning_rate`` (B,): each run's settings.
    - ``probs`` (B, P, K), ``kl`` (B, P): the policies reached and their KL to pi_ref.
    - ``steps``: updates run.
    """

    beta: np.ndarray
    learning_rate: np.ndarray
    probs: np.ndarray
    kl: np.ndarray
    steps: int

    def reward(self, r: np.ndarray) -> np.ndarray:
        """(B, P) E_pi[r*] of each run's policy on each prompt."""
        return np.einsum("bpk,pk->bp", self.probs, np.asarray(r, dtype=float))


def beta_sweep(pairs: Pairs, ref_logits: np.ndarray, start_params: np.ndarray, betas,
               lr_beta2: float, steps: int, loss: LossSpec = DPO, model=TABLE) -> BetaSweep:
    """Run one DPO run per beta for ``steps`` updates, all at once (``RunStack``), from
    ``start_params`` (of ``model``: the start logits of a table) on the rows ``pairs``
    with the loss in force ``loss``. Each run's learning rate is ``lr_beta2 /
    beta^2``, as the leash presets choose theirs: the scaled margins u = beta * h then move
    at the same pace in every run, and only the distance from the reference differs."""
    beta = np.asarray(betas, dtype=float)
    lr = lr_beta2 / beta ** 2
    stack = RunStack(pairs, ref_logits, model)
    shape = stack.params_shape
    theta = np.broadcast_to(np.asarray(start_params, float).reshape(shape),
                            (len(beta),) + shape).copy()
    with np.errstate(all="ignore"):
        for _ in range(int(steps)):
            theta = stack.step(theta, beta, lr, loss)
        logp = log_softmax(stack.logits(theta))
        probs = np.exp(logp)
        kl = np.maximum(np.sum(probs * (logp - stack.logp_ref), axis=-1), 0.0)
    return BetaSweep(beta, lr, probs, kl, int(steps))


# -- the page's reply ---------------------------------------------------------------------
def _num(v) -> float | None:
    """A float for JSON: None for NaN and the infinities (JSON has neither)."""
    v = float(v)
    return v if np.isfinite(v) else None


def _nums(a) -> list:
    return [_num(v) for v in np.asarray(a, dtype=float).ravel()]


def frontier_reply(sim, cmd: dict | None = None) -> dict:
    """The frontier of every prompt and the beta sweep on it, for the page, as JSON-able
    data: what ``{op: "frontier"}`` answers (docs/ui.md; the JavaScript twin is
    ``frontierReply`` in app/offline/stack.js, held to this within 1e-12 by
    tests/test_js_stack.py).

    ``sim``: the live ``simulation.Simulation`` (its rows after flips, its loss in force).
    ``cmd``: ``{"op": "frontier", "points": n}``; ``points`` (optional, 2 to 4000, default
    ``CURVE_POINTS``): the curve's points between its ends. What the reply depends on: the
    scenario (its model too), the rows as they stand and the loss in force
    (``sim.loss_spec``), not beta, the learning rate or the step: the sweep runs with the
    scenario's own lr * beta^2, for the scenario's steps (at most ``MAX_SWEEP_STEPS``).

    The reply (None for a number that is not finite):

    - ``op``: "frontier"; ``source``: "scenario" or "bradley-terry" (``TrueReward``).
    - ``prompts``: one dict per prompt: ``finite`` (a finite r*: else no curve, every
      other field but ``linked`` and ``kl_ceiling`` None or empty), ``linked``, ``r`` (K,)
      r*, ``kl``, ``reward`` (the curve, ``points`` + 2 points, from pi_ref to the limit b
      -> 0), ``kl_end``, ``best``, ``start`` (``Frontier``), ``kl_ceiling`` (the largest
      KL the prompt can reach: the x axis), ``logp_ref`` (K,) (so a page can solve for the
      curve's height at any KL, ``frontier_reward``).
    - ``sweep``: ``beta`` (13), ``learning_rate`` (13), ``lr_beta2``, ``steps`` (updates
      run), ``scenario_steps``, ``kl`` and ``reward`` (13 lists of P: each run's end
      point per prompt; reward None on a prompt without a finite r*).
    - ``settings``: the loss in force, ``LossSpec.to_dict()``.
    """
    cmd = dict(cmd or {})
    n = cmd.get("points", CURVE_POINTS)
    if not isinstance(n, int) or isinstance(n, bool) or not 2 <= n <= 4000:
        raise ValueError(f"frontier: points must be a whole number from 2 to 4000, got {n!r}")
    s = sim.scenario
    pairs = sim.pairs
    lp = np.asarray(sim.logp_ref, dtype=float)
    tr = true_reward(pairs, s.true_reward)
    ceiling = -lp.min(axis=-1)
    prompts = []
    for x in range(pairs.n_prompts):
        if not tr.finite[x]:
            prompts.append({"finite": False, "linked": bool(tr.linked[x]), "r": None,
                            "kl": [], "reward": [], "kl_end": None, "best": None,
                            "start": None, "kl_ceiling": float(ceiling[x]),
                            "logp_ref": _nums(lp[x])})
            continue
        f = frontier(lp[x], tr.reward[x], n)
        prompts.append({"finite": True, "linked": bool(tr.linked[x]), "r": _nums(f.r),
                        "kl": _nums(f.kl), "reward": _nums(f.reward),
                        "kl_end": float(f.kl_end), "best": float(f.best),
                        "start": float(f.start), "kl_ceiling": float(ceiling[x]),
                        "logp_ref": _nums(lp[x])})
    lr_beta2 = float(s.learning_rate) * float(s.beta) ** 2
    steps = min(int(s.steps), MAX_SWEEP_STEPS)
    sw = beta_sweep(pairs, s.ref_logits, s.start_params(), SWEEP_BETAS, lr_beta2, steps,
                    sim.loss_spec, s.model)
    e = sw.reward(np.where(np.isfinite(tr.reward), tr.reward, 0.0))
    e = np.where(tr.finite[None, :], e, np.nan)
    return {
        "op": "frontier",
        "source": tr.source,
        "prompts": prompts,
        "sweep": {"beta": _nums(sw.beta), "learning_rate": _nums(sw.learning_rate),
                  "lr_beta2": lr_beta2, "steps": sw.steps, "scenario_steps": int(s.steps),
                  "kl": [_nums(row) for row in sw.kl], "reward": [_nums(row) for row in e]},
        "settings": sim.loss_spec.to_dict(),
    }
