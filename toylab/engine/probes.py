"""The fixed inputs every snapshot evaluates, and the snapshot itself.

A noise batch (the same `n_fixed` draws at every snapshot, so frames show one generator
moving), a size x size grid over the target for D's field, and a grid in the first two noise
dimensions for the generator's manifold.
"""

from __future__ import annotations

import torch

from ..measure.kde import grid_points
from . import losses, streams
from .config import TrainConfig
from .model import Networks
from .runs import Snapshot


class Probes:
    """Fixed probes of E members' networks; take(step) evaluates them into a Snapshot."""

    def __init__(self, nets: Networks, configs: list[TrainConfig], seeds: list[int]):
        self.nets, self.cfg, self.E, self.K = nets, configs[0], len(configs), nets.K
        self.target = nets.target
        cfg, dev = self.cfg, nets.device
        fixed = streams.generators(seeds, streams.FIXED)
        self.fixed_z = torch.stack([streams.draw_noise(cfg.noise, g, (cfg.n_fixed, cfg.z_dim), "cpu")
                                    for g in fixed]).to(dev)
        self.fixed_labels = (torch.arange(cfg.n_fixed) % self.K).to(dev).expand(self.E, -1) if self.K else None
        self.grid_xs, self.grid_ys, pts = grid_points(self.target.bounds, cfg.grid_size)
        self.grid = pts.to(dev).expand(self.E, -1, -1)
        self.grid_labels = None
        if self.K:
            nearest = torch.cdist(pts, self.target.modes).argmin(1)   # D(x | label of the nearest mode)
            self.grid_labels = nearest.to(dev).expand(self.E, -1)
        m = cfg.manifold_size
        span = 2.5 if cfg.noise == "gaussian" else 1.0
        lin = torch.linspace(-span, span, m)
        if cfg.z_dim == 1:
            zg = lin[:, None].repeat(m, 1)
        else:
            gy, gx = torch.meshgrid(lin, lin, indexing="ij")
            zg = torch.zeros(m * m, cfg.z_dim)
            zg[:, 0], zg[:, 1] = gx.reshape(-1), gy.reshape(-1)
        self.manifold_z = zg.to(dev).expand(self.E, -1, -1)

    @torch.no_grad()
    def _evaluate(self):
        G, D = self.nets.G, self.nets.D
        fake = G(self.fixed_z, self.fixed_labels)
        d_grid = D(self.grid, self.grid_labels).squeeze(-1)
        labels0 = torch.zeros_like(self.manifold_z[..., 0], dtype=torch.long) if self.K else None
        manifold = G(self.manifold_z, labels0)
        return fake, d_grid, manifold

    def take(self, step: int) -> Snapshot:
        """Fakes on the fixed batch, D on the grid, the manifold and grad D at the fakes, now."""
        with self.nets.evaluating():    # running BN statistics; no spectral-norm update from a probe
            fake, d_grid, manifold = self._evaluate()
            with torch.enable_grad():
                d_grad = losses.input_gradient(lambda v: self.nets.D(v, self.fixed_labels), fake, create_graph=False)
        S, M = self.cfg.grid_size, self.cfg.manifold_size
        return Snapshot.packed(step, {"fake": fake.cpu().numpy(),
                                      "d_grid": d_grid.reshape(self.E, S, S).cpu().numpy(),
                                      "manifold": manifold.reshape(self.E, -1, M, 2).cpu().numpy(),
                                      "d_grad": d_grad.cpu().numpy()})
