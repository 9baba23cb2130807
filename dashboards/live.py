"""A tab's live run: a toylab Trainer trained in a pool of live ensembles (toylab.engine.pool:
a class's runs share batched rounds) or, when it cannot share (a slowed-down run, an unrolled
GAN), in a background thread of its own; read by the page.

The trainer publishes a consistent copy of the run at each snapshot (`latest`), so request
threads never touch the trainer's tensors; Start, Pause, single steps, live edits and Close
are the trainer's own controls (toylab.engine.controls), one at a time.
"""

from __future__ import annotations

import copy
import itertools
import threading

from toylab import TrainConfig
from toylab.api import trainer
from toylab.engine import runs
from toylab.engine.files import release_free_heap
from toylab.engine.pool import Pool, fuse_key
from toylab.measure.outcomes import Outcome, classify
from toylab.pictures.panels import RunView

from .options import LIVE_FRAME_SECONDS

#: samples drawn per scatter in the live panels (of the 1,000 measured): 1,000 SVG markers took
#: ~100 ms of each panel's redraw in the browser, most of a playback frame; the shading shows the rest
POINTS_DRAWN = 500
JOIN_TIMEOUT = 10.0          # seconds a close waits for the training thread
#: seconds between heap trims, process-wide. Measured: a default ring8 run's *live* data
#: grows by ~3 MB over 2,000 rounds, but RSS grew by ~110 kB a round (173 MB in 1,500 rounds)
#: as glibc kept the thread's freed temporaries; trimming once a second keeps RSS flat for ~5 %
#: of the training time (forcing mmap for large blocks instead cost 2x). Once a second for the
#: whole server, not per run: thirty pooled runs snapshot ~12 times a second
TRIM_EVERY = 1.0


