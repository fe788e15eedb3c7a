"""The policy RLHF would reach, in closed form, exactly as DPO reaches it.

RLHF fits a reward model to the judgements and then maximises ``E_pi[r] - beta KL(pi ||
pi_ref)``, whose maximiser is ``pi_ref exp(r / beta) / Z``. Here the reward model is the
Bradley-Terry maximum-likelihood fit to each prompt's judgements (a judgement "y beat y'"
adds ``log sigma(r(y) - r(y'))``), and DPO with the sigma weight converges to that very
policy when a finite fit exists. This module computes it directly (docs/model.md, "The
RLHF optimum").

Vocabulary, per prompt:

- A **group** is a connected component of the replies linked by rows (rows with at least
  one vote; the direction does not matter). A reply that no row names is in no group.
- The **beats graph** has an edge y -> y' for every judgement "y beat y'" with a positive
  count (a row a:b gives c -> r if a > 0 and r -> c if b > 0).
- A group has a **finite fit** when its beats graph is strongly connected (every reply
  of the group can be reached from every other along beats edges; then each reply both
  wins and loses somewhere). A prompt has a finite optimum when all its groups do.

The fit decides r only up to one constant per group, and not at all on a reply in no row.
DPO fixes that freedom: each update adds +g to one logit of a row and -g to the other, so
the sum of the logits over a group never changes and a reply in no row keeps its start
logit. So DPO's limit is ``theta*(y) = log pi_ref(y) + r(y)/beta + c_g`` on group g, with
``c_g`` making the group's sum of theta* equal its sum of start logits, and
``theta*(y) = theta0(y)`` on a reply in no row; ``pi* = softmax(theta*)``.

The reward of the limit is ``r'(y) = beta (theta*(y) - log pi_ref(y))`` on every reply:
on a group it is r shifted by ``beta c_g`` (still a maximum-likelihood reward), and on a
reply in no row any value is one. With it, ``Z(x) = sum_y pi_ref(y) exp(r'(y)/beta) =
sum_y exp(theta*(y))``, ``pi* = pi_ref exp(r'/beta) / Z`` and the implicit reward of pi*
is ``beta log(pi*/pi_ref) = r' - beta log Z(x)``.

Without a finite fit there is no optimum: the likelihood keeps rising as some replies
move apart without bound, and DPO keeps drifting. Gradient descent on a logistic-type
loss then heads along the maximum-margin direction of the judgements it can separate, the
distance growing like log(t) and the speed falling like 1/t (Soudry et al. 2018; Ji and
Telgarsky 2019 for data that are only partly separable). Here that direction is constant
on each strongly connected component (SCC) of the beats graph, 0 on groups with a finite
fit and on replies in no row, and it solves

    minimise  sum_y w(y)^2   subject to  w(y) - w(y') >= 1  for every beats edge y -> y'
                                          between two different SCCs of one group.

``drift`` is that w; ``heading`` marks the replies with the largest w on their prompt:
their total probability tends to 1 (the others' to 0), only ever more slowly. With the
weight switched off (the bare margin) the drift is different (linear in t, along the net
votes); ``heading`` describes DPO with its sigma weight.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .numerics import sigmoid_pair
from .pairs import Pairs

#: The Newton iteration stops when its last step moved no fitted reward by more than this
#: (relative to the rewards' size); quadratic convergence leaves an error far below it.
STEP_TOL = 1e-13
MAX_NEWTON = 200
#: Replies whose drift is within this of the prompt's largest drift are all ``heading``.
HEADING_TOL = 1e-9


@dataclass(frozen=True)
class BradleyTerryFit:
    """The Bradley-Terry maximum-likelihood reward of each prompt's judgements.

    - ``reward`` (P, K): the fitted r, shifted to mean 0 on each group; 0 on a reply in no
      row; NaN on the replies of a group without a finite fit.
    - ``group`` (P, K) int: the reply's group on its prompt (0, 1, ... in the order of
      each group's lowest reply), -1 for a reply in no row.
    - ``group_finite`` (P, K) bool: the reply's group has a finite fit (True on a reply in
      no row).
    - ``finite`` (P,) bool: every group of the prompt has a finite fit.
    - ``scc`` (P, K) int: the reply's strongly connected component of the beats graph
      (labelled by its lowest reply); equal to the lowest reply of the group exactly when
      the group has a finite fit.
    - ``drift`` (P, K): the direction of the drift where there is no finite fit (module
      docstring), 0 on finite groups and replies in no row.
    - ``max_score`` (P,): the largest |d log-likelihood / d r| at the returned fit, in
      judgements (0 where the prompt has no rows; over the finite groups only).
    - ``iterations``: Newton iterations used (all prompts are solved together).
    """

    reward: np.ndarray
    group: np.ndarray
    group_finite: np.ndarray
    finite: np.ndarray
    scc: np.ndarray
    drift: np.ndarray
    max_score: np.ndarray
    iterations: int
    same_group: np.ndarray      # (P, K, K) 1.0 where two replies share a group; the
    #                             identity on replies in no row (for the group means)


@dataclass(frozen=True)
class Optimum:
    """pi*, the policy RLHF reaches and DPO converges to (module docstring).

    - ``finite`` (P,) bool: the prompt has a finite optimum.
    - ``theta`` (P, K): theta*, the logits of DPO's limit (NaN rows where not finite).
    - ``probs`` (P, K): pi* = softmax(theta*) (NaN rows where not finite).
    - ``log_probs`` (P, K): log pi* (NaN rows where not finite).
    - ``reward`` (P, K): r' = beta (theta* - log pi_ref), the maximum-likelihood reward
      of the limit (NaN rows where not finite).
    - ``beta_log_z`` (P,): beta log Z(x) = beta log sum_y exp(theta*(y)), so that the
      implicit reward of pi* is r' - beta log Z(x) (NaN where not finite).
    - ``heading`` (P, K) bool: where there is no finite optimum, the replies with the
      largest ``drift`` on the prompt, whose total probability DPO drives towards 1;
      all False on prompts with a finite optimum.
    - ``drift``, ``group``, ``group_finite``: as in ``BradleyTerryFit``, to say which
      groups lack a finite fit and how the policy moves there.
    - ``beta``: the beta it was computed for.
    """

    finite: np.ndarray
    theta: np.ndarray
    probs: np.ndarray
    log_probs: np.ndarray
    reward: np.ndarray
    beta_log_z: np.ndarray
    heading: np.ndarray
    drift: np.ndarray
    group: np.ndarray
    group_finite: np.ndarray
    beta: float


# -- the graphs ---------------------------------------------------------------------------
def _closure(adj: np.ndarray) -> np.ndarray:
    """Reflexive-transitive closure of a stack of (K, K) boolean adjacency matrices."""
    K = adj.shape[-1]
    reach = adj | np.eye(K, dtype=bool)
    while True:
        r = reach.astype(float)
        nxt = (r @ r) > 0
        if np.array_equal(nxt, reach):
            return reach
        reach = nxt


def _graphs(pairs: Pairs):
    """(beats adjacency, same-group, same-SCC, in-a-row), each (P, K, K) or (P, K)."""
    P, K = pairs.n_prompts, pairs.n_replies
    x, c, r = pairs.prompt, pairs.chosen, pairs.rejected
    a, b = pairs.votes_chosen, pairs.votes_rejected
    beats = np.zeros((P, K, K), dtype=bool)
    beats[x[a > 0], c[a > 0], r[a > 0]] = True
    beats[x[b > 0], r[b > 0], c[b > 0]] = True
    linked = beats | beats.transpose(0, 2, 1)
    in_row = linked.any(axis=2)
    same_group = _closure(linked)
    reach = _closure(beats)
    same_scc = reach & reach.transpose(0, 2, 1)
    return beats, same_group, same_scc, in_row


# -- the fit ------------------------------------------------------------------------------
def _log_lik(rew, x, c, r, a, b, P):
    """Per prompt: sum over judgements of log sigma(r(winner) - r(loser))."""
    d = rew[x, c] - rew[x, r]
    terms = -(a * np.logaddexp(0.0, -d) + b * np.logaddexp(0.0, d))
    return np.bincount(x, weights=terms, minlength=P)


def _newton(x, c, r, a, b, P, K, same_group, in_fit, push=None):
    """Maximise the Bradley-Terry log-likelihood of the given rows by Newton's method
    with a backtracking line search, all prompts at once. ``push`` (P, K), optional: a
    linear term subtracted, ``log-lik - push . r`` (``rest`` fits a block of rows with the
    constant pulls of the rows drifting around it); its sum over each group must be 0.

    The Hessian of the negative log-likelihood is a weighted graph Laplacian L, singular
    along each group's constant vector. With J = sum_g 1_g 1_g^T (and 1 on the diagonal
    of the replies outside the fit), L + J is nonsingular and, because the score sums to 0
    over each group, solving (L + J) step = score gives the Newton step that keeps each
    group's sum of rewards fixed (at 0: the start)."""
    rew = np.zeros((P, K))
    if len(x) == 0:
        return rew, np.zeros(P), 0
    J = np.where(in_fit[:, :, None] & in_fit[:, None, :], same_group, 0.0)
    J[:, np.arange(K), np.arange(K)] += ~in_fit
    base = x * (K * K)
    idx = np.concatenate((base + c * (K + 1), base + r * (K + 1), base + c * K + r,
                          base + r * K + c))
    flat_c, flat_r = x * K + c, x * K + r

    def objective(rew):
        ll = _log_lik(rew, x, c, r, a, b, P)
        return ll if push is None else ll - np.einsum("pk,pk->p", push, rew)

    ll = objective(rew)
    iterations = 0
    while True:
        iterations += 1
        if iterations > MAX_NEWTON:
            raise RuntimeError(f"Bradley-Terry fit did not converge in {MAX_NEWTON} steps")
        s_pos, s_neg = sigmoid_pair(rew[x, c] - rew[x, r])     # sigma(d), sigma(-d)
        pull = a * s_neg - b * s_pos              # d log-lik / d d
        score = (np.bincount(flat_c, weights=pull, minlength=P * K)
                 - np.bincount(flat_r, weights=pull, minlength=P * K)).reshape(P, K)
        if push is not None:
            score = score - push
        w = (a + b) * s_pos * s_neg
        H = np.bincount(idx, weights=np.concatenate((w, w, -w, -w)),
                        minlength=P * K * K).reshape(P, K, K)
        step = np.linalg.solve(H + J, score[:, :, None])[:, :, 0]
        slope = np.einsum("pk,pk->p", score, step)     # >= 0: an ascent direction
        alpha = np.ones(P)
        for _ in range(60):
            trial = rew + alpha[:, None] * step
            ll_trial = objective(trial)
            ok = ll_trial >= ll + 1e-4 * alpha * slope - 1e-12 * (1.0 + np.abs(ll))
            if ok.all():
                break
            alpha = np.where(ok, alpha, alpha / 2)
        moved = np.abs(alpha[:, None] * step).max()
        rew, ll = trial, ll_trial
        if moved <= STEP_TOL * max(1.0, np.abs(rew).max()):
            break
    s_pos, s_neg = sigmoid_pair(rew[x, c] - rew[x, r])
    pull = a * s_neg - b * s_pos
    score = (np.bincount(flat_c, weights=pull, minlength=P * K)
             - np.bincount(flat_r, weights=pull, minlength=P * K)).reshape(P, K)
    if push is not None:
        score = score - push
    return rew, np.abs(score).max(axis=1), iterations


