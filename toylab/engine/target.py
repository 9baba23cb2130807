"""The Target protocol every 2D target follows: ``sample(n, seed=None) -> (n, 2)``,
``log_prob(x) -> (n,)`` (natural log), a square plot window ``bounds``, and for mixtures
``modes`` and ``mode_std``; with the small helpers the targets share."""

from __future__ import annotations

import math
import operator

import torch

from ..measure.kde import LOG_2PI, grid_points, xy_tensor  # noqa: F401  (LOG_2PI: datasets' import)


def torch_generator(seed, generator, device):
    """The torch.Generator to sample with: the one given, else one seeded with `seed`, else None
    (torch's global stream)."""
    if generator is not None:
        return generator
    if seed is None:
        return None
    return torch.Generator(device=device).manual_seed(int(seed))


def check_positive(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return value


#: draws in one call of `sample` at most (10 million points are 80 MB of float32)
MAX_DRAWS = 10_000_000


def check_rows(n, name: str = "n") -> int:
    """A number of draws: a whole number from 1 to MAX_DRAWS, else a ValueError naming it (0 and -5
    were torch's RuntimeError, inf an OverflowError, 1e12 an allocation of terabytes, True one draw)."""
    try:
        k = None if isinstance(n, bool) or getattr(n, "dtype", None) == torch.bool else operator.index(n)
    except TypeError:                 # a float, a string, None: not a count
        k = None
    if k is None or not 1 <= k <= MAX_DRAWS:
        raise ValueError(f"{name}: must be a whole number of draws from 1 to {MAX_DRAWS:,} (got {n!r:.60})")
    return k


def check_member(member, members: int) -> int:
    """A member's index: a whole number from 0 to members - 1, else a ValueError naming it."""
    try:
        k = None if isinstance(member, bool) else operator.index(member)
    except TypeError:
        k = None
    if k is None or not 0 <= k < members:
        raise ValueError(f"member: must be a whole number from 0 to {members - 1} (got {member!r:.60})")
    return k


def check_points(x, name: str = "x") -> torch.Tensor:
    """x as a float32 tensor of shape (n, 2), on its own device (rows of NaN kept: their density
    is NaN), else a ValueError naming it (a scalar, a 1-D or (n, 3) array were torch's
    RuntimeError or IndexError from inside a log-density)."""
    t = xy_tensor(x, name)
    if t.ndim != 2:
        raise ValueError(f"{name}: expected numbers of shape (n, 2), got shape {tuple(t.shape)}")
    return t if t.dtype == torch.float32 else t.float()


class Target:
    """A 2D distribution with a sampler and an exact (or stated) log-density."""

    name: str = "target"
    modes: torch.Tensor | None = None
    mode_std: float | None = None
    params: dict

    def sample(self, n: int, seed: int | None = None, *, generator: torch.Generator | None = None,
               device: str | torch.device = "cpu") -> torch.Tensor:
        """Draw n points, shape (n, 2). With a seed (or generator) the draw is reproducible."""
        x, _ = self.sample_with_labels(check_rows(n), seed, generator=generator, device=device)
        return x

    def sample_with_labels(self, n, seed=None, *, generator=None, device="cpu"):
        """(points, component labels or None); labels exist for mixtures."""
        return self._sample(int(n), torch_generator(seed, generator, device), torch.device(device)), None

    def _sample(self, n, gen, device):  # pragma: no cover - abstract
        raise NotImplementedError

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def prob(self, x: torch.Tensor) -> torch.Tensor:
        return self.log_prob(x).exp()

    @property
    def num_modes(self) -> int:
        return 0 if self.modes is None else int(self.modes.shape[0])

    def density_grid(self, size: int = 100):
        """Exact p_data on a size x size grid over ``bounds``: (xs, ys, P[y, x])."""
        xs, ys, pts = grid_points(self.bounds, size)
        return xs, ys, self.prob(pts).reshape(size, size)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({self.name}: {args})"


def square_bounds(lo, hi):
    """A square window around [lo, hi] so that density images are not stretched."""
    c = (lo + hi) / 2
    half = float((hi - lo).max()) / 2
    return (float(c[0]) - half, float(c[0]) + half, float(c[1]) - half, float(c[1]) + half)
