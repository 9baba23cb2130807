"""The layered view: one large map with real samples, fake samples, D's field and its decision
line, and optionally G's manifold and the gradient arrows on top of one another (GAN Lab's one
canvas), each a layer that can be switched off. It reuses the panels' trace builders
(figures.d_map_traces, points_trace, segments_xy, quiver_trace): nothing is computed here that a
panel does not compute."""

from __future__ import annotations

import numpy as np

from . import plotly_figures as F
from . import panels as P
from .panels import Frame, RunView, get_theme

#: the layers, bottom to top, and their names on the dashboard's switches
LAYERS = ("d", "real", "fake", "manifold", "arrows")
LAYER_TITLES = {"d": "D(x) and D = ½", "real": "real samples", "fake": "fake samples",
                "manifold": "G(noise grid)", "arrows": "∇D arrows"}
#: the layers drawn unless told otherwise (the manifold and arrows crowd the picture early on)
DEFAULT_LAYERS = ("d", "real", "fake")


def check_layers(layers) -> tuple[str, ...]:
    """Layer names, validated (a list or "d,real,..."; None: DEFAULT_LAYERS, "all": LAYERS), in
    drawing order; an unknown one is an error naming the allowed ones. An empty list is allowed:
    the map's frame alone."""
    if layers is None:
        return DEFAULT_LAYERS
    if layers == "all":
        return LAYERS
    if isinstance(layers, str):
        layers = [v.strip() for v in layers.split(",") if v.strip()]
    if not isinstance(layers, (list, tuple)):
        raise ValueError(f"layers: must be a list of names; allowed: {', '.join(LAYERS)} (or 'all')")
    bad = [v for v in layers if v not in LAYERS]
    if bad:
        raise ValueError(f"layers: unknown {', '.join(map(repr, bad))}; allowed: {', '.join(LAYERS)} (or 'all')")
    return tuple(v for v in LAYERS if v in layers)


def layered_traces(view: RunView, frame: Frame, theme="light", layers=None) -> list[dict]:
    """The layered map's traces (Plotly dicts), bottom to top. Fakes are drawn with an outline in
    the theme's foreground colour, so they stay visible on D's orange 'fake' region; real samples
    are smaller and lighter, so the fakes read on top of them."""
    t, layers = get_theme(theme), check_layers(layers)
    edge = "black" if t.name == "light" else "white"
    out: list[dict] = []
    if "d" in layers:
        heat, line = F.d_map_traces(view, frame.d, t)
        out += [{**heat, "opacity": 0.75}, line]
    if "real" in layers:
        real = F.points_trace(view.real[: view.n_points], t.real, size=4, opacity=0.55, name="real")
        real["marker"]["line"] = dict(width=0.5, color=t.bg)
        out.append(real)
    if "manifold" in layers:
        m = frame.manifold
        paths = [*m, *m.transpose(1, 0, 2)] if np.isfinite(m).all() else []
        out.append(F.lines_trace(*F.segments_xy(paths), t.d, 1.0, "manifold"))
    if "fake" in layers:
        fake = F.points_trace(frame.fake[: view.n_points], t.fake, size=6, opacity=0.9, name="fake")
        fake["marker"]["line"] = dict(width=1, color=edge)
        out.append(fake)
    if "arrows" in layers:
        out.append(F.quiver_trace(view, frame, edge))
    return out


def layered_figure(view: RunView, frame: Frame, theme="light", layers=None, height: int | None = 560,
                   font_scale: float = 1.0, title: str | None = None) -> dict:
    """The layered map as its own figure, a plain Plotly dict (dcc.Graph takes it as it is; the
    exporter can add its traces to a subplot with layered_traces). height None: it fills its box;
    font_scale enlarges every text; title: the view's one-line title by default."""
    t = get_theme(theme)
    traces = layered_traces(view, frame, t, layers)
    layout = F.base_layout(t, view.title(frame) if title is None else title, height=height)
    size = t.font_size * font_scale
    layout["font"]["size"] = size
    layout["title"]["font"] = dict(size=size)
    layout.update(margin=dict(l=10, r=10, t=int(30 + 12 * font_scale), b=10), uirevision="layered")
    x, y = F.axes_style(view, "d", t)
    y.update(scaleanchor="x", scaleratio=1)
    x.update(constraintoward="right")
    layout.update(xaxis=x, yaxis=y)
    for tr in traces:                              # the colour bar's numbers grow with the fonts
        if tr.get("type") == "heatmap" and tr.get("colorbar"):
            tr["colorbar"] = {**tr["colorbar"], "tickfont": dict(color=t.fg, size=size * 0.8)}
    return dict(data=traces, layout=layout)


def layer_help() -> str:
    """One line for the dashboard and docs: what the layered view shows."""
    return (f"{P.TITLES['d']} under the real (blue) and fake (orange, outlined) samples; the generator wins "
            "where the fakes sit in blue. Switch layers on and off; G's manifold and ∇D are off by default.")


__all__ = ["LAYERS", "LAYER_TITLES", "DEFAULT_LAYERS", "check_layers", "layered_traces", "layered_figure", "layer_help"]
