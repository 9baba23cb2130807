"""Gaussian kernel density estimates of 2D samples: the one density estimate of p_model.

The JS estimate (metrics), the p_model and D* panels (panels) and the bandwidth shown
in the dashboard all use these functions, so the number and the picture agree.

- `kde_bandwidth`: h maximising the leave-one-out likelihood (adapts to modes of std
  0.02 as well as to broad clouds, where a global rule of thumb smears each mode).
- `kde_log_prob`: log q_h(x) = log (1/m) sum_j N(x; s_j, h^2 I), summed over the
  samples within `CUTOFF` h of x (a k-d tree finds them; a kernel beyond 6 h is below
  1.5e-8 of its peak), or the exact dense sum where most pairs are that close.
- `binned_kde`: the same density on a pixel grid (binned and convolved), for pictures.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.spatial import cKDTree
from scipy.special import logsumexp

LOG_2PI = math.log(2 * math.pi)
CUTOFF = 6.0                # kernels summed out to CUTOFF * h: exp(-CUTOFF^2 / 2) = 1.5e-8 of the peak
DENSE_SHARE = 0.25          # above this share of pairs within the cutoff, the exact dense sum is cheaper
BANDWIDTH_SAMPLE = 300      # points used to choose the bandwidth (rescaled to n by n^(-1/6))


def as_points(x) -> torch.Tensor:
    """Finite rows of an (n, 2) array or tensor, as a float32 CPU tensor."""
    t = torch.as_tensor(np.asarray(x) if not torch.is_tensor(x) else x).detach().float().cpu()
    if t.ndim != 2 or t.shape[1] != 2:
        raise ValueError(f"samples: expected shape (n, 2), got {tuple(t.shape)}")
    return t[torch.isfinite(t).all(1)]


def sq_dist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Exact pairwise squared distances (the matmul form loses near-duplicates)."""
    return torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist").pow_(2)


def _dense_log_sum(x: np.ndarray, s: np.ndarray, h: float, skip_self: np.ndarray | None) -> np.ndarray:
    """log sum_j exp(-|x_i - s_j|^2 / 2h^2) exactly over all j (j != skip_self[i])."""
    xt, st = torch.from_numpy(x).float(), torch.from_numpy(s).float()
    out = []
    for lo in range(0, len(x), 2048):
        d2 = sq_dist(xt[lo:lo + 2048], st)
        if skip_self is not None:
            d2[torch.arange(d2.shape[0]), torch.from_numpy(skip_self[lo:lo + 2048])] = math.inf
        out.append(torch.logsumexp(d2.mul_(-0.5 / h ** 2), 1))
    return torch.cat(out).double().numpy() if out else np.empty(0)


def _nearest_log_sum(x: np.ndarray, tree: cKDTree, h: float, k: int = 32) -> np.ndarray:
    """log of the sum over the k nearest samples only: for points more than CUTOFF h from
    every sample, where q_h is below 1e-7 of its peak and only its order of magnitude counts."""
    d, _ = tree.query(x, k=min(k, tree.n))
    return logsumexp(-0.5 * (d.reshape(len(x), -1) / h) ** 2, axis=1)


def kde_log_prob(x, samples, h: float, leave_one_out: bool = False) -> torch.Tensor:
    """log of the Gaussian KDE (1/m) sum_j N(x; s_j, h^2 I) at each x (float32 tensor).

    leave_one_out: x must be the samples; x_i's own kernel is left out (m = n - 1).
    Where samples are dense around the queries (most pairs within CUTOFF h) the exact
    sum over all pairs is taken; otherwise a k-d tree sums the kernels within CUTOFF h
    (relative error < 1e-7). A query with no sample that close gets, with leave_one_out,
    the exact sum over all samples (an outlier's own density matters), else the sum over
    its 32 nearest (it lies where q_h is below 1e-7 of its peak).
    """
    xs = torch.as_tensor(x).detach().cpu().double().numpy().reshape(-1, 2)
    ss = torch.as_tensor(samples).detach().cpu().double().numpy().reshape(-1, 2)
    m = ss.shape[0] - (1 if leave_one_out else 0)
    if m < 1 or len(xs) == 0:
        return torch.full((len(xs),), -math.inf)
    tree_s, tree_x = cKDTree(ss), cKDTree(xs)
    r = CUTOFF * h
    if tree_x.count_neighbors(tree_s, r) > DENSE_SHARE * len(xs) * len(ss):
        log_sum = _dense_log_sum(xs, ss, h, np.arange(len(xs)) if leave_one_out else None)
    else:
        pairs = tree_x.sparse_distance_matrix(tree_s, r, output_type="ndarray")
        i, j, d = pairs["i"], pairs["j"], pairs["v"]
        if leave_one_out:
            keep = i != j
            i, j, d = i[keep], j[keep], d[keep]
        total = np.bincount(i, weights=np.exp(-0.5 * (d / h) ** 2), minlength=len(xs))
        with np.errstate(divide="ignore"):
            log_sum = np.log(total)
        lonely = np.flatnonzero(total == 0)
        if len(lonely):
            log_sum[lonely] = (_dense_log_sum(xs[lonely], ss, h, lonely) if leave_one_out
                               else _nearest_log_sum(xs[lonely], tree_s, h))
    return torch.from_numpy(log_sum - math.log(m) - LOG_2PI - 2 * math.log(h)).float()


