"""What the lab measures: JS divergence, D's lower bound, mode coverage, D*.

On a 2D target p_data is known exactly, so GAN quality is measured, not judged by
eye. Natural logs (nats) throughout; ``bits=True`` divides by ln 2.

JS estimator (see docs/metrics.md for its bias and variance):

    JSD(p || q) = 1/2 E_p[log 2p / (p + q)] + 1/2 E_q[log 2q / (p + q)]

with the exact log p_data, Monte-Carlo expectations over target samples and the
generator's samples, and q the Gaussian kernel density estimate of the generator's
samples; its bandwidth maximises the leave-one-out likelihood (so it adapts to
modes of std 0.02 as well as to broad targets, where a global rule of thumb
would smear each mode), and E_q uses the leave-one-out estimate at each sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

LN2 = math.log(2.0)
LOG_2PI = math.log(2 * math.pi)
BANDWIDTH_SAMPLE = 400      # points used to choose the KDE bandwidth (rescaled to n by n^(-1/6))


def _as_tensor(x) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(x) if not torch.is_tensor(x) else x).detach().float().cpu()
    if t.ndim != 2 or t.shape[1] != 2:
        raise ValueError(f"samples: expected shape (n, 2), got {tuple(t.shape)}")
    return t[torch.isfinite(t).all(1)]


def _sq_dist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    # exact differences (the matmul form gives 0 for near-duplicates, and log 0 = -inf)
    return torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist").pow_(2)


def kde_log_prob(x: torch.Tensor, samples: torch.Tensor, h: float, leave_one_out: bool = False) -> torch.Tensor:
    """log of the Gaussian KDE (1/m) sum_j N(x; s_j, h^2 I) at x; leave-one-out needs x = samples."""
    m = samples.shape[0] - (1 if leave_one_out else 0)
    out = []
    for i, chunk in enumerate(x.split(2048)):
        d2 = _sq_dist(chunk, samples)
        if leave_one_out:
            idx = torch.arange(chunk.shape[0])
            d2[idx, idx + i * 2048] = math.inf
        out.append(torch.logsumexp(-0.5 * d2 / h ** 2, 1))
    return torch.cat(out) - math.log(max(m, 1)) - LOG_2PI - 2 * math.log(h)


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


def kde_bandwidth(samples: torch.Tensor, span: float, max_points: int | None = None, seed: int = 0,
                  around: float | None = None) -> float:
    """h maximising the leave-one-out log-likelihood of the samples.

    Coarse-to-fine over log h: 12 candidates from span * 10^-3.5 to span, then 7
    around the best (steps of ~13 %). With `around` (a previous bandwidth, as during
    training where q moves a little between snapshots) only the 5 fine candidates
    around it are tried. More than `max_points` samples: chosen on a random subset,
    rescaled by Scott's law h ~ n^(-1/6).
    """
    n = samples.shape[0]
    if n < 2:
        raise ValueError("kde_bandwidth: needs at least 2 finite samples")
    max_points = max_points or BANDWIDTH_SAMPLE
    sub = samples
    if n > max_points:
        g = torch.Generator().manual_seed(seed)
        sub = samples[torch.randperm(n, generator=g)[:max_points]]
    m = sub.shape[0]
    d2 = _sq_dist(sub, sub)
    d2.fill_diagonal_(math.inf)

    def best_of(log_h: torch.Tensor) -> float:
        ll = torch.stack([torch.logsumexp(-0.5 * d2 / v, 1).mean() for v in torch.exp(2 * log_h).tolist()]) - 2 * log_h
        return float(log_h[int(torch.nan_to_num(ll, nan=-math.inf).argmax())])

    fine_step = 3.5 * math.log(10) / 11 / 3
    if around is not None:
        best = best_of(math.log(around) + torch.arange(-2, 3) * fine_step)
    else:
        best = best_of(math.log(span) + torch.linspace(-3.5, 0.0, 12) * math.log(10))
        best = best_of(best + torch.arange(-3, 4) * fine_step)
    return math.exp(best) * (m / n) ** (1 / 6)


def _js_from_logs(lp_p, lq_p, lp_q, lq_q) -> float:
    """1/2 E_p[ln 2 + ln p - ln(p + q)] + 1/2 E_q[ln 2 + ln q - ln(p + q)] from log-densities."""
    a = (LN2 + lp_p - torch.logaddexp(lp_p, lq_p)).mean()
    b = (LN2 + lq_q - torch.logaddexp(lp_q, lq_q)).mean()
    return float(0.5 * (a + b))


def _span(target) -> float:
    x0, x1, y0, y1 = target.bounds
    return max(x1 - x0, y1 - y0)


def _finish(v: float, bits: bool, clip: bool) -> float:
    if clip:
        v = min(max(v, 0.0), LN2)
    return v / LN2 if bits else v


def js_divergence(target, samples, *, n_data: int | None = None, seed: int = 0, bandwidth: float | None = None,
                  data: torch.Tensor | None = None, bits: bool = False, clip: bool = True) -> float:
    """JSD(p_data || p_model) in nats estimated from generator samples (n, 2).

    p_data is the target's exact density; p_model a leave-one-out-bandwidth KDE of
    the samples. `n_data` target samples (default: as many as `samples`, drawn with
    `seed`) estimate E_p. `clip` keeps the result in [0, ln 2], where JSD lives.

    >>> from toylab import datasets
    >>> t = datasets.get("ring8")
    >>> js_divergence(t, t.sample(2500, seed=1)) < 0.02
    True
    """
    q = _as_tensor(samples)
    if q.shape[0] < 2:
        return LN2 / LN2 if bits else LN2      # nothing finite to compare: as far as can be
    if data is None:
        data = target.sample(n_data or q.shape[0], seed=seed + 7919)
    h = bandwidth or kde_bandwidth(q, _span(target), seed=seed)
    lp_p, lp_q = target.log_prob(data), target.log_prob(q)
    v = _js_from_logs(lp_p, kde_log_prob(data, q, h), lp_q, kde_log_prob(q, q, h, leave_one_out=True))
    return _finish(v, bits, clip)


def js_divergence_exact(target, model_log_prob: Callable, model_samples, *, n_data: int | None = None,
                        seed: int = 0, bits: bool = False) -> float:
    """JSD when the model's log-density is known too (validates `js_divergence`).

    Plain Monte Carlo with both exact densities: unbiased, standard error ~ 1/sqrt(n).
    """
    q = _as_tensor(model_samples)
    data = target.sample(n_data or q.shape[0], seed=seed + 7919)
    v = _js_from_logs(target.log_prob(data), model_log_prob(data), target.log_prob(q), model_log_prob(q))
    return _finish(v, bits, clip=False)


def js_divergence_quadrature(log_p: Callable, log_q: Callable, bounds, size: int = 1601) -> float:
    """JSD of two known log-densities by the grid (Riemann) rule over `bounds` (a
    reference for cases without a closed form; both densities must vanish outside)."""
    x0, x1, y0, y1 = bounds
    xs = torch.linspace(x0, x1, size, dtype=torch.float64)
    ys = torch.linspace(y0, y1, size, dtype=torch.float64)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    pts = torch.stack([gx.reshape(-1), gy.reshape(-1)], 1).float()
    lp, lq = torch.as_tensor(log_p(pts)).double(), torch.as_tensor(log_q(pts)).double()
    lm = torch.logaddexp(lp, lq) - LN2
    cell = (xs[1] - xs[0]) * (ys[1] - ys[0])
    terms = torch.nan_to_num(lp.exp() * (lp - lm)) + torch.nan_to_num(lq.exp() * (lq - lm))
    return float(0.5 * terms.sum() * cell)


def js_lower_bound(discriminator: Callable, target, samples, *, n_data: int | None = None, seed: int = 0,
                   logits: bool = True, data: torch.Tensor | None = None) -> float:
    """ln 2 + 1/2 (E_p ln D + E_g ln(1 - D)) <= JSD, for any discriminator D.

    `discriminator(x)` returns logits (default) or probabilities. With D = D* the bound
    equals the JSD; the gap to the estimate shows how far D is from optimal.
    """
    g = _as_tensor(samples)
    if data is None:
        data = target.sample(n_data or g.shape[0], seed=seed + 7919)
    out_p, out_g = discriminator(data), discriminator(g)
    out_p, out_g = torch.as_tensor(out_p).reshape(-1).double(), torch.as_tensor(out_g).reshape(-1).double()
    if logits:
        # ln D = -softplus(-l), ln(1 - D) = -softplus(l)
        return float(LN2 - 0.5 * (F.softplus(-out_p).mean() + F.softplus(out_g).mean()))
    return float(LN2 + 0.5 * (out_p.log().mean() + (1 - out_g).log().mean()))


@dataclass
class ModeCoverage:
    """VEEGAN / PacGAN mode statistics of a set of generated samples."""

    modes_captured: int          # modes with at least one high-quality sample
    num_modes: int               # K
    high_quality: float          # share of samples within `threshold` std of their nearest mode
    counts: np.ndarray = field(repr=False)   # high-quality samples per mode, (K,)
    reverse_kl: float = math.nan  # KL(p_hat || mode weights) = ln K - H(p_hat) for equal weights

    @property
    def shares(self) -> np.ndarray:
        total = self.counts.sum()
        return self.counts / total if total else np.zeros_like(self.counts, dtype=float)


def mode_coverage(samples, target, threshold: float = 3.0) -> ModeCoverage:
    """Assign each sample to its nearest mode centre; it is high quality if it lies within
    `threshold` standard deviations of it (Mahalanobis distance, which for isotropic modes
    is distance / std). A mode is captured if it gets at least one high-quality sample.

    reverse_kl = KL(p_hat || w), p_hat the histogram of high-quality samples over modes and
    w the mixture weights (ln K - H(p_hat) for equal weights); NaN without any.
    """
    if getattr(target, "modes", None) is None:
        raise ValueError(f"mode_coverage: target {target.name!r} has no modes "
                         "(only mixture targets such as ring8 or grid25 do)")
    x = _as_tensor(samples)
    K = target.num_modes
    n_all = int(torch.as_tensor(np.asarray(samples) if not torch.is_tensor(samples) else samples).shape[0])
    if x.shape[0] == 0:
        return ModeCoverage(0, K, 0.0, np.zeros(K, dtype=np.int64), math.nan)
    nearest = _sq_dist(x, target.modes).argmin(1)
    maha = target.mahalanobis(x).gather(1, nearest[:, None]).squeeze(1)
    hq = maha <= threshold
    counts = torch.bincount(nearest[hq], minlength=K).numpy()
    total = counts.sum()
    rkl = math.nan
    if total:
        p_hat = counts / total
        w = target.weights.double().numpy()
        nz = p_hat > 0
        rkl = float((p_hat[nz] * np.log(p_hat[nz] / w[nz])).sum())
    return ModeCoverage(int((counts > 0).sum()), K, float(hq.sum()) / max(n_all, 1), counts, rkl)


def optimal_discriminator(target, model, size: int = 100, *, bandwidth: float | None = None, seed: int = 0):
    """D*(x) = p_data / (p_data + p_model) on a size x size grid over the target's bounds.

    model: generator samples (n, 2) (p_model by the same KDE as js_divergence) or a
    callable giving log p_model. Returns (xs, ys, D*[y, x]); where both densities
    vanish D* is undefined and set to 1/2.
    """
    from .datasets import grid_points
    xs, ys, pts = grid_points(target.bounds, size)
    lp = target.log_prob(pts)
    if callable(model):
        lq = torch.as_tensor(model(pts)).float()
    else:
        q = _as_tensor(model)
        lq = kde_log_prob(pts, q, bandwidth or kde_bandwidth(q, _span(target), seed=seed))
    d = torch.sigmoid(lp - lq)                      # p / (p + q) = sigmoid(log p - log q)
    d = torch.where(torch.isinf(lp) & torch.isinf(lq), torch.full_like(d, 0.5), d)
    return xs, ys, d.reshape(size, size)


def optimal_d_value(js: float) -> float:
    """C(G) = max_D V(D, G) = -ln 4 + 2 JSD(p_data || p_g)  (Goodfellow et al. 2014)."""
    return -math.log(4) + 2 * js


# ---- over time ---------------------------------------------------------------------
@dataclass
class ModeTimeline:
    """Which modes hold mass at each snapshot of one member: mode hopping, shown not told."""

    steps: np.ndarray            # (T,)
    shares: np.ndarray           # (T, K) share of all samples that are high quality at mode k
    held: np.ndarray             # (T, K) bool: share >= min_share
    dominant: np.ndarray         # (T,) the mode with most mass (-1: none)
    min_share: float

    @property
    def modes_held(self) -> np.ndarray:
        return self.held.sum(1)

    @property
    def hops(self) -> int:
        """Times the dominant mode changed between consecutive snapshots (both with mass)."""
        d = self.dominant
        return int(((d[1:] != d[:-1]) & (d[1:] >= 0) & (d[:-1] >= 0)).sum())

    def verdict(self, window: int | None = None) -> str:
        """'covered' (every mode held at the end), 'hopping' (collapsed, and the dominant mode
        moved at least twice in the last `window` snapshots, default the last half, >= 3), 'collapsed', or 'no_modes_held'."""
        K = self.shares.shape[1]
        last = self.held[-1]
        if last.all():
            return "covered"
        if not last.any():
            return "no_modes_held"
        w = window or max(len(self.steps) // 2, 3)     # at least two transitions
        d = self.dominant[-w:]
        hops = int(((d[1:] != d[:-1]) & (d[1:] >= 0) & (d[:-1] >= 0)).sum())
        return "hopping" if hops >= 2 and self.modes_held[-w:].max() < K else "collapsed"


def mode_timeline(snapshots, target, member: int = 0, threshold: float = 3.0,
                  min_share: float | None = None) -> ModeTimeline:
    """Per snapshot, the share of the fixed fake batch at each mode (high-quality samples).

    A mode *holds mass* when its share is at least `min_share` (default a quarter of
    the fair share, 1 / (4K))."""
    K = target.num_modes
    if K == 0:
        raise ValueError(f"mode_timeline: target {target.name!r} has no modes")
    min_share = 0.25 / K if min_share is None else min_share
    steps, shares = [], []
    for s in snapshots:
        cov = mode_coverage(s.fake[member], target, threshold)
        steps.append(s.step)
        shares.append(cov.counts / max(len(s.fake[member]), 1))
    shares = np.array(shares)
    held = shares >= min_share
    dominant = np.where(shares.max(1) > 0, shares.argmax(1), -1)
    return ModeTimeline(np.array(steps), shares, held, dominant, min_share)


# ---- during training ------------------------------------------------------------
class SnapshotMetrics:
    """Measures each member at a snapshot: js (nats), js_lower_bound (BCE objectives),
    modes_captured, high_quality and reverse_kl (mixture targets), on the first
    TRAINING_SAMPLES of the fixed fake batch.

    Keeps what does not change between snapshots (a fixed target batch and its exact
    log-density) and each member's KDE bandwidth, refined around the last one.
    """

    #: samples measured per member during training: a live curve needs less than a verdict
    #: (JS spread ~0.013 nats at 500 against ~0.006 at 2,500; `evaluate` uses 2,500)
    TRAINING_SAMPLES = 500

    def __init__(self, target, n: int, seed: int, probabilistic: bool):
        self.target, self.probabilistic = target, probabilistic
        self.n = min(n, self.TRAINING_SAMPLES)
        self.data = target.sample(self.n, seed=seed + 7919)
        self.lp_data = target.log_prob(self.data)
        self.span = _span(target)
        self.bandwidth: dict[int, float] = {}

    def __call__(self, fakes: np.ndarray, logits_fn: Callable | None) -> dict[str, np.ndarray]:
        """fakes (E, n, 2); logits_fn(points (n, 2), member) -> D's logits, for the lower bound."""
        E = fakes.shape[0]
        out = {k: np.full(E, np.nan) for k in ("js", "js_lower_bound", "modes_captured", "high_quality",
                                               "reverse_kl")}
        for e in range(E):
            q = _as_tensor(fakes[e][: self.n])
            if q.shape[0] < 2:
                continue
            h = kde_bandwidth(q, self.span, around=self.bandwidth.get(e))
            self.bandwidth[e] = h
            v = _js_from_logs(self.lp_data, kde_log_prob(self.data, q, h), self.target.log_prob(q),
                              kde_log_prob(q, q, h, leave_one_out=True))
            out["js"][e] = min(max(v, 0.0), LN2)
            if self.probabilistic and logits_fn is not None:
                out["js_lower_bound"][e] = js_lower_bound(lambda x: logits_fn(x, e), self.target, q, data=self.data)
            if self.target.num_modes:
                cov = mode_coverage(q, self.target)
                out["modes_captured"][e] = cov.modes_captured
                out["high_quality"][e] = cov.high_quality
                out["reverse_kl"][e] = cov.reverse_kl
        if not self.target.num_modes:
            for k in ("modes_captured", "high_quality", "reverse_kl"):
                out.pop(k)
        if not self.probabilistic:
            out.pop("js_lower_bound")
        return out


