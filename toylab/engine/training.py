"""The training loop: E independent GANs trained in one batched step, and what it records.

The Trainer repeats rounds (toylab.engine.step.Game: the players' updates) and records:
per-round losses stay on the device and reach the host once per snapshot interval, where
divergence (NaN/Inf) is also checked, so the hot loop has no host syncs; snapshots of the
fixed probes, measurements (toylab.measure), checkpoints and status files, TensorBoard
scalars; Ctrl-C/SIGTERM stop after the round in progress.

>>> run = train(TrainConfig(dataset="gaussian", steps=200))       # doctest: +SKIP
>>> run.sample(1000).mean(0)                                        # doctest: +SKIP
"""

from __future__ import annotations

import time
from typing import Callable, Iterable

import numpy as np
import torch

from ..measure import metrics
from . import checkpoint, losses, runs
from .config import ConfigError, TrainConfig, check_ensemble
from .controls import Controls
from .history import History
from .model import Networks
from .probes import Probes
from .recorders import TensorBoard, for_fit, stop_on_signals
from .run_folder import RunFolder
from .runs import COMPLETED, DIVERGED, FAILED, INTERRUPTED, RUNNING, STOPPED, Run, Snapshot
from .step import Game
from .threads import AutoThreads


#: seconds between heap trims at snapshots, process-wide (a pool's thirty runs snapshot ~12 times a second)
TRIM_EVERY = 1.0


