"""toylab: a 2D toy-distribution visual lab for generative adversarial networks.

>>> import toylab
>>> run = toylab.train(dataset="ring8", steps=2000)          # doctest: +SKIP
>>> run.sample(1000).shape                                    # doctest: +SKIP
torch.Size([1000, 2])

The names below are imported on first use (PEP 562), so that `import toylab.cli` or a
sweep's worker process starts without loading torch first: a worker watches for its
parent's death from its first moments (toylab.experiments).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

#: public name -> the submodule that defines it
_NAMES = {"datasets": None, "games": None, "metrics": None, "animate": "animation", "ConfigError": "config",
          "TrainConfig": "config", "make_config": "config", "resolve_device": "device", "Run": "runs",
          "Snapshot": "runs", "load_run": "runs", "Trainer": "training", "resume": "training",
          "train": "training"}

__all__ = ["datasets", "games", "metrics", "TrainConfig", "ConfigError", "make_config", "Trainer", "train", "resume",
           "Run", "Snapshot", "load_run", "resolve_device", "animate", "__version__"]


def __getattr__(name: str):
    if name in _NAMES and _NAMES[name] is not None:
        value = getattr(importlib.import_module(f".{_NAMES[name]}", __name__), name)
    else:
        try:
            value = importlib.import_module(f".{name}", __name__)       # toylab.metrics, toylab.runs, ...
        except ModuleNotFoundError as err:
            if err.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_NAMES))


if TYPE_CHECKING:       # for editors and type checkers
    from . import datasets, games, metrics  # noqa: F401
    from .animation import animate  # noqa: F401
    from .config import ConfigError, TrainConfig, make_config  # noqa: F401
    from .device import resolve_device  # noqa: F401
    from .runs import Run, Snapshot, load_run  # noqa: F401
    from .training import Trainer, resume, train  # noqa: F401
