"""The Train tab: the form, Start / Pause / Step / Reset, the panels, the time slider, export."""

from __future__ import annotations

import math
import time

from dash import ClientsideFunction, Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from toylab import panels as P
from toylab.pictures.figures import panel_figure

from .. import forms
from .. import ids as I
from ..sessions import LabBusy, SessionError

TICK_MS = 400           # how often the page asks for new snapshots while training
PLAY_MS = 120           # playback speed: one snapshot per tick
GRAPH_HEIGHT = 320
EXPORT_FRAMES = {".gif": 40, ".mp4": 100, ".html": None}   # at most (None: animate's own cap, 60)


def _field(name: str):
    choices = forms.choices(name)
    value = forms.default(name)
    if name == "dataset_params":
        value = forms.default_params(forms.default("dataset"))
    if choices:
        control = dcc.Dropdown(id=I.FIELD.format(name), options=choices, value=value, clearable=False)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        control = dcc.Input(id=I.FIELD.format(name), type="number", value=value, debounce=True,
                            step="any" if isinstance(value, float) else 1)
    else:
        control = dcc.Input(id=I.FIELD.format(name), type="text", value=value, debounce=True)
    return html.Div(className="field", children=[
        html.Label(name, htmlFor=I.FIELD.format(name), title=forms.HELP.get(name, "")),
        control,
        html.Div(id=I.ERROR.format(name), className="field-error"),
    ])


def sidebar():
    groups = [html.Fieldset([html.Legend(g), *[_field(f) for f in fields]]) for g, fields in forms.GROUPS.items()]
    upload = dcc.Upload(id=I.UPLOAD, max_size=forms.UPLOAD_MAX_BYTES, multiple=False,
                        children=html.Div(["Upload your own points (.csv/.npy, x,y columns)"]),
                        style={"border": "1px dashed #999", "borderRadius": "6px", "padding": "6px",
                               "textAlign": "center", "cursor": "pointer", "fontSize": "12px"})
    return html.Div(className="sidebar", children=[
        html.Div(className="buttons", children=[
            html.Button("▶ Start", id=I.START, title="Train (or continue) in the background"),
            html.Button("❚❚ Pause", id=I.PAUSE, title="Stop after the current round; edit and continue"),
            html.Button("Reset", id=I.RESET, title="Stop and start over with the form's settings"),
        ]),
        html.Div(className="buttons", children=[
            html.Button("D step", id=I.STEP_D, title="One discriminator update (while paused)"),
            html.Button("G step", id=I.STEP_G, title="One generator update (while paused)"),
            html.Button("Round", id=I.STEP_ROUND, title="d_steps D updates then g_steps G updates"),
        ]),
        html.Div(id=I.STATUS, className="status", children="ready"),
        html.Div(id=I.MESSAGE, className="message"),
        html.P("While paused, learning rates, steps per round, update order and the objective can be changed "
               "and training continues with them; other fields take effect on Reset.", className="help-text"),
        *groups[:1], upload, html.Div(id=I.UPLOAD_MSG, className="message"), *groups[1:],
        html.Fieldset([html.Legend("Export the run"),
                       dcc.RadioItems(id=I.EXPORT_FORMAT, options=[".gif", ".mp4", ".html"], value=".gif",
                                      inline=True),
                       html.Button("Export", id=I.EXPORT, title="An animation of every snapshot so far"),
                       html.Div(id=I.EXPORT_MSG, className="help-text"),
                       dcc.Download(id=I.DOWNLOAD)]),
    ])


