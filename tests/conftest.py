import os
import threading

import pytest
import torch

torch.set_num_threads(1)   # two xdist workers on a 2-core machine
# imageio_ffmpeg.read_frames (the tests read MP4s back with it) starts ffmpeg with a preexec_fn,
# which makes Python fork() instead of vfork(): fork runs NumPy's OpenBLAS pthread_atfork
# handler, which deadlocked (joined a BLAS thread for ever) while another thread of the process
# was inside a BLAS call - an export drawing its frames. Without the preexec_fn, vfork runs no
# such handler (imageio-ffmpeg's own switch, its issue #58). toylab's own ffmpeg writer never
# passes one (export.FfmpegPipe: start_new_session, vfork).
os.environ.setdefault("IMAGEIO_FFMPEG_NO_PREVENT_SIGINT", "1")


@pytest.fixture(autouse=True)
def exports_end_with_their_test():
    """An export a test started draws on its own thread (the dashboard's Export button): it is
    waited for at the test's end, so that no drawing runs on into the next test."""
    yield
    for t in threading.enumerate():
        if t.name == "export":
            t.join(300)


@pytest.fixture(autouse=True)
def one_thread_per_fit(monkeypatch):
    """Tests train on one torch thread: threads="auto" would take a second core whenever the
    machine looked idle for a moment, so a result's last bits (and the tolerances sized to them)
    would depend on the machine's load. A test that wants more asks for a fixed count
    (TrainConfig(threads=2)); tests of the choice itself call threads.choose directly."""
    from toylab.engine import threads
    monkeypatch.setattr(threads, "cores", lambda: 1)


@pytest.fixture
def tiny():
    """A small, fast config for engine tests."""
    import toylab
    return toylab.TrainConfig(g_hidden=32, d_hidden=32, batch_size=64, steps=60, snapshot_every=20,
                              log_every=10, n_fixed=64, grid_size=16, manifold_size=5)


# Shared by several test files (a file's own fixture of the same name overrides these).
@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A saved ring8 run: 6 snapshots (steps 0, 20, ..., 100) with measurements."""
    import toylab
    out = tmp_path_factory.mktemp("runs") / "ring8"
    return toylab.train(dataset="ring8", g_hidden=32, d_hidden=32, batch_size=64, steps=100, snapshot_every=20,
                        metrics_every=20, log_every=10, n_fixed=300, grid_size=40, manifold_size=7, out=out,
                        progress=False, threads=1)        # (module scope: set up before one_thread_per_fit)


@pytest.fixture
def app(tmp_path):
    """The dashboard's app with one run slot, its runs folder and its temporary files in tmp_path
    (driven over HTTP without a browser: dashboards.client.TabClient)."""
    from dashboards.app import create_app
    runs = tmp_path / "runs"
    runs.mkdir()
    app = create_app(runs_dir=str(runs), max_runs=1, root=tmp_path)
    yield app
    app.sessions.shutdown()
