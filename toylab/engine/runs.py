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
import io
import json
import math
import mmap
import re
import stat
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .config import MAX_MEMBERS, PROBABILISTIC, ConfigError, TrainConfig, make_config
from .controls import LIVE_FIELDS
from .files import (DiskFullError, atomic_write, new_run_dir, read_csv, release_free_heap, write_csv, write_json,  # noqa: F401
                    digest_of, write_npz, write_text, write_torch, written_intact)
from .guarded import (DIGEST_MAX, JSON_DEPTH, JSON_MAX, SNAPSHOT_METRICS, RunDir, RunFileError,  # noqa: F401
                      checkpoint_cap, json_depth, snapshot_cap)
from .safe_load import InputError, MalformedInput, load_json
from .target_params import MAX_POINTS

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
    #: a live frame between the scheduled ones (Trainer.snapshot_seconds): shown while it is the
    #: newest, replaced by the next snapshot, never written to the run folder
    provisional: bool = False

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
    key: dict | None = None     # {"id", "fingerprint"} binding its files together (run_key); None: a run from before
    _nets: object = None        # the networks (toylab.model.Networks), loaded on first use
    _target: object = None
    _dir: object = None         # its folder, opened for guarded reading (guarded.RunDir)

    @property
    def run_id(self) -> str | None:
        return self.key["id"] if self.key else None

    @property
    def folder(self) -> RunDir:
        """The run's folder for guarded reading (opened from `path` on first use)."""
        if self._dir is None:
            if self.path is None:
                raise ValueError("this run has no folder")
            self._dir = RunDir(self.path)
        return self._dir

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

            self._nets = Networks.load(self.configs, read_checkpoint(self), self._target,
                                       name=self.path / CHECKPOINT)
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


CHECKPOINT = "checkpoint.pt"
DIGEST = "checkpoint.pt.sha256"


def require_checkpoint(file: Path) -> Path:
    """file, if it exists; else an error saying the run's weights are lost (an untrained network
    must never stand in for the run)."""
    if not Path(file).exists():
        raise _lost(file)
    return Path(file)


def _lost(file) -> FileNotFoundError:
    return FileNotFoundError(f"{file}: missing; the run's trained weights are lost, so it cannot be "
                             f"evaluated, drawn or resumed (train it again)")


def run_key(run_id: str | None, configs: list[TrainConfig], points: dict | None = None) -> dict | None:
    """What binds a run's files together: its id (written into config.json when the folder is made)
    and the fingerprint of what the run is (`fingerprint`). A checkpoint, its digest, every
    snapshot and the target's view carry it; a file carrying another is refused (another run's
    weights copied in, a config edited to other sizes or another target). None: a run made before
    run ids, whose weights are then always read and checked against the config."""
    return {"id": run_id, "fingerprint": fingerprint(configs, points, run_id)} if run_id else None


#: config fields that may change over a run's life (live edits, a new end, where it runs): left out of its fingerprint
VARYING = (*LIVE_FIELDS, "steps", "device", "threads", "tensorboard", "max_snapshots", "log_every")


def fingerprint(configs: list[TrainConfig], points: dict | None = None, run_id: str | None = None) -> str:
    """sha256 (32 hex digits) of what a run's weights and snapshots are made for: every config field
    but those that may vary (VARYING), the members' seeds, the points' digest (not where they
    were read from) and the run id. Computed from the validated configs, so the same however
    config.json is formatted or rewritten (a live edit rewrites it)."""
    fixed = {k: v for k, v in configs[0].model_dump(mode="json").items() if k not in VARYING}
    if points:
        fixed["dataset_params"] = {k: v for k, v in (fixed.get("dataset_params") or {}).items() if k != "path"}
    body = {"config": fixed, "seeds": [c.seed for c in configs], "points": (points or {}).get("sha256"),
            "run_id": run_id}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:32]


