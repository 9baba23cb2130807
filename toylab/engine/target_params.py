"""The targets' names and parameters, checked before anything is built (no torch needed).

Each family's parameters are a pydantic model (`MODELS`: fields with their kinds and ranges,
unknown names refused); `check_params` validates a target's parameters with it, each error
naming the parameter and what is allowed; the ranges bound the memory a target can take.
Kept apart from the targets themselves (toylab.engine.datasets, torch) so that a config is
validated, and a saved run read, without importing torch.
"""

from __future__ import annotations

import copy
import json
import math
import threading
from pathlib import Path

from typing import Annotated

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, model_validator

from .safe_load import short, short_text

# ---- parameter limits ---------------------------------------------------------------------
#: the most rows a `points` file may have: its KDE (p_data, log_prob) stays a fraction of a
#: second per thousand queries; a 1e6-row cloud needed GBs per chunk of queries
MAX_POINTS = 100_000
#: the most bytes of a .csv points file (100,000 rows of two numbers fit in a few MB)
MAX_CSV_BYTES = 64 * 2**20


def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def _finite(v) -> bool:
    """math.isfinite for any number _is_number accepts: an int of 4,000 digits is finite (and out of
    range), where math.isfinite raised OverflowError on it."""
    return isinstance(v, (int, np.integer)) or math.isfinite(v)


def _rule(kind: str, lo, hi):
    """The check of one kind of parameter, run on the raw value (a numpy number included);
    returns the value as a plain Python int, float, pair of floats or path."""
    def check(v):
        if kind == "int":
            if not _is_number(v) or not _finite(v) or v != int(v) or not lo <= v <= hi:
                raise ValueError(f"must be >= {lo} and <= {hi}, an integer (got {short(v)})")
            return int(v)
        if kind == "pos":
            if not _is_number(v) or not _finite(v) or v <= 0 or v > hi or (lo is not None and v < lo):
                low = f">= {lo:g}" if lo is not None else "> 0"
                raise ValueError(f"must be a positive number, {low} and <= {hi:g} (got {short(v)})")
            return float(v)
        if kind == "real":
            if not _is_number(v) or not _finite(v) or not lo <= v <= hi:
                raise ValueError(f"must be a finite number in [{lo:g}, {hi:g}] (got {short(v)})")
            return float(v)
        if kind == "point":
            if not (isinstance(v, (list, tuple, np.ndarray)) and len(v) == 2 and all(
                    _is_number(c) and _finite(c) and lo <= c <= hi for c in v)):
                raise ValueError(f"must be two finite numbers in [{lo:g}, {hi:g}], e.g. [0, 1] (got {short(v)})")
            return tuple(float(c) for c in v)
        if not isinstance(v, (str, Path)) or not str(v):
            raise ValueError(f"must be a file name (a .csv or .npy of two columns; got {short(v)})")
        return v
    return BeforeValidator(check)


#: the kinds of parameter; every field of a model below is one, checked by _rule
Int = lambda lo, hi: Annotated[int, _rule("int", lo, hi)]               # noqa: E731
Pos = lambda hi, lo=None: Annotated[float, _rule("pos", lo, hi)]        # noqa: E731  (> 0, or >= lo)
Real = lambda lo, hi: Annotated[float, _rule("real", lo, hi)]           # noqa: E731
Std = Pos(1e3, 1e-4)              # a width: below 1e-4 the float32 covariance underflows
Length = Pos(1e4)
Angle = Real(-3600.0, 3600.0)


class TargetParams(BaseModel):
    """A target's parameters, each checked by its kind and range; unknown names refused. A
    field left out takes the target's own default (toylab.engine.datasets): the model keeps
    only what was given (`given()`)."""
    model_config = ConfigDict(extra="forbid", frozen=True)

    def given(self) -> dict:
        return self.model_dump(exclude_unset=True)


class Ring(TargetParams):
    """K Gaussians on a circle"""
    k: Int(1, 1000) = None
    radius: Length = None
    std: Std = None


class Grid(TargetParams):
    """n x n Gaussians on a lattice"""
    n: Int(1, 32) = None
    spacing: Length = None
    std: Std = None


class Gaussian(TargetParams):
    """one Gaussian"""
    mean: Annotated[tuple[float, float], _rule("point", -1e4, 1e4)] = None
    std: Std = None


class Anisotropic(TargetParams):
    """two tilted elongated Gaussians"""
    distance: Real(0.0, 1e4) = None
    std_major: Std = None
    std_minor: Std = None
    angle_deg: Angle = None


class Circle(TargetParams):
    """a continuous ring (annulus)"""
    radius: Length = None
    std: Std = None


