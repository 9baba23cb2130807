"""The Compare tab: saved runs (and this tab's live run) side by side, at their last snapshot,
each with its verdict and the reason (toylab.outcomes), and their JS and mode curves overlaid
in one colour per run (figures.RUN_COLOURS, never the real/fake colours).

The runs are the folders under --runs-dir, named relative to it ('ring8', 'exp/runs/job-3'):
the list is given only to a tab with a valid session, and only names it listed are opened.
Every file is read through the engine's guarded reader with the runs folder as its root
(toylab.engine.guarded: no link leads out of it, no FIFO or device is opened, sizes capped,
shapes checked), and a refusal is said on the page as 'run folder NAME: FILE: problem' —
never a server path and never a file's content."""

from __future__ import annotations

from pathlib import Path

from dash import Input, Output, State, dcc, html, no_update

from toylab import panels as P
from toylab.engine.guarded import RunFileError
from toylab.measure.outcomes import classify, verdict_text
from toylab.pictures.plotly_figures import curves_figure, panel_figure, run_colour

from .. import ids as I
from .page import Page, callback, with_session

LIVE = "(this tab's live run)"
SHOW = ("p_model", "d", "modes")


def find_runs(root) -> list[str]:
    """Run folders (with a config.json) under root, at most two levels down, newest first, named
    relative to root; a folder reached through a link that leads out of root is not listed."""
    root = Path(root)
    if not root.is_dir():
        return []
    real = root.resolve()
    found = {}
    for pattern in ("*/config.json", "*/*/config.json"):
        for p in root.glob(pattern):
            try:
                folder = p.parent
                if folder.resolve().is_relative_to(real):
                    found[folder.relative_to(root).as_posix()] = folder.stat().st_mtime
            except (OSError, RuntimeError, ValueError):
                continue
    return sorted(found, key=lambda n: found[n], reverse=True)


def layout(runs_dir):
    name = Path(runs_dir).name or "runs"
    return html.Div(className="compare", children=[
        html.P(f"Runs saved in the server's runs folder ({name}/: train them with `toylab train --out {name}/NAME` "
               f"or the sweep command), and this tab's live run. Pick up to 4.", className="help-text"),
        html.Div(className="buttons", children=[
            dcc.Dropdown(id=I.CMP_RUNS, multi=True, options=[], value=[], style={"minWidth": "600px"},
                         placeholder="choose runs to compare"),
            html.Button("Refresh list", id=I.CMP_REFRESH)]),
        html.Div(id=I.CMP_MESSAGE, className="message"),
        dcc.Graph(id=I.CMP_CURVES, style={"height": "340px"}, config={"displaylogo": False}),
        html.Div(id=I.CMP_GRID, className="cmp-grid"),
    ])


def _short(text, n: int = 80) -> str:
    text = str(text)
    return text if len(text) <= n else text[: n - 1] + "…"


def _problem(name: str, err: Exception, paths) -> str:
    """What went wrong with run `name`, for the page: the guarded reader's words (no path, no
    content); any other error by its kind and its text with the server's paths taken out."""
    if isinstance(err, RunFileError):
        return err.short(name)
    text = str(err)
    for p in sorted({str(p) for p in paths}, key=len, reverse=True):
        text = text.replace(p + "/", "").replace(p, name)
    return f"run folder {name}: {_short(text, 200) if isinstance(err, FileNotFoundError) else 'cannot be read'}" \
           f" ({type(err).__name__})"


def _no_list(text) -> tuple:
    return [], text


def _said(text) -> tuple:
    return no_update, no_update, text


