"""Values remembered while the objects they are of live.

A live run is judged at every snapshot (the dashboard's verdict, `outcomes.classify`) over
mostly the same window of snapshots: each snapshot's spread (a percentile of 500,000 pair
distances, ~10 ms), its mode counts and its distance from the first snapshot were computed
again at each new one, ~80 ms of a class's server time per snapshot. Snapshot arrays are
never written once a snapshot holds them, so a value of one is remembered until the array
is freed (weakref.finalize), and is the fresh value (tests/test_verdicts.py).
"""

from __future__ import annotations

import threading
import weakref

_VALUES: dict[tuple, tuple] = {}
_LOCK = threading.Lock()


def remembered(owner, what, compute, of=None):
    """compute(), remembered while the object `owner` lives, under `what` and, when given, the
    object `of` as well (a target: held weakly, so that a new object at a freed one's address is
    never taken for it). An owner that cannot be weakly referenced is computed afresh each time."""
    key = (id(owner), what, None if of is None else id(of))
    with _LOCK:
        hit = _VALUES.get(key)
    if hit is not None and (of is None or hit[0]() is of):
        return hit[1]
    value = compute()
    try:
        ref = weakref.ref(of) if of is not None else None
        weakref.finalize(owner, _VALUES.pop, key, None)       # the id is reused once the owner is gone
    except TypeError:
        return value
    with _LOCK:
        _VALUES[key] = (ref, value)
    return value
