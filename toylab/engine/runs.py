"""Runs on disk and in memory.

A run is a folder::

    config.json      the resolved config of every member
    status.json      status, step, per-member outcome, versions, device
    metrics.csv      one row per (logged step, member): losses, gradient norms, metrics
    snapshots/       step_00000050.npz ... (compressed NumPy), one per snapshot
    checkpoint.pt    weights, optimiser and RNG states (loaded with weights_only=True)
    checkpoint.pt.sha256   its digest (a figure checks the weights file without loading torch)
    target_view.npz  what a picture needs of the target (toylab.engine.target_view)

Every file is written to a temporary name and renamed into place, so a crash
never leaves half a file; a new run never reuses an existing folder.
"""

from __future__ import annotations

import hashlib
import json
import math
import mmap
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .config import PROBABILISTIC, ConfigError, TrainConfig, make_config
from .files import (DiskFullError, atomic_write, new_run_dir, read_csv, release_free_heap, write_csv, write_json,  # noqa: F401
                    write_npz, write_text, write_torch, written_intact)

# (the file writers live in toylab.engine.files; runs.write_json etc. are the same functions)
# torch is imported only where weights are read or written (networks, write_torch): reading a
# run's records (a figure from its snapshots) then starts without it, ~1.3 s sooner.
if TYPE_CHECKING:
    import torch

SNAPSHOT_ARRAYS = ("fake", "d_grid", "manifold", "d_grad")


@dataclass
class Snapshot:
    """What the lab draws at one step, for every member (leading axis E).

    fake (E, n, 2): G on the fixed noise batch; d_grid (E, S, S): D's raw output
    (logit or critic value) on the grid over `bounds`, rows in y; manifold
    (E, M, M, 2): G on a noise grid; d_grad (E, n, 2): grad_x of D's output at the
    fakes; metrics: name -> (E,) values measured at this step.
    """

    step: int
    fake: np.ndarray
    d_grid: np.ndarray
    manifold: np.ndarray
    d_grad: np.ndarray
    metrics: dict = field(default_factory=dict)

    def to_npz(self) -> dict:
        out = {k: getattr(self, k) for k in SNAPSHOT_ARRAYS}
        out["step"] = np.array(self.step)
        out.update({f"metric/{k}": np.asarray(v) for k, v in self.metrics.items()})
        return out

    @classmethod
    def from_npz(cls, data) -> "Snapshot":
        metrics = {k.split("/", 1)[1]: data[k] for k in data.files if k.startswith("metric/")}
        return cls.packed(int(data["step"]), {k: data[k] for k in SNAPSHOT_ARRAYS}, metrics)

    @classmethod
    def packed(cls, step: int, arrays: dict, metrics: dict | None = None) -> "Snapshot":
        """A snapshot whose arrays are copied into one block of their own (see `pack`)."""
        return cls(step=step, metrics=dict(metrics or {}), **pack(arrays))

    def member(self, e: int) -> "Snapshot":
        """This snapshot for member e alone (leading axis kept, length 1)."""
        return Snapshot(self.step, *(getattr(self, k)[e:e + 1] for k in SNAPSHOT_ARRAYS),
                        metrics={k: np.asarray(v)[e:e + 1] for k, v in self.metrics.items()})


