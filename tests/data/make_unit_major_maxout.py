"""Writes tests/data/unit_major_maxout/: a run whose D has maxout layers, trained and saved by
toylab at 61488d9, the last commit that stored maxout layers unit-major (unit u's pieces in
columns uk..uk+k-1). Run it with that commit's package on the path:

    git worktree add /tmp/old 61488d9
    PYTHONPATH=/tmp/old python tests/data/make_unit_major_maxout.py

expected.pt holds what that code computed: D's logits at fixed points for each member, at
the saved round and after resuming to round 30, and the weights at round 30 (unit-major)."""

import shutil
import tempfile
from pathlib import Path

import torch

import toylab
from toylab.engine import runs

HERE = Path(__file__).resolve().parent / "unit_major_maxout"
CONFIG = dict(dataset="ring8", d_maxout=3, d_hidden=6, g_hidden=8, batch_size=16, update="optimistic",
              spectral_norm=True, steps=20, snapshot_every=20, metrics_every=0, n_fixed=50,
              grid_size=16, manifold_size=4)
POINTS = torch.linspace(-2, 2, 9)[:, None].repeat(1, 2) * torch.tensor([1.0, -0.5])


def logits(folder):
    nets = runs.load_run(folder).networks()
    return torch.stack([nets.discriminate(POINTS, m) for m in range(nets.E)])


if __name__ == "__main__":
    shutil.rmtree(HERE, ignore_errors=True)
    toylab.train(toylab.TrainConfig(**CONFIG), seeds=[0, 1], out=HERE)
    expected = {"points": POINTS, "logits_20": logits(HERE)}
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "run"
        shutil.copytree(HERE, copy)
        toylab.resume(copy, 30)
        state = torch.load(copy / "checkpoint.pt", weights_only=True)
        expected.update(logits_30=logits(copy), disc_30=state["disc"]["flat"], gen_30=state["gen"]["flat"])
    torch.save(expected, HERE.parent / "unit_major_maxout_expected.pt")
