"""The targets' names and parameters, checked before anything is built (no torch needed).

`check_params` refuses an unknown name, a wrong type or a value out of range, each error
naming the parameter and what is allowed; the ranges bound the memory a target can take.
Kept apart from the targets themselves (toylab.engine.datasets, torch) so that a config is
validated, and a saved run read, without importing torch.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

# ---- parameter limits ---------------------------------------------------------------------
#: the most rows a `points` file may have: its KDE (p_data, log_prob) stays a fraction of a
#: second per thousand queries; a 1e6-row cloud needed GBs per chunk of queries
MAX_POINTS = 100_000
#: the most bytes of a .csv points file (100,000 rows of two numbers fit in a few MB)
MAX_CSV_BYTES = 64 * 2**20
_STD = ("pos", 1e-4, 1e3)         # a width: below 1e-4 the float32 covariance underflows
_LEN = ("pos", None, 1e4)
_ANGLE = ("real", -3600.0, 3600.0)
#: name -> {parameter: (kind, low, high)}; kinds: int (inclusive range), pos (> 0, <= high,
#: >= low if given), real (finite, inclusive range), point (two finite numbers), path
PARAMS: dict[str, dict[str, tuple]] = {
    "ring": {"k": ("int", 1, 1000), "radius": _LEN, "std": _STD},
    "grid": {"n": ("int", 1, 32), "spacing": _LEN, "std": _STD},
    "gaussian": {"mean": ("point", -1e4, 1e4), "std": _STD},
    "anisotropic": {"distance": ("real", 0.0, 1e4), "std_major": _STD, "std_minor": _STD, "angle_deg": _ANGLE},
    "circle": {"radius": _LEN, "std": _STD},
    "swissroll": {"scale": ("pos", None, 1e3), "std": _STD},
    "spiral": {"turns": ("pos", None, 100.0), "radius": _LEN, "std": _STD},
    "checkerboard": {"n": ("int", 2, 200), "size": _LEN},
    "line": {"length": _LEN, "angle_deg": _ANGLE, "std": _STD},
    "points": {"path": ("path", None, None), "bandwidth": ("pos", 1e-4, 10.0)},
}


def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def _check_param(target: str, p: str, v, spec) -> None:
    kind, lo, hi = spec
    where = f"{target}: {p}"
    if kind == "int":
        if not _is_number(v) or not math.isfinite(v) or v != int(v) or not lo <= v <= hi:
            raise ValueError(f"{where} must be >= {lo} and <= {hi}, an integer (got {v!r})")
    elif kind == "pos":
        if not _is_number(v) or not math.isfinite(v) or v <= 0 or v > hi or (lo is not None and v < lo):
            low = f">= {lo:g}" if lo is not None else "> 0"
            raise ValueError(f"{where} must be a positive number, {low} and <= {hi:g} (got {v!r})")
    elif kind == "real":
        if not _is_number(v) or not math.isfinite(v) or not lo <= v <= hi:
            raise ValueError(f"{where} must be a finite number in [{lo:g}, {hi:g}] (got {v!r})")
    elif kind == "point":
        ok = isinstance(v, (list, tuple, np.ndarray)) and len(v) == 2 and all(
            _is_number(c) and math.isfinite(c) and lo <= c <= hi for c in v)
        if not ok:
            raise ValueError(f"{where} must be two finite numbers in [{lo:g}, {hi:g}], e.g. [0, 1] (got {v!r})")
    elif kind == "path":
        if not isinstance(v, (str, Path)) or not str(v):
            raise ValueError(f"{where} must be a file name (a .csv or .npy of two columns; got {v!r})")


def check_params(name: str, params: dict) -> None:
    """Refuse a target's parameters before anything is built: an unknown name, a wrong type, or a
    value out of its range, each a ValueError naming the parameter and what is allowed. The ranges
    bound the memory a target can take (ring k <= 1000 modes, grid n <= 32, checkerboard n <= 200,
    points files <= MAX_POINTS rows).

    >>> check_params("ring", {"k": 10**9})
    Traceback (most recent call last):
    ValueError: ring: k must be >= 1 and <= 1000, an integer (got 1000000000)
    """
    if name not in PARAMS:
        raise ValueError(f"dataset: unknown target {name!r}; choose one of {', '.join(names())}")
    if not isinstance(params, dict):
        raise ValueError(f"{name}: the parameters must be a mapping of name to value (got {params!r})")
    spec = PARAMS[name]
    for p, v in params.items():
        if p not in spec:
            raise ValueError(f"dataset {name!r}: bad parameters {params}: unknown parameter {p!r}; "
                             f"allowed: {', '.join(spec) or 'none'}")
        _check_param(name, p, v, spec[p])
    if name == "points":
        if "path" not in params:
            raise ValueError("points: give the file with path=... (a .csv or .npy with two columns)")
        _check_points_file(Path(params["path"]))


def _check_points_file(path: Path) -> None:
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

#: family -> one line describing it and its parameters
FAMILIES = {
    "ring": "K Gaussians on a circle: k, radius, std",
    "grid": "n x n Gaussians on a lattice: n, spacing, std",
    "gaussian": "one Gaussian: mean, std",
    "anisotropic": "two tilted elongated Gaussians: distance, std_major, std_minor, angle_deg",
    "circle": "a continuous ring (annulus): radius, std",
    "swissroll": "the swiss roll curve blurred: scale, std",
    "spiral": "an Archimedean spiral blurred: turns, radius, std",
    "checkerboard": "uniform on the dark squares of a board: n, size",
    "line": "a blurred segment: length, angle_deg, std",
    "points": "your own point cloud from a .csv/.npy file: path, bandwidth (density = Gaussian KDE; default "
              "bandwidth: Scott's rule)",
}
PARAMS.update({name: PARAMS[family] for name, (family, _, _) in PRESETS.items()})


def names() -> list[str]:
    """The built-in target names (the presets first)."""
    return [*PRESETS, *FAMILIES]


def describe() -> dict[str, str]:
    """name -> one-line description with its parameters."""
    return {**{name: text for name, (_, _, text) in PRESETS.items()}, **FAMILIES}
