"""What another thread (a dashboard, a signal handler) may ask of a fit in progress: stop after
the round, change hyperparameters between rounds, slow down, move the end. Thread-safe: the
training thread reads them between rounds."""

from __future__ import annotations

import math
import threading
import time

from .config import ConfigError, check_ensemble

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
        rate = float(rounds_per_second)
        if not (math.isfinite(rate) and rate >= 0):
            raise ConfigError(f"pace: rounds per second must be a number >= 0 (0: full speed), got {rounds_per_second!r}")
        self.interval = 1.0 / rate if rate > 0 else 0.0

    def rest(self, since: float) -> float:
        """Rest out what is left of the round's share of a second since `since` (woken at once by
        a stop); returns the time to measure the next round from."""
        if self.interval:
            left = self.interval - (time.perf_counter() - since)
            if left > 0:
                self.stopping.wait(left)
        return time.perf_counter()
