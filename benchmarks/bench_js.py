"""Bias, spread and standard error of toylab.metrics.js_estimate against answers known exactly.

Cases near zero (a mode or a few missing, modes re-weighted or widened: what a nearly
trained generator looks like) and far from it (one of 8 modes, a broad cloud over the
grid, two overlapping Gaussians). Truth: the same JSD with both densities exact, by Monte
Carlo on 400,000 samples (standard error < 0.0005). For each sample size, `--seeds`
independent draws; prints the Markdown table of docs/metrics.md with timings.

    python benchmarks/bench_js.py                 # ~5 minutes on a 2-core CPU
    python benchmarks/bench_js.py --sizes 10000 --seeds 3 --cases ring8   # the large-n timing
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from toylab import datasets, metrics


def cases() -> list[tuple[str, object, object]]:
    ring, grid = datasets.get("ring8"), datasets.get("grid25")
    ring_on = lambda idx, w=None, std=0.02: datasets.GaussianMixture(ring.modes[list(idx)], std ** 2, w)  # noqa: E731
    grid_on = lambda idx, w=None, std=0.05: datasets.GaussianMixture(grid.modes[list(idx)], std ** 2, w)  # noqa: E731
    w8 = torch.tensor([2.0] * 4 + [1.0] * 4)
    w25 = torch.ones(25)
    w25[:5] = 3.0
    P = datasets.get("gaussian", mean=(0.0, 0.0), std=1.0)
    return [
        ("ring8, all 8 modes (q = p)", ring, ring_on(range(8))),
        ("ring8, 7 of 8 modes", ring, ring_on(range(7))),
        ("ring8, 6 of 8 modes", ring, ring_on(range(6))),
        ("ring8, weights 2:1", ring, ring_on(range(8), w8 / w8.sum())),
        ("grid25, all 25 modes (q = p)", grid, grid_on(range(25))),
        ("grid25, 24 of 25 modes", grid, grid_on(range(24))),
        ("grid25, 22 of 25 modes", grid, grid_on(range(22))),
        ("grid25, 5 modes x3 weight", grid, grid_on(range(25), w25 / w25.sum())),
        ("grid25, modes 1.3x wider", grid, grid_on(range(25), std=0.065)),
        ("ring8, 1 of 8 modes", ring, ring_on([0])),
        ("grid25 vs a broad N(0, 2.5^2)", grid, datasets.GaussianMixture(torch.zeros(1, 2), 2.5 ** 2)),
        ("N(0, 1) vs N((1, 0), 0.7^2)", P, datasets.get("gaussian", mean=(1.0, 0.0), std=0.7)),
    ]


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="500,1000,2500")
    ap.add_argument("--seeds", type=int, default=12)
    ap.add_argument("--cases", default="", help="only cases whose name contains this")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    print("| case | truth (nats) | n | mean estimate | bias | std | mean stderr | clipped | time per call |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, target, model in cases():
        if args.cases not in name:
            continue
        truth = metrics.js_divergence_exact(target, model.log_prob, model.sample(400_000, seed=99), seed=5)
        for n in map(int, args.sizes.split(",")):
            est, t0 = [], time.perf_counter()
            for s in range(args.seeds):
                est.append(metrics.js_estimate(target, model.sample(n, seed=1000 + s), seed=s))
            dt = (time.perf_counter() - t0) / args.seeds
            raw = [e.raw for e in est]
            m = statistics.mean(raw)
            print(f"| {name} | {truth:.4f} | {n} | {m:.4f} | {m - truth:+.4f} | {statistics.stdev(raw):.4f} "
                  f"| {statistics.mean(e.stderr for e in est):.4f} | {sum(e.clipped for e in est)}/{len(est)} "
                  f"| {dt * 1e3:.0f} ms |", flush=True)


if __name__ == "__main__":
    main()
