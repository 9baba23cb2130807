"""The dashboard as a hostile client sees it: its HTTP endpoints (the Dash callback endpoint
and the goodbye beacon) called with crafted values, without a browser (Flask's test client).

Session ids are the server's tokens, checked on every callback; nothing named by a client is
written or deleted; files are read only from an upload or --runs-dir, and errors never echo
them; every request's work and answer are bounded, with the field named when refused."""

import base64
import json
import re
import time

import numpy as np
import pytest

import toylab
from dashboards import ids as I
from dashboards.app import create_app
from dashboards.client import TabClient
from toylab import ConfigError

CRAFTED = ["/abs/dir", "../x", "..", "", "A" * 32, "x/" + "a" * 30]


@pytest.fixture
def runs_dir(tmp_path):
    d = tmp_path / "runs"
    d.mkdir()
    return d


@pytest.fixture
def app(runs_dir, tmp_path):
    app = create_app(runs_dir=str(runs_dir), max_runs=1, root=tmp_path)
    yield app
    app.sessions.shutdown()


@pytest.fixture
def canary(tmp_path):
    d = tmp_path / "canary"
    d.mkdir()
    (d / "keep.txt").write_text("still here")
    return d


def _tab(app, address="127.0.0.1"):
    tab = TabClient.over_flask(app.server, address)
    assert tab.open()
    return tab


def _upload(data: bytes) -> str:
    return "data:text/csv;base64," + base64.b64encode(data).decode()


def test_crafted_session_ids_are_refused_and_nothing_of_theirs_is_touched(app, canary):
    tab = _tab(app)
    real = tab.sid
    good = "\n".join(f"{x},{y}" for x, y in np.random.default_rng(0).normal(size=(50, 2))).encode()
    for sid in [str(canary), str(canary / "keep.txt"), "../" + canary.name, *CRAFTED]:
        given = {f"{I.SESSION}__data": sid}
        for output, trigger, extra in [(I.MESSAGE, I.START, {}), (I.UPLOAD_MSG, I.UPLOAD,
                                                                  {"upload__contents": _upload(good),
                                                                   "upload__filename": "p.csv"}),
                                       (I.XY_MESSAGE, I.XY_RUN, {}), (I.CMP_MESSAGE, I.CMP_RUNS,
                                                                      {f"{I.CMP_RUNS}__value": ["x"]}),
                                       (I.STATUS, I.TICK, {}), (I.EXPORT_MSG, I.EXPORT, {})]:
            status, out = tab.call(output, trigger, **given, **extra)
            assert status == 200, (sid, output)
            text = json.dumps(out)
            assert "reload the page" in text, (sid, output, text)
        tab.request("POST", "/toylab/close", sid.encode(), "text/plain")           # a goodbye for it
    assert sorted(p.name for p in canary.iterdir()) == ["keep.txt"]
    assert (canary / "keep.txt").read_text() == "still here"
    assert app.sessions.ids() == [real]                                          # made by the server only
    assert tab.request("POST", f"/toylab/close/{real}", b"", "text/plain")[0] in (404, 405)   # not in a URL
    assert app.sessions.ids() == [real]


def test_a_token_works_only_for_the_client_it_was_given_to(app):
    tab = _tab(app, "10.0.0.1")
    thief = TabClient.over_flask(app.server, "10.0.0.2")
    thief.deps, thief.values = tab.deps, dict(tab.values)                        # the same page, stolen
    status, out = thief.call(I.MESSAGE, I.PAUSE)
    assert "reload the page" in json.dumps(out)
    thief.sid = tab.sid
    thief.close()                                                                # its goodbye: ignored
    assert app.sessions.ids() == [tab.sid]
    assert tab.call(I.MESSAGE, I.RESET)[0] == 200 and app.sessions.get(tab.sid).live is not None


