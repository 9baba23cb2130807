"""The Dash app: a header, three tabs (Train, xy game, Compare), one session per browser tab.

`create_app()` builds an app with its own SessionManager (no state shared through
module globals); `main()` is the command line (`python -m dashboards`, `toylab dashboard`).
"""

from __future__ import annotations

import argparse
import uuid
from pathlib import Path

from dash import Dash, dcc, html

from . import ids as I
from .pages import compare, train, xy
from .sessions import SessionManager

HERE = Path(__file__).parent


def create_app(runs_dir="runs", max_sessions: int = 8, idle_timeout: float = 180.0) -> Dash:
    manager = SessionManager(max_sessions=max_sessions, idle_timeout=idle_timeout)
    app = Dash(__name__, title="toylab", assets_folder=str(HERE / "assets"), suppress_callback_exceptions=False)

    def serve_layout():
        sid = uuid.uuid4().hex          # a new session for every page load (one per tab)
        return html.Div([
            dcc.Store(id=I.SESSION, data=sid),
            html.Div(sid, id=I.SESSION_TEXT, style={"display": "none"}),
            html.Div(className="header", children=[
                html.H1("toylab"),
                html.Span("a visual lab for generative adversarial networks on 2D toy distributions",
                          className="tagline")]),
            dcc.Tabs(id=I.TABS, value="train", children=[
                dcc.Tab(label="Train", value="train", children=train.layout()),
                dcc.Tab(label="xy game", value="xy", children=xy.layout()),
                dcc.Tab(label="Compare runs", value="compare", children=compare.layout(runs_dir)),
            ]),
        ])

    app.layout = serve_layout
    train.register(app, manager)
    xy.register(app, manager)
    compare.register(app, manager, runs_dir)

    @app.server.post("/toylab/close/<sid>")
    def close_session(sid):           # the tab's goodbye (assets/session.js)
        manager.close(sid)
        return "", 204

    app.sessions = manager             # for tests and shutdown
    return app


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="toylab dashboard", description="The toylab dashboard.")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8050)
    p.add_argument("--runs-dir", default="runs", help="where saved runs are listed for comparison (default runs)")
    p.add_argument("--max-sessions", type=int, default=8, help="browser tabs served at once (default 8)")
    p.add_argument("--debug", action="store_true", help="Dash debug mode (reloader, error pop-ups): local use only")
    args = p.parse_args(argv)
    app = create_app(args.runs_dir, args.max_sessions)
    print(f"toylab dashboard on http://{args.host}:{args.port}  (Ctrl-C stops it)")
    try:
        app.run(host=args.host, port=args.port, debug=args.debug)
    finally:
        app.sessions.close_all()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
