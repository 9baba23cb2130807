"""A plain, tutorial-style PyTorch GAN loop (PyTorch DCGAN tutorial pattern) on ring8.

The reference the engine's speed is measured against: nn.Sequential MLPs,
fresh torch.randn noise and fresh data every step, BCEWithLogits, Adam(2e-4,
betas (0.5, 0.999)), D on real then on fake.detach(), G through D, .item() for
logging every step as the tutorials do.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def mlp(i, o, hidden=128, depth=2):
    layers, d = [], i
    for _ in range(depth):
        layers += [nn.Linear(d, hidden), nn.LeakyReLU(0.2)]
        d = hidden
    return nn.Sequential(*layers, nn.Linear(d, o))


def ring8(n):
    k = torch.randint(8, (n,))
    a = k * (2 * math.pi / 8)
    return torch.stack([2 * a.cos(), 2 * a.sin()], 1) + 0.02 * torch.randn(n, 2)


def plain_train(steps: int, batch: int = 512, z_dim: int = 2, seed: int = 0):
    torch.manual_seed(seed)
    G, D = mlp(z_dim, 2), mlp(2, 1)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce = nn.BCEWithLogitsLoss()
    ones, zeros = torch.ones(batch, 1), torch.zeros(batch, 1)
    d_losses, g_losses = [], []
    for _ in range(steps):
        real = ring8(batch)
        fake = G(torch.randn(batch, z_dim))
        opt_d.zero_grad()
        loss_d = bce(D(real), ones) + bce(D(fake.detach()), zeros)
        loss_d.backward()
        opt_d.step()
        opt_g.zero_grad()
        loss_g = bce(D(fake), ones)
        loss_g.backward()
        opt_g.step()
        d_losses.append(loss_d.item())
        g_losses.append(loss_g.item())
    return G, D, d_losses, g_losses