def key_tag(key: dict | None) -> str:
    """The digest file's second line: the run id and fingerprint a checkpoint was written for."""
    return f"{key['id']} {key['fingerprint']}" if key else ""


def digest_text(data: bytes, key: dict | None) -> str:
    """checkpoint.pt.sha256 as files.write_torch writes it: the checkpoint's sha256, then the run id
    and fingerprint it was written for."""
    return digest_of(data, key_tag(key))


def _checkpoint_bytes(run: "Run") -> bytes:
    d = run.folder
    if not d.exists(CHECKPOINT):
        raise _lost(d.path / CHECKPOINT)
    return d.read_archive(CHECKPOINT, checkpoint_cap(run.config, run.size), "a checkpoint of this run's config")


def checkpoint_intact(run: "Run", data: bytes | None = None) -> bool:
    """The checkpoint is byte for byte the one written for this run (its digest says so, and names
    this run's id and fingerprint), so a figure may trust it without loading torch. False where the
    digest is missing, differs or is for another run, and for a run made before run ids: then the
    weights are read and checked (read_checkpoint)."""
    if run.key is None or not run.folder.exists(DIGEST):
        return False
    text = run.folder.read(DIGEST, DIGEST_MAX, "a digest")
    data = _checkpoint_bytes(run) if data is None else data
    return text.decode("ascii", "replace") == digest_text(data, run.key)


def read_checkpoint(run: "Run", data: bytes | None = None) -> dict:
    """The state in the run's checkpoint.pt (guarded: a regular file inside the folder, at most
    checkpoint_cap bytes), loaded with weights_only=True, and checked to be this run's: written
    for its id and fingerprint (a run made before run ids: a checkpoint without one). Missing:
    FileNotFoundError; anything else wrong: a RunFileError naming the file."""
    import torch

    d = run.folder
    data = _checkpoint_bytes(run) if data is None else data
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        if not isinstance(state, dict):
            raise TypeError("not a dict")
    except Exception as err:
        raise d.error(CHECKPOINT, "is an unreadable checkpoint; the run cannot be restored from it",
                      f" ({type(err).__name__}: {str(err)[:200]})") from None
    mine = state.get("run")
    if run.key is not None and mine != run.key:
        if not isinstance(mine, dict) or mine.get("id") != run.key["id"]:
            raise d.error(CHECKPOINT, "holds the weights of another run (its run id differs from config.json's); "
                                      "it cannot stand in for this run's")
        raise d.error(CHECKPOINT, "was written for another config (config.json's network sizes, target, seeds "
                                  "or members differ from the ones its weights were trained with)")
    if run.key is None and mine is not None:
        raise d.error(CHECKPOINT, "belongs to a run with an id, but config.json names none")
    return state


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


def config_record(configs: list[TrainConfig], points: dict | None = None, run_id: str | None = None) -> dict:
    base = configs[0].model_dump(mode="json")
    if base.get("threads") == "auto":        # (a field added later: runs stay readable by older versions)
        del base["threads"]
    rec = {"config": base,
           "members": [{k: getattr(c, k) for k in ("seed", "lr_d", "lr_g")} for c in configs]}
    if points:
        rec["points"] = points
    if run_id:
        rec["run_id"] = run_id
    return rec


def new_run_id() -> str:
    return uuid.uuid4().hex


MEMBER_FIELDS = ("seed", "lr_d", "lr_g")
_HEX = re.compile(r"[0-9a-f]{32}|[0-9a-f]{64}")