def _max_margin(n: np.ndarray, edges: list[tuple[int, int]]) -> np.ndarray:
    """min 1/2 sum_i n_i v_i^2 subject to v_s - v_t >= 1 for (s, t) in ``edges`` (the
    edges of a DAG), by the primal active-set method (Nocedal and Wright, Alg. 16.3).

    Starts from the feasible v = -(longest path to each node); the working set stays
    linearly independent, so each KKT system is nonsingular."""
    m = len(n)
    A = np.zeros((len(edges), m))
    for k, (s, t) in enumerate(edges):
        A[k, s], A[k, t] = 1.0, -1.0
    level = np.zeros(m)
    for _ in range(m):
        for s, t in edges:
            level[t] = max(level[t], level[s] + 1.0)
    v = -level
    work: list[int] = []
    N = np.diag(n.astype(float))
    for _ in range(10 * (m + len(edges)) + 50):
        Aw = A[work]
        k = len(work)
        kkt = np.zeros((m + k, m + k))
        kkt[:m, :m] = N
        kkt[:m, m:] = -Aw.T
        kkt[m:, :m] = Aw
        sol = np.linalg.solve(kkt, np.concatenate((-N @ v, np.zeros(k))))
        p, lam = sol[:m], sol[m:]
        if np.abs(p).max() <= 1e-12 * max(1.0, np.abs(v).max()):
            v = v + p
            if k == 0 or lam.min() >= -1e-12:
                return v
            work.pop(int(np.argmin(lam)))
            continue
        Ap, slack = A @ p, A @ v - 1.0
        alpha, block = 1.0, None
        for i in range(len(edges)):
            if i not in work and Ap[i] < -1e-15:
                t = max(0.0, -slack[i] / Ap[i])
                if t < alpha:
                    alpha, block = t, i
        v = v + alpha * p
        if block is not None:
            work.append(block)
    raise RuntimeError("max-margin direction: the active-set method did not finish")


