"""The Train tab's page: the form and its buttons, the drawing canvas, the panels, the time bar."""

from __future__ import annotations

from dash import dcc, html

from toylab import panels as P
from toylab.experiments.presets import PRESETS
from toylab.pictures import layered as L

from .. import drawing, forms
from .. import ids as I
from .train_export import controls as export_controls

TICK_MS = 300           # the page's wait between a reply and its next poll for new snapshots
POLL_PER_RUN_MS = 35    # ... at least this much per run training on the server (pages.train.poll_interval)
POLL_MAX_MS = 2000      # ... and at most this
OVERTAKEN_MAX_MS = 10000    # after a click overtook a poll: 1.5 round trips (POLL_MAX_MS until one is measured), at most this
PLAY_MS = 120           # playback: at most one snapshot per tick (8 a second), each once it is drawn
GRAPH_HEIGHT = 320
LAYERED_HEIGHT = 3 * 210    # the layered map: as tall as the three curve panels beside it
CURVE_HEIGHT = 210          # ... each curve panel beside the layered map
#: the graphs on the page: the layered map, then the nine panels
GRAPHS = ("layered", *P.PANELS)
#: the main area's views: the layered map with the curves (the default) or the nine-panel grid
VIEWS = {"layered": "layered view", "grid": "all panels"}
#: the speed control: rounds per second at most (Trainer.pace); slow enough to watch single rounds
SPEEDS = {0: "full speed", 100: "100 rounds/s", 30: "30 rounds/s", 10: "10 rounds/s", 3: "3 rounds/s",
          1: "1 round/s"}


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
        html.Fieldset(className="presets", children=[
            html.Legend("Failure-mode presets", title="Each fills the form with one setting of a shipped recipe "
                        "(toylab sweep RECIPE trains the same); docs/recipes/ says how often it fails"),
            html.Div(className="buttons", children=[
                *[html.Button(p.label, id=I.PRESET_BUTTON.format(key), title=f"{p.expect} (recipe {p.recipe}, "
                              f"setting {p.setting!r})") for key, p in PRESETS.items()],
                html.Button("Defaults", id=I.PRESET_BUTTON.format("defaults"), title="The form's defaults")]),
            html.Div(id=I.PRESET_MSG, className="help-text"),
            dcc.Store(id=I.PRESET, data="")]),
        html.Div(className="field", children=[
            html.Label("speed", htmlFor=I.SPEED, title="At most this many rounds a second, also while training; "
                       "with snapshot_every 1 each round is a picture"),
            dcc.Dropdown(id=I.SPEED, options=[{"label": v, "value": k} for k, v in SPEEDS.items()], value=0,
                         clearable=False),
            html.Div(id=I.SPEED_NOTE, className="help-text", style={"gridColumn": "1 / 3"})]),
        html.Div(id=I.STATUS, className="status", children="ready"),
        html.Div(id=I.MESSAGE, className="message"),
        html.Div(id=I.TOAST, className="toast", role="status"),
        html.P("Learning rates, steps per round, update order, the objective, steps and snapshot_every change "
               "a run as you edit them, also while it trains; other fields take effect on Reset.",
               className="help-text"),
        *groups[:1], upload, html.Div(id=I.UPLOAD_MSG, className="message"),
        html.Fieldset(className="drawing", children=[
            html.Legend("Draw a target", title="Click to add a mode (a small cluster), drag to draw a stroke; "
                        "the shading is the kernel density the generator will have to learn"),
            dcc.RadioItems(id=I.DRAW_MODE, options=[{"label": v, "value": k} for k, v in drawing.MODES.items()],
                           value="click", inline=True, inputStyle={"marginRight": "3px"},
                           labelStyle={"marginRight": "10px"}),
            dcc.Graph(id=I.DRAW_CANVAS, figure=drawing.canvas_figure(None, None, P.get_theme("light")),
                      config={"displaylogo": False, "displayModeBar": False, "scrollZoom": False},
                      style={"height": "260px"}),
            html.Div(className="buttons", children=[
                html.Button("Use as target", id=I.DRAW_USE, title="Make these points the 'points' target "
                            "(then Reset)"),
                html.Button("Clear", id=I.DRAW_CLEAR)]),
            html.Div(id=I.DRAW_MSG, className="help-text",
                     children="Click to add a mode, or choose 'drag' and draw a curve.")]),
        *groups[1:],
        html.Fieldset([html.Legend("Export the run"), *export_controls()]),
    ])


