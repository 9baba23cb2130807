"""toylab: a 2D toy-distribution visual lab for generative adversarial networks.

>>> import toylab
>>> run = toylab.train(dataset="ring8", steps=2000)          # doctest: +SKIP
>>> run.sample(1000).shape                                    # doctest: +SKIP
torch.Size([1000, 2])
"""

from . import datasets, games, metrics
from .animation import animate
from .config import ConfigError, TrainConfig, make_config
from .device import resolve_device
from .runs import Run, Snapshot, load_run
from .training import Trainer, resume, train

__version__ = "0.1.0"

__all__ = ["datasets", "games", "metrics", "TrainConfig", "ConfigError", "make_config", "Trainer", "train", "resume",
           "Run", "Snapshot", "load_run", "resolve_device", "animate", "__version__"]
