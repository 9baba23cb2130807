"""Experiments: outcome rules on crafted runs, a small sweep's table and plots, resuming,
the Dask path on a local cluster, recipes, and errors that name their field."""

import json
import re
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

import toylab
from toylab import ConfigError, TrainConfig
from toylab import experiments as X
from toylab.cli import main
from toylab.measure.outcomes import OutcomeRules, classify
from toylab.engine.runs import Run, Snapshot

TINY = dict(g_hidden=16, d_hidden=16, batch_size=64, steps=100, snapshot_every=20, metrics_every=20, n_fixed=200,
            grid_size=10, manifold_size=3)


def _run(cfg, hist, fakes_per_snapshot, status="completed"):
    """A Run made by hand: history columns over steps 0..1000 and snapshots of given fakes."""
    steps = np.arange(0, 1001, 20)
    h = {"step": steps, "member": np.zeros(len(steps), int), "seed": np.zeros(len(steps), int)}
    for k, f in hist.items():
        h[k] = np.array([f(s) for s in steps], dtype=float)
    snaps = [Snapshot(step=int(s), fake=fk[None], d_grid=np.zeros((1, 4, 4)), manifold=np.zeros((1, 2, 2, 2)),
                      d_grad=np.zeros_like(fk[None]))
             for s, fk in zip(np.linspace(0, 1000, len(fakes_per_snapshot)).astype(int), fakes_per_snapshot)]
    return Run(configs=[cfg], status=status, step=1000, member_status=[status],
               diverged_step=[500 if status == "diverged" else None], history=h, snapshots=snaps)


def _at_modes(target, modes, n=400, seed=0):
    rng = np.random.default_rng(seed)
    mu = target.modes.numpy()[np.asarray(modes)]
    idx = rng.integers(0, len(mu), n)
    return mu[idx] + rng.normal(0, target.mode_std / 2, (n, 2))


def test_outcome_rules_on_crafted_runs():
    cfg = TrainConfig(dataset="ring8")
    t = cfg.target()
    everywhere = [_at_modes(t, range(8), seed=i) for i in range(10)]
    base = dict(d_loss=lambda s: 1.3, g_loss=lambda s: 0.8, g_grad_norm=lambda s: 1.0, high_quality=lambda s: 0.95)

    collapsed = _run(cfg, {**base, "js": lambda s: 0.55, "modes_present": lambda s: 1},
                     [_at_modes(t, [0], seed=i) for i in range(10)])
    o = classify(collapsed)
    assert o.outcome == "mode_collapse" and o.modes == 1 and o.num_modes == 8

    converged = _run(cfg, {**base, "js": lambda s: 0.6 if s < 300 else 0.05, "modes_present": lambda s: 8},
                     everywhere)
    assert classify(converged).outcome == "converged"
    assert classify(converged, rules=OutcomeRules(js_converged=0.01)).outcome == "stalled"   # thresholds matter

    nan = _run(cfg, {**base, "d_loss": lambda s: math.nan if s >= 500 else 1.3, "js": lambda s: 0.6,
                     "modes_present": lambda s: 3}, everywhere, status="diverged")
    assert classify(nan).outcome == "diverged"

    vanishing = _run(TrainConfig(dataset="ring8", loss="minimax"),
                     {"d_loss": lambda s: 1.3 if s < 200 else 0.01, "g_loss": lambda s: -0.01,
                      "g_grad_norm": lambda s: 5.0 if s < 200 else 0.02, "js": lambda s: 0.69,
                      "modes_present": lambda s: 0}, everywhere)
    o = classify(vanishing)
    assert o.outcome == "vanishing_gradient" and "G gradient norm" in o.reason

    # the generator loss cycles with a period of 5 measurements and the dominant mode goes round the ring
    cycling = [_at_modes(t, [i % 8], seed=i) for i in range(40)]
    osc = _run(cfg, {**base, "g_loss": lambda s: 1.0 + 0.3 * math.sin(2 * math.pi * s / 100),
                     "js": lambda s: 0.5, "modes_present": lambda s: 2}, cycling)
    o = classify(osc)
    assert o.outcome == "oscillating" and o.hops >= 2


