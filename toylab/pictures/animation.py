"""Animations of a run over its snapshots: GIF, MP4, a PNG sequence or standalone HTML.

>>> toylab.animate("runs/ring8", "ring8.mp4", theme="dark", size="1080p")   # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import math

from ..engine.runs import Run, load_run, thin
from ..measure.outcomes import classify, verdict_text
from .export import FrameWriter, check_fps, check_out, output_kind, write_html
from .plotly_figures import animation_figure
from .panels import RunView, check_panels, get_size, get_theme
from .mpl_figures import Painter, gif_palette


#: the longest the last frame may be held, in seconds (each held second is fps more frames)
MAX_HOLD = 60.0
#: an HTML animation carries every frame's data: by default at most 60 frames, maps on 64x64
HTML_FRAMES = 60
HTML_VIEW = dict(size=64, n_points=500, n_arrows=150)


def _as_run(run):
    return run if isinstance(run, Run) else load_run(run)


def animate(run, out, *, fps: float = 12, panels=None, theme="light", size="720p", member: int = 0,
            frames: int | None = None, hold: float = 1.0, overwrite: bool = False,
            progress: bool = True, verdict: bool = True, on_frame=None) -> Path:
    """Draw every snapshot of `run` (a Run or a run folder) as one frame and write `out`.

    out: .mp4 (H.264), .gif, .html (Plotly animation with play button and slider, works
    offline, fills the browser window) or a folder name for a PNG sequence. panels: names
    from toylab.panels.PANELS (default all; four of them sit in a 2x2 grid); theme: 'light'
    or 'dark'; size: a name in toylab.panels.SIZES ('720p', '1080p', 'square', ...) or
    'WxH'; frames: at most this many snapshots, evenly spread; hold: seconds the last frame
    stays on screen. verdict: the last frame's title says the run's outcome and its reason
    (toylab.outcomes, as the dashboard does). on_frame(done, total): called as frames are
    drawn (the dashboard's progress line; the CLI has its bar).

    The one animation exporter: the CLI's `toylab animate` and the dashboard's Export call it.
    """
    panels, theme, size = check_panels(panels), get_theme(theme), get_size(size)
    fps = check_fps(fps)
    if isinstance(hold, bool) or not isinstance(hold, (int, float)) or not math.isfinite(hold) \
            or not 0 <= hold <= MAX_HOLD:
        raise ValueError(f"hold: must be a number of seconds in [0, {MAX_HOLD:g}] (got {hold!r})")
    thin(1, frames)                     # frames: validated before the run is loaded
    if isinstance(member, bool) or not isinstance(member, int) or member < 0:
        raise ValueError(f"member: must be a member index >= 0 (got {member!r})")
    out = check_out(out, overwrite)
    kind = output_kind(out)
    run = _as_run(run)
    if not run.snapshots:
        raise ValueError(f"run {run.path or ''} has no snapshots to animate")
    if kind == "html" and frames is None:
        frames = HTML_FRAMES
    snaps = [run.snapshots[i] for i in thin(len(run.snapshots), frames)]
    view = RunView(run, member, **(HTML_VIEW if kind == "html" else {}))
    caption = verdict_line(run, member) if verdict else ""
    if kind == "html":
        fig = animation_figure(view, snaps, panels=panels, theme=theme, size=size, fps=fps, progress=progress,
                               caption=caption)
        write_html(fig, out, overwrite)
        if on_frame is not None:
            on_frame(len(snaps), len(snaps))
        return out

    from tqdm.auto import tqdm

    painter = Painter(view, panels, theme, size, caption=bool(caption))
    extra = int(round(hold * fps))
    total = len(snaps) + extra
    try:
        with FrameWriter(out, fps, overwrite, palette=gif_palette(theme) if kind == "gif" else None) as writer, \
                tqdm(total=total, desc=f"animate {out.name}", unit="frame", disable=not progress,
                     leave=False) as bar:
            for i, snap in enumerate(snaps):
                painter.update(view.frame(snap), caption if i == len(snaps) - 1 else "")
                rgb = painter.render()
                writer.write(rgb)
                bar.update()
                if on_frame is not None:
                    on_frame(i + 1, total)
            for j in range(extra):
                writer.write(rgb)
                bar.update()
                if on_frame is not None and (j % 10 == 9 or j == extra - 1):
                    on_frame(len(snaps) + j + 1, total)
    finally:
        painter.close()
    return out


def verdict_line(run, member: int = 0) -> str:
    """The run's outcome with its reason, as the last frame's second title line says it
    ("verdict: mode collapse — 1 of 8 modes present, ..."); '' before any measurement."""
    if not len(run.member_history(member).get("js", ())):
        return ""
    return "verdict: " + verdict_text(classify(run, member))
