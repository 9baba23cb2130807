"""2D targets p_data: samplers with exact log-densities.

Every target has ``sample(n, seed=None) -> (n, 2)`` and ``log_prob(x) -> (n,)``
(natural log), a plot window ``bounds = (xmin, xmax, ymin, ymax)`` that frames
it, and, for mixtures, ``modes`` (K x 2 centres) and ``mode_std``.

>>> t = get("ring8")
>>> t.sample(4, seed=0).shape
torch.Size([4, 2])
"""

from __future__ import annotations

import functools
import inspect
import math
from typing import Callable

import numpy as np
import torch

from .point_cloud import PointCloud
from .target import LOG_2PI, Target, check_points, check_positive, square_bounds, torch_generator
from .target_params import MAX_POINTS, MODELS, PRESETS, Kept, check_params, describe, names, params_key  # noqa: F401

__all__ = ["Target", "GaussianMixture", "CurveTarget", "Annulus", "Checkerboard", "Uniform", "Blend",
           "PointCloud", "get", "names", "describe", "check_params", "MODELS", "MAX_POINTS"]


def _numbers(x, name: str) -> torch.Tensor:
    """x as float32 numbers, else a ValueError naming it (a string or a ragged list)."""
    if isinstance(x, (bool, str)) or getattr(x, "dtype", None) == torch.bool:
        raise ValueError(f"{name}: expected numbers, got {type(x).__name__}")
    try:
        return torch.as_tensor(np.asarray(x, dtype=np.float32) if not torch.is_tensor(x) else x, dtype=torch.float32)
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"{name}: expected numbers, got {type(x).__name__}") from None


class GaussianMixture(Target):
    """sum_k w_k N(mu_k, Sigma_k); full covariances allowed (anisotropic components)."""

    def __init__(self, means, covs, weights=None, *, name="mixture", params=None, margin=None):
        means = _numbers(means, "means")
        if means.shape == (2,):
            means = means.reshape(1, 2)                      # one component's mean
        if means.ndim != 2 or means.shape[1] != 2 or not torch.isfinite(means).all():
            raise ValueError(f"means: expected finite numbers of shape (K, 2), got shape {tuple(means.shape)}")
        k = means.shape[0]
        if k < 1:
            raise ValueError("a Gaussian mixture needs at least one component (K >= 1)")
        covs = _numbers(covs, "covs")
        if covs.ndim == 0:
            covs = covs * torch.eye(2).expand(k, 2, 2).clone()
        if covs.shape not in ((2, 2), (k, 2, 2)) or not torch.isfinite(covs).all():
            raise ValueError(f"covs: expected a number, a 2x2 matrix or {k} of them (K, 2, 2), finite; "
                             f"got shape {tuple(covs.shape)}")
        covs = covs.expand(k, 2, 2).clone()
        try:
            chol = torch.linalg.cholesky(covs)
        except RuntimeError as err:
            raise ValueError("each mixture covariance must be symmetric positive definite") from err
        w = torch.full((k,), 1.0 / k) if weights is None else torch.as_tensor(weights, dtype=torch.float32)
        if w.shape != (k,) or (w < 0).any() or not torch.isclose(w.sum(), torch.tensor(1.0)):
            raise ValueError("weights must be K non-negative numbers summing to 1")
        self.means, self.covs, self.chol, self.weights = means, covs, chol, w
        self.modes = means
        self.mode_std = float(torch.linalg.eigvalsh(covs).max().sqrt())
        self.name = name
        self.params = params or {}
        # Precision Cholesky factor for Mahalanobis distances.
        self._inv_chol = torch.linalg.inv(chol)
        self._log_norm = torch.log(w) - LOG_2PI - torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)
        pad = margin if margin is not None else 4 * self.mode_std + 0.5
        lo, hi = means.min(0).values - pad, means.max(0).values + pad
        self.bounds = square_bounds(lo, hi)

    def sample_with_labels(self, n, seed=None, *, generator=None, device="cpu"):
        device = torch.device(device)
        gen = torch_generator(seed, generator, device)
        w = self.weights.to(device)
        labels = torch.multinomial(w, int(n), replacement=True, generator=gen)
        eps = torch.randn(int(n), 2, 1, generator=gen, device=device)
        x = self.means.to(device)[labels] + (self.chol.to(device)[labels] @ eps).squeeze(-1)
        return x, labels

    def mahalanobis(self, x: torch.Tensor) -> torch.Tensor:
        """(n, K) Mahalanobis distances of x to every component."""
        d = x[:, None, :] - self.means.to(x)[None]
        z = torch.einsum("kij,nkj->nki", self._inv_chol.to(x), d)
        return z.norm(dim=-1)

    def log_prob(self, x):
        x = check_points(x)
        rows = max(1, 2**22 // self.means.shape[0])         # (rows, K, 2) blocks of at most 32 MB
        out = [torch.logsumexp(self._log_norm.to(c)[None] - 0.5 * self.mahalanobis(c) ** 2, dim=1)
               for c in x.split(rows)]
        return torch.cat(out) if out else x.new_zeros(0)


def _checked(family: str):
    """The builder with its parameters checked by the family's model (target_params.MODELS)
    first, for direct callers as for `get`: one check, with the model's ranges and messages."""
    def wrap(build):
        sig = inspect.signature(build)

        @functools.wraps(build)
        def built(*args, **kwargs):
            given = dict(sig.bind(*args, **kwargs).arguments)
            me = given.pop("self", None)
            checked = check_params(family, given)
            return build(**checked) if me is None else build(me, **checked)
        return built
    return wrap


@_checked("ring")
def ring(k: int = 8, radius: float = 2.0, std: float = 0.02) -> GaussianMixture:
    """K equal Gaussians with centres on a circle (the unrolled-GAN / VEEGAN ring)."""
    a = torch.arange(k, dtype=torch.float64) * 2 * math.pi / k
    means = radius * torch.stack([a.cos(), a.sin()], 1)
    return GaussianMixture(means, std ** 2, name="ring",
                           params=dict(k=k, radius=radius, std=std), margin=0.25 * radius + 4 * std)


@_checked("grid")
def grid(n: int = 5, spacing: float = 2.0, std: float = 0.05) -> GaussianMixture:
    """n x n equal Gaussians on a square lattice centred at 0: K = n^2."""
    c = (torch.arange(n, dtype=torch.float64) - (n - 1) / 2) * spacing
    gy, gx = torch.meshgrid(c, c, indexing="ij")
    means = torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)
    return GaussianMixture(means, std ** 2, name="grid",
                           params=dict(n=n, spacing=spacing, std=std), margin=spacing / 2 + 4 * std)