class Swissroll(TargetParams):
    """the swiss roll curve blurred"""
    scale: Pos(1e3) = None
    std: Std = None


class Spiral(TargetParams):
    """an Archimedean spiral blurred"""
    turns: Pos(100.0) = None
    radius: Length = None
    std: Std = None


class Checkerboard(TargetParams):
    """uniform on the dark squares of a board"""
    n: Int(2, 200) = None
    size: Length = None


class Line(TargetParams):
    """a blurred segment"""
    length: Length = None
    angle_deg: Angle = None
    std: Std = None


class Points(TargetParams):
    """your own point cloud from a .csv/.npy file, its density a Gaussian KDE (bandwidth by
    default: Scott's rule)"""
    path: Annotated[str | Path, _rule("path", None, None)]
    bandwidth: Pos(10.0, 1e-4) = None

    @model_validator(mode="after")
    def _file(self):
        check_points_file(Path(self.path))
        return self


#: family -> its parameters' model (the presets below add their names)
MODELS: dict[str, type[TargetParams]] = {
    "ring": Ring, "grid": Grid, "gaussian": Gaussian, "anisotropic": Anisotropic, "circle": Circle,
    "swissroll": Swissroll, "spiral": Spiral, "checkerboard": Checkerboard, "line": Line, "points": Points,
}


class Kept:
    """Answers kept by key, at most `most` of them (the oldest dropped first), safe across threads:
    for pure functions of parameters a page asks for over and over (check_params, datasets.get)."""

    def __init__(self, most: int):
        self.most, self._items, self._lock = most, {}, threading.Lock()

    def get(self, key):
        with self._lock:
            return self._items.get(key)

    def put(self, key, value):
        """Keep value under key (a value kept meanwhile by another thread wins); returns the kept one."""
        with self._lock:
            value = self._items.setdefault(key, value)
            while len(self._items) > self.most:
                del self._items[next(iter(self._items))]
            return value


#: checked parameters kept (a page checks the same few targets over and over: issue #30 counted
#: 12 checks from choosing a target to the first frame after Start)
_CHECKED = Kept(256)


def _flat(params) -> bool:
    scalar = (str, int, float, bool, type(None))
    return isinstance(params, dict) and len(params) <= 16 and all(
        isinstance(k, str) and (isinstance(v, scalar) or isinstance(v, (list, tuple)) and len(v) <= 8
                                and all(isinstance(c, scalar) for c in v)) for k, v in params.items())


def params_key(name: str, params) -> tuple | None:
    """A key for (name, params) when the result depends on them alone: None for 'points' (a
    file is read, and may change), for values JSON cannot write in one order, and for anything
    but a flat mapping of a few numbers, strings or short lists of them (a target's parameters
    are): json.dumps of a shared list nested 9 deep wrote 10^9 items (issue #28's bomb hung
    here, before the check that refuses it in milliseconds)."""
    if name == "points" or not _flat(params):
        return None
    try:
        return name, json.dumps(params, sort_keys=True)
    except (TypeError, ValueError):
        return None


def check_params(name: str, params: dict) -> dict:
    """The target's parameters checked by its model (`MODELS`), before anything is built: an
    unknown name, a wrong type, or a value out of its range is a ValueError naming the
    parameter and what is allowed. The ranges bound the memory a target can take (ring k <=
    1000 modes, grid n <= 32, checkerboard n <= 200, points files <= MAX_POINTS rows).
    Returns the parameters given, as plain Python values.

    >>> check_params("ring", {"k": 10**9})
    Traceback (most recent call last):
    ValueError: ring: k must be >= 1 and <= 1000, an integer (got 1000000000)
    """
    if name not in MODELS:
        raise ValueError(f"dataset: unknown target {short(name, 60)}; choose one of {', '.join(names())}")
    if not isinstance(params, dict):
        raise ValueError(f"{name}: the parameters must be a mapping of name to value (got {short(params)})")
    key = params_key(name, params)
    hit = _CHECKED.get(key) if key is not None else None
    if hit is not None:                           # the same answer as a fresh check (tested)
        return copy.deepcopy(hit)
    given = _check(name, params)
    if key is not None:
        _CHECKED.put(key, copy.deepcopy(given))
    return given


