"""The results table: one row per (setting, seed), its files, and outcome rates with Wilson
intervals."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..engine.files import atomic_write, write_csv
from ..measure.outcomes import OUTCOMES
from .spec import Experiment, read_json

TABLE_FIELDS = ("setting", "seed", "outcome", "reason", "js", "js_se", "modes_present", "modes_captured",
                "modes_captured_se", "num_modes", "high_quality", "high_quality_se", "off_mode", "off_mode_se",
                "nonfinite", "reverse_kl", "c_of_g",
                "d_real_mean", "g_grad_norm", "d_loss", "hops", "status", "steps", "job", "member")


def load_table(out, jobs: list[dict] | None = None) -> list[dict]:
    """Rows of every finished job, in job order."""
    out = Path(out)
    if jobs is None:
        jobs = Experiment.from_dict(read_json(out / "experiment.json")).jobs()
    rows = []
    for j in jobs:
        f = out / "results" / f"{j['id']}.json"
        if f.exists():
            rows += read_json(f, max_bytes=64 << 20)
    return rows


def write_table(out, rows: list[dict]) -> None:
    """results.csv (and results.parquet when pyarrow is installed), written atomically."""
    if not rows:
        return
    keys = [k for k in TABLE_FIELDS if k in rows[0]] + [k for k in rows[0] if k not in TABLE_FIELDS]
    cols = {k: np.array([r.get(k) for r in rows], dtype=object) for k in keys}
    write_csv(Path(out) / "results.csv", cols)
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return
    table = pa.Table.from_pylist([{k: (str(r[k]) if isinstance(r.get(k), (list, dict)) else r.get(k))
                                   for k in keys} for r in rows])
    atomic_write(Path(out) / "results.parquet", lambda f: pq.write_table(table, f))


# ---- reporting -----------------------------------------------------------------------------
def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a rate k/n (sound at 0/n and n/n, unlike the normal one)."""
    if n == 0:
        return math.nan, math.nan
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, c - h), min(1.0, c + h)


def outcome_rates(rows: list[dict]) -> dict[str, dict[str, tuple[int, int]]]:
    """{setting: {outcome: (count, n)}}, settings in first-seen order."""
    out: dict[str, dict[str, tuple[int, int]]] = {}
    by: dict[str, list[str]] = {}
    for r in rows:
        by.setdefault(r["setting"], []).append(r["outcome"])
    for s, outs in by.items():
        out[s] = {o: (outs.count(o), len(outs)) for o in OUTCOMES}
    return out
def mean_std(rows: list[dict], key: str, fmt: str, pct: bool = False) -> str:
    """'mean ± std' of a table column over rows (finite values only; '-' if none)."""
    v = np.array([r.get(key) for r in rows if r.get(key) is not None], dtype=float)
    v = v[np.isfinite(v)]
    if not len(v):
        return "-"
    sd = v.std(ddof=1) if len(v) > 1 else 0.0
    return f"{fmt.format(v.mean())} ± {fmt.format(sd)}".replace("% ± ", " ± ") if pct else \
        f"{fmt.format(v.mean())} ± {fmt.format(sd)}"