def _drift(P, K, beats, same_group, same_scc, group_finite):
    """The drift direction (module docstring) on every group without a finite fit."""
    drift = np.zeros((P, K))
    for p in np.flatnonzero(~group_finite.all(axis=1)):
        done = np.zeros(K, dtype=bool)
        for y in range(K):
            if group_finite[p, y] or done[y]:
                continue
            members = np.flatnonzero(same_group[p, y])
            done[members] = True
            comps: list[np.ndarray] = []
            comp_of = {}
            for z in members:
                if z not in comp_of:
                    comp = np.flatnonzero(same_scc[p, z])
                    for q in comp:
                        comp_of[int(q)] = len(comps)
                    comps.append(comp)
            edges = sorted({(comp_of[int(s)], comp_of[int(t)])
                            for s in members for t in np.flatnonzero(beats[p, s])
                            if comp_of[int(s)] != comp_of[int(t)]})
            v = _max_margin(np.array([len(cp) for cp in comps]), edges)
            for i, cp in enumerate(comps):
                drift[p, cp] = v[i]
    return drift


def _labels(same: np.ndarray, in_row: np.ndarray) -> np.ndarray:
    """0, 1, ... per prompt in the order of each class's lowest member; -1 off the rows."""
    P, K = in_row.shape
    lowest = np.argmax(same, axis=2)           # the first True: each class's lowest reply
    out = np.full((P, K), -1, dtype=int)
    for p in range(P):
        seen: dict[int, int] = {}
        for y in range(K):
            if in_row[p, y]:
                out[p, y] = seen.setdefault(int(lowest[p, y]), len(seen))
    return out