def main_area():
    boxes = [html.Div(id=I.PANEL_BOX.format(p), className=f"panel panel-{p}", children=[
        dcc.Graph(id=I.GRAPH.format(p), config={"displaylogo": False, "displayModeBar": False}, responsive=True,
                  style={"height": f"{GRAPH_HEIGHT}px"}),
        html.Div(P.HELP[p], className="help")]) for p in P.PANELS]
    boxes.insert(0, html.Div(id=I.PANEL_BOX.format("layered"), className="panel panel-layered", children=[
        dcc.Graph(id=I.GRAPH.format("layered"), config={"displaylogo": False, "displayModeBar": False},
                  responsive=True, style={"height": f"{LAYERED_HEIGHT}px"}),
        html.Div(L.layer_help(), className="help")]))
    return html.Div(children=[
        html.Div(id=I.HEADLINE, className="headline"),
        html.Div(className="timebar", children=[
            html.Button("▶ Play", id=I.PLAY, title="Play the snapshots back from the slider's position"),
            # positions are snapshots; the tooltip names the training step (assets/steps.js), and
            # there is no box for a snapshot number (the status line says "showing step N")
            dcc.Slider(id=I.SLIDER, min=0, max=0, step=1, value=0, marks=None, allow_direct_input=False,
                       tooltip={"placement": "bottom", "always_visible": False, "transform": "toylabStep"},
                       updatemode="drag", className="time-slider"),
            html.Button("● live", id=I.LIVE, className="live-button", style={"display": "none"},
                        title="The view holds the snapshot you scrubbed to while the run trains on: back to "
                        "following the run"),
            html.Button("▣ Present", id=I.PRESENT, title="The presentation view (Esc leaves it): the layered map "
                        "with JS and modes, large, with a status line; in the grid view 1-4 of the chosen panels "
                        "(more shows p_model, D, JS and modes)"),
        ]),
        dcc.Store(id=I.PRESENTING, data=False),
        html.Div(className="buttons view-options", children=[
            dcc.RadioItems(id=I.VIEW, options=[{"label": v, "value": k} for k, v in VIEWS.items()], value="layered",
                           inline=True, inputStyle={"marginRight": "3px"}, labelStyle={"marginRight": "10px"}),
            dcc.Checklist(id=I.LAYERS, options=[{"label": L.LAYER_TITLES[k], "value": k} for k in L.LAYERS],
                          value=list(L.DEFAULT_LAYERS), inline=True, inputStyle={"marginRight": "3px"},
                          labelStyle={"marginRight": "10px"}, className="layer-switches"),
            dcc.Checklist(id=I.SHOWN, options=[{"label": P.TITLES[p], "value": p} for p in P.PANELS],
                          value=list(P.PANELS), inline=True, inputStyle={"marginRight": "3px"},
                          labelStyle={"marginRight": "10px"}),
            dcc.RadioItems(id=I.THEME, options=list(P.THEMES), value="light", inline=True),
        ]),
        html.Div(id=I.PANEL_GRID, className="panels", children=boxes),
        # one poll at a time: each reply re-arms the timer (max_intervals; pages.train.update)
        dcc.Interval(id=I.TICK, interval=TICK_MS, disabled=False, max_intervals=1),
        dcc.Store(id=I.TICK_SEEN, data=-1),
        dcc.Store(id=I.TICK_SENT, data={}),
        dcc.Store(id=I.PACE),
        dcc.Store(id=I.DRAWN),
        dcc.Interval(id=I.PLAY_TICK, interval=PLAY_MS, disabled=True),
        dcc.Store(id=I.VERSION, data=0),
    ])


def layout():
    return html.Div(className="layout", children=[sidebar(), main_area()])
