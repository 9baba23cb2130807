"""Resident memory of a long single run: how much each kept snapshot costs.

    python benchmarks/bench_memory.py                     # 20,000 rounds, 200 kept snapshots
    python benchmarks/bench_memory.py --snapshot-every 101       # 200 snapshots kept at the end
    python benchmarks/bench_memory.py --steps 2000 --snapshot-every 10

Prints RSS (current and peak, MB) before training, after it, and the bytes the kept
snapshots hold, and (unless --no-density) the time of panels.pixel_density on a 100k-row
points target. docs/engine.md quotes its output.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch

import toylab
from toylab.engine.runs import SNAPSHOT_ARRAYS


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=20_000)
    p.add_argument("--snapshot-every", type=int, default=50)
    p.add_argument("--max-snapshots", type=int, default=200)
    p.add_argument("--metrics-every", type=int, help="default 100, or snapshot_every if 100 is not a multiple")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-density", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    every = a.metrics_every or (100 if 100 % a.snapshot_every == 0 else a.snapshot_every)
    cfg = toylab.TrainConfig(steps=a.steps, snapshot_every=a.snapshot_every, max_snapshots=a.max_snapshots,
                             metrics_every=every)
    toylab.train(cfg.replace(steps=a.snapshot_every * 2))          # warm up: imports, allocator pools
    base = rss_mb()
    t0 = time.perf_counter()
    run = toylab.train(cfg)
    took = time.perf_counter() - t0
    held = sum(getattr(s, k).nbytes for s in run.snapshots for k in SNAPSHOT_ARRAYS) / 2**20
    now = rss_mb()
    print(f"{a.steps} rounds, snapshot every {a.snapshot_every}: {len(run.snapshots)} snapshots kept "
          f"({held:.1f} MB of arrays) in {took:.0f} s")
    print(f"RSS before {base:.0f} MB, after {now:.0f} MB (+{now - base:.0f} MB, "
          f"{(now - base) / max(1, len(run.snapshots)):.2f} MB per kept snapshot), peak {peak_mb():.0f} MB")
    if not a.no_density:
        from toylab.engine.datasets import PointCloud
        from toylab.pictures.panels import pixel_density
        pts = PointCloud(np.random.default_rng(0).normal(size=(100_000, 2)))
        t0 = time.perf_counter()
        pixel_density(pts, 160)
        print(f"pixel_density, 100,000-row points target, 160 px: {time.perf_counter() - t0:.2f} s")


if __name__ == "__main__":
    main()
