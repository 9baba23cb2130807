"""The Compare tab: saved runs (and this tab's live run) side by side, at their last snapshot,
with their JS and mode curves overlaid."""

from __future__ import annotations

from pathlib import Path

from dash import Input, Output, State, dcc, html, no_update

from toylab import panels as P
from toylab.pictures.figures import curves_figure, panel_figure

from .. import ids as I
from ..sessions import SessionError, client

LIVE = "(this tab's live run)"
SHOW = ("p_model", "d", "modes")


def find_runs(root) -> list[str]:
    """Run folders (with a config.json) under root, at most two levels down, newest first; a
    symlink that leads out of root is not listed."""
    root = Path(root)
    if not root.is_dir():
        return []
    real = root.resolve()
    found = {p.parent for pattern in ("*/config.json", "*/*/config.json") for p in root.glob(pattern)
             if p.resolve().is_relative_to(real)}
    return [str(p) for p in sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)]


def layout(runs_dir):
    return html.Div(className="compare", children=[
        html.P(f"Runs saved under {runs_dir}/ (train them with `toylab train --out {runs_dir}/NAME` or the sweep "
               f"command), and this tab's live run. Pick up to 4.", className="help-text"),
        html.Div(className="buttons", children=[
            dcc.Dropdown(id=I.CMP_RUNS, multi=True, options=[], value=[], style={"minWidth": "600px"},
                         placeholder="choose runs to compare"),
            html.Button("Refresh list", id=I.CMP_REFRESH)]),
        html.Div(id=I.CMP_MESSAGE, className="message"),
        dcc.Graph(id=I.CMP_CURVES, style={"height": "340px"}, config={"displaylogo": False}),
        html.Div(id=I.CMP_GRID, className="cmp-grid"),
    ])


def register(app, manager, runs_dir):
    @app.callback(Output(I.CMP_RUNS, "options"), Input(I.CMP_REFRESH, "n_clicks"), Input(I.TABS, "value"))
    def options(_n, _tab):
        return [LIVE, *find_runs(runs_dir)]

    @app.callback(Output(I.CMP_GRID, "children"), Output(I.CMP_CURVES, "figure"), Output(I.CMP_MESSAGE, "children"),
                  Input(I.CMP_RUNS, "value"), State(I.SESSION, "data"), prevent_initial_call=True)
    def compare(chosen, sid):
        try:
            session = manager.get(sid, client())
        except SessionError as err:
            return no_update, no_update, str(err)
        # only names the server listed itself are opened: anything else (../../etc/passwd, a
        # symlink out of runs_dir, an absolute path) is refused by name, unread
        chosen = [c for c in chosen if isinstance(c, str)][:4] if isinstance(chosen, list) else []
        allowed = set(find_runs(runs_dir))
        runs, problems = {}, []
        for name in chosen:
            try:
                if name == LIVE:
                    if session.live is None:
                        problems.append("this tab has no live run yet")
                        continue
                    run = session.live.snapshot_run()
                elif name in allowed:
                    run = session.load(name)
                else:
                    problems.append(f"{name}: not a run under {runs_dir}")
                    continue
            except (OSError, ValueError, KeyError) as err:
                problems.append(f"{name}: cannot be read ({err})")
                continue
            if not run.snapshots:
                problems.append(f"{name}: has no snapshots")
                continue
            runs[name] = run
        cards, views = [], {}
        for name, run in runs.items():
            view = P.RunView(run, size=100)
            views[_label(name, run)] = view
            frame = view.frame(run.snapshots[-1])
            cards.append(html.Div(className="panel", children=[
                html.Div(f"{_label(name, run)} · {view.title(frame)}", className="help",
                         style={"fontWeight": 600}),
                html.Div(style={"display": "grid", "gridTemplateColumns": "1fr 1fr"}, children=[
                    dcc.Graph(figure=panel_figure(view, frame, p, height=300), config={"displayModeBar": False})
                    for p in ("p_model", "d")])]))
        fig = curves_figure(views, ("js", "modes_present")) if views else no_update
        return cards, fig, "\n".join(problems)


def _label(name, run) -> str:
    return "live" if name == LIVE else Path(name).name
