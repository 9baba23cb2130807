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
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import shutil
import signal
import threading
import time
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..engine.config import ENSEMBLE_FIELDS, MAX_MEMBERS, ConfigError, TrainConfig, make_config
from ..measure.outcomes import OUTCOMES, OutcomeRules

RECIPES = Path(__file__).parent / "recipes"
#: seconds to wait for a Dask scheduler before the sweep is refused
SCHEDULER_TIMEOUT = 5
TABLE_FIELDS = ("setting", "seed", "outcome", "reason", "js", "js_se", "modes_present", "modes_captured",
                "modes_captured_se", "num_modes", "high_quality", "high_quality_se", "reverse_kl", "c_of_g",
                "d_real_mean", "g_grad_norm", "d_loss", "hops", "status", "steps", "job", "member")

#: measured at the end on 2,500 fresh samples per member (metrics.evaluate)
FINAL_FIELDS = ("js", "js_se", "modes_present", "modes_captured", "modes_captured_se", "high_quality",
                "high_quality_se", "reverse_kl", "c_of_g")


@dataclass
class Experiment:
    """base: TrainConfig fields; variants: [{label, **overrides}]; grid: {field: [values]}
    (settings = every variant x every grid point); seeds: the seeds of every setting."""

    name: str
    base: dict = field(default_factory=dict)
    variants: list[dict] = field(default_factory=list)
    grid: dict[str, list] = field(default_factory=dict)
    seeds: list[int] = field(default_factory=lambda: list(range(8)))
    rules: OutcomeRules = field(default_factory=OutcomeRules)
    description: str = ""
    #: a paper's numbers to put beside this experiment's: {"source": str, "rows": {setting:
    #: {modes_captured, high_quality, reverse_kl: the paper's text}}} (the report's side-by-side table)
    reference: dict = field(default_factory=dict)

    def settings(self) -> list[tuple[str, dict]]:
        """(label, overrides) of every setting, validated (errors name the setting and field)."""
        keys = list(self.grid)
        points = [dict(zip(keys, vals)) for vals in itertools.product(*(self.grid[k] for k in keys))] or [{}]
        out = []
        for variant in self.variants or [{}]:
            variant = dict(variant)
            label = str(variant.pop("label", "")) or None
            for point in points:
                overrides = {**variant, **point}
                parts = [label] if label else []
                parts += [f"{k}={v}" for k, v in point.items()]
                name = ", ".join(parts) or "base"
                try:
                    make_config(**{**self.base, **overrides})
                except ConfigError as err:
                    raise ConfigError(f"setting {name!r}: {err}") from None
                out.append((name, overrides))
        labels = [n for n, _ in out]
        if len(set(labels)) != len(labels):
            raise ConfigError(f"settings: labels must differ; got {labels}")
        return out

    def jobs(self) -> list[dict]:
        """Members grouped into ensembles: configs equal up to seed, lr_d and lr_g train together."""
        groups: dict[str, dict] = {}
        for label, overrides in self.settings():
            for seed in self.seeds:
                cfg = make_config(**{**self.base, **overrides, "seed": int(seed)})
                key = json.dumps({k: v for k, v in cfg.model_dump(mode="json").items() if k not in ENSEMBLE_FIELDS},
                                 sort_keys=True)
                g = groups.setdefault(key, {"members": []})
                record = cfg.model_dump(mode="json")
                if record.get("threads") == "auto":      # (a field added later: old job ids stay valid)
                    del record["threads"]
                g["members"].append({"setting": label, "seed": int(seed), "overrides": overrides,
                                     "config": record})
        jobs = []
        for i, g in enumerate(groups.values()):
            digest = hashlib.sha1(json.dumps(g["members"], sort_keys=True).encode()).hexdigest()[:8]
            jobs.append({"id": f"{i:03d}-{digest}", "members": g["members"]})
        return jobs

    def to_dict(self) -> dict:
        d = {"name": self.name, "description": self.description, "base": self.base, "variants": self.variants,
             "grid": self.grid, "seeds": list(self.seeds), "rules": self.rules.to_dict()}
        return {**d, "reference": self.reference} if self.reference else d

    @classmethod
    def from_dict(cls, d: dict) -> "Experiment":
        """An experiment from its spec; each part of the spec is checked, and an error names it
        and what is allowed."""
        if not isinstance(d, dict):
            raise ConfigError(f"experiment: a spec is a mapping of name, base, variants, grid, seeds, rules "
                              f"(got a {type(d).__name__})")
        d = dict(d)
        bad = [k for k in d if k not in ("name", "description", "base", "variants", "grid", "seeds", "rules", "quick",
                                         "reference")]
        if bad:
            raise ConfigError(f"experiment: unknown {', '.join(map(str, bad))}; allowed: name, description, base, "
                              f"variants, grid, seeds, rules, quick, reference")
        if not isinstance(d.get("quick", {}), dict):
            raise ConfigError(f"quick: must be a table of seeds and TrainConfig fields, got {d['quick']!r}")
        name = d.get("name", "experiment")
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ConfigError(f"name: {name!r}; a name is letters, digits, '_', '-' and '.', not starting with "
                              f"'.' (it names the experiment's folder)")
        base = d.get("base", {})
        if not isinstance(base, dict):
            raise ConfigError(f"base: must be a table of TrainConfig fields, got {base!r}")
        variants = d.get("variants", [])
        if not isinstance(variants, list) or not all(isinstance(v, dict) for v in variants):
            raise ConfigError(f"variants: must be a list of tables (each a label and TrainConfig fields), "
                              f"got {variants!r}")
        grid = d.get("grid", {})
        if not isinstance(grid, dict):
            raise ConfigError(f"grid: must be a table of field = [values], got {grid!r}")
        for k, vals in grid.items():
            if not isinstance(vals, list) or not vals:
                raise ConfigError(f"grid.{k}: must be a non-empty list of values, e.g. {k} = [a, b] "
                                  f"(got {vals!r})")
        seeds = _seeds(d.get("seeds", 8))
        rules = d.get("rules")
        if rules is not None and not isinstance(rules, dict):
            raise ConfigError(f"rules: must be a table of outcome thresholds, got {rules!r}")
        try:
            rules = OutcomeRules.from_dict(rules)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"rules: {err}") from None
        exp = cls(name=name, base=dict(base), variants=list(variants), grid=dict(grid), seeds=seeds,
                  rules=rules, description=str(d.get("description", "")), reference=d.get("reference", {}))
        labels = [label for label, _ in exp.settings()]         # validate now
        _check_reference(exp.reference, labels)
        return exp


