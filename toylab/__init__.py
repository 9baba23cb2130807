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

#: public name -> the module that defines it (toylab.<package>.<module>)
_NAMES = {"animate": "pictures.animation", "ConfigError": "engine.config", "TrainConfig": "engine.config",
          "make_config": "engine.config", "resolve_device": "engine.device", "Run": "engine.runs",
          "Snapshot": "engine.runs", "load_run": "engine.runs", "Trainer": "engine.training",
          "Pool": "engine.pool", "train": "api", "resume": "api", "run_of_samples": "api"}

#: short names of the modules users reach for: `from toylab import datasets, metrics, viz`
MODULES = {"datasets": "engine.datasets", "config": "engine.config", "losses": "engine.losses",
           "nets": "engine.nets", "runs": "engine.runs", "training": "engine.training", "model": "engine.model",
           "threads": "engine.threads", "kde": "measure.kde", "modes": "measure.modes",
           "metrics": "measure.metrics", "outcomes": "measure.outcomes", "games": "games",
           "panels": "pictures.panels", "figures": "pictures.plotly_figures", "viz": "pictures.mpl_figures", "charts": "pictures.charts",
           "gameviz": "pictures.gameviz", "export": "pictures.export", "animation": "pictures.animation",
           "experiments": "experiments"}

__all__ = ["datasets", "games", "metrics", "TrainConfig", "ConfigError", "make_config", "Trainer", "train", "resume",
           "Run", "Snapshot", "load_run", "resolve_device", "animate", "Pool", "run_of_samples", "__version__"]


def __getattr__(name: str):
    if name in _NAMES:
        value = getattr(importlib.import_module(f".{_NAMES[name]}", __name__), name)
    elif name in MODULES:
        value = importlib.import_module(f".{MODULES[name]}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_NAMES) | set(MODULES))


if TYPE_CHECKING:       # for editors and type checkers
    from . import games  # noqa: F401
    from .api import resume, run_of_samples, train  # noqa: F401
    from .engine import datasets  # noqa: F401
    from .engine.config import ConfigError, TrainConfig, make_config  # noqa: F401
    from .engine.device import resolve_device  # noqa: F401
    from .engine.runs import Run, Snapshot, load_run  # noqa: F401
    from .engine.training import Trainer  # noqa: F401
    from .measure import metrics  # noqa: F401
    from .pictures.animation import animate  # noqa: F401
