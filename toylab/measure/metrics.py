"""What the lab measures: JS divergence, D's lower bound, mode coverage, D*.

On a 2D target p_data is known exactly, so GAN quality is measured, not judged by
eye. Natural logs (nats) throughout; ``bits=True`` divides by ln 2.

JS estimator (`js_estimate`; docs/metrics.md has its bias and variance):

    JSD(p || q) = 1/2 E_p[log 2p / (p + q)] + 1/2 E_q[log 2q / (p + q)]

with the exact log p_data, Monte-Carlo means over target samples and the generator's
samples, q their Gaussian KDE (toylab.kde), and the plug-in's bias removed by a smoothed
bootstrap. `measure` gives every number the lab records for a set of samples; training,
`evaluate` and sweeps all call it, so a recorded value equals a fresh computation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from .bandwidth import EVAL_SAMPLES, TRAINING_SAMPLES, Bandwidths, kde_bandwidths, span, training_points
from .dstar import optimal_d
from .bandwidth import LOG_2PI, kde_bandwidth  # noqa: F401  (toylab.metrics: the public names)
from .kde import CUTOFF, as_points, check_target, grid_points, kde_log_prob, sq_dist  # noqa: F401
from .kde_grid import binned_kde, check_grid_size  # noqa: F401
from .modes import ModeCoverage, ModeTimeline, mode_coverage, mode_timeline  # noqa: F401

LN2 = math.log(2.0)


def _js_terms(lp_p, lq_p, lp_q, lq_q) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample terms a_i = ln 2p/(p+q) at target samples, b_j = ln 2q/(p+q) at model samples."""
    a = LN2 + lp_p.double() - torch.logaddexp(lp_p.double(), lq_p.double())
    b = LN2 + lq_q.double() - torch.logaddexp(lp_q.double(), lq_q.double())
    return a, b


def _js_from_logs(lp_p, lq_p, lp_q, lq_q) -> float:
    """1/2 E_p[ln 2 + ln p - ln(p + q)] + 1/2 E_q[ln 2 + ln q - ln(p + q)] from log-densities."""
    a, b = _js_terms(lp_p, lq_p, lp_q, lq_q)
    return float(0.5 * (a.mean() + b.mean()))


def _span(target) -> float:
    return span(target.bounds)


def _finish(v: float, bits: bool) -> float:
    return v / LN2 if bits else v


@dataclass(frozen=True)
class JSEstimate:
    """A JS divergence estimate (nats) with its uncertainty.

    value: the bias-corrected estimate clipped to [0, ln 2]; raw: before clipping
    (`clipped` says whether they differ: a clipped 0 means "no divergence resolved at
    this sample size", not a perfect match); stderr: its standard error; bias: the
    smoothed-bootstrap estimate of the plug-in's bias that was subtracted.
    """

    value: float
    raw: float
    stderr: float
    bias: float
    clipped: bool
    n: int
    bandwidth: float

    def bits(self) -> float:
        return self.value / LN2


#: smoothed-bootstrap replicates for the bias correction and the standard error (2 gave a
#: standard error too noisy to cover the truth as often as it says), and above LARGE_SAMPLE
#: samples, where the density estimate's noise is small and each replicate costs most, LARGE_REPLICATES
JS_REPLICATES = 4
LARGE_SAMPLE, LARGE_REPLICATES = 5000, 3


