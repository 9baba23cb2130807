"""`toylab figure` end to end, and where its time goes.

Trains a 400-round ring8 run and a swiss-roll run (snapshots every 50 rounds), gives each
101 snapshot files (copies of the last, as a 5,000-round run has), then times
`python -m toylab figure RUN --out x.pdf` in a fresh process (median of 3) and, in one
process, the parts: imports, loading the run (its records and the one snapshot drawn), the
drawing, the saving, and a second figure once everything is warm. It also says whether torch
was imported (a figure of a saved run needs neither torch nor pyplot nor scipy).

    python benchmarks/bench_figure.py
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def make_runs(folder: Path) -> dict[str, Path]:
    import toylab
    out = {}
    for name in ("ring8", "swissroll"):
        run = toylab.train(dataset=name, steps=400, snapshot_every=50, out=folder / name)
        last = sorted((run.path / "snapshots").glob("*.npz"))[-1]
        for i in range(1, 93):
            shutil.copy(last, run.path / "snapshots" / f"step_{400 + 50 * i:08d}.npz")
        out[name] = run.path
    return out


def fresh_process(run: Path, out: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "toylab", "figure", str(run), "--out", str(out), "--overwrite"],
                   env=env, check=True, capture_output=True)
    return time.perf_counter() - t0


def parts(run: Path, out: Path) -> dict[str, float]:
    code = f"""
import time, sys
t = time.perf_counter(); from toylab.pictures import mpl_figures as viz; imp = time.perf_counter() - t
t = time.perf_counter(); run = viz.load_for_frame({str(run)!r}); load = time.perf_counter() - t
t = time.perf_counter(); fig = viz.frame_figure(run); draw = time.perf_counter() - t
t = time.perf_counter(); viz.save_figure(fig, {str(out)!r}); save = time.perf_counter() - t
t = time.perf_counter(); viz.save_figure(viz.frame_figure(viz.load_for_frame({str(run)!r})), {str(out)!r})
again = time.perf_counter() - t
print(imp, load, draw, save, again, int("torch" in sys.modules))
"""
    res = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(ROOT)},
                         capture_output=True, text=True, check=True)
    return dict(zip(("imports", "load (records + 1 snapshot)", "draw", "save PDF", "a second figure, warm",
                     "torch imported"), map(float, res.stdout.split())))


def main():
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        runs = make_runs(tmp)
        print("| run | `toylab figure` (fresh process, median of 3) | imports | load | draw | save | warm | torch |")
        print("|---|---|---|---|---|---|---|---|")
        for name, path in runs.items():
            wall = statistics.median(fresh_process(path, tmp / "x.pdf") for _ in range(3))
            p = parts(path, tmp / "y.pdf")
            torch_used = "yes" if p.pop("torch imported") else "no"
            print(f"| {name}, 101 snapshots | {wall:.2f} s | " + " | ".join(f"{v:.2f} s" for v in p.values())
                  + f" | {torch_used} |")


if __name__ == "__main__":
    main()
