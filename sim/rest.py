"""Where each preference row comes to rest, or that it never does: one decision for every
loss, the weight toggle, any votes and any shape of rows, from closed forms and the
structure of the rows (no simulation). The page's rest statements (the formula strip, the
ticks of the pulls chart, the reading levels) say only what ``rest_points`` says.

What rests is each reply: plain gradient descent stops when the pulls of all rows on every
reply cancel. A row's own two pulls balance there only when the rows of its group (the
rows linked to it through shared replies) form no cycle and none of them drifts.

The smooth losses (DPO's ``sigmoid``, ``robust``). A row with votes a:b contributes
``l(u) = a' softplus(-u) + b' softplus(u)`` in its margin u, with ``a' = a, b' = b`` for
DPO and, for robust DPO with label smoothing eps, the corrected votes
``a' = (a(1-eps) - b eps)/(1-2eps)``, ``b' = (b(1-eps) - a eps)/(1-2eps)`` (the same
function, ``losses.Robust``). Its derivative ``g = l'(u)`` runs over ``(-a', b')``. So the
gradients the rows of a group can make are the zonotope
``Z = {D^T g : -a' <= g <= b'}`` (D the rows' incidence matrix), which is the base
polytope of the cut function ``R(S)`` = the corrected votes by which a reply outside S
beats one inside S. Gradient descent's velocity tends to minus the point of Z nearest 0
(Pazy 1971 for the gradient flow); Fujishige's theorem reads that point off the minimisers
of ``R(S) - alpha |S|``, found here by trying every subset of the group's replies:

- replies split into *levels* of the nearest point; a row between two levels drifts at a
  steady pace (robust with a vote share beyond 1 - eps, say) and its pull tends to a
  bound of its range;
- within a level, a *tight* set (``R(S) = alpha |S|``, S neither empty nor the level)
  splits it further; a row across a tight set drifts ever more slowly (its margin grows
  like log t: DPO's unanimous rows);
- what remains are *blocks*: on each, the rows inside rest where the pulls on every reply
  cancel, given the limit pulls of the drifting rows around it. That is a strictly convex
  fit (Newton's method, as in ``rlhf``). A block touched by a slowly drifting row only
  approaches its rest point (the drifting row's pull fades like 1/t and keeps tugging);
  one touched by none, or only by steadily drifting rows whose pull is then constant,
  comes to rest.

IPO is a quadratic: each group rests at the weighted least-squares fit of its rows'
targets ``h = (2p - 1)/(2 beta)``. The hinge has a kink: a split row of a group without a
cycle never rests (its net pull is ``a - b`` below u = 1 and ``-b`` from 1 on, never 0), a
one-sided row stops pulling at its first step past u = 1; in a group with a cycle no claim
is made. With the weight off every row pulls at a constant rate, so a row moves at a
constant pace ``(D D^T (b - a))_i`` and rests only where that is exactly 0.

A rest point is reached only if the steps do not overshoot it: gradient descent settles at
a minimum only while ``lr * lambda < 2``, lambda the largest curvature there; a rest point
with ``lr * lambda >= 2`` is never reached (IPO then blows up). Where the curvature at rest
allows the step but the curvature on the way (at most ``n/4`` per judgement for DPO) does
not, the row is said to head for its rest point, without a claim that it gets there.

Whatever the loss, a group whose pulls cancel exactly now never moves (its gradient is 0).

On a features model (sim.model.FeaturesModel) every row moves the one theta all rows
share, so rows are coupled through the Gram matrix of their difference vectors
v = phi_w - phi_l, not through shared replies, and the per-group analysis above does not
apply. ``_features`` decides instead, with ``how = "theta"`` marking the cases whose
reason is the shared theta (app/ui/rest_text.js words them so):

- DPO's sigmoid and robust with every corrected vote >= 0: the judgements split into
  tight and separable ones (``rlhf.fit_features``). A row whose v has no component along
  the separable directions V_S rests at ``beta v . theta_fit`` (``rests``; ``approaches``
  when some separable row's fading pull reaches theta's tight part); a row with a
  component there drifts like log t to the side of ``u . v`` (u the max-margin direction;
  a separable row always drifts to its votes' side); a row whose v is orthogonal to u yet
  not to V_S gets no claim.
- IPO: theta rests at the weighted least-squares fit of the rows' targets in theta0 + V;
  rows whose targets conflict rest short of them (``how`` "theta").
- Robust with a corrected vote below 0 (a vote share beyond 1 - eps): theta's loss is a
  Bradley-Terry likelihood plus a linear term (``_robust_rest``); where Newton's method
  finds its minimiser, certified, every row rests there; otherwise no claim.
- The weight off: theta moves by a constant step, so row i's margin moves at the pace
  ``lr beta^2 / N sum_k (a_k - b_k) v_k . v_i``, and rests only where that is 0.
- The hinge: no claim.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from types import SimpleNamespace

import numpy as np

from . import rlhf as _rlhf
from .losses import Loss
from .numerics import sigmoid_pair
from .pairs import Pairs
from .rlhf import _newton

#: The most replies a group of linked rows may hold for the exact decision (every subset
#: of them is tried); a larger group gets no claim.
MAX_GROUP = 16
#: Relative tolerance of the structural decisions (votes are small numbers).
TOL = 1e-9

#: What a row does, and whether the page may state a margin for it:
#: rests: it comes to rest at ``u`` (data-u = u);
#: approaches: it heads for ``u`` and never reaches it (a row sharing a reply drifts);
#: drifts: its margin runs off for ever (``pace`` "slowing" or "steady");
#: swings: a split hinge row: it swings about u = 1 for ever;
#: overshoots: it has a rest point ``u``, but the steps overshoot it for ever;
#: (approaches, drifts, swings and overshoots: the page says "never rests", data-u = none)
#: stops: a one-sided hinge row stops pulling at its first step past u = 1 (no claim);
#: idle: a tied hinge row pulls neither way while -1 < u < 1 (no claim);
#: heads: heads for ``u``, but the learning rate may be too large to settle (no claim);
#: halts: IPO's steps overshoot on another group, so the run will stop (no claim);
#: open: no claim (the hinge in a group with a cycle; a group too large to decide).
KINDS = ("rests", "approaches", "drifts", "swings", "overshoots", "stops", "idle", "heads",
         "halts", "open")
NEVER = frozenset({"approaches", "drifts", "swings", "overshoots"})


@dataclass(frozen=True)
class RowRest:
    """Where one row ends (``KINDS``).

    - ``u``: the margin it rests at, approaches or would rest at; +-inf for a drifting row
      (the side its margin runs to); NaN where none;
    - ``how``: for ``rests``: "own" (its own two pulls balance there), "shared" (the
      pulls cancel per reply, not per row: a cycle, or rows carrying it along), "still"
      (nothing in its group moves: the pulls on every reply cancel now); for ``drifts``:
      "slowing" (ever more slowly, as log t) or "steady"; otherwise the rest point's
      "own" / "shared", or "";
    - ``via``: the row whose drift keeps it from resting (``approaches``), carries it
      along (``rests`` "shared"), or whose overshoot stops the run (``halts``); else -1;
    - ``cycle``: the rows of its group form a cycle (two rows on one pair count);
    - ``lr_limit``: the largest learning rate at which its rest point is stable (NaN where
      it has none);
    - ``pace``: a steadily drifting row's change of u per step in the long run (NaN
      otherwise).
    """

    kind: str
    u: float = math.nan
    how: str = ""
    via: int = -1
    cycle: bool = False
    lr_limit: float = math.nan
    pace: float = math.nan

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown kind {self.kind!r}; known: {', '.join(KINDS)}")
        for name in ("u", "lr_limit", "pace"):          # plain floats, whatever computed them
            object.__setattr__(self, name, float(getattr(self, name)))
        object.__setattr__(self, "via", int(self.via))

    @property
    def claim(self) -> float | None:
        """The margin stated for the page's ``data-u``: the rest margin, NaN for "never
        rests", None for no claim."""
        if self.kind == "rests":
            return self.u
        if self.kind in NEVER:
            return math.nan
        return None