def test_tokens_are_random_and_the_goodbye_closes_the_tab(app):
    tabs = [_tab(app, f"10.0.1.{i}") for i in range(3)]
    assert len({t.sid for t in tabs}) == 3 and all(len(t.sid) == 32 for t in tabs)
    tabs[0].close()
    assert sorted(app.sessions.ids()) == sorted(t.sid for t in tabs[1:])


def test_points_from_a_server_path_are_refused_without_echo(app, tmp_path, runs_dir):
    secret = tmp_path / "secret.txt"
    secret.write_text("sk-live-0123456789abcdef,1\n" * 20)
    (runs_dir / "leak.csv").write_text("sk-live-0123456789abcdef,1\n" * 20)
    tab = _tab(app)
    answers = set()
    for params in [f"path={secret}", f"path={tmp_path / 'nothing.csv'}", "path=../secret.txt", "path=leak.csv"]:
        status, out = tab.call(I.MESSAGE, I.RESET, **{"f-dataset__value": "points", "f-dataset_params__value": params})
        err = out[I.ERROR.format("dataset_params")]["children"]
        assert "sk-live" not in json.dumps(out) and "upload" in err, err
        answers.add(err if "leak" not in params else "")
    assert len(answers - {""}) == 1                  # an existing and a missing file get the same answer
    assert app.sessions.get(tab.sid, "127.0.0.1").live is None


def test_an_upload_is_held_by_the_session_not_the_page(app):
    tab = _tab(app)
    good = "\n".join(f"{x},{y}" for x, y in np.random.default_rng(0).normal(size=(80, 2))).encode()
    status, out = tab.call(I.UPLOAD_MSG, I.UPLOAD, upload__contents=_upload(good), upload__filename="p.csv")
    params = out[I.FIELD.format("dataset_params")]["value"]
    assert re.fullmatch(r"source=upload, bandwidth=[\d.e-]+", params), params    # no server path in the page
    tab.call(I.MESSAGE, I.RESET, **{"f-dataset_params__value": params})
    live = app.sessions.get(tab.sid).live
    assert live.trainer.target.points.shape == (80, 2)
    assert live.trainer.target.bandwidth == pytest.approx(float(params.split("bandwidth=")[1]))


def test_an_upload_gets_the_likelihood_bandwidth_not_a_blur():
    """Four tight clusters (std 0.05): Scott's rule (the engine's default) gave h ~0.46 and drew one
    blob; the upload now proposes the metrics' likelihood rule, shown and editable in the form."""
    import tempfile
    from pathlib import Path

    from dashboards import forms
    from toylab import TrainConfig
    rng = np.random.default_rng(1)
    pts = np.concatenate([c + 0.05 * rng.normal(size=(250, 2)) for c in ([-2, -2], [-2, 2], [2, -2], [2, 2])])
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "points.npy"
        np.save(path, pts)
        h = float(forms.upload_params(path).split("bandwidth=")[1])
        assert 0.01 < h < 0.1
        scott = TrainConfig(dataset="points", dataset_params={"path": str(path)}).target().bandwidth
        assert scott > 0.4                                   # what uploads used to get
        cfg = TrainConfig(dataset="points", dataset_params={"path": str(path), "bandwidth": h})
        assert cfg.target().bandwidth == h
        with pytest.raises(ConfigError, match="bandwidth must be a positive number"):
            TrainConfig(dataset="points", dataset_params={"path": str(path), "bandwidth": 0})


@pytest.mark.parametrize("field, value, match", [
    ("f-g_hidden", 10**6, "must be 1 to 256 in the dashboard"), ("f-batch_size", 65_536, "must be 1 to 1,024"),
    ("f-steps", 10**7, "must be 0 to 100,000"), ("f-snapshot_every", 10**9, "must be 1 to 10,000"),
    ("f-dataset_params", "k=1000000000, radius=2, std=0.02", "k: must be 1 to 64"),
])
def test_huge_values_are_refused_naming_the_field(app, field, value, match):
    tab = _tab(app)
    given = {f"{field}__value": value}
    if field == "f-dataset_params":
        given["f-dataset__value"] = "ring"
    t0 = time.perf_counter()
    status, out = tab.call(I.MESSAGE, I.START, **given)
    assert time.perf_counter() - t0 < 5
    assert match in out[I.ERROR.format(field[2:])]["children"]
    assert "nothing was run" in out[I.MESSAGE]["children"] and app.sessions.get(tab.sid).live is None


