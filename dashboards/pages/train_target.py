"""The Train tab's own targets: an uploaded points file, and points drawn on the canvas; either
becomes the tab's 'points' target with the likelihood-rule KDE bandwidth in the form."""

from __future__ import annotations

from dash import Input, Output, State, ctx, html, no_update
from dash.exceptions import PreventUpdate

from toylab import panels as P

from .. import drawing, forms
from .. import ids as I
from .page import Page, callback, with_session


def _said(text) -> tuple:
    """upload's reply when it could not take the file: the words, the form as it was."""
    return html.Span(text, className="message"), no_update, no_update


def _canvas_said(text) -> tuple:
    """draw's reply with only words: the canvas and the form as they were."""
    return no_update, text, no_update, no_update


class TargetPage(Page):
    """The upload's and the canvas's callbacks."""

    @callback(Output(I.UPLOAD_MSG, "children"), Output(I.FIELD.format("dataset"), "value"),
              Output(I.FIELD.format("dataset_params"), "value", allow_duplicate=True),
              Input(I.UPLOAD, "contents"), State(I.UPLOAD, "filename"), State(I.SESSION, "data"),
              prevent_initial_call=True)
    @with_session(_said)
    def upload(self, session, contents, filename):
        try:
            with session.busy:
                session.upload = forms.read_upload(contents, filename, session.dir)   # held here, not in the page
        except ValueError as err:
            return _said(str(err))
        return (html.Span(f"loaded {filename}: target 'points' (its KDE bandwidth chosen by the likelihood rule; "
                          f"edit it in dataset_params) - press Reset", className="ok"), "points",
                forms.upload_params(session.upload))

    @callback(Output(I.DRAW_CANVAS, "figure"), Output(I.DRAW_MSG, "children"),
              Output(I.FIELD.format("dataset"), "value", allow_duplicate=True),
              Output(I.FIELD.format("dataset_params"), "value", allow_duplicate=True),
              Input(I.DRAW_CANVAS, "clickData"), Input(I.DRAW_CANVAS, "relayoutData"),
              Input(I.DRAW_CLEAR, "n_clicks"), Input(I.DRAW_USE, "n_clicks"), Input(I.THEME, "value"),
              Input(I.FIELD.format("dataset_params"), "value"), Input(I.DRAW_MODE, "value"),
              State(I.FIELD.format("dataset"), "value"), State(I.SESSION, "data"), prevent_initial_call=True)
    @with_session(_canvas_said)
    def draw(self, session, click, relayout, _clear, _use, theme, params, mode, dataset):
        """The canvas: a click adds a mode, a stroke adds points along it; Use makes them the
        tab's 'points' target (as an upload, with the likelihood-rule bandwidth in the form)."""
        trigger = ctx.triggered_id
        theme = "light" if theme is None else theme          # (None: not set; anything else is checked)
        mode = "click" if mode is None else mode
        if not forms.is_one_of(theme, P.THEMES):
            return _canvas_said(forms.one_of_message("theme", theme, P.THEMES))
        if not forms.is_one_of(mode, drawing.MODES):
            return _canvas_said(forms.one_of_message("draw mode", mode, drawing.MODES))
        dataset_out = params_out = no_update
        with session.busy:
            try:
                pts = edited(session.drawing, trigger, click, relayout)
            except (ValueError, TypeError) as err:
                return _canvas_said(str(err))
            session.drawing = pts
            n = 0 if pts is None else len(pts)
            h = drawing.bandwidth(pts) if n >= 2 else None
            if h and dataset == "points" and session.upload is not None:
                try:       # the form's bandwidth, once chosen, is what the canvas shows
                    h = float(forms.parse_params(params or "").get("bandwidth", h))
                except (ValueError, TypeError):
                    pass
            if trigger == I.DRAW_USE:
                if n < forms.UPLOAD_MIN_ROWS:
                    return _canvas_said("Draw something first: click to add a mode, or drag to draw a curve.")
                problem = drawing.target_problem(pts)
                if problem:                      # refused here, not at Reset ("could not be read")
                    return _canvas_said(f"This drawing cannot be a target: {problem}. Click to add modes, or "
                                        f"drag to draw a curve, elsewhere too.")
                session.upload = forms.save_points(pts, session.dir)
                dataset_out, params_out = "points", forms.upload_params(session.upload)
        if n == 0:
            text = "Click to add a mode, or choose 'drag' and draw a curve."
        else:
            text = f"{n:,} points · kernel bandwidth h = {h:.3g}" if h else f"{n} point"
            text += (use_message(session.live) if trigger == I.DRAW_USE else " · press 'Use as target'")
        return drawing.canvas_figure(pts, h, P.get_theme(theme), mode), text, dataset_out, params_out


def edited(pts, trigger, click, relayout):
    """The drawing after one canvas event: a click's mode or a stroke's points added, Clear
    emptied (None); a resize or an edit of a drawn shape adds nothing (PreventUpdate)."""
    if trigger == I.DRAW_CANVAS and ctx.triggered_prop_ids.get(f"{I.DRAW_CANVAS}.clickData"):
        x, y = drawing.click_of(click)
        return drawing.add(pts, drawing.click_points(x, y, seed=0 if pts is None else len(pts)))
    if trigger == I.DRAW_CANVAS:
        paths = drawing.strokes_of(relayout)
        if not paths:
            raise PreventUpdate
        for path in paths:
            pts = drawing.add(pts, drawing.stroke_points(path))
        return pts
    return None if trigger == I.DRAW_CLEAR else pts


def use_message(live) -> str:
    """What 'Use as target' did: with no run on screen p_data shows the drawing at once and Start
    trains on it; a run on screen keeps its own target, and Reset starts one on the drawing."""
    if live is None:
        return " · now the 'points' target: p_data shows it; press Start to train on it"
    return (f" · now the 'points' target of the next run: press Reset to train on it (the run on screen "
            f"keeps {live.trainer.cfg.dataset})")
