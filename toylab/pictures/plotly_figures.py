"""Plotly figures of a run: one panel, one snapshot with all panels, or an animation.

The dashboard draws its panels with `panel_figure`; the HTML export is
`animation_figure` (play button and slider, plotly.js embedded so it works
offline). What each panel shows comes from `toylab.panels`, as in the matplotlib
pictures: same data, same colours, same titles.
"""

from __future__ import annotations

import numpy as np

from . import panels as P
from .panels import Frame, RunView, Theme, get_theme

FLOAT = np.float32           # arrays travel as base64 float32: half the size of float64


def density_scale(theme: Theme, colour: str) -> list:
    return [[0.0, theme.bg], [1.0, colour]]


def d_scale(theme: Theme) -> list:
    return [[0.0, theme.fake], [0.5, theme.bg], [1.0, theme.real]]


LEVELS = 254                 # maps travel as uint8 colour levels 0..254: a quarter of float32


def _levels(v: np.ndarray, lo: float, hi: float, fill: float) -> np.ndarray:
    """Values on [lo, hi] as uint8 levels 0..LEVELS (NaN drawn as `fill`): the maps are
    pictures, so 255 levels lose nothing visible and keep HTML exports small."""
    v = np.where(np.isfinite(v), v, fill)
    return np.round(np.clip((v - lo) / (hi - lo), 0.0, 1.0) * LEVELS).astype(np.uint8)


def _density(p: np.ndarray, vmax: float) -> np.ndarray:
    """Densities on one scale, 0 .. max p_data, stretched by panels.DENSITY_GAMMA (as in viz)."""
    return _levels(np.clip(p / vmax, 0.0, 1.0) ** P.DENSITY_GAMMA, 0.0, 1.0, 0.0)


def _arr(a, dtype=FLOAT) -> dict:
    """A NumPy array as Plotly's typed-array spec (base64), built without plotly's validators:
    the dashboard makes nine figures per update and validation would cost more than the data."""
    from _plotly_utils.utils import to_typed_array_spec
    return to_typed_array_spec(np.ascontiguousarray(a, dtype=dtype))


def _heatmap(view: RunView, z, colorscale, opacity=1.0, name=""):
    """A map of uint8 levels over the view's grid."""
    return dict(type="heatmap", z=_arr(z, np.uint8), x=_arr(view.xs), y=_arr(view.ys), colorscale=colorscale,
                zmin=0, zmax=LEVELS, showscale=False, opacity=opacity, hoverinfo="skip", name=name,
                zsmooth="best")


def points_trace(xy, colour, size=3.5, opacity=0.6, name=""):
    """A scatter of the finite rows of xy (n, 2) as a Plotly dict (no hover, no legend)."""
    xy = np.asarray(xy, dtype=FLOAT).reshape(-1, 2)
    xy = xy[np.isfinite(xy).all(1)]
    return dict(type="scatter", x=_arr(xy[:, 0]), y=_arr(xy[:, 1]), mode="markers", name=name, hoverinfo="skip",
                showlegend=False, marker=dict(color=colour, size=size, opacity=opacity, line=dict(width=0)))


def segments_xy(paths) -> tuple[np.ndarray, np.ndarray]:
    """Polylines joined into one trace, NaN between them (drawn as gaps)."""
    if not len(paths):
        return np.zeros(0, FLOAT), np.zeros(0, FLOAT)
    paths = np.asarray(paths, dtype=FLOAT)                          # (L, n, 2)
    gap = np.full((paths.shape[0], 1, 2), np.nan, dtype=FLOAT)
    flat = np.concatenate([paths, gap], 1).reshape(-1, 2)
    return flat[:, 0], flat[:, 1]


def lines_trace(xs, ys, colour, width=1.0, name=""):
    """Lines through (xs, ys) as a Plotly dict (NaN breaks them: segments_xy)."""
    return dict(type="scatter", x=_arr(xs), y=_arr(ys), mode="lines", line=dict(color=colour, width=width),
                hoverinfo="skip", showlegend=False, name=name)


