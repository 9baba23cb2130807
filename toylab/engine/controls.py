"""What another thread (a dashboard, a signal handler) may ask of a fit in progress: stop after
the round, change hyperparameters between rounds, slow down, move the end. Thread-safe: the
training thread reads them between rounds."""

from __future__ import annotations

import math
import numbers
import threading
import time

from .config import ConfigError, TrainConfig, check_ensemble
from .safe_load import short

#: the most rounds a fit may be moved to (TrainConfig.steps' own bound)
MAX_STEPS = next(m.le for m in TrainConfig.model_fields["steps"].metadata if hasattr(m, "le"))

#: fields Trainer.retune may change between rounds
LIVE_FIELDS = ("lr_d", "lr_g", "d_steps", "g_steps", "update", "loss", "r1_gamma", "gp_lambda", "clip",
               "snapshot_every", "metrics_every")


class Controls:
    """A fit's controls: `stopping` (an Event), `signal` (SIGINT/SIGTERM received), `total`
    (the round count being trained to), `interval` (the least seconds between rounds) and
    queued live edits."""

    def __init__(self):
        self.stopping = threading.Event()
        self.signal: int | None = None
        self.total: int | None = None
        self.interval = 0.0
        self._pending: dict = {}
        self._lock = threading.Lock()

    def stop(self) -> None:
        self.stopping.set()

    def on_signal(self, signum: int) -> None:
        self.signal = signum
        self.stopping.set()

    def ask(self, changes: dict, configs: list, busy: bool) -> list | None:
        """The configs with `changes` (and the edits still queued), checked now: LIVE_FIELDS
        only. Returned to be used at once; None when `busy` (a fit is running): then they wait
        for take()."""
        bad = [k for k in changes if k not in LIVE_FIELDS]
        if bad:
            raise ConfigError(f"{bad[0]}: cannot change during a run; changeable: {', '.join(LIVE_FIELDS)} "
                              f"(anything else needs a new run)")
        with self._lock:
            pending = {**self._pending, **changes}
            new = [c.replace(**pending) for c in configs]
            check_ensemble(new)
            if busy:
                self._pending = pending
                return None
            self._pending = {}
        return new

    def take(self) -> dict:
        """The queued edits, emptied (the training thread applies them between rounds)."""
        with self._lock:
            pending, self._pending = self._pending, {}
        return pending

    def pace(self, rounds_per_second: float = 0.0) -> None:
        ok = isinstance(rounds_per_second, (int, float)) and not isinstance(rounds_per_second, bool)
        rate = float(rounds_per_second) if ok else math.nan
        if not (math.isfinite(rate) and rate >= 0):
            raise ConfigError(f"pace: rounds per second must be a number >= 0 (0: full speed), got {short(rounds_per_second, 40)}")
        self.interval = 1.0 / rate if rate > 0 else 0.0

    def end_at(self, total, what: str = "train_to: total") -> None:
        """The fit's end moved to `total` rounds: a whole number from 0 to MAX_STEPS (train_to(-5)
        was accepted, and so were 2.5, True and 1e300)."""
        whole = isinstance(total, numbers.Real) and not isinstance(total, bool) and math.isfinite(total) \
            and total == int(total)
        if not (whole and 0 <= total <= MAX_STEPS):
            raise ConfigError(f"{what} must be a whole number of rounds from 0 to {MAX_STEPS:,} "
                              f"(got {short(total, 40)})")
        self.total = int(total)

    def rest(self, since: float) -> float:
        """Rest out what is left of the round's share of a second since `since` (woken at once by
        a stop); returns the time to measure the next round from."""
        if self.interval:
            left = self.interval - (time.perf_counter() - since)
            if left > 0:
                self.stopping.wait(left)
        return time.perf_counter()
