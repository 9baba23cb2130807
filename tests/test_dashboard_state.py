"""The dashboard's server side without a browser: sessions are isolated, admitted (never
evicted while they train) and closed for good; training runs off the request thread and
stops with its tab; the form refuses bad input by field."""

import base64
import threading
import time
import weakref

import numpy as np
import pytest

import toylab
from dashboards import forms
from dashboards.live import LiveRun
from dashboards.sessions import LabBusy, SessionError, SessionManager


def _config(**kw):
    cfg, errors, general = forms.build_config({"g_hidden": 16, "d_hidden": 16, "batch_size": 32, "steps": 400,
                                               "snapshot_every": 10, **kw})
    assert cfg is not None, (errors, general)
    return cfg


def _wait(cond, timeout=30, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def _trainers():
    return [t for t in threading.enumerate() if t.name == "toylab-train"]


@pytest.fixture
def manager(tmp_path):
    made = []

    def make(**kw):
        m = SessionManager(**{"max_sessions": 8, "idle_timeout": 600, "root": tmp_path, **kw})
        made.append(m)
        return m
    yield make
    for m in made:
        m.shutdown()


class Clock:
    """A clock the test moves by hand (SessionManager(clock=...)): no wall-clock windows."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_sessions_are_isolated_and_a_working_tab_is_never_evicted(manager):
    clock = Clock()
    m = manager(max_sessions=2, stale_after=0.3, clock=clock)
    a, b = m.open("10.0.0.1"), m.open("10.0.0.2")
    assert a.id != b.id and a.dir != b.dir and a.dir.parent == b.dir.parent == m.root
    a.live = LiveRun(_config(seed=1))
    b.live = LiveRun(_config(seed=2, steps=100_000))
    a.live.step("round")
    assert a.live.trainer.step == 1 and b.live.trainer.step == 0
    assert a.live.trainer is not b.live.trainer
    assert m.start(b) == 0 and b.live.running
    a.touch(), b.touch()                          # both tabs are polling
    with pytest.raises(LabBusy, match="the lab is full: 2 tabs open"):
        m.open("10.0.0.3")                        # both tabs were just seen: nobody is evicted
    clock.now += 0.31                             # both tabs go quiet for longer than stale_after
    c = m.open("10.0.0.3")                        # a is stale and trains nothing: its place is taken
    assert m.ids() == [b.id, c.id] and a.closed and a.live is None and not a.dir.exists()
    assert b.live.running                         # b is stale too, but it trains: never evicted
    with pytest.raises(LabBusy, match="the lab is full"):
        m.open("10.0.0.4")


def test_sessions_per_client_are_capped(manager):
    m = manager(max_per_client=2)
    m.open("10.0.0.1"), m.open("10.0.0.1")
    with pytest.raises(LabBusy, match="already has 2 tabs of the lab open.*--max-per-client"):
        m.open("10.0.0.1")
    m.open("10.0.0.2")                            # another client is not affected
    assert len(m) == 3


def test_session_ids_are_random_tokens_checked_by_format_and_owner(manager):
    m = manager()
    s = m.open("10.0.0.1")
    assert len(s.id) == 32 and s.id != m.open("10.0.0.1").id
    for bad in ["/abs/dir", "../x", "", None, 7, "a" * 31, "a" * 33, "../" + "a" * 29, s.id[:-1] + "/"]:
        with pytest.raises(SessionError, match="malformed session id"):
            m.get(bad)
    with pytest.raises(SessionError, match="has ended"):
        m.get("A" * 32)                           # well formed, never issued
    with pytest.raises(SessionError, match="has ended"):
        m.get(s.id, client="10.6.6.6")            # another client holding this tab's token
    assert m.get(s.id, client="10.0.0.1") is s


def test_training_runs_in_the_background_and_stops_with_its_tab(manager):
    m = manager(idle_timeout=0.5)
    live = LiveRun(_config(steps=100_000))              # built first: a tab idle 0.5 s is reaped
    s = m.open()
    s.live = live
    m.start(s)
    _wait(lambda: s.touch() or live.trainer.step >= 20, what="training")   # the tab polls meanwhile
    assert live.running and live.state == "running"
    assert live.snapshot_run().step >= 10                  # snapshots published while it trains
    _wait(lambda: len(m) == 0 and not live.running, timeout=10, what="the reaper")   # the tab stopped polling
    assert live.trainer.status == "stopped" and not _trainers()


def _pool_threads():
    return [t for t in threading.enumerate() if t.name == "toylab-pool"]


def test_a_class_trains_in_one_group_and_closing_frees_everything(manager):
    """Three tabs of the same shapes share one group's rounds (one thread); a goodbye stops its
    run at the next round while the others train on; closing all frees threads, folders, runs."""
    m = manager(max_runs=2)
    base_threads = threading.active_count()
    tabs = [m.open(f"10.0.0.{i}") for i in range(3)]
    for i, s in enumerate(tabs):
        s.live = LiveRun(_config(steps=100_000, seed=i, lr_d=1e-4 * (i + 1)))
    assert [m.start(s) for s in tabs] == [0, 0, 0]
    _wait(lambda: all(s.live.trainer.step > 5 for s in tabs), what="three runs training")
    assert len(_pool_threads()) == 1 and not _trainers() and m.pool.stats()[0]["members"] == 3
    assert all(s.live.running and s.live.pooled for s in tabs)
    lives = [s.live for s in tabs]
    refs = [weakref.ref(x.trainer) for x in lives] + [weakref.ref(x) for x in lives]
    dirs = [s.dir for s in tabs]
    assert m.goodbye(tabs[0].id)                             # returns at once; the reaper does the rest
    _wait(lambda: not lives[0].running and len(m) == 2, timeout=10, what="the goodbye")
    assert lives[0].trainer.status == "stopped"
    n = lives[1].trainer.step
    _wait(lambda: lives[1].trainer.step > n + 5, what="the others to train on")
    m.close_all()
    _wait(lambda: not _pool_threads(), timeout=10, what="the group to end")
    assert len(m) == 0 and not _trainers() and threading.active_count() == base_threads
    assert not any(x.running for x in lives) and m.pool.members() == 0
    assert not any(d.exists() for d in dirs) and list(m.root.iterdir()) == []
    del lives, tabs
    _wait(lambda: [r() for r in refs] == [None] * 6, timeout=10, what="the closed runs to be freed")


def test_slowed_down_runs_train_alone_in_slots_and_queue_for_them(manager):
    """A run slowed down to watch cannot share a group's pace: it takes a run slot of its own
    (max_runs of them); a third waits in line and starts when a slot frees; speeding a run up
    moves it into the pool."""
    m = manager(max_runs=2)
    tabs = [m.open(f"10.0.0.{i}") for i in range(3)]
    for s in tabs:
        s.live = LiveRun(_config(steps=100_000))
        s.live.trainer.pace(50)
    assert [m.start(s) for s in tabs] == [0, 0, 1]          # two slots: the third waits first in line
    _wait(lambda: all(s.live.trainer.step > 2 for s in tabs[:2]), what="two runs training")
    assert len(_trainers()) == 2 and tabs[2].live.trainer.step == 0 and not _pool_threads()
    m.close(tabs[0].id)                                      # its slot goes to the waiting run
    _wait(lambda: tabs[2].live.running, what="the waiting run to start in the freed slot")
    m.set_pace(tabs[1], 0)                                   # full speed: into the pool
    _wait(lambda: tabs[1].live.pooled and tabs[1].live.running, what="the run to move into the pool")
    assert len(_trainers()) == 1 and len(_pool_threads()) == 1
    m.close_all()
    assert not _trainers() and m.slots.running == [] and m.slots.waiting == []


def _paced(session, pace):
    session.live = LiveRun(_config(steps=100_000))
    session.live.trainer.pace(pace)
    return session


def test_one_address_cannot_hold_every_slot_while_another_waits(manager):
    """Issue #28: address A trains two runs in the two slots; address B asks: A's newest run pauses
    and waits in line again, B's trains at once; when B's ends, A's starts again by itself."""
    m = manager(max_runs=2)
    a1, a2 = (_paced(m.open("10.0.0.1"), 50) for _ in range(2))
    b = _paced(m.open("10.0.0.2"), 50)
    assert m.start(a1) == 0 and m.start(a2) == 0
    _wait(lambda: a2.live.trainer.step > 2, what="A's two runs to train")
    assert m.start(b) == 0                                   # B takes A's second slot
    _wait(lambda: b.live.running, what="B to train")
    assert a1.live.running and not a2.live.running and m.place(a2.live) == 1
    assert a2.live.state == "paused" and m.slots.owner[b.live] == "10.0.0.2"
    m.close(b.id)                                            # B leaves: A's run takes the slot back
    _wait(lambda: a2.live.running, what="A's waiting run to start again")
    assert m.place(a2.live) == 0 and len(m.slots.running) == 2 and b.live not in m.slots.owner


def test_one_address_cannot_hold_every_place_in_the_pool_while_another_waits(manager):
    """Issue #28 for full-speed (pooled) runs: A holds both places of the one group; B asks and
    takes A's newest place at the next round; A's run waits in line, and trains on by itself when
    B's tab closes. A third run of A's waits; A may wait with at most max_client_queue runs."""
    m = manager(max_runs=1, max_queue=8, max_per_client=8, max_sessions=12)
    m.pool.max_members, m.pool.floor = 2, 0                  # a group of two places
    a = [m.open("10.0.0.1") for _ in range(4)]
    for i, s in enumerate(a):
        s.live = LiveRun(_config(steps=100_000, seed=i))
    assert m.start(a[0]) == 0 and m.start(a[1]) == 0
    _wait(lambda: a[1].live.trainer.step > 2, what="A's two runs to train")
    b = m.open("10.0.0.2")
    b.live = LiveRun(_config(steps=100_000, seed=9))
    assert m.start(b) == 0                                   # B takes A's newest place
    _wait(lambda: b.live.trainer.step > 2 and m.place(a[1].live) == 1, what="B to train, A's second to wait")
    assert m.pool.training("10.0.0.1") == 1 and m.pool.training("10.0.0.2") == 1
    n = a[1].live.trainer.step
    assert m.start(a[2]) == 2                                 # A's share of the line: 2 of 8
    with pytest.raises(LabBusy, match="your address already has 2 runs waiting for a place in a group"):
        m.start(a[3])
    assert a[1].live.trainer.step == n                       # waiting, not training
    m.close(b.id)                                            # B leaves: A's bumped run trains on
    _wait(lambda: a[1].live.trainer.step > n + 2, what="A's waiting run to train again")
    assert m.place(a[1].live) == 0 and m.place(a[2].live) == 1
    m.close_all()


def test_slow_runs_hold_no_slot_and_one_address_queues_its_share(manager):
    """Four tabs paced at 1 round/s (SLOW_PACE or slower) train outside the one slot, so another
    address's full-speed run still trains; an address may wait with at most max_client_queue runs
    (here 2 of 8), the next is refused saying so, and another address can still queue."""
    m = manager(max_runs=1, max_queue=8, max_per_client=8, max_sessions=12)
    slow = [_paced(m.open("10.0.0.1"), 1) for _ in range(4)]
    assert [m.start(s) for s in slow] == [0, 0, 0, 0] and len(m.slots.outside) == 4
    fast = [_paced(m.open("10.0.0.2"), 50) for _ in range(4)]
    assert [m.start(s) for s in fast[:3]] == [0, 1, 2]      # one trains in the slot, two wait
    with pytest.raises(LabBusy, match="your address already has 2 runs waiting for a run slot"):
        m.start(fast[3])
    other = _paced(m.open("10.0.0.3"), 50)
    assert m.start(other) == 3
    _wait(lambda: fast[0].live.trainer.step > 2, what="the full-speed run to train")
    m.set_pace(slow[0], 50)                                  # sped up: it now needs a slot, and waits
    assert slow[0] not in m.slots.outside and m.place(slow[0].live) == 4
    m.close_all()
    assert not _trainers() and not m.slots.running and not m.slots.outside and not m.slots.owner


def test_exports_and_xy_games_are_bounded_per_address_and_in_all(manager):
    """An export (or an xy-game request) holds one of max_exports places of its kind, one per
    address at a time; the kinds are counted apart (an export does not block one's xy tab)."""
    m = manager(max_runs=2)
    with m.heavy("10.0.0.1"):
        with pytest.raises(LabBusy, match="another export from your address is in progress"):
            with m.heavy("10.0.0.1"):
                pass
        with m.heavy("10.0.0.1", "xy game"):
            with pytest.raises(LabBusy, match="xy game: another xy game from your address"):
                with m.heavy("10.0.0.1", "xy game"):
                    pass
        with m.heavy("10.0.0.2"):
            with pytest.raises(LabBusy, match="export: the server is computing 2 of these for others"):
                with m.heavy("10.0.0.3"):
                    pass
    with m.heavy("10.0.0.1"):                                # places are given back
        pass
    assert m._heavy == {}


def test_a_closed_session_starts_nothing(manager):
    m = manager()
    s = m.open()
    s.live = live = LiveRun(_config(steps=100_000))
    m.close(s.id)                                           # reaped while its run was being built
    s.live = live
    with pytest.raises(SessionError, match="has ended"):
        m.start(s)
    assert not live.running and not live.start() and not _trainers()


def test_a_full_line_refuses_start_with_a_clear_message(manager):
    """One group may train (max_runs=1): a run of other shapes waits in line (place 1), a third
    finds the line full (max_queue=1) and is refused, saying what trains; when the group's run
    pauses, the waiting one starts by itself."""
    m = manager(max_runs=1, max_queue=1)
    a, b, c = (m.open() for _ in range(3))
    a.live = LiveRun(_config(steps=100_000))
    b.live = LiveRun(_config(steps=100_000, g_hidden=8))
    c.live = LiveRun(_config(steps=100_000, d_hidden=8))
    assert m.start(a) == 0 and m.start(b) == 1
    with pytest.raises(LabBusy, match=r"the lab is busy: 1 runs in 1 group.*and 1 runs waiting; try again "
                                      r"later, or ask the host to raise --max-queue"):
        m.start(c)
    assert m.place(b.live) == 1 and not b.live.running and b.live.state == "ready"
    _wait(lambda: a.live.trainer.step > 2, what="a to train")
    m.pause(a)                                               # a pauses: b's group starts by itself
    _wait(lambda: b.live.running, what="the queued run to start")
    assert a.live.state == "paused" and m.place(b.live) == 0
    _wait(lambda: b.live.trainer.step > 2, what="b to train")
    m.pause(b)
    m.pause(b)                                               # twice: nothing more to do
    assert b.live.state == "paused" and not _trainers()


def test_pause_then_step_by_hand_and_retune():
    live = LiveRun(_config(steps=100_000))
    live.start()
    _wait(lambda: live.trainer.step > 3, what="training")
    live.pause()
    assert live.state == "paused"
    n = live.trainer.step
    live.step("d")
    assert live.trainer.step == n                          # a D step alone is not a round
    live.step("round")
    assert live.trainer.step == n + 1 and live.snapshot_run().snapshots[-1].step == n + 1
    live.retune(lr_d=1e-3, d_steps=3)
    assert live.trainer.cfg.d_steps == 3 and live.trainer.game.opt_d.param_groups[0]["lr"] == 1e-3
    assert live.close() and not live.start()                # closed for good


def test_a_live_runs_snapshots_are_thinned():
    """300 snapshots made, at most max_snapshots (200) kept: a live run's memory does not grow with its
    length (benchmarks/bench_soak.py measures a 20,000-round run: docs/dashboard.md)."""
    live = LiveRun(_config(steps=1200, snapshot_every=4, batch_size=16, g_hidden=8, d_hidden=8))
    live.start()
    _wait(lambda: not live.running, timeout=120, what="1,200 rounds")
    run = live.snapshot_run()
    assert run.step == 1200 and 100 <= len(run.snapshots) <= 200
    assert run.snapshots[0].step == 0 and run.snapshots[-1].step == 1200
    live.close()


def test_a_live_run_shows_frames_between_its_snapshots_and_judges_only_the_scheduled_ones(monkeypatch):
    """A class's runs train ~15 rounds a second: between snapshots every 50 rounds a page saw no new
    picture for 3-4 s. A live run shows a provisional frame once LIVE_FRAME_SECONDS have passed (0
    here: every round); the verdict is made of the scheduled snapshots only, once each; Pause leaves
    a scheduled snapshot at the round it stopped."""
    from dashboards import live as L
    judged = []
    real = L.classify
    monkeypatch.setattr(L, "classify", lambda run, *a, **k: judged.append(
        [s.provisional for s in run.snapshots]) or real(run, *a, **k))
    assert L.LIVE_FRAME_SECONDS <= 1.0 and LiveRun(_config()).trainer.snapshot_seconds == L.LIVE_FRAME_SECONDS
    assert LiveRun(_config(), frame_seconds=0).trainer.snapshot_seconds is None       # --frame-seconds 0: off
    live = LiveRun(_config(steps=300, snapshot_every=100, batch_size=16, g_hidden=8, d_hidden=8))
    live.trainer.snapshot_seconds = 0.0
    shown = set()
    live.start()
    while live.running:
        newest = live.snapshot_run().snapshots[-1]
        shown.add((newest.step, newest.provisional))
        if newest.provisional:
            live.verdict()                   # asked while a live frame is the newest
        time.sleep(0.002)
    assert len({s for s, p in shown if p and s % 100}) >= 5          # frames between the snapshots were shown
    run = live.snapshot_run()
    assert [s.step for s in run.snapshots] == [0, 100, 200, 300] and not any(s.provisional for s in run.snapshots)
    assert live.verdict() is not None
    assert judged and not any(any(p) for p in judged) and len(judged) <= 3 + 2     # per scheduled snapshot (+ status)
    live.close()
    live = LiveRun(_config(steps=100_000, snapshot_every=1000, batch_size=16, g_hidden=8, d_hidden=8))
    live.trainer.snapshot_seconds = 0.0
    live.start()
    _wait(lambda: live.trainer.step > 30, what="30 rounds")
    live.pause()
    newest = live.snapshot_run().snapshots[-1]
    assert newest.step == live.trainer.step and not newest.provisional
    live.close()


def test_form_errors_name_their_field():
    cfg, errors, _ = forms.build_config({"lr_d": -1, "batch_size": 0})
    assert cfg is None and "greater than 0" in errors["lr_d"] and "batch_size" in errors
    cfg, errors, _ = forms.build_config({"dataset": "ring", "dataset_params": "k=8, std=-1"})
    assert cfg is None and "std" in errors["dataset_params"]
    cfg, errors, _ = forms.build_config({"dataset_params": "k=eight="})
    assert cfg is None and "dataset_params" in errors
    assert forms.parse_params("mean=[0, 1], std=0.5") == {"mean": [0, 1], "std": 0.5}
    cfg, errors, _ = forms.build_config({"dataset": "grid25", "dataset_params": forms.default_params("grid25")})
    assert cfg is not None and cfg.target().num_modes == 25
    assert forms.choices("loss") == ["nonsaturating", "minimax", "lsgan", "wgan", "wgan-gp", "hinge"]


@pytest.mark.parametrize("field, value, match", [
    ("g_hidden", 100_000, "must be 1 to 256 in the dashboard"), ("d_depth", 16, "must be 1 to 4"),
    ("batch_size", 65_536, "must be 1 to 1,024"), ("steps", 10_000_000, "must be 0 to 100,000"),
    ("snapshot_every", 10**9, "must be 1 to 10,000"), ("d_steps", 100, "must be 1 to 10"),
    ("z_dim", 512, "must be 1 to 256"),
])
def test_every_number_of_the_form_has_a_maximum(field, value, match):
    cfg, errors, _ = forms.build_config({field: value})
    assert cfg is None and match in errors[field]


@pytest.mark.parametrize("dataset, params, match", [
    ("ring", "k=1000000000", "k: must be 1 to 64 in the dashboard"),
    ("grid", "n=100000", "n: must be 1 to 10"), ("checkerboard", "n=20000", "n: must be 1 to 32"),
    ("ring8", "radius=1e300", "radius: must be finite and at most 1,000"),
    ("gaussian", "mean=[0, 1, 2, 3, 4, 5, 6, 7, 8]", "mean: must be a number (or a list of at most 8"),
    ("ring", "k=.inf", "k: must be 1 to 64"), ("circle", "radius=hello", "radius: must be a number"),
    ("pacgan_ring", "k=1000", "k: must be 1 to 64 in the dashboard"),      # every preset, by its family
    ("pacgan_grid", "n=32", "n: must be 1 to 10 in the dashboard"),
])
def test_target_parameters_are_bounded(dataset, params, match):
    t0 = time.perf_counter()
    cfg, errors, _ = forms.build_config({"dataset": dataset, "dataset_params": params})
    assert cfg is None and match in errors["dataset_params"] and time.perf_counter() - t0 < 1


def test_points_come_only_from_an_upload_or_the_runs_folder(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    secret = tmp_path / "secret.csv"
    secret.write_text("sk-live-DO-NOT-LEAK,1\n" * 20)
    (runs / "leak.csv").write_text("sk-live-DO-NOT-LEAK,1\n" * 20)
    np.save(runs / "mine.npy", np.random.default_rng(0).normal(size=(100, 2)))
    (runs / "out.npy").symlink_to(tmp_path / "elsewhere.npy")
    np.save(tmp_path / "elsewhere.npy", np.random.default_rng(1).normal(size=(100, 2)))
    messages = set()
    for params in [f"path={secret}", f"path={tmp_path / 'missing.csv'}", "path=../secret.csv", "path=/etc/passwd",
                   "path=out.npy", "path=nope.npy", "source=/etc/passwd"]:
        cfg, errors, _ = forms.build_config({"dataset": "points", "dataset_params": params}, runs_dir=runs)
        assert cfg is None, params
        messages.add(errors["dataset_params"])
    assert len(messages) == 1 and all("upload" in m and "runs folder" in m for m in messages), messages
    assert not any("secret" in m or "passwd" in m or "missing" in m for m in messages)   # nothing echoed
    cfg, errors, _ = forms.build_config({"dataset": "points", "dataset_params": "path=leak.csv"}, runs_dir=runs)
    assert cfg is None and "sk-live" not in errors["dataset_params"] and "could not be read" in errors["dataset_params"]
    cfg, errors, _ = forms.build_config({"dataset": "points", "dataset_params": "path=mine.npy"}, runs_dir=runs)
    assert cfg is not None and cfg.target().points.shape == (100, 2)
    cfg, errors, _ = forms.build_config({"dataset": "points", "dataset_params": "source=upload"})
    assert cfg is None and "no upload yet" in errors["dataset_params"]
    cfg, _, _ = forms.build_config({"dataset": "points", "dataset_params": "source=upload"},
                                   upload=runs / "mine.npy")
    assert cfg is not None and cfg.target().points.shape == (100, 2)


def _upload(data: bytes) -> str:
    return "data:application/octet-stream;base64," + base64.b64encode(data).decode()


def test_upload_is_validated_and_saved(tmp_path):
    good = "\n".join(f"{x},{y}" for x, y in np.random.default_rng(0).normal(size=(50, 2)))
    path = forms.read_upload(_upload(good.encode()), "pts.csv", tmp_path)
    assert np.load(path).shape == (50, 2)
    for data, name, match in [(b"1,2,3\n4,5,6\n" * 10, "a.csv", r"shape \(n, 2\), got shape \(20, 3\)"),
                              (b"1,2\n3,4\n" * 2, "a.csv", "need 10 to 100,000 rows; got 4"),
                              (b"a,b\nx,y\n" * 10, "a.csv", "upload: 'a.csv': .*could not be read as rows of two comma-separated numbers"),
                              (b"1,nan\n" * 20, "a.csv", "NaN or infinite"),
                              (b"1,2\n", "a.png", "must be a .csv or .npy"),
                              (b"0" * (forms.UPLOAD_MAX_BYTES + 1), "a.csv", "over the 5,000,000-byte limit")]:
        with pytest.raises(ValueError, match=match):
            forms.read_upload(_upload(data), name, tmp_path / "bad")
    assert list((tmp_path / "bad").glob("*")) == []          # nothing kept, not even the raw upload


def test_any_snapshot_interval_the_form_allows_is_accepted():
    """metrics_every is not on the form: it follows snapshot_every (the first snapshot at least 100
    rounds on), so a snapshot every 2,000 or 30 rounds is no longer refused for a hidden field."""
    for every, measured in ((2000, 2000), (30, 120), (50, 100), (100, 100)):
        cfg, errors, general = forms.build_config({"snapshot_every": every})
        assert cfg is not None and not errors and not general, (every, errors, general)
        assert cfg.metrics_every == measured


def test_every_targets_form_text_builds_and_every_preset_is_a_valid_form():
    """The form shows a target's parameters as text; that text must read back (gaussian's
    mean=(0.0, 0.0) was refused, so choosing 'gaussian' and pressing Start failed), and every
    failure-mode preset must pass the dashboard's own limits."""
    from toylab.experiments.presets import PRESETS, preset_fields
    for name in forms.choices("dataset"):
        if name == "points":
            continue
        cfg, errors, general = forms.build_config({"dataset": name, "dataset_params": forms.default_params(name)})
        assert cfg is not None, (name, errors, general)
        assert forms.parse_params(forms.default_params(name)) == {
            k: list(v) if isinstance(v, tuple) else v for k, v in toylab.datasets.get(name).params.items()
            if v is not None}
    for key in PRESETS:
        form, extra = forms.preset_form(key)
        cfg, errors, general = forms.build_config(form, extra)
        assert cfg is not None, (key, errors, general)
        want = toylab.TrainConfig(**preset_fields(key))
        assert cfg.model_dump(exclude={"dataset_params"}) == want.model_dump(exclude={"dataset_params"})
        assert cfg.target().params == want.target().params          # the form spells the defaults out


def test_a_drawn_stroke_becomes_points_along_it_and_is_bounded():
    from dashboards import drawing
    pts = drawing.stroke_points("M-1,0L1,0L1,1")        # 3 units long: a point every 0.05, 61 in all
    assert len(pts) == 61 and np.allclose(pts[0], [-1, 0]) and np.allclose(pts[-1], [1, 1])
    assert np.allclose(pts[20], [0, 0])
    zigzag = "M" + "L".join(f"{-4 if i % 2 else 4},{i % 7 - 3}" for i in range(6000))   # ~50,000 units
    assert len(drawing.stroke_points(zigzag)) == drawing.MAX_POINTS
    with pytest.raises(ValueError, match="at most 50,000 characters"):
        drawing.stroke_points("M0,0" + "L1,1" * 20_000)
    with pytest.raises(ValueError, match="within ±4"):
        drawing.click_points(9, 0, seed=0)


def test_an_uploads_bandwidth_is_judged_by_the_engines_model(tmp_path):
    upload = tmp_path / "points.npy"
    np.save(upload, np.random.default_rng(0).normal(size=(100, 2)).astype(np.float32))
    for bw, ok in [(1e-5, False), (0.5, True), (11, False)]:
        cfg, errors, _ = forms.build_config({"dataset": "points", "dataset_params": f"source=upload, bandwidth={bw}"},
                                            upload=upload)
        assert (cfg is not None) is ok, (bw, errors)
        if not ok:
            assert "bandwidth must be a positive number, >= 0.0001 and <= 10" in errors["dataset_params"]


def test_config_errors_carry_their_fields_and_survive_a_process_boundary():
    """The form shows each message under its field from ConfigError.fields (no parsing of the
    text); a sweep worker's error comes back whole."""
    import pickle

    from toylab.engine.config import ConfigError, TrainConfig
    with pytest.raises(ConfigError) as info:
        TrainConfig(lr_d=-1, loss="nope", colour="red")
    fields = info.value.fields
    assert set(fields) == {"lr_d", "loss", "colour"} and "greater than 0" in fields["lr_d"]
    assert fields["loss"].startswith("allowed:") and "unknown field" in fields["colour"]
    back = pickle.loads(pickle.dumps(info.value))
    assert back.fields == fields and str(back) == str(info.value)
    cfg, errors, general = forms.build_config({"lr_d": -1, "loss": "nope"})
    assert cfg is None and errors == {"lr_d": fields["lr_d"], "loss": fields["loss"]} and general == ""


def _node(script: str):
    """Run `script` in Node with the page's assets/steps.js loaded as `m`; its printed JSON."""
    import json
    import shutil
    import subprocess
    from pathlib import Path
    node = shutil.which("node") or pytest.skip("node is not installed")
    steps_js = Path(__file__).parents[1] / "dashboards" / "assets" / "steps.js"
    out = subprocess.run([node, "-e", f"global.window = {{}}; const m = require({json.dumps(str(steps_js))}); "
                                      f"console.log(JSON.stringify({script}))"],
                         capture_output=True, text=True, timeout=30, check=True)
    return json.loads(out.stdout)


def test_the_slider_tooltip_names_the_step_never_the_position():
    """74 was shown at step 3,700: the slider drew its tooltip for the new newest position before the
    steps reached the page. The label reads the step, "step …" while it is not known, never a position;
    the slider's class changes with the steps kept, so it draws its tooltip again once they are here."""
    steps = list(range(0, 3750, 50))                        # 75 snapshots: position 74 is step 3,700
    assert _node(f"[m.toylabStepLabel(74, {steps}), m.toylabStepLabel(1, {steps}), m.toylabStepLabel(74, {steps[:74]}),"
                 f" m.toylabStepLabel(0, []), m.toylabStepLabel(3, null)]") == \
        ["step 3,700", "step 50", "step …", "step …", "step …"]
    a = _node(f"m.toylabSliderClass({{steps: {steps[:74]}}})")
    b = _node(f"m.toylabSliderClass({{steps: {steps}}})")
    assert a != b and a.startswith("time-slider ") and b.startswith("time-slider ")
    assert _node("m.toylabSliderClass(null)").startswith("time-slider")


def test_step_and_edit_messages_say_what_happened():
    from dashboards.pages.train import edit_message, step_message
    assert step_message("round", 1203, 1204) == "Round: step 1,203 → 1,204; the panels show it."
    assert step_message("d", 1203, 1203).startswith("D step: one update of D at round 1,203")
    cfg = _config()
    text = edit_message({"lr_d": 0.001}, None, {"g_hidden": 128}, cfg, 1500)
    assert text == ("Changed lr_d = 0.001 from round 1,500 on. g_hidden = 128 takes effect on Reset (a new run); "
                    "this run keeps 16.")
    assert edit_message({}, 2000, {}, cfg, 10) == "Changed steps = 2,000 from round 10 on."


def test_the_target_preview_shows_the_tabs_own_points(tmp_path):
    """After 'Use as target' (dataset 'points', the tab's drawing saved) p_data shows the drawing before
    any run: it was empty until Reset."""
    from dashboards.pages.train import target_preview
    rng = np.random.default_rng(0)
    pts = np.concatenate([rng.normal((-2, 0), 0.1, (60, 2)), rng.normal((2, 0), 0.1, (60, 2))])
    upload = forms.save_points(pts, tmp_path)
    params = forms.upload_params(upload)
    assert target_preview("points", params, "light") is None                # no points of this tab's: nothing
    fig = target_preview("points", params, "dark", upload=upload)
    heat = next(t for t in fig["data"] if t["type"] == "heatmap")
    shape = tuple(int(n) for n in str(heat["z"]["shape"]).split(","))
    z = np.frombuffer(base64.b64decode(heat["z"]["bdata"]), dtype=np.uint8).reshape(shape)
    xs = np.frombuffer(base64.b64decode(heat["x"]["bdata"]), dtype=np.float32)
    # the density is where the points are: bright at x = ±2, dark at 0
    row = z[z.shape[0] // 2]
    assert row[np.argmin(abs(xs - 2))] > 100 and row[np.argmin(abs(xs + 2))] > 100 and row[np.argmin(abs(xs))] < 10


def test_an_ipv6_client_is_one_owner_per_64_network():
    """Issue #28's re-run: an IPv6 client could rotate through its /64 for a share per address."""
    from dashboards.sessions import owner_of
    assert owner_of("2001:db8:1:2::5") == owner_of("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert owner_of("2001:db8:1:3::5") != owner_of("2001:db8:1:2::5")
    assert owner_of("10.0.0.7") == "10.0.0.7" and owner_of("::ffff:10.0.0.7") == "10.0.0.7"
    assert owner_of(None) is None and owner_of("not an address") == "not an address"


def test_a_click_that_overtakes_a_poll_in_flight_makes_the_next_poll_wait():
    """`pace`: every reply re-arms the poll timer one past the ticks so far; a click's reply sent
    while the timer was spent (a poll in flight, whose reply the browser will drop) says so, and
    the page then waits for that poll to end on the server (tests/test_dashboard_class.py drives it
    in a browser with every poll answered 1.2 s late)."""
    from dashboards.pages.train import pace
    armed, spent = pace(4, 5, False, 300), pace(5, 5, False, 300)
    assert (armed["tick"], armed["overtook"]) == (4, False)          # the timer was still armed: no poll out
    assert (spent["tick"], spent["overtook"], spent["ms"]) == (5, True, 300)
    assert pace(5, 5, True, 450)["overtook"] is False                # a poll's own reply
    for junk_ticks, junk_most in (("5", 7), (True, 7), (-3, 7), (5, None), (5, "5")):
        p = pace(junk_ticks, junk_most, False, 300)       # what the page should never send: re-armed, no wait
        assert p["overtook"] is False and p["tick"] == (5 if junk_ticks == 5 else 0)


def test_a_burst_of_closes_gets_one_garbage_pass_a_second(manager, monkeypatch):
    """Each close wakes the reaper, and each garbage pass holds the GIL ~0.2 s with a class's runs
    in memory: 30 closes made 20 passes in 4 s. Now at most one a second (sessions.GARBAGE_EVERY),
    and the last close's garbage is still collected."""
    import dashboards.sessions as S
    passes = []
    monkeypatch.setattr(S, "_release_memory", lambda: passes.append(time.monotonic()))
    m = manager()
    sessions = [m.open(f"10.0.0.{i}") for i in range(8)]
    time.sleep(1.2)
    passes.clear()
    t0 = time.monotonic()
    for s in sessions:                      # 8 closes over ~1.6 s
        m.close(s.id)
        time.sleep(0.2)
    span = time.monotonic() - t0
    _wait(lambda: passes and passes[-1] > t0 + 1.5 and not m._garbage.is_set(), 5, "the last close's pass")
    gaps = [b - a for a, b in zip(passes, passes[1:])]
    assert 2 <= len(passes) <= 2 + span / S.GARBAGE_EVERY and min(gaps) >= S.GARBAGE_EVERY - 0.05, passes