@_checked("gaussian")
def gaussian(mean=(0.0, 0.0), std: float = 1.0) -> GaussianMixture:
    """A single isotropic Gaussian N(mean, std^2 I)."""
    return GaussianMixture(torch.tensor([list(mean)]), std ** 2, name="gaussian",
                           params=dict(mean=tuple(mean), std=std))


@_checked("anisotropic")
def anisotropic(distance: float = 3.0, std_major: float = 0.6, std_minor: float = 0.15,
                angle_deg: float = 45.0) -> GaussianMixture:
    """Two elongated Gaussians at (+-distance/2, 0), tilted +-angle: a non-isotropic target."""
    s1, s2 = std_major, std_minor
    covs = []
    for sign in (1, -1):
        a = math.radians(sign * angle_deg)
        r = torch.tensor([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
        covs.append(r @ torch.diag(torch.tensor([s1 ** 2, s2 ** 2])) @ r.T)
    means = torch.tensor([[-distance / 2, 0.0], [distance / 2, 0.0]])
    return GaussianMixture(means, torch.stack(covs), name="anisotropic",
                           params=dict(distance=distance, std_major=s1, std_minor=s2, angle_deg=angle_deg))


class CurveTarget(Target):
    """A curve c(t), t ~ U[t0, t1], blurred by N(0, std^2 I).

    p(x) = E_t N(x; c(t), std^2 I), evaluated by midpoint quadrature over t with
    enough nodes that neighbouring nodes lie well within one std along the curve,
    so the log-density is exact to quadrature accuracy (< 1e-4 relative).
    """

    def __init__(self, curve: Callable[[torch.Tensor], torch.Tensor], t0: float, t1: float,
                 std: float, *, name: str, params: dict, nodes: int | None = None):
        self.curve, self.t0, self.t1 = curve, float(t0), float(t1)
        self.std = check_positive(f"{name}: std", std)
        self.name, self.params = name, params
        fine = curve(torch.linspace(self.t0, self.t1, 4097, dtype=torch.float64))
        length = float((fine[1:] - fine[:-1]).norm(dim=1).sum())
        n = nodes or int(min(max(256, 4 * length / self.std), 20000))
        t = self.t0 + (torch.arange(n, dtype=torch.float64) + 0.5) * (self.t1 - self.t0) / n
        self._nodes = curve(t).float()
        pad = 4 * self.std + 0.2
        self.bounds = square_bounds(fine.min(0).values.float() - pad, fine.max(0).values.float() + pad)

    def _sample(self, n, gen, device):
        t = self.t0 + (self.t1 - self.t0) * torch.rand(n, generator=gen, device=device, dtype=torch.float64)
        return self.curve(t).float() + self.std * torch.randn(n, 2, generator=gen, device=device)

    def log_prob(self, x):
        x = check_points(x)
        nodes = self._nodes.to(x.device)
        out = []
        for chunk in x.split(4096):
            d2 = torch.cdist(chunk, nodes).pow(2)
            out.append(torch.logsumexp(-0.5 * d2 / self.std ** 2, 1))
        lse = torch.cat(out) if out else x.new_zeros(0)
        return lse - math.log(nodes.shape[0]) - LOG_2PI - 2 * math.log(self.std)


@_checked("swissroll")
def swissroll(scale: float = 0.25, std: float = 0.1) -> CurveTarget:
    """The swiss roll (t cos t, t sin t), t in [1.5 pi, 4.5 pi], scaled."""

    def curve(t):
        return scale * torch.stack([t * t.cos(), t * t.sin()], 1)

    return CurveTarget(curve, 1.5 * math.pi, 4.5 * math.pi, std, name="swissroll",
                       params=dict(scale=scale, std=std))


@_checked("spiral")
def spiral(turns: float = 2.0, radius: float = 2.5, std: float = 0.08) -> CurveTarget:
    """An Archimedean spiral r = radius * t / (2 pi turns), t in [0, 2 pi turns]."""
    tmax = 2 * math.pi * turns

    def curve(t):
        r = radius * t / tmax
        return torch.stack([r * t.cos(), r * t.sin()], 1)

    return CurveTarget(curve, 0.0, tmax, std, name="spiral", params=dict(turns=turns, radius=radius, std=std))


@_checked("line")
def line(length: float = 4.0, angle_deg: float = 45.0, std: float = 0.05) -> CurveTarget:
    """A segment through the origin, uniform along it, blurred by std."""
    a = math.radians(angle_deg)
    direction = torch.tensor([math.cos(a), math.sin(a)], dtype=torch.float64)

    def curve(t):
        return t[:, None] * direction.to(t)

    return CurveTarget(curve, -length / 2, length / 2, std, name="line",
                       params=dict(length=length, angle_deg=angle_deg, std=std))


class Annulus(Target):
    """A continuous circle: angle ~ U[0, 2 pi), radius ~ N(r, std^2).

    p(x) = f(|x|) / (2 pi |x|) with f the density of |N(r, std^2)| (the radius is
    folded at 0, exactly as the sampler draws it).
    """

    @_checked("circle")
    def __init__(self, radius: float = 2.0, std: float = 0.1):
        self.radius, self.std = radius, std
        self.name, self.params = "circle", dict(radius=self.radius, std=self.std)
        h = self.radius + 4 * self.std + 0.3
        self.bounds = (-h, h, -h, h)

    def _sample(self, n, gen, device):
        a = 2 * math.pi * torch.rand(n, generator=gen, device=device)
        r = (self.radius + self.std * torch.randn(n, generator=gen, device=device)).abs()
        return torch.stack([r * a.cos(), r * a.sin()], 1)

    def log_prob(self, x):
        x = check_points(x)
        rho = x.norm(dim=1).clamp_min(1e-12)
        # |N(r, s)| folded at 0 so the density is exact for the sampler above.
        z1, z2 = (rho - self.radius) / self.std, (rho + self.radius) / self.std
        radial = torch.logaddexp(-0.5 * z1 ** 2, -0.5 * z2 ** 2) - 0.5 * LOG_2PI - math.log(self.std)
        return radial - math.log(2 * math.pi) - rho.log()


class Checkerboard(Target):
    """Uniform on the dark squares of an n x n board of side `size`, centred at 0."""

    @_checked("checkerboard")
    def __init__(self, n: int = 4, size: float = 4.0):
        self.n, self.size = n, size
        self.cell = self.size / self.n
        dark = [(i, j) for i in range(self.n) for j in range(self.n) if (i + j) % 2 == 0]
        self._dark = torch.tensor(dark)
        self._log_density = -math.log(len(dark) * self.cell ** 2)
        self.name, self.params = "checkerboard", dict(n=self.n, size=self.size)
        h = self.size / 2 + 0.3
        self.bounds = (-h, h, -h, h)

    def _sample(self, n, gen, device):
        idx = torch.randint(len(self._dark), (n,), generator=gen, device=device)
        u = torch.rand(n, 2, generator=gen, device=device)
        return (self._dark.to(device)[idx] + u) * self.cell - self.size / 2

    def log_prob(self, x):
        x = check_points(x)
        ij = torch.floor((x + self.size / 2) / self.cell)
        inside = ((ij >= 0) & (ij < self.n)).all(1) & ((ij.sum(1) % 2) == 0)
        return torch.where(inside, torch.full_like(x[:, 0], self._log_density),
                           torch.full_like(x[:, 0], -math.inf))


class Uniform(Target):
    """Uniform on the rectangle bounds = (x0, x1, y0, y1): a generator's background mass."""

    def __init__(self, bounds):
        x0, x1, y0, y1 = (float(v) for v in bounds)
        if not (x1 > x0 and y1 > y0):
            raise ValueError(f"Uniform: bounds {bounds} must be (x0, x1, y0, y1) with x1 > x0, y1 > y0")
        self.bounds, self.name, self.params = (x0, x1, y0, y1), "uniform", dict(bounds=(x0, x1, y0, y1))
        self._lo, self._size = torch.tensor([x0, y0]), torch.tensor([x1 - x0, y1 - y0])
        self._log_density = -math.log((x1 - x0) * (y1 - y0))

    def _sample(self, n, gen, device):
        return self._lo.to(device) + self._size.to(device) * torch.rand(n, 2, generator=gen, device=device)

    def log_prob(self, x):
        x = check_points(x)
        u = (x - self._lo) / self._size
        inside = ((u >= 0) & (u <= 1)).all(1)
        return torch.where(inside, torch.full_like(u[:, 0], self._log_density), torch.full_like(u[:, 0], -math.inf))


class Blend(Target):
    """sum_k w_k p_k for targets p_k: e.g. a ring of modes with uniform background mass or a few
    far outliers, the messy generators the metrics are validated on (exact log-density:
    logsumexp_k (ln w_k + ln p_k)). Modes, when any, are the first component's."""

    def __init__(self, components, weights, *, name: str = "blend"):
        self.components = [get(c) for c in components]
        w = torch.as_tensor(weights, dtype=torch.float64)
        if w.shape != (len(self.components),) or (w < 0).any() or abs(float(w.sum()) - 1) > 1e-6:
            raise ValueError("Blend: weights must be one non-negative number per component, summing to 1")
        self.weights, self.name, self.params = w, name, dict(weights=w.tolist())
        first = self.components[0]
        self.modes, self.mode_std = first.modes, first.mode_std
        if first.modes is not None:
            self.mahalanobis = first.mahalanobis
        b = [c.bounds for c in self.components]
        self.bounds = (min(v[0] for v in b), max(v[1] for v in b), min(v[2] for v in b), max(v[3] for v in b))

    def _sample(self, n, gen, device):
        which = torch.multinomial(self.weights.float().to(device), n, replacement=True, generator=gen)
        out = torch.empty(n, 2, device=device)
        for k, c in enumerate(self.components):
            idx = torch.nonzero(which == k).reshape(-1)
            if len(idx):
                out[idx] = c.sample(len(idx), generator=gen, device=device)
        return out

    def log_prob(self, x):
        x = check_points(x)
        logs = [math.log(w) + c.log_prob(x).double() if w > 0 else torch.full((len(x),), -math.inf, dtype=torch.float64)
                for w, c in zip(self.weights.tolist(), self.components)]
        return torch.logsumexp(torch.stack(logs), 0).float()


#: family -> builder (its parameters' model: toylab.engine.target_params.MODELS)
_BUILDERS: dict[str, Callable[..., Target]] = {
    "ring": ring, "grid": grid, "gaussian": gaussian, "anisotropic": anisotropic, "circle": Annulus,
    "swissroll": swissroll, "spiral": spiral, "checkerboard": Checkerboard, "line": line,
    "points": PointCloud.from_file,
}


def _preset(family: str, base: dict) -> Callable[..., Target]:
    """The family's builder with the preset's parameters (any of them overridable)."""
    return lambda **kw: _BUILDERS[family](**{**base, **kw})


_BUILDERS = {**{name: _preset(family, base) for name, (family, base, _) in PRESETS.items()}, **_BUILDERS}


#: targets kept by their parameters (a target is not changed once built: tensors read, never
#: written), so the page's preview, the form's check and the run share one
_BUILT = Kept(32)


def get(name: str | Target, **params) -> Target:
    """The target called `name`, built with `params` (see ``describe()``); the same parameters
    give the same (unchanging) Target object, except for 'points' (its file is read anew)."""
    if isinstance(name, Target):
        return name
    if name not in _BUILDERS:
        raise ValueError(f"dataset: unknown target {name!r}; choose one of {', '.join(names())}")
    given = check_params(name, params)
    key = params_key(name, given)
    hit = _BUILT.get(key) if key is not None else None
    if hit is not None:
        return hit
    target = build(name, given)
    return _BUILT.put(key, target) if key is not None else target


def build(name: str, given: dict) -> Target:
    """A new target from checked parameters (get() keeps what it builds)."""
    try:
        target = _BUILDERS[name](**given)
    except TypeError as err:
        raise ValueError(f"dataset {name!r}: bad parameters {given}: {err}") from err
    if name in PRESETS:
        target.name = name
    return target