REFERENCE_COLUMNS = {"modes_captured": "modes captured", "high_quality": "high quality", "reverse_kl": "reverse KL"}


def _check_reference(ref, labels: list[str]) -> None:
    """reference: a source and, per setting of this experiment, the paper's text for some columns."""
    allowed = f"a table with source = \"...\" and rows.<setting> = {{{', '.join(REFERENCE_COLUMNS)}}}"
    if not isinstance(ref, dict) or (ref and not isinstance(ref.get("source"), str)) or \
            not isinstance(ref.get("rows", {}), dict) or set(ref) - {"source", "rows"}:
        raise ConfigError(f"reference: must be {allowed} (got {str(ref)[:80]})")
    for label, row in ref.get("rows", {}).items():
        if label not in labels:
            raise ConfigError(f"reference.rows: {label!r} is not a setting; settings: {', '.join(labels)}")
        if not isinstance(row, dict) or set(row) - set(REFERENCE_COLUMNS) or \
                not all(isinstance(v, (str, int, float)) for v in row.values()):
            raise ConfigError(f"reference.rows.{label}: must be a table of {', '.join(REFERENCE_COLUMNS)} "
                              f"(the paper's numbers as text; got {str(row)[:80]})")


_NAME = __import__("re").compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,99}")


def _seeds(seeds) -> list[int]:
    """A seed count (1 .. MAX_MEMBERS) or a list of distinct seeds (integers >= 0)."""
    allowed = f"a count from 1 to {MAX_MEMBERS}, or a list of at most {MAX_MEMBERS} distinct integers >= 0"
    if isinstance(seeds, bool):
        raise ConfigError(f"seeds: {allowed} (got {seeds!r})")
    if isinstance(seeds, int):
        if not 1 <= seeds <= MAX_MEMBERS:
            raise ConfigError(f"seeds: {allowed} (got {seeds})")
        return list(range(seeds))
    if not isinstance(seeds, list) or not seeds or len(seeds) > MAX_MEMBERS or not all(
            isinstance(s, int) and not isinstance(s, bool) and 0 <= s < 2**32 for s in seeds):
        raise ConfigError(f"seeds: {allowed} (got {str(seeds)[:80]})")
    dup = sorted({s for s in seeds if seeds.count(s) > 1})
    if dup:
        raise ConfigError(f"seeds: {dup} given more than once; each seed is one run (give distinct seeds)")
    return list(seeds)


