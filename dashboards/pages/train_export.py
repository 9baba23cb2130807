"""The Train tab's export: the run so far as a GIF, MP4 or standalone HTML animation, with the
CLI's choices (size up to 1080p, theme, fps, panels), sent to the browser and not kept.

It calls toylab.animate, the very function `toylab animate` runs. The drawing (seconds to a
minute at 1080p) runs on a thread of its own, holding the lab's export place for its client
(manager.heavy): the click's request returns at once, and a poll (EXPORT_TICK, every
EXPORT_POLL_MS) says "drawing frame 12 of 40" until the file is sent."""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field

from dash import Input, Output, State, dcc, html, no_update

from toylab import panels as P
from toylab.engine.files import DiskFullError
from toylab.pictures.animation import animate

from .. import forms
from .. import ids as I
from ..sessions import LabBusy
from .page import Page, callback, with_session

EXPORT_FRAMES = {".gif": 40, ".mp4": 100, ".html": None}   # at most (None: animate's own cap, 60)
#: the sizes offered (toylab.panels.SIZES' names): a GIF at 960x540 is a few MB, 1080p for a slide
EXPORT_SIZES = {k: "{}×{}".format(*P.SIZES[k]) for k in ("small", "720p", "1080p")}
EXPORT_FPS = (6, 12, 24, 30)
#: which panels: the ones the page shows, a 2x2 slide (the maps in a square grid), or all nine
EXPORT_PANELS = {"shown": "as shown", "four": "p_model · D · JS · modes (2×2)", "all": "all panels"}
FOUR = ("p_model", "d", "js", "modes")
EXPORT_POLL_MS = 700


def controls():
    """The Export fieldset's components (train_layout places them)."""
    def radio(id_, options, value):
        return dcc.RadioItems(id=id_, options=options, value=value, inline=True, className="export-choice")
    return [
        radio(I.EXPORT_FORMAT, list(EXPORT_FRAMES), ".gif"),
        radio(I.EXPORT_SIZE, [{"label": f"{k} ({v})" if k == "small" else k, "value": k}
                              for k, v in EXPORT_SIZES.items()], "720p"),
        radio(I.EXPORT_THEME, list(P.THEMES), "light"),
        html.Label(["fps ", dcc.Dropdown(id=I.EXPORT_FPS, options=list(EXPORT_FPS), value=12, clearable=False,
                                         style={"width": "80px", "display": "inline-block"})]),
        radio(I.EXPORT_PANELS, [{"label": v, "value": k} for k, v in EXPORT_PANELS.items()], "shown"),
        html.Button("Export", id=I.EXPORT, title="An animation of every snapshot so far"),
        html.Div(id=I.EXPORT_MSG, className="help-text"),
        dcc.Interval(id=I.EXPORT_TICK, interval=EXPORT_POLL_MS, disabled=True),
        dcc.Download(id=I.DOWNLOAD)]


@dataclass
class ExportJob:
    """One export drawing on its thread: its progress, and at the end its file or its problem."""
    out: object
    done: int = 0
    total: int = 0
    error: str | None = None
    finished: threading.Event = field(default_factory=threading.Event)

    def progress(self, done: int, total: int) -> None:
        self.done, self.total = done, total

    def text(self) -> str:
        return f"exporting {self.out.name}: frame {self.done} of {self.total}" if self.total else \
            f"exporting {self.out.name}: preparing"


def choices(fmt, size, theme, fps, which, shown) -> dict:
    """animate's keyword arguments from the page's choices; ValueError naming the field and the
    allowed values for anything else (a client may send any JSON)."""
    for name, value, allowed in (("format", fmt, EXPORT_FRAMES), ("size", size, EXPORT_SIZES),
                                 ("theme", theme, P.THEMES), ("fps", fps, EXPORT_FPS),
                                 ("panels", which, EXPORT_PANELS)):
        if not forms.is_one_of(value, allowed):
            raise ValueError("export: " + forms.one_of_message(name, value, allowed))
    if which == "four":
        panels = FOUR
    elif which == "all":
        panels = None
    else:
        panels = [p for p in shown if p in P.PANELS] if isinstance(shown, list) else []
    return dict(panels=panels or None, theme=theme, size=size, fps=fps, frames=EXPORT_FRAMES[fmt])