def test_the_xy_tab_starts_where_gameconfig_starts():
    """One GameConfig: the tab's fields start at its defaults (the tab had beta -0.3 and 200 steps
    against GameConfig's 0.5 and 300), and its checks are GameConfig's, then the tab's narrower bounds."""
    from dashboards.pages import xy
    from toylab import games
    d = games.GameConfig()
    ids = {I.XY_LR: d.lr, I.XY_LR_Y: d.lr_y, I.XY_BETA: d.beta, I.XY_GAMMA: d.gamma, I.XY_X0: d.start[0],
           I.XY_Y0: d.start[1], I.XY_STEPS: d.steps}
    found = {}

    def walk(node):
        if getattr(node, "id", None) in ids:
            found[node.id] = node.value
        for c in (getattr(node, "children", None) or []) if isinstance(getattr(node, "children", None), list) else \
                ([node.children] if hasattr(node, "children") and node.children is not None else []):
            walk(c)
    walk(xy.layout())
    assert found == ids
    cfg, problems = xy.game_config(methods=list(d.methods), game="xy", lr=0.1, lr_y=None, beta=0.5, gamma=1.0,
                                   start=(1, 1), steps=300)
    assert problems == [] and cfg == d


def test_xy_is_bounded(app):
    tab = _tab(app)
    status, out = tab.call(I.XY_MESSAGE, I.XY_RUN, **{f"{I.XY_STEPS}__value": 5000, f"{I.XY_LR}__value": 1e308,
                                                      f"{I.XY_METHODS}__value": ["simultaneous", "rm -rf"]})
    msg = out[I.XY_MESSAGE]["children"]
    assert "η: must be a step size in (0, 10]" in msg and "methods: 'rm -rf'; allowed:" in msg   # GameConfig's words
    status, out = tab.call(I.XY_MESSAGE, I.XY_RUN, **{f"{I.XY_STEPS}__value": 5000, f"{I.XY_LR}__value": 0.1,
                                                      f"{I.XY_METHODS}__value": ["simultaneous"]})
    assert out[I.XY_MESSAGE]["children"] == "steps: at most 1,000 in the dashboard (got 5000)"   # the tab's narrower bound
    methods = ["simultaneous", "alternating", "optimistic", "extragradient", "consensus", "momentum"]
    t0 = time.perf_counter()
    status, out = tab.call(I.XY_MESSAGE, I.XY_RUN, **{f"{I.XY_STEPS}__value": 1000, f"{I.XY_LR}__value": 0.1,
                                                      f"{I.XY_METHODS}__value": methods})
    took = time.perf_counter() - t0
    assert status == 200 and out[I.XY_MESSAGE]["children"] == ""
    assert took < 20, took                                  # ~1.5 s alone; 5,000 steps took 8-70 s
    assert len(json.dumps(out)) < 2_000_000


def test_requests_are_capped_in_size(app):
    tab = _tab(app)
    status, _ = tab.request("POST", "/_dash-update-component", b"x" * 9_000_000)
    assert status == 413