def recipes() -> dict[str, str]:
    """Built-in recipes: name -> description."""
    out = {}
    for p in sorted(RECIPES.glob("*.toml")):
        out[p.stem] = " ".join(_read(p).get("description", "").split()).split(": ")[0]
    return out


def _read(path: Path) -> dict:
    from ..engine.config import read_mapping
    return read_mapping(path, "experiment")


#: the smoke size of a spec without a [quick] table
QUICK = {"seeds": 1, "steps": 100, "snapshot_every": 50, "metrics_every": 50}


def load_experiment(spec, quick: bool = False, **overrides) -> Experiment:
    """A recipe by name, a spec file, or a dict; overrides: seeds=N, steps=N (into base).

    quick: the spec's [quick] table (seeds and TrainConfig fields; QUICK if it has none)
    replaces those parts: the same settings at a smoke size, for tests and a first look."""
    if isinstance(spec, Experiment):
        d = spec.to_dict()
    elif isinstance(spec, dict):
        d = dict(spec)
    elif not isinstance(spec, (str, os.PathLike)):
        raise ConfigError(f"experiment: give a recipe name, a spec file or a mapping (got a {type(spec).__name__})")
    else:
        path = Path(spec)
        if not path.suffix and (RECIPES / f"{spec}.toml").exists():
            path = RECIPES / f"{spec}.toml"
        if not path.exists():
            raise ConfigError(f"experiment: no recipe or file {spec!r}; recipes: {', '.join(recipes())}")
        d = _read(path)
    if not isinstance(d, dict):
        raise ConfigError(f"experiment: a spec is a mapping, got a {type(d).__name__}")
    small = d.pop("quick", None)
    if quick:
        small = dict(QUICK if small is None else small)
        if not isinstance(d.get("base", {}), dict):
            raise ConfigError(f"base: must be a table of TrainConfig fields, got {d['base']!r}")
        if "seeds" in small:
            d["seeds"] = small.pop("seeds")
        d["base"] = {**d.get("base", {}), **small}
    if overrides.get("seeds") is not None:
        d["seeds"] = overrides["seeds"]
    if overrides.get("steps") is not None:
        if not isinstance(d.get("base", {}), dict):
            raise ConfigError(f"base: must be a table of TrainConfig fields, got {d['base']!r}")
        d["base"] = {**d.get("base", {}), "steps": overrides["steps"]}
    return Experiment.from_dict(d)


# ---- running ------------------------------------------------------------------------------
class JobInterrupted(KeyboardInterrupt):
    """A job's training was interrupted (Ctrl-C, SIGTERM): it has no result and reruns."""