class ComparePage(Page):
    """The run list (only for this lab's tabs) and the chosen runs side by side."""

    @callback(Output(I.CMP_RUNS, "options"), Output(I.CMP_MESSAGE, "children", allow_duplicate=True),
              Input(I.CMP_REFRESH, "n_clicks"), Input(I.TABS, "value"), State(I.SESSION, "data"),
              prevent_initial_call=True)
    @with_session(_no_list)
    def options(self, _session, _n, _tab):
        return [LIVE, *find_runs(self.runs_dir)], no_update

    @callback(Output(I.CMP_GRID, "children"), Output(I.CMP_CURVES, "figure"), Output(I.CMP_MESSAGE, "children"),
              Input(I.CMP_RUNS, "value"), State(I.SESSION, "data"), prevent_initial_call=True)
    @with_session(_said)
    def compare(self, session, chosen):
        runs, problems = open_runs(session, chosen, Path(self.runs_dir))
        cards, views = [], {}
        for name, run in runs.items():
            try:
                view = P.RunView(run, size=100)
                card = run_card(name, run, view, run_colour(len(views)))    # the colour of its curves below
            except Exception as err:          # noqa: BLE001 - a crafted folder is a message, never an HTTP 500
                problems.append(_problem(name, err, _paths(Path(self.runs_dir), name)))
                continue
            views[_label(name, run)] = view
            cards.append(card)
        try:
            fig = curves_figure(views, ("js", "modes_present")) if views else no_update
        except Exception as err:              # noqa: BLE001 - as above
            problems.append(f"the curves cannot be drawn ({type(err).__name__})")
            fig = no_update
        return cards, fig, "\n".join(problems)


def open_runs(session, chosen, root: Path) -> tuple[dict, list[str]]:
    """The chosen runs (at most 4), by name, and what was wrong with the others. Only names the
    server listed itself are opened: anything else (../../etc/passwd, a symlink out of runs_dir,
    an absolute path) is refused by name, unread."""
    chosen = [c for c in chosen if isinstance(c, str)][:4] if isinstance(chosen, list) else []
    allowed = set(find_runs(root))
    runs, problems = {}, []
    for name in chosen:
        try:
            if name == LIVE:
                if session.live is None:
                    problems.append("this tab has no live run yet")
                    continue
                run = session.live.snapshot_run()
            elif name in allowed:
                run = session.load(str(root / name), root=root)
            else:
                problems.append(f"{_short(name, 200)}: not a run under the runs folder (pick one from the list)")
                continue
        except Exception as err:          # noqa: BLE001 - a crafted folder is a message, never an HTTP 500
            problems.append(_problem(name, err, _paths(root, name)))
            continue
        if not run.snapshots:
            problems.append(f"run folder {name}: has no snapshots" if name != LIVE else "live run: no snapshots yet")
            continue
        runs[name] = run
    return runs, problems


def run_card(name, run, view, colour):
    """One run's card: its name, title and verdict over its p_model and D panels at its last
    snapshot, topped with the colour of its curves."""
    frame = view.frame(run.snapshots[-1])
    return html.Div(className="panel", style={"borderTop": f"4px solid {colour}"}, children=[
        html.Div([html.Span("■ ", style={"color": colour}), f"{_label(name, run)} · {view.title(frame)}"],
                 className="help", style={"fontWeight": 600}),
        html.Div(verdict(run), className="help cmp-verdict"),
        html.Div(style={"display": "grid", "gridTemplateColumns": "1fr 1fr"}, children=[
            dcc.Graph(figure=panel_figure(view, frame, p, height=300), config={"displayModeBar": False})
            for p in ("p_model", "d")])])


def _paths(root: Path, name: str) -> tuple:
    """The server's paths a problem's words may hold (taken out before they are sent)."""
    return root / name, root, _real(root / name), _real(root)


def verdict(run) -> str:
    """The run's outcome with its reason (toylab.outcomes, as everywhere), or why there is none."""
    if not len(run.member_history(0).get("js", ())):
        return "verdict: none yet (nothing measured)"
    return "verdict: " + verdict_text(classify(run))


def _real(p: Path) -> Path:
    try:
        return p.resolve()
    except (OSError, RuntimeError):
        return p


def _label(name, run) -> str:
    return "live" if name == LIVE else Path(name).name
