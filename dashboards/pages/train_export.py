"""The Train tab's export: the run so far as a GIF, MP4 or standalone HTML animation
(toylab.animate), sent to the browser and not kept."""

from __future__ import annotations

import time

from dash import Input, Output, State, dcc, no_update

from toylab import panels as P
from toylab.engine.files import DiskFullError
from toylab.pictures.animation import animate

from .. import forms
from .. import ids as I
from ..sessions import LabBusy, SessionError

EXPORT_FRAMES = {".gif": 40, ".mp4": 100, ".html": None}   # at most (None: animate's own cap, 60)


def register(app, manager, client):
    """The Export button's callback; client() names the request's client."""

    @app.callback(Output(I.DOWNLOAD, "data"), Output(I.EXPORT_MSG, "children"),
                  Input(I.EXPORT, "n_clicks"), State(I.EXPORT_FORMAT, "value"), State(I.THEME, "value"),
                  State(I.SHOWN, "value"), State(I.SESSION, "data"), prevent_initial_call=True)
    def export(_n, fmt, theme, shown, sid):
        try:
            session = manager.get(sid, client())
        except SessionError as err:
            return no_update, str(err)
        if not forms.is_one_of(fmt, EXPORT_FRAMES):
            return no_update, "export: " + forms.one_of_message("format", fmt, EXPORT_FRAMES)
        if not forms.is_one_of(theme, P.THEMES):
            return no_update, "export: " + forms.one_of_message("theme", theme, P.THEMES)
        shown = [p for p in shown if p in P.PANELS] if isinstance(shown, list) else []
        if not session.busy.acquire(blocking=False):
            return no_update, "export: this tab is still busy with its previous request"
        try:
            with manager.heavy(session.client):
                return _export(session, fmt, theme, shown)
        except LabBusy as err:
            return no_update, str(err)
        finally:
            session.busy.release()

    def _export(session, fmt, theme, shown):
        live = session.live
        if live is None or len(live.snapshot_run().snapshots) < 1:
            return no_update, "Train first: there is nothing to export yet."
        run = live.snapshot_run()
        out = session.dir / f"{run.config.dataset}-step{run.step}-{int(time.time())}{fmt}"
        try:
            session.dir.mkdir(parents=True, exist_ok=True)
            animate(run, out, panels=shown or None, theme=theme, size="small" if fmt == ".gif" else "720p",
                    frames=EXPORT_FRAMES[fmt], progress=False)
            sent = dcc.send_file(str(out))            # read into the answer: the file is not kept
            return sent, f"exported {out.name} ({out.stat().st_size / 1e6:.1f} MB)"
        except ValueError as err:
            return no_update, str(err)
        except DiskFullError:                         # (the writer's own message names a server path)
            return no_update, "export: the server's disk is full; nothing was kept - try again later, or ask the host"
        except OSError:                               # (its words may name server paths: not sent)
            return no_update, "export: the animation could not be written on the server; try again, or ask the host"
        finally:
            out.unlink(missing_ok=True)