def check_record(rec: dict, error) -> None:
    """config.json is shaped as toylab writes it, or error(problem) says where not: a config table,
    1 to MAX_MEMBERS members with only their own fields, a points copy named points.npy, a run id."""
    if not isinstance(rec.get("config"), dict):
        raise error("config: must be a table of TrainConfig fields")
    members = rec.get("members")
    if not isinstance(members, list) or not 1 <= len(members) <= MAX_MEMBERS:
        raise error(f"members: must list 1 to {MAX_MEMBERS} members")
    for m in members:
        if not isinstance(m, dict) or not set(m) <= set(MEMBER_FIELDS):
            raise error(f"members: each member has only {', '.join(MEMBER_FIELDS)} of its own")
    points = rec.get("points")
    if points is not None and not (isinstance(points, dict) and points.get("file") == POINTS_FILE
                                   and isinstance(points.get("sha256"), str) and _HEX.fullmatch(points["sha256"])):
        raise error(f"points: must name {POINTS_FILE} in the run folder and its sha256")
    rid = rec.get("run_id")
    if rid is not None and not (isinstance(rid, str) and _HEX.fullmatch(rid)):
        raise error("run_id: must be 32 hex digits")


def _read_points(d: RunDir, rec: dict) -> Path:
    """The run's copy of its points (points.npy, judged by its header first), checked against the
    sha256 in config.json; its path."""
    if not d.exists(POINTS_FILE):
        raise FileNotFoundError(f"{d.path / POINTS_FILE}: missing; this run's target points are stored there")
    data = d.read(POINTS_FILE, MAX_POINTS * 2 * 8 + 4096, "a points file")
    try:
        f = io.BytesIO(data)
        version = np.lib.format.read_magic(f)
        shape, _, dtype = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)(f)
        if dtype.kind != "f" or len(shape) != 2 or shape[1] != 2 or not 1 <= shape[0] <= MAX_POINTS:
            raise ValueError("not rows of (x, y)")
        f.seek(0)
        arr = np.load(f, allow_pickle=False)
    except Exception as err:
        raise d.error(POINTS_FILE, "is unreadable; this run's target points are lost",
                      f" ({type(err).__name__})") from None
    if points_digest(arr) != rec["points"]["sha256"]:
        raise d.error(POINTS_FILE, "its points differ from those the run was trained on (sha256 mismatch); "
                                   "the run cannot be evaluated against a changed target")
    return d.real / POINTS_FILE


def configs_from_record(rec: dict, folder=None) -> list[TrainConfig]:
    """The members' configs. A `points` run reads its target from the copy in its own folder,
    after checking the copy against the hash recorded when the run was made."""
    base = rec["config"]
    if rec.get("points") and folder is not None:
        file = _read_points(RunDir.of(folder), rec)
        base = {**base, "dataset_params": {**base.get("dataset_params", {}), "path": str(file)}}
    return [make_config(**{**base, **m}) for m in rec["members"]]


SNAPSHOTS = "snapshots"
_SNAPSHOT_NAME = re.compile(r"step_(\d{1,12})\.npz")
#: what toylab writes in a run folder: never a link, always of this kind (other names are left alone)
RUN_ENTRIES = {**dict.fromkeys(("config.json", "status.json", "metrics.csv", CHECKPOINT, DIGEST, "target_view.npz",
                                POINTS_FILE, "summary.png"), "file"), SNAPSHOTS: "folder", "tensorboard": "folder"}


def check_folder(d: RunDir, writing: bool = False) -> None:
    """The entries toylab writes in the run folder and its snapshots are what they should be — regular
    files, or folders for snapshots/ and tensorboard/ — and none is a symbolic link (a RunFileError
    naming the first that is not). Writing (a resume): nothing in tensorboard/ is a link either,
    so every write and delete stays inside the real run folder."""
    top = d.check_kinds(RUN_ENTRIES)
    if SNAPSHOTS in top:
        names = [n for n in d.entries(SNAPSHOTS) if _SNAPSHOT_NAME.fullmatch(n)]
        d.check_kinds(dict.fromkeys(names, "file"), SNAPSHOTS)
    if writing and "tensorboard" in top:
        entries = d.entries("tensorboard")
        d.check_kinds({n: "file" if stat.S_ISLNK(m) or stat.S_ISREG(m) else "folder" for n, m in entries.items()},
                      "tensorboard")


