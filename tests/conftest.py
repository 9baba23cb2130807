import pytest
import torch

torch.set_num_threads(1)   # two xdist workers on a 2-core machine


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