def run_job(job: dict, out: str, threads: int = 1) -> list[dict]:
    """Train one job (an ensemble), classify each member, write its rows; runs in a worker.

    Rows are written (atomically) only for a job that trained to its end or diverged: an
    interrupted job raises JobInterrupted and leaves no rows, so the next sweep redoes it."""
    import torch

    from ..measure import metrics, outcomes
    from ..engine.losses import PROBABILISTIC
    from ..engine.training import Trainer

    torch.set_num_threads(threads)
    out = Path(out)
    run_dir = out / "runs" / job["id"]
    shutil.rmtree(run_dir, ignore_errors=True)          # a partial run from an interrupted sweep
    rules = OutcomeRules.from_dict(json.loads((out / "experiment.json").read_text())["rules"])
    configs = [TrainConfig(**m["config"]) for m in job["members"]]
    run = Trainer(configs, out=run_dir).fit()
    if run.status not in ("completed", "diverged"):
        raise JobInterrupted(f"job {job['id']}: {run.status} at round {run.step}; no rows written")
    final = metrics.evaluate(run, n=2500)
    real = run.target.sample(2500, seed=1)
    rows = []
    for e, m in enumerate(job["members"]):
        f = final[e]
        o = outcomes.classify(run, e, rules, final=f)
        d_real = math.nan
        if run.config.loss in PROBABILISTIC and run.member_status[e] != "diverged":
            d_real = float(torch.sigmoid(run.discriminate(real, member=e)).mean())
        rows.append({"setting": m["setting"], "seed": m["seed"], **{k: v for k, v in m["overrides"].items()},
                     "outcome": o.outcome, "reason": o.reason, "num_modes": o.num_modes,
                     **{k: f.get(k, math.nan) for k in FINAL_FIELDS}, "d_real_mean": d_real,
                     "g_grad_norm": o.g_grad_norm, "d_loss": o.d_loss, "hops": o.hops,
                     "status": run.member_status[e], "steps": run.step, "job": job["id"], "member": e})
    from ..engine.runs import write_json
    write_json(out / "results" / f"{job['id']}.json", rows)
    return rows


# ---- local worker processes -------------------------------------------------------------
_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def _worker_init(parent: int) -> None:
    """First thing in every local worker. Ctrl-C is the sweep's to handle (the parent kills
    its workers), so a worker ignores SIGINT; SIGINT and SIGTERM were blocked while it was
    spawned (so a Ctrl-C during its start-up prints no traceback) and are unblocked here.
    A thread watches the parent: if the sweep dies, even by kill -9, the worker exits at once,
    whatever it is doing (training, idle, writing: every file is written atomically)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):          # POSIX (not Windows)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)
    threading.Thread(target=_exit_with_parent, args=(parent,), name="toylab-parent-watch", daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    import multiprocessing as mp
    from multiprocessing.connection import wait
    proc = mp.parent_process()
    if proc is not None and os.getppid() == parent:
        wait([proc.sentinel])              # readable as soon as the parent is gone
    while os.getppid() == parent:         # (or its pipe was closed at shutdown: keep watching)
        time.sleep(0.5)
    os._exit(1)


@contextmanager
def _blocked(signals):
    """Hold these signals while worker processes are spawned: a child inherits the mask, and a
    signal that arrives meanwhile is delivered here (as KeyboardInterrupt) right after."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _kill_workers(executor: ProcessPoolExecutor) -> None:
    for p in list((getattr(executor, "_processes", None) or {}).values()):
        try:
            p.kill()
        except (OSError, ValueError):
            pass


def _executor(workers: int | None, scheduler: str | None) -> tuple[Executor | None, object]:
    if scheduler:
        try:
            from dask.distributed import Client
        except ImportError as err:
            raise ConfigError("scheduler: Dask is not installed; pip install 'toylab[dask]'") from err
        try:
            client = Client(scheduler, timeout=SCHEDULER_TIMEOUT)
        except Exception as err:      # OSError, TimeoutError, ValueError (a malformed address)
            raise ConfigError(f"scheduler: could not connect to {scheduler!r} within {SCHEDULER_TIMEOUT} s "
                              f"({type(err).__name__}: {' '.join(str(err).split())[:160]}); give a running Dask "
                              f"scheduler's address, e.g. tcp://host:8786") from None
        return client.get_executor(), client
    if workers == 1:
        return None, None
    import multiprocessing as mp
    return ProcessPoolExecutor(max_workers=workers or os.cpu_count(), mp_context=mp.get_context("spawn"),
                               initializer=_worker_init, initargs=(os.getpid(),)), None


