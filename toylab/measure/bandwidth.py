"""The KDE's bandwidths and the samples it is made from, in NumPy alone.

Kept apart from the kernel sums (`toylab.measure.kde`, torch) so that drawing a saved
run (`toylab figure`) starts without torch (~1.3 s). The metric and the panels call these
same functions, so the number and the picture agree.

- `kde_bandwidths`: per-sample bandwidths (a k-nearest-neighbour pilot, scaled by the
  leave-one-out likelihood); `kde_bandwidth`: one global h maximising that likelihood.
- `check_bandwidths`: one h or one per sample, each finite and > 0, for every KDE here.
- `training_points`: the fakes p_model is estimated from at a snapshot (for the JS number
  and for the p_model and D* panels alike).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

LOG_2PI = math.log(2 * math.pi)
BANDWIDTH_SAMPLE = 300      # points used to choose the bandwidth (rescaled to n by n^(-1/6))
#: the share of samples whose leave-one-out log-likelihoods are left out of the mean (the lowest;
#: at least one): one sample alone in its mode would otherwise decide h (its log-density
#: -d^2 / 2h^2 outweighs 299 others: a 2.6x too wide h on 4-5 % of grid25 draws). A trimmed mean,
#: not a floor on the density: a floor let a generator with half its samples between modes
#: ignore that half and pick h 7x too narrow (the JS estimate then read -0.73 +- 0.94).
TRIM = 0.01


#: samples measured per member during training (the first ones of the fixed fake batch);
#: `metrics.evaluate` uses 2,500 fresh ones. docs/metrics.md gives the error at each size.
TRAINING_SAMPLES = 500
#: fresh samples per member when a trained generator is evaluated (as in the literature)
EVAL_SAMPLES = 2500


def span(bounds) -> float:
    """The larger side of a target's bounds: the scale the bandwidth search runs over."""
    x0, x1, y0, y1 = bounds
    return float(max(x1 - x0, y1 - y0))


def training_points(fake) -> np.ndarray:
    """The finite ones among the first TRAINING_SAMPLES fakes of a snapshot: the samples both
    the recorded JS estimate and the p_model / D* panels estimate p_model from (with the same
    bandwidth rule), so that the picture shows the density the number was computed on."""
    return finite_points(np.asarray(fake)[:TRAINING_SAMPLES])


