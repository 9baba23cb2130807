"""The Markdown report of an experiment and its plots: the table, the paper beside the run,
curves, final samples and samples over time."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..engine.runs import load_run, read_csv, write_text
from ..measure.outcomes import OUTCOMES
from ..pictures import charts, mpl_figures as viz
from .spec import REFERENCE_COLUMNS, Experiment, read_json
from .tables import mean_std, load_table, outcome_rates, wilson

def _beside_the_paper(ref: dict, rows: list[dict], settings: list[str]) -> list[str]:
    """The paper's numbers and this experiment's (mean ± std over seeds), setting by setting (in
    the experiment's order)."""
    fmt = {"modes_captured": ("{:.1f}", False), "high_quality": ("{:.1%}", True), "reverse_kl": ("{:.2f}", False)}
    head = " | ".join(f"{title}: paper | toylab" for title in REFERENCE_COLUMNS.values())
    lines = ["## Beside the paper", "", f"Paper: {ref.get('source', '')}. toylab: this experiment, mean ± std over "
             f"its seeds (same measures, 2,500 samples per run).", "", f"| setting | {head} |",
             "|---|" + "---|---|" * len(REFERENCE_COLUMNS)]
    papers = ref.get("rows", {})
    for label in [s for s in settings if s in papers] + [s for s in papers if s not in settings]:
        paper, sub = papers[label], [r for r in rows if r["setting"] == label]
        cells = [f"{paper.get(k, '-')} | " + (mean_std(sub, k, f, pct=pct) if sub else "not run")
                 for k, (f, pct) in fmt.items()]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines + [""]


def report(out, plots: bool = True) -> str:
    """A Markdown summary of a finished (or partly finished) experiment; writes report.md and
    the plots (outcome_rates.png, curves.png) beside the table."""

    out = Path(out)
    if not (out / "experiment.json").exists():
        raise FileNotFoundError(f"{out} is not an experiment folder (no experiment.json)")
    try:
        exp = Experiment.from_dict(read_json(out / "experiment.json"))
    except (OSError, ValueError) as err:
        raise ValueError(f"{out / 'experiment.json'}: unreadable ({type(err).__name__}: "
                         f"{' '.join(str(err).split())[:160]})") from None
    rows = load_table(out)
    if not rows:
        raise ValueError(f"{out}: no finished runs yet")
    rates = outcome_rates(rows)
    present = [o for o in OUTCOMES if any(v[o][0] for v in rates.values())]
    lines = [f"# {exp.name}", "", exp.description.strip(), "",
             f"{len(rows)} runs: {len(rates)} settings x {exp.seeds_text()}. Outcome rates with 95 % Wilson "
             f"intervals. Measured at the end on 2,500 samples per run, mean ± std over seeds: JS (nats), modes "
             f"present (holding at least a tenth of their fair share of the samples) and captured (at least one, "
             f"as in VEEGAN/PacGAN), high-quality share, reverse KL of the mode histogram, off-mode share (of the "
             f"finite samples: farther than 3 std from every mode), C(G) = -log 4 + 2 JS (-1.386 at the "
             f"equilibrium), the mean of D on real samples (1/2 at the equilibrium) and the share of samples with "
             f"NaN or Inf (NaN rows; '-' for tables made before it was measured).", "",
             "| setting | n | " + " | ".join(present) + " | JS | modes present | modes captured | high quality "
             "| reverse KL | off-mode | C(G) | mean D(real) | NaN rows |",
             "|---|---|" + "---|" * len(present) + "---|---|---|---|---|---|---|---|---|"]
    for s, v in rates.items():
        n = next(iter(v.values()))[1]
        cells = []
        for o in present:
            k = v[o][0]
            lo, hi = wilson(k, n)
            cells.append(f"{k / n:.0%} [{lo:.0%}, {hi:.0%}]")
        sub = [r for r in rows if r["setting"] == s]
        K = sub[0]["num_modes"]
        per_mode = [mean_std(sub, "modes_present", "{:.1f}"), mean_std(sub, "modes_captured", "{:.1f}"),
                    mean_std(sub, "high_quality", "{:.1%}", pct=True), mean_std(sub, "reverse_kl", "{:.2f}"),
                    mean_std(sub, "off_mode", "{:.1%}", pct=True)]
        if not K:
            per_mode = ["-"] * 5
        lines.append(f"| {s} | {n} | " + " | ".join(cells) + f" | {mean_std(sub, 'js', '{:.3f}')} | "
                     + " | ".join(per_mode) + f" | {mean_std(sub, 'c_of_g', '{:.3f}')} | "
                     f"{mean_std(sub, 'd_real_mean', '{:.3f}')} | {mean_std(sub, 'nonfinite', '{:.1%}', pct=True)} |")
    lines += ["", "Outcome rules and thresholds: " + ", ".join(f"{k}={v}" for k, v in exp.rules.to_dict().items()),
              "(see toylab.outcomes).", ""]
    if exp.reference:
        lines += _beside_the_paper(exp.reference, rows, list(rates))
    if plots:
        viz.save_figure(charts.outcome_figure(rates), out / "outcome_rates.png")
        viz.save_figure(charts.band_figure(curves(out, rows)), out / "curves.png")
        viz.save_figure(charts.samples_figure(final_samples(out, rows)), out / "samples.png")
        viz.save_figure(charts.samples_figure(samples_over_time(out, rows), 
                                          label=lambda step, outcome: f"{step}\n{outcome.replace('_', ' ')}" if outcome else step),
                        out / "timeline.png")
        lines += ["![outcome rates](outcome_rates.png)", "", "![metric curves](curves.png)", "",
                  "Final samples of every run (500 of the fixed batch), titled with its outcome:", "",
                  "![final samples](samples.png)", "",
                  "Samples over time: the first seed of each setting at evenly spaced snapshots (the last "
                  "one coloured by its outcome):", "", "![samples over time](timeline.png)", ""]
    text = "\n".join(lines)
    write_text(out / "report.md", text)
    return text


def final_samples(out, rows: list[dict], n: int = 500) -> dict:
    """{setting: [(seed, outcome, samples (n, 2), target)]} from each run's last snapshot."""
    out = Path(out)
    res: dict[str, list] = {}
    runs: dict[str, object] = {}
    for r in rows:
        if r["job"] not in runs:
            runs[r["job"]] = load_run(out / "runs" / r["job"], max_snapshots=2)   # first and last
        run = runs[r["job"]]
        fake = run.snapshots[-1].fake[r["member"]][:n] if run.snapshots else np.zeros((0, 2))
        res.setdefault(r["setting"], []).append((r["seed"], r["outcome"], fake, run.target))
    return res


def samples_over_time(out, rows: list[dict], frames: int = 8, n: int = 500) -> dict:
    """{setting: [("step S", outcome or "", samples (n, 2), target)]}: the first seed's run of each
    setting at `frames` evenly spaced snapshots (only the last carries the run's outcome)."""
    out = Path(out)
    res: dict[str, list] = {}
    for r in rows:
        if r["setting"] in res:
            continue
        run = load_run(out / "runs" / r["job"], max_snapshots=frames, weights=False)
        snaps = run.snapshots
        res[r["setting"]] = [(f"step {s.step:,}", r["outcome"] if i == len(snaps) - 1 else "",
                              s.fake[r["member"]][:n], run.target) for i, s in enumerate(snaps)]
    return res


def curves(out, rows: list[dict], keys=("js", "modes_present", "g_grad_norm")) -> dict:
    """{key: {setting: (steps, per-seed values (S, T))}} from the runs' metrics, for seed bands."""
    out = Path(out)
    by_job: dict[str, dict] = {}
    res: dict[str, dict] = {k: {} for k in keys}
    for r in rows:
        if r["job"] not in by_job:
            f = out / "runs" / r["job"] / "metrics.csv"
            by_job[r["job"]] = read_csv(f) if f.exists() else {}
        h = by_job[r["job"]]
        if not h:
            continue
        mine = h["member"] == r["member"]
        for k in keys:
            if k not in h:
                continue
            v = np.asarray(h[k][mine], dtype=float)
            s = np.asarray(h["step"][mine])
            ok = np.isfinite(v)
            res[k].setdefault(r["setting"], []).append((s[ok], v[ok]))
    bands = {}
    for k, per in res.items():
        bands[k] = {}
        for setting, series in per.items():
            if not series or not len(series[0][0]):
                continue
            steps = series[0][0]
            vals = np.array([np.interp(steps, s, v) if len(s) else np.full(len(steps), np.nan) for s, v in series])
            bands[k][setting] = (steps, vals)
    return bands
