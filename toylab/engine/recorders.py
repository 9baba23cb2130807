"""What a fit does at each snapshot besides keeping it: recorders (a progress bar, TensorBoard
scalars, checkpoints, the caller's callbacks), and stopping on Ctrl-C/SIGTERM.

A recorder has `on_snapshot(trainer, snap)`, called in the training thread after each snapshot,
and `close()`, called once when the fit ends (however it ends)."""

from __future__ import annotations

import contextlib
import math
import signal
import threading
from pathlib import Path
from typing import Callable

import numpy as np

from .config import ConfigError
from .step import HISTORY

CHECKPOINT_EVERY = 10  # snapshots between checkpoints on disk


class TensorBoard:
    """Loss rows and measurements of E members into TensorBoard (run folder/tensorboard)."""

    def __init__(self, path: Path | None, E: int):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as err:
            raise ConfigError("tensorboard: install the extra first: pip install 'toylab[tensorboard]'") from err
        logdir = (path / "tensorboard") if path else None
        self.writer = SummaryWriter(log_dir=str(logdir) if logdir else None)
        self.E, self.rows = E, 0        # history rows already sent

    def on_snapshot(self, trainer, snap) -> None:
        self.log(trainer.hist.table, snap)

    def close(self) -> None:
        self.writer.flush()

    def log(self, table: dict, snap) -> None:
        """The history rows added since the last call, and this snapshot's measurements."""
        n = len(table["step"])
        for i in range(self.rows, n):
            tag = f"member{table['member'][i]}/" if self.E > 1 else ""
            for k in HISTORY:
                if not math.isnan(table[k][i]):     # a measurement-only row (round 0) has no losses
                    self.writer.add_scalar(f"{tag}losses/{k}", table[k][i], table["step"][i])
        self.rows = n
        for k, v in snap.metrics.items():
            for e in range(self.E):
                self.writer.add_scalar(f"{'member%d/' % e if self.E > 1 else ''}metrics/{k}", float(v[e]), snap.step)


@contextlib.contextmanager
def stop_on_signals(on_signal: Callable[[int], None]):
    """While a fit runs on the main thread, SIGINT (Ctrl-C) and SIGTERM call on_signal(signum)
    instead (the fit stops after the current round, so the state saved is a whole round's and
    a resume is exact). A signal that was ignored (a sweep's worker) stays ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        current = signal.getsignal(sig)
        if current is not signal.SIG_IGN and current is not None:
            old[sig] = current
            signal.signal(sig, lambda signum, frame: on_signal(signum))
    try:
        yield
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)


class ProgressBar:
    """A fit's tqdm bar, with the mean D and G losses of the last round beside it."""

    def __init__(self, total: int, initial: int, desc: str, E: int):
        from tqdm.auto import tqdm
        self.bar, self.E = tqdm(total=total, initial=initial, desc=desc, unit="step"), E

    def on_snapshot(self, trainer, snap) -> None:
        self.bar.update(trainer.step - self.bar.n)
        mean = {k: trainer.hist.table[k][-self.E:] or [math.nan] for k in ("d_loss", "g_loss")}
        self.bar.set_postfix({k: f"{np.nanmean(v):.3f}" for k, v in mean.items()}, refresh=False)

    def close(self) -> None:
        self.bar.close()


class Callback:
    """A caller's function f(trainer, snap) as a recorder; f returning False stops the fit.
    It also gets the provisional live frames (Trainer.snapshot_seconds); the files do not."""

    LIVE = True

    def __init__(self, fn: Callable):
        self.fn = fn

    def on_snapshot(self, trainer, snap) -> None:
        if self.fn(trainer, snap) is False:
            trainer.stop()

    def close(self) -> None:
        pass


class Checkpoints:
    """Saves the trainer's run folder (checkpoint, metrics, status) every `every` snapshots."""

    def __init__(self, every: int):
        self.every, self.count = every, 0

    def on_snapshot(self, trainer, snap) -> None:
        self.count += 1
        if self.count >= self.every:
            trainer.save()
            self.count = 0

    def close(self) -> None:
        pass


def for_fit(trainer, total: int) -> list:
    """A fit's recorders, in this order: a progress bar (trainer.progress), TensorBoard
    (config.tensorboard), the caller's callbacks, and checkpoints when the run has a folder."""
    t = trainer
    out = [ProgressBar(total, t.step, f"{t.cfg.dataset} x{t.E}", t.E)] if t.progress else []
    out += [t._tb] if t._tb is not None else []
    out += [Callback(cb) for cb in t.callbacks]
    return out + ([Checkpoints(CHECKPOINT_EVERY)] if t.folder else [])
