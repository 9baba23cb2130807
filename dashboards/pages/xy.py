"""The xy-game tab: gradient methods on min_x max_y xy (or Dirac-GAN), their orbits over the
vector field, distance against steps, and each method's spectral radius."""

from __future__ import annotations

from dash import Input, Output, State, dcc, html

from toylab import games
from toylab.figures import orbit_figures

from .. import ids as I

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
                       dcc.Checklist(id=I.XY_METHODS, options=list(games.METHODS),
                                     value=["simultaneous", "alternating", "extragradient"])]),
        html.Fieldset([html.Legend("Game and steps"),
                       dcc.RadioItems(id=I.XY_GAME, options=[{"label": "xy game", "value": "xy"},
                                                             {"label": "Dirac-GAN", "value": "dirac"}],
                                      value="xy", inline=True),
                       _num(I.XY_LR, 0.1, "η (step size)", "Step size of x (and of y unless η_y is set)"),
                       _num(I.XY_LR_Y, None, "η_y", "Step size of y (blank: the same as η)"),
                       _num(I.XY_BETA, -0.3, "β (momentum)", "Momentum; negative values help in games (Gidel et al.)"),
                       _num(I.XY_GAMMA, 1.0, "γ (consensus)", "Weight of the consensus term (Mescheder et al. 2017)"),
                       _num(I.XY_X0, 1.0, "start x", "Starting point x0"),
                       _num(I.XY_Y0, 1.0, "start y", "Starting point y0"),
                       _num(I.XY_STEPS, 200, "steps", "Number of steps", step=1)]),
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
                  State(I.XY_STEPS, "value"), State(I.SESSION, "data"))
    def run(_n, methods, game, lr, lr_y, beta, gamma, x0, y0, steps, sid):
        from dash import no_update
        manager.get(sid)
        problems = []
        if not methods:
            problems.append("methods: pick at least one")
        if lr is None or not 0 < lr <= 2:
            problems.append("η: must be in (0, 2]")
        if lr_y is not None and not 0 < lr_y <= 2:
            problems.append("η_y: must be in (0, 2] or blank")
        if steps is None or not 1 <= steps <= 5000:
            problems.append("steps: must be 1 to 5,000")
        if x0 is None or y0 is None:
            problems.append("start: give both x and y")
        if beta is None or not -1 < beta < 1:
            problems.append("β: must be in (-1, 1)")
        if gamma is None or gamma < 0:
            problems.append("γ: must be >= 0")
        if problems:
            return no_update, no_update, no_update, "\n".join(problems)
        opts = {"beta": beta, "gamma": gamma}
        if lr_y is not None:
            opts["lr_y"] = lr_y
        orbit, dist, radii = orbit_figures(methods, float(lr), int(steps), (float(x0), float(y0)), game, **opts)
        table = html.Table([html.Tr([html.Th("method"), html.Th("spectral radius ρ")])] + [
            html.Tr([html.Td(m), html.Td(f"{r:.5f}", style={"color": "#b00020" if r > 1 + 1e-9 else "#1b5e20"})])
            for m, r in radii.items()])
        return orbit, dist, table, ""
