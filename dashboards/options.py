"""The dashboard's command-line options, in one place for `python -m dashboards` and
`toylab dashboard` (this module imports nothing heavy, so the toylab CLI can build its
parser without importing Dash)."""

from __future__ import annotations

import argparse
import os


def positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {n}")
    return n


def count(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0, got {text!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {n}")
    return n


def port(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a port number 1 to 65535, got {text!r}") from None
    if not 1 <= n <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number 1 to 65535, got {n}")
    return n


def add_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=port, default=8050, help="port (default 8050)")
    p.add_argument("--runs-dir", default="runs", help="where saved runs are listed for comparison (default runs)")
    p.add_argument("--max-sessions", type=positive, default=40, help="browser tabs served at once (default 40)")
    p.add_argument("--max-per-client", type=positive, default=4,
                   help="tabs one client address may hold (default 4)")
    p.add_argument("--max-runs", type=positive, default=os.cpu_count() or 1,
                   help=f"trainings running at once; more wait in a queue (default: the cores, {os.cpu_count()})")
    p.add_argument("--max-queue", type=count, default=None,
                   help="trainings that may wait for a slot before Start is refused (default 4 x --max-runs)")
    p.add_argument("--debug", action="store_true", help="Dash debug mode (reloader, error pop-ups): local use only")
