"""GameConfig: the settings of gradient methods on a game, checked at the boundary.

The one check behind `games.trajectory`, `linearise`, the CLI's `toylab xy` and the
dashboard's xy tab: unknown fields are refused (a typo in an option is not silently
ignored), and every error names its field and what is allowed.

>>> GameConfig(lr=0.1, r1_gamma=-1)
Traceback (most recent call last):
ValueError: r1_gamma: must be a finite number in [0, 1000] (got -1)
"""

from __future__ import annotations

import math
import typing
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from .methods import MOVES

GAMES = ("xy", "dirac")
DIRAC_LOSSES = ("standard", "nonsaturating", "wasserstein")
#: the most steps of one trajectory (a figure draws them all; an animation draws one frame each)
MAX_STEPS = 100_000
#: allowed step sizes: (0, MAX_LR]
MAX_LR = 10.0
#: the update methods: those GAN training shares (toylab.games.methods), then the plane's own
#: (toylab.games.plane.METHODS holds their maps, in this order)
METHOD_NAMES = (*MOVES, "consensus", "momentum")
#: momentum's update orders
ORDERS = ("simultaneous", "alternating")
#: the game's options (the rest of GameConfig's options are the methods')
GAME_OPTIONS = ("a", "loss", "r1_gamma", "noise")
METHOD_OPTIONS = ("gamma", "beta", "order", "d_steps")
#: number fields -> (kind, low, high): real [low, high], open (low, high), int [low, high]
RANGES = {"a": ("real", -100.0, 100.0), "r1_gamma": ("real", 0.0, 1e3), "noise": ("real", 0.0, 100.0),
          "gamma": ("real", 0.0, 100.0), "beta": ("open", -1.0, 1.0), "d_steps": ("int", 1, 100),
          "steps": ("int", 0, MAX_STEPS)}


def _finite(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and math.isfinite(v)


def _in_range(name: str, v):
    kind, lo, hi = RANGES[name]
    if kind == "int":
        ok, allowed = _finite(v) and v == int(v) and lo <= v <= hi, f"a whole number from {lo:,} to {hi:,}"
    elif kind == "open":
        ok, allowed = _finite(v) and lo < v < hi, f"a finite number in ({lo:g}, {hi:g})"
    else:
        ok, allowed = _finite(v) and lo <= v <= hi, f"a finite number in [{lo:g}, {hi:g}]"
    if not ok:
        raise ValueError(f"must be {allowed} (got {v!r})")
    return int(v) if kind == "int" else float(v)


class GameConfig(BaseModel):
    """Methods on a game: step sizes (lr for x, lr_y for y, default lr), steps, the start, the
    game's options (a; Dirac-GAN's loss, r1_gamma, noise) and the methods' (gamma, beta,
    order, d_steps)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    methods: tuple[str, ...] = ("simultaneous", "alternating", "extragradient")
    game: Literal[GAMES] = "xy"
    lr: float = 0.1
    lr_y: float | None = None
    steps: int = 300
    start: tuple[float, float] = (1.0, 1.0)
    a: float = 1.0
    loss: Literal[DIRAC_LOSSES] = "standard"
    r1_gamma: float = 0.0
    noise: float = 0.0
    gamma: float = 1.0
    beta: float = 0.5
    order: Literal[ORDERS] = "simultaneous"
    d_steps: int = 1

    def __init__(self, **fields):
        try:
            super().__init__(**fields)
        except ValidationError as err:
            raise ValueError(_message(err, fields)) from None

    @field_validator("lr", "lr_y", mode="before")
    @classmethod
    def _step_size(cls, v, info):
        if v is None and info.field_name == "lr_y":
            return v
        if not _finite(v) or not 0 < v <= MAX_LR:
            raise ValueError(f"must be a step size in (0, {MAX_LR:g}] (got {v!r})")
        return float(v)

    @field_validator(*RANGES, mode="before")
    @classmethod
    def _ranges(cls, v, info):
        return _in_range(info.field_name, v)

    @field_validator("start", mode="before")
    @classmethod
    def _start(cls, v):
        try:
            x, y = (float(c) for c in v)
        except (TypeError, ValueError):
            raise ValueError(f"must be two numbers x, y (got {v!r})") from None
        if not all(math.isfinite(c) and abs(c) <= 1000 for c in (x, y)):
            raise ValueError(f"both coordinates must be finite numbers in [-1000, 1000] (got {v!r})")
        return x, y

    @field_validator("methods", mode="before")
    @classmethod
    def _methods(cls, v):
        if isinstance(v, str):
            names = [m.strip() for m in v.split(",") if m.strip()]
        elif v is None or isinstance(v, (list, tuple)):
            names = list(v or ())
        else:                     # a number, a bool, a mapping: not a list of names (was a TypeError)
            raise ValueError(f"must be a list of method names; allowed: {', '.join(METHOD_NAMES)} "
                             f"(got a {type(v).__name__})")
        if not names:
            raise ValueError(f"give at least one of {', '.join(METHOD_NAMES)}")
        bad = [m for m in names if not isinstance(m, str) or m not in METHOD_NAMES]
        if bad:
            raise ValueError(f"{repr(bad[0])[:60]}; allowed: {', '.join(METHOD_NAMES)}")
        if len(set(names)) != len(names):
            raise ValueError(f"each method once (got {', '.join(names)})")
        return tuple(names)

    @property
    def options(self) -> dict:
        """The game's and the methods' options, as trajectory() and linearise() take them."""
        return {k: getattr(self, k) for k in (*GAME_OPTIONS, *METHOD_OPTIONS)}

    @property
    def game_options(self) -> dict:
        return {k: getattr(self, k) for k in GAME_OPTIONS}


def _message(err: ValidationError, fields: dict) -> str:
    """The first error as 'field: what is allowed (got value)'."""
    e = err.errors()[0]
    name = str(e["loc"][0]) if e["loc"] else "game"
    if e["type"] == "extra_forbidden":
        allowed = [k for k in GameConfig.model_fields if k not in ("methods", "game", "lr", "lr_y", "steps", "start")]
        return f"{name}: unknown option; allowed: {', '.join(allowed)}"
    if e["type"] == "literal_error":
        allowed = typing.get_args(GameConfig.model_fields[name].annotation)
        return f"{name}: {fields.get(name)!r}; allowed: {', '.join(allowed)}"
    msg = e["msg"].removeprefix("Value error, ")
    return f"{name}: {msg}"
