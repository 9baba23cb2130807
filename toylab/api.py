"""The convenience API over the engine: train and resume, with every recorder the faces use.

`toylab.train` and `toylab.resume` are these. They build an engine Trainer and, when a config
asks for TensorBoard, add the snapshot's summary figure (toylab.pictures) to its scalars.
"""

from __future__ import annotations

import math
from typing import Callable, Iterable

import numpy as np

from .engine import runs
from .engine.config import ConfigError, TrainConfig, make_config
from .engine.runs import Run
from .engine.training import Trainer
from .measure.metrics import SnapshotMetrics
from .pictures import mpl_figures as viz


def tensorboard_figure(trainer: Trainer, snap) -> None:
    """A callback: the summary figure of member 0 at this snapshot, into TensorBoard."""
    if trainer.tensorboard is not None:
        fig = viz.summary_figure(trainer.run(), member=0, snapshot=snap)
        trainer.tensorboard.add_figure("snapshot", fig, snap.step, close=True)


def recorders(configs, callbacks=()) -> list[Callable]:
    """The callbacks a trainer of these configs runs: the given ones and the TensorBoard figure."""
    cfg = configs if isinstance(configs, TrainConfig) else next(iter(configs))
    return list(callbacks) + ([tensorboard_figure] if cfg.tensorboard else [])


def train(config: TrainConfig | Iterable[TrainConfig] | None = None, *, seeds: Iterable[int] | None = None,
          out=None, callbacks: Iterable[Callable] = (), progress: bool = False, **overrides) -> Run:
    """Train one GAN, or an ensemble, and return its Run.

    config: a TrainConfig, a list of configs differing only in seed / lr_d / lr_g
    (an ensemble), or None for the defaults; overrides: fields to change.
    seeds: train one member per seed (an ensemble of len(seeds)).
    out: a folder to save the run in (a fresh one is made if it exists).
    callbacks: called as cb(trainer, snapshot) at every snapshot; returning False stops.

    >>> run = train(dataset="gaussian", steps=300)                  # doctest: +SKIP
    """
    return trainer(config, seeds=seeds, out=out, callbacks=callbacks, progress=progress, **overrides).fit()


def trainer(config: TrainConfig | Iterable[TrainConfig] | None = None, *, seeds: Iterable[int] | None = None,
            out=None, callbacks: Iterable[Callable] = (), progress: bool = False, **overrides) -> Trainer:
    """The Trainer `train` fits (same arguments), for a face that drives it itself: the CLI
    (its folder is named before training), the dashboard (live runs, the pool)."""
    if config is None:
        config = TrainConfig()
    if overrides:               # to every member of a list (never a default run instead of the list)
        members = [config] if isinstance(config, TrainConfig) else list(config)
        changed = [make_config(**{**c.model_dump(), **overrides}) for c in members]
        config = changed[0] if isinstance(config, TrainConfig) else changed
    if seeds is not None:
        if not isinstance(config, TrainConfig):
            raise ConfigError("train: give seeds with a single config, not a list")
        config = [config.replace(seed=int(s)) for s in seeds]
    config = [config] if isinstance(config, TrainConfig) else list(config)
    if not config:
        raise ConfigError("train: no config given")
    return Trainer(config, out=out, callbacks=recorders(config, callbacks), progress=progress)


def resume(path, steps: int | None = None, *, progress: bool = False, callbacks=()) -> Run:
    """Continue a saved run from its last checkpoint, in its own folder, to `steps` rounds in total.

    The folder is first cut back to the checkpoint (Trainer.resumed). Everything is read and
    checked first (toylab.engine.guarded: the snapshots kept included),
    and a folder with a link in it (snapshots/ linked elsewhere, a linked file) is refused before
    anything is written or deleted: a resume writes and deletes only inside the real run folder."""
    if steps is not None and int(steps) < 1:
        raise ConfigError(f"steps_total (--steps-total): must be a positive number of rounds (got {steps})")
    run = runs.load_run(path, snapshots=False, weights=False)   # the Trainer reads the checkpoint
    total = int(steps) if steps is not None else run.config.steps
    t = Trainer.resumed(run, total, callbacks=recorders(run.configs, callbacks), progress=progress)
    return t.fit(total)


def run_of_samples(dataset: str, fakes: dict[int, np.ndarray]):
    """A Run made from generator samples alone ({step: (n, 2) samples}), its history measured
    as training measures it: to classify a sampler you made (toylab.outcomes.classify), or a
    crafted case whose right verdict you know (docs/make_verdicts.py, the verdict tests).
    Losses are constant (no game was played)."""
    cfg = TrainConfig(dataset=dataset)
    target = cfg.target()
    steps = sorted(fakes)
    measure = SnapshotMetrics(target, min(len(np.asarray(fakes[s])) for s in steps), probabilistic=False)
    snaps, rows = [], []
    for s in steps:
        fake = np.asarray(fakes[s], dtype=np.float32)[None]
        snap = runs.Snapshot(step=int(s), fake=fake, d_grid=np.zeros((1, 2, 2)), manifold=np.zeros((1, 1, 2, 2)),
                             d_grad=np.zeros_like(fake))
        snap.metrics = measure(fake, None)      # a snapshot of NaN fakes: NaN values, nonfinite 1
        snaps.append(snap)
        rows.append({"step": int(s), "member": 0, "seed": 0, "d_loss": 1.3, "g_loss": 0.7, "g_grad_norm": 1.0,
                     **{k: float(v[0]) for k, v in snap.metrics.items()}})
    keys = list(dict.fromkeys(k for r in rows for k in r))     # one row per step, every column as long
    hist = {k: np.asarray([r.get(k, math.nan) for r in rows]) for k in keys}
    return Run(configs=[cfg], status=runs.COMPLETED, step=int(steps[-1]), member_status=[runs.COMPLETED],
               diverged_step=[None], history=hist, snapshots=snaps)