def _check(name: str, params: dict) -> dict:
    model = MODELS[name]
    try:
        return model.model_validate(params).given()
    except ValidationError as err:
        e = err.errors(include_url=False)[0]
        where = e["loc"][0] if e["loc"] else None
        if e["type"] == "extra_forbidden":
            raise ValueError(f"dataset {name!r}: bad parameters {short(params)}: unknown parameter {short(where, 60)}; "
                             f"allowed: {', '.join(model.model_fields) or 'none'}") from None
        if e["type"] == "missing" and where == "path":
            raise ValueError("points: give the file with path=... (a .csv or .npy with two columns)") from None
        cause = e.get("ctx", {}).get("error")
        msg = str(cause) if cause is not None else e["msg"]
        where = short_text(where, 60) if where is not None else None
        raise ValueError(f"{name}: {where} {msg}" if where else msg) from None


def check_points_file(path: Path) -> None:
    """The file exists, has a known suffix, and (read from its header or size alone) is not too big."""
    if not path.exists():
        raise ValueError(f"points: no such file {path}")
    if not path.is_file():
        raise ValueError(f"points: {path} is not a file (give a .csv or .npy file)")
    if path.suffix == ".npy":
        shape, dtype, start = _npy_header(path)
        if dtype.kind not in "iuf" or len(shape) != 2 or shape[1] != 2:
            raise ValueError(f"points: {path}: expected numbers of shape (n, 2), got {dtype} of shape {shape}")
        if shape[0] > MAX_POINTS:
            raise ValueError(f"points: {path} has {shape[0]:,} rows; at most {MAX_POINTS:,} are allowed "
                             f"(subsample it)")
        if path.stat().st_size < start + shape[0] * 2 * dtype.itemsize:
            raise ValueError(f"points: {path} is truncated: its header promises {shape[0]:,} rows, the file is "
                             f"shorter")
        if path.stat().st_size > start + shape[0] * 2 * dtype.itemsize:     # np.load ignored the rest
            raise ValueError(f"points: {path} holds more data than its header's {shape[0]:,} rows: the header "
                             f"does not describe the file")
    elif path.suffix in (".csv", ".txt"):
        if path.stat().st_size > MAX_CSV_BYTES:
            raise ValueError(f"points: {path} is {path.stat().st_size / 2**20:.0f} MB; a .csv may hold at most "
                             f"{MAX_CSV_BYTES // 2**20} MB ({MAX_POINTS:,} rows); subsample it")
    else:
        raise ValueError(f"points: file must be .csv or .npy, got {path.suffix!r}")


def _npy_header(path: Path):
    """(shape, dtype, where the data start) from a .npy header alone; not a .npy: refused."""
    fmt = np.lib.format
    try:
        with open(path, "rb") as f:
            version = fmt.read_magic(f)
            read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
            shape, fortran, dtype = read(f)
            start = f.tell()
    except Exception as err:
        raise ValueError(f"points: {path} is not a .npy array file ({type(err).__name__}); give a .npy "
                         f"written by numpy.save, or a .csv") from None
    return shape, dtype, start


#: named targets of the literature: name -> (family, its parameters, description); a spec names
#: them instead of numbers (their parameters can still be overridden)
PRESETS = {
    "ring8": ("ring", {"k": 8, "radius": 2.0, "std": 0.02},
              "8 equal Gaussians on a circle of radius 2, std 0.02 (VEEGAN's ring; the mode-collapse benchmark)"),
    "grid25": ("grid", {"n": 5, "spacing": 2.0, "std": 0.05},
               "25 equal Gaussians at {-4,-2,0,2,4}^2, std 0.05 (PacGAN's and VEEGAN's grid)"),
    "pacgan_ring": ("ring", {"k": 8, "radius": 1.0, "std": 0.01},
                    "PacGAN's 2D-ring (Lin et al. 2018, Table 1): 8 Gaussians on a circle of radius 1, std 0.01"),
    "pacgan_grid": ("grid", {"n": 5, "spacing": 2.0, "std": 0.05},
                    "PacGAN's 2D-grid (Lin et al. 2018, Table 1): 25 Gaussians at {-4,-2,0,2,4}^2, std 0.05"),
}

MODELS.update({name: MODELS[family] for name, (family, _, _) in PRESETS.items()})


def family(name: str) -> str:
    """The family a target name belongs to (a preset's; a family's own name otherwise)."""
    return PRESETS[name][0] if name in PRESETS else name


def names() -> list[str]:
    """The built-in target names (the presets first)."""
    return [*PRESETS, *(name for name in MODELS if name not in PRESETS)]


def describe() -> dict[str, str]:
    """name -> one-line description with its parameters (a family's from its model)."""
    families = {name: f"{' '.join(m.__doc__.split())}: {', '.join(m.model_fields)}"
                for name, m in MODELS.items() if name not in PRESETS}
    return {**{name: text for name, (_, _, text) in PRESETS.items()}, **families}
