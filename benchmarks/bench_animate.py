"""Export speed: frames per second of a 1280x720 MP4 with every panel (target: >= 15 on 2 cores).

    python benchmarks/bench_animate.py [--frames 100] [--json]

Trains a ring8 run once (snapshots every 20 rounds), then times `toylab.animate` end to
end (panel data, drawing, H.264 encoding in ffmpeg's own process, file rename), and the
stages alone: per-frame panel data (RunView.frame) and drawing (Painter.update + render).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import toylab
from toylab import panels, viz


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--size", default="720p")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        run = toylab.train(dataset="ring8", steps=20 * args.frames, snapshot_every=20, metrics_every=20,
                           max_snapshots=args.frames + 1, out=Path(tmp) / "run", progress=False)
        run = toylab.load_run(run.path)
        n = len(run.snapshots)
        totals = []
        for i in range(args.repeats):
            t0 = time.perf_counter()
            toylab.animate(run, Path(tmp) / f"a{i}.mp4", size=args.size, hold=0, progress=False)
            totals.append(time.perf_counter() - t0)
        view = panels.RunView(run)
        t0 = time.perf_counter()
        frames = [view.frame(s) for s in run.snapshots]
        t_data = (time.perf_counter() - t0) / n
        painter = viz.Painter(view, None, "light", args.size)
        painter.update(frames[0])
        painter.render()
        t0 = time.perf_counter()
        for f in frames:
            painter.update(f)
            painter.render()
        t_draw = (time.perf_counter() - t0) / n
        painter.close()
        size = (Path(tmp) / "a0.mp4").stat().st_size

    total = statistics.median(totals)
    res = {"frames": n, "size": args.size, "export_s": round(total, 3), "fps": round(n / total, 1),
           "panel_data_ms": round(1000 * t_data, 1), "draw_ms": round(1000 * t_draw, 1),
           "mp4_bytes": size, "target_fps": 15}
    if args.json:
        print(json.dumps(res))
    else:
        print(f"{n} frames of {args.size} MP4, all panels: {total:.2f} s -> {n / total:.1f} frames/s "
              f"(target >= 15)\n  per frame: panel data {1000 * t_data:.1f} ms, drawing {1000 * t_draw:.1f} ms; "
              f"file {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
