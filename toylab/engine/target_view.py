"""What a picture of a run needs of its target, computed once and kept in the run's folder.

A frame draws p_data averaged over each pixel, a fixed set of real samples and the mode
count; they depend on the target alone. The trainer writes them when a run starts
(`target_view.npz`), and a picture of the saved run reads them instead of building the
target: reading needs NumPy only, so `toylab figure` starts without torch (its import is
~1.3 s of a figure's ~3 s). A run without the file, or a picture of another size, computes
them from the target: the same numbers (tests/test_viz.py). torch and the targets are
imported inside the functions that compute, for that reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..measure.kde_grid import binned_kde
from .guarded import VIEW_MAX, RunDir, RunFileError
from .runs import write_npz

VIEW_FILE = "target_view.npz"
#: what a RunView uses unless told otherwise: 160 px, 4 x 4 points per pixel, 1,000 real samples
VIEW = dict(size=160, supersample=4, n_real=1000)


@dataclass(frozen=True)
class TargetView:
    """p_data on a size x size pixel grid over bounds (P[y, x], pixel means of supersample^2
    points), n_real real samples (seed 0) and the number of modes."""

    bounds: tuple[float, float, float, float]
    p_data: np.ndarray
    real: np.ndarray
    num_modes: int
    size: int
    supersample: int
    n_real: int


def target_view(target, size: int = VIEW["size"], supersample: int = VIEW["supersample"],
                n_real: int = VIEW["n_real"]) -> TargetView:
    """The view of a target, computed."""
    return TargetView(bounds=tuple(float(b) for b in target.bounds), p_data=pixel_density(target, size, supersample),
                      real=target.sample(n_real, seed=0).numpy(), num_modes=int(target.num_modes), size=size,
                      supersample=supersample, n_real=n_real)


def write_target_view(folder, view: TargetView, run_id: str | None = None) -> None:
    """Keep a view in a run folder (atomic; ~100 kB for the default), marked with the run's id."""
    arrays = {"bounds": np.asarray(view.bounds), "p_data": view.p_data, "real": view.real,
              "shape": np.asarray([view.num_modes, view.size, view.supersample, view.n_real])}
    if run_id:
        arrays["run"] = np.array(run_id)
    write_npz(Path(folder) / VIEW_FILE, arrays)


def read_target_view(folder, size: int = VIEW["size"], supersample: int = VIEW["supersample"],
                     n_real: int = VIEW["n_real"], run_id: str | None = None) -> TargetView | None:
    """The view kept in a run folder (a path or a guarded.RunDir), if there is one of this size made
    for this run (`run_id`, when the run has one); else None: compute it from the target. The
    file is read guarded — a link, a FIFO, a device or a file over VIEW_MAX is never read (and
    runs.load_run refuses a folder whose target_view.npz is a link or not a regular file) —;
    a damaged, oversized or foreign one is only computed again."""
    d = RunDir.of(folder)
    if not d.exists(VIEW_FILE):
        return None
    want = {"bounds": (4,), "p_data": (size, size), "real": (n_real, 2), "shape": (4,), "run": ()}
    try:
        a = d.read_npz(VIEW_FILE, VIEW_MAX, lambda k, shape, dtype: None if want.get(k) == shape else "unexpected",
                       required=("bounds", "p_data", "real", "shape"))
    except RunFileError:
        return None                 # too large, damaged or of another size: the picture computes it from the target
    if run_id and str(a.get("run", "")) != run_id:
        return None                 # not made for this run
    k, s, ss, n = (int(v) for v in a["shape"])
    p = a["p_data"]
    if (s, ss, n) != (size, supersample, n_real) or not np.all(np.isfinite(p)) or np.any(p < 0) \
            or not np.all(np.isfinite(a["real"])) or not np.all(np.isfinite(a["bounds"])) or not 0 <= k <= 10**6:
        return None
    return TargetView(bounds=tuple(float(b) for b in a["bounds"]), p_data=p, real=a["real"],
                      num_modes=k, size=s, supersample=ss, n_real=n)


