"""Floating-point care the maths needs, in one place: log-softmax, sigmoid and softplus
that stay exact in both tails.

Why a module of its own: ``dpo.py`` states the maths plainly and ``engine.py`` /
``stack.py`` compute it fast; both need the same few functions, and the fast paths need
them to produce the same bits whether a run is computed alone or in a stack.
"""

from __future__ import annotations

import numpy as np

# exp(709) is near the largest finite double: clipping the exponent there keeps exp finite.
EXP_MAX = 709.0


def shifted_exp(theta: np.ndarray):
    """z = theta - max, exp(z) and its sum over replies (the last axis).

    The max and the sum are unrolled over the K replies in a fixed order: a short last
    axis is slow to reduce in NumPy, and the stack of runs (``stack.RunStack``, replies
    on axis 1 of a runs-last array) does exactly the same elementwise operations, so a
    run in a stack gets the same bits as the run alone.
    """
    if theta.ndim == 1:
        z, ez, norm = shifted_exp(theta[None, :])
        return z[0], ez[0], norm.reshape(())
    K = theta.shape[-1]
    m = np.maximum(theta[..., 0], theta[..., 1])
    for k in range(2, K):
        np.maximum(m, theta[..., k], out=m)
    z = theta - m[..., None]
    ez = np.exp(z)
    norm = ez[..., 0] + ez[..., 1]
    for k in range(2, K):
        norm += ez[..., k]
    return z, ez, norm


def log_softmax(theta: np.ndarray) -> np.ndarray:
    """Stable log pi over the last axis (shifted by the max)."""
    z, _, norm = shifted_exp(np.asarray(theta, dtype=float))
    z -= np.log(norm)[..., None]
    return z


def sigmoid_into(u, a, b, e) -> None:
    """a = sigma(u), b = sigma(-u), e = scratch, written into the given arrays."""
    np.negative(u, out=e)
    np.minimum(e, EXP_MAX, out=e)
    np.exp(e, out=e)                      # E = exp(-u), finite
    np.add(e, 1.0, out=a)
    np.divide(1.0, a, out=a)              # sigma(u) = 1 / (1 + E)
    np.multiply(e, a, out=b)              # sigma(-u) = E / (1 + E)


def sigmoid_pair(u: np.ndarray, out=None) -> tuple[np.ndarray, np.ndarray]:
    """(sigma(u), sigma(-u)) from one exp, each exact to rounding in both tails.

    With E = exp(-u): sigma(u) = 1 / (1 + E) and sigma(-u) = E * sigma(u). Both are
    products and quotients of accurately rounded positive numbers, never 1 - (something
    close to 1), so each keeps its relative precision however small it gets: sigma(-u)
    for u up to 745 (then it underflows to 0), sigma(u) down to 1e-308 (u >= -709; below,
    where E is clipped to stay finite, it is off by less than 1.3e-308 in absolute terms).
    ``out``: optional three arrays shaped like u (the two results and a scratch array),
    for an allocation-free hot path; the numbers are the same either way.
    """
    u = np.asarray(u, dtype=float)
    if u.ndim == 0:
        a, b = sigmoid_pair(u.reshape(1))
        return a[0], b[0]
    if out is None:
        out = np.empty((3,) + u.shape)
    sigmoid_into(u, *out)
    return out[0], out[1]


def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)), exact in both tails (no overflow warning, no 1 - tiny loss)."""
    return sigmoid_pair(x)[0]


def softplus_pair(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(softplus(-u), softplus(u)) = (-log sigma(u), -log sigma(-u)), exact in both tails:
    softplus(x) = max(x, 0) + log1p(exp(-|x|))."""
    u = np.asarray(u, dtype=float)
    e = np.log1p(np.exp(-np.abs(u)))
    return np.maximum(-u, 0.0) + e, np.maximum(u, 0.0) + e


def sigmoid_softplus(u: np.ndarray):
    """(sigma(u), sigma(-u), softplus(-u), softplus(u)) of a 1-D u in one pass: every
    number DPO needs for both sides of a row. The sigmoids are bit-identical to
    ``sigmoid_pair``; softplus(x) = max(x, 0) + log1p(exp(-|x|)) is exact in both tails,
    and max(-u, 0) = max(u, 0) - u holds exactly."""
    out = np.empty((4,) + u.shape)
    a, b, e, l1p = out
    sigmoid_into(u, a, b, e)
    np.abs(u, out=l1p)
    np.negative(l1p, out=l1p)
    np.exp(l1p, out=l1p)
    np.log1p(l1p, out=l1p)
    relu = np.maximum(u, 0.0)
    sp_neg = relu - u
    sp_neg += l1p
    relu += l1p
    return a, b, sp_neg, relu