def main_area():
    boxes = [html.Div(id=I.PANEL_BOX.format(p), className="panel", children=[
        dcc.Graph(id=I.GRAPH.format(p), config={"displaylogo": False, "displayModeBar": False},
                  style={"height": f"{GRAPH_HEIGHT}px"}),
        html.Div(P.HELP[p], className="help")]) for p in P.PANELS]
    return html.Div(children=[
        html.Div(className="timebar", children=[
            html.Button("▶ Play", id=I.PLAY, title="Play the snapshots back from the slider's position"),
            # positions are snapshots; the tooltip names the training step (assets/steps.js), and
            # there is no box for a snapshot number (the status line says "showing step N")
            dcc.Slider(id=I.SLIDER, min=0, max=0, step=1, value=0, marks=None, allow_direct_input=False,
                       tooltip={"placement": "bottom", "always_visible": False, "transform": "toylabStep"},
                       updatemode="drag", className="time-slider"),
        ]),
        html.Div(className="buttons", children=[
            dcc.Checklist(id=I.SHOWN, options=[{"label": P.TITLES[p], "value": p} for p in P.PANELS],
                          value=list(P.PANELS), inline=True, inputStyle={"marginRight": "3px"},
                          labelStyle={"marginRight": "10px"}),
            dcc.RadioItems(id=I.THEME, options=list(P.THEMES), value="light", inline=True),
        ]),
        html.Div(className="panels", children=boxes),
        dcc.Interval(id=I.TICK, interval=TICK_MS, disabled=False),
        dcc.Store(id=I.DRAWN),
        dcc.Interval(id=I.PLAY_TICK, interval=PLAY_MS, disabled=True),
        dcc.Store(id=I.VERSION, data=0),
    ])


def layout():
    return html.Div(className="layout", children=[sidebar(), main_area()])


FIELD_INPUTS = [State(I.FIELD.format(f), "value") for f in forms.FIELDS]


