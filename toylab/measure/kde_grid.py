"""The Gaussian KDE of `toylab.measure.kde` on a pixel grid, in NumPy alone: the same kernels
N(s_i, h_i^2 I) with the same bandwidths (`bandwidth.kde_bandwidths`), evaluated by binning
and blurring instead of by sums at points, for the pictures (p_model's panel, a kernel-sum
target's p_data) - so that a figure starts without torch (~1.3 s) or scipy.ndimage (~0.3 s).
tests/test_viz.py holds it to the sums at the pixel centres.

- `binned_kde`: the KDE on a size x size grid over bounds (linear binning, then a blur).
- `linear_histogram`: the linear binning (also the torch KDE's binned path for large sets).
- `gaussian_blur`: scipy.ndimage.gaussian_filter's result (mode="constant") as two small
  matrix products, for grids of a few hundred pixels.
- `check_grid_size`: a grid's points per axis, bounded (GRID_MAX).
"""

from __future__ import annotations

import math

import numpy as np

from .bandwidth import check_bandwidths


def _blur_matrix(n: int, sigma: float, truncate: float) -> np.ndarray:
    """(n, n) matrix of a 1D Gaussian filter with zero padding: gaussian_filter's taps (radius
    int(truncate * sigma + 0.5), normalised to sum 1) placed on the diagonals."""
    offset = np.arange(n)[None, :] - np.arange(n)[:, None]             # j - i
    out = np.zeros((n, n))
    if truncate * sigma > max(n, 1 << 20):      # only taps within the image matter; their sum is the integral's
        norm = sigma * math.sqrt(2 * math.pi) * math.erf(truncate / math.sqrt(2))
        out[:] = np.exp(-0.5 * (offset / sigma) ** 2) / norm
        return out                    # (a bandwidth of 1e12 asked NumPy for 262 TiB of taps)
    radius = int(truncate * sigma + 0.5)
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2) if sigma > 0 else np.ones(1)
    taps /= taps.sum()
    inside = np.abs(offset) <= radius
    out[inside] = taps[(offset + radius)[inside]] if sigma > 0 else 1.0
    return out


def gaussian_blur(image: np.ndarray, sigma: tuple[float, float], truncate: float = 4.0) -> np.ndarray:
    """image [y, x] convolved with a Gaussian of stds sigma = (sigma_y, sigma_x) pixels, zero
    outside: equal to scipy.ndimage.gaussian_filter(image, sigma, mode="constant", truncate=...)
    (tests), as By @ image @ Bx^T."""
    ny, nx = image.shape
    return _blur_matrix(ny, sigma[0], truncate) @ image @ _blur_matrix(nx, sigma[1], truncate).T


def linear_histogram(u, v, nx: int, ny: int) -> np.ndarray:
    """(ny, nx) histogram of points at (u, v) in cell units (cell (i, j) centred at u = i,
    v = j), each point's unit weight shared bilinearly among its four nearest cells (linear
    binning); weight falling outside the grid is dropped. The binning of every binned KDE here
    (binned_kde, and toylab.measure.kde's for large sample sets)."""
    u, v = np.asarray(u, dtype=np.float64), np.asarray(v, dtype=np.float64)
    i, j = np.floor(u).astype(np.int64), np.floor(v).astype(np.int64)
    fu, fv = u - i, v - j
    out = np.zeros(ny * nx)
    for di, dj, w in ((0, 0, (1 - fu) * (1 - fv)), (1, 0, fu * (1 - fv)), (0, 1, (1 - fu) * fv), (1, 1, fu * fv)):
        ii, jj = i + di, j + dj
        ok = (ii >= 0) & (ii < nx) & (jj >= 0) & (jj < ny)
        out += np.bincount(jj[ok] * nx + ii[ok], weights=w[ok], minlength=ny * nx)
    return out.reshape(ny, nx)


#: pixels per axis of a grid at most (a run's grid is <= 1,000, a supersampled view a few times that)
GRID_MAX = 8192


def check_grid_size(size, lo: int = 2, name: str = "size") -> int:
    """A grid's points per axis: a whole number from lo to GRID_MAX, else a ValueError naming it
    (10**12 asked for terabytes, -1 or 0 was torch's or NumPy's own error)."""
    if isinstance(size, (bool, np.bool_)) or not isinstance(size, (int, np.integer)) or not lo <= size <= GRID_MAX:
        raise ValueError(f"{name}: must be a whole number from {lo} to {GRID_MAX:,} (got {size!r:.60})")
    return int(size)


def binned_kde(samples, bounds, size: int, h) -> np.ndarray:
    """Gaussian KDE of 2D samples on a size x size pixel grid over bounds, P[y, x]: the mean of
    N(x_i, h_i^2 I) (h one bandwidth, or one per sample: `kde_bandwidths(...).per_sample`), for
    p_model's picture and for p_data's of a kernel-sum target alike.

    Each sample's weight is shared bilinearly among its four nearest pixel centres (linear
    binning: its mean position is kept, so the error is second order in the pixel width, where
    nearest-pixel binning is first order), then the histogram of each bandwidth's samples is
    convolved with its kernel: O(size^2) per bandwidth instead of O(size^2 n). Pixel centres
    are linspace(x0, x1, size), as in grid_points. Non-finite samples are dropped; mass falling
    outside the grid is lost.
    """
    size = check_grid_size(size)
    a = np.asarray(samples, dtype=np.float64)
    if a.ndim == 0 or a.shape[-1] != 2:
        raise ValueError(f"samples: expected numbers of shape (n, 2), got shape {a.shape}")
    a = a.reshape(-1, 2)
    ok = np.isfinite(a).all(1)
    if not ok.any():
        return np.zeros((size, size))
    hs = check_bandwidths(h, len(a))
    c, hs = a[ok], hs[ok]
    if len(c) == 0:
        return np.zeros((size, size))
    x0, x1, y0, y1 = bounds
    dx, dy = (x1 - x0) / (size - 1), (y1 - y0) / (size - 1)
    u, v = (c[:, 0] - x0) / dx, (c[:, 1] - y0) / dy
    out = np.zeros((size, size))
    for hc in np.unique(hs):
        mine = hs == hc
        hist = linear_histogram(u[mine], v[mine], size, size) / (len(c) * dx * dy)
        out += gaussian_blur(hist, (hc / dy, hc / dx))
    return out
