"""A run's folder, as a fit writes it (docs/engine.md, "Run folders").

config.json (the members' configs, and a points target's stored copy), the target's view
(what a figure needs, torch-free), snapshots/step_*.npz, checkpoint.pt, metrics.csv and
status.json: each written atomically (toylab.engine.files), so a crash leaves whole files.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from . import checkpoint, runs
from .target_view import target_view, write_target_view


class RunFolder:
    """Where one trainer writes; `points` is a points target's copy (runs.store_points)."""

    def __init__(self, path: Path, points: dict | None = None):
        self.path, self.points = Path(path), points

    @classmethod
    def create(cls, out, configs, target) -> "RunFolder":
        """A new folder under `out` with the config and the target's view written."""
        path = runs.new_run_dir(out)
        folder = cls(path, runs.store_points(path, target) if hasattr(target, "points") else None)
        folder.write_config(configs)
        write_target_view(path, target_view(target))
        return folder

    @classmethod
    def existing(cls, path: Path, target) -> "RunFolder":
        """A saved run's folder, to resume into (its points copy is the one config.json names)."""
        points = json.loads((Path(path) / "config.json").read_text()).get("points") \
            if hasattr(target, "points") else None
        return cls(path, points)

    def write_config(self, configs) -> None:
        runs.write_json(self.path / "config.json", runs.config_record(configs, self.points))

    def write_snapshot(self, snap) -> None:
        runs.write_npz(self.path / "snapshots" / f"step_{snap.step:08d}.npz", snap.to_npz())

    def write_status(self, record: dict) -> None:
        runs.write_json(self.path / "status.json", record)

    @property
    def has_checkpoint(self) -> bool:
        return (self.path / "checkpoint.pt").exists()

    def save(self, step: int, game, hist, status: dict, torn: bool = False) -> None:
        """Checkpoint, metrics CSV and status (`status`: the trainer's record of its state).

        A checkpoint is never replaced by non-finite weights: when every member has NaN/Inf
        the last finite checkpoint stays (status.json names its round, `checkpoint_step`);
        when some have, their rows are taken from it. A round cut in half by a
        KeyboardInterrupt (`torn`) is not saved either (the last whole checkpoint stays)."""
        file = self.path / "checkpoint.pt"
        ok = game.finite_members()
        saved = step
        if torn or not ok.any():
            saved = checkpoint.saved_step(file)
        else:
            state = {"step": step, **game.state_dict(),
                     "round_tail": torch.from_numpy(np.ascontiguousarray(hist.tail))}
            checkpoint.write(file, state, ok)
        runs.write_csv(self.path / "metrics.csv", hist.arrays())
        self.write_status({**status, "checkpoint_step": saved} if saved not in (None, step) else status)
