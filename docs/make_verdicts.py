"""The verdict pictures of docs/metrics.md: generators whose right answer is known, classified
by toylab.outcomes exactly as a sweep classifies a run (final measurement on 2,500 samples).

    python docs/make_verdicts.py          # writes docs/img/verdicts.png (~1 minute)
"""

from pathlib import Path

import torch

from toylab import charts, datasets, metrics, viz
from toylab.api import run_of_samples
from toylab.measure.outcomes import classify

RING8, GRID25 = datasets.get("ring8"), datasets.get("grid25")


def on_modes(target, idx):
    return datasets.GaussianMixture(target.modes[list(idx)], target.mode_std ** 2).sample


def uniform(n, seed):
    return torch.rand(n, 2, generator=torch.Generator().manual_seed(seed)) * 10 - 5


def weighted(target, weights):
    w = torch.tensor(weights, dtype=torch.float32)
    return datasets.GaussianMixture(target.modes, target.mode_std ** 2, w / w.sum()).sample


def with_background(target, share):
    """target's samples, `share` of them replaced by points uniform over its bounds."""
    x0, x1, y0, y1 = target.bounds

    def sample(n, seed):
        g = torch.Generator().manual_seed(seed)
        x, u = target.sample(n, seed=seed), torch.rand(n, 2, generator=g)
        junk = torch.stack([x0 + (x1 - x0) * u[:, 0], y0 + (y1 - y0) * u[:, 1]], 1)
        return torch.where((torch.rand(n, generator=g) < share)[:, None], junk, x)
    return sample


def frozen(n, seed):
    """lr_g = 1e-9: the same samples at every step (a blob where G started)."""
    return torch.randn(n, 2, generator=torch.Generator().manual_seed(0)) * 0.05 + 0.1


CASES = [  # (title, dataset, sampler at step s)
    ("all 8 modes", "ring8", lambda s: RING8.sample),
    ("all 25 modes", "grid25", lambda s: GRID25.sample),
    ("2 of 8 modes", "ring8", lambda s: on_modes(RING8, [0, 4])),
    ("5 of 25 modes", "grid25", lambda s: on_modes(GRID25, [0, 6, 12, 18, 24])),
    ("hopping 0 <-> 4", "ring8", lambda s: on_modes(RING8, [(s // 100) % 2 * 4])),
    ("a blob between 2 modes", "ring8", lambda s: datasets.GaussianMixture(
        ((RING8.modes[0] + RING8.modes[1]) / 2)[None], 0.12 ** 2).sample),
    ("circle through the modes", "ring8", lambda s: datasets.Annulus(2.0, 0.02).sample),
    ("uniform over the grid", "grid25", lambda s: uniform),
    ("modes 3x too wide", "ring8", lambda s: datasets.GaussianMixture(RING8.modes, 0.06 ** 2).sample),
    ("50 % on one mode", "ring8", lambda s: weighted(RING8, [7] + [1] * 7)),
    ("10 % background", "ring8", lambda s: with_background(RING8, 0.1)),
    ("G never moved", "ring8", lambda s: frozen),
]


def main():
    panels = {}
    for i, (title, dataset, at) in enumerate(CASES):
        run = run_of_samples(dataset, {s: at(s)(500, seed=s) for s in range(0, 2001, 100)})
        final = metrics.measure(run.target, at(2000)(2500, seed=12345))
        o = classify(run, final=final)
        print(f"{title}: {o.outcome} ({o.reason})")
        panels.setdefault(" " * (i // 4), []).append((title, o.outcome, run.snapshots[-1].fake[0], run.target))
    fig = charts.samples_figure(panels, cell=2.2, label=lambda seed, outcome: f"{seed}\n{outcome.replace('_', ' ')}")
    out = Path(__file__).parent / "img" / "verdicts.png"
    viz.save_figure(fig, out)
    print("wrote", out)


if __name__ == "__main__":
    main()
