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

import json
import math
import threading
import time
from typing import Callable, Iterable

import numpy as np
import torch

from . import losses, runs

from ..measure import metrics
from .config import ConfigError, TrainConfig, check_ensemble
from .model import Networks
from . import checkpoint
from .history import History
from .target_view import target_view, write_target_view
from .recorders import TensorBoard, stop_on_signals
from .probes import Probes
from .runs import Run, Snapshot
from .step import HISTORY, Game
from .threads import AutoThreads

CHECKPOINT_EVERY = 10  # snapshots between checkpoints on disk
#: fields Trainer.retune may change between rounds
LIVE_FIELDS = ("lr_d", "lr_g", "d_steps", "g_steps", "update", "loss", "r1_gamma", "gp_lambda", "clip",
               "snapshot_every", "metrics_every")


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
        self.device, self.target, self.K, self.pack = self.nets.device, self.nets.target, self.nets.K, self.nets.pack
        self.gen, self.disc = self.nets.gen, self.nets.disc
        self.G, self.D, self.Dt = self.nets.G, self.nets.D, self.nets.Dt    # the networks as functions
        seeds = [c.seed for c in configs]
        self.game = Game(configs, self.nets, seeds)
        self.opt_d, self.opt_g, self.noise, self.data = self.game.opt_d, self.game.opt_g, self.game.noise, self.game.data
        self.probes = Probes(self.nets, configs, seeds)
        # records
        self.step = 0
        self.hist = History(configs)
        self.snapshots: list[Snapshot] = []
        self.measure = (metrics.SnapshotMetrics(self.target, cfg.n_fixed, cfg.loss in losses.PROBABILISTIC) if cfg.metrics_every else None)
        self.callbacks = list(callbacks)
        self.progress = progress
        self._stop = threading.Event()
        self._total = None      # the round count fit() is training to (its last snapshot is measured)
        self._fitting = False   # True while fit() runs (in any thread)
        self._signal = None     # SIGINT/SIGTERM received during fit(): stop after the round
        self._in_round = False  # a KeyboardInterrupt inside round() leaves a half-done round
        self._torn = False      # ... and then the checkpoint on disk is kept (it is the last whole one)
        self._pending: dict = {}                # retune() while fit() runs: applied before the next round
        self._retune_lock = threading.Lock()
        self._interval = 0.0    # pace(): the least seconds between rounds (0: full speed)
        self.status = "running"
        self.elapsed = 0.0
        self.path = runs.new_run_dir(out) if out is not None else None
        self._tb = TensorBoard(self.path, self.E) if cfg.tensorboard else None
        self._points = None     # a points target's copy in the run folder (runs.store_points)
        if self.path:
            if hasattr(self.target, "points"):
                self._points = runs.store_points(self.path, self.target)
            runs.write_json(self.path / "config.json", runs.config_record(self.configs, self._points))
            write_target_view(self.path, target_view(self.target))     # what a figure needs, torch-free
            self._write_status()

    # ---- construction helpers -------------------------------------------
    @classmethod
    def from_run(cls, run: Run) -> "Trainer":
        """A trainer holding a saved run's trained state (to sample, evaluate or resume)."""
        t = cls(run.configs)
        t.path = run.path
        if run.path is not None and hasattr(t.target, "points"):
            t._points = json.loads((run.path / "config.json").read_text()).get("points")
        if run.path is not None:
            ckpt = runs.require_checkpoint(run.path / "checkpoint.pt")
            t.load_checkpoint(ckpt)     # the trainer's step is the checkpoint's: resuming continues from it
        else:
            t.step = run.step
        t.status = run.status
        t.hist.restore(run.history, run.member_status, run.diverged_step)
        t.snapshots = list(run.snapshots)
        return t

    # ---- one round (toylab.engine.step) ------------------------------------
    def d_step(self):
        """One discriminator update (no round is counted)."""
        self.game.d_step()

    def g_step(self):
        """One generator update (no round is counted)."""
        self.game.g_step()

    def round(self):
        """One training round (toylab.engine.step.Game.round); its record is queued on the device."""
        self._in_round = True
        log = self.game.round()
        self.step += 1
        self.hist.add(log)
        self._in_round = False

    # ---- changing course ---------------------------------------------------
    def retune(self, **changes) -> None:
        """Change hyperparameters between rounds.

        Allowed: LIVE_FIELDS (learning rates, steps per round, update order, the objective
        and its penalties, the snapshot and measurement intervals). Networks, optimiser
        moments and random streams carry on; other fields define the networks or the data and
        need a new run. While fit() runs in another thread the changes are checked now and applied by the
        training thread before its next round (a live edit).
        """
        bad = [k for k in changes if k not in LIVE_FIELDS]
        if bad:
            raise ConfigError(f"{bad[0]}: cannot change during a run; changeable: {', '.join(LIVE_FIELDS)} "
                              f"(anything else needs a new run)")
        with self._retune_lock:
            pending = {**self._pending, **changes}
            configs = [c.replace(**pending) for c in self.configs]
            check_ensemble(configs)
            if self._thread_busy():
                self._pending = pending
                return
            self._pending = {}
        self._use(configs)

    def _apply_pending(self) -> None:
        """The training thread's side of a live retune: apply what was asked, between rounds."""
        with self._retune_lock:
            pending, self._pending = self._pending, {}
        if pending:
            self._use([c.replace(**pending) for c in self.configs])

    def pace(self, rounds_per_second: float = 0.0) -> None:
        """Train at most this many rounds a second (0: as fast as it goes): an interactive face
        slows training down to watch it. Thread-safe; a stop is still heard at once."""
        rate = float(rounds_per_second)
        if not (math.isfinite(rate) and rate >= 0):
            raise ConfigError(f"pace: rounds per second must be a number >= 0 (0: full speed), got {rounds_per_second!r}")
        self._interval = 1.0 / rate if rate > 0 else 0.0

    def train_to(self, total: int) -> None:
        """Move the end of the fit() in progress (or the next one) to `total` rounds (thread-safe)."""
        self._total = int(total)

    def _use(self, configs) -> None:
        self.configs, self.cfg = configs, configs[0]
        self.game.use(configs)
        if self.measure is not None:
            self.measure.probabilistic = self.cfg.loss in losses.PROBABILISTIC
        if self.path:
            runs.write_json(self.path / "config.json", runs.config_record(self.configs, self._points))

    def _thread_busy(self) -> bool:
        return self.status == "running" and self._fitting

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

    @member_status.setter
    def member_status(self, value):
        self.hist.member_status = value

    @property
    def diverged_step(self) -> list[int | None]:
        return self.hist.diverged_step

    @diverged_step.setter
    def diverged_step(self, value):
        self.hist.diverged_step = value

    def snapshot(self) -> Snapshot:
        """Record the current state (toylab.engine.probes): fakes on the fixed batch, D on the grid,
        the manifold, grad D at the fakes; measured every metrics_every rounds, kept, written."""
        snap = self.probes.take(self.step)
        if self.measure is not None and (self.step % self.cfg.metrics_every == 0 or self.step == self._total):
            snap.metrics.update(self.measure(snap.fake, self.discriminate))
            self.hist.record(snap)
        self._keep(snap)
        if self.path:
            runs.write_npz(self.path / "snapshots" / f"step_{self.step:08d}.npz", snap.to_npz())
        runs.release_free_heap()      # ~0.1-1 ms: keeps RSS at what is live (docs/engine.md)
        return snap

    def _keep(self, snap):
        """Keep snapshots bounded in memory: past max_snapshots, drop every other (first and last stay)."""
        if self.snapshots and self.snapshots[-1].step == snap.step:
            self.snapshots[-1] = snap
        else:
            self.snapshots.append(snap)
        if len(self.snapshots) > self.cfg.max_snapshots:
            self.snapshots = self.snapshots[:-1][::2] + [self.snapshots[-1]]

    # ---- the loop ------------------------------------------------------------
    def stop(self):
        """Ask fit() to stop after the current round (thread-safe)."""
        self._stop.set()

    def _on_signal(self, signum):
        self._signal = signum
        self._stop.set()

    def fit(self, steps: int | None = None) -> Run:
        """Train until `steps` rounds in total (default config.steps), a stop, or divergence.

        Every call (a first one, or Start after a pause) checks every round of every member
        not yet diverged for NaN/Inf. Ctrl-C or SIGTERM stops after the round in progress with
        the status "interrupted"; the run folder then holds that round's checkpoint."""
        self._total = self.cfg.steps if steps is None else int(steps)       # train_to() may move it
        self._stop.clear()
        self._signal = None
        self.status = "running"
        for e, s in enumerate(self.member_status):
            if s != "diverged":
                self.member_status[e] = "running"
        bar = self._progress_bar(self._total)
        threads = self.threads()
        threads.start()
        t0 = time.perf_counter()
        if not self.snapshots or self.snapshots[-1].step != self.step:
            self.snapshot()
        if self.path and not (self.path / "checkpoint.pt").exists():
            self.save()         # a run folder always holds weights it can be evaluated and resumed from
        with stop_on_signals(self._on_signal):   # also over the final save: a second Ctrl-C cannot cut it
            snaps_since_ckpt = 0
            self._fitting = True
            failed = None
            try:
                last = time.perf_counter()
                while self.step < self._total and not self._stop.is_set():
                    self._apply_pending()
                    self.round()
                    if self._interval:             # pace(): rest out the round's share of a second
                        rest = self._interval - (time.perf_counter() - last)
                        if rest > 0:
                            self._stop.wait(rest)
                        last = time.perf_counter()
                    if self.step % self.cfg.snapshot_every == 0 or self.step == self._total:
                        self.flush()
                        if all(s == "diverged" for s in self.member_status):
                            break      # nothing left to draw: keep the snapshots from before
                        snap = self.snapshot()
                        threads.adjust()
                        if bar is not None:
                            bar.update(self.step - bar.n)
                            bar.set_postfix(self._postfix(), refresh=False)
                        if self._tb is not None:
                            self._tb.log(self.hist.table, snap)
                        for cb in self.callbacks:
                            if cb(self, snap) is False:
                                self._stop.set()
                        snaps_since_ckpt += 1
                        if self.path and snaps_since_ckpt >= CHECKPOINT_EVERY:
                            self.save()
                            snaps_since_ckpt = 0
                self.flush()
                self.status = "interrupted" if self._signal is not None else self._final_status(self._total)
            except KeyboardInterrupt:
                self._torn = self._in_round       # a half-done round: the last checkpoint stays
                self._in_round = False
                self.flush()
                self.status = "interrupted"
            except runs.DiskFullError as err:
                failed = err
                raise
            finally:
                self._fitting = False
                self._apply_pending()             # an edit made as the loop ended still holds
                threads.stop()
                self.elapsed += time.perf_counter() - t0
                if bar is not None:
                    bar.close()
                if self.status == "running":     # an exception is on its way out
                    self.status = "failed"
                for e, s in enumerate(self.member_status):
                    if s == "running":
                        self.member_status[e] = "completed" if self.status == "completed" else self.status
                if self.path and failed is None:
                    self.save()
                if self._tb is not None:
                    self._tb.writer.flush()
        return self.run()

    def threads(self) -> AutoThreads:
        """The intra-op thread count for a fit: config.threads, or for "auto" on the CPU chosen
        from the machine's load and the round's size (toylab.threads), torch's own on a GPU."""
        rows = self.cfg.batch_size * self.cfg.pack * self.E
        return AutoThreads(self.cfg.threads, self.device, rows)

    def _final_status(self, total):
        if all(s == "diverged" for s in self.member_status):
            return "diverged"
        return "completed" if self.step >= total else "stopped"

    def _postfix(self):
        d = self.hist.table["d_loss"][-self.E:] or [math.nan]
        g = self.hist.table["g_loss"][-self.E:] or [math.nan]
        return {"d_loss": f"{np.nanmean(d):.3f}", "g_loss": f"{np.nanmean(g):.3f}"}

    def _progress_bar(self, total):
        if not self.progress:
            return None
        from tqdm.auto import tqdm
        return tqdm(total=total, initial=self.step, desc=f"{self.cfg.dataset} x{self.E}", unit="step")

    def history(self) -> dict[str, np.ndarray]:
        return self.hist.arrays()

    def run(self) -> Run:
        """The records so far as a Run (shares the trainer's networks)."""
        r = Run(configs=self.configs, status=self.status, step=self.step, member_status=list(self.member_status),
                diverged_step=list(self.diverged_step), history=self.history(), snapshots=list(self.snapshots),
                path=self.path, generator=self.gen, discriminator=self.disc, info=self._info())
        r._nets = self.nets
        return r

    def _info(self):
        return {"device": str(self.device), "torch": torch.__version__, "elapsed_s": round(self.elapsed, 3),
                "bounds": list(self.target.bounds)}

    # ---- persistence -------------------------------------------------------
    def _write_status(self, checkpoint_step=None):
        rec = {"status": self.status, "step": self.step, "member_status": self.member_status,
               "diverged_step": self.diverged_step, "info": self._info()}
        if checkpoint_step is not None:
            rec["checkpoint_step"] = checkpoint_step
        runs.write_json(self.path / "status.json", rec)

    def save(self):
        """Checkpoint, metrics CSV and status, each written atomically (toylab.engine.checkpoint).

        A checkpoint is never replaced by non-finite weights: when every member has NaN/Inf
        the last finite checkpoint stays (status.json names its round, `checkpoint_step`);
        when some have, their rows are taken from it. A round cut in half by a
        KeyboardInterrupt is not saved either (the last whole checkpoint stays)."""
        if self.path is None:
            raise ValueError("save: this trainer has no run folder (pass out=...)")
        file = self.path / "checkpoint.pt"
        ok = self.game.finite_members()
        checkpoint_step = self.step
        if self._torn or not ok.any():
            checkpoint_step = checkpoint.saved_step(file)
        else:
            state = {"step": self.step, **self.game.state_dict(),
                     "round_tail": torch.from_numpy(np.ascontiguousarray(self.hist.tail))}
            checkpoint.write(file, state, ok)
        runs.write_csv(self.path / "metrics.csv", self.history())
        self._write_status(checkpoint_step if checkpoint_step != self.step else None)

    def load_checkpoint(self, file):
        """Restore weights, optimisers, streams and step; a missing, truncated, foreign or
        garbled file is a ValueError naming it (never a run silently left untrained)."""
        state = checkpoint.read(file)
        try:
            self.game.load_state(state)
            step, tail = int(state["step"]), state.get("round_tail")
        except Exception as err:
            raise checkpoint.unreadable(file, err) from None
        self.step = step
        self.hist.tail = tail.numpy() if tail is not None else np.zeros((0, len(HISTORY), self.E))

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
