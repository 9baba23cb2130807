"""The JS estimate on messy generators: background mass, far outliers, one far sample, imbalance,
narrowed modes, sharp edges (issue #27). Truth by Monte Carlo with both densities exact; the cases
are benchmarks/js_cases.py's, whose full table (20 draws, n = 500 and 2,500) is in docs/metrics.md.
Before per-sample bandwidths and the outlier floor, 40 % background read 0.000 (raw -0.195) against
a truth of 0.163, and 1 % outliers at radius 10 read raw -2.1 (one draw of 500: -170)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from toylab import metrics
from toylab.measure import bandwidth

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from js_cases import cases  # noqa: E402

CASES = {c.name: c for c in cases()}
LN2 = math.log(2)


@pytest.mark.parametrize("name", [
    "ring8 + 5 % uniform background",
    "ring8, 60 % exact + 40 % uniform",
    "grid25, 60 % exact + 40 % uniform",
    "ring8 + 1 % outliers at radius 10",
    "ring8, one sample at (10, 0)",
    "ring8, half the mass on one mode",
    "grid25, modes 0.7x narrower",
])
def test_messy_generators_are_measured_within_a_hundredth_of_a_nat(name):
    """Mean of 3 draws at n = 2,500 within 0.01 nats (20-draw bias <= 0.008: docs/metrics.md);
    every raw value inside [0, ln 2] up to 4 standard errors: no estimate far outside the range."""
    case = CASES[name]
    truth = case.truth(2500)
    est = [metrics.js_estimate(case.target, case.model.sample(2500, seed=1000 + s), seed=s) for s in range(3)]
    assert np.mean([e.raw for e in est]) == pytest.approx(truth, abs=0.01)
    assert all(-4 * e.stderr <= e.raw <= LN2 + 4 * e.stderr for e in est)
    assert all(0 < e.stderr < 0.02 for e in est)


def test_one_sample_far_away_does_not_move_the_estimate():
    """The same 2,500 exact samples with one moved to (10, 0): the estimate moves by less than 0.002
    (its true share of JS is ln 2 / 5,000 = 0.00014); it used to read raw -80 (its leave-one-out
    density e^(-5 10^5), as small as p there: a ratio of two underflows)."""
    ring = CASES["ring8, all 8 modes (q = p)"].target
    x = ring.sample(2500, seed=3)
    y = x.clone()
    y[0] = torch.tensor([10.0, 0.0])
    a, b = metrics.js_estimate(ring, x, seed=1), metrics.js_estimate(ring, y, seed=1)
    assert abs(b.raw - a.raw) < 0.002 and abs(b.stderr - a.stderr) < 0.002


def test_the_sharp_edged_checkerboard_is_the_case_left_outside_the_bound():
    """A checkerboard shifted by 0.1 (a tenth of a square): a kernel estimate smooths the strip
    where q = 0 and p > 0, so the estimate reads low: 20-draw bias -0.015 (it was -0.019); stated
    in docs/metrics.md. Held here to within 0.025 and never clipped to 0."""
    case = CASES["checkerboard shifted by 0.1"]
    est = [metrics.js_estimate(case.target, case.model.sample(2500, seed=1000 + s), seed=s) for s in range(2)]
    assert np.mean([e.raw for e in est]) == pytest.approx(case.truth(2500), abs=0.025)
    assert min(e.value for e in est) > 0.03


def test_background_gets_wide_kernels_and_modes_narrow_ones():
    """Per-sample bandwidths (Abramson's law with a 10-NN pilot): on ring8 with 40 % uniform
    background the likelihood chooses the fully adaptive power, and the background's kernels are
    at least 4x the modes' (median); on exact ring8 samples the factors stay within a few classes."""
    case = CASES["ring8, 60 % exact + 40 % uniform"]
    x = case.model.sample(2500, seed=5).numpy()
    bw = bandwidth.kde_bandwidths(x, 8.0)
    on_mode = case.target.mahalanobis(torch.from_numpy(x).float()).min(1).values.numpy() <= 3
    assert bw.power == 1.0
    assert np.median(bw.factors[~on_mode]) >= 4 * np.median(bw.factors[on_mode])
    exact = bandwidth.kde_bandwidths(case.target.sample(2500, seed=5).numpy(), 8.0)
    assert len(np.unique(exact.factors)) <= 7


def test_the_bootstrap_world_keeps_the_sample_power():
    """A bootstrap replicate's bandwidths are searched only near the sample's (same power)."""
    case = CASES["ring8 + 20 % uniform background"]
    x = case.model.sample(1000, seed=2).numpy()
    bw = bandwidth.kde_bandwidths(x, 8.0)
    again = bandwidth.kde_bandwidths(x, 8.0, near=bw)
    assert again.power == bw.power and again.scale == pytest.approx(bw.scale, rel=0.3)