def test_outcome_of_a_really_diverging_run():
    def poison(trainer, snap):                        # NaN in G's weights at step 40, as a blow-up would
        if snap.step == 40:
            trainer.gen.flat.data[0, 0] = math.nan

    run = toylab.train(dataset="ring8", callbacks=[poison], **TINY)
    assert run.status == "diverged"
    o = classify(run)
    assert o.outcome == "diverged" and "step 41" in o.reason


SPEC = {"name": "tiny", "base": {"dataset": "ring8", **TINY}, "seeds": [0, 1, 2],
        "variants": [{"label": "non-saturating"}, {"label": "minimax", "loss": "minimax"}]}


def test_small_sweep_makes_table_and_plots_and_resumes(tmp_path):
    out = tmp_path / "exp"
    exp = X.load_experiment(SPEC)
    assert len(exp.jobs()) == 2 and [len(j["members"]) for j in exp.jobs()] == [3, 3]     # seeds batched
    table = X.run_experiment(exp, out, workers=1, progress=False)
    assert len(table) == 6 and {r["setting"] for r in table} == {"non-saturating", "minimax"}
    for job in exp.jobs():           # one torch thread, recorded, whatever the machine's load (not "auto")
        assert json.loads((out / "runs" / job["id"] / "config.json").read_text())["config"]["threads"] == 1
    assert all(r["outcome"] in toylab.outcomes.OUTCOMES for r in table)
    assert sorted(r["seed"] for r in table if r["setting"] == "minimax") == [0, 1, 2]
    csv = (out / "results.csv").read_text().splitlines()
    assert csv[0].startswith("setting,seed,outcome") and len(csv) == 7
    assert (out / "results.parquet").exists()
    text = X.report(out)
    assert "| non-saturating | 3 |" in text and "| minimax | 3 |" in text
    assert "| high quality | reverse KL |" in text and "modes present" in text
    row = next(r for r in table if r["setting"] == "minimax")
    for k in ("js_se", "high_quality", "high_quality_se", "modes_present", "modes_captured_se", "off_mode",
              "off_mode_se", "nonfinite"):
        assert np.isfinite(row[k]), k                      # measured at the end, with its uncertainty
    assert {"off_mode", "off_mode_se", "nonfinite"} <= set(csv[0].split(","))
    assert "| reverse KL | off-mode | C(G) | mean D(real) | NaN rows |" in text
    offs = [r["off_mode"] for r in table if r["setting"] == "minimax"]
    assert f"{np.mean(offs):.1%}".rstrip("%") in text
    hq = [r["high_quality"] for r in table if r["setting"] == "minimax"]
    assert f"{np.mean(hq):.1%}".rstrip("%") in text        # the table shows the mean over seeds
    for png in ("outcome_rates.png", "curves.png", "samples.png"):
        assert (out / png).stat().st_size > 10_000
    # a table made before off_mode and nonfinite were measured: its report says '-' for them
    saved = {f: f.read_text() for f in (out / "results").iterdir()}
    for f in saved:
        f.write_text(json.dumps([{k: v for k, v in r.items() if k not in ("off_mode", "off_mode_se", "nonfinite")}
                                 for r in json.loads(saved[f])]))
    lines = X.report(out, plots=False).splitlines()
    head = next(line for line in lines if line.startswith("| setting |"))
    cells = dict(zip(head.strip("|").split("|"), next(line for line in lines if line.startswith("| minimax |"))
                     .strip("|").split("|")))
    cells = {k.strip(): v.strip() for k, v in cells.items()}
    assert cells["off-mode"] == cells["NaN rows"] == "-" and cells["high quality"] != "-", cells
    for f, text_of in saved.items():
        f.write_text(text_of)
    # interrupted: one job's result is missing and its run folder half-written
    job = exp.jobs()[1]["id"]
    (out / "results" / f"{job}.json").unlink()
    (out / "runs" / job / "checkpoint.pt").unlink()
    again = X.run_experiment(exp, out, workers=1, progress=False)
    assert again == table                                     # same numbers, same order
    # finished: a rerun trains nothing
    stamps = {p: p.stat().st_mtime_ns for p in (out / "results").iterdir()}
    assert X.run_experiment(exp, out, workers=1, progress=False) == table
    assert stamps == {p: p.stat().st_mtime_ns for p in (out / "results").iterdir()}
    # a different experiment never lands in the same folder
    with pytest.raises(ConfigError, match="holds a different experiment"):
        X.run_experiment({**SPEC, "seeds": [5]}, out, workers=1, progress=False)