class LiveRun:
    """One session's training: a toylab Trainer in a pool's group or in a thread of its own.

    `latest` is a consistent copy of the run (history arrays, snapshot list) taken at
    each snapshot, so the request threads read it without touching the trainer.
    """

    _serials = itertools.count(1)

    def __init__(self, config: TrainConfig, frame_seconds: float = LIVE_FRAME_SECONDS):
        self.serial = next(LiveRun._serials)           # names this run in the page's records (an id() is reused)
        self.trainer = trainer(config, callbacks=[self._on_snapshot])
        self.trainer.snapshot_seconds = frame_seconds or None     # (0: at the snapshots only)
        self.total = config.steps
        self._lock = threading.Lock()
        self._ctl = threading.Lock()                # start and close, one at a time
        self._thread: threading.Thread | None = None
        self._pool: Pool | None = None              # the pool it trains in (or waits for)
        self._exited = threading.Event()            # set when a pooled fit has ended
        self._on_exit = None
        self._done = True                           # not training (or never trained)
        self.closed = False
        self.version = 0
        self.error: str | None = None
        self.pinned: int | None = None              # snapshot the user scrubbed to (None: the newest)
        self.trainer.snapshot()                     # step 0 is on screen at once
        self._publish()
        self._view: RunView | None = None
        self._verdict: tuple | None = None          # (the run judged, its outcome)
        # the costly part of the first picture (the view: p_data on the density grid) is made
        # now, with the run, so that every later snapshot update is the fast kind (a frame is
        # cheap until a panel reads its densities)
        self.view(self.latest)

    # -- reading ---------------------------------------------------------------
    def _publish(self):
        run = self.trainer.run()
        with self._lock:
            self.latest = run
            self.version += 1

    def _on_snapshot(self, trainer, snap):
        self._publish()
        release_free_heap(TRIM_EVERY)               # bounded RSS, not only bounded data (process-wide rate)
        return not self.closed                      # False stops fit(): a second guard beside stop()

    def snapshot_run(self):
        with self._lock:
            return self.latest

    def progress(self) -> tuple[int, str]:
        """(round, state) read now, together: the counter moves every round while training, not
        only at snapshots, and after Pause it shows the round training stopped at."""
        step = self.trainer.step
        return step, self.state

    def verdict(self) -> Outcome | None:
        """The outcome of the run so far, with its reason (toylab.outcomes.classify on its newest
        record; None before the first round's measurement), computed once per scheduled snapshot
        (and status); said in words by outcomes.verdict_text."""
        run = self.snapshot_run()
        kept = runs.scheduled(run.snapshots)           # a provisional live frame is shown, not judged
        key = (kept[-1] if kept else None, run.status, tuple(run.member_status))
        cached = self._verdict
        if cached is None or cached[0][0] is not key[0] or cached[0][1:] != key[1:]:
            measured = run.step > 0 and len(run.member_history(0).get("js", ()))   # nothing to judge at 0
            if measured and len(kept) < len(run.snapshots):
                run = copy.copy(run)
                run.snapshots = kept
            outcome = classify(run) if measured else None
            self._verdict = cached = (key, outcome)
        return cached[1]

    def view(self, run) -> RunView:
        """A RunView of the run, made once (p_data is the costly part) and refreshed after."""
        if self._view is None:
            self._view = RunView(run, n_points=POINTS_DRAWN)
        return self._view.refresh(run)

    @property
    def fusable(self) -> bool:
        """It may share rounds in a pool: full speed, and networks a group can stack."""
        return self.trainer.controls.interval == 0 and fuse_key(self.trainer) is not None

    @property
    def pooled(self) -> bool:
        return self._pool is not None and not self._done

    def place(self) -> int:
        """Its place in the pool's line (0: not waiting there)."""
        pool = self._pool
        return pool.place(self.trainer) if pool is not None and not self._done else 0

    @property
    def running(self) -> bool:
        if self._done:
            return False
        if self._pool is not None:
            return not self._pool.place(self.trainer)
        return self._thread is not None and self._thread.is_alive()

    @property
    def state(self) -> str:
        """The tab's state: the engine's status words (running, failed, diverged), and the
        page's own for a run at rest: ready (not started), paused, finished (at its end)."""
        t = self.trainer
        if self.running:
            return runs.RUNNING
        if self.error:
            return runs.FAILED
        if t.status == runs.DIVERGED or t.hist.all_diverged:
            return runs.DIVERGED
        if t.step >= self.total:
            return "finished"
        return "paused" if t.step > 0 else "ready"

    @property
    def startable(self) -> bool:
        return (not self.closed and self._done and self.state not in ("finished", runs.DIVERGED))

    # -- controls -----------------------------------------------------------------
    def start(self, on_exit=None) -> bool:
        """Train in a new thread; `on_exit(self)` is called from it when it ends. False: nothing to do."""
        with self._ctl:
            if not self.startable:
                return False
            self.pinned = None                      # training: show the newest snapshot
            self._done = False
            self._pool = None
            self._thread = threading.Thread(target=self._fit, args=(on_exit,), name="toylab-train", daemon=True)
            self._thread.start()
            return True

    def join(self, pool: Pool, on_exit=None, owner=None) -> int | None:
        """Train in `pool` (sharing rounds with the runs of its group): 0, or the place in its
        line; None when there is nothing to do. `on_exit(self)` is called when the fit ends;
        `owner` (the client address) is whose fair share it counts in."""
        with self._ctl:
            if not self.startable:
                return None
            self.pinned = None
            self._done = False
            self._pool, self._on_exit = pool, on_exit
            self._exited.clear()
            try:
                return pool.join(self.trainer, self.total, on_exit=self._left, owner=owner)
            except Exception:
                self._done, self._pool = True, None     # refused: still at rest, startable again
                raise

    def _left(self, error: str | None) -> None:
        """The pool's word that this run's fit ended (from its group's thread)."""
        if error:
            self.error = error
        self._publish()
        self._exited.set()
        self._done = True                   # last: a new join() may begin only now (it clears _exited)
        if self._on_exit is not None:
            self._on_exit(self)

    def _fit(self, on_exit):
        try:
            if not self.closed:
                self.trainer.fit(self.total)
        except Exception as err:            # recorded and shown, never kills the server
            self.error = f"{type(err).__name__}: {err}"
        finally:
            self._publish()
            self._done = True
            if on_exit is not None:
                on_exit(self)               # frees the run slot (and may start the next waiting run)

    def _halt(self, timeout: float) -> bool:
        """Stop training after the current round and wait for it; True when it has stopped."""
        pool, thread = self._pool, self._thread
        if self._done:
            return True
        if pool is not None:
            if pool.cancel(self.trainer) and not self._exited.is_set():
                self._done = True               # it was waiting in line: its fit never started
                return True
            self.trainer.stop()
            return self._exited.wait(timeout)
        if thread is not None:
            self.trainer.stop()
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def pause(self, timeout: float = 30.0) -> None:
        """Stop after the current round; the picture then shows the step training stopped at."""
        if self._halt(timeout):
            t = self.trainer
            if t.snapshots and t.snapshots[-1].step != t.step and self.state == "paused":
                t.flush()
                t.snapshot()
                self._publish()

    def step(self, what: str) -> None:
        """One D step, one G step or one round ('d', 'g', 'round'), by hand while paused."""
        if not self._done:
            raise RuntimeError("pause first: steps by hand are taken while paused")
        t = self.trainer
        {"d": t.d_step, "g": t.g_step, "round": t.round}[what]()
        self.pinned = None                          # show what the step did
        t.flush()
        t.snapshot()
        self._publish()

    def retune(self, **changes) -> None:
        """Change live fields: at once while paused, before the next round while training."""
        self.trainer.retune(**changes)
        if self._done:
            self._publish()

    def train_to(self, total: int) -> None:
        """Train to `total` rounds in all, also while training (a run may then be finished, or go on)."""
        self.total = int(total)
        self.trainer.train_to(self.total)

    def close(self, timeout: float = JOIN_TIMEOUT) -> bool:
        """Stop training at the next round and wait for it; True when it has stopped.

        No new start is possible after this. The trainer's callback (a cycle back to this
        object) is dropped so that the run's memory goes with the last reference, not with
        the next garbage collection."""
        with self._ctl:
            self.closed = True
        stopped = self._halt(timeout)
        if stopped:
            self.trainer.callbacks = []
            self._view = None
            self._on_exit = None
        return stopped
