"""Run every built-in recipe and put its report and plots in docs/recipes/:

    python docs/make_recipes.py [--root experiments] [--workers 2]

Each recipe runs into ROOT/NAME (a rerun resumes or does nothing there); the page
docs/recipes/NAME.md is its report, with its plots copied beside it, followed by the
hand-written docs/recipes/notes/NAME.md where there is one (for the reproductions: every
difference from the paper, the budget, and what the run shows).
"""

import argparse
import shutil
from pathlib import Path

from toylab import experiments as X

DOCS = Path(__file__).parent / "recipes"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default="experiments")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--only", default="", help="comma-separated recipe names (default: all)")
    args = ap.parse_args()
    DOCS.mkdir(exist_ok=True)
    for name in X.recipes():
        if args.only and name not in args.only.split(","):
            continue
        out = Path(args.root) / name
        X.run_experiment(name, out, workers=args.workers)
        text = X.report(out)
        for png in ("outcome_rates.png", "curves.png", "samples.png", "timeline.png"):
            shutil.copyfile(out / png, DOCS / f"{name}_{png}")
            text = text.replace(f"]({png})", f"]({name}_{png})")
        cmd = f"Reproduce: `toylab sweep {name}` (then `toylab report experiments/{name}`)."
        text = text.replace("\n\n", f"\n\n{cmd}\n\n", 1)
        notes = DOCS / "notes" / f"{name}.md"
        if notes.exists():
            text = text.rstrip() + "\n\n" + notes.read_text()
        (DOCS / f"{name}.md").write_text(text)
        print("wrote", DOCS / f"{name}.md")


if __name__ == "__main__":
    main()
