"""Pictures of the games in toylab.games: orbits over the vector field, distance to the
equilibrium against the rate the spectral radius predicts, and maps of the radius; in
matplotlib (orbit_figure, the CLI's and the docs') and Plotly (orbit_figures, the
dashboard's), from the same orbits, field and extent. Computing lives in games; this
module only draws."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import games
from .export import FrameWriter
from .plotly_figures import base_layout, rgba
from .panels import get_size, get_theme
from .mpl_figures import DPI, Blitter, figure_with_axes, style

# Okabe-Ito colours, one per method, the same in every picture.
METHOD_COLOURS = {"simultaneous": "#D55E00", "alternating": "#0072B2", "optimistic": "#009E73",
                  "extragradient": "#CC79A7", "consensus": "#E69F00", "momentum": "#56B4E9", "flow": "#000000"}


#: two orbits closer than this share of the plot's half-width at every step lie on top of each
#: other to the eye (1.5 % of 300 px: under 5 px)
COINCIDE = 0.015


def coinciding(paths: dict, lim: float, tol: float = COINCIDE) -> dict[str, str]:
    """{method: an earlier method whose orbit it lies on}: every point of the two within tol * lim
    (extragradient and optimistic on xy at η = 0.1 differ by 1 % of the orbit's radius: both are
    z - ηF(z) plus an O(η²) correction of the same size, ρ = 0.99504 and 0.99494). The later one is
    drawn dashed over the earlier's solid line and its legend says so."""
    out: dict[str, str] = {}
    names = [n for n in paths if n != "flow"]
    for i, b in enumerate(names):
        for a in names[:i]:
            za, zb = paths[a], paths[b]
            if a not in out and za.shape == zb.shape and np.isfinite(za).all() and np.isfinite(zb).all() \
                    and float(np.linalg.norm(za - zb, axis=1).max()) <= tol * lim:
                out[b] = a
                break
    return out


def orbits(methods, lr, steps, start=(1.0, 1.0), game="xy", **options) -> dict[str, np.ndarray]:
    """{method: trajectory}, plus 'flow' (the continuous-time reference)."""
    out = {m: games.trajectory(m, lr, steps, start, game, **options) for m in methods}
    out["flow"] = games.flow(steps, lr, start, game, **options)
    return out


def _extent(paths, start):
    pts = np.concatenate([p[np.isfinite(p).all(1)] for p in paths.values()])
    r0 = float(np.linalg.norm(start)) * 1.6 or 1.0
    lim = float(np.clip(np.abs(pts).max(), r0, 4 * r0)) * 1.1
    return lim


def draw_field(ax, lim, game="xy", density=21, colour="0.8", star="k", **options):
    """The descent field -F(z) as a streamplot over [-lim, lim]^2."""
    xs, U, V = games.descent_field(lim, game, density, **options)
    ax.streamplot(xs, xs, U, V, color=colour, density=1.0, linewidth=0.8, arrowsize=0.8)
    ax.plot([0], [0], marker="*", color=star, markersize=12, zorder=5)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")


def _labels(game, options):
    if game == "dirac":
        return "generator θ", "discriminator ψ"
    return "x (minimises xy)", "y (maximises xy)"


def orbit_figure(methods, lr, steps, start=(1.0, 1.0), game="xy", size=(15, 5), **options):
    """Three panels: orbits over the field; |z_t| on a log scale with the slope rho^t the
    spectral radius predicts (dashed); spectral radius against step size."""

    paths = orbits(methods, lr, steps, start, game, **options)
    fig, (a0, a1, a2) = figure_with_axes(1, 3, figsize=size, dpi=100)
    lim = _extent(paths, start)
    draw_field(a0, lim, game, **options)
    over = coinciding(paths, lim)
    for name, z in paths.items():
        style = dict(color=METHOD_COLOURS.get(name, "k"), lw=2 if name != "flow" else 1.5,
                     ls="--" if name == "flow" or name in over else "-")
        a0.plot(z[:, 0], z[:, 1], label=_legend(name, over), **style)
        a0.plot(z[-1:, 0], z[-1:, 1], "o", color=style["color"])
    a0.plot([start[0]], [start[1]], "ks", label="start")
    xl, yl = _labels(game, options)
    a0.set_xlabel(xl)
    a0.set_ylabel(yl)
    a0.set_title(_title(game, lr, options))
    a0.legend(loc="lower left", fontsize=9, framealpha=0.9)

    t = np.arange(steps + 1)
    r0 = np.linalg.norm(start)
    for name in methods:
        z = paths[name]
        rho = games.spectral_radius(name, lr, game, **options)
        c = METHOD_COLOURS.get(name, "k")
        a1.semilogy(t, np.linalg.norm(z, axis=1), color=c, lw=2, label=f"{name}  ρ = {rho:.4f}")
        a1.semilogy(t, r0 * rho ** t, color=c, lw=1, ls="--")
    a1.set_xlabel("step")
    a1.set_ylabel("distance to equilibrium")
    a1.set_title("distance (solid) vs ρ^t from the spectral radius (dashed)")
    a1.legend(fontsize=9)

    lrs = np.linspace(0.01, 1.5, 150)
    for name in methods:
        rho = [games.spectral_radius(name, float(e), game, **options) for e in lrs]
        a2.plot(lrs, rho, color=METHOD_COLOURS.get(name, "k"), lw=2, label=name)
    a2.axhline(1.0, color="k", lw=1)
    a2.axvline(lr, color="0.5", lw=1, ls=":")
    a2.axhspan(0, 1, color="#009E73", alpha=0.08)
    a2.set_ylim(0.5, 1.6)
    a2.set_xlabel("step size η")
    a2.set_ylabel("spectral radius ρ")
    a2.set_title("ρ < 1 (shaded): converges")
    a2.legend(fontsize=9)
    return fig


