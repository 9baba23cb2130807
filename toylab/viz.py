"""Matplotlib panels drawn from a run's snapshots (no training or metrics here).

One palette everywhere: real data in blue, generated samples in vermillion
(Okabe-Ito colours, distinguishable by colour-blind viewers and on projectors).
"""

from __future__ import annotations

import numpy as np

from .losses import PROBABILISTIC

REAL = "#0072B2"   # Okabe-Ito blue
FAKE = "#D55E00"   # Okabe-Ito vermillion
DENSITY_CMAP = "Blues"
MODEL_CMAP = "Oranges"
D_CMAP = "RdBu"    # red (fake side) .. blue (real side), centred on the decision level


def d_field(d_raw: np.ndarray, loss: str):
    """D's output made readable: (values, decision level, label).

    For BCE objectives D(x) = sigmoid(logit), decided at 1/2 (the Nash value).
    LSGAN's targets are 0 and 1, decided at 1/2; a Wasserstein or hinge critic at 0.
    """
    if loss in PROBABILISTIC:
        return 1 / (1 + np.exp(-d_raw)), 0.5, "D(x)"
    if loss == "lsgan":
        return d_raw, 0.5, "D(x) (least squares)"
    return d_raw, 0.0, "critic f(x)"


def _extent(bounds):
    x0, x1, y0, y1 = bounds
    return (x0, x1, y0, y1)


def draw_p_data(ax, target, size: int = 200, real: np.ndarray | None = None):
    """The exact target density p_data with (optional) real samples on top."""
    xs, ys, p = target.density_grid(size)
    ax.imshow(p.numpy(), origin="lower", extent=_extent(target.bounds), cmap=DENSITY_CMAP, aspect="equal",
              interpolation="bilinear")
    if real is not None:
        ax.scatter(real[:, 0], real[:, 1], s=4, c=REAL, alpha=0.5, linewidths=0)
    ax.set_title("p_data (exact)")
    _frame(ax, target.bounds)


def draw_p_model(ax, fake: np.ndarray, bounds, bins: int = 80):
    """The generator's samples and their histogram density."""
    x0, x1, y0, y1 = bounds
    h, _, _ = np.histogram2d(fake[:, 1], fake[:, 0], bins=bins, range=[[y0, y1], [x0, x1]], density=True)
    ax.imshow(h, origin="lower", extent=_extent(bounds), cmap=MODEL_CMAP, aspect="equal", interpolation="bilinear")
    ax.scatter(fake[:, 0], fake[:, 1], s=4, c=FAKE, alpha=0.5, linewidths=0)
    ax.set_title("p_model (samples)")
    _frame(ax, bounds)


def draw_discriminator(ax, d_raw: np.ndarray, bounds, loss: str, fake: np.ndarray | None = None):
    """D(x) as a heatmap with its decision contour (D = 1/2 for BCE)."""
    vals, level, label = d_field(d_raw, loss)
    if loss in PROBABILISTIC:
        vmin, vmax = 0.0, 1.0
    else:
        span = float(np.nanmax(np.abs(vals - level))) or 1.0
        vmin, vmax = level - span, level + span
    im = ax.imshow(vals, origin="lower", extent=_extent(bounds), cmap=D_CMAP, vmin=vmin, vmax=vmax,
                   aspect="equal", interpolation="bilinear")
    x0, x1, y0, y1 = bounds
    xs, ys = np.linspace(x0, x1, vals.shape[1]), np.linspace(y0, y1, vals.shape[0])
    if np.nanmin(vals) < level < np.nanmax(vals):
        ax.contour(xs, ys, vals, levels=[level], colors="k", linewidths=1.2)
    if fake is not None:
        ax.scatter(fake[:, 0], fake[:, 1], s=3, c=FAKE, alpha=0.4, linewidths=0)
    ax.set_title(f"{label}, contour at {level:g}")
    _frame(ax, bounds)
    return im


def draw_losses(ax, history: dict, member: int = 0):
    """D and G losses over training rounds."""
    m = history["member"] == member if "member" in history else slice(None)
    ax.plot(history["step"][m], history["d_loss"][m], color=REAL, label="D loss")
    ax.plot(history["step"][m], history["g_loss"][m], color=FAKE, label="G loss")
    ax.set_xlabel("round")
    ax.set_title("losses")
    ax.legend(loc="best", frameon=False)


def _frame(ax, bounds):
    x0, x1, y0, y1 = bounds
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_xticks([])
    ax.set_yticks([])


def summary_figure(run, member: int = 0, snapshot=None, real_n: int = 1000):
    """Four panels for one snapshot (default: the last): p_data, p_model, D(x), losses."""
    import matplotlib.pyplot as plt

    snap = snapshot if snapshot is not None else run.snapshots[-1]
    target = run.target
    real = target.sample(real_n, seed=0).numpy()
    fig, axes = plt.subplots(1, 4, figsize=(16, 4.2), constrained_layout=True)
    draw_p_data(axes[0], target, real=real)
    draw_p_model(axes[1], snap.fake[member], target.bounds)
    im = draw_discriminator(axes[2], snap.d_grid[member], target.bounds, run.config.loss)
    fig.colorbar(im, ax=axes[2], shrink=0.8)
    draw_losses(axes[3], run.history, member)
    fig.suptitle(f"{run.config.dataset} - {run.config.loss} GAN - round {snap.step} - {run.status}")
    return fig


def save_figure(fig, out) -> None:
    """Save a figure (format from the suffix) atomically and close it."""
    import matplotlib.pyplot as plt
    from .runs import _atomic
    from pathlib import Path

    out = Path(out)
    fmt = out.suffix.lstrip(".") or "png"
    _atomic(out, lambda f: fig.savefig(f, format=fmt, dpi=120))
    plt.close(fig)
