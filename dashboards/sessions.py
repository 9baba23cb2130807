"""Per-tab state: each browser tab is a session with its own live run, upload and loaded runs.

No module-level mutable state: a `SessionManager` belongs to one app (made in
`create_app`). The server alone makes sessions (at page load), with random tokens
(`secrets.token_urlsafe`) that every callback checks by format and by owner; a
session's folder is made by the server under its own temporary root, and nothing
named by a client is ever written to or deleted.

The host's budgets are admission rules, never evictions of someone's work:
- at most `max_sessions` tabs (`max_per_client` per client address); a new tab may
  take the place of a stale one (not heard from for `stale_after` seconds — three of the
  page's heartbeats and at least 90 s, so an open page is never stale — and training nothing),
  otherwise it is refused with a message;
- full-speed runs train in a pool of live ensembles (toylab.engine.pool): runs of the same
  shapes share batched rounds in one group, at most `max_runs` groups at once (default:
  one per core), each taking members while its measured rate stays at or above `floor`
  rounds/s; a run that fits nowhere waits in line (the page shows its place and why);
- a run that cannot share rounds (slowed down to watch, an unrolled GAN) trains in a thread
  of its own: at most `max_runs` of those at once, shared fairly between client addresses (a
  client training none takes a slot from one holding two or more: `RunSlots`), and a run
  paced at `SLOW_PACE` rounds/s or slower (asleep most of the time) outside that count;
- exports: at most one at a time per client address and `max_runs` at once (`heavy`);
- up to `max_queue` runs wait in each line; beyond that Start is refused ("the lab is busy ...").
Closing a session (its tab's goodbye, the reaper after `idle_timeout` without a
poll, or the server's shutdown) stops its training at the next round, joins the
thread and drops every reference to its run, upload and loaded runs.
"""

from __future__ import annotations

import contextlib
import gc
import ipaddress
import math
import os
import re
import secrets
import shutil
import stat
import tempfile
import threading
import time
from pathlib import Path

import flask

from toylab.engine.files import release_free_heap
from toylab.engine.pool import FLOOR, Pool
from toylab.engine.runs import load_run

from .live import LiveRun
from .options import LIVE_FRAME_SECONDS

MAX_LOADED = 4
#: a session not heard from for this many heartbeats (at least STALE_MIN seconds) is stale: a
#: browser's hidden tab runs its timers once a minute, so an open page is heard from more often
STALE_HEARTBEATS = 3
STALE_MIN = 90.0
GARBAGE_EVERY = 1.0                                # seconds between the reaper's garbage passes, at least
SID_BYTES = 24                                     # 192 random bits
SID_RE = re.compile(r"[A-Za-z0-9_-]{32}")          # what token_urlsafe(24) gives, nothing else



def heartbeat_seconds(idle_timeout: float) -> float:
    """Seconds between an open page's heartbeats: four per idle_timeout, at most 15 s."""
    return max(0.5, min(15.0, idle_timeout / 4))


#: every server's temporary folder is TEMP_PREFIX + its process id + '-' + random letters, under
#: one fixed folder per user (temp_base), so that a start finds what a killed server left
TEMP_PREFIX = "toylab-dash-"
_TEMP_NAME = re.compile(re.escape(TEMP_PREFIX) + r"(\d+)-[A-Za-z0-9_]+")


def temp_base(root=None) -> Path | None:
    """Where the servers of this user keep their temporary folders: `root` when given, else
    TMPDIR/toylab-dashboard-UID, made with mode 0700. Used only when it is a real folder (not a
    symlink) of this user that no one else may write to; None otherwise (a name someone else took:
    the server then makes a fresh temporary folder and cleans nothing)."""
    if root is not None:
        return Path(root)
    uid = os.getuid() if hasattr(os, "getuid") else None
    base = Path(tempfile.gettempdir()) / f"toylab-dashboard-{uid if uid is not None else 'user'}"
    try:
        base.mkdir(mode=0o700)
    except FileExistsError:
        pass
    except OSError:
        return None
    try:
        st = os.lstat(base)
    except OSError:
        return None
    mine = uid is None or st.st_uid == uid
    if not (stat.S_ISDIR(st.st_mode) and mine and not st.st_mode & 0o022):
        return None
    return base