def finite_points(x) -> np.ndarray:
    """Finite rows of an (n, 2) array (or tensor), as float64."""
    a = np.asarray(x.detach().cpu() if hasattr(x, "detach") else x, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != 2:
        raise ValueError(f"samples: expected shape (n, 2), got {tuple(a.shape)}")
    return a[np.isfinite(a).all(1)]


def kde_bandwidth(samples, span: float, max_points: int | None = None, seed: int = 0) -> float:
    """h maximising the leave-one-out log-likelihood of the samples: `kde_bandwidths`' search with
    one bandwidth for all (power 0) and the likelihood's own choice (not undersmoothed).

    Coarse-to-fine over log h: 12 candidates from span * 10^-3.5 to span, then 7 around
    the best (steps of ~13 %). More than `max_points` samples: chosen on a seeded random subset
    and rescaled by Scott's law h ~ n^(-1/6). The mean leaves out the lowest TRIM share of the
    samples' log-likelihoods (at least one), so that an isolated sample cannot decide h alone.
    """
    return kde_bandwidths(samples, span, max_points, seed, powers=(0.0,), undersmoothed=False).scale


#: the neighbour whose distance sets each sample's local scale (Breiman, Meisel & Purcell 1977)
KNN = 10
#: local factors are rounded to powers of 2^FACTOR_STEP (samples of equal bandwidth are summed
#: together: a few classes instead of n bandwidths) and kept within 2^+-MAX_LOG2_FACTOR
FACTOR_STEP = 0.5
MAX_LOG2_FACTOR = 10.0
#: above this many samples the k-th neighbour distances come from a k-d tree (scipy.spatial,
#: imported then: a figure's 500 samples never pay its start-up)
KNN_DENSE_MAX = 600
#: the adaptive KDE's scale is this share of the likelihood's choice from UNDERSMOOTH_FROM samples
#: on (1 at 500 and below, log-linear between): undersmoothed, so that sharp edges and narrow modes
#: keep their shape, as the smoothed bootstrap removes the bias of the extra noise, not that of
#: oversmoothing; at 500 samples the extra noise costs more than it saves (docs/metrics.md)
UNDERSMOOTH = 0.75
UNDERSMOOTH_FROM = 2500
#: how adaptive the kernels may be: the power of the local factors, chosen by likelihood
POWERS = (0.0, 0.5, 1.0)


def undersmooth(n: int) -> float:
    """The share of the likelihood's scale used with n samples (see UNDERSMOOTH)."""
    t = min(max(math.log(n / 500) / math.log(UNDERSMOOTH_FROM / 500), 0.0), 1.0)
    return 1.0 + t * (UNDERSMOOTH - 1.0)


@dataclass(frozen=True)
class Bandwidths:
    """Per-sample kernel bandwidths h_i = scale * factors[i] of an adaptive Gaussian KDE.

    factors: each sample's distance to its KNN-th nearest neighbour over their geometric mean,
    rounded to powers of 2^FACTOR_STEP; scale: the global h, by leave-one-out likelihood."""

    scale: float
    factors: np.ndarray
    power: float = 1.0

    @property
    def per_sample(self) -> np.ndarray:
        return self.scale * self.factors


def knn_distance(x: np.ndarray, k: int = KNN, tree: bool | None = None) -> np.ndarray:
    """Distance from each point to its k-th nearest other point (exact; k capped at n - 1), by a
    k-d tree (scipy.spatial, imported then: ~0.6 ms for 500 points) when `tree` or, by default,
    above KNN_DENSE_MAX points; else in NumPy (~10 ms for 500), so that a figure's start-up
    never imports scipy. Both compute sqrt(sum of squared differences): the same distances."""
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    k = max(1, min(k, n - 1))
    if tree or (tree is None and n > KNN_DENSE_MAX):
        from scipy.spatial import cKDTree          # (imported here: see above)
        return cKDTree(x).query(x, k=k + 1)[0][:, k]
    d2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d2, np.inf)
    return np.sqrt(np.partition(d2, k - 1, axis=1)[:, k - 1])


def _factors(r: np.ndarray, power: float) -> np.ndarray:
    """lambda_i = (r_i / geometric mean of r)^power, rounded to powers of 2^FACTOR_STEP and clipped,
    r_i the distance to the KNN-th neighbour.

    In 2D the k-NN density is ~ k / (n pi r_k^2), so power 1 is Abramson's square-root law
    h_i ~ f(x_i)^(-1/2) with a k-NN pilot: narrow kernels in tight modes, wide ones in a sparse
    background or for a far outlier, so that neither is judged at the other's scale; power 0
    is the fixed-bandwidth KDE."""
    log2 = power * (np.log2(r) - np.log2(r).mean())
    return 2.0 ** np.clip(np.round(log2 / FACTOR_STEP) * FACTOR_STEP, -MAX_LOG2_FACTOR, MAX_LOG2_FACTOR)


