"""A run's folder, as a fit writes it (docs/engine.md, "Run folders").

config.json (the members' configs, a points target's stored copy, the run id), the target's
view (what a figure needs, torch-free), snapshots/step_*.npz, checkpoint.pt (+ its digest),
metrics.csv and status.json: each written atomically (toylab.engine.files), so a crash leaves
whole files. The checkpoint, its digest, the snapshots and the view carry the run's key (its id
and fingerprint, runs.run_key), so that a reader can tell they belong to this run and config.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from . import checkpoint, runs
from .target_view import target_view, write_target_view


class RunFolder:
    """Where one trainer writes; `points` is a points target's copy (runs.store_points), `run_id`
    the run's id (None: a run made before run ids, resumed)."""

    def __init__(self, path: Path, points: dict | None = None, run_id: str | None = None, configs=None):
        self.path, self.points, self.run_id = Path(path), points, run_id
        self.key = runs.run_key(run_id, configs, points) if configs is not None else None

    @classmethod
    def create(cls, out, configs, target) -> "RunFolder":
        """A new folder under `out` with the config (and a new run id) and the target's view written."""
        path = runs.new_run_dir(out)
        folder = cls(path, runs.store_points(path, target) if hasattr(target, "points") else None, runs.new_run_id())
        folder.write_config(configs)
        write_target_view(path, target_view(target), run_id=folder.run_id)
        return folder

    @classmethod
    def existing(cls, run) -> "RunFolder":
        """A saved run's folder (runs.load_run), to resume into: its real path, after checking that
        nothing in it or in snapshots/ or tensorboard/ is a link (or anything but a file or a
        folder), so that every write and delete stays inside the run folder."""
        d = run.folder
        runs.check_folder(d, writing=True)
        points = runs.read_config(d)[0].get("points")
        return cls(d.real, points, run.run_id, run.configs)

    def write_config(self, configs) -> None:
        runs.write_json(self.path / "config.json", runs.config_record(configs, self.points, self.run_id))
        self.key = runs.run_key(self.run_id, configs, self.points)

    def write_snapshot(self, snap) -> None:
        arrays = snap.to_npz()
        if self.run_id:
            arrays["run"] = np.array(self.run_id)
        runs.write_npz(self.path / "snapshots" / f"step_{snap.step:08d}.npz", arrays)

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
        cap = runs.checkpoint_cap(game.cfg, len(game.configs))
        if torn or not ok.any():
            saved = checkpoint.saved_step(file, cap)
        else:
            state = {"step": step, **game.state_dict(),
                     "round_tail": torch.from_numpy(np.ascontiguousarray(hist.tail))}
            if self.key:
                state["run"] = dict(self.key)
            checkpoint.write(file, state, ok, cap=cap, tag=runs.key_tag(self.key), upgrade=game.nets.upgrade)
        runs.write_csv(self.path / "metrics.csv", hist.arrays())
        self.write_status({**status, "checkpoint_step": saved} if saved not in (None, step) else status)
