"""The policy's parameters, and how they make each prompt's logits: one value per run.

Two kinds (``MODEL_KINDS``); a new kind is one class here plus its entry:

- ``table``: the parameters are the logits themselves, a (P, K) table, so
  ``pi(y|x) = softmax(theta[x])[y]``. Nothing learned about one reply moves another
  except through its prompt's softmax.
- ``features`` (log-linear): each reply y of prompt x has a feature vector phi(x, y) of
  length d, and ``pi_theta(y|x) ∝ pi_ref(y|x) exp(theta . phi(x, y))`` with one theta in
  R^d shared by every prompt and reply, starting at ``init_theta`` (0: the reference).
  Within a prompt the normaliser cancels, so a row's margin is
  ``u = beta theta . (phi(x,w) - phi(x,l))`` and its gradient lies along
  ``phi(x,w) - phi(x,l)``. One-hot features (one coordinate per reply) give the table.

The engine works on logits whatever the kind: ``logits(params, logp_ref)`` makes them and
``pullback(grad_logits)`` turns d loss / d logits into d loss / d params (the chain rule
through a linear map). Both are written as fixed sequences of element-wise operations
(no BLAS), so the bits do not depend on the CPU and the JavaScript twin can follow them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: the largest feature length a scenario may give (the page shows every coordinate)
MAX_FEATURES = 16


@dataclass(frozen=True, eq=False)
class TableModel:
    """Each reply its own logit: the parameters are the (P, K) logit table."""

    kind = "table"

    def start(self, start_logits: np.ndarray) -> np.ndarray:
        """The parameters at step 0: the scenario's start logits (its ``init``, or the
        reference's logits)."""
        return np.array(start_logits, dtype=float)

    def logits(self, params: np.ndarray, logp_ref: np.ndarray) -> np.ndarray:
        return params

    def pullback(self, grad_logits: np.ndarray) -> np.ndarray:
        return grad_logits

    def similarity(self, pairs) -> np.ndarray | None:
        """A table shares nothing between replies: no similarity score."""
        return None

    def config(self) -> dict:
        return {"kind": "table"}

    def __eq__(self, other) -> bool:
        return isinstance(other, TableModel)

    def __hash__(self) -> int:
        return hash("table")


@dataclass(frozen=True, eq=False)
class FeaturesModel:
    """Log-linear: ``logits = log pi_ref + Phi theta``, theta shared by every reply.

    ``features``: (P, K, d) array, phi(x, y) = features[x, y]; ``init_theta``: (d,)."""

    features: np.ndarray
    init_theta: np.ndarray

    kind = "features"

    def __post_init__(self):
        f = np.array(self.features, dtype=float)
        if f.ndim != 3 or f.shape[2] < 1:
            raise ValueError(f"features must be (prompts, replies, d), got shape {f.shape}")
        t = np.zeros(f.shape[2]) if self.init_theta is None else np.array(
            self.init_theta, dtype=float).reshape(-1)
        if t.shape != (f.shape[2],):
            raise ValueError(f"init_theta must have {f.shape[2]} numbers, got {t.size}")
        f.setflags(write=False)
        t.setflags(write=False)
        object.__setattr__(self, "features", f)
        object.__setattr__(self, "init_theta", t)

    @property
    def d(self) -> int:
        return self.features.shape[2]

    def start(self, start_logits: np.ndarray) -> np.ndarray:
        """theta_0 (the start logits do not apply: a features model has none)."""
        return self.init_theta.copy()

    def logits(self, params: np.ndarray, logp_ref: np.ndarray) -> np.ndarray:
        """log pi_ref + sum_j theta_j phi_j, coordinate by coordinate in order j = 0..d-1."""
        out = np.array(logp_ref, dtype=float, copy=True)
        f = self.features
        for j in range(self.d):
            out += f[:, :, j] * params[j]
        return out

    def pullback(self, grad_logits: np.ndarray) -> np.ndarray:
        """d loss / d theta_j = sum over (x, y) of phi_j(x, y) * d loss / d logit(x, y),
        summed in (x, y) order, left to right."""
        g = np.asarray(grad_logits, dtype=float).reshape(-1)
        f = self.features.reshape(-1, self.d)
        out = np.zeros(self.d)
        for i in range(g.size):
            out += f[i] * g[i]
        return out

    def similarity(self, pairs) -> np.ndarray:
        """Each row's similarity score as Razin et al. (2024) define it for embeddings,
        ``<phi_w, phi_l> - |phi_w|^2`` with w the row's chosen reply as it stands (flips
        applied). Positive: the row's own push lowers the chosen reply's logit."""
        fw = self.features[pairs.prompt, pairs.chosen]
        fl = self.features[pairs.prompt, pairs.rejected]
        return np.einsum("ij,ij->i", fw, fl) - np.einsum("ij,ij->i", fw, fw)

    def config(self) -> dict:
        return {"kind": "features", "features": self.features.tolist(),
                "init_theta": self.init_theta.tolist()}

    def __eq__(self, other) -> bool:
        return (isinstance(other, FeaturesModel)
                and np.array_equal(self.features, other.features)
                and np.array_equal(self.init_theta, other.init_theta))

    def __hash__(self) -> int:
        return hash((self.features.tobytes(), self.init_theta.tobytes()))


TABLE = TableModel()

#: the model kinds a scenario may name, by ``[model] kind``
MODEL_KINDS = {"table": TableModel, "features": FeaturesModel}


def model_from_config(d: dict | None):
    """The model of a config line's ``model`` (None or absent: the table)."""
    if not d or d.get("kind", "table") == "table":
        return TABLE
    if d.get("kind") != "features":
        raise ValueError(f"model.kind must be one of {', '.join(MODEL_KINDS)}, "
                         f"got {d.get('kind')!r}")
    return FeaturesModel(np.array(d["features"], dtype=float), d.get("init_theta"))


def one_hot(n_prompts: int, n_replies: int) -> FeaturesModel:
    """The table as a features model: one coordinate per (prompt, reply)."""
    d = n_prompts * n_replies
    return FeaturesModel(np.eye(d).reshape(n_prompts, n_replies, d), np.zeros(d))
