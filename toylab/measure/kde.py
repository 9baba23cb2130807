"""Gaussian kernel density estimates of 2D samples: the one density estimate of p_model.

The JS estimate (metrics), the p_model and D* panels (panels) and the bandwidth shown
in the dashboard all use these functions, so the number and the picture agree.

- `bandwidth.kde_bandwidth`: h maximising the leave-one-out likelihood (adapts to modes of std
  0.02 as well as to broad clouds, where a global rule of thumb smears each mode).
- `kde_log_prob`: log q_h(x) = log (1/m) sum_j N(x; s_j, h^2 I), summed over the samples
  within `CUTOFF` h of x, found block by block (a kernel beyond 6 h is below 1.5e-8 of its
  peak); for large, broad sets (over 2,828 x 2,828 pairs, h large against their extent) by a
  binned KDE on a grid of h/4 cells (log q within ~1e-2, the JS estimate within 1e-5:
  tests/test_metrics.py). js_divergence on 10,000 samples: 0.1-0.8 s (was 4-13 s).
- The same KDE on a pixel grid, for pictures, is `toylab.measure.kde_grid.binned_kde`, and its
  bandwidths `toylab.measure.bandwidth`'s, in NumPy alone, so that a figure starts without torch.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .bandwidth import LOG_2PI, check_bandwidths
from .kde_grid import check_grid_size, linear_histogram

CUTOFF = 6.0                # kernels summed out to CUTOFF * h: exp(-CUTOFF^2 / 2) = 1.5e-8 of the peak
EXACT_PAIRS = 8_000_000     # up to this many query-sample pairs (n = 2,828 each) the sum is exact
GRID_STEPS = 4              # above, a binned KDE with h / 4 cells where such a grid ...
MAX_CELLS = 300_000         # ... has at most this many cells (broad samples), else the truncated sum
BLOCK = 128                 # queries per block of the truncated sum ...
ONE_BLOCK = 1_000_000       # ... above this many pairs (below, one block: all pairs at once)


def as_points(x) -> torch.Tensor:
    """Finite rows of an (n, 2) array or tensor, as a float32 CPU tensor."""
    t = torch.as_tensor(np.asarray(x) if not torch.is_tensor(x) else x).detach().float().cpu()
    if t.ndim != 2 or t.shape[1] != 2:
        raise ValueError(f"samples: expected shape (n, 2), got {tuple(t.shape)}")
    return t[torch.isfinite(t).all(1)]


def check_target(target) -> None:
    """A target is anything with sample, log_prob and bounds (toylab.datasets.get(name) makes one);
    else a TypeError naming `target` (a name or an array was an AttributeError from deep inside)."""
    if not all(hasattr(target, a) for a in ("sample", "log_prob", "bounds")):
        hint = " (a name: use toylab.datasets.get(name))" if isinstance(target, str) else ""
        raise TypeError(f"target: expected a target with sample, log_prob and bounds, got "
                        f"{type(target).__name__}{hint}")


def sq_dist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Exact pairwise squared distances (the matmul form loses near-duplicates)."""
    return torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist").pow_(2)


def _morton(cells: np.ndarray) -> np.ndarray:
    """Z-order key of non-negative integer cell coordinates (n, 2): nearby cells, nearby keys."""
    key = np.zeros(len(cells), dtype=np.int64)
    for bit in range(21):
        key |= ((cells[:, 0] >> bit) & 1) << (2 * bit) | ((cells[:, 1] >> bit) & 1) << (2 * bit + 1)
    return key