def test_an_interrupted_job_continues_from_its_checkpoint_and_ends_as_an_uninterrupted_one(tmp_path, monkeypatch):
    """A sweep killed in the middle of a long job (a 20,000-round recipe) keeps the job's run folder;
    the next sweep continues it from its last checkpoint and gets the uninterrupted job's numbers."""
    from toylab.engine.runs import write_json
    from toylab.engine.training import Trainer
    spec = {**SPEC, "seeds": [0, 1], "variants": [{"label": "non-saturating"}]}
    whole = X.run_experiment(spec, tmp_path / "whole", workers=1, progress=False)
    exp = X.load_experiment(spec)
    job = exp.jobs()[0]
    configs = [TrainConfig(**{"threads": 1, **m["config"]}) for m in job["members"]]
    resumed_at = []
    real_resumed = Trainer.resumed.__func__
    monkeypatch.setattr(Trainer, "resumed", classmethod(
        lambda cls, run, total, **kw: resumed_at.append(run.step) or real_resumed(cls, run, total, **kw)))
    for name, members, cut in (("cut", configs, 60), ("other", [c.replace(seed=c.seed + 5) for c in configs], 40),
                               ("killed", configs, 70), ("torn", configs, 40)):
        out = tmp_path / name
        run_dir = out / "runs" / job["id"]
        write_json(out / "experiment.json", exp.to_dict())
        if name == "killed":           # kill -9 at round 70: the checkpoint of round 0, snapshots to 60 on disk
            script = (f"import os, torch\nfrom toylab import TrainConfig\nfrom toylab.engine.training import Trainer\n"
                      f"cs = [TrainConfig(**c) for c in {[c.model_dump(mode='json') for c in members]!r}]\n"
                      f"Trainer(cs, out={str(run_dir)!r}, callbacks=[lambda t, s: t.step < 60 or os._exit(9)]).fit()\n")
            assert subprocess.run([sys.executable, "-c", script], timeout=120).returncode == 9
            assert (run_dir / "snapshots" / "step_00000060.npz").exists()
        else:                          # stopped at round `cut`: a checkpoint there, no rows
            Trainer(members, out=run_dir).fit(cut)
        if name == "torn":             # the save at 80 cut in half: its checkpoint written, metrics and status of 40
            kept = {f: (run_dir / f).read_bytes() for f in ("metrics.csv", "status.json")}
            Trainer.resumed(toylab.load_run(run_dir), 80).fit(80)
            for f, data in kept.items():
                (run_dir / f).write_bytes(data)
        assert X.run_experiment(spec, out, workers=1, progress=False) == whole
        ran, ref = out / "runs" / job["id"], tmp_path / "whole" / "runs" / job["id"]
        assert (ran / "metrics.csv").read_bytes() == (ref / "metrics.csv").read_bytes()    # every logged loss
        torch.testing.assert_close(_weights(ran), _weights(ref), rtol=0, atol=0)        # and the state, to the bit
    assert resumed_at == [60, 0, 40]     # killed: from its checkpoint (0); 40: making the torn save, then afresh


def _weights(run_dir):
    """A run folder's saved state, less the run's id (each run has its own) and the layout's name
    (a string, which assert_close does not compare; its value is tested in test_training)."""
    state = torch.load(run_dir / "checkpoint.pt", map_location="cpu", weights_only=True)
    state.pop("run", None)
    assert state.pop("maxout_layout") == "piece-major"
    return state