def _said(text) -> tuple:
    return text, no_update


def _poll_said(text) -> tuple:
    return no_update, text, True


class ExportPage(Page):
    """The Export button's callback and its progress poll; `jobs`: each tab's export (by session
    id) in progress or done."""

    def __init__(self, manager, runs_dir="runs"):
        super().__init__(manager, runs_dir)
        self.jobs: dict[str, ExportJob] = {}
        self.lock = threading.Lock()

    @callback(Output(I.EXPORT_MSG, "children"), Output(I.EXPORT_TICK, "disabled"),
              Input(I.EXPORT, "n_clicks"), State(I.EXPORT_FORMAT, "value"), State(I.EXPORT_SIZE, "value"),
              State(I.EXPORT_THEME, "value"), State(I.EXPORT_FPS, "value"), State(I.EXPORT_PANELS, "value"),
              State(I.SHOWN, "value"), State(I.SESSION, "data"), prevent_initial_call=True)
    @with_session(_said)
    def export(self, session, _n, fmt, size, theme, fps, which, shown):
        try:
            kwargs = choices(fmt, size, theme, fps, which, shown)
        except ValueError as err:
            return str(err), no_update
        with self.lock:
            job = self.jobs.get(session.id)
            if job is not None and not job.finished.is_set():
                return job.text() + " (one export at a time)", False
        live = session.live
        if live is None or len(live.snapshot_run().snapshots) < 1:
            return "Train first: there is nothing to export yet.", True
        run = live.snapshot_run()                     # the run as it is now: training goes on meanwhile
        out = session.dir / f"{run.config.dataset}-step{run.step}-{int(time.time())}{fmt}"
        place = contextlib.ExitStack()
        try:
            place.enter_context(self.manager.heavy(session.client))    # held until the drawing ends
        except LabBusy as err:
            return str(err), True
        job = ExportJob(out)
        with self.lock:
            self.jobs[session.id] = job
        threading.Thread(target=_draw, args=(job, run, session, kwargs, place), name="export", daemon=True).start()
        return job.text(), False

    @callback(Output(I.DOWNLOAD, "data"), Output(I.EXPORT_MSG, "children", allow_duplicate=True),
              Output(I.EXPORT_TICK, "disabled", allow_duplicate=True),
              Input(I.EXPORT_TICK, "n_intervals"), State(I.SESSION, "data"), prevent_initial_call=True)
    @with_session(_poll_said)
    def poll(self, session, _n):
        """The export's progress; once done, its file sent to this tab (only) and forgotten."""
        with self.lock:
            job = self.jobs.get(session.id)
            if job is None:
                return no_update, no_update, True
            if not job.finished.is_set():
                return no_update, job.text(), False
            del self.jobs[session.id]
        return send(job)


def _draw(job: ExportJob, run, session, kwargs, place):
    """The drawing, on its own thread: toylab.animate with the page's choices; a problem is kept
    in the job's words (never a server path); the lab's export place freed at the end."""
    try:
        session.dir.mkdir(parents=True, exist_ok=True)
        animate(run, job.out, progress=False, on_frame=job.progress, **kwargs)
    except ValueError as err:
        job.error = str(err)
    except DiskFullError:                         # (the writer's own message names a server path)
        job.error = "export: the server's disk is full; nothing was kept - try again later, or ask the host"
    except Exception:                             # noqa: BLE001 - its words may name server paths: not sent
        job.error = "export: the animation could not be written on the server; try again, or ask the host"
    finally:
        place.close()
        job.finished.set()


def send(job: ExportJob):
    """(download, message, tick disabled) for a finished job; the file is read into the answer and
    removed: it is not kept."""
    try:
        if job.error:
            return no_update, job.error, True
        size = job.out.stat().st_size
        return dcc.send_file(str(job.out)), f"exported {job.out.name} ({size / 1e6:.1f} MB)", True
    except OSError:
        return no_update, "export: the animation could not be read back on the server; try again", True
    finally:
        job.out.unlink(missing_ok=True)
