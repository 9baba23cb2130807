"""A user's own points as a target (an upload, a drawing, a .csv or .npy file)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from ..measure.kde import kde_log_prob
from .safe_load import short
from .target import Target, check_points, square_bounds
from .target_params import MAX_POINTS, check_points_file


#: characters in one line of a points .csv at most (two numbers, or a short header, need < 100)
CSV_LINE = 1000


def _check_lines(path: Path) -> None:
    """Refuse a .csv with a line longer than CSV_LINE, streamed in 1 MB pieces before the parser
    sees it: one line of 10 million cells made np.loadtxt build a 10-million-column row (540 MB)."""
    with open(path, "rb") as f:
        tail = 0
        while chunk := f.read(1 << 20):
            lines = chunk.split(b"\n")
            if tail + len(lines[0]) > CSV_LINE or max(map(len, lines[1:]), default=0) > CSV_LINE:
                raise ValueError(f"points: {path} has a line longer than {CSV_LINE:,} characters; expected rows "
                                 f"of two comma-separated numbers")
            tail = tail + len(lines[0]) if len(lines) == 1 else len(lines[-1])


class PointCloud(Target):
    """A user's own points (.csv or .npy, two columns); sampling resamples them with
    kernel noise, and the density is the matching Gaussian kernel density estimate
    with Scott's bandwidth h = sigma * n^(-1/6) (isotropic, sigma the mean std).
    The density is therefore an estimate, not an analytic p_data."""

    def __init__(self, points, *, name="points", source=None, bandwidth: float | None = None):
        pts = torch.as_tensor(np.asarray(points, dtype=np.float64)).float()
        if pts.ndim != 2 or pts.shape[1] != 2:
            raise ValueError(f"points: expected an array of shape (n, 2), got shape {tuple(pts.shape)}")
        if pts.shape[0] > MAX_POINTS:
            raise ValueError(f"points: {pts.shape[0]:,} rows; at most {MAX_POINTS:,} are allowed (subsample them)")
        if pts.shape[0] < 2:
            raise ValueError(f"points: need at least 2 rows, got {pts.shape[0]}")
        if not torch.isfinite(pts).all():
            raise ValueError("points: the data contain NaN or infinite values")
        sigma = float(pts.std(0).mean())
        if sigma <= 0:
            raise ValueError("points: all points are identical; the density is undefined")
        if bandwidth is not None and not (isinstance(bandwidth, (int, float, np.integer, np.floating))
                                          and not isinstance(bandwidth, (bool, np.bool_))
                                          and math.isfinite(bandwidth) and bandwidth > 0):
            raise ValueError(f"bandwidth: must be a finite number > 0, or None for Scott's rule (got {short(bandwidth)})")
        self.points = pts
        self.bandwidth = bandwidth or sigma * pts.shape[0] ** (-1 / 6)
        self.name, self.params = name, dict(path=str(source) if source else None, n=int(pts.shape[0]))
        pad = 3 * self.bandwidth + 0.1
        self.bounds = square_bounds(pts.min(0).values - pad, pts.max(0).values + pad)

    @classmethod
    def from_file(cls, path, **kw) -> "PointCloud":
        path = Path(path)
        check_points_file(path)
        if path.suffix != ".npy":
            _check_lines(path)
        try:
            if path.suffix == ".npy":
                arr = np.load(path, allow_pickle=False)
            else:
                try:
                    arr = np.loadtxt(path, delimiter=",", ndmin=2, comments="#")
                except ValueError:
                    arr = np.loadtxt(path, delimiter=",", ndmin=2, comments="#", skiprows=1)
        except (ValueError, OSError, UnicodeDecodeError) as err:
            # never the file's content in the message (it may be anything a server can read)
            what = "rows of two comma-separated numbers (one header line allowed)" if path.suffix != ".npy" \
                else "a numeric array of shape (n, 2)"
            raise ValueError(f"points: {path} could not be read as {what} ({type(err).__name__})") from None
        if len(arr) > MAX_POINTS:
            raise ValueError(f"points: {path} has {len(arr):,} rows; at most {MAX_POINTS:,} are allowed (subsample it)")
        if arr.size == 0:
            raise ValueError(f"points: {path} has no rows")
        return cls(arr, source=path, **kw)

    def _sample(self, n, gen, device):
        idx = torch.randint(self.points.shape[0], (n,), generator=gen, device=device)
        return self.points.to(device)[idx] + self.bandwidth * torch.randn(n, 2, generator=gen, device=device)

    def log_prob(self, x):
        """The Gaussian KDE of the points at bandwidth h: toylab.measure.kde's, the one the
        metrics estimate p_model with (here it is p_data itself)."""
        x = check_points(x)
        return kde_log_prob(x, self.points, self.bandwidth).to(x.device)