def pack(arrays: dict) -> dict:
    """Copies of `arrays` laid out in ONE anonymous memory map, freed with the last of them.

    Why: a run keeps up to max_snapshots snapshots, each a few small arrays. Held on the
    malloc heap among the training step's short-lived buffers, they pinned ~5-10 MB of
    fragmented heap each (RSS grew by GBs on long runs). Out of the heap, RSS follows the
    data: one page-rounded block per snapshot (docs/engine.md gives the measurements)."""
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    offsets, total = {}, 0
    for k, a in arrays.items():
        offsets[k] = total
        total += -(-a.nbytes // 64) * 64             # 64-byte aligned
    block = mmap.mmap(-1, max(total, 1))
    out = {}
    for k, a in arrays.items():
        view = np.frombuffer(block, dtype=a.dtype, count=a.size, offset=offsets[k]).reshape(a.shape)
        view[...] = a
        out[k] = view
    return out


#: a run's status, and each member's: what its last fit came to (status.json, Run.status)
STATUSES = RUNNING, COMPLETED, STOPPED, INTERRUPTED, DIVERGED, FAILED = (
    "running", "completed", "stopped", "interrupted", "diverged", "failed")


@dataclass
class Run:
    """A trained (or training) GAN run: E members sharing one config up to seeds and learning rates."""

    configs: list[TrainConfig]
    status: str = RUNNING
    step: int = 0
    member_status: list[str] = field(default_factory=list)
    diverged_step: list[int | None] = field(default_factory=list)
    history: dict[str, np.ndarray] = field(default_factory=dict)
    snapshots: list[Snapshot] = field(default_factory=list)
    path: Path | None = None
    info: dict = field(default_factory=dict)
    _nets: object = None        # the networks (toylab.model.Networks), loaded on first use
    _target: object = None

    @property
    def config(self) -> TrainConfig:
        return self.configs[0]

    @property
    def size(self) -> int:
        """E, the number of members."""
        return len(self.configs)

    @property
    def target(self):
        """The target trained on (built once; the networks' own when they are loaded)."""
        if self._nets is not None:
            return self._nets.target
        if self._target is None:
            self._target = self.config.target()
        return self._target

    @property
    def probabilistic(self) -> bool:
        """D outputs a probability's logit (the BCE objectives), not a critic's value."""
        return self.config.loss in PROBABILISTIC

    def sample(self, n: int, member: int = 0, seed: int | None = None) -> torch.Tensor:
        """n draws (n, 2) from member `member`'s trained generator, on the CPU."""
        return self.networks().sample(n, member=member, seed=seed)

    def discriminate(self, x, member: int = 0) -> torch.Tensor:
        """D's raw output (logit or critic value) at points x (n, 2), for one member."""
        return self.networks().discriminate(x, member=member)

    def networks(self):
        """G and D with the run's weights (toylab.model.Networks): the trainer's while it trains,
        else loaded from the run folder's checkpoint on first use."""
        if self._nets is None:
            if self.path is None:
                raise ValueError("this run has no networks: it was not trained here and has no folder")
            from .model import Networks

            self._nets = Networks.load(self.configs, require_checkpoint(self.path / "checkpoint.pt"), self._target)
        return self._nets

    @property
    def generator(self):
        """G of all members (a BatchedMLP), loaded on first use."""
        return self.networks().gen

    @property
    def discriminator(self):
        """D of all members (a BatchedMLP), loaded on first use."""
        return self.networks().disc

    def member_history(self, e: int = 0) -> dict[str, np.ndarray]:
        """history rows of member e."""
        m = self.history.get("member")
        if m is None:
            return {}
        keep = m == e
        return {k: v[keep] for k, v in self.history.items()}

    def __repr__(self):
        where = f", path={str(self.path)!r}" if self.path else ""
        return (f"Run(dataset={self.config.dataset!r}, members={self.size}, status={self.status!r}, "
                f"step={self.step}, snapshots={len(self.snapshots)}{where})")


def require_checkpoint(file: Path) -> Path:
    """file, if it exists; else an error saying the run's weights are lost (an untrained network
    must never stand in for the run)."""
    if not Path(file).exists():
        raise FileNotFoundError(f"{file}: missing; the run's trained weights are lost, so it cannot be "
                                f"evaluated, drawn or resumed (train it again)")
    return Path(file)


POINTS_FILE = "points.npy"


def points_digest(points) -> str:
    """sha256 of a point cloud's values (float32 rows), to check a stored copy on load."""
    arr = np.ascontiguousarray(np.asarray(points, dtype=np.float32))
    return hashlib.sha256(str(arr.shape).encode() + arr.tobytes()).hexdigest()


def write_points(folder, points) -> Path:
    """A point cloud as float32 rows in `folder`/points.npy, written atomically: a run's copy of
    its target, or a dashboard tab's upload or drawing."""
    out = Path(folder) / POINTS_FILE
    arr = np.ascontiguousarray(np.asarray(points, dtype=np.float32))
    atomic_write(out, lambda f: np.save(f, arr, allow_pickle=False))
    return out


def store_points(folder, target) -> dict:
    """Copy a `points` target's rows into the run folder (points.npy): a run must not depend on
    a file outside it (moved, edited or deleted later). Returns the config record's entry."""
    arr = target.points.numpy()
    write_points(folder, arr)
    return {"file": POINTS_FILE, "sha256": points_digest(arr), "rows": int(arr.shape[0])}


def config_record(configs: list[TrainConfig], points: dict | None = None) -> dict:
    base = configs[0].model_dump(mode="json")
    if base.get("threads") == "auto":        # (a field added later: runs stay readable by older versions)
        del base["threads"]
    rec = {"config": base,
           "members": [{k: getattr(c, k) for k in ("seed", "lr_d", "lr_g")} for c in configs]}
    if points:
        rec["points"] = points
    return rec


def configs_from_record(rec: dict, folder=None) -> list[TrainConfig]:
    """The members' configs. A `points` run reads its target from the copy in its own folder,
    after checking the copy against the hash recorded when the run was made."""
    base = rec["config"]
    if rec.get("points") and folder is not None:
        file = Path(folder) / rec["points"]["file"]
        if not file.exists():
            raise FileNotFoundError(f"{file}: missing; this run's target points are stored there")
        try:
            arr = np.load(file, allow_pickle=False)
        except Exception as err:
            raise ValueError(f"{file}: unreadable ({type(err).__name__}); this run's target points are lost") from None
        if points_digest(arr) != rec["points"]["sha256"]:
            raise ValueError(f"{file}: its points differ from those the run was trained on (sha256 mismatch); "
                             f"the run cannot be evaluated against a changed target")
        base = {**base, "dataset_params": {**base.get("dataset_params", {}), "path": str(file.resolve())}}
    return [make_config(**{**base, **m}) for m in rec["members"]]


def snapshot_files(path) -> list[Path]:
    return sorted((Path(path) / "snapshots").glob("step_*.npz"))


def snapshot_step(file) -> int:
    """The round in a snapshot file's name (step_00000050.npz -> 50)."""
    return int(Path(file).stem.split("_", 1)[1])


def read_snapshot(file) -> Snapshot:
    """One snapshot file; a truncated or garbled one is a ValueError naming it."""
    try:
        with np.load(file, allow_pickle=False) as data:
            return Snapshot.from_npz(data)
    except Exception as err:
        raise ValueError(f"{file}: unreadable snapshot ({type(err).__name__}: {str(err)[:200]}); "
                         f"delete it, or resume the run to write it again") from None


def thin(n: int, frames: int | None) -> list[int]:
    """Indices of at most `frames` of n items, evenly spread, first and last included."""
    if frames is not None and (isinstance(frames, bool) or not isinstance(frames, int) or frames < 1):
        raise ValueError(f"frames: must be a whole number of frames >= 1 (got {frames!r})")
    if frames is None or frames >= n:
        return list(range(n))
    return sorted(set(np.linspace(0, n - 1, frames).round().astype(int).tolist()))


def _add(items: list, item, most: int) -> list:
    """A fit's thinning rule: `item` appended; past `most`, every other one dropped (the first
    and the newest stay), so a long run keeps an evenly spread, bounded history."""
    items = items + [item]
    return items[:-1][::2] + [items[-1]] if len(items) > most else items


def keep(snapshots: list[Snapshot], snap: Snapshot, most: int) -> list[Snapshot]:
    """A fit's snapshots in memory with `snap` added (replacing one of the same round), by the
    fit's thinning rule."""
    if snapshots and snapshots[-1].step == snap.step:
        snapshots = snapshots[:-1]
    return _add(snapshots, snap, most)


def kept(n: int, most: int) -> list[int]:
    """Indices of the n snapshots a fit holds after taking them all in turn (`keep`'s rule
    replayed): what a resumed fit starts from, so that it holds what an uninterrupted one
    would. (`thin` chooses frames to show instead: exactly k, evenly spread.)"""
    out: list[int] = []
    for i in range(n):
        out = _add(out, i, most)
    return out


def load_snapshots(path, max_snapshots: int | None = None, *, as_fit: bool = False) -> list[Snapshot]:
    """A run folder's snapshots in step order; past max_snapshots, evenly spread ones (`thin`),
    or with as_fit those a fit holds in memory (`kept`)."""
    files = snapshot_files(path)
    chosen = kept(len(files), max_snapshots) if as_fit and max_snapshots else thin(len(files), max_snapshots or None)
    files = [files[i] for i in chosen]
    return [read_snapshot(f) for f in files]


def _read_record(file: Path, build):
    """build(the JSON object in file); any failure is a ValueError naming the file."""
    try:
        rec = json.loads(file.read_text())
        if not isinstance(rec, dict):
            raise ValueError(f"expected a JSON object, got {type(rec).__name__}")
        return build(rec)
    except (FileNotFoundError, ConfigError):
        raise
    except (ValueError, KeyError, TypeError, OSError) as err:
        what = f"missing key {err}" if isinstance(err, KeyError) else f"{type(err).__name__}: {str(err)[:200]}"
        raise ValueError(f"{file}: unreadable ({what})") from None


def load_run(path, *, snapshots: bool = True, max_snapshots: int | None = None, weights: bool = True) -> Run:
    """Bring a saved run back: config, status, metrics and snapshots; its networks are loaded on
    first use (Run.networks: sampling, D, evaluation), so reading a run needs no torch.

    A run whose checkpoint is missing or damaged is refused (FileNotFoundError or ValueError
    naming the file): its networks are lost, and untrained ones must never be reported as the
    run. The digest kept beside the checkpoint says it is intact; without one (an older run) or
    when it differs, the weights are read now. weights=False: records only, nothing checked."""
    path = Path(path)
    if not (path / "config.json").exists():
        raise FileNotFoundError(f"{path} is not a toylab run (no config.json)")
    configs = _read_record(path / "config.json", lambda rec: configs_from_record(rec, path))
    status = _read_record(path / "status.json", dict) if (path / "status.json").exists() else {}
    try:
        history = read_csv(path / "metrics.csv") if (path / "metrics.csv").exists() else {}
    except (ValueError, IndexError, OSError) as err:
        raise ValueError(f"{path / 'metrics.csv'}: unreadable ({type(err).__name__}: {str(err)[:200]})") from None
    snaps = load_snapshots(path, max_snapshots) if snapshots else []
    run = Run(configs=configs, status=status.get("status", "unknown"), step=int(status.get("step", 0)),
              member_status=status.get("member_status", []), diverged_step=status.get("diverged_step", []),
              history=history, snapshots=snaps, path=path, info=status.get("info", {}))
    if weights and not written_intact(require_checkpoint(path / "checkpoint.pt")):
        run.networks()
    return run


def run_of_samples(dataset: str, fakes: dict[int, np.ndarray]):
    """A Run made from generator samples alone ({step: (n, 2) samples}), its history measured
    as training measures it: to classify a sampler you made, or a crafted case whose right
    verdict you know. Losses are constant (no game was played)."""
    from ..measure.metrics import SnapshotMetrics

    cfg = TrainConfig(dataset=dataset)
    target = cfg.target()
    steps = sorted(fakes)
    measure = SnapshotMetrics(target, min(len(np.asarray(fakes[s])) for s in steps), probabilistic=False)
    snaps, rows = [], []
    for s in steps:
        fake = np.asarray(fakes[s], dtype=np.float32)[None]
        snap = Snapshot(step=int(s), fake=fake, d_grid=np.zeros((1, 2, 2)), manifold=np.zeros((1, 1, 2, 2)),
                        d_grad=np.zeros_like(fake))
        snap.metrics = measure(fake, None)      # a snapshot of NaN fakes: NaN values, nonfinite 1
        snaps.append(snap)
        rows.append({"step": int(s), "member": 0, "seed": 0, "d_loss": 1.3, "g_loss": 0.7, "g_grad_norm": 1.0,
                     **{k: float(v[0]) for k, v in snap.metrics.items()}})
    keys = list(dict.fromkeys(k for r in rows for k in r))     # one row per step, every column as long
    hist = {k: np.asarray([r.get(k, math.nan) for r in rows]) for k in keys}
    return Run(configs=[cfg], status=COMPLETED, step=int(steps[-1]), member_status=[COMPLETED],
               diverged_step=[None], history=hist, snapshots=snaps)
