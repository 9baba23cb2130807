"""Charts of many runs: curves over rounds, outcome rates per setting, metric bands, and grids of
samples (what experiment reports and the docs show). Drawn with matplotlib, outside pyplot."""

from __future__ import annotations

import numpy as np

from ..measure.outcomes import OUTCOMES
from .looks import get_size, get_theme
from .mpl_figures import DPI, figure_with_axes, new_figure, style

def curves_figure(runs: dict, key: str, *, member: int = 0, log: bool = False, theme="light",
                  size="small", title: str | None = None):
    """One history column of several runs over rounds, one line per run ({label: Run})."""
    import matplotlib

    theme, (w, h) = get_theme(theme), get_size(size)
    colours = [theme.fake, theme.real, theme.d, theme.fg, theme.muted]
    with matplotlib.rc_context(style(theme, min(w / 1280, h / 720) * 1.3)):
        fig = new_figure(figsize=(w / DPI, h / DPI), dpi=DPI, layout="constrained")
        ax = fig.subplots()
        for i, (label, run) in enumerate(runs.items()):
            hist = run.member_history(member)
            if key not in hist:
                raise ValueError(f"key: {key!r} is not recorded; recorded: {', '.join(hist)}")
            y = np.asarray(hist[key], dtype=float)
            ok = np.isfinite(y)
            ax.plot(hist["step"][ok], y[ok], color=colours[i % len(colours)], label=label)
        if log:
            ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_title(title or key)
        ax.grid(True, color=theme.muted, alpha=0.3)
        ax.legend(frameon=False)
    return fig


#: one colour per outcome, the same in every experiment plot
OUTCOME_COLOURS = {"converged": "#009E73", "mode_collapse": "#D55E00", "not_converged": "#E69F00",
                   "oscillating": "#CC79A7", "vanishing_gradient": "#0072B2", "diverged": "#000000",
                   "stalled": "#BBBBBB"}


def outcome_figure(rates: dict, theme="light", title: str = "outcome rates"):
    """Stacked bars: the share of each outcome per setting ({setting: {outcome: (k, n)}})."""
    import matplotlib

    theme = get_theme(theme)
    settings = list(rates)
    with matplotlib.rc_context(style(theme, 0.9)):
        fig, ax = figure_with_axes(figsize=(max(6.0, 1.1 * len(settings) + 3), 4.8), dpi=DPI, layout="constrained")
        bottom = np.zeros(len(settings))
        for o in OUTCOMES:
            colour = OUTCOME_COLOURS[o]
            share = np.array([rates[s][o][0] / max(rates[s][o][1], 1) for s in settings])
            if share.any():
                ax.bar(range(len(settings)), share, bottom=bottom, color=colour, label=o.replace("_", " "),
                       edgecolor=theme.bg, linewidth=0.8)
                bottom += share
        ax.set_xticks(range(len(settings)), settings, rotation=25, ha="right")
        ax.set_ylim(0, 1)
        ax.set_ylabel("share of seeds")
        ax.set_title(title)
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    return fig


def band_figure(bands: dict, theme="light"):
    """Metric curves per setting: median over seeds with the 25-75 % band ({key: {setting: (steps, (S, T))}})."""
    import matplotlib

    theme = get_theme(theme)
    keys = [k for k in bands if bands[k]]
    titles = {"js": "JS divergence (nats)", "modes_captured": "modes captured", "modes_present": "modes present",
              "g_grad_norm": "G gradient norm"}
    palette = ["#D55E00", "#0072B2", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#999999"]
    with matplotlib.rc_context(style(theme, 0.85)):
        fig, axes = figure_with_axes(1, max(len(keys), 1), figsize=(5.2 * max(len(keys), 1), 4.2), dpi=DPI,
                                 layout="constrained", squeeze=False)
        for ax, k in zip(axes[0], keys):
            for i, (setting, (steps, vals)) in enumerate(bands[k].items()):
                c = palette[i % len(palette)]
                lo, med, hi = np.nanpercentile(vals, [25, 50, 75], axis=0)
                ax.plot(steps, med, color=c, label=setting, ls=("-", "--", ":")[i // len(palette) % 3],
                        drawstyle="steps-post" if k.startswith("modes") else None)
                ax.fill_between(steps, lo, hi, color=c, alpha=0.18, linewidth=0,
                                step="post" if k.startswith("modes") else None)
            if k == "g_grad_norm":
                ax.set_yscale("log")
            ax.set_title(titles.get(k, k))
            ax.set_xlabel("step")
            ax.grid(True, color=theme.muted, alpha=0.3)
        if keys:
            axes[0][-1].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    return fig


def samples_figure(per_setting: dict, theme="light", cell: float = 1.6, label=None):
    """A grid of final samples: one row per setting, one panel per seed, titled with the
    run's outcome in its colour, over the target's mode centres
    ({setting: [(seed, outcome, samples, target)]}, as experiments.final_samples gives).
    label(seed, outcome) -> a panel's title (default 'seed S: outcome')."""
    import matplotlib

    theme = get_theme(theme)
    settings = list(per_setting)
    cols = max((len(v) for v in per_setting.values()), default=1)
    with matplotlib.rc_context(style(theme, 0.6)):
        fig, axes = figure_with_axes(len(settings), cols, figsize=(cell * cols + 1.8, cell * len(settings) + 0.3),
                                 dpi=DPI, squeeze=False, layout="constrained")
        for i, s in enumerate(settings):
            for j, ax in enumerate(axes[i]):
                ax.set_xticks([])
                ax.set_yticks([])
                if j >= len(per_setting[s]):
                    ax.axis("off")
                    continue
                seed, outcome, x, target = per_setting[s][j]
                x0, x1, y0, y1 = target.bounds
                if target.modes is not None:
                    m = target.modes.numpy()
                    ax.scatter(m[:, 0], m[:, 1], s=14, facecolors="none", edgecolors=theme.muted, linewidths=0.6)
                x = np.asarray(x)
                ax.scatter(x[:, 0], x[:, 1], s=1.5, color=theme.fake, alpha=0.6, linewidths=0)
                ax.set_xlim(x0, x1)
                ax.set_ylim(y0, y1)
                ax.set_aspect("equal")
                text = label(seed, outcome) if label else f"seed {seed}: {outcome.replace('_', ' ')}"
                ax.set_title(text, color=OUTCOME_COLOURS.get(outcome, theme.fg),
                             fontsize=7)
                if j == 0:
                    ax.set_ylabel(s, fontsize=7)
    return fig
