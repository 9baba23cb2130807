"""The failure-mode presets at full size on several seeds: does each show what it is named for?

    nice -n 10 python benchmarks/bench_presets.py [NAME ...] [--seeds 5] [--out DIR] [--json]

NAME: a preset (toylab.experiments.presets) or `defaults` (TrainConfig's defaults, the
dashboard's Defaults button); all of them when none is given. Each preset's setting trains as
one sweep (toylab.experiments.run_experiment, in this process, one torch thread: its seeds as
one ensemble), seeds 0..N-1, judged by its recipe's outcome rules on 2,500 fresh samples. The
Markdown table it prints is docs/dashboard.md's "How far the presets can be trusted"; quote
the commit and `uptime`'s load beside it (the wall-clock depends on both).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

from toylab.experiments import load_experiment, run_experiment
from toylab.experiments.presets import PRESETS, check_preset, preset_fields

#: the verdict each preset is named for (tests/test_presets.py holds the same)
NAMED = {"collapse": "mode_collapse", "vanishing": "vanishing_gradient", "oscillation": "oscillating",
         "converging": "converged", "defaults": "converged"}


def spec(name: str, seeds: int) -> dict:
    """The sweep of preset `name` (or the defaults) on seeds 0..seeds-1."""
    if name == "defaults":
        return {"name": "defaults", "base": {}, "seeds": seeds}
    p = check_preset(name)
    fields = preset_fields(name)
    fields.pop("seed")
    return {"name": f"preset-{name}", "base": fields, "seeds": seeds,
            "rules": load_experiment(p.recipe).rules.to_dict()}


def measure(name: str, seeds: int, out: Path) -> dict:
    exp = load_experiment(spec(name, seeds))
    t0 = time.perf_counter()
    rows = run_experiment(exp, out / name, workers=1, progress=False)
    wall = time.perf_counter() - t0
    counts = Counter(r["outcome"] for r in rows)
    return {"preset": name, "label": PRESETS[name].label if name in PRESETS else "Defaults",
            "steps": exp.base.get("steps", 5000), "seeds": len(rows), "named": NAMED[name],
            "shows_named": counts[NAMED[name]], "outcomes": dict(counts),
            "median_js": statistics.median(r["js"] for r in rows),
            "median_modes": statistics.median(r["modes_captured"] for r in rows),
            "wall_s": round(wall, 1),
            "runs": [{"seed": r["seed"], "outcome": r["outcome"], "reason": r["reason"], "js": round(r["js"], 3),
                      "modes": r["modes_captured"]} for r in rows]}


def table(results: list[dict]) -> str:
    lines = ["| preset | steps | seeds showing its verdict | other verdicts | median JS (nats) | median modes "
             "captured | wall-clock (s) |", "|---|---|---|---|---|---|---|"]
    for r in results:
        other = ", ".join(f"{k} {v}" for k, v in sorted(r["outcomes"].items()) if k != r["named"]) or "-"
        lines.append(f"| {r['label']} | {r['steps']:,} | {r['shows_named']}/{r['seeds']} `{r['named']}` | {other} "
                     f"| {r['median_js']:.3f} | {r['median_modes']:.1f} | {r['wall_s']:.0f} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help=f"presets ({', '.join(PRESETS)}) or defaults; all when none")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--out", help="sweep folders (kept; a temporary folder when not given)")
    ap.add_argument("--json", action="store_true", help="one JSON line per preset, then the table")
    args = ap.parse_args(argv)
    names = args.names or [*PRESETS, "defaults"]
    for n in names:
        if n != "defaults":
            check_preset(n)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out or tmp)
        results = []
        for n in names:
            r = measure(n, args.seeds, out)
            results.append(r)
            if args.json:
                print(json.dumps(r), flush=True)
            else:
                for run in r["runs"]:
                    print(f"{n} seed {run['seed']}: {run['outcome']} (JS {run['js']}, modes {run['modes']}): "
                          f"{run['reason']}", flush=True)
    print(table(results))


if __name__ == "__main__":
    main()