def test_a_variant_may_name_its_own_seeds_and_steps_and_a_size_asked_for_holds_for_every_setting():
    spec = {**SPEC, "seeds": [0], "variants": [{"label": "a"}, {"label": "b", "loss": "minimax", "seeds": 3,
                                                                "steps": 60}]}
    exp = X.load_experiment(spec)
    assert exp.setting_seeds() == {"a": [0], "b": [0, 1, 2]} and exp.seeds_text() == "1-3 seeds"
    jobs = exp.jobs()
    assert [len(j["members"]) for j in jobs] == [1, 3]
    assert [j["members"][0]["config"]["steps"] for j in jobs] == [100, 60]
    for sized in (X.load_experiment(spec, seeds=2, steps=40),
                  X.load_experiment({**spec, "quick": {"seeds": 1, "steps": 20, "snapshot_every": 10,
                                                       "metrics_every": 10}}, quick=True)):
        seeds = sized.setting_seeds()
        assert len({len(s) for s in seeds.values()}) == 1 and len(seeds["b"]) == len(sized.seeds)
        assert {m["config"]["steps"] for j in sized.jobs() for m in j["members"]} == {sized.base["steps"]}
    assert X.load_experiment("pacgan_table1", quick=True).seeds_text() == "1 seed"
    with pytest.raises(ConfigError, match=r"setting 'b': seeds: a count"):
        X.load_experiment({**spec, "variants": [{"label": "b", "seeds": 0}]})
    with pytest.raises(ConfigError, match=r"setting 'b': seeds: \[1\] given more than once"):
        X.load_experiment({**spec, "variants": [{"label": "b", "seeds": [1, 1]}]})


def test_a_sweep_starts_its_longest_job_first_and_keeps_the_table_in_order(tmp_path):
    """Two workers finish together when the longest job starts first (a 20,000-round ring beside
    8,000-round grids); the table still lists the settings as the spec does."""
    from concurrent.futures import ThreadPoolExecutor
    from toylab.experiments.runner import job_cost
    submitted = []

    class Recording(ThreadPoolExecutor):
        def submit(self, fn, job, *args):
            submitted.append(job["members"][0]["setting"])
            return super().submit(fn, job, *args)
    spec = {**SPEC, "seeds": [0], "variants": [{"label": "short", "steps": 20}, {"label": "long", "steps": 60},
                                               {"label": "packed", "steps": 20, "pack": 4}]}
    with Recording(max_workers=1) as ex:
        table = X.run_experiment(spec, tmp_path / "e", executor=ex, progress=False)
    assert submitted == ["long", "packed", "short"] and [r["setting"] for r in table] == ["short", "long", "packed"]
    ring, pac2, grid, pac4 = X.load_experiment("pacgan_table1").jobs()
    assert job_cost(pac2) > job_cost(ring) > job_cost(pac4) > job_cost(grid)


def test_dask_local_cluster_gives_the_same_table(tmp_path):
    from dask.distributed import LocalCluster
    spec = {**SPEC, "seeds": [0, 1]}
    serial = X.run_experiment(spec, tmp_path / "serial", workers=1, progress=False)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        dask = X.run_experiment(spec, tmp_path / "dask", scheduler=cluster.scheduler_address, progress=False)
    keys = ("setting", "seed", "outcome", "js", "modes_captured")
    assert [[r[k] for k in keys] for r in dask] == [[r[k] for k in keys] for r in serial]


def test_specs_are_validated_with_named_fields(tmp_path):
    with pytest.raises(ConfigError, match="(?s)setting 'bad': .*lr_d: Input should be greater than 0"):
        X.load_experiment({**SPEC, "variants": [{"label": "bad", "lr_d": -1}]})
    with pytest.raises(ConfigError, match="experiment: unknown sedes; allowed"):
        X.load_experiment({**SPEC, "sedes": 3})
    with pytest.raises(ValueError, match="rules: unknown js_bound; allowed: window"):
        X.load_experiment({**SPEC, "rules": {"js_bound": 0.1}})
    with pytest.raises(ConfigError, match="no recipe or file 'nope'; recipes: equilibrium"):
        X.load_experiment("nope")
    f = tmp_path / "spec.toml"
    f.write_text('name = "t"\nseeds = 2\n[base]\ndataset = "grid25"\nsteps = 40\n[grid]\nlr_d = [1e-4, 1e-3]\n')
    exp = X.load_experiment(f)
    assert [s for s, _ in exp.settings()] == ["lr_d=0.0001", "lr_d=0.001"]
    assert len(exp.jobs()) == 1                       # learning rates and seeds: one ensemble of 4


def test_every_recipe_loads_and_batches_its_seeds():
    for name in X.recipes():
        exp = X.load_experiment(name)
        assert exp.description and len(exp.settings()) >= 2
        assert sum(len(j["members"]) for j in exp.jobs()) == sum(map(len, exp.setting_seeds().values()))
    mc = X.load_experiment("mode_collapse", seeds=64)
    assert len(mc.seeds) == 64 and max(len(j["members"]) for j in mc.jobs()) == 64    # one ensemble a setting