def test_compare_refuses_paths_outside_the_runs_folder(app, runs_dir, tmp_path):
    cfg = dict(steps=20, snapshot_every=10, g_hidden=8, d_hidden=8, grid_size=12, n_fixed=50)
    toylab.train(dataset="ring8", out=runs_dir / "inside", **cfg)
    toylab.train(dataset="ring8", out=tmp_path / "outside" / "run", **cfg)
    (runs_dir / "link").symlink_to(tmp_path / "outside", target_is_directory=True)
    tab = _tab(app)
    status, out = tab.call(I.CMP_RUNS, I.CMP_REFRESH)
    listed = out[I.CMP_RUNS]["options"]
    assert any(o.endswith("inside") for o in listed) and not any("link" in o for o in listed)
    for name in ["../../etc/passwd", "/etc", str(tmp_path / "outside" / "run"), str(runs_dir / "link" / "run"),
                 str(runs_dir / ".." / "outside" / "run")]:
        status, out = tab.call(I.CMP_MESSAGE, I.CMP_RUNS, **{f"{I.CMP_RUNS}__value": [name]})
        assert f"{name}: not a run under" in out[I.CMP_MESSAGE]["children"]
        assert out[I.CMP_GRID]["children"] == []
    assert str(runs_dir) not in json.dumps(listed)                               # names, not server paths
    status, out = tab.call(I.CMP_MESSAGE, I.CMP_RUNS, **{f"{I.CMP_RUNS}__value": ["inside"]})
    assert "inside · ring8" in json.dumps(out[I.CMP_GRID], ensure_ascii=False)


def test_a_full_lab_refuses_a_new_tab_and_start_clearly(tmp_path):
    app = create_app(runs_dir=str(tmp_path), max_sessions=3, max_per_client=2, max_runs=1, max_queue=1, root=tmp_path)
    try:
        a, b = _tab(app, "10.0.0.1"), _tab(app, "10.0.0.1")
        third = TabClient.over_flask(app.server, "10.0.0.1")
        assert third.open() is None and "already has 2 tabs" in third.text(I.BUSY)
        c = _tab(app, "10.0.0.2")
        assert TabClient.over_flask(app.server, "10.0.0.3").open() is None      # 3 tabs: full
        small = {"f-g_hidden__value": 16, "f-d_hidden__value": 16, "f-batch_size__value": 32}
        assert a.call(I.MESSAGE, I.START, **small)[1][I.MESSAGE]["children"] == ""
        # one group may train (max_runs=1): runs of other shapes wait for it
        out = b.call(I.MESSAGE, I.START, **{**small, "f-g_hidden__value": 8})[1][I.MESSAGE]["children"]
        assert out.startswith("The lab is full: 1 runs in 1 group") and "waits in line (place 1)" in out
        assert "waiting in line (place 1; the lab trains 1 runs in 1 group" in \
            b.call(I.STATUS, I.TICK)[1][I.STATUS]["children"]
        out = c.call(I.MESSAGE, I.START, **{**small, "f-d_hidden__value": 8})[1][I.MESSAGE]["children"]
        assert out.startswith("the lab is busy: 1 runs in 1 group") and out.endswith(
            "and 1 runs waiting; try again later, or ask the host to raise --max-queue")
        assert len(app.sessions) == 3                                          # nobody was evicted
    finally:
        app.sessions.shutdown()


def test_half_sent_connections_hold_no_request_thread(tmp_path):
    """Issue #28: 3,000 half-sent connections held 3,000 threads of the development server.
    waitress (the default server) buffers a request until it is whole: with 2 request threads and
    150 connections that never finish their headers, a whole request is still answered at once."""
    import socket
    import subprocess
    import sys
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "dashboards", "--port", str(port), "--server-threads", "2",
                               "--runs-dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    hanging = []
    try:
        end = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < end and server.poll() is None, "the server did not start"
                time.sleep(0.2)
        for _ in range(150):
            c = socket.create_connection(("127.0.0.1", port), timeout=5)
            c.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")       # never finished
            hanging.append(c)
        t0 = time.monotonic()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=20) as reply:
            assert reply.status == 200 and b"toylab" in reply.read().lower()
        assert time.monotonic() - t0 < 10
    finally:
        for c in hanging:
            c.close()
        server.terminate()
        server.wait(timeout=30)
