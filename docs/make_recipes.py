"""Run every built-in recipe and put its report and plots in docs/recipes/:

    python docs/make_recipes.py [--root experiments] [--workers 2]

Each recipe runs into ROOT/NAME (a rerun resumes or does nothing there); the page
docs/recipes/NAME.md is its report, with its plots copied beside it, followed by the
hand-written docs/recipes/notes/NAME.md where there is one (for the reproductions: every
difference from the paper, the budget, and what the run shows).

The page says which commit trained its numbers, with which torch, and that the same command at
that commit gives them bit for bit (one torch thread per job: docs/engine.md#device-and-threads).
The commit is recorded in ROOT/NAME/provenance.json when the sweep starts in a new folder (before
its first job, so that a sweep cut short and resumed keeps it: resume at the same commit); a folder
from before (or a resumed one without it) is said to be "not recorded". --commit names
the commit where this is not a git checkout (a `git archive` copy).
"""

import argparse
import json
import shutil
import subprocess
from pathlib import Path

import torch

from toylab import experiments as X

DOCS = Path(__file__).parent / "recipes"
REPO = Path(__file__).resolve().parent.parent


def current_commit() -> str:
    """HEAD's short hash, with "+changes" when toylab/ differs from it; "unknown" outside git."""
    try:
        sha = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "toylab"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return sha + ("+changes" if dirty else "")


def provenance_line(name: str, made: dict | None) -> str:
    cmd = f"Reproduce: `toylab sweep {name}` (then `toylab report experiments/{name}`)."
    if made is None:
        return cmd + " The commit that trained these numbers was not recorded."
    return (f"{cmd} Its numbers were trained at commit {made['commit']} (torch {made['torch']}, on the CPU, one "
            f"torch thread per job) by `python docs/make_recipes.py --only {name}`, which runs that sweep: at that "
            f"commit and torch build the command gives them bit for bit; at another commit the runs may round "
            f"differently and end elsewhere ([engine.md](../engine.md#device-and-threads)).")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default="experiments")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--only", default="", help="comma-separated recipe names (default: all)")
    ap.add_argument("--commit", default=None, help="the commit this code is (default: git's HEAD)")
    args = ap.parse_args()
    commit = args.commit or current_commit()
    DOCS.mkdir(exist_ok=True)
    for name in X.recipes():
        if args.only and name not in args.only.split(","):
            continue
        out = Path(args.root) / name
        fresh = not out.exists() or not any(out.iterdir())
        X.open_experiment(name, out)
        if fresh:              # written before the first job: a sweep cut short and resumed keeps it
            (out / "provenance.json").write_text(json.dumps({"commit": commit, "torch": torch.__version__}))
        X.run_experiment(name, out, workers=args.workers)
        made = json.loads((out / "provenance.json").read_text()) if (out / "provenance.json").exists() else None
        text = X.report(out)
        for png in ("outcome_rates.png", "curves.png", "samples.png", "timeline.png"):
            shutil.copyfile(out / png, DOCS / f"{name}_{png}")
            text = text.replace(f"]({png})", f"]({name}_{png})")
        text = text.replace("\n\n", f"\n\n{provenance_line(name, made)}\n\n", 1)
        notes = DOCS / "notes" / f"{name}.md"
        if notes.exists():
            text = text.rstrip() + "\n\n" + notes.read_text()
        (DOCS / f"{name}.md").write_text(text)
        print("wrote", DOCS / f"{name}.md")


if __name__ == "__main__":
    main()