def test_wilson_interval():
    lo, hi = X.wilson(0, 10)
    assert lo == 0 and hi == pytest.approx(0.2775, abs=1e-3)
    lo, hi = X.wilson(5, 10)
    assert (lo, hi) == (pytest.approx(0.2366, abs=1e-3), pytest.approx(0.7634, abs=1e-3))


def test_sweep_and_report_commands(tmp_path, capsys):
    spec = tmp_path / "s.json"
    spec.write_text(json.dumps({**SPEC, "seeds": [0]}))
    assert main(["sweep", str(spec), "--out", str(tmp_path / "e"), "--workers", "1", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "tiny: 2 settings x 1 seed = 2 runs in 2 ensembles" in out and "| minimax | 1 |" in out
    assert main(["report", str(tmp_path / "e"), "--no-plots"]) == 0
    assert main(["sweep", "--list"]) == 0 and "mode_collapse" in capsys.readouterr().out
    assert main(["report", str(tmp_path / "nothing")]) == 2


def test_every_recipe_is_tested_at_its_quick_size():
    assert set(X.recipes()) == set(QUICK_RECIPES)


def test_the_quick_size_is_said_as_the_tables_give_it(capsys):
    """--list shows each recipe's [quick] size, read from its table; --help promises no number of
    rounds for the recipes, only the spec-less default, experiments.QUICK's."""
    sizes = X.quick_sizes()
    for name in X.recipes():
        q = X.load_experiment(name, quick=True)
        assert sizes[name] == f"{len(q.seeds)} seed{'s' * (len(q.seeds) != 1)}, {q.base['steps']} rounds"
    assert main(["sweep", "--list"]) == 0
    listed = dict(line.split(" ", 1) for line in capsys.readouterr().out.splitlines())
    assert {name: line.rsplit("(--quick: ", 1)[1].rstrip(")") for name, line in listed.items()} == sizes
    with pytest.raises(SystemExit):
        main(["sweep", "--help"])
    helptext = " ".join(capsys.readouterr().out.split())
    assert f"a spec without one: {X.QUICK['seeds']} seed, {X.QUICK['steps']} rounds" in helptext
    assert "100 rounds for the recipes" not in helptext


QUICK_RECIPES = ["mode_collapse", "vanishing_gradient", "non_convergence", "equilibrium", "pacgan_table1",
                 "veegan_table1", "unrolled_figure1"]


@pytest.mark.slow
@pytest.mark.parametrize("name", QUICK_RECIPES)
def test_every_recipe_runs_end_to_end_at_its_quick_size(name, tmp_path, capsys):
    full, quick = X.load_experiment(name), X.load_experiment(name, quick=True)
    assert [s for s, _ in quick.settings()] == [s for s, _ in full.settings()] and quick.seeds_text() == "1 seed"
    assert {m["config"]["steps"] for j in quick.jobs() for m in j["members"]} == {quick.base["steps"]}   # every setting
    assert quick.base["steps"] < full.base["steps"]
    assert main(["sweep", name, "--quick", "--out", str(tmp_path / name), "--workers", "1", "--quiet"]) == 0
    out = capsys.readouterr().out
    rows = (tmp_path / name / "results.csv").read_text().splitlines()
    assert len(rows) == 1 + len(full.settings())              # a header, one row per setting (1 seed)
    assert "| setting |" in out and (tmp_path / name / "timeline.png").exists()
    if full.reference:                                        # the reproductions: the paper beside the run
        assert "## Beside the paper" in out
        for label in full.reference["rows"]:
            assert re.search(rf"\| {re.escape(label)} \| [^|]+ \| \d", out), label


def test_a_reference_names_settings_of_its_experiment():
    spec = {**SPEC, "reference": {"source": "a paper", "rows": {"nope": {"modes_captured": "8"}}}}
    with pytest.raises(ConfigError, match="reference.rows: 'nope' is not a setting"):
        X.Experiment.from_dict(spec)
    spec["reference"] = {"source": "a paper", "rows": {"minimax": {"fid": "8"}}}
    with pytest.raises(ConfigError, match="reference.rows.minimax: must be a table of modes_captured"):
        X.Experiment.from_dict(spec)
    spec["reference"] = {"rows": {}}
    with pytest.raises(ConfigError, match="reference: must be a table with source"):
        X.Experiment.from_dict(spec)