def snapshot_files(path) -> list[Path]:
    """The run's snapshot files (snapshots/step_NNNNNNNN.npz), in step order; other names in the
    folder are not toylab's and are left alone. `path`: a folder, a RunDir or a Run."""
    try:
        d = path.folder if isinstance(path, Run) else RunDir.of(path)
    except FileNotFoundError:
        return []                    # no folder (yet): no snapshots
    names = [n for n in d.entries(SNAPSHOTS) if _SNAPSHOT_NAME.fullmatch(n)]
    return [d.path / SNAPSHOTS / n for n in sorted(names, key=snapshot_step)]


def snapshot_step(file) -> int:
    """The round in a snapshot file's name (step_00000050.npz -> 50)."""
    return int(Path(file).stem.split("_", 1)[1])


_METRIC = re.compile(r"metric/[A-Za-z0-9_]{1,64}")


def _snapshot_judge(run: "Run | None"):
    """judge(key, shape, dtype) for a snapshot's arrays: the shapes the run's config gives (E
    members, n_fixed fakes, a grid_size^2 D grid, a manifold_size^2 sheet); without a run, only
    that they are arrays toylab writes."""
    metrics = []

    def judge(key, shape, dtype):
        floats = dtype.kind in "fiu"
        if key == "step":
            return None if shape == () and dtype.kind in "iu" else "must be one whole number"
        if key == "run":
            return None if shape == () and dtype.kind == "U" and dtype.itemsize <= 64 * 4 else "must be a run id"
        if _METRIC.fullmatch(key):
            metrics.append(key)
            if len(metrics) > SNAPSHOT_METRICS:
                return f"more than {SNAPSHOT_METRICS} metrics"
            want = None if run is None else (run.size,)
        elif key in SNAPSHOT_ARRAYS:
            if run is None:
                want = None
            else:
                c, E = run.config, run.size
                want = {"fake": (E, c.n_fixed, 2), "d_grad": (E, c.n_fixed, 2), "d_grid": (E, c.grid_size, c.grid_size),
                        "manifold": (E, c.manifold_size, c.manifold_size, 2)}[key]
        else:
            return "an array toylab does not write"
        if not floats:
            return "must hold numbers"
        if want is not None and shape != want:
            return f"has shape {shape}; this run's config makes {want}"
        if want is None and len(shape) > 4:
            return "has too many dimensions"
        return None
    return judge


def read_snapshot(file, run: "Run | None" = None) -> Snapshot:
    """One snapshot file, read through the guarded reader: a regular file in the run's snapshots/,
    at most snapshot_cap bytes, every array's shape checked against the run's config before its
    data is read, its round equal to its name's and (a run with an id) written by this run. Any
    of these wrong is a RunFileError naming the file."""
    file = Path(file)
    d = run.folder if run is not None else RunDir(file.parent.parent)
    name = f"{SNAPSHOTS}/{file.name}"
    cap = snapshot_cap(run.config, run.size) if run is not None else 1 << 28
    arrays = d.read_npz(name, cap, _snapshot_judge(run), required=(*SNAPSHOT_ARRAYS, "step"))
    step = int(arrays["step"])
    if _SNAPSHOT_NAME.fullmatch(file.name) and step != snapshot_step(file):
        raise d.error(name, f"holds round {step}, its name says {snapshot_step(file)}")
    if run is not None and run.key is not None and str(arrays.get("run", "")) != run.key["id"]:
        raise d.error(name, "was not written by this run (its run id differs from config.json's)")
    if run is None and len({arrays[k].shape[0] if arrays[k].ndim else -1 for k in SNAPSHOT_ARRAYS}) != 1:
        raise d.error(name, "its arrays disagree in their number of members")
    metrics = {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith("metric/")}
    return Snapshot.packed(step, {k: arrays[k] for k in SNAPSHOT_ARRAYS}, metrics)


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


