"""The preference data: rows "on prompt x, votes_chosen annotators preferred reply
chosen over reply rejected, and votes_rejected preferred the opposite".

Every mean in the maths is over single judgements: a row 7:3 is seven judgements
chosen > rejected and three rejected > chosen (docs/model.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from types import SimpleNamespace

import numpy as np


@dataclass(frozen=True)
class Pairs:
    """Preference rows as parallel arrays (indices from 0).

    Treat the arrays as read-only: the compiled plan (``plan``) is cached on first use.
    """

    prompt: np.ndarray
    chosen: np.ndarray
    rejected: np.ndarray
    votes_chosen: np.ndarray
    votes_rejected: np.ndarray
    n_prompts: int
    n_replies: int

    @classmethod
    def from_rows(cls, rows, n_prompts: int, n_replies: int) -> Pairs:
        """rows: iterable of (prompt, chosen, rejected, votes_chosen, votes_rejected)."""
        a = np.array([tuple(r) for r in rows], dtype=float).reshape(-1, 5)
        return cls(
            prompt=a[:, 0].astype(np.intp),
            chosen=a[:, 1].astype(np.intp),
            rejected=a[:, 2].astype(np.intp),
            votes_chosen=a[:, 3].copy(),
            votes_rejected=a[:, 4].copy(),
            n_prompts=n_prompts,
            n_replies=n_replies,
        )

    def __len__(self) -> int:
        return len(self.prompt)

    @property
    def n_judgements(self) -> float:
        """How many single judgements the rows hold (the denominator of every mean)."""
        return float(self.votes_chosen.sum() + self.votes_rejected.sum())

    def flip(self, i: int) -> Pairs:
        """A copy with row i's chosen and rejected swapped; the votes stay with their
        sides, so the majority now backs the other reply."""
        chosen, rejected = self.chosen.copy(), self.rejected.copy()
        chosen[i], rejected[i] = self.rejected[i], self.chosen[i]
        return Pairs(self.prompt, chosen, rejected, self.votes_chosen, self.votes_rejected,
                     self.n_prompts, self.n_replies)

    def net_votes(self) -> np.ndarray:
        """(P, K) judgements for each reply minus judgements against it, over every row
        of its prompt."""
        net = np.zeros((self.n_prompts, self.n_replies))
        d = self.votes_chosen - self.votes_rejected
        np.add.at(net, (self.prompt, self.chosen), d)
        np.add.at(net, (self.prompt, self.rejected), -d)
        return net

    def preferred(self) -> np.ndarray:
        """(P, K) bool: the replies "the data prefers", one rule for the page and the
        export. On each prompt, every reply with the most net votes, if that count is
        positive: replies tied for the top are all marked, and a prompt whose rows cancel
        (a 5:5 split) marks none."""
        net = self.net_votes()
        top = net.max(axis=1, keepdims=True)
        return (net == top) & (top > 0)

    def flat_chosen(self) -> np.ndarray:
        return self.prompt * self.n_replies + self.chosen

    def flat_rejected(self) -> np.ndarray:
        return self.prompt * self.n_replies + self.rejected

    def incidence(self) -> np.ndarray:
        """(N, P*K) matrix with +1 at each row's chosen logit and -1 at its rejected one."""
        d = np.zeros((len(self), self.n_prompts * self.n_replies))
        rows = np.arange(len(self))
        d[rows, self.flat_chosen()] += 1.0
        d[rows, self.flat_rejected()] -= 1.0
        return d

    @cached_property
    def plan(self) -> SimpleNamespace:
        """What the fast paths need that depends on the rows only, computed once.

        ``vc``, ``vr``: each row's share of all judgements on its chosen / rejected side.
        ``side`` (P*K, 2) holds, per logit, the share with which it appears on the winning
        side (column 0) and on the losing side (column 1) of a judgement, so a mean over
        judgements of any per-reply quantity q is ``q.ravel() @ side``. ``cr`` interleaves
        each row's flat chosen and rejected index (c0, r0, c1, r1, ...).
        """
        n = self.n_judgements
        vc = self.votes_chosen / n
        vr = self.votes_rejected / n
        D = self.incidence()
        side = np.zeros((self.n_prompts * self.n_replies, 2))
        np.add.at(side[:, 0], self.flat_chosen(), vc)
        np.add.at(side[:, 0], self.flat_rejected(), vr)
        np.add.at(side[:, 1], self.flat_rejected(), vc)
        np.add.at(side[:, 1], self.flat_chosen(), vr)
        cr = np.empty(2 * len(self), dtype=np.intp)
        cr[0::2], cr[1::2] = self.flat_chosen(), self.flat_rejected()
        return SimpleNamespace(D=D, DT=np.ascontiguousarray(D.T), vc=vc, vr=vr,
                               vdiff=vc - vr, side=side, cr=cr)
