"""Matplotlib pictures of a run: one snapshot as panels, and animations over snapshots.

What each panel shows is computed in `toylab.panels` (shared with the Plotly figures
and the dashboard); this module only draws. A `Painter` builds the figure and its
artists once and `update(frame)` changes their data, so an animation does not
redraw from scratch and the layout is computed once.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from ..engine.config import PROBABILISTIC
from ..engine.files import atomic_write
from ..engine.runs import load_run, load_snapshots, read_snapshot, snapshot_files, snapshot_step
from . import panels as P
from .panels import Frame, RunView, Theme, get_size, get_theme

DPI = 100


def colormaps(theme: Theme) -> dict:
    """The theme's colour maps: densities from the background to real / fake, and D from
    fake (D = 0) through the background (D = ½) to real (D = 1)."""
    from matplotlib.colors import LinearSegmentedColormap

    maps = {"real": [theme.bg, theme.real], "fake": [theme.bg, theme.fake], "d": [theme.fake, theme.bg, theme.real]}
    return {k: LinearSegmentedColormap.from_list(f"{theme.name}_{k}", v).with_extremes(bad=theme.bg)
            for k, v in maps.items()}


def gif_palette(theme: Theme) -> np.ndarray:
    """A GIF's 256 colours for a theme's frames, (256, 3) uint8: the colour maps' ramps (D's in 112
    levels, the densities' in 40 each) and what is drawn over them (text, grid lines, D's own
    colour, the fake points over D's real side, black and white for the D = ½ line). A palette
    per frame (Pillow's octree) gave D's colour bar ~20 bands; this one gives it ~100 levels."""
    from matplotlib.colors import LinearSegmentedColormap, to_rgb

    def ramp(colours, n):
        cmap = LinearSegmentedColormap.from_list("ramp", [to_rgb(c) for c in colours])
        return cmap(np.linspace(0, 1, n))[:, :3]

    maps = colormaps(theme)
    parts = [maps["d"](np.linspace(0, 1, 112))[:, :3], maps["real"](np.linspace(0, 1, 40))[:, :3],
             maps["fake"](np.linspace(0, 1, 40))[:, :3], ramp([theme.bg, theme.fg], 24),
             ramp([theme.bg, theme.muted], 12), ramp([theme.bg, theme.d], 8), ramp([theme.real, theme.fake], 12),
             np.array([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])]
    pal = np.round(np.concatenate(parts) * 255).astype(np.uint8)
    pal = np.unique(pal, axis=0)
    return np.concatenate([pal, np.repeat(pal[-1:], 256 - len(pal), 0)])[:256]


def style(theme: Theme, scale: float = 1.0) -> dict:
    """rcParams for a theme: large fonts (legible from the back of a hall), theme colours."""
    fs = theme.font_size * scale
    return {"figure.facecolor": theme.bg, "axes.facecolor": theme.bg, "savefig.facecolor": theme.bg,
            "text.color": theme.fg, "axes.labelcolor": theme.fg, "axes.edgecolor": theme.muted,
            "xtick.color": theme.fg, "ytick.color": theme.fg, "font.size": fs, "axes.titlesize": fs,
            "axes.labelsize": fs * 0.9, "xtick.labelsize": fs * 0.8, "ytick.labelsize": fs * 0.8,
            "legend.fontsize": fs * 0.8, "figure.titlesize": fs * 1.15, "axes.titlepad": 4,
            "legend.facecolor": theme.bg, "legend.edgecolor": theme.muted, "lines.linewidth": 2.0}


def new_figure(**kwargs):
    """A matplotlib Figure on an Agg canvas, made outside pyplot: nothing global to close (it is
    freed with its last reference) and pyplot's import (~0.3 s of a figure's start-up) is skipped.
    Make it inside the theme's `matplotlib.rc_context`, as with plt.figure."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig


