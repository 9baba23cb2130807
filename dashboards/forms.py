"""The training form: which TrainConfig fields it shows, their help, and turning it into a
config (errors mapped back to the field that caused them). Choices come from TrainConfig
itself, so the form cannot drift from the engine."""

from __future__ import annotations

import base64
import math
import typing
from pathlib import Path

import numpy as np

from toylab import TrainConfig, datasets
from toylab.engine import target_params
from toylab.experiments.presets import preset_fields
from toylab.engine import runs
from toylab.measure.bandwidth import cloud_bandwidth
from toylab.engine.config import ConfigError, make_config, read_value
from toylab.engine.device import available_devices, resolve_device
from toylab.engine.safe_load import short, short_text
from toylab.engine.controls import LIVE_FIELDS  # noqa: F401  (fields a paused run can change; the rest need Reset)

GROUPS = {
    "Target": ["dataset", "dataset_params"],
    "Networks": ["g_hidden", "g_depth", "d_hidden", "d_depth", "activation", "z_dim", "noise"],
    "Objective and optimisers": ["loss", "d_optimizer", "lr_d", "g_optimizer", "lr_g", "d_steps", "g_steps",
                                 "update"],
    "Run": ["batch_size", "seed", "device", "steps", "snapshot_every"],
}
FIELDS = [f for group in GROUPS.values() for f in group]

#: each field's help (the form's tooltips): the config's own descriptions, one text for the form
#: and the command line's --help
HELP = {f: TrainConfig.model_fields[f].description for f in FIELDS}

UPLOAD_MAX_BYTES = 5_000_000
UPLOAD_MAX_ROWS = target_params.MAX_POINTS     # the engine's bound on a points target
UPLOAD_MIN_ROWS = 10

#: The dashboard's bounds on the form's numbers, tighter than TrainConfig's (which serve a
#: whole machine): on a shared server one round takes at most ~2 s on one busy core (all at
#: their maximum, measured: 1.7 s, 1.9 s with wgan-gp; 10 ms at the defaults), so Pause and
#: close act within that (live.JOIN_TIMEOUT is 10 s), and one run's memory stays bounded.
#: z_dim reaches 256 for Metz et al.'s mode-collapse setting (the 'Mode collapse' preset): at
#: most one more 256-wide layer's worth of work.
LIMITS = {
    "g_hidden": (1, 256), "d_hidden": (1, 256), "g_depth": (1, 4), "d_depth": (1, 4), "z_dim": (1, 256),
    "d_steps": (1, 10), "g_steps": (1, 10), "batch_size": (1, 1024), "steps": (0, 100_000),
    "snapshot_every": (1, 10_000), "seed": (0, 2**31 - 1),
}
#: Bounds on the targets' parameters: mixture sizes (each component costs memory and time in
#: the density and the metrics), and every other number.
PARAM_LIMITS = {("ring", "k"): 64, ("grid", "n"): 10, ("checkerboard", "n"): 32}
PARAM_MAX_ABS = 1000.0
POINTS_HELP = ("the dashboard loads points only from this tab's upload (source=upload) or from a .csv/.npy "
               "file under the runs folder (path=NAME, relative to it)")


def is_one_of(value, allowed) -> bool:
    """Whether a client's value is one of `allowed` (a dict's keys or a sequence). A client may send
    any JSON: a list or a mapping (unhashable: `in` a dict raised TypeError, an HTTP 500) or a bool
    (True == 1) never is one."""
    return isinstance(value, (str, int, float)) and not isinstance(value, bool) and value in allowed


def one_of_message(field: str, value, allowed) -> str:
    """'field: must be one of a, b, c (got ...)': the answer to a value that is not one of `allowed`."""
    return f"{field}: must be one of {', '.join(map(str, allowed))} (got {short(value, 40)})"


def device_problem(device) -> str:
    """'' when `device` can train on this server, else why not, naming the field and what is allowed
    here (a CPU-only server: auto, cpu). 'cuda' on a CPU-only server was an HTTP 500 at Start."""
    if not isinstance(device, str):
        return ""                                  # (TrainConfig names a wrong type)
    try:
        resolve_device(device)
    except (ValueError, RuntimeError) as err:
        reason = str(err).removeprefix("device: ").split("; use ")[0]
        return f"{reason}; allowed on this server: {', '.join(available_devices())}"
    return ""


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
    """{'k': 8, 'mean': (0.0, 0.0)} -> 'k=8, mean=[0.0, 0.0]': text that parse_params reads back
    (a tuple written as Python writes it, '(0.0, 0.0)', was refused)."""
    def text(v):
        return "[" + ", ".join(map(text, v)) + "]" if isinstance(v, (list, tuple)) else str(v)
    return ", ".join(f"{k}={text(v)}" for k, v in params.items() if v is not None)


