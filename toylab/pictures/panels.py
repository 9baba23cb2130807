"""What each panel of the lab shows, as arrays and colours.

One computation that every face draws from: the matplotlib pictures and
animations (`toylab.viz`), the Plotly figures and HTML exports
(`toylab.figures`) and the dashboard. Nothing here draws.

A `RunView` is one member of a run made ready for drawing; what does not change
over training (p_data, real samples, the curves) is computed once, and
`RunView.frame(snapshot)` gives a `Frame` with the rest.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..engine.config import OBJECTIVES, PROBABILISTIC
from ..engine.runs import edits_of
from ..engine.target_view import VIEW, pixel_density, read_target_view, target_view  # noqa: F401  (panels.pixel_density)
from ..measure.bandwidth import kde_bandwidths, span, training_points
from ..measure.dstar import optimal_d
from ..measure.kde_grid import binned_kde

from .looks import (CURVE_PANELS, Cell, DENSITY_GAMMA, HELP, Layout, MAP_PANELS, PANELS, SIZES, THEMES, TITLES, Theme, check_panels, get_size, get_theme, layout)  # noqa: F401  (panels' public names)


#: the JS divergence's maximum (nats): the curves draw it as a dotted line
LN2 = math.log(2.0)


def short_value(v) -> str:
    """A config value in a few characters: 0.0002 -> "2e-4", 0.001 -> "1e-3", 0.5 -> "0.5", 5 -> "5"."""
    if isinstance(v, float) and v != 0 and math.isfinite(v) and not 1e-2 <= abs(v) < 1e4:
        m, e = f"{v:.2e}".split("e")
        return f"{m.rstrip('0').rstrip('.')}e{int(e)}"
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def edit_marks(edits) -> list[tuple[int, str]]:
    """(step, label) for each step at which live edits were applied, e.g. (1200, "lr_d 2e-4→1e-3"),
    several fields at one step joined by ", "; metrics_every (set together with snapshot_every) is
    not marked."""
    by_step: dict[int, list[str]] = {}
    for e in edits:
        if e["field"] != "metrics_every":
            by_step.setdefault(e["step"], []).append(f"{e['field']} {short_value(e['old'])}→{short_value(e['new'])}")
    return [(s, ", ".join(parts)) for s, parts in sorted(by_step.items())]


# ---- data -------------------------------------------------------------------------------
@dataclass(eq=False)
class Frame:
    """One snapshot of one member, ready to draw.

    p_model and d_star are on the view's density grid (RunView.xs, .ys); d on the run's
    D grid (RunView.d_xs, .d_ys); metrics: the latest measurement at or before `step`.
    p_model, d_star and bandwidth are computed on first use, by `densities` (() -> (p_model,
    d_star, bandwidth)): they are most of a frame's cost (the bandwidth search and the blur,
    ~20 of ~26 ms), and the dashboard's layered view and its curves never read them (a
    class's pages drew them for nothing at every snapshot).
    """

    step: int
    fake: np.ndarray
    d: np.ndarray
    manifold: np.ndarray
    grad: np.ndarray
    densities: Callable[[], tuple[np.ndarray, np.ndarray, float]] = field(repr=False)
    metrics: dict = field(default_factory=dict)

    def _made(self) -> tuple[np.ndarray, np.ndarray, float]:
        # kept by hand, not functools.cached_property: on Python 3.11 that holds one lock for
        # every Frame, so the request threads' frames would be made one at a time
        made = self.__dict__.get("_densities")
        if made is None:
            made = self.__dict__["_densities"] = self.densities()
        return made

    @property
    def p_model(self) -> np.ndarray:
        return self._made()[0]

    @property
    def d_star(self) -> np.ndarray:
        return self._made()[1]

    @property
    def bandwidth(self) -> float:
        return self._made()[2]


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


class RunView:
    """One member of a run, prepared for drawing (static parts computed once)."""

    def __init__(self, run, member: int = 0, *, size: int = VIEW["size"], n_real: int = VIEW["n_real"],
                 supersample: int = VIEW["supersample"], n_arrows: int = 200, n_points: int | None = None):
        if not 0 <= member < run.size:
            raise ValueError(f"member: {member} is out of range; this run has members 0..{run.size - 1}")
        self.run, self.member = run, member
        cfg = run.configs[member]
        self.config = cfg
        # what the target looks like: kept in the run folder (no torch needed), else computed
        tv = (read_target_view(run.folder, size, supersample, n_real, run_id=run.run_id)
              if run.path is not None else None) or target_view(run.target, size, supersample, n_real)
        self.bounds, self.p_data, self.real, self.num_modes = tv.bounds, tv.p_data, tv.real, tv.num_modes
        x0, x1, y0, y1 = self.bounds
        self.size = size
        self.xs, self.ys = np.linspace(x0, x1, size), np.linspace(y0, y1, size)
        self.d_xs, self.d_ys = np.linspace(x0, x1, cfg.grid_size), np.linspace(y0, y1, cfg.grid_size)
        self.density_max = float(self.p_data.max())
        self.n_arrows = n_arrows
        self.n_points = n_points or cfg.n_fixed          # points drawn per scatter
        self.span = span(self.bounds)               # the metric's scale for the bandwidth search
        self.refresh(run)

    def refresh(self, run) -> "RunView":
        """Follow a newer state of the same run (live training): its curves, objective and D's range."""
        self.run = run
        self.config = cfg = run.configs[self.member]
        self.loss = cfg.loss
        self.probabilistic = cfg.loss in PROBABILISTIC
        _, self.d_level, self.d_label = d_values(np.zeros(1), cfg.loss)
        self.history = run.member_history(self.member)
        self.edits = edit_marks(edits_of(run.info))       # the live edits, marked on the curves
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
                  "high_quality", "off_mode", "nonfinite"):
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
        d, _, _ = d_values(np.asarray(snap.d_grid[e], dtype=np.float64), self.loss)
        grad = np.asarray(snap.d_grad[e], dtype=np.float64)
        return Frame(step=int(snap.step), fake=fake, d=d, manifold=np.asarray(snap.manifold[e]), grad=grad,
                     densities=functools.partial(self.densities, fake), metrics=self.metrics_at(int(snap.step)))

    def densities(self, fake: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """(p_model, d_star, bandwidth) of a frame's fakes: p_model their KDE on the density grid,
        with the per-sample bandwidths of the JS number; D* = p_data / (p_data + p_model), NaN
        where neither has mass."""
        ok = training_points(fake)                    # the samples, and below the bandwidth, of the JS number
        if len(ok) >= 2:
            bw = kde_bandwidths(ok, self.span)          # per-sample bandwidths, as the JS number's
            h, p_model = bw.scale, binned_kde(ok, self.bounds, self.size, bw.per_sample)
        else:
            h, p_model = math.nan, np.zeros_like(self.p_data)
        with np.errstate(divide="ignore"):
            d_star = optimal_d(np.log(self.p_data), np.log(p_model))
        d_star[self.p_data + p_model <= 1e-3 * self.density_max] = np.nan     # drawn where there is mass
        return p_model, d_star, h

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
        if "off_mode" in m and self.num_modes:
            parts.append(f"off-mode {_percent(m['off_mode'])}")
        if m.get("nonfinite", 0) > 0:                 # junk rows: said only when there are some
            parts.append(f"NaN {_percent(m['nonfinite'])}")
        if self.run.size > 1:
            parts.append(f"member {self.member} (seed {self.config.seed})")
        return "  ·  ".join(parts)


def _percent(v: float) -> str:
    """A share as "4 %" ("0.2 %" below 1 %, so that a nonzero share never reads 0)."""
    return f"{100 * v:.1f} %" if 0 < v < 0.01 else f"{100 * v:.0f} %"


LOSS_NAMES = {name: title for name, (title, _) in OBJECTIVES.items()}
