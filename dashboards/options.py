"""The dashboard's command-line options, in one place for `python -m dashboards` and
`toylab dashboard` (this module imports nothing heavy, so the toylab CLI can build its
parser without importing Dash)."""

from __future__ import annotations

import argparse
import os


def _whole_number(lo: int, hi: int | None = None, noun: str = "a whole number"):
    """An argparse type: an int in [lo, hi] (hi None: no upper bound), refused by name otherwise."""
    allowed = f"{noun} {lo} to {hi}" if hi is not None else f"{noun} >= {lo}"

    def parse(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {allowed}, got {text!r}") from None
        if n < lo or (hi is not None and n > hi):
            raise argparse.ArgumentTypeError(f"must be {allowed if hi is not None else f'>= {lo}'}, got {n}")
        return n
    return parse


positive = _whole_number(1)
count = _whole_number(0)
port = _whole_number(1, 65535, noun="a port number")


#: seconds after which a live run shows a frame between its scheduled snapshots (--frame-seconds):
#: a class's runs train ~15 rounds a second each, so one snapshot every 50 rounds left a page 3-4 s
#: without a new picture; the frame is provisional (replaced by the next one, never judged or
#: exported alone)
LIVE_FRAME_SECONDS = 0.75


def seconds(text: str) -> float:
    """An argparse type: seconds from 0 to 60, refused by name otherwise."""
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be seconds from 0 to 60, got {text!r}") from None
    if not 0 <= x <= 60:                   # (NaN fails both)
        raise argparse.ArgumentTypeError(f"must be seconds from 0 to 60, got {text}")
    return x


def add_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=port, default=8050, help="port (default 8050)")
    p.add_argument("--runs-dir", default="runs", help="where saved runs are listed for comparison (default runs)")
    p.add_argument("--max-sessions", type=positive, default=40, help="browser tabs served at once (default 40)")
    p.add_argument("--max-per-client", type=positive, default=4,
                   help="tabs one client address may hold (default 4)")
    p.add_argument("--max-runs", type=positive, default=os.cpu_count() or 1,
                   help=f"training groups at once (full-speed runs of one shape share a group's rounds; a "
                        f"slowed-down run takes a slot of its own); more wait in line (default: the cores, "
                        f"{os.cpu_count()})")
    p.add_argument("--max-queue", type=count, default=None,
                   help="trainings that may wait for a slot before Start is refused (default 4 x --max-runs)")
    p.add_argument("--idle-timeout", type=positive, default=180,
                   help="seconds a tab may go unheard before its session and run are closed (default 180); "
                        "an open page sends a heartbeat every quarter of it, whichever tab it shows")
    p.add_argument("--floor", type=positive, default=8,
                   help="rounds/s each run keeps: a training group takes no run that would drop it below this "
                        "(default 8); runs that fit in no group wait in line")
    p.add_argument("--frame-seconds", type=seconds, default=LIVE_FRAME_SECONDS,
                   help="a live run whose snapshots come slower than this shows a picture of its newest round "
                        f"every so many seconds between them (default {LIVE_FRAME_SECONDS:g}; 0: at the snapshots "
                        "only). Each "
                        "picture costs about as much as four rounds of the default networks")
    p.add_argument("--server-threads", type=positive, default=8,
                   help="request threads of the web server (default 8; waitress): a page has at most one poll "
                        "in flight, and fewer threads leave the interpreter to the training")
    p.add_argument("--max-connections", type=positive, default=200,
                   help="open connections the server accepts at once (default 200); more wait")
    p.add_argument("--debug", action="store_true", help="Dash debug mode (its development server, reloader, error "
                                                        "pop-ups): local use only")