def default_params(name: str) -> str:
    """The target's parameters as the form shows them ('' for points, which needs an upload)."""
    if name == "points" or not is_one_of(name, datasets.names()):
        return ""
    try:
        t = datasets.get(name)
    except ValueError:
        return ""
    return params_text(t.params)


def preset_form(name: str) -> tuple[dict, dict]:
    """(the form's values, the fields the form does not show) of a failure-mode preset;
    name "" gives the defaults. Unknown names are refused (presets.check_preset)."""
    fields = preset_fields(name) if name else {}
    form = {f: fields.get(f, default(f)) for f in FIELDS}
    form["dataset_params"] = params_text(fields["dataset_params"]) if fields.get("dataset_params") \
        else default_params(form["dataset"])
    return form, {k: v for k, v in fields.items() if k not in FIELDS}


def parse_params(text: str) -> dict:
    """'k=8, radius=2.0' -> {'k': 8, 'radius': 2.0}; values read as YAML (numbers, lists, strings)
    by the engine's one reader of typed values (config.read_value: no aliases, anchors or tags,
    bounded size and depth). A name given twice (k=8, k=9) is refused, naming it."""
    out = {}
    if text is not None and not isinstance(text, str):
        raise ConfigError(f"dataset_params: must be name=value text, got a {type(text).__name__}")
    text = (text or "").strip()
    if not text:
        return out
    for part in _split(text):
        if "=" not in part:
            raise ConfigError(f"dataset_params: {short(part, 60)} is not name=value")
        k, v = part.split("=", 1)
        k = k.strip()
        if k in out:
            raise ConfigError(f"dataset_params: {short(k, 60)} is given twice; give each parameter once")
        out[k] = read_value(v, f"dataset_params: {short_text(k, 60)}")
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


def build_config(values: dict, base: dict | None = None, *, upload=None,
                 runs_dir=None) -> tuple[TrainConfig | None, dict[str, str], str]:
    """The form's values -> (config or None, {field: error}, general error).

    Every error names its field; the target is built too, so a bad parameter shows up
    under dataset_params rather than later in training. Numbers are held to LIMITS and
    PARAM_LIMITS; the 'points' target reads only `upload` (this tab's) or a file under
    `runs_dir` (see `points_params`), never a path the client names.
    """
    errors: dict[str, str] = {}
    fields = dict(base or {})
    for k, v in values.items():
        if k not in FIELDS:
            return None, {}, f"{k}: not a field of the form; allowed: {', '.join(FIELDS)}"
        if v is None or v == "":
            continue
        fields[k] = v
    problem = _target_fields(fields, values.get("dataset_params") or "", upload, runs_dir)
    if problem:
        return None, problem, ""
    limited = _over_limits(fields)      # a huge number is named by the dashboard's limit, not the engine's
    every = fields.get("snapshot_every")
    if "metrics_every" not in FIELDS and isinstance(every, int) and not isinstance(every, bool) and every > 0:
        # not on the form: measure at the first snapshot at least 100 rounds on (a snapshot every 2,000
        # rounds was refused for a field the form does not show)
        fields.setdefault("metrics_every", every * math.ceil(default("metrics_every") / every))
    try:
        cfg = make_config(**fields)
    except ConfigError as err:
        general = []
        for name, msg in err.fields.items():
            if name in FIELDS:
                errors[name] = msg
            else:
                general.append(f"{name}: {msg}" if name else msg)
        if limited:                      # the numbers out of bounds first: other complaints may follow from them
            return None, {**errors, **limited}, ""
        return None, errors, "\n".join(general) or ("" if errors else str(err))
    if limited:
        return None, limited, ""
    problem = device_problem(cfg.device)
    if problem:
        return None, {"device": problem}, ""
    try:
        cfg.target()
    except (ValueError, TypeError, OSError) as err:
        if cfg.dataset == "points":               # never the reader's words: they may quote the file
            return None, {"dataset_params": f"the points could not be read; {POINTS_HELP}"}, ""
        return None, {"dataset_params": str(err)}, ""
    return cfg, {}, ""


def _target_fields(fields: dict, text, upload, runs_dir) -> dict[str, str]:
    """The form's target checked and its parameters parsed into fields["dataset_params"]; {field:
    error} when the dataset or its parameters are refused (empty: they are fine)."""
    dataset = fields.get("dataset", default("dataset"))
    if not is_one_of(dataset, datasets.names()):
        return {"dataset": one_of_message("dataset", dataset, datasets.names()).split(": ", 1)[1]}
    if not isinstance(text, str) or len(text) > 1000:
        return {"dataset_params": "must be name=value text of at most 1,000 characters"}
    try:
        params = parse_params(text)
        if dataset == "points":
            params = points_params(params, upload, runs_dir)
        else:
            check_params(dataset, params)
        fields["dataset_params"] = params
    except (ConfigError, ValueError) as err:
        return {"dataset_params": str(err).split(": ", 1)[-1] if isinstance(err, ConfigError) else str(err)}
    return {}


