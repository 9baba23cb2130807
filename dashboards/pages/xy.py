"""The xy-game tab: gradient methods on min_x max_y xy (or Dirac-GAN), their orbits over the
vector field, distance against steps, and each method's spectral radius."""

from __future__ import annotations

import math

from dash import Input, Output, State, dcc, html, no_update

from toylab import games
from toylab.pictures.gameviz import orbit_figures
from toylab.pictures.looks import THEMES

from .. import ids as I
from ..sessions import LabBusy, SessionError, client

GAME_LABELS = {"xy": "xy game", "dirac": "Dirac-GAN"}
#: Bounds on the tab's numbers: (low, high, whether the ends are allowed). 1,000 steps of all
#: six methods and the flow take about 1.5 s on one core (5,000 took 8-70 s on a busy host).
LIMITS = {"η": (0.0, 2.0, False, True), "η_y": (0.0, 2.0, False, True), "β": (-1.0, 1.0, False, False),
          "γ": (0.0, 10.0, True, True), "start x": (-100.0, 100.0, True, True),
          "start y": (-100.0, 100.0, True, True), "steps": (1, 1000, True, True)}

HELP = ("Each method updates x (minimising f = xy) and y (maximising it) with step size η. The equilibrium is "
        "(0, 0). A method's spectral radius ρ is the factor its distance to the equilibrium is multiplied by "
        "each step near it: ρ > 1 spirals out (simultaneous gradient steps, √(1 + η²)), ρ = 1 circles for ever "
        "(alternating), ρ < 1 converges (optimistic, extragradient, consensus). Dirac-GAN is the same picture "
        "for a one-parameter GAN (Mescheder et al. 2018).")


def _num(id_, value, label, title, step="any"):
    return html.Div(className="field", children=[html.Label(label, htmlFor=id_, title=title),
                                                 dcc.Input(id=id_, type="number", value=value, step=step,
                                                           debounce=True)])


def layout():
    controls = html.Div(className="sidebar", children=[
        html.Fieldset([html.Legend("Methods"),
                       dcc.Checklist(id=I.XY_METHODS, options=list(games.METHOD_NAMES),
                                     value=list(games.GameConfig.model_fields["methods"].default))]),
        html.Fieldset([html.Legend("Game and steps"),
                       dcc.RadioItems(id=I.XY_GAME, options=[{"label": GAME_LABELS[g], "value": g}
                                                             for g in games.GAMES], value="xy", inline=True),
                       _num(I.XY_LR, 0.1, "η (step size)", "Step size of x (and of y unless η_y is set)"),
                       _num(I.XY_LR_Y, None, "η_y", "Step size of y (blank: the same as η)"),
                       _num(I.XY_BETA, -0.3, "β (momentum)", "Momentum; negative values help in games (Gidel et al.)"),
                       _num(I.XY_GAMMA, 1.0, "γ (consensus)", "Weight of the consensus term (Mescheder et al. 2017)"),
                       _num(I.XY_X0, 1.0, "start x", "Starting point x0"),
                       _num(I.XY_Y0, 1.0, "start y", "Starting point y0"),
                       _num(I.XY_STEPS, 200, "steps", "Number of steps (at most 1,000)", step=1)]),
        html.Button("Run", id=I.XY_RUN),
        html.Div(id=I.XY_MESSAGE, className="message"),
        html.Div(id=I.XY_RADII),
        html.P(HELP, className="help-text"),
    ])
    return html.Div(className="xy", children=[
        controls,
        dcc.Graph(id=I.XY_ORBIT, style={"height": "600px"}, config={"displaylogo": False}),
        dcc.Graph(id=I.XY_DIST, style={"height": "600px"}, config={"displaylogo": False}),
    ])


def register(app, manager):
    @app.callback(Output(I.XY_ORBIT, "figure"), Output(I.XY_DIST, "figure"), Output(I.XY_RADII, "children"),
                  Output(I.XY_MESSAGE, "children"),
                  Input(I.XY_RUN, "n_clicks"), State(I.XY_METHODS, "value"), State(I.XY_GAME, "value"),
                  State(I.XY_LR, "value"), State(I.XY_LR_Y, "value"), State(I.XY_BETA, "value"),
                  State(I.XY_GAMMA, "value"), State(I.XY_X0, "value"), State(I.XY_Y0, "value"),
                  State(I.XY_STEPS, "value"), Input(I.THEME, "value"), State(I.SESSION, "data"))
    def run(_n, methods, game, lr, lr_y, beta, gamma, x0, y0, steps, theme, sid):
        """The orbits, distances and radii, in the page's theme (the Train tab's light/dark switch)."""
        try:
            session = manager.get(sid, client())
        except SessionError as err:
            return no_update, no_update, no_update, str(err)
        problems = []
        for field, v in (("methods", methods), ("game", game)):     # names: the games' own check
            try:
                games.GameConfig(**{field: v})
            except ValueError as err:
                problems.append(str(err))
        for name, v in {"η": lr, "η_y": lr_y, "β": beta, "γ": gamma, "start x": x0, "start y": y0,
                        "steps": steps}.items():                     # numbers: the tab's tighter bounds
            if v is None and name == "η_y":
                continue
            err = _check(name, v)
            if err:
                problems.append(err)
        theme = "light" if theme is None else theme
        if not isinstance(theme, str) or theme not in THEMES:
            problems.append(f"theme: must be one of {', '.join(THEMES)} (got {str(theme)[:20]})")
        if problems:
            return no_update, no_update, no_update, "\n".join(problems)
        opts = {"beta": float(beta), "gamma": float(gamma)}
        if lr_y is not None:
            opts["lr_y"] = float(lr_y)
        if not session.busy.acquire(blocking=False):      # one at a time per tab: no piling up
            return no_update, no_update, no_update, "still computing this tab's previous request"
        try:
            with manager.heavy(session.client, "xy game"):   # and per address, and --max-runs at once
                orbit, dist, radii = orbit_figures(list(methods), float(lr), int(steps),
                                                   (float(x0), float(y0)), game, theme, **opts)
        except LabBusy as err:
            return no_update, no_update, no_update, str(err)
        finally:
            session.busy.release()
        table = html.Table([html.Tr([html.Th("method"), html.Th("spectral radius ρ")])] + [
            html.Tr([html.Td(m), html.Td(f"{r:.5f}", className="message" if r > 1 + 1e-9 else "ok")])
            for m, r in radii.items()])
        return orbit, dist, table, ""


def _check(name, v) -> str:
    """'' when v is a finite number within LIMITS[name], else the message naming the field."""
    lo, hi, lo_ok, hi_ok = LIMITS[name]
    whole = name == "steps"
    ok = (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
          and (lo <= v if lo_ok else lo < v) and (v <= hi if hi_ok else v < hi) and (not whole or v == int(v)))
    if ok:
        return ""
    what = f"a whole number {lo:,} to {hi:,}" if whole else \
        f"in {'[' if lo_ok else '('}{lo:g}, {hi:g}{']' if hi_ok else ')'}"
    return f"{name}: must be {what}" + (" or blank" if name == "η_y" else "") + f" (got {str(v)[:20]})"