def js_estimate(target, samples, *, n_data: int | None = None, seed: int = 0, bandwidth: float | None = None,
                data: torch.Tensor | None = None, replicates: int | None = None) -> JSEstimate:
    """JSD(p_data || p_model) from generator samples, bias-corrected, with a standard error.

    Plug-in: JS_hat = 1/2 mean_i ln 2p/(p+q_h)(x_i) + 1/2 mean_j ln 2q_h/(p+q_h)(y_j), with
    the exact p_data, target samples x_i, generator samples y_j, and q_h their Gaussian KDE
    (leave-one-out at y_j; h by leave-one-out likelihood). JS_hat equals D's lower bound for
    D = p/(p+q_h), so it is biased low by about 1/4 int p (q_h - q)^2 / (q (p + q)) — enough to
    hide a missing mode of 25 at n = 2,500.

    Correction (smoothed bootstrap): q_h is a density we can both sample and evaluate. Draw
    n points from it (a resampled y_j plus N(0, h^2) noise), estimate JS_hat* on them exactly
    as above (its bandwidth searched near h), and compare with JSD(p || q_h) computed on the same points with q_h exact: their
    difference e* is the estimator's error in a world where the answer is known. The estimate
    is JS_hat - mean(e*) over `replicates` draws (default JS_REPLICATES, LARGE_REPLICATES above
    LARGE_SAMPLE samples). Standard error: the Monte-Carlo error of the
    means, sqrt((var a / n_p + var b / n_q) / 4), with the spread of e* (the density
    estimate's own noise) added in quadrature. docs/metrics.md has the measured bias table.
    """
    check_target(target)
    if given_rows(samples) == 0:
        raise ValueError("samples: no rows given (an (n, 2) array with n >= 2 is needed to estimate JS; "
                         "rows that are all NaN give ln 2)")
    q = as_points(samples)
    n = q.shape[0]
    if n < 2:                                     # nothing finite to compare: as far as can be
        return JSEstimate(LN2, LN2, 0.0, 0.0, False, n, math.nan)
    if data is None:
        data = target.sample(n_data or n, seed=seed + 7919)
    span = _span(target)
    bw = _bandwidths(q, span, seed, bandwidth)
    hq = torch.from_numpy(bw.per_sample)
    lp_data = target.log_prob(data)
    lq_data = kde_log_prob(data, q, hq)
    a, b = _js_terms(lp_data, lq_data, target.log_prob(q), _loo_log_prob(q, hq))
    plug_in = float(0.5 * (a.mean() + b.mean()))
    mc_var = 0.25 * (float(a.var()) / len(a) + float(b.var()) / len(b))
    errors = []
    g = torch.Generator().manual_seed(seed + 104729)
    if replicates is None:
        replicates = JS_REPLICATES if n <= LARGE_SAMPLE else LARGE_REPLICATES
    for r in range(replicates):
        pick = torch.randint(n, (n,), generator=g)
        y = q[pick] + hq[pick, None].float() * torch.randn(n, 2, generator=g)
        hy = torch.from_numpy(_bandwidths(y, span, seed + r + 1, bandwidth, near=bw).per_sample)
        lp_y = target.log_prob(y)
        est = _js_from_logs(lp_data, kde_log_prob(data, y, hy), lp_y, _loo_log_prob(y, hy))
        exact = _js_from_logs(lp_data, lq_data, lp_y, kde_log_prob(y, q, hq))
        errors.append(est - exact)
    bias = float(np.mean(errors)) if errors else 0.0
    kde_var = float(np.var(errors, ddof=1)) * (1 + 1 / len(errors)) if len(errors) > 1 else 0.0
    raw = plug_in - bias
    value = min(max(raw, 0.0), LN2)
    return JSEstimate(value, raw, math.sqrt(mc_var + kde_var), bias, value != raw, n, bw.scale)


def _bandwidths(q, span: float, seed: int, fixed: float | None, near: Bandwidths | None = None) -> Bandwidths:
    """The adaptive KDE's bandwidths of samples q, or one fixed bandwidth for all."""
    if fixed:
        return Bandwidths(float(fixed), np.ones(len(q)), 0.0)
    return kde_bandwidths(q, span, seed=seed, near=near, tree=True)