def check_out_folder(out, exp: Experiment) -> None:
    """A sweep writes only into a folder of its own: a new or empty one, or one that holds this very
    experiment (to resume it). Another experiment's folder, a folder inside one, a run folder or any
    other non-empty folder is refused, as is a file."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"out: {out} is a file; give a folder for the experiment")
    for parent in out.resolve().parents:
        if (parent / "experiment.json").is_file():
            raise ConfigError(f"out: {out} lies inside the experiment folder {parent}; choose a folder of its own")
    spec = out / "experiment.json"
    if spec.exists():
        try:
            same = json.loads(spec.read_text()) == json.loads(json.dumps(exp.to_dict()))
        except (OSError, ValueError):
            raise ConfigError(f"out: {spec} is unreadable; choose another folder") from None
        if not same:
            raise ConfigError(f"out: {out} holds a different experiment; choose another folder")
    elif out.is_dir() and any(out.iterdir()):
        raise ConfigError(f"out: {out} is not empty and holds no experiment (no experiment.json); "
                          f"choose a new or empty folder")


def run_experiment(exp, out, *, workers: int | None = None, scheduler: str | None = None,
                   executor: Executor | None = None, progress: bool = True) -> list[dict]:
    """Run every job of `exp` not finished yet under `out`; returns the whole table.

    workers: local processes (default: one per core; 1 runs in this process); scheduler:
    a Dask scheduler address (tcp://host:8786); executor: any Executor (overrides both).

    Ctrl-C (KeyboardInterrupt, or SIGTERM from the CLI) stops the sweep at once: no job is
    started, the local workers are killed, running jobs are discarded (no rows), and the
    KeyboardInterrupt goes on to the caller. Running it again does exactly the unfinished jobs.
    """
    if workers is not None and int(workers) < 1:
        raise ConfigError(f"workers: must be at least 1 (got {workers}); leave it out for one per core")
    exp = load_experiment(exp)
    out = Path(out)
    spec = out / "experiment.json"
    check_out_folder(out, exp)
    client = None
    if executor is None and scheduler:
        executor, client = _executor(workers, scheduler)   # an unreachable scheduler: refused, nothing written
    try:
        return _run(exp, out, spec, workers, scheduler, executor, client is not None, progress)
    finally:
        if client is not None:
            executor.shutdown(wait=True)
            client.close()


def _run(exp, out, spec, workers, scheduler, executor, remote, progress):
    from tqdm.auto import tqdm

    from ..engine.runs import write_json

    if not spec.exists():
        write_json(spec, exp.to_dict())
    jobs = exp.jobs()
    pending = [j for j in jobs if not (out / "results" / f"{j['id']}.json").exists()]
    if pending:
        threads = max(1, (os.cpu_count() or 1) // max(1, min(len(pending), workers or os.cpu_count() or 1)))
        bar = tqdm(total=len(pending), desc=exp.name, unit="job", disable=not progress)
        client = None
        made_here = executor is None                   # we shut down only what we started
        if made_here:
            executor, client = _executor(workers, None if remote else scheduler)
        local = made_here and isinstance(executor, ProcessPoolExecutor)
        futures = []
        try:
            if executor is None:
                for j in pending:
                    run_job(j, str(out), threads)
                    bar.update()
            else:
                with _blocked(_SIGNALS if local else set()):
                    futures = [executor.submit(run_job, j, str(out), threads) for j in pending]
                for f in as_completed(futures):
                    f.result()
                    bar.update()
        except BaseException as err:
            for f in futures:
                f.cancel()
            if local and isinstance(err, KeyboardInterrupt):
                _kill_workers(executor)       # their running jobs are discarded: no rows, rerun later
            raise
        finally:
            bar.close()
            if made_here and executor is not None:
                if local:
                    executor.shutdown(wait=True, cancel_futures=True)
                else:
                    executor.shutdown(wait=True)
            if client is not None:
                client.close()
    table = load_table(out, jobs)
    write_table(out, table)
    return table


def load_table(out, jobs: list[dict] | None = None) -> list[dict]:
    """Rows of every finished job, in job order."""
    out = Path(out)
    if jobs is None:
        jobs = Experiment.from_dict(json.loads((out / "experiment.json").read_text())).jobs()
    rows = []
    for j in jobs:
        f = out / "results" / f"{j['id']}.json"
        if f.exists():
            rows += json.loads(f.read_text())
    return rows


def write_table(out, rows: list[dict]) -> None:
    """results.csv (and results.parquet when pyarrow is installed), written atomically."""
    from ..engine.runs import write_csv
    if not rows:
        return
    keys = [k for k in TABLE_FIELDS if k in rows[0]] + [k for k in rows[0] if k not in TABLE_FIELDS]
    cols = {k: np.array([r.get(k) for r in rows], dtype=object) for k in keys}
    write_csv(Path(out) / "results.csv", cols)
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return
    from ..engine.runs import _atomic
    table = pa.Table.from_pylist([{k: (str(r[k]) if isinstance(r.get(k), (list, dict)) else r.get(k))
                                   for k in keys} for r in rows])
    _atomic(Path(out) / "results.parquet", lambda f: pq.write_table(table, f))


# ---- reporting -----------------------------------------------------------------------------
def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a rate k/n (sound at 0/n and n/n, unlike the normal one)."""
    if n == 0:
        return math.nan, math.nan
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, c - h), min(1.0, c + h)


