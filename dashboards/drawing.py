"""Drawing a target by hand on the Train tab's canvas: clicks and strokes become a point
cloud, which becomes the 'points' target (a kernel density, as an upload does).

In the 'click' mode a click adds a small cluster (one mode: CLUSTER points, std CLUSTER_STD); in the 'draw' mode a stroke
(Plotly's 'drawopenpath' shape, an SVG path) adds points every SPACING along it. At most MAX_POINTS
points in all, and the canvas shows their kernel density at the bandwidth the metrics' likelihood
rule picks (or the form's, once chosen), so what is drawn is what the generator must learn.
"""

from __future__ import annotations

import re

import numpy as np

from toylab import datasets
from toylab.measure.bandwidth import cloud_bandwidth
from toylab.measure.kde_grid import binned_kde

BOUND = 4.0              # the canvas spans [-BOUND, BOUND]^2 (the built-in targets' scale)
CELLS = 81               # its pixels a side (a click lands on one: 0.1 apart)
CLUSTER, CLUSTER_STD = 20, 0.05
SPACING = 0.05
MAX_POINTS = 2000
MAX_PATH_CHARS = 50_000  # a stroke's SVG path as the browser sends it
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def click_points(x, y, seed: int) -> np.ndarray:
    """A click at (x, y): a mode of CLUSTER points (seeded, so a drawing is reproducible)."""
    x, y = float(x), float(y)
    if not (np.isfinite([x, y]).all() and abs(x) <= BOUND and abs(y) <= BOUND):
        raise ValueError(f"a click must lie on the canvas, within ±{BOUND:g}")
    return np.array([x, y]) + CLUSTER_STD * np.random.default_rng(seed).standard_normal((CLUSTER, 2))


def click_of(click_data) -> tuple:
    """(x, y) of Plotly's clickData, {'points': [{'x': .., 'y': .., ...}, ...]}, checked: a client
    may send any JSON (a list, no points, a point without numbers were HTTP 500s)."""
    points = click_data.get("points") if isinstance(click_data, dict) else None
    point = points[0] if isinstance(points, list) and points else None
    x, y = (point.get("x"), point.get("y")) if isinstance(point, dict) else (None, None)
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (x, y)):
        raise ValueError("canvas: a click must give a point {x, y} of two numbers on the canvas")
    return x, y


#: the newest strokes read from one relayout (the browser sends every shape drawn so far)
MAX_STROKES = 8


def strokes_of(relayout) -> list:
    """The SVG paths of Plotly's relayoutData 'shapes' (the newest MAX_STROKES), [] when it holds
    none (a resize, an edit of a drawn shape); anything that is not Plotly's shape list is refused."""
    if relayout is None:
        return []
    if not isinstance(relayout, dict):
        raise ValueError("canvas: the drawing's update must be Plotly's relayoutData (a mapping)")
    shapes = relayout.get("shapes")
    if shapes is None or shapes == []:
        return []
    if not isinstance(shapes, list) or not all(isinstance(s, dict) for s in shapes[-MAX_STROKES:]):
        raise ValueError("canvas: shapes must be a list of Plotly shapes, each with an SVG path")
    return [s.get("path") for s in shapes[-MAX_STROKES:]]


def target_problem(points) -> str:
    """'' when the drawing can be a points target, else why not (the engine's own check: at least
    2 points, not all at one place). Identical points were accepted by Use and then could not be
    read at Reset."""
    try:
        datasets.PointCloud(points)
    except ValueError as err:
        return str(err).removeprefix("points: ")
    return ""


def stroke_points(path: str) -> np.ndarray:
    """An SVG path 'M x,y L x,y ...' (what Plotly's freehand drawing gives) as points every
    SPACING along its polyline, clipped to the canvas."""
    if not isinstance(path, str) or len(path) > MAX_PATH_CHARS:
        raise ValueError(f"a stroke must be an SVG path of at most {MAX_PATH_CHARS:,} characters")
    nums = np.array([float(v) for v in _NUMBER.findall(path)], dtype=np.float64)
    if len(nums) < 2 or len(nums) % 2:
        raise ValueError("a stroke must be a path of x,y pairs")
    xy = np.clip(nums.reshape(-1, 2), -BOUND, BOUND)
    seg = np.linalg.norm(np.diff(xy, axis=0), axis=1)
    along = np.concatenate([[0.0], np.cumsum(seg)])
    if along[-1] < SPACING:
        return xy[:1]
    # (the positions made are capped, not only kept: a long hostile path would otherwise ask for millions)
    at = np.arange(0.0, min(along[-1], (MAX_POINTS - 1) * SPACING) + 1e-12, SPACING)[: MAX_POINTS]
    return np.stack([np.interp(at, along, xy[:, 0]), np.interp(at, along, xy[:, 1])], 1)


def add(points: np.ndarray | None, new: np.ndarray) -> np.ndarray:
    """The drawing with `new` points added; refused past MAX_POINTS (nothing is added then)."""
    points = np.zeros((0, 2)) if points is None else points
    if len(points) + len(new) > MAX_POINTS:
        raise ValueError(f"the drawing holds at most {MAX_POINTS:,} points ({len(points):,} now): clear it or "
                         f"use it as it is")
    return np.concatenate([points, new])


def bandwidth(points: np.ndarray) -> float:
    """The kernel bandwidth the metrics' likelihood rule picks for these points (as for an upload)."""
    return cloud_bandwidth(points)


def density(points: np.ndarray, h: float) -> np.ndarray:
    """Their kernel density at bandwidth h on the canvas's pixels (zeros when empty)."""
    bounds = (-BOUND, BOUND, -BOUND, BOUND)
    return binned_kde(points, bounds, CELLS, h) if len(points) else np.zeros((CELLS, CELLS))


MODES = {"click": "click: add a mode", "draw": "drag: draw a curve"}


def canvas_figure(points: np.ndarray | None, h: float | None, theme, mode: str = "click") -> dict:
    """The canvas: the density (a heatmap over every pixel, so a click anywhere lands) and the
    points. mode 'click': a click adds a mode; 'draw': dragging draws a freehand stroke
    (Plotly's drawopenpath, in which clicks are not reported - hence two modes)."""
    points = np.zeros((0, 2)) if points is None else points
    axis = np.linspace(-BOUND, BOUND, CELLS)
    z = density(points, h) if h else np.zeros((CELLS, CELLS))
    z = np.sqrt(z / z.max()) if z.max() > 0 else z          # the density panels' square-root stretch
    look = dict(range=[-BOUND, BOUND], showgrid=False, zeroline=False, showticklabels=False, ticks="",
                showline=True, mirror=True, linecolor=theme.muted, fixedrange=True)
    return dict(
        data=[dict(type="heatmap", x=axis.tolist(), y=axis.tolist(), z=np.round(z, 3).tolist(), showscale=False,
                   zmin=0, zmax=1,
                   colorscale=[[0, theme.bg], [1, theme.real]], hovertemplate="(%{x:.1f}, %{y:.1f})<extra></extra>",
                   name="density"),
              dict(type="scatter", x=points[:, 0].round(3).tolist(), y=points[:, 1].round(3).tolist(),
                   mode="markers", marker=dict(size=3, color=theme.real), hoverinfo="skip", name="points")],
        layout=dict(xaxis=look, yaxis=dict(look, scaleanchor="x", scaleratio=1), dragmode="drawopenpath" if mode == "draw" else "pan",
                    newshape=dict(line=dict(color=theme.fake, width=3)), margin=dict(l=4, r=4, t=4, b=4),
                    height=260, paper_bgcolor=theme.bg, plot_bgcolor=theme.bg, showlegend=False))
