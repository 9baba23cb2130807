"""Bias, spread, standard error and coverage of toylab.metrics.js_estimate against answers known exactly.

The cases (benchmarks/js_cases.py): textbook ones near zero (a mode or a few missing, modes
re-weighted or widened) and far from it (one of 8 modes, a broad cloud, two Gaussians), and
messy ones, what GANs produce between and beyond the modes (uniform background 5-50 %, 1 %
far outliers, one far sample, a shifted checkerboard, narrowed modes, half the mass on one
mode). Truth: the same JSD with both densities exact, by Monte Carlo on 400,000 samples
(standard error < 0.0005). For each sample size, `--seeds` independent draws; prints the
Markdown table of docs/metrics.md with the share of draws whose +-2 se interval covers the
truth, and the time per call.

    python benchmarks/bench_js.py                 # ~15 minutes on a 2-core CPU
    python benchmarks/bench_js.py --sizes 10000 --seeds 3 --cases ring8   # the large-n timing
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from js_cases import cases
from toylab import metrics


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="500,2500")
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--cases", default="", help="only cases whose name contains this")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    print("| case | truth (nats) | n | mean estimate | bias | std | mean stderr | +-2 se covers | clipped | time per call |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for case in cases():
        if args.cases not in case.name:
            continue
        for n in map(int, args.sizes.split(",")):
            truth = case.truth(n)
            est, t0 = [], time.perf_counter()
            for s in range(args.seeds):
                est.append(metrics.js_estimate(case.target, case.model.sample(n, seed=1000 + s), seed=s))
            dt = (time.perf_counter() - t0) / args.seeds
            raw = [e.raw for e in est]
            m = statistics.mean(raw)
            covers = sum(abs(e.raw - truth) <= 2 * e.stderr for e in est)
            print(f"| {case.name} | {truth:.4f} | {n} | {m:.4f} | {m - truth:+.4f} | {statistics.stdev(raw):.4f} "
                  f"| {statistics.mean(e.stderr for e in est):.4f} | {covers}/{len(est)} "
                  f"| {sum(e.clipped for e in est)}/{len(est)} | {dt * 1e3:.0f} ms |", flush=True)


if __name__ == "__main__":
    main()