def pixel_density(target, size: int, supersample: int = 4) -> np.ndarray:
    """p_data averaged over each pixel of a size x size grid over target.bounds, P[y, x].

    Pixel centres are those of grid_points; each pixel's value is the mean of the exact
    density at supersample^2 points spread over it, so a mode narrower than a pixel still
    shows its full mass (sum * pixel area = the probability inside the grid). With
    supersample=1 it is the density at the centres, target.density_grid(size).
    """
    kernels = _kernel_sum(target)
    if kernels is not None:
        return _point_cloud_density(target, size, supersample, *kernels)
    separable = _axis_aligned_mixture(target)
    if separable is not None and supersample > 1:
        return _separable_density(target, size, supersample, *separable)
    if supersample == 1:
        return target.density_grid(size)[2].numpy().astype(np.float64)
    x0, x1, y0, y1 = target.bounds
    dx, dy = (x1 - x0) / (size - 1), (y1 - y0) / (size - 1)
    off = (np.arange(supersample) + 0.5) / supersample - 0.5
    xs = (np.linspace(x0, x1, size)[:, None] + off[None] * dx).reshape(-1)
    ys = (np.linspace(y0, y1, size)[:, None] + off[None] * dy).reshape(-1)
    gy, gx = np.meshgrid(ys, xs, indexing="ij")
    import torch

    pts = torch.from_numpy(np.stack([gx.reshape(-1), gy.reshape(-1)], 1)).float()
    p = torch.cat([target.prob(c) for c in pts.split(1 << 16)]).double().numpy()
    p = p.reshape(size, supersample, size, supersample)
    return p.mean(axis=(1, 3))


def _axis_aligned_mixture(target):
    """(weights, means, per-axis stds) of a Gaussian mixture whose covariances are diagonal
    (ring, grid, gaussian), else None: each component is then phi(x) phi(y)."""
    from .datasets import GaussianMixture

    if not isinstance(target, GaussianMixture):
        return None
    covs = target.covs.double()
    if (covs[:, 0, 1].abs() > 0).any() or (covs[:, 1, 0].abs() > 0).any():
        return None
    return target.weights.double().numpy(), target.means.double().numpy(), \
        np.sqrt(np.stack([covs[:, 0, 0].numpy(), covs[:, 1, 1].numpy()], 1))


def _separable_density(target, size: int, supersample: int, w, mu, sd) -> np.ndarray:
    """pixel_density of an axis-aligned Gaussian mixture, exactly as the generic path computes it
    (the density at supersample^2 points per pixel, averaged) but factorised: a component is
    phi(x) phi(y), so its pixel mean is (mean of phi over the pixel's x points) times (the same
    in y), and P = Py^T diag(w) Px. O(K x pixels) instead of O(K x pixels x supersample^2): the
    first p_data image of ring8 took ~1 s, now milliseconds."""
    x0, x1, y0, y1 = target.bounds
    off = (np.arange(supersample) + 0.5) / supersample - 0.5

    def axis(lo, hi, m, s):
        d = (hi - lo) / (size - 1)
        t = np.linspace(lo, hi, size)[:, None] + off[None] * d            # (size, ss) sub-points
        z = (t[None] - m[:, None, None]) / s[:, None, None]               # (K, size, ss)
        return (np.exp(-0.5 * z ** 2) / (np.sqrt(2 * np.pi) * s[:, None, None])).mean(-1)   # (K, size)

    px, py = axis(x0, x1, mu[:, 0], sd[:, 0]), axis(y0, y1, mu[:, 1], sd[:, 1])
    return (py.T * w[None]) @ px


def _kernel_sum(target):
    """(centres, h) when p_data is exactly the mean of N(centre, h^2 I) over equal-weight centres:
    a points target (its rows, its bandwidth) and a curve target (its quadrature nodes, its std);
    None otherwise."""
    if hasattr(target, "points") and hasattr(target, "bandwidth"):
        return target.points.numpy(), float(target.bandwidth)
    from .datasets import CurveTarget

    if isinstance(target, CurveTarget):
        return target._nodes.numpy(), float(target.std)
    return None


def _point_cloud_density(target, size: int, supersample: int, centres, h: float) -> np.ndarray:
    """pixel_density of an equal-weight sum of Gaussian kernels (a points target's KDE, a curve's
    quadrature nodes) as a binned KDE: the centres are binned on the supersampled grid and
    convolved with the kernel, O(pixels) instead of O(pixels x n) (a 100,000-row upload took
    > 900 s exactly; a swiss roll's 1,500 nodes took 18 s; this takes well under a second).
    The same estimator (measure.kde_grid.binned_kde) draws p_model; tests check it against
    the exact sum."""
    x0, x1, y0, y1 = (float(b) for b in target.bounds)
    dx, dy = (x1 - x0) / (size - 1), (y1 - y0) / (size - 1)
    ss = max(1, supersample)
    fine = (x0 - dx / 2 + dx / (2 * ss), x1 + dx / 2 - dx / (2 * ss),
            y0 - dy / 2 + dy / (2 * ss), y1 + dy / 2 - dy / (2 * ss))     # the centres of the sub-pixels
    p = binned_kde(centres, fine, size * ss, h)
    return p.reshape(size, ss, size, ss).mean(axis=(1, 3))
