"""The mode-collapse recipe's ring8 vanilla setting with 64 seeds: one batched ensemble
against 64 runs one at a time (issue target: >= 3x on a 2-core CPU).

    python benchmarks/bench_sweep.py [--seeds 64] [--steps 300] [--json]

Both sides train the recipe's exact configs (its batch size, snapshots and measurements)
for --steps rounds, in this process, side by side.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from toylab import Trainer
from toylab.engine.config import make_config
from toylab.experiments import load_experiment


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=64)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    exp = load_experiment("mode_collapse", seeds=args.seeds, steps=args.steps)
    label, overrides = next((s, o) for s, o in exp.settings() if s == "vanilla, dataset=ring8")
    configs = [make_config(**{**exp.base, **overrides, "seed": s}) for s in exp.seeds]

    t0 = time.perf_counter()
    ens = Trainer(configs).fit()
    t_ens = time.perf_counter() - t0
    t0 = time.perf_counter()
    for c in configs:
        Trainer(c).fit()
    t_one = time.perf_counter() - t0
    res = {"setting": label, "seeds": len(configs), "steps": args.steps, "batch_size": configs[0].batch_size,
           "ensemble_s": round(t_ens, 2), "one_at_a_time_s": round(t_one, 2), "speedup": round(t_one / t_ens, 2),
           "threads": torch.get_num_threads(), "status": ens.status, "target": 3.0}
    if args.json:
        print(json.dumps(res))
    else:
        print(f"{label}: {len(configs)} seeds x {args.steps} rounds, batch {configs[0].batch_size}: ensemble "
              f"{t_ens:.1f} s, one at a time {t_one:.1f} s -> {t_one / t_ens:.2f}x (target >= 3x)")


if __name__ == "__main__":
    main()
