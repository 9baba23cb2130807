"""Training throughput as a share of what the machine's matmul can do, measured in one run.

    python benchmarks/bench_flops.py [--quick] [--device cuda] [--json FILE]

For each workload the round's arithmetic is counted once (every matmul of a round's forward and
backward passes, by a dispatch mode), then rounds are timed (no snapshots: the
training step alone) and the rate is reported as GFLOP/s and as a share of the GEMM rate
measured between the workloads (float32: a 512^3 product on one CPU core, 4096^3 on a GPU; a
workload on two threads is compared with two cores' worth). Every timing alternates with a GEMM measurement, and
the share uses the GEMM measured next to it, so a slow moment of this shared machine hits both. Last, it
prints issue #26's goals against this run's figures (met or not).

Workloads (docs/performance.md has the figures and the goals of issue #26):
- PacGAN's networks (G 4x400 with batch norm, D 3x200 maxout-5, batch 100): one run, and a
  10-member ensemble;
- the default ring8 networks (2x128, batch 256): one run (1 thread and 2 threads), a
  30-member ensemble on one thread, and 30 members as two 15-member groups on two threads
  (the dashboard's pool of a class: one group per core).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import threading
import time
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from toylab import TrainConfig  # noqa: E402
from toylab.engine.device import resolve_device  # noqa: E402
from toylab.engine.training import Trainer  # noqa: E402

ONLY = ""      # --only: a part of the workloads' names
PACGAN = dict(g_hidden=400, g_depth=4, g_batchnorm=True, d_hidden=200, d_depth=3, d_maxout=5, batch_size=100,
              init="normal")


def gemm_gflops(device, seconds: float = 0.5) -> float:
    """The machine's float32 matmul rate now (GFLOP/s): 512^3 on a CPU, 4096^3 on a GPU."""
    n = 512 if device.type == "cpu" else 4096
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    a @ b
    reps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        a @ b
        reps += 1
        if device.type == "cuda":
            torch.cuda.synchronize()
    return 2 * n ** 3 * reps / (time.perf_counter() - t0) / 1e9


class MatmulFlops(TorchDispatchMode):
    """Counts the FLOPs of every matrix product dispatched (2 x M x K x N each). torch's
    FlopCounterMode tracks modules with hooks that autograd.grad() refuses."""

    OPS = {torch.ops.aten.mm.default: (0, 1), torch.ops.aten.bmm.default: (0, 1),
           torch.ops.aten.addmm.default: (1, 2), torch.ops.aten.baddbmm.default: (1, 2)}

    def __init__(self):
        super().__init__()
        self.flops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in self.OPS:
            i, j = self.OPS[func]
            a, b = args[i], args[j]
            self.flops += 2 * a.numel() * b.shape[-1]
        return func(*args, **(kwargs or {}))


def round_flops(configs) -> float:
    """Matmul FLOPs of one round of these members (forward and backward), counted."""
    t = Trainer(configs)
    t.round()
    with MatmulFlops() as counter:
        t.round()
    return counter.flops


def rounds_per_s(configs, rounds: int, sync) -> float:
    t = Trainer(configs)
    for _ in range(3):
        t.round()
    t.flush()
    sync()
    t0 = time.perf_counter()
    for _ in range(rounds):
        t.round()
    t.flush()
    sync()
    return rounds / (time.perf_counter() - t0)


def groups_per_s(groups, rounds: int, sync) -> float:
    """Member-rounds/s of several ensembles trained at once, one Python thread each."""
    rates = [0.0] * len(groups)

    def work(i):
        rates[i] = len(groups[i]) * rounds_per_s(groups[i], rounds, sync)
    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(groups))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return sum(rates)


