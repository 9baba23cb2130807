"""The history of a run's rounds: per-round records queued on the device, moved to the host at
each flush into rows of the metrics table (means over `log_every` rounds), with each member's
divergence check; a snapshot's measurements join the rows of their round."""

from __future__ import annotations

import math

import numpy as np
import torch

from .config import TrainConfig
from .runs import DIVERGED, RUNNING
from .step import HISTORY


class History:
    """Rows of the metrics table of E members, their status and the round where any diverged."""

    def __init__(self, configs: list[TrainConfig]):
        self.configs, self.E = configs, len(configs)
        self.member_status = [RUNNING] * self.E
        self.diverged_step: list[int | None] = [None] * self.E
        self.queue: list[torch.Tensor] = []                 # (4, E) per round, on the device
        self.tail = np.zeros((0, len(HISTORY), self.E))     # host rounds since the last log row (R, 4, E)
        self.table: dict[str, list] = {k: [] for k in ("step", "member", "seed", *HISTORY)}

    @property
    def all_diverged(self) -> bool:
        return all(s == DIVERGED for s in self.member_status)

    def begin(self) -> None:
        """A fit starts: every member not diverged is running."""
        self.member_status[:] = [s if s == DIVERGED else RUNNING for s in self.member_status]

    def end(self, status: str) -> None:
        """A fit ended with `status`: the members still running take it ("completed", "stopped", ...)."""
        self.member_status[:] = [status if s == RUNNING else s for s in self.member_status]

    def add(self, log: torch.Tensor) -> None:
        """Queue one round's record (len(HISTORY), E) (no host sync)."""
        self.queue.append(log)

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: np.asarray(v) for k, v in self.table.items()}

    def restore(self, history: dict, member_status, diverged_step, tail=None) -> None:
        """Take a saved run's table and statuses, and its checkpoint's rounds since the last
        log row (resume)."""
        if tail is not None:
            self.tail = tail
        self.member_status = list(member_status) or self.member_status
        self.diverged_step = list(diverged_step) or self.diverged_step
        for k in self.table:
            if k in history:
                self.table[k] = list(history[k])
        for k, v in history.items():
            self.table.setdefault(k, list(v))

    def cut_back(self, step: int) -> None:
        """Drop the rows after `step` (a resumed run retrains those rounds)."""
        keep = np.asarray(self.table["step"]) <= step if self.table["step"] else []
        self.table = {k: [v for v, ok in zip(vals, keep) if ok] for k, vals in self.table.items()}

    def flush(self, step: int, params_ok: np.ndarray, every: int) -> None:
        """Move queued round losses to the host: history rows and the divergence check.

        Every member not yet diverged is checked on every round, whoever called (fit, a
        second fit after a pause, steps by hand). Rounds after the last full log interval
        stay in `tail` (and in the checkpoint) until the interval is complete, so a run
        stopped mid-interval and resumed logs the same rows as an uninterrupted one."""
        if not self.queue:
            return
        new = torch.stack(self.queue).cpu().numpy()          # (R, 4, E)
        self.queue = []
        first = step - len(new) + 1
        new_steps = np.arange(first, step + 1)
        for e in range(self.E):
            if self.member_status[e] == DIVERGED:
                continue
            bad = ~np.isfinite(new[:, :2, e]).all(1)
            if bad.any() or not params_ok[e]:
                self.member_status[e] = DIVERGED
                self.diverged_step[e] = int(new_steps[bad.argmax()]) if bad.any() else step
        log = np.concatenate([self.tail, new]) if len(self.tail) else new
        steps = np.arange(step - len(log) + 1, step + 1)
        for s in steps[steps % every == 0]:
            rows = log[(steps > s - every) & (steps <= s)]              # mean over the log interval
            with np.errstate(invalid="ignore"):
                mean = rows.mean(0)
            for e in range(self.E):
                if self.diverged_step[e] is not None and s > self.diverged_step[e] + every:
                    continue
                row = {"step": int(s), "member": e, "seed": self.configs[e].seed,
                       **{k: float(mean[i, e]) for i, k in enumerate(HISTORY)}}
                for k, col in self.table.items():
                    col.append(row.get(k, math.nan))
        self.tail = log[steps > step - step % every]

    def record(self, snap) -> None:
        """Put a snapshot's measurements in the history table: on the rows of that step, or new rows."""
        h = self.table
        rows = [i for i in range(max(0, len(h["step"]) - self.E), len(h["step"])) if h["step"][i] == snap.step]
        if not rows:
            for e in range(self.E):
                for k in h:
                    h[k].append(math.nan)
                h["step"][-1], h["member"][-1], h["seed"][-1] = snap.step, e, self.configs[e].seed
            rows = list(range(len(h["step"]) - self.E, len(h["step"])))
        for k, v in snap.metrics.items():
            col = h.setdefault(k, [math.nan] * len(h["step"]))
            for e, i in enumerate(rows):
                col[i] = float(v[e])
