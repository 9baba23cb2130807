"""Two-player games in the plane and the gradient methods that play them.

`games.trajectory`, `spectral_radius`, `linearise`, `flow`, the fields and the methods' state
maps live in `plane` (torch), loaded on first use; `config` (GameConfig, the names and
ranges) and `methods` (the update methods, over the Players protocol) import without torch,
so that the engine's TrainConfig and the command line read them at once.
"""

import importlib

from .config import DIRAC_LOSSES, GAMES, MAX_LR, MAX_STEPS, METHOD_NAMES, GameConfig  # noqa: F401


def __getattr__(name: str):
    """games.<name> for the names of `plane` (imported on first use: it needs torch)."""
    plane = importlib.import_module(f"{__name__}.plane")
    try:
        return getattr(plane, name)
    except AttributeError:
        raise AttributeError(f"module 'toylab.games' has no attribute {name!r}") from None