def _loo_log_prob(y: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """log q_-j(y_j), the leave-one-out KDE at each sample, floored at its own kernel's value at
    CUTOFF h_j, N(CUTOFF h_j; 0, h_j^2 I) / (n - 1) (1.5e-8 of its peak): a sample with no other
    within CUTOFF h_j (an outlier) is judged by its own evidence, not by the others' kernels
    e^(-10^5) away, where p is as small and ln q / (p + q) would be a ratio of two underflows.
    (The kernel's full height as the floor read grid25 at n = 500 +0.011 high: it binds on the
    tails of modes of 20 samples.)"""
    floor = -math.log(len(y) - 1) - LOG_2PI - 2 * h.log() - 0.5 * CUTOFF ** 2
    return torch.maximum(kde_log_prob(y, y, h, leave_one_out=True).double(), floor).float()


def js_divergence(target, samples, *, n_data: int | None = None, seed: int = 0, bandwidth: float | None = None,
                  data: torch.Tensor | None = None, bits: bool = False, clip: bool = True) -> float:
    """JSD(p_data || p_model) in nats estimated from generator samples (n, 2): the value of
    `js_estimate` (bias-corrected KDE plug-in; see there). `n_data` target samples (default:
    as many as `samples`, drawn with `seed`) estimate E_p. `clip` keeps the result in
    [0, ln 2], where JSD lives (`js_estimate` says whether it clipped). Rows with NaN or Inf
    are left out; fewer than 2 finite rows give ln 2 (a generator that produced junk is as
    far as can be), and no rows at all are refused (ValueError naming `samples`).

    >>> from toylab import datasets
    >>> t = datasets.get("ring8")
    >>> js_divergence(t, t.sample(2500, seed=1)) < 0.01
    True
    """
    if given_rows(samples) == 0:
        raise ValueError("samples: no rows given (an (n, 2) array with n >= 2 is needed to estimate JS; "
                         "rows that are all NaN give ln 2)")
    est = js_estimate(target, samples, n_data=n_data, seed=seed, bandwidth=bandwidth, data=data)
    return _finish(est.value if clip else est.raw, bits)


def js_divergence_exact(target, model_log_prob: Callable, model_samples, *, n_data: int | None = None,
                        seed: int = 0, bits: bool = False) -> float:
    """JSD when the model's log-density is known too (validates `js_divergence`).

    Plain Monte Carlo with both exact densities: unbiased, standard error ~ 1/sqrt(n).
    """
    q = as_points(model_samples)
    data = target.sample(n_data or q.shape[0], seed=seed + 7919)
    v = _js_from_logs(target.log_prob(data), model_log_prob(data), target.log_prob(q), model_log_prob(q))
    return _finish(v, bits)


def js_divergence_quadrature(log_p: Callable, log_q: Callable, bounds, size: int = 1601) -> float:
    """JSD of two known log-densities by the grid (Riemann) rule over `bounds` (a
    reference for cases without a closed form; both densities must vanish outside)."""
    size = check_grid_size(size)
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
    g = as_points(samples)
    if data is None:
        data = target.sample(n_data or g.shape[0], seed=seed + 7919)
    out_p, out_g = discriminator(data), discriminator(g)
    out_p, out_g = torch.as_tensor(out_p).reshape(-1).double(), torch.as_tensor(out_g).reshape(-1).double()
    if logits:
        # ln D = -softplus(-l), ln(1 - D) = -softplus(l)
        return float(LN2 - 0.5 * (F.softplus(-out_p).mean() + F.softplus(out_g).mean()))
    return float(LN2 + 0.5 * (out_p.log().mean() + (1 - out_g).log().mean()))


def optimal_discriminator(target, model, size: int = 100, *, bandwidth: float | None = None, seed: int = 0):
    """D*(x) = p_data / (p_data + p_model) on a size x size grid over the target's bounds.

    model: generator samples (n, 2) (p_model by the same KDE as js_divergence) or a
    callable giving log p_model. Returns (xs, ys, D*[y, x]); where both densities
    vanish D* is undefined and set to 1/2.
    """
    check_target(target)
    xs, ys, pts = grid_points(target.bounds, size)
    lp = target.log_prob(pts)
    if callable(model):
        lq = torch.as_tensor(model(pts)).float()
    else:
        q = as_points(model)
        lq = kde_log_prob(pts, q, torch.from_numpy(_bandwidths(q, _span(target), seed, bandwidth).per_sample))
    d = torch.as_tensor(optimal_d(lp.double().numpy(), lq.double().numpy()))
    return xs, ys, d.reshape(size, size)


def optimal_d_value(js: float) -> float:
    """C(G) = max_D V(D, G) = -ln 4 + 2 JSD(p_data || p_g)  (Goodfellow et al. 2014)."""
    return -math.log(4) + 2 * js


# ---- during training and after ------------------------------------------------------

def given_rows(samples) -> int:
    """The number of rows of an (n, 2) array or tensor, finite or not (its shape checked)."""
    shape = tuple(samples.shape) if torch.is_tensor(samples) else np.shape(samples)
    if len(shape) != 2 or shape[1] != 2:
        raise ValueError(f"samples: expected shape (n, 2), got {shape}")
    return int(shape[0])


def measure(target, samples, *, seed: int = 0, data: torch.Tensor | None = None,
            discriminator: Callable | None = None) -> dict[str, float]:
    """Every measurement of one generator's samples, as recorded in runs and tables.

    js, js_se, js_raw (before clipping to [0, ln 2]); js_lower_bound when a discriminator
    (logits) is given; nonfinite; for mixture targets modes_captured, modes_present,
    high_quality, off_mode, reverse_kl and the standard errors of modes_captured,
    modes_present, high_quality and off_mode. A pure function of the samples and the seed:
    training records exactly what a fresh call returns on the same fakes.

    Rows with NaN or Inf never vanish unseen. With N the rows given and F the finite ones:
    - nonfinite = (N - F) / N, on every target: the share of junk rows;
    - js, js_se, js_raw, js_lower_bound: on the F finite rows only (the KDE of p_model is
      made of them; `data`, when not given, is F target samples). With F < 2 there is
      nothing to estimate a density from: js = js_raw = ln 2 (as far as can be), js_se = 0,
      js_lower_bound NaN;
    - high_quality (and its se): HQ samples / N, so a NaN row counts as not high quality;
      modes_present: HQ counts against the fair share w_k * N; modes_captured: any HQ sample;
    - off_mode (and its se): samples farther than 3 std from every mode / F (0 when F = 0).
      For equal isotropic modes, high_quality + off_mode * (1 - nonfinite) + nonfinite = 1
      (modes.mode_coverage says why, and when it is <=).
    With F = 0 the mode numbers are 0 (reverse_kl NaN), nonfinite 1. No rows (N = 0) is
    refused: ValueError naming `samples`.
    """
    return _measure(target, samples, seed, data, discriminator)[0]


def _measure(target, samples, seed, data, discriminator) -> tuple[dict[str, float], ModeCoverage | None]:
    """`measure`'s values and the mode coverage they came from (evaluate also reports its counts)."""
    check_target(target)
    given = given_rows(samples)
    if given == 0:
        raise ValueError("samples: no rows given (measure needs an (n, 2) array with n >= 1)")
    x = as_points(samples)
    if data is None and x.shape[0] >= 2:      # (fewer: nothing finite to estimate p_model from, js_estimate's ln 2)
        data = target.sample(x.shape[0], seed=seed + 7919)
    est = js_estimate(target, samples, seed=seed, data=data)      # (its own as_points: x again)
    out = {"js": est.value, "js_se": est.stderr, "js_raw": est.raw, "nonfinite": (given - x.shape[0]) / given}
    if discriminator is not None:
        out["js_lower_bound"] = js_lower_bound(discriminator, target, x, data=data) if x.shape[0] >= 2 else math.nan
    cov = None
    if target.num_modes:
        cov = mode_coverage(samples, target, seed=seed)
        out.update(modes_captured=cov.modes_captured, modes_captured_se=cov.modes_captured_se,
                   modes_present=cov.modes_present, modes_present_se=cov.modes_present_se,
                   high_quality=cov.high_quality, high_quality_se=cov.high_quality_se,
                   off_mode=cov.off_mode, off_mode_se=cov.off_mode_se, reverse_kl=cov.reverse_kl)
    return out, cov


class SnapshotMetrics:
    """Measures each member at a snapshot with `measure` on the first TRAINING_SAMPLES of the
    fixed fake batch, seed 0: `metrics.measure(target, snap.fake[e][:500])` gives the same
    numbers. Nothing is carried from one snapshot to the next except the target batch,
    which is the one `measure` would draw.

    A member with fewer than 2 finite fakes (a diverged generator) is recorded with NaN for
    every value but `nonfinite` (its share of junk rows), where a fresh `measure` would say
    ln 2 and 0 modes: a run's history keeps "no measurement" apart from "measured far".
    Every member gets every key, so the rows stay aligned with their step."""

    def __init__(self, target, n: int, probabilistic: bool):
        self.target, self.probabilistic = target, probabilistic
        self.n = min(n, TRAINING_SAMPLES)
        self.data = target.sample(self.n, seed=7919)

    def __call__(self, fakes: np.ndarray, logits_fn: Callable | None) -> dict[str, np.ndarray]:
        """fakes (E, n, 2); logits_fn(points (n, 2), member) -> D's logits, for the lower bound."""
        rows = []
        for e in range(fakes.shape[0]):
            given = np.asarray(fakes[e])[:TRAINING_SAMPLES]
            finite = as_points(given).shape[0]
            d = (lambda x, e=e: logits_fn(x, e)) if self.probabilistic and logits_fn is not None else None
            data = self.data if finite == self.n else None
            row = measure(self.target, given, data=data, discriminator=d)
            if finite < 2:
                row = {k: (v if k == "nonfinite" else math.nan) for k, v in row.items()}
            rows.append(row)
        keys = sorted({k for r in rows for k in r})
        return {k: np.array([r.get(k, np.nan) for r in rows], dtype=float) for k in keys}


#: samples per member that evaluate() takes: fewer make the JS estimate meaningless, more cost
#: minutes (the KDE is O(n log n) with a large constant)
EVAL_RANGE = (100, 100_000)


def check_evaluate(n, seed, names=("n", "seed")) -> None:
    """ValueError naming the field (`names`: the caller's words for them, e.g. the CLI's flags)
    when n is not a whole number in EVAL_RANGE or seed is not a whole number >= 0."""
    lo, hi = EVAL_RANGE
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not lo <= n <= hi:
        raise ValueError(f"{names[0]}: samples per member must be a whole number from {lo:,} to {hi:,} (got {n!r})")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"{names[1]}: must be a whole number >= 0 (got {seed!r})")