def evaluate(run, n: int = 2500, seed: int = 0) -> list[dict]:
    """Measure a run's trained generators on n fresh samples each (2,500 as in the literature).

    One dict per member: js (nats), js_bits, js_lower_bound (BCE objectives; from the
    trained D), C(G) = -ln 4 + 2 JSD, and, for mixture targets, the mode coverage.
    """
    from .losses import PROBABILISTIC
    target = run.target
    data = target.sample(n, seed=seed + 7919)
    out = []
    for e in range(run.size):
        row = {"member": e, "seed": run.configs[e].seed, "status": (run.member_status or ["?"] * run.size)[e],
               "step": run.step}
        x = run.sample(n, member=e, seed=seed)
        if not torch.isfinite(x).all():
            out.append({**row, "js": math.nan})
            continue
        js = js_divergence(target, x, data=data, seed=seed)
        row.update(js=js, js_bits=js / LN2, c_of_g=optimal_d_value(js))
        if run.config.loss in PROBABILISTIC:
            row["js_lower_bound"] = js_lower_bound(lambda v: run.discriminate(v, member=e), target, x, data=data)
        if target.num_modes:
            cov = mode_coverage(x, target)
            row.update(modes_captured=cov.modes_captured, num_modes=cov.num_modes,
                       high_quality=cov.high_quality, reverse_kl=cov.reverse_kl, counts=cov.counts.tolist())
        out.append(row)
    return out
