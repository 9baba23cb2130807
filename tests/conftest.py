import pytest
import torch

torch.set_num_threads(1)   # two xdist workers on a 2-core machine


@pytest.fixture
def tiny():
    """A small, fast config for engine tests."""
    import toylab
    return toylab.TrainConfig(g_hidden=32, d_hidden=32, batch_size=64, steps=60, snapshot_every=20,
                              log_every=10, n_fixed=64, grid_size=16, manifold_size=5)