def outcome_rates(rows: list[dict]) -> dict[str, dict[str, tuple[int, int]]]:
    """{setting: {outcome: (count, n)}}, settings in first-seen order."""
    out: dict[str, dict[str, tuple[int, int]]] = {}
    by: dict[str, list[str]] = {}
    for r in rows:
        by.setdefault(r["setting"], []).append(r["outcome"])
    for s, outs in by.items():
        out[s] = {o: (outs.count(o), len(outs)) for o in OUTCOMES}
    return out


def _beside_the_paper(ref: dict, rows: list[dict]) -> list[str]:
    """The paper's numbers and this experiment's (mean ± std over seeds), setting by setting."""
    fmt = {"modes_captured": ("{:.1f}", False), "high_quality": ("{:.1%}", True), "reverse_kl": ("{:.2f}", False)}
    head = " | ".join(f"{title}: paper | toylab" for title in REFERENCE_COLUMNS.values())
    lines = ["## Beside the paper", "", f"Paper: {ref.get('source', '')}. toylab: this experiment, mean ± std over "
             f"its seeds (same measures, 2,500 samples per run).", "", f"| setting | {head} |",
             "|---|" + "---|---|" * len(REFERENCE_COLUMNS)]
    for label, paper in ref.get("rows", {}).items():
        sub = [r for r in rows if r["setting"] == label]
        cells = [f"{paper.get(k, '-')} | " + (_mean_std(sub, k, f, pct=pct) if sub else "not run")
                 for k, (f, pct) in fmt.items()]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines + [""]


