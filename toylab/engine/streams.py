"""Reproducible per-member random streams, drawn on the device a chunk at a time.

Each ensemble member owns generators derived from its seed alone (numpy's
SeedSequence), so member e of an ensemble draws exactly what a single run with
the same seed draws. Draws are made `chunk` batches at a time into one (E, chunk,
...) buffer, so the hot loop costs one slice per batch instead of E sampler calls.
"""

from __future__ import annotations

import numpy as np
import torch

# Child streams of one seed: what each generator is for.
INIT, NOISE, DATA, FIXED = range(4)


def child_seed(seed: int, stream: int) -> int:
    """A 63-bit seed for `stream` of run seed `seed` (independent streams, SeedSequence)."""
    state = np.random.SeedSequence(int(seed)).spawn(4)[stream].generate_state(2, np.uint32)
    return int(state[0]) << 31 ^ int(state[1])


def generators(seeds, stream: int, device="cpu") -> list[torch.Generator]:
    return [torch.Generator(device=device).manual_seed(child_seed(s, stream)) for s in seeds]


class Buffered:
    """Batches of one kind (noise or data), `chunk` at a time, one generator per member.

    `draw(generator, count) -> tensor (count, batch, ...)` or a tuple of such tensors.
    """

    def __init__(self, gens, draw, chunk: int):
        self.gens, self.draw, self.chunk = gens, draw, chunk
        self.buf, self.pos = None, chunk

    def next(self):
        if self.pos >= self.chunk:
            parts = [self.draw(g, self.chunk) for g in self.gens]
            if isinstance(parts[0], tuple):
                self.buf = tuple(torch.stack(p, 0) for p in zip(*parts))
            else:
                self.buf = (torch.stack(parts, 0),)
            self.pos = 0
        i, self.pos = self.pos, self.pos + 1
        return tuple(None if b is None else b[:, i] for b in self.buf)

    def state_dict(self):
        return {"gens": [g.get_state() for g in self.gens], "pos": self.pos,
                "buf": list(self.buf) if self.buf is not None else None}

    def load_state_dict(self, state):
        for g, s in zip(self.gens, state["gens"]):
            g.set_state(s)
        self.pos = state["pos"]
        self.buf = tuple(state["buf"]) if state["buf"] is not None else None


class Batches:
    """A GAN's two streams for E members, seeded per member: the noise z (with the classes
    drawn from the target's weights, for a conditional GAN on K modes) and the real data x
    (with wgan-gp's interpolation weights, and the classes). Batches hold batch_size x pack
    rows (PacGAN: batch_size packs of `pack` samples)."""

    def __init__(self, cfg, target, K: int, seeds, device, chunk: int = 32):
        B = cfg.batch_size * cfg.pack
        self.K = K
        weights = target.weights.to(device) if K else None

        def noise(g, n):
            z = draw_noise(cfg.noise, g, (n, B, cfg.z_dim), device)
            if not K:
                return z
            return z, torch.multinomial(weights, n * B, replacement=True, generator=g).view(n, B)

        def data(g, n):
            x, labels = target.sample_with_labels(n * B, generator=g, device=device)
            eps = torch.rand(n, B, 1, generator=g, device=device)   # interpolation weights for wgan-gp
            return (x.view(n, B, 2), eps, labels.view(n, B)) if K else (x.view(n, B, 2), eps)

        self.noise = Buffered(generators(seeds, NOISE, device), noise, chunk)
        self.data = Buffered(generators(seeds, DATA, device), data, chunk)

    def real(self):
        """(x, eps, classes or None), each (E, B, ...)."""
        batch = self.data.next()
        return batch[0], batch[1], (batch[2] if self.K else None)

    def fake_input(self):
        """(z, classes or None), each (E, B, ...)."""
        batch = self.noise.next()
        return batch[0], (batch[1] if self.K else None)

    def state_dict(self) -> dict:
        return {"noise": self.noise.state_dict(), "data": self.data.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.noise.load_state_dict(state["noise"])
        self.data.load_state_dict(state["data"])


def draw_noise(kind: str, g: torch.Generator, shape, device) -> torch.Tensor:
    """p_z: standard Gaussian, or uniform on [-1, 1]."""
    if kind == "gaussian":
        return torch.randn(shape, generator=g, device=device)
    return torch.rand(shape, generator=g, device=device).mul_(2).sub_(1)