def fit_bradley_terry(pairs: Pairs) -> BradleyTerryFit:
    """The maximum-likelihood Bradley-Terry reward of each prompt (``BradleyTerryFit``).

    Newton's method on every group with a finite fit at once (each group's mean reward
    held at 0), stopped when a step moves no reward by more than 1e-13; the score (the
    gradient of the log-likelihood) is then at rounding level (``max_score``)."""
    P, K = pairs.n_prompts, pairs.n_replies
    beats, same_group, same_scc, in_row = _graphs(pairs)
    group_finite = (same_group == same_scc).all(axis=2)
    finite = group_finite.all(axis=1)
    in_fit = in_row & group_finite
    keep = ((pairs.votes_chosen + pairs.votes_rejected) > 0) & in_fit[pairs.prompt,
                                                                      pairs.chosen]
    x, c, r = pairs.prompt[keep], pairs.chosen[keep], pairs.rejected[keep]
    a, b = pairs.votes_chosen[keep].astype(float), pairs.votes_rejected[keep].astype(float)
    same = np.where(in_row[:, :, None] & in_row[:, None, :], same_group, False)
    same[:, np.arange(K), np.arange(K)] |= ~in_row
    same_f = same.astype(float)
    rew, max_score, its = _newton(x, c, r, a, b, P, K, same_f, in_fit)
    rew = rew - (same_f @ rew[:, :, None])[:, :, 0] / same_f.sum(axis=2)   # group means 0
    rew = np.where(in_row & ~group_finite, np.nan, np.where(in_row, rew, 0.0))
    group = _labels(same_group, in_row)
    scc = np.where(in_row, np.argmax(same_scc, axis=2), -1)
    drift = _drift(P, K, beats, same_group, same_scc, group_finite)
    return BradleyTerryFit(reward=rew, group=group, group_finite=group_finite,
                           finite=finite, scc=scc, drift=drift, max_score=max_score,
                           iterations=its, same_group=same_f)


# -- the optimum --------------------------------------------------------------------------
def optimum(pairs: Pairs, logp_ref, theta0, beta: float,
            fit: BradleyTerryFit | None = None) -> Optimum:
    """pi* for the rows as they stand (flips applied), the reference ``logp_ref``
    (log pi_ref, (P, K), normalised), the start logits ``theta0`` (P, K) and ``beta``.

    ``fit``: the ``fit_bradley_terry(pairs)`` of these rows, to skip fitting again when
    only beta changes."""
    if fit is None:
        fit = fit_bradley_terry(pairs)
    beta = float(beta)
    logp_ref = np.asarray(logp_ref, dtype=float)
    theta0 = np.asarray(theta0, dtype=float)
    in_row = fit.group >= 0
    same = fit.same_group
    size = same.sum(axis=2)
    rew = np.where(np.isnan(fit.reward), 0.0, fit.reward)
    # c_g: the group's sum of theta* = its sum of start logits
    offset = (same @ (theta0 - logp_ref - rew / beta)[:, :, None])[:, :, 0] / size
    theta = np.where(in_row, logp_ref + rew / beta + offset, theta0)
    theta = np.where(fit.finite[:, None], theta, np.nan)
    top = theta.max(axis=1, keepdims=True)
    e = np.exp(theta - top)
    norm = e.sum(axis=1, keepdims=True)
    probs = e / norm
    log_z = top[:, 0] + np.log(norm[:, 0])
    drift = fit.drift
    top_drift = drift.max(axis=1, keepdims=True)
    heading = (~fit.finite[:, None]) & (drift >= top_drift - HEADING_TOL)
    return Optimum(finite=fit.finite.copy(), theta=theta, probs=probs,
                   log_probs=theta - log_z[:, None],
                   reward=beta * (theta - logp_ref), beta_log_z=beta * log_z,
                   heading=heading, drift=drift, group=fit.group,
                   group_finite=fit.group_finite, beta=beta)


#: psi(d) = e^d (d - 1) + 1 = sum over n >= 2 of (n - 1) d^n / n!: its coefficients from
#: d^2 on. Nine terms reach rounding level for |d| < 1/16.
_PSI_SERIES = tuple((n - 1) / math.factorial(n) for n in range(2, 11))