def _blocked_log_sum(x: torch.Tensor, s: torch.Tensor, hs: torch.Tensor, own: torch.Tensor | None) -> torch.Tensor:
    """log sum_j exp(-|x_i - s_j|^2 / 2h_j^2) / h_j^2 over every s_j within CUTOFF h_j of x_i.

    Queries are ordered along a Z-curve of CUTOFF h cells (h the median bandwidth) and taken
    BLOCK at a time; a block sums over the samples whose reach (CUTOFF h_j) meets its bounding
    box, with coordinates centred on the box so that |a|^2 + |b|^2 - 2 a.b keeps float64's
    precision; the kernels are summed in float32. Work ~ n x (samples within reach): one pass
    for all the bandwidths of an adaptive KDE. own: for leave-one-out, the query index of each
    sample (sample k's kernel is left out of query own[k]'s sum).
    A query with no sample within reach gets -inf: the caller decides.
    """
    xn, sn, hn = x.numpy(), s.numpy(), hs.numpy()
    reach = CUTOFF * hn
    if len(x) * len(s) > ONE_BLOCK:
        lo = np.minimum(xn.min(0), sn.min(0))
        cells = np.minimum(np.floor((xn - lo) / float(np.median(reach))), 2 ** 20).astype(np.int64)
        order, block = torch.from_numpy(np.argsort(_morton(cells), kind="stable")), BLOCK
    else:
        order, block = torch.arange(len(x)), len(x)
    lo_x, hi_x, lo_y, hi_y = sn[:, 0] - reach, sn[:, 0] + reach, sn[:, 1] - reach, sn[:, 1] + reach
    neg_inv = torch.from_numpy(-0.5 / hn ** 2)
    log_norm = torch.from_numpy(-2 * np.log(hn))
    top = float(log_norm.max())                      # the narrowest kernel's: every term <= 0 below
    out = torch.full((len(x),), -math.inf, dtype=torch.float64)
    for start in range(0, len(order), block):
        rows = order[start:start + block]
        q = x[rows]
        (x0, y0), (x1, y1) = q.min(0).values.tolist(), q.max(0).values.tolist()
        cols = np.nonzero((hi_x >= x0) & (lo_x <= x1) & (hi_y >= y0) & (lo_y <= y1))[0]
        if len(cols) == 0:
            continue
        cols = torch.from_numpy(cols)
        centre = torch.tensor([(x0 + x1) / 2, (y0 + y1) / 2], dtype=torch.float64)
        a, b = q - centre, s[cols] - centre
        d2 = torch.addmm((a * a).sum(1, keepdim=True), a, b.T, alpha=-2).add_((b * b).sum(1))
        if own is not None:
            d2.masked_fill_(rows[:, None] == own[cols][None, :], math.inf)
        z = d2.mul_(neg_inv[cols])                      # -|x - s_j|^2 / 2 h_j^2
        far = z.max(1).values < -0.5 * CUTOFF ** 2        # no sample within reach
        # float32 exp is ~10x slower below its normal range: clamp there (exp(-87) = 2e-38,
        # nothing beside the near kernels, each at least exp(-18 - 2 ln(h_max / h_min)) >= exp(-46))
        z = z.add_(log_norm[cols] - top).clamp_(min=-87.0).float()
        log_sum = z.exp_().sum(1).log_().double().add_(top)
        out[rows] = log_sum.masked_fill_(far, -math.inf)
    return out


def _binned_log_sum(x: torch.Tensor, s: torch.Tensor, h: float, own: torch.Tensor | None) -> torch.Tensor | None:
    """log sum_j exp(-|x_i - s_j|^2 / 2h^2) by a binned KDE, or None where its grid is too fine.

    The samples are linearly binned on a grid of step h / GRID_STEPS, convolved with a sampled
    Gaussian of variance h^2 - step^2 / 3 (binning and bilinear read-out each add step^2 / 6), and
    read at x by bilinear interpolation. own (as in `_blocked_log_sum`): x_i's own kernel is
    subtracted as this operator sees it (exactly) where a sample is x_i; a query left with almost
    nothing gets -inf (the caller sums it exactly).
    """
    from scipy.ndimage import gaussian_filter, map_coordinates

    step = h / GRID_STEPS
    lo = torch.minimum(x.min(0).values, s.min(0).values).numpy() - (CUTOFF * h + 2 * step)
    hi = torch.maximum(x.max(0).values, s.max(0).values).numpy() + (CUTOFF * h + 2 * step)
    shape = np.ceil((hi - lo) / step).astype(np.int64) + 1          # (nx, ny)
    if shape.prod() > MAX_CELLS:
        return None
    u = (s.numpy() - lo) / step                                         # sample positions in cells
    grid = linear_histogram(u[:, 0], u[:, 1], shape[0], shape[1])      # [y, x]
    sigma = math.sqrt(h * h - step * step / 3) / step
    grid = gaussian_filter(grid, sigma, mode="constant", truncate=CUTOFF)
    v = (x.numpy() - lo) / step
    value = map_coordinates(grid, [v[:, 1], v[:, 0]], order=1, mode="constant")
    if own is not None:                     # x_i's own kernel through binning, filter and read-out
        taps = np.exp(-0.5 * (np.arange(int(CUTOFF * sigma + 0.5) + 1) / sigma) ** 2)
        k0, k1 = np.array([1.0, taps[1]]) / (2 * taps.sum() - 1)       # gaussian_filter's normalised taps
        fv = v - np.floor(v)
        mine = np.prod(((1 - fv) ** 2 + fv ** 2) * k0 + 2 * fv * (1 - fv) * k1, axis=1)
        has = np.zeros(len(x), dtype=bool)
        has[own.numpy()] = True
        mine = np.where(has, mine, 0.0)
        value = np.where(value - mine > 1e-6 * mine, value - mine, 0.0)
    with np.errstate(divide="ignore"):                                  # sum of N(x; s_j, h^2) = value / step^2
        return torch.from_numpy(np.log(value) + math.log(2 * math.pi * h * h / step ** 2))


def _exact_log_sum(xs, ss, hs: torch.Tensor, self_index: torch.Tensor | None) -> torch.Tensor:
    """log sum_j N(x_i; s_j, h_j^2 I) * 2 pi, exactly over all j (j != self_index[i]), float64."""
    out = []
    for start in range(0, len(xs), 256):
        d2 = sq_dist(xs[start:start + 256], ss)
        if self_index is not None:
            rows = torch.arange(len(d2))
            d2[rows, self_index[start:start + 256]] = math.inf
        out.append(torch.logsumexp(-0.5 * d2 / hs ** 2 - 2 * hs.log(), 1))
    return torch.cat(out)