def measure(name, configs, rounds, repeats, threads, device, sync, groups=1) -> dict | None:
    """Member-rounds/s and GFLOP/s of a workload, and its share of the GEMM measured beside it."""
    if ONLY not in name:
        return None
    flops = round_flops(configs[:len(configs) // groups] if groups > 1 else configs) * groups / len(configs)
    shares, rates, gemms = [], [], []
    for _ in range(repeats):
        torch.set_num_threads(1)
        gemm = gemm_gflops(device)          # one thread: the rate of one core (the workloads' unit)
        torch.set_num_threads(threads if groups == 1 else 1)
        if groups > 1:
            size = len(configs) // groups
            rate = groups_per_s([configs[i * size:(i + 1) * size] for i in range(groups)], rounds, sync)
        else:
            rate = len(configs) * rounds_per_s(configs, rounds, sync)
        rates.append(rate)
        gemms.append(gemm)
        shares.append(rate * flops / 1e9 / (gemm * (threads if device.type == "cpu" else 1)))
    rate = statistics.median(rates)
    res = {"workload": name, "members": len(configs), "threads": threads, "mflop_per_member_round": flops / 1e6,
           "member_rounds_per_s": rate, "gflops": rate * flops / 1e9, "gemm_gflops_per_core": statistics.median(gemms),
           "share_of_gemm": statistics.median(shares)}
    print(f"  {name:44s} {rate:8.1f} member-rounds/s  {res['gflops']:6.1f} GFLOP/s  "
          f"{100 * res['share_of_gemm']:5.1f} % of GEMM ({res['gemm_gflops_per_core']:.0f} GFLOP/s a core"
          f"{f' x {threads}' if threads > 1 else ''})", flush=True)
    return res


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a few rounds only (smoke test)")
    p.add_argument("--device", default="auto")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    p.add_argument("--only", metavar="WORDS", default="", help="only the workloads whose name contains this")
    args = p.parse_args(argv)
    global ONLY
    ONLY = args.only
    device = resolve_device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    q = args.quick
    repeats = 1 if q else 3
    base = TrainConfig(device=str(device))
    pac = TrainConfig(device=str(device), **PACGAN)
    seeds = lambda cfg, n: [cfg.replace(seed=s) for s in range(n)]      # noqa: E731
    print(f"device {device}, torch {torch.__version__}, {platform.machine()}; "
          f"matmul FLOPs counted per round, rates as a share of the GEMM measured beside them")
    res = {"device": str(device), "torch": torch.__version__, "workloads": []}
    w = res["workloads"]
    w.append(measure("PacGAN networks, one run", [pac], 5 if q else 60, repeats, 1, device, sync))
    w.append(measure("PacGAN networks, 10-member ensemble", seeds(pac, 10), 2 if q else 10, repeats, 1, device, sync))
    w.append(measure("default ring8, one run", [base], 20 if q else 400, repeats, 1, device, sync))
    if device.type == "cpu":
        w.append(measure("default ring8, one run, 2 threads", [base], 20 if q else 400, repeats, 2, device, sync))
    w.append(measure("default ring8, 30-member ensemble", seeds(base, 30), 3 if q else 40, repeats, 1, device, sync))
    if device.type == "cpu":
        w.append(measure("default ring8, 30 members as 2 groups x 15", seeds(base, 30), 3 if q else 60, repeats, 2,
                         device, sync, groups=2))
    res["workloads"] = [r for r in w if r is not None]
    res["goals"] = goals({r["workload"]: r for r in res["workloads"]})
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2))
    return res


def goals(by_name: dict) -> list[dict]:
    """Issue #26's goals, from this run's figures (those measured): printed and returned."""
    out = []

    def goal(what, value, target, unit):
        out.append({"goal": what, "value": value, "target": target, "met": value >= target})
        print(f"  {what:80s} {value:5.2f}{unit} (goal >= {target:g}{unit}): {'met' if value >= target else 'NOT met'}")

    share = lambda name: 100 * by_name[name]["share_of_gemm"]                  # noqa: E731
    rate = lambda name: by_name[name]["member_rounds_per_s"]                   # noqa: E731
    print("goals (issue #26):")
    if "PacGAN networks, one run" in by_name:
        goal("PacGAN networks, one run: % of GEMM", share("PacGAN networks, one run"), 50, " %")
    if "PacGAN networks, 10-member ensemble" in by_name:
        goal("PacGAN networks, 10-member ensemble: % of GEMM", share("PacGAN networks, 10-member ensemble"), 65, " %")
    ens = "default ring8, 30 members as 2 groups x 15"
    for one, why in (("default ring8, one run, 2 threads", "2 threads, what threads=auto takes idle"),
                     ("default ring8, one run", "1 thread")):
        if ens in by_name and one in by_name:
            goal(f"default ring8, 30 members (2 groups) / one run ({why})", rate(ens) / rate(one), 3, "x")
    return out


if __name__ == "__main__":
    main()
