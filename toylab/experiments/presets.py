"""Failure-mode presets: one setting of a shipped recipe each, as training-config fields.

The dashboard's one-click presets and `toylab train --preset NAME` read them from the
recipes themselves, so a preset trains exactly what `toylab sweep RECIPE` trains for that
setting (its first seed). How often each shows what it is named for over seeds 0-4 is
measured by benchmarks/bench_presets.py (the table in docs/dashboard.md): at least 4 of 5.
"""

from __future__ import annotations

from dataclasses import dataclass

from .spec import load_experiment


@dataclass(frozen=True)
class Preset:
    label: str          # the button's words
    recipe: str         # a shipped recipe (toylab/experiments/recipes)
    setting: str        # one of its settings' labels
    expect: str         # what to watch for, in a line


PRESETS = {
    "collapse": Preset("Mode collapse", "mode_collapse", "vanilla",
                       "Metz et al.'s setting: the samples gather on one mode and hop between modes"),
    "vanishing": Preset("Vanishing gradient", "vanishing_gradient", "loss=minimax",
                        "a strong D and the saturating loss: G's gradient norm falls towards 0 (losses panel)"),
    "oscillation": Preset("Oscillation", "non_convergence", "simultaneous, Metz et al.'s networks, modes std 0.1",
                          "simultaneous updates: the mass circles the ring from mode to mode and G's loss cycles "
                          "(modes of std 0.1: on ring8's narrow ones the blob passes between them)"),
    "converging": Preset("Converging baseline", "equilibrium", "non-saturating",
                         "one Gaussian: JS -> 0 and D(x) -> 1/2 everywhere (the equilibrium)"),
}


def check_preset(name) -> Preset:
    """The preset called `name`; an unknown name is refused with the allowed ones."""
    if not isinstance(name, str) or name not in PRESETS:
        raise ValueError(f"preset: unknown {name!r}; allowed: {', '.join(PRESETS)}")
    return PRESETS[name]


def preset_fields(name: str) -> dict:
    """TrainConfig fields of preset `name`: its recipe's base, its setting's overrides, the
    recipe's first seed."""

    p = check_preset(name)
    exp = load_experiment(p.recipe)
    settings = dict(exp.settings())
    if p.setting not in settings:        # a recipe edited without its preset: said, not guessed
        raise ValueError(f"preset {name!r}: recipe {p.recipe} has no setting {p.setting!r}; "
                         f"it has {', '.join(settings)}")
    return {**exp.base, **settings[p.setting], "seed": int(exp.seeds[0])}
