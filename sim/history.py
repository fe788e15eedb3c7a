"""A run's records stored column-wise, so an hour of play costs a few MB, not 100 MB.

Why: a ``Record`` is a dataclass holding six tiny NumPy arrays (~1.9 KB per step with the
object headers); at 20 steps/s a list of them grows by ~140 KB/s per browser tab. Here each
step is one row of a single float64 2-D block (49 numbers = 392 bytes for 2 prompts x 4
replies x 6 rows) holding exactly the numbers a Record holds, bit for bit (the loss type as
its index in ``losses.LOSS_TYPES``). Records are built on access (``history[i]``, slices,
iteration), so code written for a list keeps working.

What is not kept: the gradient of past steps (``Record.grad`` is None for them). The last
record appended is kept as the object itself, so ``history[-1] is sim.record`` and it keeps
its ``grad``. A features model's parameters (``Record.theta``, d numbers) are kept, in d
columns after the others (none for a table: its logits are its parameters, and a table
run's block keeps its layout).

Growth: the block grows by a quarter of its size (at least ``MIN_GROW`` rows) when full, so
appending is amortised O(1) and the allocated bytes stay within 1.25 x the used bytes.

Bounded: ``History(limit=n)`` keeps only the newest records, between n and 2n of them (when
2n are stored the oldest n go, in one copy), so a page that plays for hours holds a few MB
at most; ``first`` is still the run's first record. The page's charts show the newest 1,500
steps, and its CSV is recomputed from the scenario and the actions (the run is
deterministic), so nothing it shows needs the rest.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields
from operator import attrgetter

import numpy as np

from .engine import Record
from .losses import LOSS_TYPES

#: Trailing columns: the loss settings in force (Record's last fields), the loss type as
#: its index in ``LOSS_TYPES``.
TAIL = ("loss_type", "label_smoothing")
#: Record's fields kept elsewhere (theta: in its own columns after TAIL) or not at all
_NOT_STORED = ("grad", "theta", "grad_logits")
_STORED = tuple(f.name for f in fields(Record) if f.name not in _NOT_STORED + TAIL)
#: Leading columns: Record's scalar fields (the settings in force, then the TRL scalars);
#: after them its arrays, flattened, in field order (kl, probs, rewards, row_*); then TAIL.
HEAD = _STORED[:_STORED.index("kl")]
ARRAYS = _STORED[len(HEAD):]
_head = attrgetter(*HEAD)          # one C-speed read of the scalars per step
assert ARRAYS == ("kl", "probs", "rewards", "row_margin", "row_sigma", "row_weight")
assert tuple(f.name for f in fields(Record) if f.name not in _NOT_STORED)[-2:] == TAIL
_LOSS_CODE = {name: float(i) for i, name in enumerate(LOSS_TYPES)}
MIN_GROW = 256
GROWTH = 1.25


def loss_code(name: str) -> float:
    """A loss type as stored: its index in ``LOSS_TYPES`` (as a float)."""
    code = _LOSS_CODE.get(name)
    return float(list(LOSS_TYPES).index(name)) if code is None else code


def loss_name(code: float) -> str:
    """The loss type stored as ``code``."""
    return list(LOSS_TYPES)[int(code)]


#: The leading columns: the step and the settings a record holds (Record's fields).
RECORD_HEAD = HEAD[:HEAD.index("loss")]


def csv_header(n_prompts: int, n_replies: int, n_rows: int, d: int = 0) -> list[str]:
    """Column names for a run with the given shape (``d``: a features model's parameter
    count, whose ``theta[j]`` columns come last; 0 for a table)."""
    cols = list(RECORD_HEAD) + list(Record.SCALARS)
    cols += [f"kl/{x}" for x in range(n_prompts)]
    cols += [f"probs/{x}/{y}" for x in range(n_prompts) for y in range(n_replies)]
    cols += [f"rewards/{x}/{y}" for x in range(n_prompts) for y in range(n_replies)]
    for i in range(n_rows):
        cols += [f"pairs/{i}/margin", f"pairs/{i}/sigma", f"pairs/{i}/weight"]
    return cols + list(TAIL) + [f"theta[{j}]" for j in range(d)]


def block_order(P: int, K: int, N: int, d: int = 0) -> np.ndarray:
    """Column indices that put a History block (row quantities one after another) into
    ``csv_header`` order (each row's margin, sigma and weight side by side)."""
    head = len(HEAD) + P + 2 * P * K
    rows = head + np.arange(N)
    tail = head + 3 * N + np.arange(len(TAIL) + d)
    return np.concatenate((np.arange(head), np.stack((rows, rows + N, rows + 2 * N),
                                                     axis=1).ravel(), tail))


class History:
    """Records of one run, in step order; behaves like a read-only list of ``Record``.

    The layout (P prompts, K replies, N rows) is taken from the first record appended;
    ``clear()`` forgets it, so one store can hold a run of another shape afterwards.
    """

    def __init__(self, limit: int | None = None) -> None:
        if limit is not None and limit < 1:
            raise ValueError(f"history: limit must be at least 1, got {limit!r}")
        self.limit = limit
        self.clear()

    # -- layout ------------------------------------------------------------------------
    def clear(self) -> None:
        """Forget every record and the layout."""
        self._block = np.empty((0, 0))
        self._n = 0
        self._last: Record | None = None
        self._first: Record | None = None
        self.dropped = 0            # records let go by a bounded history (the oldest ones)
        self.shape: tuple[int, int, int] | None = None      # (P, K, N)
        self.d = 0                  # a features model's theta columns (0: a table)

    def _layout(self, P: int, K: int, N: int, d: int = 0) -> None:
        self.shape = (P, K, N)
        self.d = d
        h = len(HEAD)
        cuts = np.cumsum([h, P, P * K, P * K, N, N, N])
        self._sl = {name: slice(a, b) for name, a, b in zip(ARRAYS, cuts[:-1], cuts[1:])}
        self._tail = int(cuts[-1])                       # first column of TAIL
        self.width = self._tail + len(TAIL) + d
        self._block = np.empty((0, self.width))

    def column(self, name: str) -> np.ndarray:
        """A read-only view of one stored quantity over the run: a ``HEAD`` or ``TAIL``
        name gives shape (n,) ("loss_type" as indices in ``LOSS_TYPES``); "kl" (n, P);
        "probs" and "rewards" (n, P, K); "row_*" (n, N); "theta" (n, d) (features)."""
        if self.shape is None:
            raise KeyError(f"no records yet; cannot read {name!r}")
        data = self._block[:self._n]
        if name in HEAD:
            v = data[:, HEAD.index(name)]
        elif name in TAIL:
            v = data[:, self._tail + TAIL.index(name)]
        elif name in self._sl:
            v = data[:, self._sl[name]]
            if name in ("probs", "rewards"):
                v = v.reshape(self._n, *self.shape[:2])
        elif name == "theta" and self.d:
            v = data[:, self._tail + len(TAIL):]
        else:
            raise KeyError(f"unknown column {name!r}; known: "
                           f"{', '.join(HEAD + tuple(self._sl) + TAIL)}")
        v = v.view()
        v.flags.writeable = False
        return v

    def array(self) -> np.ndarray:
        """A read-only view of the used block, (n, width): ``HEAD`` then kl, probs,
        rewards, row_margin, row_sigma, row_weight (each flattened, C order), then
        ``TAIL`` (loss_type as its index in ``LOSS_TYPES``, label_smoothing), then a
        features model's theta (d columns)."""
        v = self._block[:self._n].view()
        v.flags.writeable = False
        return v

    def columns(self) -> dict[str, np.ndarray]:
        """The run as named columns, one value per step: the CSV's columns and names
        (TRL's for the scalars; ``kl/X``, ``probs/X/Y``, ``rewards/X/Y``,
        ``pairs/I/margin``, ``pairs/I/sigma``, ``pairs/I/weight``, then ``loss_type`` (the
        index of the loss in ``losses.LOSS_TYPES``: 0 sigmoid, 1 ipo, 2 hinge, 3 robust)
        and ``label_smoothing``, then ``theta[j]`` of a features model); read-only. With
        pandas,
        ``pandas.DataFrame(history.columns())`` is the run as a table."""
        if self.shape is None:
            return {}
        data = self.array()
        names = csv_header(*self.shape, self.d)
        out = {name: data[:, j] for name, j in zip(names, block_order(*self.shape, self.d))}
        # whole numbers and flags in their own types (copies; the rest are views)
        out["step"] = out["step"].astype(np.int64)
        out["adaptive_weight"] = out["adaptive_weight"].astype(bool)
        out["loss_type"] = out["loss_type"].astype(np.int64)
        for k in ("step", "adaptive_weight", "loss_type"):
            out[k].flags.writeable = False
        return out

    @property
    def nbytes(self) -> int:
        """Bytes allocated for the stored numbers (the block, including spare capacity)."""
        return int(self._block.nbytes)

    # -- writing -----------------------------------------------------------------------
    def _fill(self, i: int, rec: Record) -> None:
        row = self._block[i]
        row[:len(HEAD)] = _head(rec)
        t = self._tail
        np.concatenate((rec.kl, rec.probs.reshape(-1), rec.rewards.reshape(-1),
                        rec.row_margin, rec.row_sigma, rec.row_weight),     # ARRAYS order
                       out=row[len(HEAD):t])
        row[t] = loss_code(rec.loss_type)
        row[t + 1] = rec.label_smoothing
        if self.d:
            row[t + 2:] = rec.theta

    def _check(self, rec: Record) -> None:
        P, K = np.shape(rec.probs)
        shape = (P, K, len(rec.row_margin))
        d = 0 if rec.theta is None else int(np.size(rec.theta))
        if self.shape is None:
            self._layout(*shape, d)
        elif shape != self.shape or d != self.d:
            raise ValueError(f"history: a record of shape (P, K, N) = {shape} with {d} "
                             f"parameters theta does not fit a run of shape {self.shape} "
                             f"with {self.d}; clear() first")

    def append(self, rec: Record) -> None:
        """Store ``rec`` as the newest record."""
        self._check(rec)
        if self.limit is not None and self._n == 2 * self.limit:
            keep = self.limit           # let the oldest go, in one copy
            self._block[:keep] = self._block[self._n - keep:self._n]
            self.dropped += self._n - keep
            self._n = keep
        if self._n == len(self._block):
            rows = self._n + max(MIN_GROW, int(self._n * (GROWTH - 1)))
            if self.limit is not None:
                rows = min(rows, 2 * self.limit)
            grown = np.empty((rows, self.width))
            grown[:self._n] = self._block[:self._n]
            self._block = grown
        self._fill(self._n, rec)
        self._n += 1
        self._last = rec
        if self._first is None:
            self._first = rec

    def replace_last(self, rec: Record) -> None:
        """Overwrite the newest record (a live action recomputes the current step)."""
        if not self._n:
            raise IndexError("history: no record to replace")
        self._check(rec)
        self._fill(self._n - 1, rec)
        self._last = rec
        if self._n == 1 and not self.dropped:
            self._first = rec

    # -- reading, like a list ----------------------------------------------------------
    @property
    def first(self) -> Record | None:
        """The run's first record (step 0, after any action taken there), even when a
        bounded history has let it go from the block."""
        return self._first

    @property
    def last(self) -> Record | None:
        """The newest record as appended (with its ``grad``), or None when empty."""
        return self._last

    def __len__(self) -> int:
        return self._n

    def _record(self, i: int) -> Record:
        if i == self._n - 1:
            return self._last
        row = self._block[i]
        kw = dict(zip(HEAD, row[:len(HEAD)].tolist()))
        kw["step"], kw["adaptive_weight"] = int(kw["step"]), bool(kw["adaptive_weight"])
        P, K, _ = self.shape
        for name in ARRAYS:
            v = row[self._sl[name]].copy()
            kw[name] = v.reshape(P, K) if name in ("probs", "rewards") else v
        t = self._tail
        code, eps = row[t:t + len(TAIL)].tolist()
        theta = row[t + len(TAIL):].copy() if self.d else None
        return Record(**kw, grad=None, loss_type=loss_name(code), label_smoothing=eps,
                      theta=theta)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self._record(j) for j in range(*i.indices(self._n))]
        try:
            j = i.__index__()
        except AttributeError:
            raise TypeError(f"history indices must be integers or slices, not "
                            f"{type(i).__name__}") from None
        if j < 0:
            j += self._n
        if not 0 <= j < self._n:
            raise IndexError("history index out of range")
        return self._record(j)

    def __iter__(self) -> Iterator[Record]:
        for j in range(self._n):
            yield self._record(j)

    def __reversed__(self) -> Iterator[Record]:
        for j in range(self._n - 1, -1, -1):
            yield self._record(j)

    def __bool__(self) -> bool:
        return self._n > 0

    def __eq__(self, other):
        if isinstance(other, (History, list)):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None

    def __repr__(self) -> str:
        return f"History({self._n} records, shape={self.shape}, {self.nbytes} bytes)"
