"""Per-tab state: each browser tab is a session with its own live run, upload and loaded runs.

No module-level mutable state: a `SessionManager` belongs to one app (made in
`create_app`). The server alone makes sessions (at page load), with random tokens
(`secrets.token_urlsafe`) that every callback checks by format and by owner; a
session's folder is made by the server under its own temporary root, and nothing
named by a client is ever written to or deleted.

The host's budgets are admission rules, never evictions of someone's work:
- at most `max_sessions` tabs (`max_per_client` per client address); a new tab may
  take the place of a stale one (no poll for `stale_after` seconds, nothing training),
  otherwise it is refused with a message;
- at most `max_runs` trainings at once (default: one per core), each in its own
  thread; up to `max_queue` more wait in order (the page shows their place), and
  beyond that Start is refused ("the lab is busy ...").
Closing a session (its tab's goodbye, the reaper after `idle_timeout` without a
poll, or the server's shutdown) stops its training at the next round, joins the
thread and drops every reference to its run, upload and loaded runs.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import itertools
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
from pathlib import Path

from toylab import Trainer, TrainConfig
from toylab.measure.outcomes import classify
from toylab.pictures.panels import RunView

MAX_LOADED = 4
#: samples drawn per scatter in the live panels (of the 1,000 measured): 1,000 SVG markers took
#: ~100 ms of each panel's redraw in the browser, most of a playback frame; the shading shows the rest
POINTS_DRAWN = 500
SID_BYTES = 24                                     # 192 random bits
SID_RE = re.compile(r"[A-Za-z0-9_-]{32}")          # what token_urlsafe(24) gives, nothing else
JOIN_TIMEOUT = 10.0                                # seconds a close waits for the training thread


def _libc():
    try:
        return ctypes.CDLL(ctypes.util.find_library("c"))
    except OSError:
        return None


LIBC = _libc()                                     # the C library, for malloc_trim (glibc); None elsewhere
TRIM_EVERY = 1.0                                   # seconds between a training thread's heap trims


def trim_heap() -> None:
    """Hand freed heap pages back to the system (glibc's malloc_trim; a no-op elsewhere).

    Measured: a default ring8 run's *live* data grows by ~3 MB over 2,000 rounds, but the
    process's RSS grew by ~110 kB a round (173 MB in 1,500 rounds) because glibc keeps the
    training thread's freed temporaries in its arena; trimming once a second keeps RSS flat
    for ~5 % of the training time (forcing mmap for large blocks instead cost 2x)."""
    trim = getattr(LIBC, "malloc_trim", None)
    if trim is not None:
        trim(0)


def _release_memory() -> None:
    """Collect reference cycles (the engine's Trainer has closures over itself), then trim."""
    gc.collect()
    trim_heap()


class SessionError(ValueError):
    """A callback's session id is malformed, unknown, or not this client's."""


class LabBusy(RuntimeError):
    """The host's budget is spent: the new tab or the new run is refused (nothing is evicted)."""


def new_sid() -> str:
    return secrets.token_urlsafe(SID_BYTES)


def check_sid(sid) -> str:
    if not isinstance(sid, str) or not SID_RE.fullmatch(sid):
        raise SessionError("session: malformed session id; reload the page")
    return sid


class LiveRun:
    """One session's training: a toylab Trainer driven from a background thread.

    `latest` is a consistent copy of the run (history arrays, snapshot list) taken at
    each snapshot, so the request threads read it without touching the trainer.
    """

    _serials = itertools.count(1)

    def __init__(self, config: TrainConfig):
        self.serial = next(LiveRun._serials)           # names this run in the page's records (an id() is reused)
        self.trainer = Trainer(config, callbacks=[self._on_snapshot])
        self.total = config.steps
        self._lock = threading.Lock()
        self._ctl = threading.Lock()                # start and close, one at a time
        self._thread: threading.Thread | None = None
        self._done = True                           # the thread has left fit() (or never ran)
        self.closed = False
        self._trimmed = 0.0                         # when this run's thread last trimmed the heap
        self.version = 0
        self.error: str | None = None
        self.pinned: int | None = None              # snapshot the user scrubbed to (None: the newest)
        self.trainer.snapshot()                     # step 0 is on screen at once
        self._publish()
        self._view: RunView | None = None
        self._verdict: tuple | None = None          # (the run judged, its outcome)
        # the costly first picture (p_data, the kernel bandwidth from scratch) is made now,
        # with the run, so that every later snapshot update is the fast kind
        self.view(self.latest).frame(self.latest.snapshots[-1])

    # -- reading ---------------------------------------------------------------
    def _publish(self):
        run = self.trainer.run()
        with self._lock:
            self.latest = run
            self.version += 1

    def _on_snapshot(self, trainer, snap):
        self._publish()
        if time.monotonic() - self._trimmed > TRIM_EVERY:   # bounded RSS, not only bounded data
            trim_heap()
            self._trimmed = time.monotonic()
        return not self.closed                      # False stops fit(): a second guard beside stop()

    def snapshot_run(self):
        with self._lock:
            return self.latest

    def progress(self) -> tuple[int, str]:
        """(round, state) read now, together: the counter moves every round while training, not
        only at snapshots, and after Pause it shows the round training stopped at."""
        step = self.trainer.step
        return step, self.state

    def verdict(self) -> str | None:
        """The outcome of the run so far (toylab.outcomes.classify on its newest record; None
        before the first measurement), computed once per published version."""
        run = self.snapshot_run()
        cached = self._verdict
        if cached is None or cached[0] is not run:
            outcome = classify(run).outcome if len(run.member_history(0).get("js", ())) else None
            self._verdict = cached = (run, outcome)
        return cached[1]

    def view(self, run) -> RunView:
        """A RunView of the run, made once (p_data is the costly part) and refreshed after."""
        if self._view is None:
            self._view = RunView(run, n_points=POINTS_DRAWN)
        return self._view.refresh(run)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._done

    @property
    def state(self) -> str:
        t = self.trainer
        if self.running:
            return "running"
        if self.error:
            return "failed"
        if t.status == "diverged" or all(s == "diverged" for s in t.member_status):
            return "diverged"
        if t.step >= self.total:
            return "finished"
        return "paused" if t.step > 0 else "ready"

    @property
    def startable(self) -> bool:
        return not self.closed and not self.running and self.state not in ("finished", "diverged")

    # -- controls -----------------------------------------------------------------
    def start(self, on_exit=None) -> bool:
        """Train in a new thread; `on_exit(self)` is called from it when it ends. False: nothing to do."""
        with self._ctl:
            if not self.startable:
                return False
            self.pinned = None                      # training: show the newest snapshot
            self._done = False
            self._thread = threading.Thread(target=self._fit, args=(on_exit,), name="toylab-train", daemon=True)
            self._thread.start()
            return True

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

    def pause(self, timeout: float = 30.0) -> None:
        """Stop after the current round; the picture then shows the step training stopped at."""
        thread = self._thread
        if self.running:
            self.trainer.stop()
            thread.join(timeout)
            t = self.trainer
            if not self.running and t.snapshots and t.snapshots[-1].step != t.step and self.state == "paused":
                t.flush()
                t.snapshot()
                self._publish()

    def step(self, what: str) -> None:
        """One D step, one G step or one round ('d', 'g', 'round'), by hand while paused."""
        if self.running:
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
        if not self.running:
            self._publish()

    def train_to(self, total: int) -> None:
        """Train to `total` rounds in all, also while training (a run may then be finished, or go on)."""
        self.total = int(total)
        self.trainer.train_to(self.total)

    def close(self, timeout: float = JOIN_TIMEOUT) -> bool:
        """Stop training at the next round and join the thread; True when it has stopped.

        No new start is possible after this. The trainer's callback (a cycle back to this
        object) is dropped so that the run's memory goes with the last reference, not with
        the next garbage collection."""
        with self._ctl:
            self.closed = True
            thread = self._thread
        if thread is not None and thread.is_alive():
            self.trainer.stop()
            thread.join(timeout)
        stopped = thread is None or not thread.is_alive()
        if stopped:
            self.trainer.callbacks = []
            self._view = None
        return stopped


class Session:
    def __init__(self, sid: str, root: Path, client: str | None):
        self.id, self.client = sid, client
        self.dir = Path(tempfile.mkdtemp(prefix="tab-", dir=root))   # made here; its name is not the sid
        self.live: LiveRun | None = None
        self.upload: Path | None = None                # this tab's uploaded (or drawn, once used) points
        self.drawing = None                            # the points drawn on the canvas so far (n, 2)
        self.loaded: dict[str, object] = {}            # path -> Run, for comparison
        self.last_seen = time.monotonic()
        self.closed = False
        self.lock = threading.RLock()                  # one control action at a time per tab
        self.busy = threading.Lock()                   # one heavy request (xy, export) at a time per tab

    def touch(self):
        self.last_seen = time.monotonic()

    def load(self, path: str):
        """A saved run for comparison (cached; at most MAX_LOADED kept)."""
        from toylab import load_run
        if path not in self.loaded:
            while len(self.loaded) >= MAX_LOADED:
                self.loaded.pop(next(iter(self.loaded)))
            self.loaded[path] = load_run(path, max_snapshots=2)
        return self.loaded[path]

    def close(self) -> bool:
        """Stop the training, drop every reference, remove the folder the server made for this tab."""
        with self.lock:                                # after any control action in progress
            self.closed = True
            live, self.live = self.live, None
        stopped = live.close() if live is not None else True
        self.loaded.clear()
        self.upload = self.drawing = None
        shutil.rmtree(self.dir, ignore_errors=True)
        return stopped


class RunSlots:
    """At most `max_runs` trainings at once; up to `max_queue` more wait in order."""

    def __init__(self, max_runs: int, max_queue: int):
        self.max_runs, self.max_queue = max_runs, max_queue
        self._lock = threading.Lock()
        self.running: list[LiveRun] = []
        self.waiting: list[LiveRun] = []

    def request(self, live: LiveRun) -> int:
        """Start `live` now (returns 0) or queue it (returns its place, 1 = next); LabBusy when full."""
        with self._lock:
            if live in self.running:
                return 0
            if live in self.waiting:
                return self.waiting.index(live) + 1
            if len(self.running) >= self.max_runs:
                if len(self.waiting) >= self.max_queue:
                    raise LabBusy(self._busy_message())
                self.waiting.append(live)
                return len(self.waiting)
            self.running.append(live)
        if not live.start(on_exit=self._finished):
            self._finished(live)
        return 0

    def check(self) -> None:
        """LabBusy when a new run could neither start nor wait (asked before building one)."""
        with self._lock:
            if len(self.running) >= self.max_runs and len(self.waiting) >= self.max_queue:
                raise LabBusy(self._busy_message())

    def _busy_message(self) -> str:
        return (f"the lab is busy: {len(self.running)} runs in progress and {len(self.waiting)} waiting; "
                f"try again or ask the host to raise --max-runs")

    def place(self, live: LiveRun) -> int:
        """0 when not waiting, else its place in the queue."""
        with self._lock:
            return self.waiting.index(live) + 1 if live in self.waiting else 0

    def cancel(self, live: LiveRun) -> None:
        with self._lock:
            if live in self.waiting:
                self.waiting.remove(live)

    def _finished(self, live: LiveRun) -> None:
        """A training thread ended: its slot goes to the first waiting run that can start."""
        while True:
            with self._lock:
                if live in self.running:
                    self.running.remove(live)
                if not self.waiting or len(self.running) >= self.max_runs:
                    return
                live = self.waiting.pop(0)
                self.running.append(live)
            if live.start(on_exit=self._finished):
                return

    def __len__(self):
        return len(self.running)


class SessionManager:
    """The sessions of one app, its run slots, and a reaper thread for tabs that went away."""

    def __init__(self, max_sessions: int = 40, idle_timeout: float = 180.0, root: Path | None = None, *,
                 max_per_client: int = 4, max_runs: int | None = None, max_queue: int | None = None,
                 stale_after: float = 20.0):
        self.max_sessions, self.max_per_client = max_sessions, max_per_client
        self.idle_timeout, self.stale_after = idle_timeout, stale_after
        max_runs = max_runs or os.cpu_count() or 1
        self.slots = RunSlots(max_runs, 4 * max_runs if max_queue is None else max_queue)
        self.root = Path(tempfile.mkdtemp(prefix="toylab-dash-", dir=root))
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()
        self._quit = threading.Event()
        self._garbage = threading.Event()          # a session was closed: collect its run's cycles
        self._reaper = threading.Thread(target=self._reap_forever, name="toylab-reaper", daemon=True)
        self._reaper.start()

    # -- sessions ---------------------------------------------------------------
    def open(self, client: str | None = None) -> Session:
        """A new session with a server-made token; LabBusy (with the reason) when over budget."""
        stale = []
        with self._lock:
            mine = [s for s in self._sessions.values() if s.client == client]
            if len(mine) >= self.max_per_client:
                old = self._stale(mine)
                if old is None:
                    raise LabBusy(f"this computer already has {len(mine)} tabs of the lab open (the most per "
                                  f"client); close one, or ask the host to raise --max-per-client")
                stale.append(self._sessions.pop(old.id))
            elif len(self._sessions) >= self.max_sessions:
                old = self._stale(self._sessions.values())
                if old is None:
                    raise LabBusy(f"the lab is full: {len(self._sessions)} tabs open; try again later, or ask "
                                  f"the host to raise --max-sessions")
                stale.append(self._sessions.pop(old.id))
            s = Session(new_sid(), self.root, client)
            self._sessions[s.id] = s
        for old in stale:
            self._close(old)
        return s

    def _stale(self, sessions) -> Session | None:
        """The longest-unseen session that nobody polls any more and that trains nothing."""
        now = time.monotonic()
        idle = [s for s in sessions if now - s.last_seen > self.stale_after and not self._busy(s)]
        return min(idle, key=lambda s: s.last_seen) if idle else None

    def _busy(self, s: Session) -> bool:
        live = s.live
        return live is not None and (live.running or self.slots.place(live) > 0)

    def get(self, sid, client: str | None = None) -> Session:
        """The session of a callback's id (checked by format, then by owner); also its heartbeat."""
        check_sid(sid)
        with self._lock:
            s = self._sessions.get(sid)
        if s is None or (client is not None and s.client != client):
            raise SessionError("session: this tab's session has ended (closed, or idle too long); reload the page")
        s.touch()
        return s

    def close(self, sid) -> bool:
        if not isinstance(sid, str):
            return False
        with self._lock:
            s = self._sessions.pop(sid, None)
        if s is not None:
            self._close(s)
        return s is not None

    def _close(self, s: Session) -> None:
        if s.live is not None:
            self.slots.cancel(s.live)
        s.close()
        self._garbage.set()

    # -- runs -------------------------------------------------------------------
    def start(self, session: Session) -> int:
        """Start (0) or queue (its place) the session's live run; LabBusy when the queue is full.
        A session closed meanwhile (reaped, evicted, said goodbye) starts nothing."""
        with session.lock:                             # Session.close takes it too: no start after a close
            if session.closed or session.live is None:
                raise SessionError("session: this tab's session has ended (closed, or idle too long); "
                                   "reload the page")
            return self.slots.request(session.live)

    def discard(self, live: LiveRun) -> None:
        """A run replaced by a new one (Reset): out of the queue, stopped, its memory reclaimed soon."""
        self.slots.cancel(live)
        live.close()
        self._garbage.set()

    def pause(self, session: Session) -> None:
        live = session.live
        self.slots.cancel(live)
        live.pause()

    def place(self, live: LiveRun) -> int:
        return self.slots.place(live)

    # -- housekeeping -------------------------------------------------------------
    def __len__(self):
        return len(self._sessions)

    def ids(self) -> list[str]:
        with self._lock:
            return list(self._sessions)

    def reap(self) -> int:
        """Close sessions idle for longer than idle_timeout; returns how many."""
        now = time.monotonic()
        with self._lock:
            idle = [sid for sid, s in self._sessions.items() if now - s.last_seen > self.idle_timeout]
        for sid in idle:
            self.close(sid)
        return len(idle)

    def _reap_forever(self):
        """Reap idle tabs now and then; after closes, collect garbage once (a burst of closes, one pass);
        while tabs are open, trim the heap once a second.

        The engine's Trainer holds reference cycles (closures over itself), so a closed run's
        tensors are freed by the cycle collector, not by the last reference; a full pass takes
        0.1-0.3 s holding the GIL, so it runs here, at most once a second, not in a request."""
        period = min(10.0, self.idle_timeout / 3)
        next_reap = time.monotonic() + period
        while not self._quit.wait(min(1.0, period)):
            if self._garbage.is_set():
                self._garbage.clear()
                _release_memory()
            elif self._sessions:
                trim_heap()                    # the request threads' freed figures, too (a few ms)
            if time.monotonic() >= next_reap:
                self.reap()
                next_reap = time.monotonic() + period

    def close_all(self):
        for sid in self.ids():
            self.close(sid)

    def shutdown(self):
        """Close every session, stop the reaper and remove the server's temporary root."""
        self._quit.set()
        self.close_all()
        if self._reaper is not threading.current_thread():
            self._reaper.join(5.0)
        shutil.rmtree(self.root, ignore_errors=True)
