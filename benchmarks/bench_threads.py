"""Engine speed at 1 and 2 intra-op threads, on an idle machine and with one core kept busy.

torch's default on a 2-core machine is 2 intra-op threads; when another process keeps a
core busy (a browser, a second job, the dashboard's own server), those threads wait on
each other and training collapses. This measures the engine's training rounds per second
(`Trainer.round`, the step that `fit` repeats) at batch 64, 512 and 4096 and for a
16-member ensemble, at 1 and 2 threads, idle and with a spinning subprocess (bounded in
time: it stops by itself after `--busy-limit` seconds), and prints the ratios side by side.

    python benchmarks/bench_threads.py            # ~2-3 minutes on a 2-core CPU
    python benchmarks/bench_threads.py --quick    # a smoke run

The default (`TrainConfig.threads="auto"`) is measured as fit() runs it
(`toylab.threads.AutoThreads`): its columns give the thread count it settled on in each repeat. Targets (issue #13): the default >= 0.9x a one-thread run with one
core busy, and within 10 % of the best idle speed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import toylab  # noqa: E402
from toylab.engine.threads import AutoThreads  # noqa: E402
from toylab.engine.training import Trainer  # noqa: E402

SPIN = "import time\nend = time.monotonic() + {limit}\nwhile time.monotonic() < end:\n    pass\n"

CASES = {                        # name -> (batch, members)
    "batch 64": (64, 1),
    "batch 512": (512, 1),
    "batch 4096": (4096, 1),
    "16-member ensemble (batch 256)": (256, 16),
}


def rounds_per_s(trainer: Trainer, threads: int | str, seconds: float) -> tuple[float, int]:
    """Rounds per second over about `seconds` of training, and the thread count used at the end.

    threads="auto" is the default's policy as fit() runs it (toylab.threads.AutoThreads: one
    thread until the first load reading, then re-decided every second), warmed up for 0.5 s."""
    auto = AutoThreads("auto", trainer.device, trainer.cfg.batch_size * trainer.E) if threads == "auto" else None
    if auto is None:
        torch.set_num_threads(threads)
    else:
        auto.start()
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < (0.5 if auto else 0.05):
        for _ in range(3):
            trainer.round()
        if auto:
            auto.adjust()
    trainer.flush()                      # (the host sync fit() does per snapshot interval)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(5):
            trainer.round()
        n += 5
        if auto:
            auto.adjust()
    trainer.flush()
    rate, used = n / (time.perf_counter() - t0), torch.get_num_threads()
    if auto:
        auto.stop()
    return rate, used


class Busy:
    """One core kept busy by a spinning child process that stops by itself after `limit` s."""

    def __init__(self, limit: float):
        self.limit = limit

    def __enter__(self):
        self.proc = subprocess.Popen([sys.executable, "-c", SPIN.format(limit=self.limit)])
        time.sleep(0.3)
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()


def measure(seconds: float, repeats: int, busy_limit: float) -> list[dict]:
    rows = []
    for name, (batch, members) in CASES.items():
        cfg = toylab.TrainConfig(batch_size=batch, device="cpu")
        trainer = Trainer([cfg.replace(seed=s) for s in range(members)])
        res: dict[str, list[float]] = {}
        chosen: dict[str, list[int]] = {}
        for busy in (False, True):
            for _ in range(repeats):                     # alternate the contenders: drift hits all
                for threads in (1, 2, "auto"):
                    key = f"{'busy' if busy else 'idle'}_{threads}"
                    if busy:
                        with Busy(busy_limit):
                            rate, used = rounds_per_s(trainer, threads, seconds)
                    else:
                        rate, used = rounds_per_s(trainer, threads, seconds)
                    res.setdefault(key, []).append(rate)
                    chosen.setdefault(key, []).append(used)
        med = {k: statistics.median(v) for k, v in res.items()}
        best_idle = max(med["idle_1"], med["idle_2"])
        rows.append({"case": name, "members": members, "batch": batch, **med,
                     "auto_threads_idle": chosen["idle_auto"], "auto_threads_busy": chosen["busy_auto"],
                     "busy_1_over_2": med["busy_1"] / med["busy_2"], "idle_1_over_2": med["idle_1"] / med["idle_2"],
                     "default_busy_vs_1": med["busy_auto"] / med["busy_1"],
                     "default_idle_vs_best": med["idle_auto"] / best_idle})
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| case | idle 1 thr | idle 2 thr | idle auto (threads) | busy 1 thr | busy 2 thr | busy auto (threads) "
             "| **auto busy vs 1 thr** | **auto idle vs best** |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ti, tb = "/".join(map(str, r["auto_threads_idle"])), "/".join(map(str, r["auto_threads_busy"]))
        lines.append(f"| {r['case']} | {r['idle_1']:.0f} | {r['idle_2']:.0f} | {r['idle_auto']:.0f} ({ti}) | "
                     f"{r['busy_1']:.0f} | {r['busy_2']:.0f} | {r['busy_auto']:.0f} ({tb}) | "
                     f"{r['default_busy_vs_1']:.2f}× | {r['default_idle_vs_best']:.2f}× |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=2.0, help="seconds of training per measurement")
    p.add_argument("--repeats", type=int, default=2, help="alternated repeats per cell (median)")
    p.add_argument("--busy-limit", type=float, default=60.0, help="the spinner stops by itself after this")
    p.add_argument("--quick", action="store_true", help="a smoke run (0.3 s, 1 repeat)")
    a = p.parse_args(argv)
    if a.quick:
        a.seconds, a.repeats = 0.3, 1
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"rounds/s of the engine (Trainer.round), default 2x128 networks, ring8")
    rows = measure(a.seconds, a.repeats, a.busy_limit)
    print(table(rows))
    return rows


if __name__ == "__main__":
    main()
