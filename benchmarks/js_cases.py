"""The JS estimator's validation cases: a target and a model whose log-density is known exactly.

Two families. *Textbook* cases near and far from zero (modes missing, re-weighted, widened;
a broad cloud; two Gaussians). *Messy* cases, what GANs produce between and beyond the
modes: uniform background mass (5-50 %), 1 % far outliers, a single sample far away, a
shifted checkerboard (sharp edges), modes narrowed, and half the mass on one mode. Truth:
JSD by Monte Carlo with both exact densities (`truth`). Used by benchmarks/bench_js.py
(the table in docs/metrics.md) and tests/test_js_messy.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from toylab import datasets, metrics

LN2 = math.log(2.0)


class Shifted(datasets.Target):
    """A target moved by `offset`: the same density, translated (exact log-density)."""

    def __init__(self, base, offset):
        self.base, self.offset = base, torch.tensor(offset, dtype=torch.float32)
        self.name, self.params, self.modes = f"{base.name} shifted", {}, None
        x0, x1, y0, y1 = base.bounds
        self.bounds = (x0 + offset[0], x1 + offset[0], y0 + offset[1], y1 + offset[1])

    def _sample(self, n, gen, device):
        return self.base.sample(n, generator=gen, device=device) + self.offset.to(device)

    def log_prob(self, x):
        return self.base.log_prob(torch.as_tensor(x, dtype=torch.float32) - self.offset)


class OneFar:
    """Exact samples of `target` but the first, put at `point`: one sample where p is ~0."""

    def __init__(self, target, point=(10.0, 0.0)):
        self.target, self.point = target, torch.tensor(point)

    def sample(self, n, seed=None):
        x = self.target.sample(n, seed=seed)
        x[0] = self.point
        return x


@dataclass
class Case:
    name: str
    target: object
    model: object            # .sample(n, seed=...) and, except OneFar, .log_prob(x)
    messy: bool

    def truth(self, n: int) -> float:
        """JSD(p || q) by Monte Carlo on 400,000 samples of each (standard error < 0.0005);
        for OneFar the share of JS that the one far sample carries: ln 2 / (2 n)."""
        if isinstance(self.model, OneFar):
            return LN2 / (2 * n)
        return _truth(self.name, self.target, self.model)


_TRUTH: dict[str, float] = {}


def _truth(name, target, model) -> float:
    if name not in _TRUTH:
        _TRUTH[name] = metrics.js_divergence_exact(target, model.log_prob, model.sample(400_000, seed=99), seed=5)
    return _TRUTH[name]


def cases() -> list[Case]:
    ring, grid = datasets.get("ring8"), datasets.get("grid25")
    ring_on = lambda idx, w=None, std=0.02: datasets.GaussianMixture(ring.modes[list(idx)], std ** 2, w)  # noqa: E731
    grid_on = lambda idx, w=None, std=0.05: datasets.GaussianMixture(grid.modes[list(idx)], std ** 2, w)  # noqa: E731
    w8 = torch.tensor([2.0] * 4 + [1.0] * 4)
    w25 = torch.ones(25)
    w25[:5] = 3.0
    half = torch.tensor([0.5] + [0.5 / 7] * 7)
    P = datasets.get("gaussian", mean=(0.0, 0.0), std=1.0)
    board = datasets.get("checkerboard")

    def background(t, share):
        return datasets.Blend([t, datasets.Uniform(t.bounds)], [1 - share, share])

    textbook = [
        ("ring8, all 8 modes (q = p)", ring, ring_on(range(8))),
        ("ring8, 7 of 8 modes", ring, ring_on(range(7))),
        ("ring8, 6 of 8 modes", ring, ring_on(range(6))),
        ("ring8, weights 2:1", ring, ring_on(range(8), w8 / w8.sum())),
        ("grid25, all 25 modes (q = p)", grid, grid_on(range(25))),
        ("grid25, 24 of 25 modes", grid, grid_on(range(24))),
        ("grid25, 22 of 25 modes", grid, grid_on(range(22))),
        ("grid25, 5 modes x3 weight", grid, grid_on(range(25), w25 / w25.sum())),
        ("grid25, modes 1.3x wider", grid, grid_on(range(25), std=0.065)),
        ("ring8, 1 of 8 modes", ring, ring_on([0])),
        ("grid25 vs a broad N(0, 2.5^2)", grid, datasets.GaussianMixture(torch.zeros(1, 2), 2.5 ** 2)),
        ("N(0, 1) vs N((1, 0), 0.7^2)", P, datasets.get("gaussian", mean=(1.0, 0.0), std=0.7)),
    ]
    messy = [
        ("ring8 + 5 % uniform background", ring, background(ring, 0.05)),
        ("ring8 + 20 % uniform background", ring, background(ring, 0.20)),
        ("ring8, 60 % exact + 40 % uniform", ring, background(ring, 0.40)),
        ("ring8 + 50 % uniform background", ring, background(ring, 0.50)),
        ("grid25, 60 % exact + 40 % uniform", grid, background(grid, 0.40)),
        ("ring8 + 1 % outliers at radius 10", ring, datasets.Blend([ring, datasets.Annulus(10.0, 0.1)], [0.99, 0.01])),
        ("ring8, one sample at (10, 0)", ring, OneFar(ring)),
        ("checkerboard shifted by 0.1", board, Shifted(board, (0.1, 0.0))),
        ("grid25, modes 0.7x narrower", grid, grid_on(range(25), std=0.035)),
        ("ring8, half the mass on one mode", ring, ring_on(range(8), half)),
    ]
    return [Case(n, t, m, False) for n, t, m in textbook] + [Case(n, t, m, True) for n, t, m in messy]
