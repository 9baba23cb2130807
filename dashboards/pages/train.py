"""The Train tab: Start / Pause / Step / Reset, live edits and presets, the panels at the
slider's snapshot, playback and the presentation view (TrainPage's callbacks). Its page is
train_layout's; the upload and the drawing canvas are train_target's, the export train_export's."""

from __future__ import annotations

import math
import time
from bisect import bisect_right

import numpy as np
import plotly.graph_objects as go

from dash import ClientsideFunction, Input, Output, State, ctx, html, no_update
from dash.exceptions import PreventUpdate

from toylab import panels as P
from toylab.engine.runs import Run
from toylab.experiments.presets import PRESETS
from toylab.measure.outcomes import verdict_text
from toylab.pictures.plotly_figures import panel_figure
from toylab.pictures.layered import LAYER_TITLES, check_layers, layered_figure

from .. import forms
from .. import ids as I
from ..live import POINTS_DRAWN, LiveRun
from ..sessions import LabBusy, SessionError
from . import train_export, train_target
from .page import Page, callback, with_session
from .train_layout import (CURVE_HEIGHT, GRAPH_HEIGHT, GRAPHS, LAYERED_HEIGHT, OVERTAKEN_MAX_MS, POLL_MAX_MS,
                           POLL_PER_RUN_MS, SPEEDS, TICK_MS, VIEWS, layout)  # noqa: F401  (layout: the app's)

#: the presentation view: at most four panels (these when the page shows none or more than four),
#: each filling its box, with fonts this much larger (legible from the back of a lecture hall)
PRESENT_MAX = 4
PRESENT_DEFAULT = ("p_model", "d", "js", "modes")
PRESENT_FONT = 1.6
#: the layered view: the map with these curves beside it (presenting: the first two)
LAYERED_CURVES = ("js", "modes", "losses")


FIELD_INPUTS = [State(I.FIELD.format(f), "value") for f in forms.FIELDS]
#: the fields a running run takes at once (a paused one on Start): the toast waits for Start then
LIVE_FIELD_IDS = {I.FIELD.format(f) for f in forms.FIELDS if f in forms.LIVE_FIELDS or f == "steps"}
PRESET_KEYS = [*PRESETS, "defaults"]


def toast(text: str | None):
    """A toast's content: a new key each time, so that it fades in (and out) again (style.css)."""
    return None if not text else html.Div(text, className="toast-body", key=f"{time.monotonic_ns()}")


def step_message(what: str, before: int, after: int) -> str:
    """What a step by hand did: "D step: one update of D at round 1,203 (a round is D's and G's
    updates: the count stays 1,203)", "Round: step 1,203 → 1,204"."""
    if what == "round":
        return f"Round: step {before:,} → {after:,}; the panels show it."
    who = what.upper()
    return (f"{who} step: one update of {who} at round {after:,} (only a whole round counts, so the step "
            f"stays {after:,}); the panels show it.")


def edit_message(now: dict, total, later: dict, cfg, step: int) -> str:
    """The toast after an edit: what changed the run and from which round; what waits for Reset,
    with the value the run keeps ("g_hidden = 128 takes effect on Reset (a new run); this run keeps 64")."""
    done = [f"{k} = {v:,}" if isinstance(v, int) else f"{k} = {v}"
            for k, v in {**now, **({"steps": total} if total is not None else {})}.items() if k != "metrics_every"]
    parts = [f"Changed {', '.join(done)} from round {step:,} on." if done else ""]
    for k, v in later.items():
        parts.append(f"{k} = {_shown(v)} takes effect on Reset (a new run); this run keeps {_shown(getattr(cfg, k))}.")
    return " ".join(p for p in parts if p)


def _shown(v) -> str:
    return ",".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)


def pace(ticks, most, poll: bool, ms: int) -> dict:
    """What a reply of `update` tells the page's poll timer (read by the clientside pacing): re-arm
    one past `ticks`, wait `ms`; `overtook`: the reply is a click's (not a poll's) sent while the
    timer was spent (ticks >= max_intervals), so a poll was in flight and the browser will drop
    its reply - the next poll then waits for that one to end on the server. `at` makes each
    reply a new value (the clientside callback runs once per reply)."""
    ticks = ticks if isinstance(ticks, int) and not isinstance(ticks, bool) and ticks >= 0 else 0
    spent = isinstance(most, int) and not isinstance(most, bool) and ticks >= most
    return {"tick": ticks, "ms": ms, "poll": poll, "overtook": spent and not poll, "at": time.monotonic_ns()}


