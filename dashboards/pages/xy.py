"""The xy-game tab: gradient methods on min_x max_y xy (or Dirac-GAN), their orbits over the
vector field, distance against steps, and each method's spectral radius."""

from __future__ import annotations


from dash import Input, Output, State, dcc, html, no_update

from toylab import games
from toylab.pictures.gameviz import orbit_figures
from toylab.pictures.looks import THEMES

from .. import ids as I
from ..sessions import LabBusy
from .page import Page, callback, with_session

GAME_LABELS = {"xy": "xy game", "dirac": "Dirac-GAN"}
#: the tab's names for GameConfig's fields (the messages say what the page says)
LABELS = {"lr": "η", "lr_y": "η_y", "beta": "β", "gamma": "γ", "start": "start", "steps": "steps",
          "methods": "methods", "game": "game"}
#: the tab's narrower bounds on GameConfig's checked values (1,000 steps of all six methods and the
#: flow take ~0.7 s on one core; GameConfig allows 100,000 steps, step sizes to 10)
NARROWER = {"lr": 2.0, "lr_y": 2.0, "steps": 1000, "start": 100.0}
DEFAULT = games.GameConfig()         # the tab starts where the functions and the CLI start

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
                       _num(I.XY_LR, DEFAULT.lr, "η (step size)", "Step size of x (and of y unless η_y is set)"),
                       _num(I.XY_LR_Y, DEFAULT.lr_y, "η_y", "Step size of y (blank: the same as η)"),
                       _num(I.XY_BETA, DEFAULT.beta, "β (momentum)",
                            "Momentum; negative values help in games (Gidel et al.: try -0.3)"),
                       _num(I.XY_GAMMA, DEFAULT.gamma, "γ (consensus)", "Weight of the consensus term (Mescheder et al. 2017)"),
                       _num(I.XY_X0, DEFAULT.start[0], "start x", "Starting point x0"),
                       _num(I.XY_Y0, DEFAULT.start[1], "start y", "Starting point y0"),
                       _num(I.XY_STEPS, DEFAULT.steps, "steps",
                            f"Number of steps (at most {NARROWER['steps']:,})", step=1)]),
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


def _said(text) -> tuple:
    return no_update, no_update, no_update, text


class XyPage(Page):
    """The xy tab's one callback: the orbits, distances and radii of the chosen methods."""

    @callback(Output(I.XY_ORBIT, "figure"), Output(I.XY_DIST, "figure"), Output(I.XY_RADII, "children"),
              Output(I.XY_MESSAGE, "children"),
              Input(I.XY_RUN, "n_clicks"), State(I.XY_METHODS, "value"), State(I.XY_GAME, "value"),
              State(I.XY_LR, "value"), State(I.XY_LR_Y, "value"), State(I.XY_BETA, "value"),
              State(I.XY_GAMMA, "value"), State(I.XY_X0, "value"), State(I.XY_Y0, "value"),
              State(I.XY_STEPS, "value"), Input(I.THEME, "value"), State(I.SESSION, "data"))
    @with_session(_said)
    def run(self, session, _n, methods, game, lr, lr_y, beta, gamma, x0, y0, steps, theme):
        """The orbits, distances and radii, in the page's theme (the Train tab's light/dark switch)."""
        cfg, problems = game_config(methods=methods, game=game, lr=lr, lr_y=lr_y, beta=beta, gamma=gamma,
                                    start=(x0, y0), steps=steps)
        theme = "light" if theme is None else theme
        if not isinstance(theme, str) or theme not in THEMES:
            problems.append(f"theme: must be one of {', '.join(THEMES)} (got {str(theme)[:20]})")
        if problems:
            return _said("\n".join(problems))
        if not session.busy.acquire(blocking=False):      # one at a time per tab: no piling up
            return _said("still computing this tab's previous request")
        try:
            with self.manager.heavy(session.client, "xy game"):   # and per address, and --max-runs at once
                orbit, dist, radii = orbit_figures(list(cfg.methods), cfg.lr, cfg.steps, cfg.start, cfg.game,
                                                   theme, lr_y=cfg.lr_y, beta=cfg.beta, gamma=cfg.gamma)
        except LabBusy as err:
            return _said(str(err))
        finally:
            session.busy.release()
        table = html.Table([html.Tr([html.Th("method"), html.Th("spectral radius ρ")])] + [
            html.Tr([html.Td(m), html.Td(f"{r:.5f}", className="message" if r > 1 + 1e-9 else "ok")])
            for m, r in radii.items()])
        return orbit, dist, table, ""


def game_config(**given) -> tuple[games.GameConfig | None, list[str]]:
    """The tab's values as one GameConfig (the games' own check, field by field so that every bad
    one is named, in the page's words), then the tab's narrower bounds: (config or None, problems)."""
    problems = []
    for field, v in given.items():
        try:
            games.GameConfig(**{field: v})
        except ValueError as err:
            name, _, rest = str(err).partition(": ")
            problems.append(f"{LABELS.get(name, name)}: {rest}" if rest else str(err))
    if problems:
        return None, problems
    cfg = games.GameConfig(**given)
    for field, most in NARROWER.items():
        v = getattr(cfg, field)
        if v is not None and max(abs(c) for c in (v if isinstance(v, tuple) else (v,))) > most:
            problems.append(f"{LABELS[field]}: at most {most:,g} in the dashboard (got {v!r:.40})")
    return (None if problems else cfg), problems