class Trainer:
    """Holds the networks, optimisers, streams and records of one (ensemble) run.

    Use ``fit()`` to train to ``config.steps``; ``round()``, ``d_step()``,
    ``g_step()`` and ``snapshot()`` let an interactive face step by hand.
    """

    def __init__(self, configs: TrainConfig | Iterable[TrainConfig], *, out=None,
                 callbacks: Iterable[Callable] = (), progress: bool = False):
        configs = [configs] if isinstance(configs, TrainConfig) else list(configs)
        if not configs:
            raise ConfigError("train: no config given")
        check_ensemble(configs)
        self.configs, self.cfg, self.E = configs, configs[0], len(configs)
        cfg = self.cfg
        self.nets = Networks(configs)
        self.device, self.target, self.gen, self.disc = self.nets.device, self.nets.target, self.nets.gen, self.nets.disc
        seeds = [c.seed for c in configs]
        self.game = Game(configs, self.nets, seeds)
        self.probes = Probes(self.nets, configs, seeds)
        # records
        self.step = 0
        self.hist = History(configs)
        self.snapshots: list[Snapshot] = []
        self.edits: list[dict] = []   # live edits as applied: {step, field, old, new} (pictures mark them)
        self.measure = (metrics.SnapshotMetrics(self.target, cfg.n_fixed, cfg.loss in losses.PROBABILISTIC) if cfg.metrics_every else None)
        self.callbacks = list(callbacks)
        self.progress = progress
        self.controls = Controls()  # stop, live edits, pace, the end: asked from any thread
        self._fitting = False   # True while fit() runs (in any thread)
        self._in_round = False  # a KeyboardInterrupt inside round() leaves a half-done round
        self._torn = False      # ... and then the checkpoint on disk is kept (it is the last whole one)
        self.status = RUNNING
        self.elapsed = 0.0
        #: seconds after which a live face wants a frame between the scheduled snapshots (None:
        #: snapshots every snapshot_every rounds only); such a frame is provisional (runs.keep)
        self.snapshot_seconds: float | None = None
        self._snapped_at = time.monotonic()
        self.folder = RunFolder.create(out, configs, self.target) if out is not None else None
        self._tb = TensorBoard(self.path, self.E) if cfg.tensorboard else None
        if self.folder:
            self.folder.write_status(self._status_record())

    @property
    def path(self):
        """The run folder's path (None: a run kept in memory only)."""
        return self.folder.path if self.folder else None

    # ---- construction helpers -------------------------------------------
    @classmethod
    def from_run(cls, run: Run) -> "Trainer":
        """A trainer holding a saved run's trained state (to sample, evaluate or resume)."""
        t, tail = cls(run.configs), None
        t.step, t.status = run.step, run.status
        if run.path is not None:
            t.folder = RunFolder.existing(run)                   # refused if it would write out of the folder
            t.step, tail = checkpoint.restore(runs.read_checkpoint(run), t.game)   # resuming continues from its round
        t.hist.restore(run.history, run.member_status, run.diverged_step, tail)
        t.snapshots = list(run.snapshots)
        t.edits = runs.edits_of(run.info)
        return t

    @classmethod
    def resumed(cls, run: Run, total: int, *, callbacks: Iterable[Callable] = (),
                progress: bool = False) -> "Trainer":
        """A saved run's trainer, ready to fit(total) from its last checkpoint in its own folder.

        The folder is first cut back to the checkpoint: snapshots and metrics rows past it (left by
        a run killed between checkpoints) are removed, so the folder only ever holds what its final
        state explains, and the rounds after the checkpoint are trained again (exactly)."""
        t = cls.from_run(run)
        if total < t.step:
            raise ConfigError(f"steps_total (--steps-total): {total} is below round {t.step}, where the run's "
                              f"checkpoint is; give at least {t.step}")
        if t.hist.all_diverged:
            raise ValueError(f"{run.path}: every member diverged (round {max(d or 0 for d in t.diverged_step)}); "
                             f"there is nothing to resume")
        t.snapshots = runs.load_snapshots(run, t.cfg.max_snapshots, as_fit=True, up_to=t.step)
        for f in runs.snapshot_files(run):
            if runs.snapshot_step(f) > t.step:
                run.folder.unlink(f"{runs.SNAPSHOTS}/{f.name}")
        t.callbacks, t.progress = list(callbacks), progress
        t.hist.cut_back(t.step)
        t.edits = [e for e in t.edits if e["step"] <= t.step]
        return t

    # ---- one round (toylab.engine.step) ------------------------------------
    def d_step(self):
        """One discriminator update (no round is counted)."""
        self.game.step(self.game.grad("y"), "y")

    def g_step(self):
        """One generator update (no round is counted)."""
        self.game.step(self.game.grad("x"), "x")

    def round(self):
        """One training round (toylab.engine.step.Game.round); its record is queued on the device."""
        self._in_round = True
        self.record_round(self.game.round())
        self._in_round = False

    # ---- changing course (toylab.engine.controls) ----------------------------
    def retune(self, **changes) -> None:
        """Change LIVE_FIELDS between rounds (learning rates, steps per round, update method,
        objective and penalties, intervals); weights, optimiser moments and streams carry on.
        While fit() runs in another thread they are checked now and applied by the training
        thread before its next round (a live edit)."""
        configs = self.controls.ask(changes, self.configs, busy=self.status == RUNNING and self._fitting)
        if configs is not None:
            self._use(configs)

    def _apply_pending(self) -> None:
        """The training thread's side of a live retune: apply what was asked, between rounds."""
        pending = self.controls.take()
        if pending:
            self._use([c.replace(**pending) for c in self.configs])

    def pace(self, rounds_per_second: float = 0.0) -> None:
        """At most this many rounds a second (0: full speed), to watch; thread-safe."""
        self.controls.pace(rounds_per_second)

    def train_to(self, total: int) -> None:
        """Move the end of the fit() in progress (or the next one) to `total` rounds (thread-safe): a
        whole number from 0 to TrainConfig's most steps, else a ConfigError (-5 was accepted)."""
        self.controls.end_at(total)

    def stop(self):
        """Ask fit() to stop after the current round (thread-safe)."""
        self.controls.stop()

    def _use(self, configs) -> None:
        old = self.cfg.model_dump()
        self.edits += [{"step": self.step, "field": k, "old": old[k], "new": v}
                       for k, v in configs[0].model_dump().items() if old[k] != v]
        self.configs, self.cfg = configs, configs[0]
        self.game.use(configs)
        if self.measure is not None:
            self.measure.probabilistic = self.cfg.loss in losses.PROBABILISTIC
        if self.folder:
            self.folder.write_config(self.configs)

    # ---- recording ---------------------------------------------------------
    def flush(self):
        """Move queued round records to the host: history rows and the divergence check
        (toylab.engine.history). Every member not yet diverged is checked on every round."""
        if not self.hist.queue:
            return
        params_ok = (torch.isfinite(self.gen.flat).all(1) & torch.isfinite(self.disc.flat).all(1)).cpu().numpy()
        self.hist.flush(self.step, params_ok, self.cfg.log_every)

    @property
    def member_status(self) -> list[str]:
        return self.hist.member_status

    @property
    def diverged_step(self) -> list[int | None]:
        return self.hist.diverged_step

    def snapshot(self, provisional: bool = False) -> Snapshot:
        """Record the current state (toylab.engine.probes): fakes on the fixed batch, D on the grid,
        the manifold, grad D at the fakes; measured every metrics_every rounds, kept, written.
        provisional: a live frame between scheduled snapshots, not measured, not written, replaced
        by the next snapshot (its probes use no random numbers: the run trains the same)."""
        snap = self.probes.take(self.step)
        self._snapped_at = time.monotonic()
        snap.provisional = provisional
        if self.measure is not None and not provisional and (
                self.step % self.cfg.metrics_every == 0 or self.step == self.controls.total):
            snap.metrics.update(self.measure(snap.fake, self.discriminate))
            self.hist.record(snap)
        self.snapshots = runs.keep(self.snapshots, snap, self.cfg.max_snapshots)
        if self.folder and not provisional:
            self.folder.write_snapshot(snap)
        runs.release_free_heap(TRIM_EVERY)     # ~0.1-1 ms: keeps RSS at what is live (docs/engine.md)
        return snap

    # ---- the loop ------------------------------------------------------------
    def fit(self, steps: int | None = None) -> Run:
        """Train until `steps` rounds in total (default config.steps), a stop, or divergence.

        Every call (a first one, or Start after a pause) checks every round of every member
        not yet diverged for NaN/Inf. Ctrl-C or SIGTERM stops after the round in progress with
        the status "interrupted"; the run folder then holds that round's checkpoint."""
        c = self.controls
        recorders = self.begin_fit(steps)
        threads = AutoThreads(self.cfg.threads, self.device, self.cfg.batch_size * self.cfg.pack * self.E)
        threads.start()
        t0 = time.perf_counter()
        with stop_on_signals(c.on_signal):   # also over the final save: a second Ctrl-C cannot cut it
            failed, ended = None, False
            try:
                last = time.perf_counter()
                while self.wants_round():
                    self._apply_pending()
                    self.round()
                    last = c.rest(last)            # pace(): rest out the round's share of a second
                    if self.after_round(recorders):
                        threads.adjust()
                ended = True
            except KeyboardInterrupt:
                self._torn = self._in_round       # a half-done round: the last checkpoint stays
                self._in_round = False
                self.status, ended = INTERRUPTED, True
            except runs.DiskFullError as err:
                failed = err
                raise
            finally:
                threads.stop()
                self.elapsed += time.perf_counter() - t0
                self.end_fit(recorders, save=failed is None, ended=ended)
        return self.run()

    # ---- a fit in pieces: fit() above, or a pool of live ensembles (toylab.engine.pool) --------
    def begin_fit(self, steps: int | None = None) -> list:
        """A fit starts: its end, RUNNING, the first snapshot and checkpoint; returns its recorders."""
        c = self.controls
        c.end_at(self.cfg.steps if steps is None else steps, "fit: steps")     # train_to() may move it
        c.stopping.clear()
        c.signal = None
        self.status = RUNNING
        self.hist.begin()
        recorders = for_fit(self, c.total)
        if not self.snapshots or self.snapshots[-1].step != self.step or self.snapshots[-1].provisional:
            self.snapshot()
        if self.folder and not self.folder.has_checkpoint:
            self.save()         # a run folder always holds weights it can be evaluated and resumed from
        self._fitting = True
        return recorders

    def wants_round(self) -> bool:
        """Another round is due: the end not reached, no stop asked, not every member diverged."""
        c = self.controls
        return self.step < c.total and not c.stopping.is_set() and not self.hist.all_diverged

    def record_round(self, log) -> None:
        """Count a round whose updates were made elsewhere (a pool's batched round): its record
        (len(HISTORY), E) is queued as round() queues its own."""
        self.step += 1
        self.hist.add(log)

    def after_round(self, recorders) -> bool:
        """A round's bookkeeping: at the snapshot interval (or the end) the records are flushed,
        divergence checked, and a snapshot taken and handed to the recorders; between them, once
        snapshot_seconds have passed, a provisional one. True when it snapped."""
        due = not self.step % self.cfg.snapshot_every or self.step == self.controls.total
        if not due:
            return self._live_frame(recorders)
        self.flush()
        if self.hist.all_diverged:
            return False       # nothing left to draw: keep the snapshots from before
        snap = self.snapshot()
        for r in recorders:
            r.on_snapshot(self, snap)
        return True

    def _live_frame(self, recorders) -> bool:
        """A provisional snapshot once snapshot_seconds have passed, for the faces that show it
        (recorders with LIVE: callbacks), not the files. The records are not flushed for it, so
        the history, its divergence checks and the verdicts are the scheduled snapshots' alone;
        a frame whose fakes are not finite is not shown (the next snapshot says why)."""
        if self.snapshot_seconds is None or time.monotonic() - self._snapped_at < self.snapshot_seconds:
            return False
        snap = self.snapshot(provisional=True)
        if not np.isfinite(snap.fake).all():
            self.snapshots = runs.scheduled(self.snapshots)
            return False
        for r in recorders:
            if getattr(r, "LIVE", False):
                r.on_snapshot(self, snap)
        return True

    def end_fit(self, recorders, save: bool = True, ended: bool = True) -> None:
        """A fit ends, however it ended: records flushed, the status (`ended` False: an exception
        is on its way out, and the status becomes failed), edits asked as it ended applied, the
        folder saved, the recorders closed."""
        c = self.controls
        try:
            self.flush()
            if ended and self.snapshots and self.snapshots[-1].provisional and not self.hist.all_diverged:
                self.snapshot()           # a fit never ends on a live frame: the round it stopped at, snapped
            if self.status == RUNNING and ended:
                self.status = (INTERRUPTED if c.signal is not None else DIVERGED if self.hist.all_diverged
                               else COMPLETED if self.step >= c.total else STOPPED)
        finally:
            self._fitting = False
            self._apply_pending()             # an edit made as the loop ended still holds
            self._end(save=save)
            for r in recorders:
                r.close()

    def _end(self, save: bool) -> None:
        """A fit's end, however it ended: the final statuses, and the folder saved."""
        if self.status == RUNNING:     # an exception is on its way out
            self.status = FAILED
        self.hist.end(self.status)
        if self.folder and save:
            self.save()

    def run(self) -> Run:
        """The records so far as a Run (shares the trainer's networks)."""
        r = Run(configs=self.configs, status=self.status, step=self.step, member_status=list(self.member_status),
                diverged_step=list(self.diverged_step), history=self.hist.arrays(), snapshots=list(self.snapshots),
                path=self.path, info=self._info(), key=self.folder.key if self.folder else None)
        r._nets = self.nets
        return r

    def _info(self):
        return {"device": str(self.device), "torch": torch.__version__, "elapsed_s": round(self.elapsed, 3),
                "bounds": list(self.target.bounds), "edits": list(self.edits)}

    # ---- persistence (toylab.engine.run_folder) ------------------------------
    def _status_record(self) -> dict:
        return {"status": self.status, "step": self.step, "member_status": self.member_status,
                "diverged_step": self.diverged_step, "info": self._info()}

    def save(self):
        """Checkpoint, metrics CSV and status, each written atomically (RunFolder.save: never
        non-finite weights, never a round cut in half)."""
        if self.folder is None:
            raise ValueError("save: this trainer has no run folder (pass out=...)")
        self.folder.save(self.step, self.game, self.hist, self._status_record(), torn=self._torn)

    # ---- using the trained networks (toylab.model) -------------------------------
    def sample(self, n: int, member: int = 0, seed: int | None = None) -> torch.Tensor:
        return self.nets.sample(n, member, seed)

    def discriminate(self, x, member: int = 0) -> torch.Tensor:
        return self.nets.discriminate(x, member)

    @property
    def tensorboard(self):
        """The TensorBoard writer (None unless config.tensorboard): recorders may add to it
        (toylab.train adds the snapshot's summary figure)."""
        return self._tb.writer if self._tb is not None else None
