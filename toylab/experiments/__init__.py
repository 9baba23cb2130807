"""Scripted experiments on failure modes: many settings x many seeds -> a table of outcomes.

An `Experiment` is a base config, settings (a list of variants and/or a grid of
overrides) and seeds. Settings whose configs differ only in seed and learning rates
train together as one batched ensemble (`toylab.Trainer`); each ensemble is a job, and
jobs go through a `concurrent.futures.Executor`: local processes by default, a Dask
cluster given its scheduler address. Every member ends with an outcome
(`toylab.outcomes`). Results are one row per (setting, seed), written per job as it
finishes, so an interrupted sweep resumes where it stopped and a finished one is not redone.

    exp = load_experiment("mode_collapse")            # a built-in recipe, or a .toml/.yaml file
    table = run_experiment(exp, "experiments/mc")     # list of rows; also results.csv
    print(report("experiments/mc"))                   # Markdown; plots beside it

Modules: `spec` (Experiment, recipes, spec files), `runner` (jobs, executors,
run_experiment), `tables` (the results table, outcome rates), `report` (Markdown and
plots) and `presets` (the dashboard's failure-mode presets, read from the recipes). None
loads torch when imported (the engine's trainer and the metrics are imported inside the
worker's function), so a sweep's worker process starts without it
(tests/test_architecture.py).
"""

from .report import curves, final_samples, report, samples_over_time
from .runner import (FINAL_FIELDS, SCHEDULER_TIMEOUT, JobInterrupted, check_out_folder, open_experiment,
                     run_experiment, run_job)
from .spec import QUICK, RECIPES, REFERENCE_COLUMNS, Experiment, load_experiment, quick_sizes, recipes
from .tables import TABLE_FIELDS, load_table, outcome_rates, wilson, write_table

__all__ = ["Experiment", "load_experiment", "recipes", "quick_sizes", "QUICK", "RECIPES", "REFERENCE_COLUMNS",
           "run_experiment", "run_job", "check_out_folder", "open_experiment", "JobInterrupted", "SCHEDULER_TIMEOUT", "FINAL_FIELDS", "load_table",
           "write_table", "outcome_rates", "wilson", "TABLE_FIELDS", "report", "final_samples",
           "samples_over_time", "curves"]