def register(app, manager, runs_dir="runs"):
    """The Train tab's callbacks; `manager` holds the sessions, `runs_dir` the host's saved runs."""
    from ..app import client

    @app.callback(Output(I.FIELD.format("dataset_params"), "value"),
                  Input(I.FIELD.format("dataset"), "value"), prevent_initial_call=True)
    def fill_params(name):
        if name == "points":
            return no_update          # the upload fills it
        return forms.default_params(name)

    @app.callback(
        Output(I.MESSAGE, "children"), Output(I.VERSION, "data"),
        *[Output(I.ERROR.format(f), "children") for f in forms.FIELDS],
        Input(I.START, "n_clicks"), Input(I.PAUSE, "n_clicks"), Input(I.RESET, "n_clicks"),
        Input(I.STEP_D, "n_clicks"), Input(I.STEP_G, "n_clicks"), Input(I.STEP_ROUND, "n_clicks"),
        State(I.SESSION, "data"), State(I.VERSION, "data"), *FIELD_INPUTS,
        prevent_initial_call=True)
    def control(_s, _p, _r, _d, _g, _round, sid, version, *values):
        version = version + 1 if isinstance(version, int) else 0
        try:
            session = manager.get(sid, client())
        except SessionError as err:
            return str(err), version, *[""] * len(forms.FIELDS)
        form = dict(zip(forms.FIELDS, values))
        cfg, errors, general = forms.build_config(form, upload=session.upload, runs_dir=runs_dir)
        field_errors = [errors.get(f, "") for f in forms.FIELDS]
        if cfg is None:
            return general or "Fix the fields marked in red; nothing was run.", version, *field_errors
        action = ctx.triggered_id
        with session.lock:
            if session.closed:
                return "This tab's session has ended; reload the page.", version, *field_errors
            live = session.live
            try:
                if action == I.START and (live is None or not (live.running or manager.place(live))):
                    manager.slots.check()          # refused before a run is even built
                if action == I.RESET or live is None:
                    if live is not None:
                        manager.discard(live)
                    from ..sessions import LiveRun
                    session.live = live = LiveRun(cfg)
                    if action == I.RESET:
                        return "", version, *field_errors
                if action == I.PAUSE:
                    manager.pause(session)
                    return "", version, *field_errors
                if manager.place(live):
                    return ("This run is waiting for a free slot; press Pause to leave the queue first.",
                            version, *field_errors)
                if not live.running:
                    changes = _changes(live.trainer.cfg, cfg)
                    live.total = changes.pop("steps", live.total)         # train further (or less far)
                    needs_reset = [k for k in changes if k not in forms.LIVE_FIELDS]
                    if needs_reset:
                        return (f"Changed {', '.join(needs_reset)}: press Reset to start a new run with them "
                                f"(only {', '.join(forms.LIVE_FIELDS)} change a paused run).",
                                version, *field_errors)
                    if changes:
                        live.retune(**changes)
                if action == I.START:
                    place = manager.start(session)
                    if place:
                        return (f"The lab is busy: {len(manager.slots)} runs in progress; this run waits in "
                                f"line (place {place}) and starts by itself.", version, *field_errors)
                elif action in (I.STEP_D, I.STEP_G, I.STEP_ROUND):
                    live.step({I.STEP_D: "d", I.STEP_G: "g", I.STEP_ROUND: "round"}[action])
            except (RuntimeError, LabBusy) as err:
                return str(err), version, *field_errors
        return "", version, *field_errors

    graph_outputs = [Output(I.GRAPH.format(p), "figure") for p in P.PANELS]

    @app.callback(
        *graph_outputs, Output(I.STATUS, "children"), Output(I.SLIDER, "max"), Output(I.SLIDER, "value"),
        Output(I.SLIDER, "marks"), Output(I.PLAY_TICK, "disabled"), Output(I.PLAY, "children"), Output(I.DRAWN, "data"),
        Input(I.TICK, "n_intervals"), Input(I.PLAY_TICK, "n_intervals"), Input(I.SLIDER, "value"),
        Input(I.SHOWN, "value"), Input(I.THEME, "value"), Input(I.VERSION, "data"), Input(I.PLAY, "n_clicks"),
        Input(I.FIELD.format("dataset"), "value"), Input(I.FIELD.format("dataset_params"), "value"),
        State(I.SESSION, "data"), State(I.PLAY_TICK, "disabled"), State(I.DRAWN, "data"))
    def update(_tick, _play_tick, index, shown, theme, _version, _play, dataset, params, sid, play_off, drawn):
        try:
            session = manager.get(sid, client())        # also the heartbeat that keeps the session
        except SessionError as err:
            return (*[no_update] * len(P.PANELS), str(err), no_update, no_update, no_update, True, "▶ Play", no_update)
        live = session.live
        trigger = ctx.triggered_id
        playing = not play_off
        if trigger == I.PLAY:
            playing = not playing
        theme = theme if theme in P.THEMES else "light"
        if live is None:
            # p_data is known before training: drawn until the page's own record says it has it
            # (a tick may overtake the first reply, which the browser then drops)
            key = {"preview": [dataset, params, theme]}
            if trigger == I.TICK and drawn == key:
                raise PreventUpdate
            preview = target_preview(dataset, params, theme)
            return (*[preview if p == "p_data" and preview else _empty(p, theme) for p in P.PANELS],
                    "ready: press Start", 0, 0, {}, True, "▶ Play", key)
        if trigger in (I.FIELD.format("dataset"), I.FIELD.format("dataset_params")):
            raise PreventUpdate                      # editing the form changes the run on Start/Reset

        # the request's values are the client's: kept to what the page can send
        shown = [p for p in shown if p in P.PANELS] if isinstance(shown, list) else []
        index = int(index) if isinstance(index, (int, float)) and not isinstance(index, bool) \
            and math.isfinite(index) else None
        run = live.snapshot_run()
        n = len(run.snapshots)
        asked = index
        # which snapshot to show: while training, the newest; once stopped, the page's own slider
        # compared with the page's record of what it drew (DRAWN), so a reply that arrives late
        # or is dropped can neither undo a scrub nor leave it undrawn (live.pinned serves the
        # control actions: a step by hand shows the newest, a scrub survives a Start click)
        if trigger == I.SLIDER:
            live.pinned = None if (index is None or index >= n - 1) else int(index)
        if trigger == I.PLAY_TICK:
            index = (index or 0) + 1
            if index >= n - 1:
                index, playing = n - 1, False
            live.pinned = None if index >= n - 1 else index
        elif trigger == I.PLAY and playing and (index or 0) >= n - 1:
            index = live.pinned = 0                      # play from the start
        elif trigger != I.SLIDER:
            drawn_index = drawn.get("index") if isinstance(drawn, dict) else None
            following = isinstance(drawn, dict) and drawn.get("following", False)
            if live.running or trigger == I.VERSION or asked is None or drawn_index is None:
                index = n - 1 if live.running or live.pinned is None else live.pinned   # follow, or stay put
            elif asked != drawn_index or not following:
                index = asked        # stopped: the page's slider is the user's choice, however late this reply
            else:
                index = n - 1        # the page was showing the newest: keep showing the newest
        index = min(max(int(index or 0), 0), n - 1)
        snap = run.snapshots[index]
        place = manager.place(live)
        step, state = live.progress()               # one reading: the round and the state, now
        if place:
            state = f"waiting for a free slot (place {place}; {len(manager.slots)} runs in progress)"
        status = f"{run.config.dataset} · step {step:,} / {live.total:,} · {state}"
        if index != n - 1:
            status += f" · showing step {snap.step:,}"
        if live.error:
            status += f" · {live.error}"
        # what the page has drawn is the page's own record (DRAWN), written only by replies it
        # received: a reply the browser dropped (a newer request of this callback overtook it)
        # leaves the record as it was, so the next tick draws again instead of "nothing new"
        key = [id(live), live.version, index, sorted(shown), theme]
        drawn = drawn if isinstance(drawn, dict) else {}
        record = {"key": key, "status": status, "index": index, "following": index == n - 1,
                  "steps": [int(s.step) for s in run.snapshots]}
        if trigger == I.TICK and drawn.get("key") == key and index == asked:
            if status == drawn.get("status"):
                raise PreventUpdate                      # nothing new: keep the page still
            return (*[no_update] * len(P.PANELS), status, no_update, no_update, no_update, no_update, no_update,
                    record)                              # only the words changed (a place in the queue)
        figs = figures_for(live, run, index, shown, theme)
        marks = {0: str(run.snapshots[0].step), n - 1: f"{run.snapshots[-1].step:,}"} if n > 1 else {}
        moved = index if index != asked else no_update  # the slider moves only when the server moves it
        return (*figs, status, n - 1, moved, marks, not playing, "❚❚ Pause" if playing else "▶ Play", record)

    # the slider's tooltip reads the snapshots' steps from the page's record (assets/steps.js)
    app.clientside_callback(ClientsideFunction("toylab", "keepSteps"), Output(I.SLIDER, "className"),
                            Input(I.DRAWN, "data"))

    @app.callback(*[Output(I.PANEL_BOX.format(p), "style") for p in P.PANELS], Input(I.SHOWN, "value"))
    def toggle(shown):
        return [{} if p in (shown or []) else {"display": "none"} for p in P.PANELS]

    @app.callback(Output(I.UPLOAD_MSG, "children"), Output(I.FIELD.format("dataset"), "value"),
                  Output(I.FIELD.format("dataset_params"), "value", allow_duplicate=True),
                  Input(I.UPLOAD, "contents"), State(I.UPLOAD, "filename"), State(I.SESSION, "data"),
                  prevent_initial_call=True)
    def upload(contents, filename, sid):
        try:
            session = manager.get(sid, client())
            with session.busy:
                session.upload = forms.read_upload(contents, filename, session.dir)   # held here, not in the page
        except ValueError as err:
            return html.Span(str(err), className="message"), no_update, no_update
        return (html.Span(f"loaded {filename}: target 'points' (its KDE bandwidth chosen by the likelihood rule; "
                          f"edit it in dataset_params) - press Reset", className="ok"), "points",
                forms.upload_params(session.upload))

    @app.callback(Output(I.DOWNLOAD, "data"), Output(I.EXPORT_MSG, "children"),
                  Input(I.EXPORT, "n_clicks"), State(I.EXPORT_FORMAT, "value"), State(I.THEME, "value"),
                  State(I.SHOWN, "value"), State(I.SESSION, "data"), prevent_initial_call=True)
    def export(_n, fmt, theme, shown, sid):
        try:
            session = manager.get(sid, client())
        except SessionError as err:
            return no_update, str(err)
        if fmt not in (".gif", ".mp4", ".html") or theme not in P.THEMES:
            return no_update, "export: the format must be .gif, .mp4 or .html and the theme light or dark"
        shown = [p for p in shown if p in P.PANELS] if isinstance(shown, list) else []
        if not session.busy.acquire(blocking=False):
            return no_update, "export: this tab is still busy with its previous request"
        try:
            return _export(session, fmt, theme, shown)
        finally:
            session.busy.release()

    def _export(session, fmt, theme, shown):
        from toylab import animate
        live = session.live
        if live is None or len(live.snapshot_run().snapshots) < 1:
            return no_update, "Train first: there is nothing to export yet."
        run = live.snapshot_run()
        out = session.dir / f"{run.config.dataset}-step{run.step}-{int(time.time())}{fmt}"
        session.dir.mkdir(parents=True, exist_ok=True)
        try:
            animate(run, out, panels=shown or None, theme=theme, size="small" if fmt == ".gif" else "720p",
                    frames=EXPORT_FRAMES[fmt], progress=False)
            sent = dcc.send_file(str(out))            # read into the answer: the file is not kept
            return sent, f"exported {out.name} ({out.stat().st_size / 1e6:.1f} MB)"
        except ValueError as err:
            return no_update, str(err)
        finally:
            out.unlink(missing_ok=True)