def poll_interval(seconds: float, training: int) -> int:
    """The page's wait (ms) between a reply and its next poll: TICK_MS on a quiet server, longer
    the more runs train (POLL_PER_RUN_MS each: 30 runs, ~1 s) and when a reply took the server
    long (1.5x its time); at most POLL_MAX_MS. A class's polls then cost the server about one
    request a second a page, whose Python would otherwise take the training threads' turns."""
    return int(min(POLL_MAX_MS, max(TICK_MS, POLL_PER_RUN_MS * training, 1500 * seconds)) // 50 * 50)


def _form_config(form: dict, preset, session, runs_dir):
    """forms.build_config of the form, with the fields a preset adds off the form: the page holds
    the preset's name only, the fields are the server's own (an unknown name raises ValueError)."""
    base = forms.preset_form(preset)[1] if preset else {}
    return forms.build_config(form, base, upload=session.upload, runs_dir=runs_dir)


def presented(shown, presenting: bool) -> list[str]:
    """The panels drawn: the page's choice (valid names only); presenting, 1-4 of them, or
    PRESENT_DEFAULT when the page shows none or more than PRESENT_MAX."""
    shown = [p for p in P.PANELS if isinstance(shown, list) and p in shown]
    if presenting and not 1 <= len(shown) <= PRESENT_MAX:
        return list(PRESENT_DEFAULT)
    return shown


def visible(view_mode, shown, presenting: bool) -> list[str]:
    """The graphs drawn (names in GRAPHS): the layered view's map and its curves (LAYERED_CURVES;
    presenting, the first two), or the grid's panels (`presented`)."""
    if view_mode != "grid":
        return ["layered", *LAYERED_CURVES[: 2 if presenting else 3]]
    return presented(shown, presenting)


def choose_snapshot(steps: list[int], held: int | None, slider, action: str) -> tuple[int, int | None]:
    """Which snapshot the page shows while the run trains, and the step the view holds after
    (None: it follows the newest). steps: the snapshots' steps, ascending; held: the step the view
    held; slider: the slider's position; action: "scrub" (the user moved the slider), "live" (the
    "● live" button) or "poll". A scrub holds its snapshot - the view pauses, not the run - until
    "● live" or a scrub to the far right; the hold is kept by step, so a snapshot thinned away
    while training shows the newest one before it."""
    last = len(steps) - 1
    if action == "live":
        return last, None
    if action == "scrub":
        if not isinstance(slider, (int, float)) or isinstance(slider, bool) or not math.isfinite(slider) \
                or slider >= last:
            return last, None
        index = max(0, int(slider))
        return index, steps[index]
    if held is None:
        return last, None
    return max(bisect_right(steps, held) - 1, 0), held


def figures_for(view, frame, shown, theme, presenting: bool = False, layers=None) -> list:
    """The graphs' figures at one frame (no_update for hidden ones; in GRAPHS' order); presenting,
    each fills its box (no fixed height) with fonts PRESENT_FONT times larger. The layered map
    is toylab's layered_figure with `layers`."""
    size = dict(height=None, font_scale=PRESENT_FONT) if presenting else dict(height=GRAPH_HEIGHT)
    out = []
    for p in GRAPHS:
        if p not in shown:
            out.append(no_update)
        elif p == "layered":
            layers = check_layers(layers)
            title = " · ".join(LAYER_TITLES[k] for k in layers) or "layers: none chosen"
            out.append(layered_figure(view, frame, theme, layers, title=title,
                                      **(size if presenting else dict(height=LAYERED_HEIGHT))))
        else:
            curve = "layered" in shown and not presenting        # beside the map: three to its height
            out.append(panel_figure(view, frame, p, theme, **(dict(height=CURVE_HEIGHT) if curve else size)))
    return out


def headline(view, frame, verdict) -> str:
    """The presentation view's status line: "ring8 · non-saturating GAN · step 3,200 · JS 0.41 ±
    0.01 · modes 6/8 · mode collapse — 6 of 8 modes present, ..." (the Outcome from
    toylab.outcomes, when there is one, said by verdict_text)."""
    text = view.title(frame)
    return f"{text}  ·  {verdict_text(verdict)}" if verdict else text


def _stamp(path) -> int | None:
    """When the tab's points file was last written (a new drawing is drawn again), None: none."""
    try:
        return path.stat().st_mtime_ns if path is not None else None
    except OSError:
        return None


def target_preview(dataset, params, theme: str, presenting: bool = False, upload=None):
    """The p_data panel of the form's target before any training (a figure dict), or None where
    the form does not name a valid target ('points': the tab's own upload or drawing, `upload`)."""
    drawn = preview_frame(dataset, params, upload)
    return None if drawn is None else figures_for(*drawn, ["p_data"], theme, presenting)[GRAPHS.index("p_data")]


def preview_frame(dataset, params, upload=None):
    """(view, frame) of the form's target before any training: p_data and its real samples, no
    generator yet; None where the form does not name a valid target (as target_preview)."""
    if not isinstance(dataset, str) or (dataset == "points" and upload is None):
        return None
    try:
        cfg, _, _ = forms.build_config({"dataset": dataset, "dataset_params": params or ""}, upload=upload)
    except (ValueError, TypeError):
        return None
    if cfg is None:                  # the form's own checks (and limits) refused it
        return None
    view = P.RunView(Run(configs=[cfg]), n_points=POINTS_DRAWN)
    empty = np.zeros((0, 2))
    frame = P.Frame(step=0, fake=empty, d=np.full((2, 2), np.nan), manifold=np.zeros((2, 2, 2)), grad=empty,
                    densities=lambda: (np.zeros_like(view.p_data), np.full_like(view.p_data, np.nan), math.nan))
    return view, frame


def _empty(panel, theme: str = "light"):
    """A panel with nothing to show yet, in the theme's colours."""
    t = P.get_theme(theme)
    fig = go.Figure()
    fig.update_layout(title=P.TITLES.get(panel, "layers"), xaxis_visible=False, yaxis_visible=False, font_color=t.fg,
                      margin=dict(l=10, r=10, t=40, b=10), plot_bgcolor=t.bg, paper_bgcolor=t.bg)
    return fig


def _changes(old, new) -> dict:
    """Fields whose values differ between two configs."""
    a, b = old.model_dump(), new.model_dump()
    return {k: getattr(new, k) for k in b if a[k] != b[k]}


def _field_errors(errors: dict | None = None) -> list:
    return [(errors or {}).get(f, "") for f in forms.FIELDS]


def _said(text) -> tuple:
    """control's reply: the message, a new VERSION (every control action redraws), the fields' errors."""
    return text, time.monotonic_ns(), *_field_errors()


def _unchanged(text) -> tuple:
    """draw's reply when it cannot draw: the words in the status and the headline, nothing else."""
    return (*[no_update] * len(GRAPHS), text, text, *[no_update] * 5)


STEPS = {I.STEP_D: "d", I.STEP_G: "g", I.STEP_ROUND: "round"}


class TrainPage(Page):
    """The Train tab's server side: the form and its buttons, live edits, presets, and the panels
    at the slider's snapshot (update/draw), each callback reaching the tab's session through
    with_session."""

    @callback(Output(I.FIELD.format("dataset_params"), "value"),
              Input(I.FIELD.format("dataset"), "value"), prevent_initial_call=True)
    def fill_params(self, name):
        if name == "points" or not forms.is_one_of(name, forms.choices("dataset")):
            return no_update          # the upload fills it (a name that is no target: Start names the field)
        return forms.default_params(name)

    @callback(Output(I.MESSAGE, "children"), Output(I.VERSION, "data"),
              *[Output(I.ERROR.format(f), "children") for f in forms.FIELDS],
              Input(I.START, "n_clicks"), Input(I.PAUSE, "n_clicks"), Input(I.RESET, "n_clicks"),
              Input(I.STEP_D, "n_clicks"), Input(I.STEP_G, "n_clicks"), Input(I.STEP_ROUND, "n_clicks"),
              State(I.PRESET, "data"), State(I.SPEED, "value"), *FIELD_INPUTS, State(I.SESSION, "data"),
              prevent_initial_call=True)
    @with_session(_said)
    def control(self, session, _s, _p, _r, _d, _g, _round, preset, speed, *values):
        """Start, Pause, Reset and the steps by hand: the form checked (its errors under the fields),
        then the action on the tab's run (`act`)."""
        if speed is not None and not forms.is_one_of(speed, SPEEDS):
            return _said(forms.one_of_message("speed", speed, SPEEDS))
        try:
            cfg, errors, general = _form_config(dict(zip(forms.FIELDS, values)), preset, session, self.runs_dir)
        except ValueError as err:
            return _said(str(err))
        if cfg is None:
            return (general or "Fix the fields marked in red; nothing was run.", time.monotonic_ns(),
                    *_field_errors(errors))
        with session.lock:
            if session.closed:
                text = "This tab's session has ended; reload the page."
            else:
                try:
                    text = self.act(session, ctx.triggered_id, cfg, speed)
                except (RuntimeError, LabBusy, ValueError) as err:    # ValueError: the engine refused (a
                    text = str(err)                                     # device the form's check passed, then lost)
        return text, time.monotonic_ns(), *_field_errors(errors)

    def act(self, session, action, cfg, speed):
        """One control action on the tab's run (under session.lock); what the page says after it."""
        manager, live = self.manager, session.live
        if action == I.START and (live is None or not (live.running or manager.place(live))):
            manager.check(live)            # refused before a run is even built
        if action == I.RESET or live is None:
            if live is not None:
                manager.discard(live)
            session.live = live = LiveRun(cfg, frame_seconds=manager.frame_seconds)
            live.trainer.pace(speed or 0)
            if action == I.RESET:
                return ""
        if action == I.PAUSE:
            manager.pause(session)
            return ""
        if manager.place(live):
            return "This run is waiting in line; press Pause to leave the line first."
        if not live.running:
            changes = _changes(live.trainer.cfg, cfg)
            live.train_to(changes.pop("steps", live.total))         # train further (or less far)
            needs_reset = [k for k in changes if k not in forms.LIVE_FIELDS]
            if needs_reset:
                return (f"Changed {', '.join(needs_reset)}: press Reset to start a new run with them "
                        f"(only {', '.join(forms.LIVE_FIELDS)} change a run).")
            if changes:
                live.retune(**changes)
        if action == I.START:
            place = manager.start(session)
            if place:
                return (f"The lab is full: {manager.load_text()}; this run waits in line (place {place}) and "
                        f"starts by itself when a group has room.")
        elif action in STEPS:
            before = live.trainer.step
            live.step(STEPS[action])
            return html.Span(step_message(STEPS[action], before, live.trainer.step), className="ok")
        return ""

    @callback(Output(I.SPEED_NOTE, "children"), Input(I.SPEED, "value"), State(I.SESSION, "data"),
              prevent_initial_call=True)
    @with_session(str)
    def speed(self, session, rate):
        if not forms.is_one_of(rate, SPEEDS):
            return f"speed: must be one of {', '.join(map(str, SPEEDS))} rounds/s (0: full speed)"
        try:
            self.manager.set_pace(session, rate)     # a slowed-down run trains alone, a full-speed one pooled
        except (LabBusy, SessionError) as err:
            return f"The run paused: {err}"
        if not rate:
            return ""
        every = self.manager.frame_seconds
        shown = f"the picture follows it every {every:g} s; " if every else ""
        return f"at most {SPEEDS[rate]}: {shown}set snapshot_every low to keep each round's picture"

    @callback(Output(I.TOAST, "children"), *[Input(I.FIELD.format(f), "value") for f in forms.FIELDS],
              State(I.PRESET, "data"), State(I.SESSION, "data"), prevent_initial_call=True)
    @with_session(toast)
    def live_edit(self, session, *args):
        """A field edited while a run is on screen, said where the user looks (a toast): a live field
        applied before the next round while it trains (while paused, Start applies the form); a field
        that cannot change a run (g_hidden, the target, ...) said to take effect on Reset."""
        form, preset, live = dict(zip(forms.FIELDS, args)), args[len(forms.FIELDS)], session.live
        if live is None or (not live.running and ctx.triggered_id in LIVE_FIELD_IDS):
            raise PreventUpdate              # no run; or paused: Start applies the live fields, as before
        try:
            cfg, errors, general = _form_config(form, preset, session, self.runs_dir)
        except ValueError as err:
            return toast(str(err))
        if cfg is None:
            return toast("Not applied: " + ("; ".join(f"{k}: {v}" for k, v in errors.items()) or general))
        changes = _changes(live.trainer.cfg, cfg)
        total = changes.pop("steps", None)
        later = {k: v for k, v in changes.items() if k not in forms.LIVE_FIELDS}
        now = {k: v for k, v in changes.items() if k in forms.LIVE_FIELDS}
        if not live.running:
            if not later:
                raise PreventUpdate
            now, total = {}, None
        else:
            with session.lock:
                try:
                    if now:
                        live.retune(**now)
                    if total is not None:
                        live.train_to(total)
                except (ValueError, RuntimeError) as err:
                    return toast(f"Not applied: {err}")
        return toast(edit_message(now, total, later, live.trainer.cfg, live.trainer.step) or None)

    @callback(*[Output(I.FIELD.format(f), "value", allow_duplicate=True) for f in forms.FIELDS],
              Output(I.PRESET, "data"), Output(I.PRESET_MSG, "children"),
              *[Input(I.PRESET_BUTTON.format(k), "n_clicks") for k in PRESET_KEYS], prevent_initial_call=True)
    def apply_preset(self, *_):
        name = ctx.triggered_id.removeprefix(I.PRESET_BUTTON.format("")) if ctx.triggered_id else ""
        name = "" if name == "defaults" else name
        form, extra = forms.preset_form(name)       # a button's id: a known name (an unknown one raises)
        if not name:
            return *[form[f] for f in forms.FIELDS], "", "The form's defaults."
        p = PRESETS[name]
        also = f" Also set (not on the form): {forms.params_text(extra)}." if extra else ""
        return (*[form[f] for f in forms.FIELDS], name,
                f"{p.label}: recipe {p.recipe}, setting {p.setting!r} - {p.expect}.{also} "
                f"Press Start (Reset if a run is on screen).")

    # The page's polling never piles up: the poll timer (TICK) fires once and stops
    # (n_intervals reaches max_intervals); every reply of `update` - a poll's, a scrub's, a
    # checkbox's - paces the next poll (PACE; the clientside pacing in CLIENTSIDE sets
    # max_intervals one past the ticks so far), so the next poll leaves only after a reply
    # landed, one interval later. A reply is never dropped for being late (the browser drops a
    # callback's older replies only when a newer request overtook them). The interval follows the
    # server's load and its own time for a reply (poll_interval), and the heartbeat re-arms a
    # timer left stopped by a lost reply. When a click's request overtook a poll still in flight
    # (its reply will be dropped), the next poll waits at least 1.5 round trips (measured in the
    # browser, which sees the queue and the network the server cannot): the abandoned poll has
    # ended on the server before the next one leaves, so a page never has two polls there at once.
    @callback(*[Output(I.GRAPH.format(p), "figure") for p in GRAPHS], Output(I.STATUS, "children"),
              Output(I.HEADLINE, "children"), Output(I.SLIDER, "max"), Output(I.SLIDER, "value"),
              Output(I.SLIDER, "marks"), Output(I.DRAWN, "data"), Output(I.LIVE, "style"), Output(I.PACE, "data"),
              Input(I.TICK, "n_intervals"), Input(I.SLIDER, "value"),
              Input(I.SHOWN, "value"), Input(I.THEME, "value"), Input(I.VERSION, "data"),
              Input(I.FIELD.format("dataset"), "value"), Input(I.FIELD.format("dataset_params"), "value"),
              Input(I.PRESENTING, "data"), Input(I.VIEW, "value"), Input(I.LAYERS, "value"),
              Input(I.LIVE, "n_clicks"), State(I.DRAWN, "data"), State(I.TICK, "max_intervals"),
              State(I.SESSION, "data"))
    def update(self, ticks, index, shown, theme, _version, dataset, params, presenting, view_mode, layers, _live,
               drawn, most, sid):
        t0 = time.perf_counter()
        try:
            reply = self.draw(index, shown, theme, dataset, params, presenting, view_mode, layers, drawn, sid)
        except PreventUpdate:
            reply = (no_update,) * (len(GRAPHS) + 7)
        ms = poll_interval(time.perf_counter() - t0, self.manager.pool.members() + len(self.manager.slots))
        return (*reply, pace(ticks, most, ctx.triggered_id == I.TICK, ms))

    @with_session(_unchanged)
    def draw(self, session, index, shown, theme, dataset, params, presenting, view_mode, layers, drawn):
        """The panels, status and slider at the page's snapshot (PreventUpdate: nothing new)."""
        try:
            theme, view_mode, layers = _view_settings(theme, view_mode, layers)
        except ValueError as err:
            return _unchanged(str(err))
        live, trigger = session.live, ctx.triggered_id
        if live is None:
            return _preview(session, dataset, params, theme, presenting, view_mode, layers, drawn)
        if trigger in (I.FIELD.format("dataset"), I.FIELD.format("dataset_params")):
            raise PreventUpdate                      # editing the form changes the run on Start/Reset
        # the request's values are the client's: kept to what the page can send
        presenting = presenting is True
        shown = visible(view_mode, shown, presenting)
        asked = index = int(index) if isinstance(index, (int, float)) and not isinstance(index, bool) \
            and math.isfinite(index) else None
        run = live.snapshot_run()
        n = len(run.snapshots)
        steps = [int(s.step) for s in run.snapshots]
        index = shown_index(live, steps, index, trigger, drawn)
        snap = run.snapshots[index]
        status = self.status(live, run, index)
        # what the page has drawn is the page's own record (DRAWN), written only by replies it
        # received: a reply the browser dropped (a newer request of this callback overtook it)
        # leaves the record as it was, so the next tick draws again instead of "nothing new"
        key = [live.serial, live.version, index, sorted(shown), theme, presenting, layers]
        drawn = drawn if isinstance(drawn, dict) else {}
        # p_data does not change over training: drawn again only when the page's record says it has
        # not drawn it with these settings (a dropped reply leaves the record as it was)
        static = [live.serial, theme, presenting, sorted(shown), layers]
        held = live.pinned is not None and live.running
        record = {"key": key, "status": status, "index": index, "following": index == n - 1,
                  "steps": steps, "static": static, "held": held}
        live_style = {} if held else {"display": "none"}
        if trigger == I.TICK and drawn.get("key") == key and index == asked:
            if status == drawn.get("status") and drawn.get("held") == held:
                raise PreventUpdate                      # nothing new: keep the page still
            return (*[no_update] * len(GRAPHS), status, no_update, no_update, no_update, no_update,
                    record, live_style)                  # only the words changed (a place in the queue)
        view = live.view(run)
        frame = view.frame(snap)
        same = drawn.get("static") == static
        figs = figures_for(view, frame, [p for p in shown if not (same and p == "p_data")], theme, presenting,
                           layers)
        # the verdict judges the run so far (its last quarter): said with the newest snapshot only;
        # written also when not presenting (hidden), so that Present shows it at once
        line = headline(view, frame, live.verdict() if index == n - 1 else None)
        marks = {0: str(run.snapshots[0].step), n - 1: f"{run.snapshots[-1].step:,}"} if n > 1 else {}
        moved = index if index != asked else no_update  # the slider moves only when the server moves it
        return (*figs, status, line, n - 1, moved, marks, record, live_style)

    def status(self, live, run, index) -> str:
        """The status line: "ring8 · step 1,250 / 5,000 · running" and what the page shows of it."""
        n, snap = len(run.snapshots), run.snapshots[index]
        place = self.manager.place(live)
        step, state = live.progress()               # one reading: the round and the state, now
        if place:
            state = f"waiting in line (place {place}; the lab trains {self.manager.load_text()})"
        status = f"{run.config.dataset} · step {step:,} / {live.total:,} · {state}"
        if index != n - 1:
            status += f" · showing step {snap.step:,}"
        if live.error:
            status += f" · {live.error}"
        elif index == n - 1 and live.verdict() is not None:      # the run so far, judged with its reason
            status += f" · {verdict_text(live.verdict())}"
        return status

    @callback(*[Output(I.PANEL_BOX.format(p), "style") for p in GRAPHS], Output(I.PANEL_GRID, "className"),
              Output(I.SHOWN, "style"), Output(I.LAYERS, "style"),
              Input(I.SHOWN, "value"), Input(I.PRESENTING, "data"), Input(I.VIEW, "value"))
    def toggle(self, shown, presenting, view_mode):
        layered = view_mode != "grid"
        shown = visible(view_mode, shown, bool(presenting))
        grid = "panels view-layered" if layered else "panels"
        return (*[{} if p in shown else {"display": "none"} for p in GRAPHS],
                f"{grid} present-{len(shown)}" if presenting else grid,
                {"display": "none"} if layered else {}, {} if layered else {"display": "none"})

    CLIENTSIDE = (
        # when each poll left: the pacing below measures the poll's round trip from it
        ("""function(n, sent) { return Object.assign({}, sent || {}, {tick: n, at: Date.now()}); }""",
         Output(I.TICK_SENT, "data"), Input(I.TICK, "n_intervals"), State(I.TICK_SENT, "data"),
         dict(prevent_initial_call=True)),
        # each reply of `update` re-arms the poll timer (`pace`): after a click that overtook a poll in
        # flight, no sooner than 1.5 round trips
        (f"""function(p, sent, interval) {{
            var no = window.dash_clientside.no_update;
            if (!p) {{ return [no, no, no]; }}
            sent = Object.assign({{}}, sent || {{}});
            if (p.poll && sent.tick === p.tick && sent.at) {{ sent.rtt = Date.now() - sent.at; }}
            var ms = p.ms;
            if (p.overtook) {{ ms = Math.max(ms, Math.min({OVERTAKEN_MAX_MS}, sent.rtt ? 1.5 * sent.rtt : {POLL_MAX_MS})); }}
            ms = Math.round(ms);
            return [p.tick + 1, ms === interval ? no : ms, sent];
        }}""",
         Output(I.TICK, "max_intervals"), Output(I.TICK, "interval"), Output(I.TICK_SENT, "data", allow_duplicate=True),
         Input(I.PACE, "data"), State(I.TICK_SENT, "data"), State(I.TICK, "interval"), dict(prevent_initial_call=True)),
        # Playback is the browser's: Play / Pause toggles the play timer (at the end, Play starts from
        # the first snapshot), and each tick moves the slider one snapshot on - once the page has drawn
        # the snapshot it asked for (DRAWN), so frames are never skipped or dropped: as fast as the
        # server draws, at most one per PLAY_MS. The server only draws what the slider says, and the
        # polling timer (TICK) rests meanwhile: its requests overtook the frames' and the browser
        # dropped those replies.
        ("""function(n, off, value, max) {
            var play = !!off, start = (play && value >= max) ? 0 : window.dash_clientside.no_update;
            return [!play, play ? '❚❚ Pause' : '▶ Play', start, play];
        }""",
         Output(I.PLAY_TICK, "disabled"), Output(I.PLAY, "children"),
         Output(I.SLIDER, "value", allow_duplicate=True), Output(I.TICK, "disabled"), Input(I.PLAY, "n_clicks"),
         State(I.PLAY_TICK, "disabled"), State(I.SLIDER, "value"), State(I.SLIDER, "max"),
         dict(prevent_initial_call=True)),
        ("""function(n, value, max, drawn) {
            var no = window.dash_clientside.no_update;
            if (!drawn || drawn.index !== value) { return [no, no, no, no]; }   // its frame is still coming
            if (value >= max) { return [no, true, '▶ Play', false]; }
            return [value + 1, no, no, no];
        }""",
         Output(I.SLIDER, "value", allow_duplicate=True), Output(I.PLAY_TICK, "disabled", allow_duplicate=True),
         Output(I.PLAY, "children", allow_duplicate=True), Output(I.TICK, "disabled", allow_duplicate=True),
         Input(I.PLAY_TICK, "n_intervals"), State(I.SLIDER, "value"), State(I.SLIDER, "max"), State(I.DRAWN, "data"),
         dict(prevent_initial_call=True)),
        # a reply lost (a server error, a dropped connection) leaves the poll timer stopped: when the
        # heartbeat finds no poll since its last beat and the timer spent, it re-arms it
        ("""function(beat, ticks, most, seen) {
            var no = window.dash_clientside.no_update;
            if (ticks >= most && seen === ticks) { return [ticks + 1, ticks]; }
            return [no, ticks];
        }""",
         Output(I.TICK, "max_intervals", allow_duplicate=True), Output(I.TICK_SEEN, "data"),
         Input(I.HEARTBEAT, "n_intervals"), State(I.TICK, "n_intervals"), State(I.TICK, "max_intervals"),
         State(I.TICK_SEEN, "data"), dict(prevent_initial_call=True)),
        # the slider's tooltip reads the snapshots' steps from the page's record (assets/steps.js)
        (ClientsideFunction("toylab", "keepSteps"), Output(I.SLIDER, "className"), Input(I.DRAWN, "data"), {}),
        # entering or leaving Present stops the poll timer until the redraw it asks for lands (its
        # reply re-arms the timer): a poll leaving meanwhile made the browser drop that reply and wait
        # for the poll's own redraw - ~4 s of small fonts while training
        ("""function(n, on, ticks) {
            on = !on;
            return [on, on ? '✕ Exit presentation' : '▣ Present', ticks || 0];
        }""",
         Output(I.PRESENTING, "data"), Output(I.PRESENT, "children"),
         Output(I.TICK, "max_intervals", allow_duplicate=True), Input(I.PRESENT, "n_clicks"),
         State(I.PRESENTING, "data"), State(I.TICK, "n_intervals"), dict(prevent_initial_call=True)),
    )


def register(app, manager, runs_dir="runs"):
    """The Train tab's callbacks on `app` (its upload and canvas, and its export, too)."""
    TrainPage(manager, runs_dir).register(app)
    train_target.TargetPage(manager, runs_dir).register(app)
    train_export.ExportPage(manager, runs_dir).register(app)


def _view_settings(theme, view_mode, layers):
    """The page's theme, view and layers, checked (ValueError names the field and the choices);
    None (not set): the defaults."""
    theme = "light" if theme is None else theme
    view_mode = "layered" if view_mode is None else view_mode
    for name, value, allowed in (("theme", theme, P.THEMES), ("view", view_mode, VIEWS)):
        if not forms.is_one_of(value, allowed):
            raise ValueError(forms.one_of_message(name, value, allowed))
    return theme, view_mode, list(check_layers(layers if isinstance(layers, list) else []))


def _preview(session, dataset, params, theme, presenting, view_mode, layers, drawn):
    """draw's reply before any run: p_data is known before training, drawn until the page's own
    record says it has it (a tick may overtake the first reply, which the browser then drops)."""
    upload = session.upload if dataset == "points" else None
    key = {"preview": [dataset, params, theme, presenting, _stamp(upload), view_mode, layers]}
    if ctx.triggered_id == I.TICK and drawn == key:
        raise PreventUpdate
    target = preview_frame(dataset, params, upload)     # p_data, and the layered map's real samples
    preview = figures_for(*target, ["p_data", "layered"], theme, presenting,
                          [k for k in layers if k == "real"]) if target else None
    return (*[preview[i] if preview and p in ("p_data", "layered") else _empty(p, theme)
              for i, p in enumerate(GRAPHS)],
            "ready: press Start", "ready: press Start", 0, 0, {}, key, {"display": "none"})


def shown_index(live, steps: list[int], index, trigger, drawn) -> int:
    """Which snapshot a reply shows: while training, the newest, or the one a scrub holds
    (choose_snapshot; live.pinned and live.held_step keep the hold); once stopped, the page's own
    slider compared with the page's record of what it drew (DRAWN), so a reply that arrives late
    or is dropped can neither undo a scrub nor leave it undrawn (live.pinned serves the control
    actions: a step by hand shows the newest, a scrub survives a Start click)."""
    n = len(steps)
    if trigger in (I.SLIDER, I.LIVE) or (live.running and trigger != I.VERSION):
        # training: a scrub holds the view at its snapshot (by step: thinning keeps it), "● live"
        # and the slider's far right follow the run again (choose_snapshot)
        held = getattr(live, "held_step", None) if live.pinned is not None else None
        index, held = choose_snapshot(steps, held, index, {I.SLIDER: "scrub", I.LIVE: "live"}.get(trigger, "poll"))
        live.pinned, live.held_step = (None if held is None else index), held
    else:
        drawn_index = drawn.get("index") if isinstance(drawn, dict) else None
        following = isinstance(drawn, dict) and drawn.get("following", False)
        if trigger == I.VERSION or index is None or drawn_index is None:
            index = n - 1 if live.running or live.pinned is None else live.pinned   # follow, or stay put
        elif index != drawn_index or not following:
            pass                 # stopped: the page's slider is the user's choice, however late this reply
        else:
            index = n - 1        # the page was showing the newest: keep showing the newest
    return min(max(int(index or 0), 0), n - 1)