def _legend(name: str, over: dict) -> str:
    """A method's legend entry; one drawn over another's orbit says so ("optimistic (dashed: on
    extragradient's orbit)")."""
    return f"{name} (dashed: on {over[name]}'s orbit)" if name in over else name


def _title(game, lr, options):
    if game == "dirac":
        extra = "".join(f", {k}={v}" for k, v in options.items() if k in ("r1_gamma", "noise") and v)
        return f"Dirac-GAN ({options.get('loss', 'standard')}{extra}), η = {lr}"
    return f"min_x max_y {options.get('a', 1.0):g}·xy, η = {lr}"


def radius_map(method, lrs, param: str, values, game="xy", **options):
    """Spectral radius over step size x a method parameter (beta for momentum, gamma for
    consensus): a heatmap with the rho = 1 contour. Returns (figure, rho[value, lr])."""

    rho = np.array([[games.spectral_radius(method, float(e), game, **{**options, param: float(v)}) for e in lrs]
                    for v in values])
    fig, ax = figure_with_axes(figsize=(6, 4.5), dpi=100)
    from matplotlib.colors import TwoSlopeNorm
    lo, hi = float(np.nanmin(rho)), float(np.nanmax(np.clip(rho, 0, 2)))
    norm = TwoSlopeNorm(vcenter=1.0, vmin=min(lo, 0.999), vmax=max(hi, 1.001))   # white at rho = 1
    im = ax.pcolormesh(lrs, values, np.clip(rho, 0, 2), cmap="RdBu_r", norm=norm, shading="auto")
    ax.contour(lrs, values, rho, levels=[1.0], colors="k", linewidths=1.5)
    fig.colorbar(im, ax=ax, label="spectral radius ρ (black: ρ = 1)")
    ax.set_xlabel("step size η")
    ax.set_ylabel(param)
    ax.set_title(f"{method} on {game}: blue converges, red diverges")
    return fig, rho


def animate_orbits(methods, lr, steps, out, start=(1.0, 1.0), game="xy", fps=30, size="square720",
                   theme="light", overwrite: bool = False, progress: bool = True, **options) -> Path:
    """An animation of each method's point moving along its path (GIF, MP4 or a PNG folder,
    by the suffix of out), over the game's vector field. Artists are made once and updated
    each frame; only they are redrawn (viz.Blitter)."""
    import matplotlib                   # drawn with here only: the dashboard's Plotly orbits start without it
    from tqdm.auto import tqdm

    theme, (w, h) = get_theme(theme), get_size(size)
    paths = orbits(methods, lr, steps, start, game, **options)
    with matplotlib.rc_context(style(theme, min(w, h) / 720)):
        fig, ax = figure_with_axes(figsize=(w / DPI, h / DPI), dpi=DPI)
        draw_field(ax, _extent(paths, start), game, colour=theme.muted, star=theme.fg, **options)
        ax.set_title(_title(game, lr, options))
        xl, yl = _labels(game, options)
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
        lines, dots = {}, {}
        for name in paths:
            c = METHOD_COLOURS.get(name, theme.fg) if name != "flow" else theme.fg
            (lines[name],) = ax.plot([], [], color=c, lw=2.5 if name != "flow" else 1.5,
                                     ls="-" if name != "flow" else "--", label=name)
            (dots[name],) = ax.plot([], [], "o", color=c, markersize=10)
        ax.legend(loc="lower left", framealpha=0.9)
        label = ax.text(0.98, 0.97, "", transform=ax.transAxes, ha="right", va="top")
    blitter = Blitter(fig)
    dynamic = [*lines.values(), *dots.values(), label]
    with FrameWriter(out, fps, overwrite) as writer:
        for t in tqdm(range(steps + 1), desc="orbits", unit="frame", disable=not progress, leave=False):
            for name, z in paths.items():
                lines[name].set_data(z[: t + 1, 0], z[: t + 1, 1])
                dots[name].set_data(z[t:t + 1, 0], z[t:t + 1, 1])
            label.set_text(f"step {t}")
            writer.write(blitter.render(dynamic))
    return Path(out)