def kde_bandwidths(samples, span: float, max_points: int | None = None, seed: int = 0,
                   near: Bandwidths | None = None, tree: bool | None = None, *,
                   powers: tuple[float, ...] = POWERS, undersmoothed: bool = True) -> Bandwidths:
    """The adaptive KDE's bandwidths: local factors (`_factors`) with the power in `powers` and
    the scale h of largest trimmed leave-one-out log-likelihood, h searched as `kde_bandwidth`
    searches (coarse-to-fine over log h, on at most `max_points` samples, rescaled by n^(-1/6)),
    then `undersmooth(n)` times that. Clean mixtures keep power 0 or 1/2 (equal modes of unequal
    weight are not given unequal widths); background mass and outliers choose 1. With `near`
    (the bandwidths of the sample a bootstrap sample was drawn from), its power, and h searched
    only around its scale. tree: how the neighbour distances are found (`knn_distance`).
    `undersmoothed=False`: the likelihood's own scale (`kde_bandwidth`)."""
    if isinstance(span, (bool, np.bool_)) or not isinstance(span, (int, float, np.integer, np.floating)) \
            or not 0 < span < math.inf:
        raise ValueError(f"span: must be a finite length > 0, the target's extent (got {span!r:.60})")
    x = finite_points(samples).astype(np.float32).astype(np.float64)   # the values the metric sees
    n = len(x)
    if n < 2:
        raise ValueError("kde_bandwidth: needs at least 2 finite samples")
    max_points = max_points or BANDWIDTH_SAMPLE
    pick = np.arange(n) if n <= max_points else np.random.default_rng(seed).permutation(n)[:max_points]
    sub = x[pick]
    m = len(sub)
    d2 = ((sub[:, None, :] - sub[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d2, np.inf)
    trim = max(1, int(round(TRIM * m)))
    adaptive = any(powers) or (near is not None and near.power)
    r = np.maximum(knn_distance(x, KNN, tree), 1e-9 * span) if adaptive else None   # duplicates: a floor
    fine_step = 3.5 * math.log(10) / 11 / 3
    share = undersmooth(n) if undersmoothed else 1.0

    def factors(power: float) -> np.ndarray:
        return _factors(r, power) if power else np.ones(n)

    def lls(lam: np.ndarray, log_h: np.ndarray) -> np.ndarray:
        """Trimmed mean LOO log-likelihood of the subset at each candidate log h (float32; each
        row's sum is at least its largest term, so terms below exp(-87) are dropped)."""
        lam_sub = lam[pick]
        a = (-0.5 * d2 / lam_sub[None, :] ** 2).astype(np.float32)     # log kernel at h = 1, less the norm
        log_lam = (2 * np.log(lam_sub)[None, :]).astype(np.float32)
        out = []
        for lh in log_h:
            z = a * np.float32(math.exp(-2 * lh)) - log_lam
            top = z.max(1, keepdims=True)
            with np.errstate(invalid="ignore", divide="ignore"):
                log_q = np.log(np.exp(np.maximum(z - top, np.float32(-87.0))).sum(1, dtype=np.float64)) + top[:, 0] - 2 * lh
            out.append(np.partition(np.nan_to_num(log_q, nan=-math.inf), trim)[trim:].mean())
        return np.nan_to_num(np.array(out), nan=-math.inf)

    def fine(lam: np.ndarray, start: float) -> tuple[float, float]:
        """(best log h of the 7 around start, its trimmed mean LOO log-likelihood)."""
        grid = start + np.arange(-3, 4) * fine_step
        ll = lls(lam, grid)
        return float(grid[int(np.argmax(ll))]), float(ll.max())

    if near is not None:
        power = near.power
        lam = factors(power)
        log_h, _ = fine(lam, math.log(near.scale / share) - (1 / 6) * math.log(m / n))
    else:                                    # coarse at the middle power, then fine at each
        coarse = math.log(span) + np.linspace(-3.5, 0.0, 12) * math.log(10)
        mid = factors(powers[len(powers) // 2])
        start = float(coarse[int(np.argmax(lls(mid, coarse)))])
        tried = [(fine(factors(p), start), p) for p in powers]
        (log_h, _), power = max(tried, key=lambda t: t[0][1])
        lam = factors(power)
    return Bandwidths(share * math.exp(log_h) * (m / n) ** (1 / 6), lam, power)


def cloud_bandwidth(points) -> float:
    """The likelihood rule's h (kde_bandwidth) for a point cloud on its own, its extent as the
    span: what the dashboard proposes for an upload or a drawing (Scott's rule, PointCloud's
    default, blurs clustered points into one blob)."""
    pts = finite_points(points)
    span = float(np.ptp(pts, axis=0).max()) if len(pts) > 1 else 1.0
    return kde_bandwidth(pts, span or 1.0)


def check_bandwidths(h, m: int) -> np.ndarray:
    """h (one bandwidth or one per sample) as m float64 bandwidths, each finite and > 0, else a
    ValueError naming h (0 or NaN gave NaN densities, inf an OverflowError, 1e12 a MemoryError)."""
    try:
        a = np.asarray(h, dtype=np.float64)
        ok = a.ndim == 0 or a.shape == (m,)
    except (TypeError, ValueError):
        ok = False
    if not ok or isinstance(h, (bool, np.bool_)) or not (np.isfinite(a).all() and (a > 0).all()):
        raise ValueError(f"h: must be one bandwidth or one per sample ({m}), each finite and > 0")
    return np.broadcast_to(a, (m,)).copy()