class Blitter:
    """Renders a figure whose few artists change between frames, by blitting: the static
    parts (axes, titles, ticks, fixed images, legends) are drawn once, with the layout
    solved once and then frozen; each frame restores them and draws only the changing
    artists. Several times faster than redrawing the figure."""

    def __init__(self, fig):
        self.fig, self._background = fig, None

    def render(self, dynamic) -> np.ndarray:
        """The frame as an (H, W, 3) uint8 RGB array; `dynamic`: the changing artists, in drawing order."""
        canvas = self.fig.canvas
        for a in dynamic:
            a.set_animated(True)
        if self._background is None:
            canvas.draw()                     # solve the constrained layout once
            self.fig.set_layout_engine("none")
            canvas.draw()
            self._background = canvas.copy_from_bbox(self.fig.bbox)
        canvas.restore_region(self._background)
        for a in dynamic:
            self.fig.draw_artist(a)
        return np.asarray(canvas.buffer_rgba())[..., :3].copy()

    def finish(self, dynamic):
        for a in dynamic:
            a.set_animated(False)
        return self.fig


class Painter:
    """A figure of panels for one RunView; `update(frame)` redraws only what changed."""

    def __init__(self, view: RunView, panels=None, theme="light", size="720p", dpi: int = DPI,
                 caption: bool = False):
        import matplotlib
        from matplotlib.gridspec import GridSpec

        self.view, self.panels = view, P.check_panels(panels)
        self.theme, self.size = get_theme(theme), get_size(size)
        self.cmaps = colormaps(self.theme)
        w, h = self.size
        scale = min(1.6, max(0.7, (w * h / (1280 * 720)) ** 0.5))     # fonts grow with the frame
        self.rc = style(self.theme, scale)
        with matplotlib.rc_context(self.rc):
            self.fig = new_figure(figsize=(w / dpi, h / dpi), dpi=dpi, layout="constrained")
            lay = P.layout(self.panels, w, h)
            gs = GridSpec(lay.rows, lay.cols, figure=self.fig, height_ratios=lay.row_heights,
                          width_ratios=lay.col_widths)
            self.axes = {c.panel: self.fig.add_subplot(gs[c.row:c.row + c.rowspan, c.col:c.col + c.colspan])
                         for c in lay.cells}
            # caption: room for a second title line (an animation's last frame says the verdict there;
            # the layout is solved once, with the first frame)
            self.caption = caption
            self.artists: dict[str, object] = {"title": self.fig.suptitle(" \n " if caption else " ")}
            self._contours: dict[str, object] = {}
            for name, ax in self.axes.items():
                getattr(self, f"_init_{name}")(ax)
        self._blitter = Blitter(self.fig)

    # -- building ---------------------------------------------------------------------
    def _map_axes(self, ax, name):
        x0, x1, y0, y1 = self.view.bounds
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(self.view.panel_title(name))

    def _image(self, ax, data, cmap, vmin, vmax, xs, ys, density=False, alpha=None):
        """A map panel's image, pixels centred on the grid points. Densities use one colour
        scale, 0 .. max p_data, with a square-root stretch (PowerNorm 1/2) so that thin mass
        stays visible next to sharp modes; more than max p_data saturates."""
        from matplotlib.colors import PowerNorm

        dx, dy = xs[1] - xs[0], ys[1] - ys[0]
        extent = (xs[0] - dx / 2, xs[-1] + dx / 2, ys[0] - dy / 2, ys[-1] + dy / 2)
        scale = dict(norm=PowerNorm(P.DENSITY_GAMMA, vmin=vmin, vmax=vmax, clip=True)) if density else \
            dict(vmin=vmin, vmax=vmax)
        return ax.imshow(data, origin="lower", extent=extent, cmap=cmap, interpolation="bilinear", aspect="equal",
                         alpha=alpha, **scale)

    def _points(self, ax, colour, n, size=5.0, alpha=0.55):
        return ax.scatter(np.zeros(n), np.zeros(n), s=size, c=colour, alpha=alpha, linewidths=0)

    def _init_p_data(self, ax):
        v = self.view
        self.p_data_image = self._image(ax, v.p_data, self.cmaps["real"], 0, v.density_max, v.xs, v.ys, True)
        ax.scatter(v.real[:, 0], v.real[:, 1], s=4, c=self.theme.real, alpha=0.5, linewidths=0)
        self._map_axes(ax, "p_data")

    def _init_p_model(self, ax):
        v = self.view
        self.artists["p_model"] = self._image(ax, np.zeros_like(v.p_data), self.cmaps["fake"], 0, v.density_max,
                                              v.xs, v.ys, True)
        self.artists["p_model_pts"] = self._points(ax, self.theme.fake, 1)
        self._map_axes(ax, "p_model")

    def _init_d(self, ax):
        v = self.view
        lo, hi = v.d_range
        self.artists["d"] = self._image(ax, np.full((len(v.d_ys), len(v.d_xs)), np.nan), self.cmaps["d"], lo, hi,
                                        v.d_xs, v.d_ys)
        self.artists["d_pts"] = self._points(ax, self.theme.fake, 1, size=3, alpha=0.35)
        self._map_axes(ax, "d")
        bar = self.fig.colorbar(self.artists["d"], ax=ax, shrink=0.8, pad=0.02, aspect=25)   # D's values
        bar.outline.set_visible(False)
        bar.set_ticks(sorted({lo, v.d_level, hi}))

    def _init_d_star(self, ax):
        v = self.view
        self.artists["d_star"] = self._image(ax, np.full_like(v.p_data, np.nan), self.cmaps["d"], 0, 1, v.xs, v.ys)
        self._map_axes(ax, "d_star")

    def _init_manifold(self, ax):
        from matplotlib.collections import LineCollection

        v = self.view
        self._image(ax, v.p_data, self.cmaps["real"], 0, v.density_max, v.xs, v.ys, True, alpha=0.6)
        self.artists["manifold"] = LineCollection([], colors=self.theme.fake, linewidths=0.9, alpha=0.85)
        ax.add_collection(self.artists["manifold"])
        self._map_axes(ax, "manifold")

    def _init_arrows(self, ax):
        v = self.view
        self._image(ax, v.p_data, self.cmaps["real"], 0, v.density_max, v.xs, v.ys, True, alpha=0.6)
        n = min(v.n_arrows, v.config.n_fixed)
        self.artists["arrows"] = ax.quiver(np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n), color=self.theme.fake,
                                           angles="xy", scale_units="xy", scale=1, width=0.006, headwidth=3.5,
                                           headlength=4, alpha=0.9)
        self._map_axes(ax, "arrows")

    def _curve_axes(self, ax, name, keys):
        from matplotlib.ticker import MaxNLocator

        v = self.view
        ax.set_xlim(0, v.last_step() * 1.03)      # room after the last step: its value (a dot) and a
        ax.set_ylim(*v.curve_range(name))          # step curve's last drop show beside the cursor
        ax.set_title(P.TITLES[name])
        ax.grid(True, color=self.theme.muted, alpha=0.3, lw=0.8)
        for s in ("top", "right"):
            ax.spines[s].set_visible(False)
        ax.xaxis.set_major_locator(MaxNLocator(4))
        self.artists[f"{name}_cursor"] = ax.axvline(0, color=self.theme.muted, lw=1.2)
        lo, hi = v.curve_range(name)
        for i, (step, label) in enumerate(v.edits):       # the live edits, as figures.panel_traces marks them
            self.artists[f"{name}_edit{i}"] = ax.axvline(step, color=self.theme.d, lw=1, ls=":")
            self.artists[f"{name}_edit_text{i}"] = ax.text(         # at the foot: the legend has the top
                step, lo + 0.03 * (hi - lo), f" {label} ", color=self.theme.d, fontsize="x-small", va="bottom",
                ha="right" if step > 0.6 * v.last_step() else "left", clip_on=True)

    @staticmethod
    def _legend(ax):
        """Legends sit in a band above the curves (the y-limits leave room), out of their way."""
        ax.legend(loc="upper center", frameon=False, ncol=2, borderaxespad=0.1, handlelength=1.5)

    def _line(self, ax, key, colour, label, **kw):
        (line,) = ax.plot([], [], color=colour, label=label, **kw)
        self.artists[f"curve_{key}"] = line
        return line

    def _init_losses(self, ax):
        self._line(ax, "d_loss", self.theme.d, "D")
        self._line(ax, "g_loss", self.theme.fake, "G")
        self._legend(ax)
        self._curve_axes(ax, "losses", ("d_loss", "g_loss"))

    def _init_js(self, ax):
        from matplotlib.collections import PolyCollection
        band = PolyCollection([], facecolors=self.theme.fg, alpha=0.18, linewidths=0)
        ax.add_collection(band)
        self.artists["band_js"] = band
        clipped = len(self.view.clipped("js")[0]) > 0
        self.artists["clipped_js"] = ax.scatter([], [], s=22, facecolors="none", edgecolors=self.theme.fg,
                                                linewidths=1.0, label="clipped at 0" if clipped else None)
        self._line(ax, "js", self.theme.fg, "estimate ± s.e.")
        if self.view.probabilistic:
            self._line(ax, "js_lower_bound", self.theme.d, "bound from D", ls="--")
        ax.axhline(P.LN2, color=self.theme.muted, lw=1, ls=":")
        self._legend(ax)
        self._curve_axes(ax, "js", ("js",))

    def _init_modes(self, ax):
        K = self.view.num_modes
        self._line(ax, "modes_present", self.theme.fake, "present", drawstyle="steps-post", marker="o", ms=7,
                   markevery=[])
        self._line(ax, "modes_captured", self.theme.fake, "captured", drawstyle="steps-post", ls=":", lw=1.2)
        if K:
            ax.axhline(K, color=self.theme.real, lw=1.2, ls="--", label=f"all {K}")
            self._legend(ax)
        else:
            ax.text(0.5, 0.5, "not a mixture:\nno modes to count", transform=ax.transAxes, ha="center",
                    va="center", color=self.theme.muted)
        self._curve_axes(ax, "modes", ("modes_present", "modes_captured"))

    # -- updating ---------------------------------------------------------------------
    def update(self, frame: Frame, caption: str = "") -> None:
        """Change the artists' data to this frame (nothing is re-created but D's contour); caption:
        the title's second line (a Painter made with caption=True)."""
        v, a = self.view, self.artists
        finite = frame.fake[np.isfinite(frame.fake).all(1)]
        if "p_model" in a:
            a["p_model"].set_data(frame.p_model)
            a["p_model_pts"].set_offsets(finite)
        if "d" in a:
            a["d"].set_data(frame.d)
            a["d_pts"].set_offsets(finite)
            self._contour("d", frame.d, v.d_xs, v.d_ys, v.d_level)
        if "d_star" in a:
            a["d_star"].set_data(frame.d_star)
        if "manifold" in a:
            m = frame.manifold
            a["manifold"].set_segments([*m, *m.transpose(1, 0, 2)] if np.isfinite(m).all() else [])
        if "arrows" in a:
            pos, vec = v.arrows(frame)
            q = a["arrows"]
            n = q.N
            full_pos, full_vec = np.zeros((n, 2)), np.zeros((n, 2))
            full_pos[: len(pos)], full_vec[: len(vec)] = pos[:n], vec[:n]
            q.set_offsets(full_pos)
            q.set_UVC(full_vec[:, 0], full_vec[:, 1])
        if "band_js" in a:
            s, lo, hi = v.band("js")
            keep = s <= frame.step
            s, lo, hi = s[keep], lo[keep], hi[keep]
            a["band_js"].set_verts([np.column_stack([np.r_[s, s[::-1]], np.r_[lo, hi[::-1]]])] if len(s) else [])
            s, y = v.clipped("js")
            a["clipped_js"].set_offsets(np.column_stack([s, y])[s <= frame.step] if len(s) else np.zeros((0, 2)))
        for key in ("d_loss", "g_loss", "js", "js_lower_bound", "modes_present", "modes_captured"):
            line = a.get(f"curve_{key}")
            if line is not None:
                s, y = v.curve(key)
                keep = s <= frame.step
                line.set_data(s[keep], y[keep])
                if key == "modes_present":          # the value now, which the title says: a step curve
                    line.set_markevery([int(keep.sum()) - 1] if keep.any() else [])   # ends in a drop under the cursor
        for name in P.CURVE_PANELS:
            cursor = a.get(f"{name}_cursor")
            if cursor is not None:
                cursor.set_xdata([frame.step, frame.step])
            for i, (step, _) in enumerate(v.edits):       # an edit shows from its step on
                for key in (f"{name}_edit{i}", f"{name}_edit_text{i}"):
                    if key in a:
                        a[key].set_visible(step <= frame.step)
        a["title"].set_text(f"{v.title(frame)}\n{caption or ' '}" if self.caption else v.title(frame))

    def _contour(self, name, z, xs, ys, level):
        old = self._contours.pop(name, None)
        if old is not None:
            old.remove()
        if np.isfinite(z).any() and np.nanmin(z) < level < np.nanmax(z):
            colour = "black" if self.theme.name == "light" else "white"
            self._contours[name] = self.axes[name].contour(xs, ys, z, levels=[level], colors=colour, linewidths=1.6)

    def _dynamic(self) -> list:
        """The artists that change between frames, in drawing order (by panel, then z-order)."""
        arts = [*self.artists.values(), *self._contours.values()]
        order = {ax: i for i, ax in enumerate(self.fig.axes)}
        return sorted(arts, key=lambda a: (order.get(a.axes, -1), a.get_zorder()))

    def render(self) -> np.ndarray:
        """The current frame as an (H, W, 3) uint8 RGB array (see Blitter)."""
        return self._blitter.render(self._dynamic())

    def finish(self):
        """Make every artist ordinary again (for savefig of a still, vector formats included)."""
        return self._blitter.finish(self._dynamic())

    def close(self):
        self.fig, self._blitter = None, None          # (outside pyplot: freed with its references)