def _over_limits(fields: dict) -> dict[str, str]:
    """{field: message} for the numbers outside LIMITS (non-numbers are left to TrainConfig)."""
    errors = {}
    for name, (lo, hi) in LIMITS.items():
        v = fields.get(name)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and not lo <= v <= hi:
            errors[name] = f"must be {lo:,} to {hi:,} in the dashboard (got {v:,})"
    return errors


def check_params(dataset: str, params: dict) -> None:
    """Numbers only (or short lists of numbers), finite, within PARAM_MAX_ABS; mixture sizes within PARAM_LIMITS."""
    family = target_params.family(dataset)
    for k, v in params.items():
        values = v if isinstance(v, list) else [v]
        if len(values) > 8 or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in values):
            raise ValueError(f"{k}: must be a number (or a list of at most 8 numbers), got {short(v, 60)}")
        hi = PARAM_LIMITS.get((family, k))
        if hi is not None and (isinstance(v, list) or not 1 <= v <= hi):
            raise ValueError(f"{k}: must be 1 to {hi} in the dashboard, got {v}")
        if not all(math.isfinite(x) and abs(x) <= PARAM_MAX_ABS for x in values):
            raise ValueError(f"{k}: must be finite and at most {PARAM_MAX_ABS:,.0f} in size, got {v}")


def points_params(params: dict, upload, runs_dir) -> dict:
    """The 'points' target's parameters with the file resolved on the server.

    source=upload: this tab's upload (held by the session); path=NAME: a .csv/.npy file
    under `runs_dir` (symlinks resolved, at most UPLOAD_MAX_BYTES). Any other path is
    refused with one message that says nothing of whether it exists."""
    params = dict(params)
    source, name = params.pop("source", None), params.pop("path", None)
    bad = [k for k in params if k != "bandwidth"]
    if bad:
        raise ValueError(f"{', '.join(bad)}: unknown parameter of points; allowed: source=upload, path=NAME, "
                         f"bandwidth")
    # the bandwidth is judged with the rest by the engine's model (target_params.Points)
    if source == "upload" and name is None:
        if upload is None:
            raise ValueError("source: this tab has no upload yet; upload a .csv or .npy file first")
        return {**params, "path": str(upload)}
    if source is None and isinstance(name, str) and runs_dir is not None:
        root = Path(runs_dir).resolve()
        try:
            file = (root / name).resolve()
            ok = (file.is_relative_to(root) and file.suffix in (".csv", ".npy") and file.is_file()
                  and file.stat().st_size <= UPLOAD_MAX_BYTES)
        except (OSError, ValueError):
            ok = False
        if ok:
            return {**params, "path": str(file)}
    raise ValueError(f"path: not available; {POINTS_HELP}")


def upload_params(path) -> str:
    """The form's dataset_params for an upload: source=upload and the KDE bandwidth chosen by the
    metrics' likelihood rule (shown, and editable, in the form). Scott's rule, the engine's default,
    blurred clustered uploads into one blob (h ~0.46 where the clusters' std was 0.05)."""
    return f"source=upload, bandwidth={cloud_bandwidth(np.load(path, allow_pickle=False)):.3g}"


def save_points(points: np.ndarray, folder) -> Path:
    """A tab's point cloud (uploaded or drawn) as `folder`/points.npy, the one file 'source=upload'
    reads (runs.write_points: atomic, so a reader never sees half a file)."""
    return runs.write_points(folder, points)


def read_upload(contents: str, filename: str, folder) -> Path:
    """Check an uploaded point cloud and save it as `folder`/points.npy; returns that path.

    Parsed and checked by the engine's own reader (toylab.datasets.PointCloud.from_file:
    .csv or .npy, two numeric finite columns); the dashboard adds its limits: at most
    UPLOAD_MAX_BYTES, UPLOAD_MIN_ROWS to UPLOAD_MAX_ROWS rows."""
    if not isinstance(contents, str) or not isinstance(filename, str):
        raise ValueError("upload: the file could not be read")
    suffix = Path(filename).suffix.lower()
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
    except (ValueError, UnicodeDecodeError, OSError) as err:     # the reader's words name `raw`: not sent
        said = str(err).replace(str(raw), "the file").replace(str(folder), "the server")
        raise ValueError(f"upload: {short(filename, 60)}: {said}") from None
    finally:
        raw.unlink(missing_ok=True)
    n = cloud.points.shape[0]
    if not UPLOAD_MIN_ROWS <= n <= UPLOAD_MAX_ROWS:
        raise ValueError(f"upload: need {UPLOAD_MIN_ROWS} to {UPLOAD_MAX_ROWS:,} rows; got {n:,}")
    return save_points(cloud.points.numpy(), folder)
