"""GAN objectives computed from D's raw output (a logit, or a critic value).

With D(x) = sigmoid(l(x)) and softplus(t) = log(1 + e^t):
  -log D = softplus(-l),   -log(1 - D) = softplus(l)
so BCE(D(x), 1) = softplus(-l(x)) and BCE(D(G(z)), 0) = softplus(l(G(z))).

Every function returns one loss per ensemble member, shape (E,): inputs are
(E, n, 1) outputs, averaged over the batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .config import OBJECTIVES, PROBABILISTIC  # noqa: F401  (losses.PROBABILISTIC)

LOSSES = tuple(OBJECTIVES)


def _mean(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(t.shape[0], -1).mean(1)


def d_loss(loss: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Discriminator loss per member.

    nonsaturating / minimax: BCE(D(x), 1) + BCE(D(G(z)), 0)   (Goodfellow et al. 2014)
    lsgan: 1/2 (l(x) - 1)^2 + 1/2 l(G(z))^2                   (Mao et al. 2017)
    wgan, wgan-gp: E l(G(z)) - E l(x)                          (Arjovsky et al. 2017)
    hinge: relu(1 - l(x)) + relu(1 + l(G(z)))                  (Lim & Ye 2017)
    """
    if loss in PROBABILISTIC:
        return _mean(F.softplus(-real)) + _mean(F.softplus(fake))
    if loss == "lsgan":
        return 0.5 * _mean((real - 1) ** 2) + 0.5 * _mean(fake ** 2)
    if loss in ("wgan", "wgan-gp"):
        return _mean(fake) - _mean(real)
    if loss == "hinge":
        return _mean(F.relu(1 - real)) + _mean(F.relu(1 + fake))
    raise ValueError(f"loss: unknown {loss!r}; allowed: {', '.join(LOSSES)}")


def g_loss(loss: str, fake: torch.Tensor) -> torch.Tensor:
    """Generator loss per member.

    minimax (saturating): E log(1 - D(G(z))) = -E softplus(l)  -- vanishes when D rejects fakes
    nonsaturating:        -E log D(G(z))     =  E softplus(-l)
    lsgan: 1/2 (l - 1)^2;   wgan, wgan-gp, hinge: -E l(G(z))
    """
    if loss == "minimax":
        return -_mean(F.softplus(fake))
    if loss == "nonsaturating":
        return _mean(F.softplus(-fake))
    if loss == "lsgan":
        return 0.5 * _mean((fake - 1) ** 2)
    if loss in ("wgan", "wgan-gp", "hinge"):
        return -_mean(fake)
    raise ValueError(f"loss: unknown {loss!r}; allowed: {', '.join(LOSSES)}")


def per_member(fn, kinds: list[str], *outs: torch.Tensor) -> torch.Tensor:
    """fn(kind, *outs) per member when members have their own objectives: kinds[i] is member
    i's (a pool of live ensembles mixes them); each kind is computed on its own members' rows
    and the (E,) losses are put back in member order. One call when all members share one."""
    if len(set(kinds)) == 1:
        return fn(kinds[0], *outs)
    order, parts = [], []
    for kind in dict.fromkeys(kinds):
        rows = [i for i, k in enumerate(kinds) if k == kind]
        index = torch.tensor(rows, device=outs[0].device)
        parts.append(fn(kind, *(o.index_select(0, index) for o in outs)))
        order += rows
    back = torch.empty(len(order), dtype=torch.long)
    back[torch.tensor(order)] = torch.arange(len(order))
    return torch.cat(parts).index_select(0, back.to(outs[0].device))


def input_gradient(d, x: torch.Tensor, create_graph: bool = True) -> torch.Tensor:
    """grad_x of sum D(x), shape of x; D is a callable (E, n, 2) -> (E, n, 1)."""
    x = x.detach().requires_grad_(True)
    out = d(x)
    (g,) = torch.autograd.grad(out.sum(), x, create_graph=create_graph)
    return g


def gradient_penalty(d, real: torch.Tensor, fake: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """WGAN-GP: E[(||grad D(x_hat)|| - 1)^2] at x_hat = eps real + (1 - eps) fake, eps ~ U[0, 1]
    (E, n, 1) given by the caller so it comes from the member's own stream (Gulrajani et al. 2017)."""
    x_hat = eps * real + (1 - eps) * fake.detach()
    g = input_gradient(d, x_hat)
    return _mean((g.norm(dim=-1) - 1) ** 2)


def r1_penalty(d, real: torch.Tensor) -> torch.Tensor:
    """Zero-centred R1: 1/2 E_p ||grad D(x)||^2 (Mescheder et al. 2018); multiply by gamma."""
    g = input_gradient(d, real)
    return 0.5 * _mean(g.pow(2).sum(-1))