def xy_tensor(x, name: str) -> torch.Tensor:
    """x as a tensor of numbers whose last axis is 2 (its own dtype and device; a list or array as
    float64), else a ValueError naming `name`: the one check of points a caller hands over
    (`_points_of` for the KDE, `target.check_points` for a log-density)."""
    try:
        t = x if torch.is_tensor(x) else torch.as_tensor(np.asarray(x, dtype=np.float64))
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"{name}: expected numbers of shape (n, 2), got {type(x).__name__}") from None
    if t.ndim == 0 or t.shape[-1] != 2 or t.dtype == torch.bool:
        raise ValueError(f"{name}: expected numbers of shape (n, 2), got shape {tuple(t.shape)}")
    return t


def _points_of(x, name: str) -> torch.Tensor:
    """x as float64 rows of 2 (any shape whose last axis is 2: points, a grid of points), else a
    ValueError naming `name` (reshape(-1, 2) read a (5, 4) array as 10 points)."""
    return xy_tensor(x, name).detach().cpu().double().reshape(-1, 2)


def kde_log_prob(x, samples, h, leave_one_out: bool = False) -> torch.Tensor:
    """log of the Gaussian KDE (1/m) sum_j N(x; s_j, h_j^2 I) at each x (float32 tensor).

    h: one bandwidth, or one per sample (an adaptive KDE, `bandwidth.kde_bandwidths`): all
    bandwidths in one blocked pass, except classes of one bandwidth large and broad enough for
    the binned KDE.
    leave_one_out: x must be the samples; x_i's own kernel is left out (m = n - 1).
    A row of x with NaN or Inf gets NaN; samples must be finite (ValueError naming them).
    Each query sums the kernels of the samples within CUTOFF h_j (`_blocked_log_sum`; relative
    error < 1e-7, a kernel beyond being below 1.5e-8 of its peak). A query with none that
    close gets the exact sum over all samples with leave_one_out (an outlier's own density
    matters), else the sum over its 32 nearest (it lies where q_h is below 1e-7 of its peak).
    """
    xs, ss = _points_of(x, "x"), _points_of(samples, "samples")
    if not torch.isfinite(ss).all():
        raise ValueError("samples: rows of NaN or Inf have no kernel; drop them first (measure does)")
    bad = ~torch.isfinite(xs).all(1)
    if bad.any() and not leave_one_out:               # a NaN/Inf point's density is NaN; the rest as usual
        out = torch.full((len(xs),), math.nan)
        if (~bad).any():
            out[~bad] = kde_log_prob(xs[~bad], ss, h)
        return out
    m = ss.shape[0] - (1 if leave_one_out else 0)
    if m < 1 or len(xs) == 0:
        return torch.full((len(xs),), -math.inf)
    hs = torch.as_tensor(check_bandwidths(h, ss.shape[0]))
    parts, rest = [], torch.ones(len(ss), dtype=torch.bool)
    if len(xs) * len(ss) > EXACT_PAIRS:           # broad classes of many samples: binned
        for hc in torch.unique(hs).tolist():
            idx = torch.nonzero(hs == hc).reshape(-1)
            if len(xs) * len(idx) > EXACT_PAIRS:
                part = _binned_log_sum(xs, ss[idx], hc, idx if leave_one_out else None)
                if part is not None:
                    parts.append(part - 2 * math.log(hc))
                    rest[idx] = False
    if rest.any():
        idx = torch.nonzero(rest).reshape(-1)
        parts.append(_blocked_log_sum(xs, ss[idx], hs[idx], idx if leave_one_out else None))
    log_sum = parts[0] if len(parts) == 1 else torch.logsumexp(torch.stack(parts), 0)
    lonely = torch.nonzero(torch.isinf(log_sum)).reshape(-1)
    if len(lonely):
        if leave_one_out:
            log_sum[lonely] = _exact_log_sum(xs[lonely], ss, hs, lonely)
        else:
            from scipy.spatial import cKDTree          # (imported here: a figure's start-up skips it)
            _, j = cKDTree(ss.numpy()).query(xs[lonely].numpy(), k=min(32, len(ss)))
            j = torch.from_numpy(np.asarray(j).reshape(len(lonely), -1))
            d2 = (xs[lonely][:, None, :] - ss[j]).pow(2).sum(-1)
            log_sum[lonely] = torch.logsumexp(-0.5 * d2 / hs[j] ** 2 - 2 * hs[j].log(), 1)
    return (log_sum - math.log(m) - LOG_2PI).float()


def grid_points(bounds, size: int):
    """A size x size grid over bounds: (xs, ys, points (size*size, 2)), row-major in y."""
    size = check_grid_size(size, lo=1)
    x0, x1, y0, y1 = bounds
    xs = torch.linspace(x0, x1, size)
    ys = torch.linspace(y0, y1, size)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return xs, ys, torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)