def snapshot_at(run, step: int | None):
    """The snapshot at `step` (None: the last); a clear error listing what exists."""
    if not run.snapshots:
        raise ValueError(f"run {run.path or ''} has no snapshots to draw")
    if step is None:
        return run.snapshots[-1]
    for s in run.snapshots:
        if s.step == step:
            return s
    steps = [s.step for s in run.snapshots]
    near = min(steps, key=lambda s: abs(s - step))
    raise ValueError(f"step: no snapshot at step {step}; nearest is {near} "
                     f"(snapshots from {steps[0]} to {steps[-1]}, every {run.config.snapshot_every})")


def load_for_frame(path, step: int | None = None):
    """A saved run ready to draw ONE snapshot (`step`, default the last): its records and weights,
    and of its snapshot files only the one drawn, so a figure of a long run does not read
    hundreds of files. (A critic's colour range spans the whole run, so for a Wasserstein or
    hinge run every snapshot is read, as an animation's frames would use.)"""

    run = load_run(path, snapshots=False)       # drawn from its records (weights checked by their digest): no torch
    files = snapshot_files(run)
    if not files:
        raise ValueError(f"run {run.path} has no snapshots to draw")
    steps = [snapshot_step(f) for f in files]
    if step is not None and step not in steps:
        near = min(steps, key=lambda s: abs(s - step))
        raise ValueError(f"step: no snapshot at step {step}; nearest is {near} "
                         f"(snapshots from {steps[0]} to {steps[-1]}, every {run.config.snapshot_every})")
    file = files[-1] if step is None else files[steps.index(step)]
    if run.config.loss in PROBABILISTIC:
        run.snapshots = [read_snapshot(file, run)]
    else:
        run.snapshots = load_snapshots(run)
    return run


