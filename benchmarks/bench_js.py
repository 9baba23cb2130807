"""Bias and spread of toylab.metrics.js_divergence against answers known exactly.

Cases: a model that puts equal mass on exactly k of ring8's 8 modes (closed form in
THEORY.md) and two overlapping Gaussians (fine quadrature). For each sample size,
`--seeds` independent draws; prints a Markdown table (docs/metrics.md) and timings.

    python benchmarks/bench_js.py            # ~3 minutes on a 2-core CPU
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

from toylab import datasets, metrics

LN2 = math.log(2)


def k_of_K(k, K=8):
    return 0.5 * ((k / K) * math.log(2 * k / (k + K)) + ((K - k) / K) * LN2 + math.log(2 * K / (k + K)))


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="500,1000,2500,5000")
    ap.add_argument("--seeds", type=int, default=10)
    args = ap.parse_args(argv)
    ring = datasets.get("ring8")
    P = datasets.get("gaussian", mean=(0.0, 0.0), std=1.0)
    Q = datasets.get("gaussian", mean=(1.0, 0.0), std=0.7)
    cases = [(f"ring8, model on {k} of 8 modes", ring, datasets.GaussianMixture(ring.modes[:k], 0.02 ** 2), k_of_K(k))
             for k in (1, 2, 4, 8)]
    cases.append(("N(0, 1) vs N((1, 0), 0.7^2)", P, Q, metrics.js_divergence_quadrature(P.log_prob, Q.log_prob, (-8, 8, -8, 8))))
    print("| case | truth (nats) | n | mean estimate | bias | std | time per call |")
    print("|---|---|---|---|---|---|---|")
    for name, target, model, truth in cases:
        for n in map(int, args.sizes.split(",")):
            est, t0 = [], time.perf_counter()
            for s in range(args.seeds):
                est.append(metrics.js_divergence(target, model.sample(n, seed=1000 + s), seed=s, clip=False))
            dt = (time.perf_counter() - t0) / args.seeds
            m = statistics.mean(est)
            print(f"| {name} | {truth:.4f} | {n} | {m:.4f} | {m - truth:+.4f} | {statistics.stdev(est):.4f} "
                  f"| {dt * 1e3:.0f} ms |")


if __name__ == "__main__":
    main()
