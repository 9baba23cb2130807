"""The training form: which TrainConfig fields it shows, their help, and turning it into a
config (errors mapped back to the field that caused them). Choices come from TrainConfig
itself, so the form cannot drift from the engine."""

from __future__ import annotations

import base64
import typing

import numpy as np
import yaml

from toylab import TrainConfig, datasets
from toylab.config import ConfigError, make_config
from toylab.training import LIVE_FIELDS  # noqa: F401  (fields a paused run can change; the rest need Reset)

GROUPS = {
    "Target": ["dataset", "dataset_params"],
    "Networks": ["g_hidden", "g_depth", "d_hidden", "d_depth", "activation", "z_dim", "noise"],
    "Objective and optimisers": ["loss", "d_optimizer", "lr_d", "g_optimizer", "lr_g", "d_steps", "g_steps",
                                 "update"],
    "Run": ["batch_size", "seed", "device", "steps", "snapshot_every"],
}
FIELDS = [f for group in GROUPS.values() for f in group]

HELP = {
    "dataset": "The target distribution p_data the generator must learn. ring8 and grid25 are the "
               "mode-collapse benchmarks.",
    "dataset_params": "The target's parameters as name=value, comma-separated (e.g. k=8, radius=2, std=0.02).",
    "g_hidden": "Width of the generator's hidden layers.",
    "g_depth": "Number of hidden layers of the generator.",
    "d_hidden": "Width of the discriminator's hidden layers.",
    "d_depth": "Number of hidden layers of the discriminator.",
    "activation": "Hidden activation of both networks (LeakyReLU as in DCGAN).",
    "z_dim": "Dimension of the generator's noise input z.",
    "noise": "Distribution of z.",
    "loss": "The game: minimax = the saturating log(1 - D(G(z))) of Goodfellow et al.; nonsaturating = "
            "-log D(G(z)) for G (their practical fix); lsgan, wgan, wgan-gp, hinge are later objectives.",
    "d_optimizer": "Optimiser of D.",
    "lr_d": "Learning rate of D (2e-4 with Adam in DCGAN).",
    "g_optimizer": "Optimiser of G.",
    "lr_g": "Learning rate of G.",
    "d_steps": "k: discriminator updates per round (Goodfellow et al.'s inner loop).",
    "g_steps": "Generator updates per round.",
    "update": "alternating: D then G, each seeing the other's newest weights; simultaneous: both from the "
              "same point (spirals out on the xy game).",
    "batch_size": "Real and fake samples per update.",
    "seed": "Seed of initial weights, noise and data: the same seed gives the same run.",
    "device": "auto picks CUDA when there is a GPU.",
    "steps": "Rounds to train in total.",
    "snapshot_every": "Rounds between the pictures (snapshots); smaller = smoother, slower.",
}

UPLOAD_MAX_BYTES = 5_000_000
UPLOAD_MAX_ROWS = 100_000
UPLOAD_MIN_ROWS = 10


def choices(field: str) -> list[str] | None:
    ann = TrainConfig.model_fields[field].annotation
    if typing.get_origin(ann) is typing.Literal:
        return list(typing.get_args(ann))
    if field == "dataset":
        return datasets.names()
    return None


def default(field: str):
    f = TrainConfig.model_fields[field]
    return f.default if f.default_factory is None else f.default_factory()


def params_text(params: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items() if v is not None)


def default_params(name: str) -> str:
    """The target's parameters as the form shows them ('' for points, which needs an upload)."""
    if name == "points":
        return ""
    try:
        t = datasets.get(name)
    except ValueError:
        return ""
    return params_text(t.params)


def parse_params(text: str) -> dict:
    """'k=8, radius=2.0' -> {'k': 8, 'radius': 2.0}; values read as YAML (numbers, lists, strings)."""
    out = {}
    text = (text or "").strip()
    if not text:
        return out
    for part in _split(text):
        if "=" not in part:
            raise ConfigError(f"dataset_params: {part!r} is not name=value")
        k, v = part.split("=", 1)
        try:
            out[k.strip()] = yaml.safe_load(v.strip())
        except yaml.YAMLError:
            out[k.strip()] = v.strip()
    return out


def _split(text: str) -> list[str]:
    """Split on commas outside brackets (mean=[0, 1] stays one part)."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += 1 if ch in "[(" else -1 if ch in "])" else 0
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    return [p.strip() for p in [*parts, cur] if p.strip()]


def build_config(values: dict, base: dict | None = None) -> tuple[TrainConfig | None, dict[str, str], str]:
    """The form's values -> (config or None, {field: error}, general error).

    Every error names its field; the target is built too, so a bad parameter shows up
    under dataset_params rather than later in training.
    """
    errors: dict[str, str] = {}
    fields = dict(base or {})
    for k, v in values.items():
        if v is None or v == "":
            continue
        fields[k] = v
    try:
        fields["dataset_params"] = parse_params(values.get("dataset_params") or "")
    except ConfigError as err:
        return None, {"dataset_params": str(err).split(": ", 1)[-1]}, ""
    try:
        cfg = make_config(**fields)
    except ConfigError as err:
        general = []
        for line in str(err).splitlines()[1:] or [str(err)]:
            name, _, msg = line.strip().partition(": ")
            if name in FIELDS:
                errors[name] = msg
            else:
                general.append(line.strip())
        return None, errors, "\n".join(general) or ("" if errors else str(err))
    try:
        cfg.target()
    except (ValueError, TypeError) as err:
        return None, {"dataset_params": str(err)}, ""
    return cfg, {}, ""


def read_upload(contents: str, filename: str, folder) -> str:
    """Check an uploaded point cloud and save it as `folder`/points.npy; returns that path.

    Parsed and checked by the engine's own reader (toylab.datasets.PointCloud.from_file:
    .csv or .npy, two numeric finite columns); the dashboard adds its limits: at most
    UPLOAD_MAX_BYTES, UPLOAD_MIN_ROWS to UPLOAD_MAX_ROWS rows."""
    from pathlib import Path

    suffix = Path(filename or "").suffix.lower()
    if suffix not in (".csv", ".npy", ".txt"):
        raise ValueError(f"upload: {filename!r} must be a .csv or .npy file")
    try:
        data = base64.b64decode(contents.split(",", 1)[1])
    except (IndexError, ValueError):
        raise ValueError("upload: the file could not be read") from None
    if len(data) > UPLOAD_MAX_BYTES:
        raise ValueError(f"upload: {len(data):,} bytes is over the {UPLOAD_MAX_BYTES:,}-byte limit")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    raw = folder / f".upload{suffix}"
    raw.write_bytes(data)
    try:
        cloud = datasets.PointCloud.from_file(raw)
    except (ValueError, UnicodeDecodeError, OSError) as err:
        raise ValueError(f"upload: {filename!r}: {err}") from None
    finally:
        raw.unlink(missing_ok=True)
    n = cloud.points.shape[0]
    if not UPLOAD_MIN_ROWS <= n <= UPLOAD_MAX_ROWS:
        raise ValueError(f"upload: need {UPLOAD_MIN_ROWS} to {UPLOAD_MAX_ROWS:,} rows; got {n:,}")
    out = folder / "points.npy"
    np.save(out, cloud.points.numpy())
    return str(out)
