"""Running a sweep: each ensemble is a job, done in a worker process, in-process or on a Dask
cluster; results are written per job so that an interrupted sweep resumes where it stopped."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import threading
import time
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from pathlib import Path

from ..engine.config import PROBABILISTIC, ConfigError, TrainConfig
from ..engine.runs import COMPLETED, DIVERGED, write_json
from ..measure.outcomes import OutcomeRules
from .spec import Experiment, load_experiment, read_json
from .tables import load_table, write_table

#: seconds to wait for a Dask scheduler before the sweep is refused
SCHEDULER_TIMEOUT = 5

#: measured at the end on 2,500 fresh samples per member (metrics.evaluate)
FINAL_FIELDS = ("js", "js_se", "modes_present", "modes_captured", "modes_captured_se", "high_quality",
                "high_quality_se", "off_mode", "off_mode_se", "nonfinite", "reverse_kl", "c_of_g")
#: torch threads a job trains on, unless its spec sets `threads`: a fixed count, so that a sweep's
#: numbers depend neither on the machine's cores and load nor on how many jobs were left to run
#: (the same seed on the same thread count and torch build gives the same run, bit for bit: engine.md)
JOB_THREADS = 1

class JobInterrupted(KeyboardInterrupt):
    """A job's training was interrupted (Ctrl-C, SIGTERM): it has no result and reruns."""


def run_job(job: dict, out: str, threads: int = JOB_THREADS) -> list[dict]:
    """Train one job (an ensemble), classify each member, write its rows; runs in a worker.

    threads: the torch threads of members whose config leaves `threads` at "auto" (auto follows
    the machine's load while it trains, so the run would depend on that load).

    Rows are written (atomically) only for a job that trained to its end or diverged: an
    interrupted job raises JobInterrupted and leaves no rows, and the next sweep continues it from
    its last checkpoint (job_trainer)."""
    import torch

    torch.set_num_threads(threads)
    out = Path(out)
    rules = OutcomeRules.from_dict(read_json(out / "experiment.json")["rules"])
    configs = [TrainConfig(**{"threads": threads, **m["config"]}) for m in job["members"]]   # (auto: not in the record)
    run = job_trainer(out / "runs" / job["id"], configs).fit()
    if run.status not in (COMPLETED, DIVERGED):
        raise JobInterrupted(f"job {job['id']}: {run.status} at round {run.step}; no rows written")
    rows = job_rows(run, job, rules)
    write_json(out / "results" / f"{job['id']}.json", rows)
    return rows


def job_trainer(run_dir: Path, configs: list[TrainConfig]):
    """A job's trainer. A run folder of these very members, left by an interrupted sweep (Ctrl-C,
    a killed worker, a machine that went down), is continued from its last checkpoint: resuming
    is exact to the bit (docs/engine.md), so a 20,000-round job is never trained twice. Anything
    else there (another job's members, a damaged folder, every member diverged) is removed and
    the job starts afresh. So is a save cut in half (the checkpoint written, the metrics and
    status not: their round differs from the checkpoint's), whose rows would be lost."""
    from ..engine import checkpoint, runs
    from ..engine.training import Trainer

    if (run_dir / "config.json").is_file():
        try:
            run = runs.load_run(run_dir, snapshots=False, weights=False)
            if run.configs == configs and checkpoint.saved_step(run_dir / "checkpoint.pt") == run.step:
                return Trainer.resumed(run, configs[0].steps)
        except runs.DiskFullError:
            raise
        except Exception:                       # (a damaged folder: whatever its reader raised)
            pass                                # not resumable: trained again from round 0
    shutil.rmtree(run_dir, ignore_errors=True)
    return Trainer(configs, out=run_dir)


def job_cost(job: dict) -> float:
    """A job's work, roughly (to start the longest first): for each member, its rounds x its batch
    x the hidden layers' multiply-adds per sample, G's for each of a pack's samples, D's for each
    of its steps (the unrolled look-ahead's included)."""
    total = 0.0
    for m in job["members"]:
        c = m["config"]
        g = c["g_hidden"] ** 2 * c["g_depth"] * c["pack"]
        d = c["d_hidden"] ** 2 * c["d_depth"] * c["d_maxout"] * (c["d_steps"] + c["unrolled_steps"] + 1)
        total += c["steps"] * c["batch_size"] * (g + d)
    return total


