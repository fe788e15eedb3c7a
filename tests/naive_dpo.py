"""A deliberately naive DPO reference for the engine tests: plain Python floats, one loop
over single judgements, explicit softmax. It shares no code with sim/ (the tests use it as
the oracle, never the engine's own output)."""

from __future__ import annotations

import math

import numpy as np


def log_softmax_row(row):
    m = max(row)
    lse = m + math.log(math.fsum(math.exp(x - m) for x in row))
    return [x - lse for x in row]


def softplus(x):
    return x + math.log1p(math.exp(-x)) if x > 0 else math.log1p(math.exp(x))


def sigma(x):
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def instances(rows):
    """Each row (x, c, r, a, b) as its judgements: (x, winner, loser, count)."""
    for x, c, r, a, b in rows:
        if a:
            yield x, c, r, a
        if b:
            yield x, r, c, b


def metrics(theta, ref, rows, beta, weight_on=True):
    """Every recorded quantity, computed judgement by judgement."""
    theta, ref = np.asarray(theta, float).tolist(), np.asarray(ref, float).tolist()
    logp = [log_softmax_row(t) for t in theta]
    logq = [log_softmax_row(t) for t in ref]
    lr = [[a - b for a, b in zip(lp, lq)] for lp, lq in zip(logp, logq)]
    total = math.fsum(a + b for *_, a, b in rows)
    acc = {k: [] for k in ("loss", "rc", "rr", "m", "a", "lc", "lrj")}
    for x, w, l, n in instances(rows):
        f = n / total
        u = beta * (lr[x][w] - lr[x][l])
        acc["loss"].append(f * (softplus(-u) if weight_on else -u))
        acc["rc"].append(f * beta * lr[x][w])
        acc["rr"].append(f * beta * lr[x][l])
        acc["m"].append(f * u)
        acc["a"].append(f * (1.0 if u > 0 else 0.0))
        acc["lc"].append(f * logp[x][w])
        acc["lrj"].append(f * logp[x][l])
    s = {k: math.fsum(v) for k, v in acc.items()}
    probs = [[math.exp(v) for v in lp] for lp in logp]
    row_u = [beta * (lr[x][c] - lr[x][r]) for x, c, r, *_ in rows]
    return {
        "loss": s["loss"], "rewards/chosen": s["rc"], "rewards/rejected": s["rr"],
        "rewards/margins": s["m"], "rewards/accuracies": s["a"],
        "logps/chosen": s["lc"], "logps/rejected": s["lrj"],
        "probs": np.array(probs),
        "kl": np.array([math.fsum(p * d for p, d in zip(ps, ds)) for ps, ds in zip(probs, lr)]),
        "rewards": beta * np.array(lr),
        "row_margin": np.array(row_u),
        "row_sigma": np.array([sigma(u) for u in row_u]),
        "row_weight": np.array([sigma(-u) if weight_on else 1.0 for u in row_u]),
    }


def mean_loss(theta, ref, rows, beta, weight_on=True):
    return metrics(theta, ref, rows, beta, weight_on)["loss"]


def central_differences(f, theta, step=1e-6):
    """The gradient of f at theta by central finite differences, entry by entry."""
    theta = np.array(theta, dtype=float)
    g = np.zeros_like(theta)
    for idx in np.ndindex(theta.shape):
        tp, tm = theta.copy(), theta.copy()
        tp[idx] += step
        tm[idx] -= step
        g[idx] = (f(tp) - f(tm)) / (2 * step)
    return g


def fd_grad(theta, ref, rows, beta, weight_on=True, eps=1e-6):
    """Central finite differences of the naive mean loss."""
    return central_differences(lambda t: mean_loss(t, ref, rows, beta, weight_on), theta,
                               eps)


def random_case(rng):
    """A random scenario: P 1..4, K 2..8, random rows (never a self-comparison), votes
    with zeros on one side now and then, a random reference and policy, random beta."""
    P, K = int(rng.integers(1, 5)), int(rng.integers(2, 9))
    rows = []
    for _ in range(int(rng.integers(1, 7))):
        x = int(rng.integers(P))
        c, r = (int(v) for v in rng.choice(K, 2, replace=False))
        a, b = int(rng.integers(0, 7)), int(rng.integers(0, 7))
        kind = rng.random()
        if kind < 0.25:
            a, b = max(a, 1), 0
        elif kind < 0.4:
            a, b = 0, max(b, 1)
        elif a + b == 0:
            a = 1
        rows.append((x, c, r, a, b))
    ref = rng.normal(scale=float(rng.choice([0.0, 1.0, 3.0])), size=(P, K))
    theta = ref + rng.normal(scale=float(rng.choice([0.1, 1.0, 2.0])), size=(P, K))
    beta = float(np.exp(rng.uniform(np.log(0.05), np.log(5.0))))
    return P, K, rows, ref, theta, beta


def analytic_grad(theta, ref, rows, beta, weight_on=True):
    """The notes' gradient, judgement by judgement: -beta * weight * (e_w - e_l) / n."""
    theta_l = np.asarray(theta, float).tolist()
    ref_l = np.asarray(ref, float).tolist()
    logp = [log_softmax_row(t) for t in theta_l]
    logq = [log_softmax_row(t) for t in ref_l]
    total = math.fsum(a + b for *_, a, b in rows)
    g = np.zeros(np.shape(theta))
    for x, w, l, n in instances(rows):
        u = beta * ((logp[x][w] - logq[x][w]) - (logp[x][l] - logq[x][l]))
        weight = sigma(-u) if weight_on else 1.0
        g[x, w] -= beta * weight * n / total
        g[x, l] += beta * weight * n / total
    return g


# -- the features (log-linear) model, stated again from the notes ------------------------

def features_logits(theta, ref, features):
    """logit(x, y) = log pi_ref(y|x) + sum_j theta_j phi_j(x, y), in plain floats."""
    theta = [float(v) for v in np.asarray(theta).reshape(-1)]
    out = []
    for x, row in enumerate(np.asarray(ref, float).tolist()):
        logq = log_softmax_row(row)
        out.append([logq[y] + math.fsum(t * float(f) for t, f in
                                          zip(theta, features[x][y]))
                     for y in range(len(row))])
    return np.array(out)


def features_metrics(theta, ref, features, rows, beta, weight_on=True):
    """``metrics`` of the features policy pi ∝ pi_ref exp(theta . phi)."""
    return metrics(features_logits(theta, ref, features), ref, rows, beta, weight_on)


def features_fd_grad(theta, ref, features, rows, beta, weight_on=True, eps=1e-6):
    """Central finite differences of the naive mean loss in theta (d numbers)."""
    return central_differences(
        lambda t: features_metrics(t, ref, features, rows, beta, weight_on)["loss"],
        np.asarray(theta, float), eps)


def random_features_case(rng, d=None):
    """A random features scenario: ``random_case``'s rows and reference, d in 1..16 and
    feature vectors of mixed kinds (Gaussian, shared coordinates, near copies)."""
    P, K, rows, ref, _, beta = random_case(rng)
    d = int(rng.integers(1, 17)) if d is None else d
    phi = rng.normal(size=(P, K, d))
    if rng.random() < 0.4:                        # replies that resemble one another
        phi[:, 1:] = phi[:, :1] + 0.3 * rng.normal(size=(P, K - 1, d))
    if rng.random() < 0.3:                        # a coordinate every reply shares
        phi[..., 0] = 1.0
    theta = rng.normal(scale=float(rng.choice([0.0, 0.5, 1.5])), size=d)
    return P, K, rows, ref, phi, theta, beta