def report(out, plots: bool = True) -> str:
    """A Markdown summary of a finished (or partly finished) experiment; writes report.md and
    the plots (outcome_rates.png, curves.png) beside the table."""
    from ..engine.runs import write_text

    out = Path(out)
    if not (out / "experiment.json").exists():
        raise FileNotFoundError(f"{out} is not an experiment folder (no experiment.json)")
    try:
        exp = Experiment.from_dict(json.loads((out / "experiment.json").read_text()))
    except (OSError, ValueError) as err:
        raise ValueError(f"{out / 'experiment.json'}: unreadable ({type(err).__name__}: "
                         f"{' '.join(str(err).split())[:160]})") from None
    rows = load_table(out)
    if not rows:
        raise ValueError(f"{out}: no finished runs yet")
    rates = outcome_rates(rows)
    present = [o for o in OUTCOMES if any(v[o][0] for v in rates.values())]
    lines = [f"# {exp.name}", "", exp.description.strip(), "",
             f"{len(rows)} runs: {len(rates)} settings x {len(exp.seeds)} seeds. Outcome rates with 95 % Wilson "
             f"intervals. Measured at the end on 2,500 samples per run, mean ± std over seeds: JS (nats), modes "
             f"present (holding at least a tenth of their fair share of the samples) and captured (at least one, "
             f"as in VEEGAN/PacGAN), high-quality share, reverse KL of the mode histogram, C(G) = -log 4 + 2 JS "
             f"(-1.386 at the equilibrium) and the mean of D on real samples (1/2 at the equilibrium).", "",
             "| setting | n | " + " | ".join(present) + " | JS | modes present | modes captured | high quality "
             "| reverse KL | C(G) | mean D(real) |",
             "|---|---|" + "---|" * len(present) + "---|---|---|---|---|---|---|"]
    for s, v in rates.items():
        n = next(iter(v.values()))[1]
        cells = []
        for o in present:
            k = v[o][0]
            lo, hi = wilson(k, n)
            cells.append(f"{k / n:.0%} [{lo:.0%}, {hi:.0%}]")
        sub = [r for r in rows if r["setting"] == s]
        K = sub[0]["num_modes"]
        per_mode = [_mean_std(sub, "modes_present", "{:.1f}"), _mean_std(sub, "modes_captured", "{:.1f}"),
                    _mean_std(sub, "high_quality", "{:.1%}", pct=True), _mean_std(sub, "reverse_kl", "{:.2f}")]
        if not K:
            per_mode = ["-"] * 4
        lines.append(f"| {s} | {n} | " + " | ".join(cells) + f" | {_mean_std(sub, 'js', '{:.3f}')} | "
                     + " | ".join(per_mode) + f" | {_mean_std(sub, 'c_of_g', '{:.3f}')} | "
                     f"{_mean_std(sub, 'd_real_mean', '{:.3f}')} |")
    lines += ["", "Outcome rules and thresholds: " + ", ".join(f"{k}={v}" for k, v in exp.rules.to_dict().items()),
              "(see toylab.outcomes).", ""]
    if exp.reference:
        lines += _beside_the_paper(exp.reference, rows)
    if plots:
        from ..pictures import viz
        viz.save_figure(viz.outcome_figure(rates), out / "outcome_rates.png")
        viz.save_figure(viz.band_figure(curves(out, rows)), out / "curves.png")
        viz.save_figure(viz.samples_figure(final_samples(out, rows)), out / "samples.png")
        viz.save_figure(viz.samples_figure(samples_over_time(out, rows), 
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


def _mean_std(rows: list[dict], key: str, fmt: str, pct: bool = False) -> str:
    """'mean ± std' of a table column over rows (finite values only; '-' if none)."""
    v = np.array([r.get(key) for r in rows if r.get(key) is not None], dtype=float)
    v = v[np.isfinite(v)]
    if not len(v):
        return "-"
    sd = v.std(ddof=1) if len(v) > 1 else 0.0
    return f"{fmt.format(v.mean())} ± {fmt.format(sd)}".replace("% ± ", " ± ") if pct else \
        f"{fmt.format(v.mean())} ± {fmt.format(sd)}"


def final_samples(out, rows: list[dict], n: int = 500) -> dict:
    """{setting: [(seed, outcome, samples (n, 2), target)]} from each run's last snapshot."""
    from ..engine.runs import load_run
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
    from ..engine.runs import load_run
    out = Path(out)
    res: dict[str, list] = {}
    for r in rows:
        if r["setting"] in res:
            continue
        run = load_run(out / "runs" / r["job"], max_snapshots=frames, engine=False)
        snaps = run.snapshots
        res[r["setting"]] = [(f"step {s.step:,}", r["outcome"] if i == len(snaps) - 1 else "",
                              s.fake[r["member"]][:n], run.target) for i, s in enumerate(snaps)]
    return res


def curves(out, rows: list[dict], keys=("js", "modes_present", "g_grad_norm")) -> dict:
    """{key: {setting: (steps, per-seed values (S, T))}} from the runs' metrics, for seed bands."""
    from ..engine.runs import read_csv
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