def job_rows(run, job: dict, rules: OutcomeRules) -> list[dict]:
    """The table rows of a trained job: each member measured on 2,500 fresh samples
    (metrics.evaluate) and classified (outcomes.classify)."""
    import torch                         # (start-up: the worker's watch starts before torch)

    from ..measure import metrics, outcomes

    final = metrics.evaluate(run, n=metrics.EVAL_SAMPLES)
    real = run.target.sample(metrics.EVAL_SAMPLES, seed=1)
    rows = []
    for e, m in enumerate(job["members"]):
        f = final[e]
        o = outcomes.classify(run, e, rules, final=f)
        d_real = math.nan
        if run.config.loss in PROBABILISTIC and run.member_status[e] != DIVERGED:
            d_real = float(torch.sigmoid(run.discriminate(real, member=e)).mean())
        rows.append({"setting": m["setting"], "seed": m["seed"], **{k: v for k, v in m["overrides"].items()},
                     "outcome": o.outcome, "reason": o.reason, "num_modes": o.num_modes,
                     **{k: f.get(k, math.nan) for k in FINAL_FIELDS}, "d_real_mean": d_real,
                     "g_grad_norm": o.g_grad_norm, "d_loss": o.d_loss, "hops": o.hops,
                     "status": run.member_status[e], "steps": run.step, "job": job["id"], "member": e})
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
            same = read_json(spec) == json.loads(json.dumps(exp.to_dict()))
        except (OSError, ValueError):
            raise ConfigError(f"out: {spec} is unreadable; choose another folder") from None
        if not same:
            raise ConfigError(f"out: {out} holds a different experiment; choose another folder")
    elif out.is_dir() and any(out.iterdir()):
        raise ConfigError(f"out: {out} is not empty and holds no experiment (no experiment.json); "
                          f"choose a new or empty folder")


def open_experiment(exp, out) -> Experiment:
    """The experiment's folder, checked (check_out_folder) and holding its experiment.json: a
    new one made, or the same experiment's to resume. Returns the loaded experiment."""
    exp = load_experiment(exp)
    out = Path(out)
    check_out_folder(out, exp)
    _record(exp, out)
    return exp


def _record(exp: Experiment, out: Path) -> None:
    """The experiment's spec in its checked folder (kept as it is when resuming)."""
    if not (out / "experiment.json").exists():
        write_json(out / "experiment.json", exp.to_dict())


def run_experiment(exp, out, *, workers: int | None = None, scheduler: str | None = None,
                   executor: Executor | None = None, progress: bool = True) -> list[dict]:
    """Run every job of `exp` not finished yet under `out`; returns the whole table.

    workers: local processes (default: one per core; 1 runs in this process); scheduler:
    a Dask scheduler address (tcp://host:8786); executor: any Executor (overrides both).

    Ctrl-C (KeyboardInterrupt, or SIGTERM from the CLI) stops the sweep at once: no job is
    started, the local workers are killed, running jobs write no rows, and the
    KeyboardInterrupt goes on to the caller. Running it again does exactly the unfinished jobs,
    each from its last checkpoint (job_trainer).
    """
    if workers is not None and int(workers) < 1:
        raise ConfigError(f"workers: must be at least 1 (got {workers}); leave it out for one per core")
    exp = load_experiment(exp)
    out = Path(out)
    check_out_folder(out, exp)                          # a wrong folder: refused before anything else
    client = None
    if executor is None and scheduler:
        executor, client = _executor(workers, scheduler)   # an unreachable scheduler: refused, nothing written
    try:
        _record(exp, out)
        return _run(exp, out, workers, scheduler, executor, client is not None, progress)
    finally:
        if client is not None:
            executor.shutdown(wait=True)
            client.close()


def _run(exp, out, workers, scheduler, executor, remote, progress):
    from tqdm.auto import tqdm

    jobs = exp.jobs()
    pending = [j for j in jobs if not (out / "results" / f"{j['id']}.json").exists()]
    pending.sort(key=job_cost, reverse=True)      # the longest first: the workers finish together (the table keeps its order)
    if pending:
        threads = JOB_THREADS
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