def _process_start(pid: int) -> float | None:
    """When process `pid` started (seconds since the epoch; Linux's /proc), None where unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
        return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def _server_gone(pid: int, made: float) -> bool:
    """Whether the server with this process id, whose folder was last changed at `made`, is gone:
    no such process, or one that started after that (the id used again: a container restarted)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False                       # someone's process: alive
    start = _process_start(pid)
    return start is not None and start > made + 1.0


def clean_stale(base, started: float) -> list[Path]:
    """Remove what servers that are gone left under `base` (a kill -9 or a crash: uploads, drawings,
    exports): folders named TEMP_PREFIX + PID + '-...' that are real folders (a symlink is never
    followed, nor removed), owned by this user, last changed before `started`, whose server process
    is gone. Returns the folders removed."""
    removed = []
    uid = os.getuid() if hasattr(os, "getuid") else None
    try:
        entries = list(os.scandir(base))
    except OSError:
        return removed
    for entry in entries:
        m = _TEMP_NAME.fullmatch(entry.name)
        if not m:
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISDIR(st.st_mode) or (uid is not None and st.st_uid != uid) or st.st_mtime >= started:
            continue
        if _server_gone(int(m.group(1)), st.st_mtime):
            shutil.rmtree(entry.path, ignore_errors=True)     # (rmtree does not follow links inside it)
            removed.append(Path(entry.path))
    return removed


def client() -> str | None:
    """The requesting client's address (sessions are bound to it, fair shares counted by it),
    None outside a request: an IPv4 address, or an IPv6 client's /64 network (one host may
    take any address of its /64, so each would have been a share of its own)."""
    return owner_of(flask.request.remote_addr) if flask.has_request_context() else None


def owner_of(address: str | None) -> str | None:
    """'2001:db8:1:2::/64' for any IPv6 address of that /64; an IPv4 address (or anything
    else) as it is. X-Forwarded-For is never read: a client could write any address there."""
    try:
        ip = ipaddress.ip_address(address)
    except (TypeError, ValueError):
        return address
    if ip.version == 4:
        return str(ip)
    if ip.ipv4_mapped is not None:                   # ::ffff:a.b.c.d is an IPv4 client
        return str(ip.ipv4_mapped)
    return str(ipaddress.ip_network(f"{ip}/64", strict=False))


def _release_memory() -> None:
    """Collect reference cycles (the engine's Trainer has closures over itself), then give the
    freed heap back to the system."""
    gc.collect()
    release_free_heap()


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


class Session:
    def __init__(self, sid: str, root: Path, client: str | None, clock=time.monotonic):
        self.id, self.client = sid, client
        self.dir = Path(tempfile.mkdtemp(prefix="tab-", dir=root))   # made here; its name is not the sid
        self.live: LiveRun | None = None
        self.upload: Path | None = None                # this tab's uploaded (or drawn, once used) points
        self.drawing = None                            # the points drawn on the canvas so far (n, 2)
        self.loaded: dict[str, object] = {}            # path -> Run, for comparison
        self.clock = clock                             # the manager's: tests pass one they move by hand
        self.last_seen = clock()
        self.closed = False
        self.lock = threading.RLock()                  # one control action at a time per tab
        self.busy = threading.Lock()                   # one heavy request (xy, export) at a time per tab

    def touch(self):
        self.last_seen = self.clock()

    def load(self, path: str, root=None):
        """A saved run for comparison (cached; at most MAX_LOADED kept); `root`: the runs folder it
        must lie inside (every file read guarded: toylab.engine.guarded)."""
        if path not in self.loaded:
            while len(self.loaded) >= MAX_LOADED:
                self.loaded.pop(next(iter(self.loaded)))
            self.loaded[path] = load_run(path, max_snapshots=2, root=root)
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


#: a run paced at or below this many rounds a second trains outside the run slots: it sleeps most
#: of each second, so counting it as a full-speed run let four tabs at 1 round/s hold every slot
#: and the whole line for a day at ~0 % CPU (each client is held to its tabs, `max_per_client`)
SLOW_PACE = 10.0


def slow(live: LiveRun) -> bool:
    """Paced at SLOW_PACE rounds a second or slower."""
    interval = live.trainer.controls.interval
    return interval > 0 and interval >= 1.0 / SLOW_PACE


