"""`toylab dashboard`: the toylab CLI finds this module through the ``toylab.commands`` entry
point (pyproject.toml), so the library never imports the dashboards package. Like
`python -m dashboards` (__main__), it is a way in, above the app."""

from __future__ import annotations

from .options import add_options


def _serve(args) -> int:
    from .app import serve              # start-up: Dash and the pages load only when the command runs
    return serve(args)


def register(subparsers) -> None:
    """Add `dashboard` to the toylab CLI's subcommands, with python -m dashboards' options."""
    db = subparsers.add_parser("dashboard", help="the Dash dashboard (--host, --port, --runs-dir, --max-runs, ...)")
    add_options(db)
    db.set_defaults(func=_serve)