def frame_figure(run, step: int | None = None, *, member: int = 0, panels=None, theme="light", size="720p",
                 view: RunView | None = None, snapshot=None):
    """One snapshot (at `step`, or the given one; default the last) drawn as a figure, for
    slides and papers: save it as PDF or SVG."""
    view = view or RunView(run, member)
    painter = Painter(view, panels, theme, size)
    painter.update(view.frame(snapshot if snapshot is not None else snapshot_at(run, step)))
    return painter.finish()


def summary_figure(run, member: int = 0, snapshot=None, size="720p", theme="light"):
    """Every panel at the last (or given) snapshot: what `toylab train` saves as summary.png."""
    return frame_figure(run, member=member, snapshot=snapshot, size=size, theme=theme)


def figure_with_axes(*grid, figsize, dpi=DPI, layout="constrained", **kwargs):
    """new_figure(...).subplots(*grid, ...): plt.subplots without pyplot."""
    fig = new_figure(figsize=figsize, dpi=dpi, layout=layout)
    return fig, fig.subplots(*grid, **kwargs)


def _forget(fig) -> None:
    """Close a figure pyplot keeps (one a caller made with plt); ours are not registered there."""
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close(fig)


def save_figure(fig, out, dpi: int | None = None) -> Path:
    """Save a figure (format from the suffix: png, pdf, svg, ...) atomically, then close it."""
    out = Path(out)
    fmt = out.suffix.lstrip(".").lower() or "png"
    atomic_write(out, lambda f: fig.savefig(f, format=fmt, dpi=dpi or fig.dpi, facecolor=fig.get_facecolor()))
    _forget(fig)
    return out