def kde_bandwidth(samples, span: float, max_points: int | None = None, seed: int = 0,
                  near: float | None = None) -> float:
    """h maximising the leave-one-out log-likelihood of the samples.

    Coarse-to-fine over log h: 12 candidates from span * 10^-3.5 to span, then 7 around
    the best (steps of ~13 %); with `near` (a bandwidth known to be close, as for a
    bootstrap sample of the same density) only the 7 around it. More than `max_points`
    samples: chosen on a seeded random subset and rescaled by Scott's law h ~ n^(-1/6).
    """
    samples = as_points(samples)
    n = samples.shape[0]
    if n < 2:
        raise ValueError("kde_bandwidth: needs at least 2 finite samples")
    max_points = max_points or BANDWIDTH_SAMPLE
    sub = samples
    if n > max_points:
        g = torch.Generator().manual_seed(seed)
        sub = samples[torch.randperm(n, generator=g)[:max_points]]
    m = sub.shape[0]
    d2 = sq_dist(sub, sub).mul_(-0.5).numpy()
    np.fill_diagonal(d2, -np.inf)
    top = d2.max(1, keepdims=True)                # -d_nearest^2 / 2: the largest term of each row
    rest = d2 - top

    def best_of(log_h: torch.Tensor) -> float:
        inv = np.exp(-2 * log_h.numpy())
        ll = np.array([(top[:, 0] * v + np.log(np.exp(rest * v).sum(1))).mean() for v in inv]) - 2 * log_h.numpy()
        return float(log_h[int(np.nan_to_num(ll, nan=-np.inf).argmax())])

    fine_step = 3.5 * math.log(10) / 11 / 3
    if near is None:
        best = best_of(math.log(span) + torch.linspace(-3.5, 0.0, 12, dtype=torch.float64) * math.log(10))
    else:
        best = math.log(near) - (1 / 6) * math.log(m / n)        # back to the subset's scale
    best = best_of(best + torch.arange(-3, 4, dtype=torch.float64) * fine_step)
    return math.exp(best) * (m / n) ** (1 / 6)


def binned_kde(samples, bounds, size: int, h: float) -> np.ndarray:
    """Gaussian KDE of 2D samples on a size x size pixel grid over bounds, P[y, x].

    The samples are binned into the pixels and the histogram is convolved with
    N(0, h^2 I) (a binned KDE: O(size^2) instead of O(size^2 n), exact up to the
    pixel width). Pixel centres are linspace(x0, x1, size), as in grid_points.
    Non-finite samples are dropped; mass falling outside the grid is lost.
    """
    from scipy.ndimage import gaussian_filter

    x = np.asarray(samples, dtype=np.float64).reshape(-1, 2)
    x = x[np.isfinite(x).all(1)]
    x0, x1, y0, y1 = bounds
    dx, dy = (x1 - x0) / (size - 1), (y1 - y0) / (size - 1)
    edges_x = np.linspace(x0 - dx / 2, x1 + dx / 2, size + 1)
    edges_y = np.linspace(y0 - dy / 2, y1 + dy / 2, size + 1)
    if len(x) == 0:
        return np.zeros((size, size))
    hist, _, _ = np.histogram2d(x[:, 1], x[:, 0], bins=(edges_y, edges_x))
    hist /= len(x) * dx * dy
    return gaussian_filter(hist, sigma=(h / dy, h / dx), mode="constant", truncate=4.0)
