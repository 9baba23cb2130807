"""The Dash app: a header, three tabs (Train, xy game, Compare), one session per browser tab.

`create_app()` builds an app with its own SessionManager (no state shared through
module globals); `main()` is the command line (`python -m dashboards`), `serve()` runs
the server from parsed options (also `toylab dashboard`).
"""

from __future__ import annotations

import argparse
import functools
import signal
import threading
from pathlib import Path

import flask
import threadpoolctl
import waitress
from dash import Dash, Input, Output, State, dcc, html, no_update

from toylab.engine.pool import FLOOR

from . import ids as I
from .options import LIVE_FRAME_SECONDS, add_options
from .pages import compare, train, xy
from .pages.page import Page, callback, with_session
from .sessions import LabBusy, SessionManager, client, heartbeat_seconds

HERE = Path(__file__).parent
#: the largest request body accepted: an upload at its limit, base64-encoded, plus the form
MAX_REQUEST_BYTES = 8_000_000


ENDED = ("This tab's session has ended (closed, or the page was away too long): its run is gone. "
         "Reload the page to start a new one.")


def serve_layout(manager, runs_dir, heartbeat_ms: int):
    """The page. A session is made only when a browser asks for the page's layout (Dash also
    calls this to validate the layout: that gets an empty id and makes nothing); a full lab
    answers with its message instead."""
    sid = ""
    if flask.has_request_context() and flask.request.path.endswith("_dash-layout"):
        if "toylab_sid" not in flask.g:             # once per request (Dash may ask twice in one)
            try:
                flask.g.toylab_sid = manager.open(client()).id
            except LabBusy as err:
                flask.g.toylab_sid = err
        sid = flask.g.toylab_sid
        if isinstance(sid, LabBusy):
            return html.Div(className="header", children=[html.H1("toylab"),
                                                          html.P(str(sid), id=I.BUSY, className="message")])
    return html.Div(id=I.ROOT, className="lab theme-light", children=[
        dcc.Store(id=I.SESSION, data=sid),
        html.Div(sid, id=I.SESSION_TEXT, style={"display": "none"}),
        # the page's own heartbeat, on every tab: an open page is never reaped as idle
        dcc.Interval(id=I.HEARTBEAT, interval=heartbeat_ms),
        html.Div(id=I.SESSION_STATE, className="message"),
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


class LabPage(Page):
    """What every tab has: the heartbeat that keeps its session, and the root's classes."""

    @callback(Output(I.SESSION_STATE, "children"), Input(I.HEARTBEAT, "n_intervals"), State(I.SESSION, "data"),
              prevent_initial_call=True)
    @with_session(lambda _: ENDED)
    def heartbeat(self, _session, _beat):
        return no_update                              # (the session was touched: it stays)

    CLIENTSIDE = (
        # the page around the plots takes the plots' theme (in the browser: no request for it)
        # (and the presentation view's class: the page then shows the panels and the status line only)
        ("function(theme, on) { return 'lab theme-' + (theme === 'dark' ? 'dark' : 'light')"
         " + (on ? ' presenting' : ''); }",
         Output(I.ROOT, "className"), Input(I.THEME, "value"), Input(I.PRESENTING, "data"), {}),
    )


def create_app(runs_dir="runs", max_sessions: int = 40, idle_timeout: float = 180.0, *, max_per_client: int = 4,
               max_runs: int | None = None, max_queue: int | None = None, floor: float = FLOOR, root=None,
               frame_seconds: float = LIVE_FRAME_SECONDS) -> Dash:
    manager = SessionManager(max_sessions=max_sessions, idle_timeout=idle_timeout, root=root,
                             max_per_client=max_per_client, max_runs=max_runs, max_queue=max_queue, floor=floor,
                             frame_seconds=frame_seconds)
    app = Dash(__name__, title="toylab", assets_folder=str(HERE / "assets"), suppress_callback_exceptions=False)
    app.server.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES

    #: four heartbeats per idle_timeout (at most 15 s apart): a background tab's timers (throttled
    #: to one a minute by browsers) still beat well inside the default 180 s, and inside the stale
    #: limit (sessions.STALE_MIN), so an open page is never taken for a gone one
    app.layout = functools.partial(serve_layout, manager, runs_dir, int(heartbeat_seconds(idle_timeout) * 1000))
    LabPage(manager, runs_dir).register(app)
    train.register(app, manager, runs_dir)
    xy.XyPage(manager, runs_dir).register(app)
    compare.ComparePage(manager, runs_dir).register(app)

    @app.server.post("/toylab/close")
    def close_session():               # the tab's goodbye (assets/session.js): the token in the body, not the URL
        sid = flask.request.get_data(as_text=True)[:64]
        try:
            manager.get(sid, client())
        except ValueError:
            return "", 204             # the same answer for any id: nothing is revealed
        manager.goodbye(sid)           # its run stops at its next round; the reaper frees the rest
        return "", 204

    app.sessions = manager             # for tests and shutdown
    return app


def serve(args: argparse.Namespace) -> int:
    """Run the server with parsed options until Ctrl-C; every session is closed on the way out."""
    import scipy.spatial  # noqa: F401  (its own OpenBLAS is loaded now, so that the limit below covers it)
    import torch
    # one thread per training: --max-runs trainings share the cores, one each, instead of
    # each asking torch for all of them (the host's process, so the setting is the server's)
    torch.set_num_threads(1)
    # and NumPy's and SciPy's BLAS (OpenBLAS) one thread too: the pages' pictures multiply small
    # matrices (the p_model blur), and OpenBLAS's second thread spinning for work beside the busy
    # training threads cost the class's soak 40 % of its rounds (220 against 370 member-rounds/s)
    with threadpoolctl.threadpool_limits(1, user_api="blas"):     # restored when the server returns
        return _serve_app(args)


def _serve_app(args: argparse.Namespace) -> int:
    app = create_app(args.runs_dir, args.max_sessions, args.idle_timeout, max_per_client=args.max_per_client,
                     max_runs=args.max_runs, max_queue=args.max_queue, floor=args.floor,
                     frame_seconds=args.frame_seconds)
    print(f"toylab dashboard on http://{args.host}:{args.port}  (Ctrl-C stops it)")
    # SIGTERM (a service manager, `kill`) stops the server as Ctrl-C does, so that the sessions are
    # closed and the temporary folder (uploads, drawings) removed; by default it killed the process
    # and left them (a kill -9's leftovers are removed by the next start: sessions.clean_stale)
    stopped = []

    def terminate(signum, frame):
        stopped.append(signum)
        signal.signal(signum, signal.SIG_IGN)          # a second SIGTERM does not cut the cleaning short
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, terminate) \
        if threading.current_thread() is threading.main_thread() else None
    try:
        if args.debug:
            app.run(host=args.host, port=args.port, debug=True)       # Dash's reloader and error pop-ups
        else:
            # a production WSGI server with a fixed pool of request threads: Werkzeug's development
            # server starts a thread per request, and 30 pages' Python in as many threads took the
            # training threads' turns at the interpreter (the soak: 290 against 440 member-rounds/s)
            waitress.serve(app.server, host=args.host, port=args.port, threads=args.server_threads,
                           connection_limit=args.max_connections, channel_timeout=60, ident="toylab")
    except SystemExit:
        if not stopped:
            raise
    finally:
        app.sessions.shutdown()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 128 + stopped[0] if stopped else 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m dashboards", description="The toylab dashboard.")
    add_options(p)
    return serve(p.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
