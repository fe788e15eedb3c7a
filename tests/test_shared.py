"""Results computed once per process for every session (app/shared.py)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from dpo_sim.app.shared import shared
from dpo_sim.sim.pairs import Pairs


@dataclass
class Out:
    a: np.ndarray


def test_same_arguments_give_the_same_frozen_result_and_others_compute():
    calls = []

    @shared(maxsize=2)
    def f(x, pairs, flag=True):
        calls.append(1)
        return Out(np.asarray(x, dtype=float) * 2)

    p = Pairs.from_rows([(0, 0, 1, 7, 3)], 1, 2)
    r1 = f(np.array([1.0, 2.0]), p)
    r2 = f(np.array([1.0, 2.0]), Pairs.from_rows([(0, 0, 1, 7, 3)], 1, 2))
    assert r1 is r2 and len(calls) == 1
    with pytest.raises(ValueError):
        r1.a[0] = 5.0                              # shared: read-only
    assert f(np.array([1.0, 2.0]), p.flip(0)) is not r1            # a flip is new rows
    assert f(np.array([1.0, 2.0]), p, flag=False) is not r1
    assert f(np.array([-0.0, 2.0]), p) is not r1 and len(calls) == 4
    assert f.cache_info() == (1, 4, 2)             # the oldest went
    f(np.array([1.0, 2.0]), p)
    assert len(calls) == 5
    with pytest.raises(TypeError, match="cannot key"):
        f(object(), p)
