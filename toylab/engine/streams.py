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


def draw_noise(kind: str, g: torch.Generator, shape, device) -> torch.Tensor:
    """p_z: standard Gaussian, or uniform on [-1, 1]."""
    if kind == "gaussian":
        return torch.randn(shape, generator=g, device=device)
    return torch.rand(shape, generator=g, device=device).mul_(2).sub_(1)
