"""Results every session would compute alike, computed once per process.

Why: a class opens the same page many times. The sweep map's 4,096 runs (about 0.13 s)
and the frontier's β runs depend only on the scenario's rows, reference, start and loss,
not on who looks, so the first session computes them and the others reuse them. A
cached result is shared: its NumPy arrays are made read-only, so a view that tried to
change one in place would fail loudly instead of changing another session's picture.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from functools import wraps

import numpy as np

from ..sim.pairs import Pairs

_PAIRS = ("prompt", "chosen", "rejected", "votes_chosen", "votes_rejected")


def _key(v):
    """A hashable stand-in for an argument, equal exactly when the values are."""
    if isinstance(v, np.ndarray):
        return ("nd", v.dtype.str, v.shape, v.tobytes())
    if isinstance(v, Pairs):
        return ("pairs", v.n_prompts, v.n_replies) + tuple(_key(getattr(v, f)) for f in _PAIRS)
    if isinstance(v, (list, tuple)):
        return tuple(_key(x) for x in v)
    if isinstance(v, float):
        return ("f", v.hex())                     # 0.0 and -0.0 differ, as for the maths
    if v is None or isinstance(v, (bool, int, str, np.integer, np.floating, np.bool_)):
        return (type(v).__name__, v)
    raise TypeError(f"shared(): cannot key an argument of type {type(v).__name__}")


def _freeze(result):
    fields = (dataclasses.fields(result) if dataclasses.is_dataclass(result)
              else ())
    for f in fields:
        a = getattr(result, f.name)
        if isinstance(a, np.ndarray):
            a.flags.writeable = False
    return result


def shared(maxsize: int = 16):
    """Memoise a pure function across sessions (least recently used go first); the
    wrapper's ``cache_info()`` gives (hits, misses, size)."""
    def deco(fn):
        cache: OrderedDict = OrderedDict()
        stats = [0, 0]

        @wraps(fn)
        def wrapper(*args, **kw):
            k = (_key(args), _key(tuple(sorted(kw.items()))))
            if k in cache:
                stats[0] += 1
                cache.move_to_end(k)
                return cache[k]
            stats[1] += 1
            result = _freeze(fn(*args, **kw))
            cache[k] = result
            while len(cache) > maxsize:
                cache.popitem(last=False)
            return result

        wrapper.cache_info = lambda: (stats[0], stats[1], len(cache))
        wrapper.cache_clear = lambda: (cache.clear(), stats.__setitem__(slice(None), [0, 0]))
        return wrapper
    return deco
