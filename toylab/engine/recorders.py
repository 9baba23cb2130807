"""What a fit records besides its own state: TensorBoard scalars, and stopping on Ctrl-C/SIGTERM."""

from __future__ import annotations

import contextlib
import math
import signal
import threading
from pathlib import Path
from typing import Callable

from .config import ConfigError
from .step import HISTORY


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