# -- the rows' structure ------------------------------------------------------------------
def groups(pairs: Pairs) -> list[np.ndarray]:
    """The groups of linked rows: lists of row indices whose rows share replies (through
    other rows), in the order of their first row."""
    parent = list(range(len(pairs)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[tuple[int, int], int] = {}
    for i in range(len(pairs)):
        for y in (int(pairs.chosen[i]), int(pairs.rejected[i])):
            key = (int(pairs.prompt[i]), y)
            if key in owner:
                parent[find(i)] = find(owner[key])
            else:
                owner[key] = i
    out: dict[int, list[int]] = {}
    for i in range(len(pairs)):
        out.setdefault(find(i), []).append(i)
    return [np.array(v) for v in out.values()]


def _local(pairs: Pairs, rows: np.ndarray):
    """(replies of the group in order, chosen and rejected as indices into them)."""
    c, r = pairs.chosen[rows], pairs.rejected[rows]
    replies = np.unique(np.concatenate((c, r)))
    index = {int(y): k for k, y in enumerate(replies)}
    return (replies, np.array([index[int(y)] for y in c], dtype=int),
            np.array([index[int(y)] for y in r], dtype=int))


def _incidence(c, r, m) -> np.ndarray:
    D = np.zeros((len(c), m))
    D[np.arange(len(c)), c] += 1.0
    D[np.arange(len(c)), r] -= 1.0
    return D


def has_cycle(c, r, m) -> bool:
    """Do the rows (edges c-r on m replies) form a cycle? A group is a tree exactly when it
    has one row fewer than replies."""
    return len(c) > m - 1


def _lam(D, coef) -> float:
    """Largest eigenvalue of D^T diag(coef) D."""
    if len(coef) == 0:
        return 0.0
    return float(np.linalg.eigvalsh(D.T @ (coef[:, None] * D)).max())


# -- the smooth losses: levels, tight sets and blocks ------------------------------------
def _cut_values(c, r, lo, hi, m) -> np.ndarray:
    """f(S) for every subset S of the m replies (bit k of the index: reply k is in S):
    sum over rows of hi (chosen in S, rejected out) or -lo (rejected in, chosen out), the
    most the rows' pulls can push out of S."""
    idx = np.arange(1 << m)
    f = np.zeros(1 << m)
    for ci, ri, l_, h_ in zip(c, r, lo, hi):
        inc = (idx >> ci) & 1
        inr = (idx >> ri) & 1
        f += h_ * (inc & (1 - inr)) - l_ * (inr & (1 - inc))
    return f


def _decompose(f, m, c, r, scale):
    """Fujishige's decomposition of the cut function f on m replies.

    Returns (level, block, up, steady): per reply, alpha (the nearest point of Z to 0, read
    per reply) and the index of its block; per row, whether its margin runs up (+inf) and
    whether at a steady pace, for the rows the decomposition cuts (False for the rows
    inside a block). The ground set is split at the maximal minimiser T of
    ``f(S) - alpha |S|`` while its minimum is below 0 (T holds the lower levels: a row
    from T out of it runs up, at a steady pace), then at tight sets (minimum 0: the row
    runs up as slowly as log t)."""
    pop = np.array([bin(s).count("1") for s in range(1 << m)])
    level = np.zeros(m)
    block = np.zeros(m, dtype=int)
    up = np.zeros(len(c), dtype=bool)
    steady = np.zeros(len(c), dtype=bool)
    n_blocks = 0
    tol = TOL * scale
    every = np.arange(1 << m)
    work = [(0, (1 << m) - 1)]       # minors (A, B): ground set B \ A, h(T) = f(A|T) - f(A)
    while work:
        A, B = work.pop()
        ground = B & ~A
        size = bin(ground).count("1")
        alpha = (f[B] - f[A]) / size
        subs = every[(every & ~ground) == 0]
        val = f[A | subs] - f[A] - alpha * pop[subs]
        low = val.min()
        T = None
        if low < -tol:                      # two levels: split at the maximal minimiser
            T, pace = int(np.bitwise_or.reduce(subs[val <= low + tol])), True
        else:
            tight = subs[(val <= tol) & (subs != 0) & (subs != ground)]
            if len(tight):                  # one level: split at a tight set
                T, pace = int(tight[np.argmin(pop[tight])]), False
        if T is None:
            for k in range(m):
                if ground >> k & 1:
                    level[k], block[k] = alpha, n_blocks
            n_blocks += 1
            continue
        for i, (ci, ri) in enumerate(zip(c, r)):
            if ground >> ci & 1 and ground >> ri & 1 and (T >> ci & 1) != (T >> ri & 1):
                up[i], steady[i] = bool(T >> ci & 1), pace
        work += [(A, A | T), (A | T, B)]
    return level, block, up, steady


def _block_fit(c, r, a, b, push, m, free):
    """The margins where the pulls on every reply of a block cancel: maximise the
    Bradley-Terry likelihood of its rows less ``push . w`` over w on the block's replies
    (``free``), each Newton step keeping their sum fixed (``rlhf._newton``)."""
    w, _, _ = _newton(np.zeros(len(c), dtype=int), np.asarray(c), np.asarray(r),
                      np.asarray(a, dtype=float), np.asarray(b, dtype=float), 1, m,
                      np.outer(free, free).astype(float)[None], free[None],
                      push=np.asarray(push, dtype=float)[None])
    return w[0, c] - w[0, r]


def _smooth(c, r, a, b, m, scale):
    """Per row: (kind, u, how, via) for the smooth losses, and whether it sits inside a
    block (its curvature counts at the limit). ``a``, ``b``: corrected votes."""
    n_rows = len(c)
    f = _cut_values(c, r, -a, b, m)
    level, block, up, steady = _decompose(f, m, c, r, scale)
    inside = block[c] == block[r]
    kinds = ["drifts"] * n_rows
    how = ["steady" if s else "slowing" for s in steady]
    via = [-1] * n_rows
    own = [""] * n_rows
    u = np.where(up, math.inf, -math.inf)
    g_lim = np.where(up, b, -a)                # a drifting row's pull tends to its bound
    for k in np.unique(block):
        members = block == k
        rows_in = np.flatnonzero(inside & members[c])
        if len(rows_in) == 0:
            continue
        # the limit pulls of the rows around this block on its replies, less its level
        push = np.zeros(m)
        touching = []
        for i in np.flatnonzero(~inside):
            if members[c[i]] or members[r[i]]:
                touching.append(i)
                push[c[i]] += g_lim[i]
                push[r[i]] -= g_lim[i]
        push -= level
        push[~members] = 0.0
        sub = _block_fit(c[rows_in], r[rows_in], a[rows_in], b[rows_in], push, m, members)
        slow = [i for i in touching if not steady[i]]
        for j, i in enumerate(rows_in):
            u[i] = sub[j]
            s_pos, s_neg = sigmoid_pair(np.array([sub[j]]))
            net = -a[i] * s_neg[0] + b[i] * s_pos[0]
            own[i] = "own" if abs(net) <= 1e-7 * (abs(a[i]) + abs(b[i])) else "shared"
            if slow:
                kinds[i], how[i], via[i] = "approaches", own[i], slow[0]
                continue
            kinds[i], how[i] = "rests", own[i]
            if own[i] == "shared" and touching:
                via[i] = touching[0]
    alpha_gap = level[c] - level[r]
    return SimpleNamespace(kinds=kinds, u=u, how=how, via=via, inside=inside, block=block,
                           own=own, alpha_gap=alpha_gap)


# -- the decision -------------------------------------------------------------------------
@dataclass(frozen=True)
class Plan:
    """``analyse``'s answer: each row's ``RowRest`` as the rows and the settings decide it,
    and the groups of rows (prompt, replies, rows), for the overlay of the policy now."""

    rows: tuple[RowRest, ...]
    groups: tuple[tuple[int, np.ndarray, np.ndarray], ...]
    features: bool = False        # a features model: the rows share theta (one group)


def analyse(pairs: Pairs, beta: float, learning_rate: float, loss: Loss,
            model=None) -> Plan:
    """Where each row of ``pairs`` (flips applied) ends with these settings, whatever the
    policy now (``at`` adds what the policy now decides). Costs about a millisecond for a
    preset: call it when the rows or the settings change, not every step. ``model``: the
    run's model (None or the table: per group; a features model: ``_features``)."""
    N = pairs.n_judgements
    features = getattr(model, "kind", "table") == "features"
    out: list[RowRest | None] = [None] * len(pairs)
    found = []
    if features:
        out = _features(pairs, model, beta, learning_rate, loss, N)
    for rows in () if features else groups(pairs):
        replies, c, r = _local(pairs, rows)
        found.append((int(pairs.prompt[rows[0]]), replies, rows))
        a = pairs.votes_chosen[rows].astype(float)
        b = pairs.votes_rejected[rows].astype(float)
        for j, rr in enumerate(_group(loss, c, r, a, b, len(replies), beta,
                                      learning_rate, N)):
            via = int(rows[rr.via]) if rr.via >= 0 else -1
            out[int(rows[j])] = replace(rr, via=via)
    # IPO's overshoot grows until the loss overflows: the whole run stops there
    stop = [i for i, rr in enumerate(out) if rr.kind == "overshoots" and loss.name == "ipo"]
    if stop:
        out = [replace(rr, kind="halts", via=stop[0]) if rr.kind == "rests" else rr
               for rr in out]
    return Plan(tuple(out), tuple(found), features=features)


def at(plan: Plan, margins: np.ndarray, grad: np.ndarray) -> tuple[RowRest, ...]:
    """The plan with what the policy now decides: a group whose gradient is exactly 0 on
    every reply never moves (its rows rest where they are), and a row that rests because
    nothing pulls it (the weight off) rests at its margin now. ``margins`` (N,): each row's
    u now; ``grad`` (P, K): the gradient of the mean loss now (the run's record has both)."""
    out = list(plan.rows)
    grad = np.asarray(grad)
    # a features model shares one theta: all its rows are still when its whole gradient is 0
    groups = [(None, None, range(len(out)))] if plan.features else plan.groups
    for x, replies, rows in groups:
        still = bool(np.all((grad if x is None else grad[x, replies]) == 0.0))
        for i in rows:
            rr = out[i]
            if still:
                out[i] = RowRest("rests", float(margins[i]), "still", cycle=rr.cycle,
                                 lr_limit=math.inf)
            elif rr.kind == "rests" and rr.how == "still":
                out[i] = replace(rr, u=float(margins[i]))
    return tuple(out)


def rest_points(pairs: Pairs, beta: float, learning_rate: float, loss: Loss,
                margins: np.ndarray, grad: np.ndarray, model=None) -> tuple[RowRest, ...]:
    """``at(analyse(...), margins, grad)``: where each row ends from the policy now."""
    return at(analyse(pairs, beta, learning_rate, loss, model), margins, grad)


def _group(loss, c, r, a, b, m, beta, lr, N) -> list[RowRest]:
    """Each row of one group (``via`` local to the group)."""
    n_rows = len(c)
    cyc = has_cycle(c, r, m)
    D = _incidence(c, r, m)
    name = loss.name
    if name == "bare_margin":
        # every judgement pulls with weight 1: each u moves by lr beta^2 / N * pace per step
        pace = D @ (D.T @ (a - b))
        scale = lr * beta ** 2 / N
        return [RowRest("rests", how="still", cycle=cyc, lr_limit=math.inf)
                if pace[j] == 0.0 else
                RowRest("drifts", math.copysign(math.inf, pace[j]), "steady", cycle=cyc,
                        pace=scale * pace[j])
                for j in range(n_rows)]
    if name == "hinge":
        out = []
        for j in range(n_rows):
            side = 1.0 if a[j] > b[j] else -1.0
            if cyc:
                out.append(RowRest("open", cycle=cyc))
            elif a[j] == b[j]:
                out.append(RowRest("idle"))
            elif a[j] > 0 and b[j] > 0:
                out.append(RowRest("swings", side))
            else:
                out.append(RowRest("stops", side))
        return out
    n = a + b
    if name == "ipo":
        t = (a - b) / n / (2.0 * beta)               # each row's own target h
        W = n[:, None] * D
        z = np.linalg.solve(D.T @ W + np.ones((m, m)), W.T @ t)   # sum(z) = 0 pins the
        h = D @ z                                                  # free constant
        lam = 2.0 / N * _lam(D, n)
        limit = 2.0 / lam if lam > 0 else math.inf
        return [RowRest("rests" if lr < limit else "overshoots", beta * h[j],
                        "own" if abs(h[j] - t[j]) <= 1e-9 * max(1.0, abs(t[j])) else "shared",
                        cycle=cyc, lr_limit=limit)
                for j in range(n_rows)]
    if m > MAX_GROUP:
        return [RowRest("open", cycle=cyc)] * n_rows
    # sigmoid, robust: the corrected votes
    eps = loss.label_smoothing if name == "robust" else 0.0
    ac = (a * (1 - eps) - b * eps) / (1 - 2 * eps)
    bc = (b * (1 - eps) - a * eps) / (1 - 2 * eps)
    sm = _smooth(c, r, ac, bc, m, float(n.max()))
    # the curvature where the steps end: each block alone (the drifting rows between
    # blocks pull with a constant in the limit), and at most n/4 per row on the way
    lam_way = beta ** 2 / N * _lam(D, n / 4.0)
    safe = 2.0 / lam_way if lam_way > 0 else math.inf
    s_pos, s_neg = sigmoid_pair(np.where(sm.inside, sm.u, 0.0))
    limits = np.full(n_rows, math.nan)
    for k in np.unique(sm.block):
        rows_in = sm.inside & (sm.block[c] == k)
        if rows_in.any():
            lam = beta ** 2 / N * _lam(D[rows_in], (n * s_pos * s_neg)[rows_in])
            limits[rows_in] = 2.0 / lam if lam > 0 else math.inf
    kinds = list(sm.kinds)
    for j in range(n_rows):
        if kinds[j] in ("rests", "approaches"):
            if lr >= limits[j]:
                kinds[j] = "overshoots"
            elif lr >= safe:
                kinds[j] = "heads"
    # a block whose steps may not settle shakes the rows drifting beside it: they still
    # never rest (they have no rest point), but their pace is no longer the limit's
    calm = not any(k in ("overshoots", "heads") for k in kinds)
    out = []
    for j in range(n_rows):
        kind, how, pace = kinds[j], sm.how[j], math.nan
        if kind == "drifts":
            if not calm:
                how = ""
            elif how == "steady":
                pace = -lr * beta ** 2 / N * sm.alpha_gap[j]
        elif kind in ("overshoots", "heads", "approaches"):
            how = sm.own[j]
        out.append(RowRest(kind, float(sm.u[j]), how, sm.via[j], cyc, float(limits[j]),
                           float(pace)))
    return out


# -- a features model: the rows share theta ------------------------------------------------
def _top_eig(v: np.ndarray, coef: np.ndarray) -> float:
    """Largest eigenvalue of sum_i coef_i v_i v_i^T."""
    if len(coef) == 0:
        return 0.0
    return float(np.linalg.eigvalsh(v.T @ (coef[:, None] * v)).max())


def _features(pairs: Pairs, model, beta, lr, loss, N) -> list[RowRest]:
    """Each row on a features model (the module docstring's last part)."""
    phi = model.features
    v = phi[pairs.prompt, pairs.chosen] - phi[pairs.prompt, pairs.rejected]
    a = pairs.votes_chosen.astype(float)
    b = pairs.votes_rejected.astype(float)
    n = a + b
    n_rows = len(pairs)
    name = loss.name
    if name == "bare_margin":
        # every judgement pulls with weight 1: theta moves by a constant step, and row i's
        # u by lr beta^2 / N * sum_k (a_k - b_k) v_k . v_i
        scale = lr * beta ** 2 / N
        pull = (a - b) @ v
        size = np.abs(a - b) @ np.linalg.norm(v, axis=1)
        out = []
        for i in range(n_rows):
            pace = float(v[i] @ pull)
            if abs(pace) <= 1e-12 * size * float(np.linalg.norm(v[i])):
                out.append(RowRest("rests", how="still", lr_limit=math.inf))
            else:
                out.append(RowRest("drifts", math.copysign(math.inf, pace), "steady",
                                   pace=scale * pace))
        return out
    if name == "hinge":
        return [RowRest("open", how="theta-hinge")] * n_rows
    if name == "ipo":
        return _features_ipo(v, a, b, n, model.init_theta, beta, lr, N)
    eps = loss.label_smoothing if name == "robust" else 0.0
    ac = (a * (1 - eps) - b * eps) / (1 - 2 * eps)
    bc = (b * (1 - eps) - a * eps) / (1 - 2 * eps)
    if (ac < -TOL * n).any() or (bc < -TOL * n).any():
        found = _robust_rest(v, n, ac, bc, model.init_theta, beta, lr, N)
        return found if found is not None else [RowRest("open", how="theta-robust")] * n_rows
    ac, bc = np.maximum(ac, 0.0), np.maximum(bc, 0.0)
    fit = _rlhf.fit_features(pairs, phi, model.init_theta, beta, votes=(ac, bc))
    direction = fit.direction
    size = np.maximum(1.0, np.linalg.norm(v, axis=1))
    off = (np.linalg.norm(v @ fit.basis_s.T, axis=1) if len(fit.basis_s)
           else np.zeros(n_rows))
    settles = off <= _rlhf.FEATURE_TOL * size
    side = v @ direction
    sep_rows = np.unique(fit.row[~fit.tight])
    # a separable row's pull fades like 1/t; it reaches theta's tight part when its
    # vector has a component in V_T
    tugging = [int(i) for i in sep_rows
               if len(fit.basis_t) and np.linalg.norm(fit.basis_t @ v[i])
               > _rlhf.FEATURE_TOL * size[i]]
    u_fit = beta * (v @ fit.theta)
    # the curvature at rest (the tight part) and on the way (at most n/4 per judgement)
    s_pos, s_neg = sigmoid_pair(np.where(settles, u_fit, 0.0))
    inside = settles & (n > 0)
    lam = beta ** 2 / N * _top_eig(v[inside], (n * s_pos * s_neg)[inside])
    limit = 2.0 / lam if lam > 0 else math.inf
    lam_way = beta ** 2 / N * _top_eig(v, n / 4.0)
    safe = 2.0 / lam_way if lam_way > 0 else math.inf
    kinds, hows, us, vias = [], [], [], []
    for i in range(n_rows):
        if settles[i]:
            net = -ac[i] * s_neg[i] + bc[i] * s_pos[i]
            own = "own" if abs(net) <= 1e-7 * n[i] and not tugging else "theta"
            kind = "approaches" if tugging else "rests"
            if lr >= limit:
                kind = "overshoots"
            elif lr >= safe:
                kind = "heads"
            kinds.append(kind)
            hows.append(own)
            us.append(float(u_fit[i]))
            vias.append(tugging[0] if kind == "approaches" else -1)
        elif abs(side[i]) > _rlhf.FEATURE_TOL * size[i]:
            kinds.append("drifts")
            hows.append("theta-slowing")
            us.append(math.copysign(math.inf, side[i]))
            vias.append(-1)
        else:                            # orthogonal to u, not to V_S: the path decides
            kinds.append("open")
            hows.append("theta-path")
            us.append(math.nan)
            vias.append(-1)
    calm = not any(k in ("overshoots", "heads") for k in kinds)
    out = []
    for i in range(n_rows):
        how = hows[i]
        if kinds[i] == "drifts" and not calm:
            how = ""
        out.append(RowRest(kinds[i], us[i], how, vias[i], False,
                           limit if settles[i] else math.nan))
    return out


def _features_ipo(v, a, b, n, theta0, beta, lr, N) -> list[RowRest]:
    """IPO on a features model: theta rests at theta0 + z, z in V (the rows' span)
    minimising sum_i n_i (theta . v_i - t_i)^2, t_i the row's own target (2p - 1)/(2 beta);
    rows whose targets the shared theta cannot meet together rest short of them."""
    t = np.where(n > 0, (a - b) / np.where(n > 0, n, 1.0), 0.0) / (2.0 * beta)
    basis = _rlhf._basis(v[n > 0], v.shape[1])
    h = v @ theta0
    if len(basis):
        g = v @ basis.T                              # (rows, k)
        M = g.T @ (n[:, None] * g)
        y = np.linalg.solve(M, g.T @ (n * (t - h)))
        h = h + g @ y
    lam = 2.0 / N * _top_eig(v, n)
    limit = 2.0 / lam if lam > 0 else math.inf
    return [RowRest("rests" if lr < limit else "overshoots", beta * h[i],
                    "own" if abs(h[i] - t[i]) <= 1e-9 * max(1.0, abs(t[i])) else "theta",
                    lr_limit=limit)
            for i in range(len(v))]


def _robust_rest(v, n, ac, bc, theta0, beta, lr, N) -> list[RowRest] | None:
    """Robust DPO on a features model with a vote share beyond 1 - eps. Row i's loss is
    ``n_i softplus(-u) + b'_i u`` (b' its corrected votes against; a' + b' = n), so theta's
    loss is sum_i n_i softplus(-beta theta . v_i) + beta (sum_i b'_i v_i) . theta: convex,
    strictly so along the rows' span V. Where Newton's method (``rlhf._tight_newton``, in
    theta0 + V) ends at a point whose gradient vanishes (1e-9 of its terms) and whose
    curvature along V is clearly positive (1e-9 of its largest), that point is the unique
    minimiser, and every row rests there (or its steps overshoot). Otherwise None: the
    minimiser may not exist (a pull that never fades drags theta away), and no claim."""
    d = v.shape[1]
    basis = _rlhf._basis(v, d)
    if not len(basis):
        return None
    push = beta * (bc @ v)
    with np.errstate(all="ignore"):
        theta, _, _ = _rlhf._tight_newton(v, n, push, beta, theta0, basis)
    if not np.isfinite(theta).all():
        return None
    G = v @ basis.T
    u = beta * (v @ theta)
    s_pos, s_neg = sigmoid_pair(u)
    lin = basis @ push
    grad = -beta * (n * s_neg) @ G + lin
    terms = beta * (n * s_neg) @ np.abs(G) + np.abs(lin)
    H = beta ** 2 * G.T @ ((n * s_pos * s_neg)[:, None] * G)
    if not np.isfinite(H).all() or np.abs(grad).max() > 1e-9 * terms.max():
        return None
    ev = np.linalg.eigvalsh(H)
    if ev.min() <= 1e-9 * ev.max():
        return None
    lam = ev.max() / N
    limit = 2.0 / lam if lam > 0 else math.inf
    lam_way = beta ** 2 / N * _top_eig(v, n / 4.0)
    safe = 2.0 / lam_way if lam_way > 0 else math.inf
    out = []
    for i in range(len(v)):
        net = -ac[i] * s_neg[i] + bc[i] * s_pos[i]
        kind = "overshoots" if lr >= limit else "heads" if lr >= safe else "rests"
        out.append(RowRest(kind, float(u[i]), "own" if abs(net) <= 1e-7 * n[i] else "theta",
                           lr_limit=limit))
    return out
