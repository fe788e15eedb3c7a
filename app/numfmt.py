"""How the page writes a number: a fixed number of decimals, never -0.000, and powers of
ten where decimals would mislead (a huge value from a run that diverges, a tiny
probability or KL)."""

from __future__ import annotations

import math

#: From this size on a number is shown in powers of ten (a run that diverges, say), so
#: it never grows wider than its place.
BIG = 1e5


def fixed(v: float, digits: int = 3, sign: bool = False) -> str:
    """A number with ``digits`` decimals (and its sign, with ``sign``); what rounds to
    zero reads 0.000, never -0.000; beyond ``BIG`` in size, powers of ten (1.40e+306)."""
    v = float(v)
    plus = "+" if sign else ""
    if not math.isfinite(v):
        return "NaN" if v != v else ("+" if v > 0 and sign else "-" if v < 0 else "") + "∞"
    if abs(v) >= BIG:
        return f"{v:{plus}.2e}"
    text = f"{v:{plus}.{digits}f}"
    return text.lstrip("+-") if float(text) == 0 else text


def minus(v: float, digits: int = 3, sign: bool = False) -> str:
    """``fixed`` with a true minus sign (−), as the texts write numbers in sentences."""
    return fixed(v, digits, sign).replace("-", "−")


def small(v: float, digits: int = 3) -> str:
    """A value that goes to 0 (a probability, a KL): ``digits`` decimals while they show
    it, then powers of ten (2.7e-05), so it never reads 0.000 while it is not 0."""
    v = float(v)
    if v == 0:
        return "0"
    if abs(v) >= 10.0 ** -digits:
        return fixed(v, digits)
    return f"{v:.1e}"