def _kl_term(p: float, log_star: float) -> float:
    """pi*(y) psi(d) with d = log pi(y) - log pi*(y): this reply's share of the KL, >= 0,
    computed without cancellation (psi(d) ~ d^2 / 2 is formed from its series near 0)."""
    star = math.exp(log_star)
    if p == 0.0:
        return star
    d = math.log(p) - log_star
    if abs(d) < 0.0625:
        acc = 0.0
        for coef in reversed(_PSI_SERIES):
            acc = acc * d + coef
        return star * d * d * acc
    if d > 30.0:                    # pi* e^d = pi: no overflow, no 0 * inf
        return p * (d - 1.0) + star
    return star * (d * math.exp(d) - math.expm1(d))


def kl_to_optimum(probs, opt: Optimum) -> np.ndarray:
    """(P,) KL(pi || pi*) per prompt; NaN where there is no finite optimum.

    Computed as the sum over replies of pi*(y) psi(d(y)), with d = log pi - log pi* and
    psi(d) = e^d (d - 1) + 1 >= 0, each term formed without cancellation, so a KL of 1e-22
    keeps its digits (the textbook sum of pi log(pi / pi*) loses them to rounding at about
    1e-16). The two are equal whenever pi and pi* each sum to 1; this one is the textbook
    sum plus sum_y (pi*(y) - pi(y)), the rounding of the two sums."""
    rows = np.asarray(probs, dtype=float).tolist()
    out = []
    for p_row, ls_row, ok in zip(rows, opt.log_probs.tolist(), opt.finite.tolist()):
        out.append(math.fsum(map(_kl_term, p_row, ls_row)) if ok else math.nan)
    return np.array(out)


# -- the features (log-linear) model: pi*_phi ---------------------------------------------
# On a features model (sim.model.FeaturesModel) every row's margin is u = beta theta . v,
# v = phi(x, chosen) - phi(x, rejected), with one theta for every prompt. DPO's sigmoid loss
# is then the Bradley-Terry likelihood of the reward r(y) = psi . phi(x, y), psi = beta
# theta: its fixed point is the RLHF optimum for that reward, pi*_phi ∝ pi_ref exp(theta* .
# phi). Gradient descent from theta0 stays in theta0 + V, V the span of the rows'
# difference vectors (the gauge: directions no row constrains never move).
#
# Each judgement j ("y beat y'", count n_j) has a signed vector w_j = phi(y) - phi(y').
# It is *tight* (set T) when it lies in a positive dependency sum_k lambda_k w_k = 0,
# lambda >= 0, lambda_j > 0: no direction of theta can raise it without lowering another,
# and *separable* (set S) otherwise: some direction raises it and lowers none. With V_T the
# span of the tight vectors and V_S = V minus V_T (orthogonal complement within V),
# gradient descent's component in V_T converges to the unique minimiser of the tight
# judgements' loss there, while its component in V_S runs off like log(t) along the
# maximum-margin direction of the separable ones, projected on V_S: the u of least norm
# with u . w_j >= 1 for every j in S (Soudry et al. 2018; Ji and Telgarsky 2019 for the
# partly separable case). S is empty exactly when a finite optimum exists.
#
# Per prompt, the limit probabilities exist, and are those of theta0 + z_T (z_T the fit in
# V_T), exactly when every difference of two of its replies' features has no component in
# V_S: then theta . (phi(y) - phi(y')) converges. Otherwise the prompt has no finite
# optimum; where u . phi(x, y) differs between its replies, the replies with the largest
# value take all the probability in the limit (``heading``); where it does not (the
# prompt's differences are orthogonal to u yet not to V_S, never the case for one-hot
# features), the limit depends on the path of the steps, and every reply is marked heading
# (a true statement that says nothing). With one-hot features all of this is the table's
# analysis above: T = the judgements inside a strongly connected component, u = the drift.

#: relative tolerance of the decisions: a positive dependency, a rank, a component in V_S
FEATURE_TOL = 1e-9


