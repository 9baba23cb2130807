"""Per-tab state: each browser tab is a session with its own live run, uploads and loaded runs.

No module-level mutable state: a `SessionManager` belongs to one app (made in
`create_app`). Training runs in a background thread per session, never on the
request thread. Memory is bounded: at most `max_sessions` sessions (the longest idle
is closed first), one live run each with at most `max_snapshots` snapshots, at most
`MAX_LOADED` saved runs held for comparison. A session that stops polling for
`idle_timeout` seconds, or whose tab sends its goodbye, is closed and its training stopped.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from pathlib import Path

from toylab import Trainer, TrainConfig
from toylab.panels import RunView

MAX_LOADED = 4


class LiveRun:
    """One session's training: a toylab Trainer driven from a background thread.

    `latest` is a consistent copy of the run (history arrays, snapshot list) taken at
    each snapshot, so the request threads read it without touching the trainer.
    """

    def __init__(self, config: TrainConfig):
        self.trainer = Trainer(config, callbacks=[self._on_snapshot])
        self.total = config.steps
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.version = 0
        self.error: str | None = None
        self.drawn = None                           # what the page last drew (to skip redraws)
        self.pinned: int | None = None              # snapshot the user scrubbed to (None: the newest)
        self.trainer.snapshot()                     # step 0 is on screen at once
        self._publish()
        self._view: RunView | None = None
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

    def snapshot_run(self):
        with self._lock:
            return self.latest

    def view(self, run) -> RunView:
        """A RunView of the run, made once (p_data is the costly part) and refreshed after."""
        if self._view is None:
            self._view = RunView(run)
        return self._view.refresh(run)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

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

    # -- controls -----------------------------------------------------------------
    def start(self) -> None:
        if self.running or self.state in ("finished", "diverged"):
            return
        self.pinned = None                          # training: show the newest snapshot
        self._thread = threading.Thread(target=self._fit, name="toylab-train", daemon=True)
        self._thread.start()

    def _fit(self):
        try:
            self.trainer.fit(self.total)
        except Exception as err:            # recorded and shown, never kills the server
            self.error = f"{type(err).__name__}: {err}"
        finally:
            self._publish()

    def pause(self, timeout: float = 30.0) -> None:
        """Stop after the current round; the picture then shows the step training stopped at."""
        if self.running:
            self.trainer.stop()
            self._thread.join(timeout)
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
        self.trainer.retune(**changes)
        self._publish()

    def close(self) -> None:
        self.pause()


class Session:
    def __init__(self, sid: str, root: Path):
        self.id = sid
        self.dir = root / sid                 # uploads and exports of this tab
        self.live: LiveRun | None = None
        self.loaded: dict[str, object] = {}  # path -> Run, for comparison
        self.last_seen = time.monotonic()
        self.lock = threading.RLock()         # one control action at a time per tab

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

    def close(self):
        if self.live is not None:
            self.live.close()
            self.live = None
        self.loaded.clear()
        shutil.rmtree(self.dir, ignore_errors=True)


class SessionManager:
    """The sessions of one app, with a reaper thread for tabs that went away."""

    def __init__(self, max_sessions: int = 8, idle_timeout: float = 180.0, root: Path | None = None):
        self.max_sessions, self.idle_timeout = max_sessions, idle_timeout
        self.root = Path(root or tempfile.mkdtemp(prefix="toylab-dash-"))
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()
        self._reaper = threading.Thread(target=self._reap_forever, name="toylab-reaper", daemon=True)
        self._reaper.start()

    def get(self, sid: str) -> Session:
        if not sid or not isinstance(sid, str) or len(sid) > 64:
            raise ValueError("session: missing or malformed session id; reload the page")
        evicted = []
        with self._lock:
            s = self._sessions.get(sid)
            if s is None:
                while len(self._sessions) >= self.max_sessions:
                    oldest = min(self._sessions.values(), key=lambda x: x.last_seen)
                    evicted.append(self._sessions.pop(oldest.id))
                s = self._sessions[sid] = Session(sid, self.root)
            s.touch()
        for old in evicted:
            old.close()
        return s

    def close(self, sid: str) -> bool:
        with self._lock:
            s = self._sessions.pop(sid, None)
        if s is not None:
            s.close()
        return s is not None

    def __len__(self):
        return len(self._sessions)

    def reap(self) -> int:
        """Close sessions idle for longer than idle_timeout; returns how many."""
        now = time.monotonic()
        with self._lock:
            idle = [sid for sid, s in self._sessions.items() if now - s.last_seen > self.idle_timeout]
        for sid in idle:
            self.close(sid)
        return len(idle)

    def _reap_forever(self):
        while True:
            time.sleep(min(10.0, self.idle_timeout / 3))
            self.reap()

    def close_all(self):
        for sid in list(self._sessions):
            self.close(sid)
