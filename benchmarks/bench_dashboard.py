"""Server time of one dashboard snapshot update (target: < 100 ms).

    python benchmarks/bench_dashboard.py [--json]

A live ring8 run with the issue's sizes (D on a 100x100 grid, 2,000 fixed fakes) is
trained for a while; then the Train tab's update is timed as the server does it: refresh
the RunView, compute the frame (KDE of p_model, D*, D), build the nine Plotly panel
figures and serialise them to JSON for the browser. Median of 30 updates over
different snapshots.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import plotly.io as pio

from dashboards import forms
from dashboards.pages.train import figures_for
from dashboards.live import LiveRun
from toylab import panels as P


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    cfg, errors, _ = forms.build_config({"steps": 1500, "snapshot_every": 50})
    cfg = cfg.replace(n_fixed=2000, grid_size=100)
    live = LiveRun(cfg)
    live.start()
    live._thread.join()
    run = live.snapshot_run()
    pio.to_json({"data": []})                      # the JSON engine's one-time set-up, once per server process
    times, sizes = [], []
    for i in range(30):
        t0 = time.perf_counter()
        figs = figures_for(live, run, i % len(run.snapshots), list(P.PANELS), "light")
        payload = "".join(pio.to_json(f) for f in figs)
        times.append(time.perf_counter() - t0)
        sizes.append(len(payload))
    res = {"median_ms": round(1000 * statistics.median(times), 1),
           "p90_ms": round(1000 * statistics.quantiles(times, n=10)[-1], 1),
           "first_ms": round(1000 * times[0], 1), "max_ms": round(1000 * max(times), 1),
           "payload_kb": round(statistics.median(sizes) / 1024), "grid": cfg.grid_size, "points": cfg.n_fixed,
           "panels": len(P.PANELS), "target_ms": 100}
    if args.json:
        print(json.dumps(res))
    else:
        print(f"snapshot update, 9 panels, D grid {cfg.grid_size}x{cfg.grid_size}, {cfg.n_fixed} points: "
              f"median {res['median_ms']} ms, 90th percentile {res['p90_ms']} ms, first {res['first_ms']} ms, "
              f"max {res['max_ms']} ms (target < 100); "
              f"{res['payload_kb']} kB of JSON")


if __name__ == "__main__":
    main()