def edits_of(info) -> list[dict]:
    """A run's live edits from its info record ({step, field, old, new}, as Trainer._use records
    them), in step order; entries that are not such a record (a hand-edited status.json) are left out."""
    edits = info.get("edits") if isinstance(info, dict) else None
    scalar = (str, int, float, bool, type(None))
    ok = [e for e in edits if isinstance(e, dict) and isinstance(e.get("field"), str)
          and isinstance(e.get("step"), int) and not isinstance(e.get("step"), bool) and e["step"] >= 0
          and isinstance(e.get("old"), scalar) and isinstance(e.get("new"), scalar)] if isinstance(edits, list) else []
    return sorted(({k: e[k] for k in ("step", "field", "old", "new")} for e in ok), key=lambda e: e["step"])


def keep(snapshots: list[Snapshot], snap: Snapshot, most: int) -> list[Snapshot]:
    """A fit's snapshots in memory with `snap` added (replacing one of the same round, and a
    provisional one: a live frame gives way to the next snapshot), by the fit's thinning rule."""
    if snapshots and (snapshots[-1].provisional or (snapshots[-1].step == snap.step and not snap.provisional)):
        snapshots = snapshots[:-1]
    if snap.provisional:
        return snapshots + [snap]          # held beside the kept ones, never a cause to thin them
    return _add(snapshots, snap, most)


def scheduled(snapshots: list[Snapshot]) -> list[Snapshot]:
    """The snapshots without a provisional live frame (what a judgement or a record is made of)."""
    return snapshots[:-1] if snapshots and snapshots[-1].provisional else snapshots


def kept(n: int, most: int) -> list[int]:
    """Indices of the n snapshots a fit holds after taking them all in turn (`keep`'s rule
    replayed): what a resumed fit starts from, so that it holds what an uninterrupted one
    would. (`thin` chooses frames to show instead: exactly k, evenly spread.)"""
    out: list[int] = []
    for i in range(n):
        out = _add(out, i, most)
    return out


def load_snapshots(path, max_snapshots: int | None = None, *, as_fit: bool = False,
                   up_to: int | None = None) -> list[Snapshot]:
    """A run folder's snapshots in step order (those up to round `up_to` when given); past
    max_snapshots, evenly spread ones (`thin`), or with as_fit those a fit holds in memory (`kept`).
    `path`: a Run (its shapes checked, see read_snapshot), a RunDir or a folder."""
    run = path if isinstance(path, Run) else None
    files = snapshot_files(path)
    if up_to is not None:
        files = [f for f in files if snapshot_step(f) <= up_to]
    chosen = kept(len(files), max_snapshots) if as_fit and max_snapshots else thin(len(files), max_snapshots or None)
    return [read_snapshot(files[i], run) for i in chosen]


STATUS_MAX_STEP = 10**12


def _check_status(rec: dict, members: int, error) -> dict:
    """status.json as toylab writes it, or error(problem): a known status, a whole round >= 0, one
    status and one diverged round (or none) per member."""
    if "status" in rec and rec["status"] not in STATUSES:
        raise error(f"status: must be one of {', '.join(STATUSES)}")
    for key in ("step", "checkpoint_step"):
        v = rec.get(key, 0)
        if v is None and key == "checkpoint_step":
            continue
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= STATUS_MAX_STEP:
            raise error(f"{key}: must be a whole number of rounds >= 0")
    ms, ds = rec.get("member_status", []), rec.get("diverged_step", [])
    if not isinstance(ms, list) or (ms and (len(ms) != members or any(m not in STATUSES for m in ms))):
        raise error(f"member_status: must list one status of {', '.join(STATUSES)} for each of the "
                    f"{members} members")
    if not isinstance(ds, list) or (ds and (len(ds) != members or any(
            v is not None and (isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= STATUS_MAX_STEP)
            for v in ds))):
        raise error(f"diverged_step: must list a round or null for each of the {members} members")
    if not isinstance(rec.get("info", {}), dict):
        raise error("info: must be a table")
    return rec