def _nnls(A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """min |A x - b| over x >= 0 (Lawson and Hanson 1974, Algorithm NNLS): a column enters
    the passive set by the largest dual value, and columns leave it on the step back to
    feasibility; the passive columns stay linearly independent. A column whose entry
    rounding undoes (its least-squares value <= 0 at once) is left out for good."""
    m, n = A.shape
    x = np.zeros(n)
    passive = np.zeros(n, dtype=bool)
    banned = np.zeros(n, dtype=bool)
    scale = max(1.0, float(np.abs(A).max(initial=0.0))) ** 2 * max(
        1.0, float(np.abs(b).max(initial=0.0)))
    tol = 1e-13 * scale * max(m, n)

    def solve(cols):
        z = np.zeros(n)
        z[cols] = _lstsq(A[:, cols], b)
        return z

    for _ in range(10 * n + 30):
        w = A.T @ (b - A @ x)
        free = ~passive & ~banned
        if not free.any() or w[free].max() <= tol:
            return x
        j = int(np.flatnonzero(free)[np.argmax(w[free])])
        passive[j] = True
        z = solve(np.flatnonzero(passive))
        if z[j] <= 0.0:
            passive[j], banned[j] = False, True
            continue
        for _ in range(n + 1):
            cols = np.flatnonzero(passive)
            if (z[cols] > 0.0).all():
                break
            neg = cols[z[cols] <= 0.0]
            ratio = x[neg] / (x[neg] - z[neg])
            k = int(np.argmin(ratio))
            x = x + float(ratio[k]) * (z - x)
            passive &= x > 0.0
            passive[neg[k]] = False
            x[~passive] = 0.0
            z = solve(np.flatnonzero(passive))
        x = z
    raise RuntimeError("NNLS did not finish")


def _lstsq(A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """min |A z - b| for A of full column rank, by modified Gram-Schmidt QR (plain loops:
    the JavaScript twin does the same)."""
    m, p = A.shape
    Q = np.array(A, dtype=float)
    R = np.zeros((p, p))
    for k in range(p):
        for i in range(k):
            s = float(Q[:, i] @ Q[:, k])
            R[i, k] += s
            Q[:, k] -= s * Q[:, i]
        R[k, k] = float(np.linalg.norm(Q[:, k]))
        Q[:, k] /= R[k, k]
    y = Q.T @ b
    z = np.zeros(p)
    for k in range(p - 1, -1, -1):
        z[k] = (y[k] - float(R[k, k + 1:] @ z[k + 1:])) / R[k, k]
    return z


def _basis(M: np.ndarray, d: int) -> np.ndarray:
    """An orthonormal basis (rows) of the span of the rows of M (k, d), by Gram-Schmidt
    with pivoting: the row with the largest remainder next, twice orthogonalised, until
    every remainder is below ``FEATURE_TOL`` times the largest row."""
    rest = np.array(M, dtype=float).reshape(-1, d)
    if len(rest) == 0:
        return np.zeros((0, d))
    top = float(np.linalg.norm(rest, axis=1).max())
    out: list[np.ndarray] = []
    while len(out) < d:
        norms = np.linalg.norm(rest, axis=1)
        k = int(np.argmax(norms))
        if top == 0.0 or norms[k] <= FEATURE_TOL * top:
            break
        q = rest[k] / norms[k]
        for e in out:
            q = q - float(q @ e) * e
        q = q / float(np.linalg.norm(q))
        out.append(q)
        rest = rest - np.outer(rest @ q, q)
    return np.array(out).reshape(-1, d)


@dataclass(frozen=True)
class FeaturesFit:
    """The structure of the judgements on a features model (the section comment above).

    - ``row``, ``sign``, ``count`` (J,): each judgement's row, +1 (the chosen reply won)
      or -1, and its count (only positive counts are judgements);
    - ``w`` (J, d): its signed difference vector; ``tight`` (J,) bool: in T;
    - ``basis_v``, ``basis_t``, ``basis_s``: orthonormal bases (rows) of V, V_T, V_S;
    - ``theta`` (d,): theta0 + z_T, the limit of the converging part;
    - ``direction`` (d,): u, the maximum-margin direction in V_S (0 when S is empty);
    - ``max_score``: the largest |gradient| of the tight loss at ``theta`` (in V_T);
    - ``iterations``: Newton iterations used."""

    row: np.ndarray
    sign: np.ndarray
    count: np.ndarray
    w: np.ndarray
    tight: np.ndarray
    basis_v: np.ndarray
    basis_t: np.ndarray
    basis_s: np.ndarray
    theta: np.ndarray
    direction: np.ndarray
    max_score: float
    iterations: int

    @property
    def separable(self) -> bool:
        """Some judgement is separable: no finite optimum anywhere in theta."""
        return bool((~self.tight).any())


def _tight(w: np.ndarray) -> np.ndarray:
    """T: the judgements in a positive dependency of the w's (``_nnls`` per judgement:
    is -w_j in the cone of the others?). The judgements with a positive weight in a
    dependency found are tight too, and are not tried again."""
    J = len(w)
    out = np.zeros(J, dtype=bool)
    for j in range(J):
        if out[j]:
            continue
        size = float(np.linalg.norm(w[j]))
        if size == 0.0:
            out[j] = True
            continue
        others = np.delete(np.arange(J), j)
        A = w[others].T
        if A.shape[1] == 0:
            continue
        lam = _nnls(A, -w[j])
        if float(np.linalg.norm(A @ lam + w[j])) <= FEATURE_TOL * size:
            out[j] = True
            out[others[lam > 1e-12 * max(1.0, float(lam.max()))]] = True
    return out


def _ldp(G: np.ndarray) -> np.ndarray:
    """min |y| subject to G y >= 1 (Lawson and Hanson's least distance programming: one
    NNLS on [G^T; 1^T] lambda ~ e_last). The rows of G are known to admit such a y."""
    m, n = G.shape
    E = np.vstack((G.T, np.ones((1, m))))
    f = np.zeros(n + 1)
    f[n] = 1.0
    lam = _nnls(E, f)
    r = E @ lam - f
    if abs(r[n]) <= 1e-14:
        raise RuntimeError("max-margin direction: the separable judgements admit none")
    return -r[:n] / r[n]


def _tight_newton(w, count, push, beta, theta0, basis):
    """theta0 + B^T y minimising sum_j count_j softplus(-beta w_j . theta) + push . theta
    over y (B: ``basis``, rows), by Newton's method with a backtracking line search;
    strictly convex and coercive on span(B) when the judgements are tight there."""
    k = len(basis)
    if k == 0 or len(w) == 0:
        return np.array(theta0, dtype=float), 0.0, 0
    g_j = w @ basis.T                               # (J, k)
    c_j = w @ theta0
    lin = basis @ push if push is not None else np.zeros(k)

    def value(y):
        m = beta * (c_j + g_j @ y)
        return float(np.sum(count * np.logaddexp(0.0, -m)) + lin @ y)

    def grad_hess(y):
        m = beta * (c_j + g_j @ y)
        s_pos, s_neg = sigmoid_pair(m)
        g = -beta * (count * s_neg) @ g_j + lin
        H = beta * beta * (g_j * (count * s_pos * s_neg)[:, None]).T @ g_j
        return g, H

    # start where every tight margin is 0 (theta0 less its part in V_T): the curvature is
    # largest there, whatever theta0
    y = -(basis @ theta0)
    f = value(y)
    its = 0
    while True:
        its += 1
        g, H = grad_hess(y)
        # stop where the gradient is at rounding level next to its terms (a minimiser so
        # far out along a nearly separable direction that the loss is flat to the last
        # bit there: no step can resolve it, and gradient descent never gets there), or
        # after MAX_NEWTON steps (never seen), rather than fail
        m = beta * (c_j + g_j @ y)
        terms = beta * (count * sigmoid_pair(m)[1]) @ np.abs(g_j) + np.abs(lin)
        if its > MAX_NEWTON or np.all(np.abs(g) <= 1e-14 * terms.max()):
            break
        # a judgement far past its margin has a curvature that rounds to nothing next to
        # the others': a ridge of 1e-13 of the largest keeps the system solvable (the
        # fixed point, g = 0, is the same)
        ridge = 1e-13 * max(float(np.abs(np.diag(H)).max()), 1e-300)
        step = -np.linalg.solve(H + ridge * np.eye(k), g)
        slope = float(g @ step)
        alpha = 1.0
        for _ in range(60):
            trial = y + alpha * step
            f_trial = value(trial)
            if f_trial <= f + 1e-4 * alpha * slope + 1e-12 * (1.0 + abs(f)):
                break
            alpha /= 2
        moved = float(np.abs(alpha * step).max())
        y, f = trial, f_trial
        if moved <= STEP_TOL * max(1.0, float(np.abs(y).max())):
            break
    g, _ = grad_hess(y)
    return np.asarray(theta0, dtype=float) + basis.T @ y, float(np.abs(g).max()), its


def fit_features(pairs: Pairs, features, theta0, beta: float, votes=None,
                 push=None) -> FeaturesFit:
    """The structure and fit of the judgements on a features model (``FeaturesFit``).

    ``features`` (P, K, d); ``theta0`` (d,); ``votes``: (a, b) per row to use instead of
    the rows' votes (robust DPO's corrected votes; each must be >= 0); ``push`` (d,): a
    linear term added to the loss in theta (robust's), kept only along V_T."""
    phi = np.asarray(features, dtype=float)
    d = phi.shape[2]
    theta0 = np.asarray(theta0, dtype=float).reshape(d)
    a, b = (pairs.votes_chosen, pairs.votes_rejected) if votes is None else votes
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    v = phi[pairs.prompt, pairs.chosen] - phi[pairs.prompt, pairs.rejected]
    rows = np.arange(len(pairs))
    row = np.concatenate((rows[a > 0], rows[b > 0]))
    sign = np.concatenate((np.ones(int((a > 0).sum())), -np.ones(int((b > 0).sum()))))
    count = np.concatenate((a[a > 0], b[b > 0]))
    order = np.lexsort((-sign, row))
    row, sign, count = row[order], sign[order], count[order]
    w = sign[:, None] * v[row] if len(row) else np.zeros((0, d))
    tight = _tight(w)
    basis_v = _basis(w, d)
    basis_t = _basis(w[tight], d)
    sep = w[~tight]
    sep_perp = sep - (sep @ basis_t.T) @ basis_t
    basis_s = _basis(sep_perp, d)
    direction = np.zeros(d)
    if len(sep):
        direction = basis_s.T @ _ldp(sep_perp @ basis_s.T)
    theta, score, its = _tight_newton(w[tight], count[tight], push, float(beta), theta0,
                                      basis_t)
    return FeaturesFit(row=row, sign=sign, count=count, w=w, tight=tight, basis_v=basis_v,
                       basis_t=basis_t, basis_s=basis_s, theta=theta, direction=direction,
                       max_score=score, iterations=its)


@dataclass(frozen=True)
class FeaturesOptimum(Optimum):
    """pi*_phi: ``Optimum``'s fields for the features model (the section comment above),
    plus:

    - ``params`` (d,): theta*, the parameters of DPO's limit (NaN when any prompt has no
      finite optimum: then no finite theta is one);
    - ``coincide``: pi*_phi and the table's pi* (``table``) agree within ``COINCIDE_TOL``
      on every prompt with a finite optimum, have their finite optimum on the same
      prompts, and head for the same replies on the others;
    - ``table``: pi*, the RLHF optimum for a reward over replies, from the start logits
      ``model.logits(init_theta, logp_ref)``;
    - ``fit``: the ``FeaturesFit``.

    ``group`` is 0 on a reply some row names and -1 elsewhere (rows are coupled through
    theta, not per group); ``group_finite`` is the prompt's ``finite``; ``drift`` is
    u . phi(x, y) on prompts without a finite optimum (0 elsewhere)."""

    params: np.ndarray
    coincide: bool
    table: Optimum
    fit: FeaturesFit


COINCIDE_TOL = 1e-9


def features_optimum(pairs: Pairs, logp_ref, model, beta: float,
                     fit: FeaturesFit | None = None,
                     table: Optimum | None = None) -> FeaturesOptimum:
    """pi*_phi on a features model ``model`` (sim.model.FeaturesModel) for the rows as they
    stand, the reference ``logp_ref`` (P, K) and ``beta``. ``fit``: a ``fit_features``
    of these rows at this beta, to skip fitting again; ``table``: the table's pi* from the
    model's start logits, likewise (computed here when not given)."""
    beta = float(beta)
    logp_ref = np.asarray(logp_ref, dtype=float)
    phi = model.features
    P, K, d = phi.shape
    if fit is None:
        fit = fit_features(pairs, phi, model.init_theta, beta)
    if table is None:
        table = optimum(pairs, logp_ref, model.logits(model.start(None), logp_ref), beta)
    diff = phi - phi[:, :1]                               # (P, K, d)
    if len(fit.basis_s):
        off = np.linalg.norm(diff @ fit.basis_s.T, axis=2)
        finite = (off <= FEATURE_TOL * np.maximum(1.0, np.linalg.norm(diff, axis=2))).all(
            axis=1)
    else:
        finite = np.ones(P, dtype=bool)
    theta = logp_ref + phi @ fit.theta
    theta = np.where(finite[:, None], theta, np.nan)
    top = theta.max(axis=1, keepdims=True)
    e = np.exp(theta - top)
    norm = e.sum(axis=1, keepdims=True)
    probs = e / norm
    log_z = top[:, 0] + np.log(norm[:, 0])
    drift = np.where(finite[:, None], 0.0, phi @ fit.direction)
    top_drift = drift.max(axis=1, keepdims=True)
    heading = (~finite[:, None]) & (
        drift >= top_drift - HEADING_TOL * np.maximum(1.0, np.abs(top_drift)))
    in_row = np.zeros((P, K), dtype=bool)
    in_row[pairs.prompt, pairs.chosen] = in_row[pairs.prompt, pairs.rejected] = True
    params = fit.theta.copy() if finite.all() else np.full(d, np.nan)
    same = bool(np.array_equal(finite, table.finite)
                and np.array_equal(heading, table.heading))
    if same and finite.any():
        same = bool(np.abs(probs[finite] - table.probs[finite]).max() <= COINCIDE_TOL)
    return FeaturesOptimum(
        finite=finite, theta=theta, probs=probs, log_probs=theta - log_z[:, None],
        reward=beta * (theta - logp_ref), beta_log_z=beta * log_z, heading=heading,
        drift=drift, group=np.where(in_row, 0, -1),
        group_finite=np.repeat(finite[:, None], K, axis=1), beta=beta, params=params,
        coincide=same, table=table, fit=fit)


def kl_floor(opt_phi: FeaturesOptimum) -> np.ndarray:
    """(P,) KL(pi*_phi || pi*): where KL(pi || pi*) stops as DPO converges to pi*_phi on a
    features model (NaN where either has no finite optimum)."""
    kl = kl_to_optimum(np.where(opt_phi.finite[:, None], opt_phi.probs, 0.0), opt_phi.table)
    return np.where(opt_phi.finite & opt_phi.table.finite, kl, np.nan)
