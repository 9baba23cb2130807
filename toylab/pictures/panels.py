"""What each panel of the lab shows, as arrays and colours.

One computation that every face draws from: the matplotlib pictures and
animations (`toylab.viz`), the Plotly figures and HTML exports
(`toylab.figures`) and the dashboard. Nothing here draws.

A `RunView` is one member of a run made ready for drawing; what does not change
over training (p_data, real samples, the curves) is computed once, and
`RunView.frame(snapshot)` gives a `Frame` with the rest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from ..engine.config import OBJECTIVES
from ..engine.datasets import CurveTarget, GaussianMixture
from ..engine.losses import PROBABILISTIC
from ..measure.metrics import binned_kde, kde_bandwidth

from .looks import (CURVE_PANELS, Cell, DENSITY_GAMMA, HELP, Layout, MAP_PANELS, PANELS, SIZES, THEMES, TITLES, Theme, check_panels, get_size, get_theme, layout)  # noqa: F401  (panels' public names)


# ---- data -------------------------------------------------------------------------------
@dataclass
class Frame:
    """One snapshot of one member, ready to draw.

    p_model and d_star are on the view's density grid (RunView.xs, .ys); d on the run's
    D grid (RunView.d_xs, .d_ys); metrics: the latest measurement at or before `step`.
    """

    step: int
    fake: np.ndarray
    p_model: np.ndarray
    d: np.ndarray
    d_star: np.ndarray
    manifold: np.ndarray
    grad: np.ndarray
    bandwidth: float
    metrics: dict = field(default_factory=dict)


def d_values(d_raw: np.ndarray, loss: str) -> tuple[np.ndarray, float, str]:
    """D's output made readable: (values, decision level, label).

    For BCE objectives D(x) = sigmoid(logit), decided at 1/2 (the Nash value).
    LSGAN's targets are 0 and 1, decided at 1/2; a Wasserstein or hinge critic at 0.
    """
    if loss in PROBABILISTIC:
        return 1 / (1 + np.exp(-np.clip(d_raw, -60, 60))), 0.5, "D(x)"
    if loss == "lsgan":
        return d_raw, 0.5, "D(x) (least squares)"
    return d_raw, 0.0, "critic f(x)"


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
    pts = torch.from_numpy(np.stack([gx.reshape(-1), gy.reshape(-1)], 1)).float()
    p = torch.cat([target.prob(c) for c in pts.split(1 << 16)]).double().numpy()
    p = p.reshape(size, supersample, size, supersample)
    return p.mean(axis=(1, 3))


def _linear_binned_kde(centres, bounds, size: int, h: float) -> np.ndarray:
    """Mean of N(c, h^2 I) over the centres, on a size x size grid of pixel centres over bounds:
    each centre's weight is shared bilinearly among its four nearest pixel centres (linear
    binning: its mean position is kept, so the error is second order in the pixel width, where
    nearest-pixel binning is first order), then the histogram is convolved with the kernel."""
    from scipy.ndimage import gaussian_filter

    c = np.asarray(centres, dtype=np.float64).reshape(-1, 2)
    x0, x1, y0, y1 = bounds
    dx, dy = (x1 - x0) / (size - 1), (y1 - y0) / (size - 1)
    u, v = (c[:, 0] - x0) / dx, (c[:, 1] - y0) / dy          # in pixel units
    i, j = np.floor(u).astype(np.int64), np.floor(v).astype(np.int64)
    fu, fv = u - i, v - j
    hist = np.zeros((size + 2, size + 2))                     # one pixel of margin each side, dropped after
    for di, dj, w in ((0, 0, (1 - fu) * (1 - fv)), (1, 0, fu * (1 - fv)), (0, 1, (1 - fu) * fv), (1, 1, fu * fv)):
        ii, jj = np.clip(i + di + 1, 0, size + 1), np.clip(j + dj + 1, 0, size + 1)
        np.add.at(hist, (jj, ii), w)
    hist = hist[1:-1, 1:-1] / (len(c) * dx * dy)
    return gaussian_filter(hist, sigma=(h / dy, h / dx), mode="constant", truncate=4.0)


def _axis_aligned_mixture(target):
    """(weights, means, per-axis stds) of a Gaussian mixture whose covariances are diagonal
    (ring, grid, gaussian), else None: each component is then phi(x) phi(y)."""
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
    if isinstance(target, CurveTarget):
        return target._nodes.numpy(), float(target.std)
    return None


def _point_cloud_density(target, size: int, supersample: int, centres, h: float) -> np.ndarray:
    """pixel_density of an equal-weight sum of Gaussian kernels (a points target's KDE, a curve's
    quadrature nodes) as a binned KDE: the centres are binned on the supersampled grid and
    convolved with the kernel, O(pixels) instead of O(pixels x n) (a 100,000-row upload took
    > 900 s exactly; a swiss roll's 1,500 nodes took 18 s; this takes well under a second).
    The same estimator draws p_model; tests check it against the exact sum."""
    x0, x1, y0, y1 = (float(b) for b in target.bounds)
    dx, dy = (x1 - x0) / (size - 1), (y1 - y0) / (size - 1)
    ss = max(1, supersample)
    fine = (x0 - dx / 2 + dx / (2 * ss), x1 + dx / 2 - dx / (2 * ss),
            y0 - dy / 2 + dy / (2 * ss), y1 + dy / 2 - dy / (2 * ss))     # the centres of the sub-pixels
    p = _linear_binned_kde(centres, fine, size * ss, h)
    return p.reshape(size, ss, size, ss).mean(axis=(1, 3))


class RunView:
    """One member of a run, prepared for drawing (static parts computed once)."""

    def __init__(self, run, member: int = 0, *, size: int = 160, n_real: int = 1000, supersample: int = 4,
                 n_arrows: int = 200, n_points: int | None = None):
        if not 0 <= member < run.size:
            raise ValueError(f"member: {member} is out of range; this run has members 0..{run.size - 1}")
        self.run, self.member = run, member
        cfg = run.configs[member]
        self.config = cfg
        self.target = run.target
        self.bounds = tuple(float(b) for b in self.target.bounds)
        x0, x1, y0, y1 = self.bounds
        self.size = size
        self.xs, self.ys = np.linspace(x0, x1, size), np.linspace(y0, y1, size)
        self.d_xs, self.d_ys = np.linspace(x0, x1, cfg.grid_size), np.linspace(y0, y1, cfg.grid_size)
        self.p_data = pixel_density(self.target, size, supersample)
        self.density_max = float(self.p_data.max())
        self.real = self.target.sample(n_real, seed=0).numpy()
        self.n_arrows = n_arrows
        self.n_points = n_points or cfg.n_fixed          # points drawn per scatter
        self.span = max(x1 - x0, y1 - y0)
        self.refresh(run)

    def refresh(self, run) -> "RunView":
        """Follow a newer state of the same run (live training): its curves, objective and D's range."""
        self.run = run
        self.config = cfg = run.configs[self.member]
        self.loss = cfg.loss
        self.probabilistic = cfg.loss in PROBABILISTIC
        _, self.d_level, self.d_label = d_values(np.zeros(1), cfg.loss)
        self.history = run.member_history(self.member)
        self.d_range = self._d_range(run.snapshots)
        return self

    # -- static parts ----------------------------------------------------------
    def _d_range(self, snapshots) -> tuple[float, float]:
        """Colour range of D: [0, 1] for probabilities; symmetric about the level for a critic,
        fixed over the whole run so that colours compare across time."""
        if self.probabilistic:
            return 0.0, 1.0
        vals = [np.nanmax(np.abs(s.d_grid[self.member] - self.d_level)) for s in snapshots
                if np.isfinite(s.d_grid[self.member]).any()]
        span = float(max(vals)) if vals else 1.0
        return self.d_level - (span or 1.0), self.d_level + (span or 1.0)

    @property
    def num_modes(self) -> int:
        return self.target.num_modes

    def curve(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) of a history column, rows where it was measured."""
        h = self.history
        if key not in h or "step" not in h:
            return np.zeros(0), np.zeros(0)
        v = np.asarray(h[key], dtype=float)
        keep = np.isfinite(v)
        return np.asarray(h["step"])[keep], v[keep]

    def metrics_at(self, step: int) -> dict[str, float]:
        """The latest measured value of each metric at or before `step`."""
        out = {}
        for k in ("d_loss", "g_loss", "js", "js_se", "js_raw", "js_lower_bound", "modes_captured", "modes_present",
                  "high_quality"):
            s, v = self.curve(k)
            m = s <= step
            if m.any():
                out[k] = float(v[m][-1])
        return out

    # -- per snapshot ------------------------------------------------------------
    def frame(self, snap) -> "Frame":
        """The drawable state at one snapshot."""
        e = self.member
        fake = np.asarray(snap.fake[e], dtype=np.float64)
        finite = np.isfinite(fake).all(1)
        ok = fake[finite]
        if len(ok) >= 2:
            h = kde_bandwidth(ok, self.span)          # the metric's rule, chosen afresh per frame
            p_model = binned_kde(ok, self.bounds, self.size, h)
        else:
            h, p_model = math.nan, np.zeros_like(self.p_data)
        total = self.p_data + p_model
        with np.errstate(invalid="ignore", divide="ignore"):
            d_star = np.where(total > 1e-3 * self.density_max, self.p_data / total, np.nan)
        d, _, _ = d_values(np.asarray(snap.d_grid[e], dtype=np.float64), self.loss)
        grad = np.asarray(snap.d_grad[e], dtype=np.float64)
        return Frame(step=int(snap.step), fake=fake, p_model=p_model, d=d, d_star=d_star,
                     manifold=np.asarray(snap.manifold[e]), grad=grad, bandwidth=h,
                     metrics=self.metrics_at(int(snap.step)))

    def arrows(self, frame: Frame) -> tuple[np.ndarray, np.ndarray]:
        """(positions, vectors) for the gradient arrows: the first n_arrows finite fakes, vectors
        scaled so that the longest is 8 % of the plot's span (directions and relative size)."""
        pos, vec = frame.fake[: self.n_arrows], frame.grad[: self.n_arrows]
        ok = np.isfinite(pos).all(1) & np.isfinite(vec).all(1)
        pos, vec = pos[ok], vec[ok]
        norm = np.linalg.norm(vec, axis=1).max() if len(vec) else 0.0
        scale = 0.08 * self.span / norm if norm > 0 else 0.0
        return pos, vec * scale

    def panel_title(self, panel: str) -> str:
        """A panel's title; D's names its own decision level for critics (LSGAN, WGAN, hinge)."""
        if panel == "d" and not self.probabilistic:
            return f"{self.d_label}, line: {self.d_level:g}"
        return TITLES[panel]

    def band(self, key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(steps, value - se, value + se) of a column with a standard error column `key_se`."""
        s, v = self.curve(key)
        s_se, se = self.curve(f"{key}_se")
        if not len(s_se):
            return np.zeros(0), np.zeros(0), np.zeros(0)
        se = np.interp(s, s_se, se)
        return s, v - se, v + se

    def clipped(self, key: str = "js") -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) where the raw estimate fell below 0 and was clipped: drawn as marks,
        so a clipped 0 ('no divergence resolved') is never shown as a perfect match."""
        s, raw = self.curve(f"{key}_raw")
        neg = raw < 0
        return s[neg], np.zeros(int(neg.sum()))

    def curve_range(self, panel: str) -> tuple[float, float]:
        """The y range of a curve panel, with room at the top for its legend: JS up to 0.9 (ln 2 =
        0.693 is its maximum), modes up to 1.35 K, losses over their 1-99 % percentiles."""
        if panel == "js":
            return -0.02, 0.9
        if panel == "modes":
            return -0.3, max(self.num_modes, 1) * 1.35 + 0.5
        vals = np.concatenate([self.curve("d_loss")[1], self.curve("g_loss")[1]])
        if not len(vals):
            return 0.0, 1.0
        lo, hi = np.percentile(vals, [1, 99])
        return float(lo - 0.1 * (hi - lo or 1.0)), float(hi + 0.35 * (hi - lo or 1.0))

    def last_step(self) -> int:
        """The x range's end of the curve panels: the run's step or its last record."""
        ends = [float(self.curve(k)[0].max()) for k in ("d_loss", "js") if len(self.curve(k)[0])]
        return int(max([self.run.step, 1] + ends))

    def title(self, frame: Frame) -> str:
        """One line: target, objective, step and the key numbers."""
        m = frame.metrics
        parts = [f"{self.config.dataset}", f"{LOSS_NAMES.get(self.loss, self.loss)}", f"step {frame.step:,}"]
        if "js" in m:
            parts.append(f"JS {m['js']:.3f}" + (f" ± {m['js_se']:.3f}" if np.isfinite(m.get("js_se", np.nan)) else ""))
        key = "modes_present" if "modes_present" in m else "modes_captured"
        if key in m and self.num_modes:
            parts.append(f"modes {int(m[key])}/{self.num_modes}")
        if self.run.size > 1:
            parts.append(f"member {self.member} (seed {self.config.seed})")
        return "  ·  ".join(parts)


LOSS_NAMES = {name: title for name, (title, _) in OBJECTIVES.items()}
