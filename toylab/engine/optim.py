"""Optimiser rules as pure functions, optax's shape: ``state = init(...)``, then
``steps, state = update(grads, state)`` and ``params - lr * steps``.

The unrolled look-ahead (Metz et al. 2017; toylab.engine.step.Game.look_ahead) takes k of D's
updates as differentiable functions of G's weights: it needs D's rule out of place, on
autograd-tracked tensors, started from the torch optimiser's current moments and leaving them
untouched. The rules below are torch's own (torch.optim.Adam, RMSprop, SGD with momentum;
tests/test_unrolled.py checks them against torch step by step). Training itself steps with
torch's fused optimisers (make_optimizer): the same rules, faster.

    Adam:     m = b1 m + (1-b1) g,  v = b2 v + (1-b2) g^2,  step = m/(1-b1^t) / (sqrt(v/(1-b2^t)) + 1e-8)
    RMSprop:  v = a v + (1-a) g^2,  step = g / (sqrt(v) + 1e-8);  with momentum b = mu b + step, step = b
    SGD:      b = mu b + g (b = g at first),  step = b   (mu = 0: step = g)
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field

import torch

from .config import ConfigError, Optimizer

OPTIMIZERS = typing.get_args(Optimizer)

#: added under the square roots: sqrt's derivative at an exact 0 (a dead ReLU unit's gradient)
#: is infinite and 0 x inf gave NaN in G's gradient; it moves sqrt(v) by <= 1e-15
TINY = 1e-30


def make_optimizer(kind: str, param, lr: float, betas, momentum: float) -> torch.optim.Optimizer:
    """One torch optimiser over a network's single flat parameter; fused kernels where torch has them."""
    fused = {"fused": True} if param.device.type in ("cpu", "cuda") else {}
    if kind == "adam":
        return torch.optim.Adam([param], lr=lr, betas=tuple(betas), **fused)
    if kind == "sgd":
        return torch.optim.SGD([param], lr=lr, momentum=momentum, **fused)
    if kind == "rmsprop":
        return torch.optim.RMSprop([param], lr=lr, momentum=momentum)
    raise ConfigError(f"optimizer: unknown {kind!r}; allowed: {', '.join(OPTIMIZERS)}")


@dataclass
class RuleState:
    """A rule's memory, one tensor per parameter tensor: first and second moments (Adam's m
    and v, RMSprop's v) or SGD's momentum buffer, and the step count t."""
    kind: str
    t: float = 0.0
    first: list | None = None
    second: list | None = None
    hyper: dict = field(default_factory=dict)


def init(kind: str, params: list[torch.Tensor], torch_state: dict, view, hyper: dict) -> RuleState:
    """The rule's state for `params`, taken from a torch optimiser's state for its flat parameter
    (`view` cuts a flat (E, P) state tensor into per-layer tensors like params); zeros where the
    optimiser has not stepped yet. hyper: betas (Adam), alpha (RMSprop), momentum (SGD)."""
    zeros = lambda: [torch.zeros_like(p) for p in params]          # noqa: E731
    get = lambda k: view(torch_state[k]) if torch_state.get(k) is not None else None   # noqa: E731
    if kind == "adam":
        return RuleState(kind, float(torch_state.get("step", 0.0)), get("exp_avg") or zeros(),
                         get("exp_avg_sq") or zeros(), hyper)
    if kind == "rmsprop":
        buf = (get("momentum_buffer") or zeros()) if hyper.get("momentum") else None
        return RuleState(kind, first=buf, second=get("square_avg") or zeros(), hyper=hyper)
    if kind == "sgd":
        return RuleState(kind, first=get("momentum_buffer"), hyper=hyper)
    raise ConfigError(f"optimizer: unknown {kind!r}; allowed: {', '.join(OPTIMIZERS)}")


def update(grads: list[torch.Tensor], s: RuleState) -> tuple[list[torch.Tensor], RuleState]:
    """(steps, new state) for gradients `grads`: out of place, so autograd follows every op."""
    h = s.hyper
    if s.kind == "adam":
        b1, b2 = h["betas"]
        t = s.t + 1
        m = [b1 * a + (1 - b1) * g for a, g in zip(s.first, grads)]
        v = [b2 * a + (1 - b2) * g * g for a, g in zip(s.second, grads)]
        steps = [(a / (1 - b1 ** t)) / ((b / (1 - b2 ** t) + TINY).sqrt() + 1e-8) for a, b in zip(m, v)]
        return steps, RuleState(s.kind, t, m, v, h)
    mu = h.get("momentum", 0.0)
    if s.kind == "rmsprop":
        v = [h["alpha"] * a + (1 - h["alpha"]) * g * g for a, g in zip(s.second, grads)]
        steps = [g / ((b + TINY).sqrt() + 1e-8) for b, g in zip(v, grads)]
        buf = [mu * b + x for b, x in zip(s.first, steps)] if mu else None
        return buf or steps, RuleState(s.kind, s.t + 1, buf, v, h)
    if not mu:
        return list(grads), s
    buf = list(grads) if s.first is None else [mu * b + g for b, g in zip(s.first, grads)]
    return buf, RuleState(s.kind, s.t + 1, buf, None, h)