def figures_for(live, run, index: int, shown, theme) -> list:
    """The panels' figures at snapshot `index` (no_update for hidden panels)."""
    view = live.view(run)
    frame = view.frame(run.snapshots[index])
    return [panel_figure(view, frame, p, theme, height=GRAPH_HEIGHT) if p in shown else no_update
            for p in P.PANELS]


def target_preview(dataset, params, theme: str):
    """The p_data panel of the form's target before any training (a figure dict), or None where
    the form does not name a valid built-in target (an upload shows once trained)."""
    import numpy as np

    from toylab.engine.runs import Run

    if not isinstance(dataset, str) or dataset == "points":
        return None
    try:
        cfg, _, _ = forms.build_config({"dataset": dataset, "dataset_params": params or ""})
    except (ValueError, TypeError):
        return None
    if cfg is None:                  # the form's own checks (and limits) refused it
        return None
    view = P.RunView(Run(configs=[cfg]), n_points=0)
    empty = np.zeros((0, 2))
    frame = P.Frame(step=0, fake=empty, p_model=np.zeros_like(view.p_data), d=np.full((2, 2), np.nan),
                    d_star=np.full_like(view.p_data, np.nan), manifold=np.zeros((2, 2, 2)), grad=empty,
                    bandwidth=float("nan"))
    return panel_figure(view, frame, "p_data", theme, height=GRAPH_HEIGHT)


def _empty(panel, theme: str = "light"):
    """A panel with nothing to show yet, in the theme's colours."""
    import plotly.graph_objects as go
    t = P.get_theme(theme)
    fig = go.Figure()
    fig.update_layout(title=P.TITLES[panel], xaxis_visible=False, yaxis_visible=False, font_color=t.fg,
                      margin=dict(l=10, r=10, t=40, b=10), plot_bgcolor=t.bg, paper_bgcolor=t.bg)
    return fig


def _changes(old, new) -> dict:
    """Fields whose values differ between two configs."""
    a, b = old.model_dump(), new.model_dump()
    return {k: getattr(new, k) for k in b if a[k] != b[k]}