def orbit_figures(methods, lr, steps, start=(1.0, 1.0), game="xy", theme="light", **options):
    """Plotly pictures of gradient methods on a game (the dashboard's xy tab): (orbits over the vector field,
    distance to the equilibrium per step on a log scale, {method: spectral radius})."""
    import plotly.graph_objects as go
    from plotly.figure_factory import create_quiver

    theme = get_theme(theme)
    paths = orbits(methods, lr, steps, start, game, **options)
    lim = _extent(paths, start)
    g, U, V = games.descent_field(lim, game, 15, **options)
    gx, gy = np.meshgrid(g, g)
    norm = np.hypot(U, V).max() or 1.0
    q = create_quiver(gx.ravel(), gy.ravel(), U.ravel() / norm, V.ravel() / norm, scale=lim / 8,
                      arrow_scale=0.3).data[0]
    q.update(line=dict(color=theme.muted, width=1), hoverinfo="skip", showlegend=False, name="field")
    orbit = go.Figure([q])
    over = coinciding(paths, lim)                # drawn dashed over the orbit they lie on
    for name, z in paths.items():
        colour = theme.fg if name == "flow" else METHOD_COLOURS.get(name, theme.fg)
        orbit.add_scatter(x=z[:, 0], y=z[:, 1], mode="lines", name=_legend(name, over),
                          line=dict(color=colour, width=1.5 if name == "flow" else 2.5,
                                    dash="dash" if name == "flow" or name in over else None))
        orbit.add_scatter(x=z[-1:, 0], y=z[-1:, 1], mode="markers", marker=dict(color=colour, size=10),
                          showlegend=False, hoverinfo="skip")
    orbit.add_scatter(x=[0], y=[0], mode="markers", marker=dict(symbol="star", size=14, color=theme.fg),
                      name="equilibrium")
    xl, yl = _labels(game, options)
    if over:                                     # said under the title too, for whoever misses the legend
        orbit.add_annotation(text="; ".join(f"{b} lies on {a}'s orbit (within {COINCIDE:.1%} of the plot) at η = {lr:g}"
                                            for b, a in over.items()), xref="paper", yref="paper", x=0.5, y=1.0,
                             yanchor="bottom", showarrow=False, font=dict(size=theme.font_size * 0.8, color=theme.fg))
    orbit.update_layout(**{**base_layout(theme, _title(game, lr, options)), "showlegend": True},
                        legend=dict(x=0.01, y=0.01, bgcolor=rgba(theme.bg, 0.8)))
    orbit.update_xaxes(range=[-lim, lim], title=xl, zeroline=False, gridcolor=rgba(theme.muted, 0.3))
    orbit.update_yaxes(range=[-lim, lim], title=yl, scaleanchor="x", scaleratio=1, zeroline=False,
                       gridcolor=rgba(theme.muted, 0.3))

    radii = {m: games.spectral_radius(m, lr, game, **options) for m in methods}
    t = np.arange(steps + 1)
    r0 = float(np.linalg.norm(start))
    dist = go.Figure()
    for m in methods:
        colour = METHOD_COLOURS.get(m, theme.fg)
        dist.add_scatter(x=t, y=np.linalg.norm(paths[m], axis=1), mode="lines", name=f"{m}  ρ = {radii[m]:.4f}",
                         line=dict(color=colour, width=2.5, dash="dash" if m in over else None))
        dist.add_scatter(x=t, y=r0 * radii[m] ** t, mode="lines", showlegend=False, hoverinfo="skip",
                         line=dict(color=colour, width=1, dash="dash"))
    dist.update_layout(**{**base_layout(theme, "distance to the equilibrium (dashed: ρ^t)"), "showlegend": True},
                       legend=dict(x=0.01, y=0.99, bgcolor=rgba(theme.bg, 0.8)))
    dist.update_yaxes(type="log", title="|z_t|", gridcolor=rgba(theme.muted, 0.3))
    dist.update_xaxes(title="step", gridcolor=rgba(theme.muted, 0.3))
    return orbit, dist, radii
