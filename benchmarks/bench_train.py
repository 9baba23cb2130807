"""Training speed, measured side by side in one process.

1. toylab's engine (snapshots every 50 rounds, all recording on) beside the plain
   tutorial-style PyTorch loop in plain_loop.py: same networks (2 x 128 LeakyReLU
   MLPs), same batch, ring8. Reported as rounds per second and their ratio.
2. An ensemble of 64 members in one batched call beside 64 single runs trained one
   after another: member-rounds per second and their ratio.

Each comparison alternates the contenders over several repeats and reports the
median, so a slow moment of the machine hits both. Run:

    python benchmarks/bench_train.py            # ~2 minutes on a 2-core CPU
    python benchmarks/bench_train.py --quick    # a smoke run
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from plain_loop import plain_train  # noqa: E402

import toylab  # noqa: E402
from toylab.engine.training import Trainer  # noqa: E402


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def engine_vs_plain(batch: int, steps: int, repeats: int, device: str) -> dict:
    cfg = toylab.TrainConfig(batch_size=batch, steps=steps, snapshot_every=50, device=device)
    plain_train(20, batch=batch)                                  # warm-up
    toylab.train(cfg.replace(steps=20))
    t_plain, t_engine = [], []
    for _ in range(repeats):
        t_plain.append(timed(lambda: plain_train(steps, batch=batch)))
        t_engine.append(timed(lambda: toylab.train(cfg)))
    plain, engine = steps / statistics.median(t_plain), steps / statistics.median(t_engine)
    return {"batch": batch, "plain_rounds_per_s": plain, "engine_rounds_per_s": engine, "ratio": engine / plain}


def ensemble_vs_singles(batch: int, members: int, steps: int, repeats: int, device: str) -> dict:
    cfg = toylab.TrainConfig(batch_size=batch, device=device)
    configs = [cfg.replace(seed=s) for s in range(members)]

    def ensemble():
        t = Trainer(configs)
        for _ in range(steps):
            t.round()
        t.flush()

    def singles():
        for c in configs:
            t = Trainer(c)
            for _ in range(steps):
                t.round()
            t.flush()

    ensemble()
    t_ens, t_single = [], []
    for _ in range(repeats):
        t_single.append(timed(singles))
        t_ens.append(timed(ensemble))
    work = members * steps
    e, s = work / statistics.median(t_ens), work / statistics.median(t_single)
    return {"batch": batch, "members": members, "single_member_rounds_per_s": s,
            "ensemble_member_rounds_per_s": e, "ratio": e / s}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a few rounds only (smoke test)")
    p.add_argument("--device", default="auto")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = p.parse_args(argv)
    steps, ens_steps, repeats = (30, 4, 1) if args.quick else (600, 30, 3)
    device = str(toylab.resolve_device(args.device))
    res = {"device": device, "cpu": platform.processor() or platform.machine(),
           "threads": torch.get_num_threads(), "torch": torch.__version__,
           "engine_vs_plain": [engine_vs_plain(b, steps, repeats, device) for b in (512, 64)],
           "ensemble_vs_singles": [ensemble_vs_singles(b, 64, ens_steps, repeats, device) for b in (512, 64)]}
    print(f"device {device}, torch {res['torch']}, {res['threads']} threads")
    print("engine (snapshots every 50) vs plain tutorial loop, ring8, 2x128 MLPs:")
    for r in res["engine_vs_plain"]:
        print(f"  batch {r['batch']:4d}: engine {r['engine_rounds_per_s']:7.1f} rounds/s, "
              f"plain {r['plain_rounds_per_s']:7.1f} rounds/s, ratio {r['ratio']:.2f}x")
    print("ensemble of 64 vs 64 single runs:")
    for r in res["ensemble_vs_singles"]:
        print(f"  batch {r['batch']:4d}: ensemble {r['ensemble_member_rounds_per_s']:7.1f} member-rounds/s, "
              f"singles {r['single_member_rounds_per_s']:7.1f}, ratio {r['ratio']:.2f}x")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2))
    return res


if __name__ == "__main__":
    main()