def _read_json(d: RunDir, name: str) -> dict:
    """A JSON record of the run folder: guarded, capped, depth-limited (toylab.engine.safe_load)."""
    data = d.read(name, JSON_MAX, "a JSON record")
    if json_depth(data) > JSON_DEPTH:
        raise d.error(name, f"is nested more than {JSON_DEPTH} levels deep (not a record toylab writes)")
    try:
        rec = load_json(data, what=name, max_depth=JSON_DEPTH, max_bytes=JSON_MAX)
    except MalformedInput as err:
        raise d.error(name, "is not valid JSON", f" ({str(err).removeprefix(name + ': ')[:200]})") from None
    except InputError as err:
        raise d.error(name, "is not a record toylab writes", f" ({str(err).removeprefix(name + ': ')[:200]})") from None
    if not isinstance(rec, dict):
        raise d.error(name, f"holds a JSON {type(rec).__name__}, not an object")
    return rec


def read_config(d: RunDir) -> tuple[dict, list[TrainConfig]]:
    """config.json of a run folder: its record (checked) and the members' configs."""
    rec = _read_json(d, "config.json")
    check_record(rec, lambda problem: d.error("config.json", problem))
    try:
        return rec, configs_from_record(rec, d)
    except ConfigError as err:
        raise d.error("config.json", "is not a valid toylab config", f" ({' '.join(str(err).split())[:300]})") from None


def _read_metrics(d: RunDir, members: int) -> dict[str, np.ndarray]:
    if not d.exists("metrics.csv"):
        return {}
    table = d.read_table("metrics.csv")
    if table and ("step" not in table or "member" not in table):
        raise d.error("metrics.csv", "has no step and member columns")
    if table and (np.any(table["member"] < 0) or np.any(table["member"] >= members) or np.any(table["step"] < 0)):
        raise d.error("metrics.csv", f"names members outside 0..{members - 1} or rounds below 0")
    return table


def load_run(path, *, snapshots: bool = True, max_snapshots: int | None = None, weights: bool = True,
             root=None) -> Run:
    """Bring a saved run back: config, status, metrics and snapshots; its networks are loaded on
    first use (Run.networks: sampling, D, evaluation), so reading a run needs no torch.

    Every file is read through the guarded reader (toylab.engine.guarded: regular files inside
    the folder, capped, depth-limited JSON, shapes checked against the config): anything else is
    a RunFileError naming the file. `root`: a folder the run must lie inside (the dashboard's
    --runs-dir).

    A run whose checkpoint is missing or damaged is refused (FileNotFoundError or ValueError
    naming the file): its networks are lost, and untrained ones must never be reported as the
    run. The digest kept beside the checkpoint, naming this run's id and fingerprint, says it is
    the run's own and intact; without one (an older run), or when it differs, the weights are
    read now and checked. weights=False: records only, the checkpoint not looked at."""
    d = RunDir(path, root)
    if not d.exists("config.json"):
        raise FileNotFoundError(f"{d.path} is not a toylab run (no config.json)")
    check_folder(d)
    rec, configs = read_config(d)
    E = len(configs)
    status = _check_status(_read_json(d, "status.json"), E, lambda problem: d.error("status.json", problem)) \
        if d.exists("status.json") else {}
    history = _read_metrics(d, E)
    run = Run(configs=configs, status=status.get("status", "unknown"), step=int(status.get("step", 0)),
              member_status=status.get("member_status", []), diverged_step=status.get("diverged_step", []),
              history=history, path=d.path, info=status.get("info", {}),
              key=run_key(rec.get("run_id"), configs, rec.get("points")), _dir=d)
    if weights:
        data = _checkpoint_bytes(run)
        if not checkpoint_intact(run, data):
            run.networks()
    if snapshots:
        run.snapshots = load_snapshots(run, max_snapshots)
    return run