def _queue_share(queued: int, cap: int, what: str) -> str:
    return (f"your address already has {queued} runs waiting for {what} (at most {cap} each); "
            f"start this one when one of them trains")


class RunSlots:
    """At most `max_runs` full-speed trainings at once, shared fairly between client addresses;
    up to `max_queue` more wait (at most `max_client_queue` of one client's).

    Fair: a freed slot goes to the waiting run whose client trains the fewest runs (first come
    among equals); a client with no run training that asks while another client holds two or
    more slots takes that client's newest one, whose run pauses and waits in line again (it
    starts by itself when a slot frees). Slow runs (`slow`) train outside the slots."""

    def __init__(self, max_runs: int, max_queue: int, max_client_queue: int | None = None):
        self.max_runs, self.max_queue = max_runs, max_queue
        self.max_client_queue = max(1, max_queue // 4) if max_client_queue is None else max_client_queue
        self._lock = threading.Lock()
        self.running: list[LiveRun] = []
        self.waiting: list[LiveRun] = []
        self.outside: list[LiveRun] = []            # slow runs, not counted
        self.owner: dict[LiveRun, str | None] = {}
        self._preempted: set[LiveRun] = set()

    def _training(self, client) -> int:
        return sum(self.owner.get(r) == client for r in self.running)

    def request(self, live: LiveRun, client: str | None = None) -> int:
        """Start `live` now (returns 0) or queue it (returns its place, 1 = next); LabBusy when its
        client's share of the line or the line is full."""
        victim = None
        with self._lock:
            if live in self.running or live in self.outside:
                return 0
            if live in self.waiting:
                return self.waiting.index(live) + 1
            if slow(live):
                self.outside.append(live)
                self.owner[live] = client
            elif len(self.running) < self.max_runs:
                self.running.append(live)
                self.owner[live] = client
            else:
                if len(self.waiting) >= self.max_queue:
                    raise LabBusy(self._busy_message())
                queued = sum(self.owner.get(r) == client for r in self.waiting)
                if queued >= self.max_client_queue:
                    raise LabBusy(_queue_share(queued, self.max_client_queue, "a run slot"))
                victim = self._over_share(client)
                self.owner[live] = client
                if victim is not None:
                    self._preempted.add(victim)
                    self.waiting.insert(0, live)
                else:
                    self.waiting.append(live)
                place = self.waiting.index(live) + 1
        if victim is not None:
            victim.pause()                             # its on_exit gives the slot (fairly: to `live`)
            return self.place(live)
        if live in self.waiting:
            return place
        if not live.start(on_exit=self._finished):
            self._finished(live)
        return 0

    def _over_share(self, client) -> LiveRun | None:
        """The newest run of the client training the most, when `client` trains none and that
        client trains two or more (its share, with another asking, is at most one less)."""
        if self._training(client):
            return None
        counts = {}
        for r in self.running:
            counts[self.owner.get(r)] = counts.get(self.owner.get(r), 0) + 1
        top = max(counts, key=counts.get, default=None)
        if top is None or counts[top] < 2:
            return None
        return [r for r in self.running if self.owner.get(r) == top][-1]

    def misplaced(self, live: LiveRun) -> bool:
        """Training in a slot though slow, or outside though fast (its pace changed)."""
        with self._lock:
            return (live in self.running and slow(live)) or (live in self.outside and not slow(live))

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
                self.owner.pop(live, None)
            self._preempted.discard(live)

    def _next(self) -> LiveRun:
        """The waiting run whose client trains the fewest runs (the first of those)."""
        return min(self.waiting, key=lambda r: self._training(self.owner.get(r)))

    def _finished(self, live: LiveRun) -> None:
        """A training thread ended: a preempted run waits again; a slot goes to the next waiting run."""
        while True:
            with self._lock:
                if live in self.outside:
                    self.outside.remove(live)
                    self.owner.pop(live, None)
                    return
                if live in self.running:
                    self.running.remove(live)
                if live in self._preempted:
                    self._preempted.discard(live)
                    if live.startable:
                        self.waiting.append(live)
                if live not in self.waiting:
                    self.owner.pop(live, None)
                if not self.waiting or len(self.running) >= self.max_runs:
                    return
                live = self._next()
                self.waiting.remove(live)
                self.running.append(live)
            if live.start(on_exit=self._finished):
                return

    def __len__(self):
        return len(self.running)


class SessionManager:
    """The sessions of one app, its run slots, and a reaper thread for tabs that went away."""

    def __init__(self, max_sessions: int = 40, idle_timeout: float = 180.0, root: Path | None = None, *,
                 max_per_client: int = 4, max_runs: int | None = None, max_queue: int | None = None,
                 stale_after: float | None = None, floor: float = FLOOR, clock=time.monotonic,
                 frame_seconds: float = LIVE_FRAME_SECONDS):
        self.max_sessions, self.max_per_client = max_sessions, max_per_client
        self.frame_seconds = frame_seconds          # a live run's pictures between its snapshots (LiveRun)
        self.clock = clock                          # when a tab was last seen (injectable for tests)
        self.idle_timeout = idle_timeout
        self.stale_after = (max(STALE_HEARTBEATS * heartbeat_seconds(idle_timeout), STALE_MIN)
                            if stale_after is None else stale_after)
        max_runs = max_runs or os.cpu_count() or 1
        self.max_queue = 4 * max_runs if max_queue is None else max_queue
        self.slots = RunSlots(max_runs, self.max_queue)
        self.pool = Pool(max_groups=max_runs, floor=floor)
        self.max_exports = max_runs                 # heavy one-off work (exports): at once, in all
        self._heavy: dict[tuple, int] = {}          # (kind, client) -> one-off jobs in progress
        # this server's temporary folder, under the user's fixed folder (temp_base), after removing
        # what servers killed before this start left there (their uploads stayed: issue #28)
        started = time.time()
        base = temp_base(root)
        self.removed_stale = clean_stale(base, started) if base is not None else []
        self.root = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-", dir=base))
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()
        self._quit = threading.Event()
        self._garbage = threading.Event()          # a session was closed: collect its run's cycles
        self._closing: list[Session] = []          # sessions that said goodbye, to be closed by the reaper
        self._wake = threading.Event()             # wakes the reaper at once (a goodbye)
        self._reaper = threading.Thread(target=self._reap_forever, name="toylab-reaper", daemon=True)
        self._reaper.start()

    @contextlib.contextmanager
    def heavy(self, client: str | None, what: str = "export"):
        """Hold one of the `max_exports` places of its kind for one-off work outside any run slot
        (an export: seconds of CPU; an xy-game request: up to ~1 s), at most one per client
        address and kind; LabBusy, said plainly, when none."""
        key = (what, client)
        with self._lock:
            if self._heavy.get(key, 0) >= 1:
                raise LabBusy(f"{what}: another {what} from your address is in progress; try again when it ends")
            if sum(n for (kind, _), n in self._heavy.items() if kind == what) >= self.max_exports:
                raise LabBusy(f"{what}: the server is computing {self.max_exports} of these for others; "
                              f"try again in a moment")
            self._heavy[key] = self._heavy.get(key, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                self._heavy[key] -= 1
                if not self._heavy[key]:
                    del self._heavy[key]

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
            s = Session(new_sid(), self.root, client, self.clock)
            self._sessions[s.id] = s
        for old in stale:
            self._close(old)
        return s

    def _stale(self, sessions) -> Session | None:
        """The longest-unseen session that nobody polls any more and that trains nothing."""
        now = self.clock()
        idle = [s for s in sessions if now - s.last_seen > self.stale_after and not self._busy(s)]
        return min(idle, key=lambda s: s.last_seen) if idle else None

    def _busy(self, s: Session) -> bool:
        live = s.live
        return live is not None and (live.running or self.place(live) > 0)

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

    def goodbye(self, sid) -> bool:
        """A tab's goodbye: the session ends now and its run stops at its next round; the waiting
        (joining the training thread, removing files) is the reaper's, so the request returns at
        once however loaded the server is."""
        if not isinstance(sid, str):
            return False
        with self._lock:
            s = self._sessions.pop(sid, None)
        if s is None:
            return False
        live = s.live
        if live is not None:
            self.slots.cancel(live)
            live.trainer.stop()
        with self._lock:
            self._closing.append(s)
        self._wake.set()
        return True

    # -- runs -------------------------------------------------------------------
    def start(self, session: Session) -> int:
        """Start (0) or queue (its place) the session's live run: in the pool when it can share
        rounds, else in a run slot; LabBusy when its line is full. A session closed meanwhile
        (reaped, evicted, said goodbye) starts nothing."""
        with session.lock:                             # Session.close takes it too: no start after a close
            if session.closed or session.live is None:
                raise SessionError("session: this tab's session has ended (closed, or idle too long); "
                                   "reload the page")
            live = session.live
            if live.fusable:
                if not self.pool.has_room(live.trainer):
                    if len(self.pool.waiting) >= self.max_queue:
                        raise LabBusy(self.busy_message())
                    queued = sum(m.owner == session.client for m in list(self.pool.waiting))
                    if queued >= self.slots.max_client_queue:
                        raise LabBusy(_queue_share(queued, self.slots.max_client_queue, "a place in a group"))
                place = live.join(self.pool, owner=session.client)
                return 0 if place is None else place
            return self.slots.request(live, session.client)

    def check(self, live: LiveRun | None) -> None:
        """LabBusy when a new run could neither start nor wait (asked before building one)."""
        if live is None or live.fusable:
            if len(self.pool.waiting) >= self.max_queue:
                raise LabBusy(self.busy_message())
        else:
            self.slots.check()

    def busy_message(self) -> str:
        return (f"the lab is busy: {self.load_text()}, and {len(self.pool.waiting)} runs waiting; "
                f"try again later, or ask the host to raise --max-queue")

    def load_text(self) -> str:
        """What trains now, said plainly: "24 runs in 2 groups at ~22 rounds/s each"."""
        stats = self.pool.stats()
        members = sum(g["members"] for g in stats)
        rates = [g["rounds_per_s"] for g in stats if g["rounds_per_s"]]
        pace = f" at ~{min(rates):.0f} rounds/s each" if rates else ""
        solo = f" (+{len(self.slots)} alone)" if len(self.slots) else ""
        return f"{members} runs in {len(stats)} group{'s' * (len(stats) != 1)}{pace}{solo}"

    def set_pace(self, session: Session, rate: float) -> None:
        """A run's speed: a slowed-down run trains alone (a group trains at one pace), a full-speed
        one in the pool; a running run that must change place pauses and starts again there."""
        with session.lock:
            live = session.live
            if live is None:
                return
            live.trainer.pace(rate)
            moving = ((live.running or self.place(live) > 0)
                      and (live.pooled != live.fusable or self.slots.misplaced(live)))
        if moving:                                     # LabBusy / SessionError reach the caller
            self.pause(session)
            self.start(session)

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
        return live.place() or self.slots.place(live)

    # -- housekeeping -------------------------------------------------------------
    def __len__(self):
        return len(self._sessions)

    def ids(self) -> list[str]:
        with self._lock:
            return list(self._sessions)

    def reap(self) -> int:
        """Close sessions idle for longer than idle_timeout; returns how many."""
        now = self.clock()
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
        collected = -math.inf
        while not self._quit.is_set():
            self._wake.wait(min(1.0, period))
            self._wake.clear()
            with self._lock:
                closing, self._closing = self._closing, []
            for s in closing:                  # goodbyes: their runs were stopped; now joined and freed
                self._close(s)
            # one pass a second at most: each close woke it, and a class's 30 closes made 20 passes
            # in 4 s, each ~0.19 s holding the GIL (the flag stays set until the pass)
            if self._garbage.is_set() and time.monotonic() - collected >= GARBAGE_EVERY:
                self._garbage.clear()
                _release_memory()
                collected = time.monotonic()
            elif self._sessions:
                release_free_heap()            # the request threads' freed figures, too (a few ms)
            if time.monotonic() >= next_reap:
                self.reap()
                next_reap = time.monotonic() + period

    def close_all(self):
        for sid in self.ids():
            self.close(sid)

    def shutdown(self):
        """Close every session, stop the reaper and the pool, remove the server's temporary root."""
        self._quit.set()
        self._wake.set()
        self.close_all()
        with self._lock:
            closing, self._closing = self._closing, []
        for s in closing:
            self._close(s)
        self.pool.shutdown()
        if self._reaper is not threading.current_thread():
            self._reaper.join(5.0)
        shutil.rmtree(self.root, ignore_errors=True)
