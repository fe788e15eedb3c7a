"""One CSV layout for a run's metrics, shared by `dpo-sim run --format csv` and the page's
"Download CSV", so a file from either opens the same way in a spreadsheet.

One line per record (step). Scalar columns use TRL's names; per-prompt / per-reply /
per-row columns are numbered from 0: ``kl/0``, ``probs/0/1`` (pi(reply 1 | prompt 0)),
``rewards/0/1`` (its implicit reward), ``pairs/2/margin`` (row 2's scaled margin u),
``pairs/2/sigma`` and ``pairs/2/weight``. The last two columns are the loss settings in
force: ``loss_type`` as a whole number, its index in ``losses.LOSS_TYPES`` (0 sigmoid,
1 ipo, 2 hinge, 3 robust; the JSONL step lines give the name), and ``label_smoothing``.
They come last so that every older column keeps its place. A run of a features model adds
its parameters after them, ``theta[0]`` ... ``theta[d-1]`` (a table has none: its file
keeps its bytes).

Every cell that holds text (today only the header's) goes through ``text_cell``: a cell
beginning with =, +, -, @, a tab or a carriage return is one a spreadsheet would run as a
formula, so it is written with a leading apostrophe. Numbers are written as numbers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import TextIO

from .engine import Record
from .history import TAIL, History, block_order, csv_header, loss_code

__all__ = ["block_order", "csv_header", "csv_row", "header_line", "text_cell", "to_csv",
           "write_csv"]

#: what a spreadsheet reads as the start of a formula
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def text_cell(text: str) -> str:
    """A text cell as written in the file: neutralised for spreadsheets (a leading ' when
    it begins like a formula) and quoted as CSV needs (a comma, quote or line break)."""
    text = str(text)
    if text.startswith(FORMULA_START):
        text = "'" + text
    if any(ch in text for ch in ',"\n\r'):
        text = '"' + text.replace('"', '""') + '"'
    return text


def header_line(n_prompts: int, n_replies: int, n_rows: int, d: int = 0) -> str:
    """The header line (with its newline), every name through ``text_cell``."""
    return ",".join(text_cell(c) for c in csv_header(n_prompts, n_replies, n_rows, d)) + "\n"


def csv_row(rec: Record) -> list:
    """The values of one record in ``csv_header`` order (floats as repr: exact round trip)."""
    vals = [rec.step, repr(float(rec.beta)), repr(float(rec.learning_rate)),
            int(bool(rec.adaptive_weight))]
    vals += [repr(float(v)) for v in rec.scalars().values()]
    vals += [repr(float(v)) for v in rec.kl.ravel()]
    vals += [repr(float(v)) for v in rec.probs.ravel()]
    vals += [repr(float(v)) for v in rec.rewards.ravel()]
    for m, s, w in zip(rec.row_margin, rec.row_sigma, rec.row_weight):
        vals += [repr(float(m)), repr(float(s)), repr(float(w))]
    vals += [int(loss_code(rec.loss_type)), repr(float(rec.label_smoothing))]
    if rec.theta is not None:
        vals += [repr(float(v)) for v in rec.theta]
    return vals


def _write_history(h: History, out: TextIO, chunk: int = 4096) -> None:
    """The same text as the per-record path, straight from the column store: a Python
    float's repr is what ``repr(float(v))`` gives, and step, adaptive_weight and loss_type
    are whole numbers stored exactly."""
    P, K, N = h.shape
    out.write(header_line(P, K, N, h.d))
    order = block_order(P, K, N, h.d)
    data = h.array()
    lt = len(order) - h.d - len(TAIL) + TAIL.index("loss_type")
    for a in range(0, len(h), chunk):
        lines = []
        for row in data[a:a + chunk][:, order].tolist():
            row[0], row[3], row[lt] = int(row[0]), int(row[3]), int(row[lt])
            lines.append(",".join(map(repr, row)))
        out.write("\n".join(lines) + "\n")


def write_csv(records: Iterable[Record], out: TextIO) -> None:
    """Write a header and one line per record to ``out`` (a ``History`` is written
    straight from its columns, without building records)."""
    if isinstance(records, History):
        if len(records):
            _write_history(records, out)
        return
    records = iter(records)
    first = next(records, None)
    w = csv.writer(out, lineterminator="\n")
    if first is None:
        return
    P, K = first.probs.shape
    d = 0 if first.theta is None else len(first.theta)
    out.write(header_line(P, K, len(first.row_margin), d))
    w.writerow(csv_row(first))
    for rec in records:
        w.writerow(csv_row(rec))


def to_csv(records: Iterable[Record]) -> str:
    """The CSV text of ``records``."""
    buf = io.StringIO()
    write_csv(records, buf)
    return buf.getvalue()