def arrow_paths(pos: np.ndarray, vec: np.ndarray, head: float = 0.3, angle: float = np.pi / 9) -> np.ndarray:
    """Arrows as polylines (n, 5, 2): tail -> tip -> one barb, tip -> other barb (barbs `head`
    of the arrow's length, at +-`angle`), the geometry of plotly's create_quiver, vectorised
    (create_quiver builds Python lists and took 50 ms for 200 arrows)."""
    tip = pos + vec
    back = -vec * head
    c, s = np.cos(angle), np.sin(angle)
    rot = lambda v, sg: np.stack([v[:, 0] * c - sg * v[:, 1] * s, sg * v[:, 0] * s + v[:, 1] * c], 1)  # noqa: E731
    return np.stack([pos, tip, tip + rot(back, 1), tip, tip + rot(back, -1)], 1)


def quiver_trace(view: RunView, frame: Frame, colour):
    """The frame's gradient arrows (view.arrows) as one lines trace."""
    pos, vec = view.arrows(frame)
    return lines_trace(*segments_xy(arrow_paths(pos, vec)), colour, width=1.3, name="arrows")


def d_map_traces(view: RunView, d, theme: Theme) -> list[dict]:
    """D as a heatmap with its colour bar, and its decision line (D = 1/2, or 0 for a critic) as
    polylines traced here (contourpy) rather than by Plotly in the browser: the contour trace this
    replaces took 130 ms to draw, the two together ~25 ms (headless Chromium)."""
    import contourpy

    lo, hi = view.d_range
    k = max(1, -(-len(view.d_xs) // view.size))       # no finer than the view's density grid
    z, xs, ys = d[::k, ::k], view.d_xs[::k], view.d_ys[::k]
    heat = dict(type="heatmap", z=_arr(_levels(z, lo, hi, view.d_level), np.uint8), x=_arr(xs), y=_arr(ys),
                colorscale=d_scale(theme), zmin=0, zmax=LEVELS, showscale=True, colorbar=_d_colorbar(view, theme),
                hoverinfo="skip", name="D", zsmooth="best")
    finite = np.isfinite(z)
    lines = contourpy.contour_generator(xs, ys, np.ma.masked_invalid(z) if not finite.all() else z,
                                        line_type="Separate").lines(view.d_level) if finite.any() else []
    gap = np.full((1, 2), np.nan)
    flat = np.concatenate([np.vstack([seg, gap]) for seg in lines]) if len(lines) else np.zeros((0, 2))
    line = lines_trace(flat[:, 0], flat[:, 1], "black" if theme.name == "light" else "white", width=2.0, name="D = level")
    return [heat, line]


def _d_colorbar(view: RunView, theme: Theme) -> dict:
    """The colour bar of D's map, ticked in D's own values (the trace carries colour levels)."""
    lo, hi = view.d_range
    ticks = sorted({lo, view.d_level, hi, (lo + view.d_level) / 2, (view.d_level + hi) / 2})
    return dict(tickvals=[(v - lo) / (hi - lo) * LEVELS for v in ticks], ticktext=[f"{v:.3g}" for v in ticks],
                thickness=10, len=0.8, outlinewidth=0, tickfont=dict(color=theme.fg), x=1.0, xpad=4)


def panel_traces(view: RunView, frame: Frame, panel: str, theme: Theme,
                 grow: bool = False) -> list[tuple[dict, bool]]:
    """The traces (Plotly dicts) of one panel at one frame, each with True if it changes between frames.

    grow: the curves end at the frame's step (an animation must not show the future); otherwise
    they are drawn whole, with a line at the frame's step (the dashboard's scrubbing)."""
    t, vmax = theme, view.density_max
    pdata = lambda opacity=1.0: _heatmap(view, _density(view.p_data, vmax), density_scale(t, t.real),  # noqa
                                         opacity=opacity, name="p_data")
    fake = frame.fake[: view.n_points]
    if panel == "p_data":
        return [(pdata(), False), (points_trace(view.real[: view.n_points], t.real, name="real"), False)]
    if panel == "p_model":
        return [(_heatmap(view, _density(frame.p_model, vmax), density_scale(t, t.fake), name="p_model"), True),
                (points_trace(fake, t.fake, name="fake"), True)]
    if panel == "d":
        return [*[(tr, True) for tr in d_map_traces(view, frame.d, t)], (points_trace(fake, t.fake, 2.5, 0.35, "fake"), True)]
    if panel == "d_star":
        # undefined where neither density has mass: drawn at 1/2, the background colour
        return [(_heatmap(view, _levels(frame.d_star, 0.0, 1.0, 0.5), d_scale(t), name="D*"), True)]
    if panel == "manifold":
        m = frame.manifold
        paths = [*m, *m.transpose(1, 0, 2)] if np.isfinite(m).all() else []
        return [(pdata(0.6), False), (lines_trace(*segments_xy(paths), t.fake, 1.0, "manifold"), True)]
    if panel == "arrows":
        return [(pdata(0.6), False), (quiver_trace(view, frame, t.fake), True)]
    curves = {"losses": [("d_loss", t.d, "D", None), ("g_loss", t.fake, "G", None)],
              "js": [("js", t.fg, "estimate ± s.e.", None), ("js_lower_bound", t.d, "bound from D", "dash")],
              "modes": [("modes_present", t.fake, "present", None), ("modes_captured", t.fake, "captured", "dot")]}[panel]
    out = []
    upto = (lambda s, *v: (s[s <= frame.step], *(x[s <= frame.step] for x in v))) if grow else \
        (lambda s, *v: (s, *v))  # noqa: E731
    if panel == "js":
        s, lo, hi = upto(*view.band("js"))
        if len(s) or grow:                       # (growing: the same traces in every frame)
            out.append((dict(type="scatter", x=_arr(np.concatenate([s, s[::-1]]), np.float64),
                             y=_arr(np.concatenate([lo, hi[::-1]])), fill="toself", mode="lines", line=dict(width=0),
                             fillcolor=t.fg, opacity=0.18, name="± 1 standard error", legendgroup=panel,
                             showlegend=False, hoverinfo="skip"), grow))
        s, v = upto(*view.clipped("js"))
        if len(s) or grow:
            out.append((dict(type="scatter", x=_arr(s, np.float64), y=_arr(v), mode="markers", name="clipped at 0",
                             legendgroup=panel, marker=dict(symbol="circle-open", size=7, color=t.fg),
                             hovertemplate="raw estimate below 0 at step %{x}<extra></extra>"), grow))
    for key, colour, label, dash in curves:
        s, v = upto(*view.curve(key))
        if key == "js_lower_bound" and not view.probabilistic:
            continue
        trace = dict(type="scatter", x=_arr(s, np.float64), y=_arr(v), mode="lines", name=label,
                     legendgroup=panel, line=dict(color=colour, width=2, dash=dash,
                                                  shape="hv" if key.startswith("modes") else "linear"),
                     hovertemplate=f"{label} %{{y:.3f}} at step %{{x}}<extra></extra>")
        if key == "modes_present":               # a dot on the value now, which the title says (a step curve
            now = int(np.searchsorted(s, frame.step, side="right")) - 1     # drops to it under the cursor)
            trace.update(mode="lines+markers", marker=dict(color=colour, size=[9 if i == now else 0
                                                                                for i in range(len(s))]))
        out.append((trace, grow))
    if panel == "modes" and view.num_modes:      # the all-K reference: what full coverage reads
        K, end = view.num_modes, x_end(view)
        out.append((dict(type="scatter", x=[0, end], y=[K, K], mode="lines", name=f"all {K}", legendgroup=panel,
                         hoverinfo="skip", line=dict(color=t.real, width=1.2, dash="dash")), False))
    lo, hi = view.curve_range(panel)
    if panel == "js":                            # the most JS can be: p and q apart (as viz draws it)
        out.append((dict(type="scatter", x=[0, x_end(view)], y=[P.LN2, P.LN2], mode="lines", name="ln 2 (max)",
                         legendgroup=panel, hoverinfo="skip", line=dict(color=t.muted, width=1, dash="dot")), False))
    out.extend(_edit_traces(view, frame, t, lo, hi, grow))
    out.append((dict(type="scatter", x=[frame.step, frame.step], y=[lo, hi], mode="lines", hoverinfo="skip",
                     showlegend=False, line=dict(color=t.muted, width=1.5), name="now"), True))
    return out


def _edit_traces(view: RunView, frame: Frame, theme: Theme, lo: float, hi: float,
                 grow: bool) -> list[tuple[dict, bool]]:
    """The live edits on a curve panel: a dotted vertical line at each edit's step and its label
    ("lr_d 2e-4→1e-3") at the top (growing: only edits up to the frame's step, the same two traces
    in every frame). None when the run was never edited."""
    marks = [(s, label) for s, label in view.edits if not grow or s <= frame.step]
    if not view.edits:
        return []
    steps = np.array([s for s, _ in marks], dtype=np.float64)
    xs = np.repeat(steps, 3)
    ys = np.tile(np.array([lo, hi, np.nan]), len(marks))
    xs[2::3] = np.nan
    top = lo + 0.97 * (hi - lo)
    line = dict(type="scatter", x=_arr(xs, np.float64), y=_arr(ys), mode="lines", name="live edit",
                line=dict(color=theme.d, width=1.2, dash="dot"), hoverinfo="skip", showlegend=False)
    end = max(view.last_step(), 1)               # a label late in the run reads to the left of its line
    text = dict(type="scatter", x=_arr(steps, np.float64), y=_arr(np.full(len(marks), top)), mode="text",
                text=[f" {label} " for _, label in marks], name="live edits",
                textposition=["bottom left" if s > 0.6 * end else "bottom right" for s, _ in marks],
                textfont=dict(color=theme.d, size=theme.font_size * 0.75), showlegend=False,
                hovertemplate="%{text} at step %{x}<extra></extra>")
    return [(line, grow), (text, grow)]


def axes_style(view: RunView, panel: str, theme: Theme) -> tuple[dict, dict]:
    """(x axis, y axis) settings of a panel: maps square over the target's bounds, curves over rounds."""
    if panel in P.MAP_PANELS:
        x0, x1, y0, y1 = view.bounds
        axis = dict(showgrid=False, zeroline=False, linecolor=theme.muted, mirror=True, showline=True,
                    showticklabels=False, ticks="", constrain="domain")
        return dict(axis, range=[x0, x1]), dict(axis, range=[y0, y1])
    grid = dict(showgrid=True, gridcolor=rgba(theme.muted, 0.3), zeroline=False, color=theme.fg)
    return dict(grid, range=[0, x_end(view)]), dict(grid, range=list(view.curve_range(panel)))


def _style_axes(fig, view: RunView, panel: str, theme: Theme, row, col):
    x, y = axes_style(view, panel, theme)
    fig.update_xaxes(row=row, col=col, **x)
    fig.update_yaxes(row=row, col=col, **y)
    if panel in P.MAP_PANELS:
        anchor = fig.get_subplot(row, col).xaxis.plotly_name.replace("axis", "")
        fig.update_yaxes(scaleanchor=anchor, scaleratio=1, row=row, col=col)


def rgba(hex_colour: str, a: float) -> str:
    """'#rrggbb' with opacity a as Plotly's 'rgba(r,g,b,a)'."""
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{a})"


def base_layout(theme: Theme, title: str, height=None, width=None):
    """A Plotly figure's layout in the theme's colours and font, with a centred title."""
    return dict(paper_bgcolor=theme.bg, plot_bgcolor=theme.bg, font=dict(color=theme.fg, size=theme.font_size),
                title=dict(text=title, x=0.5, xanchor="center"), margin=dict(l=30, r=20, t=70, b=30),
                height=height, width=width, showlegend=False, hovermode="closest")


def x_end(view: RunView) -> float:
    """The curves' x axis end: 3 % past the last step, so that the value now (the modes dot) and a
    step curve's last drop show beside the cursor, not under the axis' edge (as viz draws it)."""
    return view.last_step() * 1.03


def panel_figure(view: RunView, frame: Frame, panel: str, theme="light", height: int | None = 340,
                 font_scale: float = 1.0) -> dict:
    """One panel as its own figure, a plain Plotly dict (dcc.Graph takes it as it is).
    height None: the figure fills its box (the presentation view sizes the boxes); font_scale
    enlarges every text (1.5 or more for a projector)."""
    theme = get_theme(theme)
    layout = base_layout(theme, view.panel_title(panel), height=height)
    layout["font"]["size"] = theme.font_size * font_scale
    layout["title"]["font"] = dict(size=theme.font_size * font_scale)
    layout.update(margin=dict(l=10, r=10, t=int(30 + 10 * font_scale), b=10), uirevision=panel)
    if panel in P.CURVE_PANELS:
        # the legend sits under the plot: inside, it hid a JS curve near log 2; between the title and
        # the plot, its rows wrapped up over the title in a narrow box
        layout.update(margin=dict(l=int(45 * font_scale), r=10, t=int(30 + 10 * font_scale), b=int(60 * font_scale)),
                      showlegend=True,
                      legend=dict(orientation="h", x=0.5, xanchor="center", y=-0.1, yanchor="top", traceorder="normal",
                                  bgcolor="rgba(0,0,0,0)",
                                  font=dict(size=theme.font_size * font_scale * 0.75)))
    x, y = axes_style(view, panel, theme)
    if panel in P.MAP_PANELS:
        y.update(scaleanchor="x", scaleratio=1)
    if panel == "d":
        x.update(constraintoward="right")        # the map beside its colour bar, not half a box away
    layout.update(xaxis=x, yaxis=y)
    return dict(data=[tr for tr, _ in panel_traces(view, frame, panel, theme)], layout=layout)


def _subplots(view: RunView, panels, theme: Theme, size):
    from plotly.subplots import make_subplots

    w, h = size
    lay = P.layout(panels, w, h)
    specs = [[None] * lay.cols for _ in range(lay.rows)]
    for c in lay.cells:
        specs[c.row][c.col] = {"rowspan": c.rowspan, "colspan": c.colspan}
    order = sorted(lay.cells, key=lambda c: (c.row, c.col))
    fig = make_subplots(rows=lay.rows, cols=lay.cols, specs=specs,
                        row_heights=[r / sum(lay.row_heights) for r in lay.row_heights],
                        column_widths=[c / sum(lay.col_widths) for c in lay.col_widths],
                        subplot_titles=[P.TITLES[c.panel] for c in order],
                        horizontal_spacing=0.03, vertical_spacing=0.08)
    return fig, {c.panel: (c.row + 1, c.col + 1) for c in lay.cells}


def snapshot_figure(view: RunView, frame: Frame, panels=None, theme="light", size="720p", grow: bool = False):
    """Every chosen panel at one frame in one figure: (figure, indices of the changing traces).
    Fonts grow with the size (15 px at 720p, 22 px at 1080p); the curves' legends are shown."""
    theme, size, panels = get_theme(theme), P.get_size(size), P.check_panels(panels)
    fig, where = _subplots(view, panels, theme, size)
    dynamic = []
    for panel in panels:
        row, col = where[panel]
        for tr, changes in panel_traces(view, frame, panel, theme, grow):
            fig.add_trace(tr if panel in P.CURVE_PANELS else {**tr, "showlegend": False}, row=row, col=col)
            if changes:
                dynamic.append(len(fig.data) - 1)
        _style_axes(fig, view, panel, theme, row, col)
        if panel == "d":                         # its colour bar under its own map (beside it, it met the next)
            sub = fig.get_subplot(row, col)
            (x0, x1), (y0, _) = sub.xaxis.domain, sub.yaxis.domain
            for i in dynamic:
                if fig.data[i].type == "heatmap" and fig.data[i].name == "D":
                    fig.data[i].colorbar.update(orientation="h", x=(x0 + x1) / 2, xanchor="center", y=y0,
                                                yanchor="top", ypad=1, len=0.6 * (x1 - x0), thickness=6,
                                                tickvals=fig.data[i].colorbar.tickvals[::2],
                                                ticktext=fig.data[i].colorbar.ticktext[::2])
    scale = max(0.7, min(size[0] / 1280, size[1] / 720))
    fig.update_layout(**base_layout(theme, view.title(frame), height=size[1], width=size[0]))
    fig.update_layout(font_size=theme.font_size * scale, showlegend=any(p in P.CURVE_PANELS for p in panels),
                      # the legend sits above the subplot titles, at the right (28 px above the plots)
                      legend=dict(orientation="h", x=1, xanchor="right", y=1.0 + 28 * scale / max(
                          size[1] - 110 * scale - 30, 1), yanchor="bottom", bgcolor="rgba(0,0,0,0)",
                          font_size=theme.font_size * scale * 0.8),
                      margin=dict(l=30, r=int(40 * scale), t=int(110 * scale), b=30))
    if fig.layout.showlegend:                    # the figure's title moves left for the legend
        fig.update_layout(title_x=0.01, title_xanchor="left")
    fig.update_annotations(font_size=theme.font_size * scale * 0.95)
    fig.update_traces(selector=dict(type="heatmap", name="D"), colorbar_tickfont_size=theme.font_size * scale * 0.7)
    return fig, dynamic


def animation_figure(view: RunView, snapshots, panels=None, theme="light", size="720p", fps: float = 12,
                     progress: bool = True, caption: str = ""):
    """A Plotly animation over snapshots: a play/pause button and a step slider; caption: the last
    frame's second title line (animate: the run's verdict and its reason)."""
    import plotly.graph_objects as go
    from tqdm.auto import tqdm

    theme, panels = get_theme(theme), P.check_panels(panels)
    frames_data = [view.frame(s) for s in tqdm(snapshots, desc="frames", disable=not progress, leave=False)]
    fig, dynamic = snapshot_figure(view, frames_data[0], panels, theme, size, grow=True)
    frames = []
    last = len(frames_data) - 1

    def title(i, fr):
        return f"{view.title(fr)}<br><sup>{caption}</sup>" if caption and i == last else view.title(fr)

    for i, fr in enumerate(frames_data):
        # (a frame's trace is merged into the figure's: the colour bar keeps its place by not being sent)
        traces = [{k: v for k, v in tr.items() if k != "colorbar"}
                  for panel in panels for tr, changes in panel_traces(view, fr, panel, theme, grow=True) if changes]
        frames.append(go.Frame(data=traces, traces=dynamic, name=str(fr.step),
                               layout=dict(title=dict(text=title(i, fr)))))
    fig.frames = frames
    ms = 1000 / fps
    play = dict(frame=dict(duration=ms, redraw=True), transition=dict(duration=0), fromcurrent=True, mode="immediate")
    fig.update_layout(
        updatemenus=[dict(type="buttons", direction="left", x=0.0, y=-0.02, xanchor="left", yanchor="top",
                          pad=dict(t=8, r=8), showactive=False, bgcolor=theme.bg, font=dict(color=theme.fg),
                          buttons=[dict(label="▶ play", method="animate", args=[None, play]),
                                   dict(label="❚❚ pause", method="animate",
                                        args=[[None], dict(frame=dict(duration=0, redraw=False), mode="immediate")])])],
        sliders=[dict(active=0, x=0.2, len=0.8, y=-0.02, yanchor="top", pad=dict(t=8),
                      currentvalue=dict(prefix="step ", font=dict(color=theme.fg)), font=dict(color=theme.fg),
                      steps=[dict(label=str(fr.step), method="animate",
                                  args=[[str(fr.step)], dict(frame=dict(duration=0, redraw=True), mode="immediate",
                                                             transition=dict(duration=0))])
                             for fr in frames_data])])
    fig.update_layout(margin=dict(b=90))
    return fig


# ---- the games -------------------------------------------------------------------------
#: one colour per run where several are overlaid (Paul Tol's muted scheme, with neither the real blue
#: nor the fake orange, which mean real and fake samples everywhere else)
RUN_COLOURS = ("#882255", "#117733", "#AA4499", "#999933", "#44AA99", "#332288")


def run_colour(i: int) -> str:
    """The i-th run's colour in a comparison (RUN_COLOURS, repeating)."""
    return RUN_COLOURS[i % len(RUN_COLOURS)]


def curves_figure(views: dict, keys=("js", "modes_captured"), theme="light", height: int = 340):
    """History columns of several runs overlaid, one subplot per key ({label: RunView}), each run in
    its run_colour (the order of `views`); mode counts drawn as steps."""
    from plotly.subplots import make_subplots

    theme = get_theme(theme)
    titles = {"js": "JS divergence (nats)", "modes_captured": "modes captured", "modes_present": "modes present", "d_loss": "D loss",
              "g_loss": "G loss", "g_grad_norm": "G gradient norm", "d_grad_norm": "D gradient norm"}
    fig = make_subplots(rows=1, cols=len(keys), subplot_titles=[titles.get(k, k) for k in keys])
    for i, (label, view) in enumerate(views.items()):
        for j, key in enumerate(keys):
            s, v = view.curve(key)
            fig.add_scatter(x=s, y=v, mode="lines", name=label, legendgroup=label, showlegend=j == 0,
                            line=dict(color=run_colour(i), width=2,
                                      shape="hv" if key.startswith("modes_") else "linear"),
                            row=1, col=j + 1)
    fig.update_layout(**{**base_layout(theme, "", height=height), "showlegend": True,
                         "margin": dict(l=45, r=10, t=40, b=30)})
    fig.update_xaxes(title="step", gridcolor=rgba(theme.muted, 0.3))
    fig.update_yaxes(gridcolor=rgba(theme.muted, 0.3))
    return fig