def evaluate(run, n: int = EVAL_SAMPLES, seed: int = 0) -> list[dict]:
    """Measure a run's trained generators on n fresh samples each (2,500 as in the literature;
    n in EVAL_RANGE, seed >= 0: check_evaluate).

    One dict per member: the `measure` values (js with js_se, nonfinite, mode coverage and
    off_mode with standard errors; rows of NaN or Inf are measured as `measure` says, never
    dropped), js_bits, js_lower_bound (BCE objectives; from the trained D),
    C(G) = -ln 4 + 2 JSD, and the per-mode counts.
    """
    check_evaluate(n, seed)
    target = run.target
    data = target.sample(n, seed=seed + 7919)
    out = []
    for e in range(run.size):
        row = {"member": e, "seed": run.configs[e].seed, "status": (run.member_status or ["?"] * run.size)[e],
               "step": run.step}
        x = run.sample(n, member=e, seed=seed)
        d = (lambda v, e=e: run.discriminate(v, member=e)) if run.probabilistic else None
        values, cov = _measure(target, x, seed, data, d)
        row.update(values, js_bits=values["js"] / LN2, c_of_g=optimal_d_value(values["js"]))
        if cov is not None:
            row.update(num_modes=cov.num_modes, counts=cov.counts.tolist())
        out.append(row)
    return out
