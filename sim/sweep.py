"""A sweep over beta and the learning rate: a grid of runs, all at once, and where plain
gradient descent stops being stable.

Every cell of the grid is one run of the scenario's data with that beta and learning
rate, from the scenario's start, for ``steps`` updates (no scripted events: the rows as
they stand). ``stack.RunStack`` updates the whole grid together, and each cell is
bit-identical to the same run alone (``tests/test_sweep.py`` holds a few cells to
``Simulation`` runs). What a cell reports after its last update:

- ``kl``: KL(pi || pi_ref) per prompt (``quantity("kl")`` is the mean over the prompts);
- ``loss``: the mean loss in force over all judgements, as the run records it;
- ``kl_opt``: KL(pi || pi*) per prompt, pi* the RLHF optimum for the cell's beta
  (``rlhf.optimum``; NaN on prompts without a finite one; ``quantity("kl_opt")`` is the
  mean over the prompts that have one).

**Instability, measured.** A cell is *unstable* when its run shows it, not by a formula:
its loss or its logits stopped being finite, or its loss ends higher than it started
(``diverged``), or its loss still rises at some update among the last ``window`` ones
(``oscillating``: stable gradient descent on a smooth loss lowers the loss at every step
once it is in the basin of the minimum, so a rise this late means the steps overshoot).

**Instability, predicted.** Gradient descent with learning rate lr settles at a minimum
only if lr < 2 / lambda, lambda the largest curvature (Hessian eigenvalue) of the mean loss
there. On a table of logits the Hessian of every loss here is a sum over rows of
``(a+b)/n * c_row * (e_c - e_r)(e_c - e_r)^T`` (the softmax normaliser cancels in h):

- DPO (``sigmoid``): ``c_row = beta^2 q(1-q)``, q the row's sigma(u) at rest (its vote
  share on data without cycles; where ``sim.rest`` puts it in general, block by block, a
  drifting row counting 0), so the limit is ``lr * beta^2 < 2 / lambda_max(C)``, a line of
  slope -2 on log axes. The same for ``robust``, with q the rest point of its corrected
  votes.
- ``ipo``: ``c_row = 2``, whatever beta: the limit is ``lr < 1 / lambda_max(L)``.
- ``hinge`` has a kink and no curvature; the bare margin (weight off) none at all: no
  limit of this kind (``stability_limit`` says so).

``stability_limit`` computes the prediction; ``tests/test_sweep.py`` checks the measured
boundary against it.

Pure NumPy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import rest
from .losses import DPO, LossSpec
from .model import TABLE
from .numerics import log_softmax
from .pairs import Pairs
from .rlhf import fit_bradley_terry, optimum
from .stack import RunStack

#: The grid: beta and the learning rate over the page's slider ranges, log-spaced, each
#: value rounded to 3 significant digits (a clicked cell gives a tidy setting).
N_BETA = 64
N_LR = 64
BETA_RANGE = (0.05, 5.0)
LR_RANGE = (0.01, 10.0)
#: The most updates a sweep runs. 64 x 64 runs take about 0.35 to 0.4 ms per update on the
#: project's 2-core machine (benchmarks/bench_sweep.py: 0.36 to 0.41 s for 1,000 updates),
#: so a sweep stays under half a second; a scenario with more steps is swept for this many
#: (the view says so). The presets have 300 or 400 steps: they are swept in full.
MAX_STEPS = 1000
#: The last updates whose loss is watched for a rise (an oscillation).
WINDOW = 16
#: A rise of the loss counts only above rounding: this much relative to the loss's size.
RISE_TOL = 1e-9

QUANTITIES = {
    "kl": "final KL(π ‖ π_ref), mean over prompts",
    "loss": "final loss",
    "kl_opt": "final KL(π ‖ π*), distance to the RLHF optimum (mean over prompts)",
}


def grid_values(lo: float, hi: float, n: int) -> np.ndarray:
    """n values from lo to hi, evenly spaced on a log scale, each rounded to 3 significant
    digits."""
    return np.array([float(f"{v:.3g}") for v in np.geomspace(lo, hi, n)])


def cell_edges(values: np.ndarray) -> np.ndarray:
    """(n + 1,) edges of cells centred (geometrically) on ``values``: the geometric means
    of neighbours, and the outer edges as far out again."""
    v = np.log(np.asarray(values, dtype=float))
    mid = 0.5 * (v[1:] + v[:-1])
    return np.exp(np.concatenate(([v[0] - (mid[0] - v[0])], mid,
                                  [v[-1] + (v[-1] - mid[-1])])))


def sweep_steps(scenario_steps: int) -> int:
    """The updates a sweep runs for a scenario: its own ``steps``, at most ``MAX_STEPS``."""
    return int(min(int(scenario_steps), MAX_STEPS))


@dataclass(frozen=True)
class Sweep:
    """A grid of runs after ``steps`` updates; arrays indexed [beta, learning rate].

    - ``beta`` (B,), ``learning_rate`` (L,): the grid.
    - ``kl`` (B, L, P): KL(pi || pi_ref); ``kl_opt`` (B, L, P): KL(pi || pi*), NaN where
      the prompt has no finite optimum (or the run is not finite).
    - ``loss0`` (B, L): the loss at step 0; ``loss`` (B, L): at the last step.
    - ``diverged``, ``oscillating``, ``unstable`` (B, L) bool (module docstring).
    - ``theta`` (B, L, P, K): the logits reached; ``start`` (P, K): the logits every run
      began from.
    - ``params`` (B, L, *): the parameters reached (the logits again on a table; theta
      (d,) of each run on a features model).
    """

    beta: np.ndarray
    learning_rate: np.ndarray
    steps: int
    kl: np.ndarray
    kl_opt: np.ndarray
    loss0: np.ndarray
    loss: np.ndarray
    diverged: np.ndarray
    oscillating: np.ndarray
    theta: np.ndarray
    start: np.ndarray
    params: np.ndarray | None = None

    @property
    def unstable(self) -> np.ndarray:
        return self.diverged | self.oscillating

    @property
    def moved(self) -> np.ndarray:
        """(B, L) bool: the run left its start (a balanced start, whose pulls cancel
        exactly, never moves, so it cannot overshoot either)."""
        return (self.theta != self.start).any(axis=(2, 3))

    def quantity(self, name: str) -> np.ndarray:
        """(B, L) the value a cell shows: ``kl`` and ``kl_opt`` as means over prompts
        (``kl_opt`` over the prompts with a finite optimum; NaN if none has one)."""
        if name == "kl":
            return self.kl.mean(axis=-1)
        if name == "loss":
            return self.loss
        if name == "kl_opt":
            ok = np.isfinite(self.kl_opt)
            n = ok.sum(axis=-1)
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.where(n > 0, np.where(ok, self.kl_opt, 0.0).sum(axis=-1) / n,
                                np.nan)
        raise KeyError(f"unknown quantity {name!r}; known: {', '.join(QUANTITIES)}")

    def first_unstable(self) -> np.ndarray:
        """(B,) per beta, the index of the smallest learning rate from which every larger
        one is unstable too (len(learning_rate) where the column is stable at the top)."""
        L = len(self.learning_rate)
        out = np.full(len(self.beta), L)
        for i, col in enumerate(self.unstable):
            j = L
            while j > 0 and col[j - 1]:
                j -= 1
            out[i] = j
        return out

    def boundary(self) -> np.ndarray:
        """(B,) per beta, the learning rate where instability starts: the geometric mean
        of the last stable and the first unstable learning rate of the column (NaN if the
        column is stable throughout or unstable throughout)."""
        j = self.first_unstable()
        lr = self.learning_rate
        out = np.full(len(self.beta), np.nan)
        ok = (j > 0) & (j < len(lr))
        out[ok] = np.sqrt(lr[j[ok] - 1] * lr[j[ok]])
        return out


def mean_loss(theta: np.ndarray, beta: np.ndarray, pairs: Pairs, logp_ref: np.ndarray,
              loss) -> np.ndarray:
    """The mean loss over all judgements of many runs at once: ``theta`` (R, P, K),
    ``beta`` (R,); returns (R,)."""
    logp = log_softmax(theta)
    ratio = logp - logp_ref
    x, c, r = pairs.prompt, pairs.chosen, pairs.rejected
    b = np.asarray(beta, dtype=float)[:, None]
    u = b * (ratio[:, x, c] - ratio[:, x, r])                      # (R, N)
    fwd, bwd = loss.pair_terms(u, b)[:2]
    plan = pairs.plan
    return (fwd * plan.vc + bwd * plan.vr).sum(axis=-1)


def _psi_terms(logp: np.ndarray, log_star: np.ndarray) -> np.ndarray:
    """pi*(y) psi(d), d = log pi - log pi*, psi(d) = e^d (d - 1) + 1, elementwise and
    without cancellation near d = 0 (the same terms as ``rlhf.kl_to_optimum``)."""
    star = np.exp(log_star)
    d = logp - log_star
    out = np.empty(np.broadcast_shapes(d.shape, star.shape))
    small = np.abs(d) < 0.0625
    acc = np.zeros(d.shape)
    for n in range(10, 1, -1):                     # psi(d) = sum_{n>=2} (n-1) d^n / n!
        acc = acc * d + (n - 1) / math.factorial(n)
    big = d > 30.0
    with np.errstate(over="ignore", invalid="ignore"):
        mid = star * (d * np.exp(np.minimum(d, 30.0)) - np.expm1(np.minimum(d, 30.0)))
        far = np.exp(logp) * (d - 1.0) + star
    out = np.where(small, star * d * d * acc, np.where(big, far, mid))
    return np.where(np.exp(logp) == 0.0, star, out)


def kl_to_optimum(theta: np.ndarray, log_star: np.ndarray) -> np.ndarray:
    """KL(pi || pi*) per prompt of many policies: ``theta`` (..., P, K) logits,
    ``log_star`` log pi* broadcastable to it (NaN rows where there is no optimum)."""
    with np.errstate(invalid="ignore"):
        return _psi_terms(log_softmax(theta), log_star).sum(axis=-1)


def run_sweep(pairs: Pairs, ref_logits: np.ndarray, start_params: np.ndarray, steps: int,
              loss: LossSpec = DPO, betas=None, learning_rates=None,
              window: int = WINDOW, model=TABLE) -> Sweep:
    """Run every (beta, learning rate) of the grid for ``steps`` updates from
    ``start_params`` (the parameters of ``model``: start logits for a table) on ``pairs``
    with the loss in force ``loss``, all at once (``RunStack``)."""
    betas = grid_values(*BETA_RANGE, N_BETA) if betas is None else np.asarray(betas, float)
    lrs = grid_values(*LR_RANGE, N_LR) if learning_rates is None else np.asarray(
        learning_rates, float)
    B, L = len(betas), len(lrs)
    P, K = pairs.n_prompts, pairs.n_replies
    stack = RunStack(pairs, ref_logits, model)
    logp_ref = stack.logp_ref
    lossfn = loss.loss
    beta = np.repeat(betas, L)                                     # run i*L + j
    lr = np.tile(lrs, B)
    shape = stack.params_shape
    params0 = np.asarray(start_params, dtype=float).reshape(shape)
    params = np.broadcast_to(params0, (B * L,) + shape).copy()
    theta0 = model.logits(params0, logp_ref)                      # the start logits
    steps = int(steps)
    window = min(int(window), steps)
    with np.errstate(all="ignore"):
        loss0 = mean_loss(stack.logits(params), beta, pairs, logp_ref, lossfn)
        watched = []
        for t in range(steps):
            if t >= steps - window:
                watched.append(mean_loss(stack.logits(params), beta, pairs, logp_ref,
                                         lossfn))
            params = stack.step(params, beta, lr, loss)
        params = np.ascontiguousarray(params)
        theta = np.ascontiguousarray(stack.logits(params))
        final = mean_loss(theta, beta, pairs, logp_ref, lossfn)
        watched.append(final)
        logp = log_softmax(theta)
        kl = np.maximum(np.sum(np.exp(logp) * (logp - logp_ref), axis=-1), 0.0)
        w = np.array(watched)                                      # (window + 1, R)
        rise = np.diff(w, axis=0) > RISE_TOL * np.maximum(1.0, np.abs(w[:-1]))
        finite = np.isfinite(theta).all(axis=(1, 2)) & np.isfinite(final)
        diverged = ~finite | ~(final <= loss0 + RISE_TOL * np.maximum(1.0, np.abs(loss0)))
        oscillating = finite & rise.any(axis=0)
        # the distance to pi*, one optimum per beta (the fit is shared)
        fit = fit_bradley_terry(pairs)
        log_star = np.stack([optimum(pairs, logp_ref, theta0, b, fit).log_probs
                             for b in betas])                      # (B, P, K)
        kl_opt = kl_to_optimum(theta.reshape(B, L, P, K), log_star[:, None])
    kl_opt = np.where(np.isfinite(kl_opt), kl_opt, np.nan)
    return Sweep(beta=betas, learning_rate=lrs, steps=steps,
                 kl=kl.reshape(B, L, P), kl_opt=kl_opt, loss0=loss0.reshape(B, L),
                 loss=final.reshape(B, L), diverged=diverged.reshape(B, L),
                 oscillating=oscillating.reshape(B, L), theta=theta.reshape(B, L, P, K),
                 start=theta0, params=params.reshape((B, L) + shape))


# -- the prediction -------------------------------------------------------------------------
@dataclass(frozen=True)
class Limit:
    """The largest stable step the curvature at rest allows (module docstring).

    - ``kind``: "lr*beta^2" (DPO, robust: stable while lr * beta^2 < ``value``), "lr"
      (IPO: stable while lr < ``value``, whatever beta) or None (no such limit).
    - ``value``: that bound (inf if the curvature at rest is 0: nothing settles there to
      overshoot).
    - ``why``: one line for people.
    """

    kind: str | None
    value: float
    why: str

    def lr(self, beta) -> np.ndarray:
        """The predicted largest stable learning rate at each beta."""
        beta = np.asarray(beta, dtype=float)
        if self.kind == "lr*beta^2":
            return self.value / beta ** 2
        if self.kind == "lr":
            return np.full(beta.shape, self.value)
        return np.full(beta.shape, np.inf)


def stability_limit(pairs: Pairs, loss: LossSpec = DPO, model=TABLE) -> Limit:
    """The learning rate above which plain gradient descent cannot settle, from the
    curvature of the mean loss at its resting point (module docstring), on a table."""
    loss = loss.loss
    if model.kind != "table":
        return Limit(None, math.inf, "no prediction on a features model: its curvature "
                                     "at rest depends on where the shared theta settles, "
                                     "so only the measured cells are shown")
    if loss.name == "bare_margin":
        return Limit(None, math.inf, "the bare margin is linear in the logits: no "
                                     "curvature, so no step is too large for it")
    if loss.name == "hinge":
        return Limit(None, math.inf, "the hinge has a kink and no curvature: once a "
                                     "pair's margin reaches u = 1, plain gradient steps "
                                     "overshoot it at any learning rate, so the hatched "
                                     "cells are the runs that got there within the steps")
    # the curvature at each row's rest point, block by block (sim.rest; a drifting row has
    # none): 2 / lambda as a learning rate at beta = 1, i.e. a bound on lr * beta^2 for DPO
    # and robust (their rest margins do not depend on beta), on lr for IPO (a quadratic
    # whose curvature does not depend on beta)
    limits = [r.lr_limit for r in rest.analyse(pairs, 1.0, 0.0, loss).rows
              if not math.isnan(r.lr_limit)]
    value = min(limits, default=math.inf)
    if loss.name == "ipo":
        return Limit("lr", value, "IPO is a quadratic whose curvature does not depend on beta")
    return Limit("lr*beta^2", value,
                 "the curvature of the DPO loss at rest is beta^2 q(1-q) per judgement, "
                 "q the pair's preference probability there")


# -- the page's reply ---------------------------------------------------------------------
def _num(v) -> float | None:
    """A float for JSON: None for NaN and the infinities (JSON has neither)."""
    v = float(v)
    return v if math.isfinite(v) else None


def _nums(a) -> list:
    return [_num(v) for v in np.asarray(a, dtype=float).ravel()]


def _whole(cmd: dict, name: str, default: int, lo: int, hi: int) -> int:
    v = cmd.get(name, default)
    if v is None:
        return default
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise ValueError(f"sweep: {name} must be a whole number from {lo} to {hi}, got {v!r}")
    return v


def sweep_reply(sim, cmd: dict | None = None) -> dict:
    """The beta x learning-rate map for the page, as JSON-able data: what ``{op:
    "sweep"}`` answers (docs/ui.md; the JavaScript twin is ``sweepReply`` in
    app/offline/stack.js, held to this within 1e-12 by tests/test_js_stack.py).

    ``sim``: the live ``simulation.Simulation``: its rows as they stand (flips applied) and
    its loss in force (``sim.loss_spec``); every cell runs from
    the scenario's start, so neither beta, the learning rate nor the step matter.
    ``cmd``: ``{"op": "sweep", "steps": n, "n_beta": B, "n_lr": L}``, each optional:
    ``steps`` (1 to ``MAX_STEPS``; default the scenario's steps, at most ``MAX_STEPS``),
    ``n_beta``, ``n_lr`` (2 to 128; default ``N_BETA``, ``N_LR``): the grid,
    ``grid_values`` over ``BETA_RANGE`` and ``LR_RANGE``.

    The reply (None for a number that is not finite):

    - ``op``: "sweep"; ``beta`` (B,), ``learning_rate`` (L,): the grid; ``steps``: updates
      run; ``scenario_steps``; ``max_steps`` (``MAX_STEPS``).
    - per cell, flat lists of B * L, cell (i, j) at ``i * L + j`` (beta i, learning rate
      j): ``kl``, ``loss``, ``kl_opt`` (``Sweep.quantity``), ``diverged``,
      ``oscillating`` (bools; unstable = either).
    - ``boundary`` (B,): ``Sweep.boundary`` (None where a column does not cross);
      ``moved``: some run left its start (``Sweep.moved``).
    - ``limit``: ``{kind, value, why}`` (``stability_limit``; value None if infinite).
    - ``kl_ceiling``: the mean over prompts of the largest KL a prompt can reach (the KL
      colour scale's top).
    - ``settings``: the loss in force, ``LossSpec.to_dict()``.
    """
    cmd = dict(cmd or {})
    s = sim.scenario
    steps = _whole(cmd, "steps", sweep_steps(s.steps), 1, MAX_STEPS)
    nb = _whole(cmd, "n_beta", N_BETA, 2, 128)
    nl = _whole(cmd, "n_lr", N_LR, 2, 128)
    betas = grid_values(*BETA_RANGE, nb)
    lrs = grid_values(*LR_RANGE, nl)
    res = run_sweep(sim.pairs, s.ref_logits, s.start_params(), steps, sim.loss_spec,
                    betas=betas, learning_rates=lrs, model=s.model)
    lim = stability_limit(sim.pairs, sim.loss_spec, s.model)
    ceiling = -np.asarray(sim.logp_ref, dtype=float).min(axis=-1)
    return {
        "op": "sweep",
        "beta": _nums(res.beta), "learning_rate": _nums(res.learning_rate),
        "steps": res.steps, "scenario_steps": int(s.steps), "max_steps": MAX_STEPS,
        "kl": _nums(res.quantity("kl")), "loss": _nums(res.quantity("loss")),
        "kl_opt": _nums(res.quantity("kl_opt")),
        "diverged": res.diverged.ravel().tolist(),
        "oscillating": res.oscillating.ravel().tolist(),
        "boundary": _nums(res.boundary()), "moved": bool(res.moved.any()),
        "limit": {"kind": lim.kind, "value": _num(lim.value), "why": lim.why},
        "kl_ceiling": float(np.mean(ceiling)),
        "settings": sim.loss_spec.to_dict(),
    }
