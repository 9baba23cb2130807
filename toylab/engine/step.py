"""One round of the GAN game: the players' updates, for E members at once.

`Game` holds what a round changes — the networks' weights (toylab.engine.model.Networks),
the two optimisers and the seeded noise and data streams — and nothing that records: the
Trainer (toylab.engine.training) calls `round()` and keeps the history, snapshots and files.

A round is one move of the config's update method, run by the very functions that play the
xy game (toylab.games.methods): the Game is their `Players` — `grad` (the players' gradients
on fresh batches), `step` (their optimisers' steps), `point` / `place`. Alternating: d_steps
D updates then g_steps G updates; simultaneous, optimistic, extragradient: both players at
once. With `unrolled_steps = k` G's loss looks through k differentiable updates of D by D's
own optimiser rule (Metz et al. 2017).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..games import methods
from . import losses, optim, streams
from .checkpoint import to_device
from .config import TrainConfig
from .model import MAXOUT_LAYOUT, Networks
from .nets import BatchedMLP

CHUNK = 32            # batches drawn per refill of a noise/data buffer
#: floats of a chunk's widest activation on the CPU (members x 2 batch x the widest layer: 4 MB)
CPU_FLOATS = 2 ** 20
#: what a round records per member, in this order
HISTORY = ("d_loss", "g_loss", "d_grad_norm", "g_grad_norm")


class Game:
    """The players of E GANs: networks, optimisers and random streams, and one round's updates."""

    def __init__(self, configs: list[TrainConfig], nets: Networks, seeds: list[int]):
        self.configs, self.cfg, self.E = configs, configs[0], len(configs)
        cfg = self.cfg
        self.losses = [c.loss for c in configs]
        self.nets = nets
        self.device, self.target, self.K, self.pack = nets.device, nets.target, nets.K, nets.pack
        self.gen, self.disc = nets.gen, nets.disc
        self.G, self.D, self.Dt = nets.G, nets.D, nets.Dt          # the networks as functions
        self.lr_d = self._member_lr([c.lr_d for c in configs])
        self.lr_g = self._member_lr([c.lr_g for c in configs])
        self.opt_d = optim.make_optimizer(cfg.d_optimizer, self.disc.flat, 1.0 if torch.is_tensor(self.lr_d) else self.lr_d,
                                    cfg.betas, cfg.momentum)
        self.opt_g = optim.make_optimizer(cfg.g_optimizer, self.gen.flat, 1.0 if torch.is_tensor(self.lr_g) else self.lr_g,
                                    cfg.betas, cfg.momentum)
        self.batches = streams.Batches(cfg, self.target, self.K, seeds, self.device, CHUNK)
        self.chunks = self._member_chunks()
        self._last = {k: torch.full((self.E,), math.nan, device=self.device) for k in HISTORY}
        self.memory: torch.Tensor | None = None     # a method's memory (optimistic: its last move, as point())
        self._grad_buffers: dict[int, torch.Tensor] = {}

    # ---- state ---------------------------------------------------------------
    def state_dict(self) -> dict:
        """Weights, optimiser moments and random streams (a checkpoint's body)."""
        return {"gen": self.gen.state_dict(), "disc": self.disc.state_dict(), "maxout_layout": MAXOUT_LAYOUT,
                "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
                **self.batches.state_dict(),
                **({"memory": self.memory} if self.memory is not None else {})}

    def load_state(self, state: dict) -> None:
        state = self.nets.upgrade(state)
        self.nets.load_weights(state)
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.batches.load_state_dict(to_device({k: state[k] for k in ("noise", "data")}, self.device))
        memory = state.get("memory")
        if isinstance(memory, list):         # written before the methods had one home: [dD, dG]
            memory = torch.cat(memory, 1)
        self.memory = None if memory is None else to_device(memory, self.device)

    def finite_members(self) -> np.ndarray:
        """(E,) bool: the member's weights and optimiser moments are all finite."""
        ok = torch.isfinite(self.gen.flat).all(1) & torch.isfinite(self.disc.flat).all(1)
        if self.memory is not None:
            ok &= torch.isfinite(self.memory).all(1)
        for opt in (self.opt_g, self.opt_d):
            for st in opt.state.values():
                for v in st.values():
                    if torch.is_tensor(v) and v.dim() == 2 and v.shape[0] == self.E:
                        ok &= torch.isfinite(v).all(1)
        return ok.cpu().numpy()

    def use(self, configs: list[TrainConfig]) -> None:
        """Carry on with changed live fields (learning rates, steps, objective): weights,
        optimiser moments and streams stay."""
        self.configs, self.cfg = configs, configs[0]
        self.losses = [c.loss for c in configs]
        for name, opt in (("lr_d", self.opt_d), ("lr_g", self.opt_g)):
            lr = self._member_lr([getattr(c, name) for c in configs])
            setattr(self, name, lr)
            for group in opt.param_groups:
                group["lr"] = 1.0 if torch.is_tensor(lr) else lr

    def _member_lr(self, values):
        """A float when every member shares it, else a (E, 1) tensor applied by scaling the step."""
        if len(set(values)) == 1:
            return values[0]
        return torch.tensor(values, dtype=torch.float32, device=self.device)[:, None]

    def _member_chunks(self) -> list[slice]:
        """Members evaluated together. On the CPU a chunk's widest activation (members x real and
        fake rows x the widest layer, maxout pieces counted) holds about CPU_FLOATS floats, so
        that activations stay near the cache: 30 default members (2 x 128) go in chunks of 16, 10
        of PacGAN's (D's 200 units x 5 pieces, batch 100) in chunks of 5, which ran ~15 %
        faster than all 10 at once. On a GPU all members go in one call."""
        if self.device.type != "cpu":
            return [slice(0, self.E)]
        cfg = self.cfg
        width = max(cfg.g_hidden, cfg.d_hidden * cfg.d_maxout)
        size = max(1, CPU_FLOATS // (2 * cfg.batch_size * cfg.pack * width))
        return [slice(i, min(i + size, self.E)) for i in range(0, self.E, size)]

    def _grads(self, fn, nets) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Gradients of per-member objectives, member chunk by member chunk.

        fn(members, *params) -> (objectives, records): objective i (E',) is differentiated
        w.r.t. params i, the layer leaves of nets[i] for those members (BatchedMLP.params).
        Returns ([flat grad (E, P)] per net, [record (E,)] on the device).
        """
        whole = len(self.chunks) == 1
        grads = [self._grad_buffer(n) for n in nets]
        recs_out = None
        for m in self.chunks:
            params = [n.params(m, requires_grad=True) for n in nets]
            objs, recs = fn(m, *params)
            for i, (o, p) in enumerate(zip(objs, params)):
                leaves = [t for layer in p for t in layer]
                BatchedMLP.flat_grad(torch.autograd.grad(o.sum(), leaves, retain_graph=i < len(objs) - 1),
                                     o.shape[0], out=grads[i][m])
            if whole:
                return grads, [r.detach() for r in recs]
            if recs_out is None:
                recs_out = [torch.empty(self.E, device=self.device) for _ in recs]
            for buf, r in zip(recs_out, recs):
                buf[m] = r.detach()
        return grads, recs_out

    def _grad_buffer(self, net) -> torch.Tensor:
        """The gradient buffer of `net`, (E, P), reused every round: a gradient is consumed (its
        optimiser step, its norm) before the next one of the same network is taken, in every
        method of toylab.games.methods."""
        buf = self._grad_buffers.get(id(net))
        if buf is None or buf.shape != net.flat.shape:
            buf = self._grad_buffers[id(net)] = torch.empty_like(net.flat, requires_grad=False)
        return buf

    # ---- updates -----------------------------------------------------------
    def _apply(self, opt, param, grad, lr):
        """One optimiser step; a per-member lr scales each member's step (exact for Adam/SGD/RMSprop)."""
        param.grad = grad
        if torch.is_tensor(lr):
            before = param.detach().clone()
            opt.step()
            with torch.no_grad():
                param.copy_(torch.lerp(before, param, lr))
        else:
            opt.step()
        if param is self.disc.flat and self.cfg.loss == "wgan":
            with torch.no_grad():
                param.clamp_(-self.cfg.clip, self.cfg.clip)     # weight clipping (Arjovsky et al.)

    def _kinds(self, members: slice) -> list[str]:
        """The objectives of these members (one each: a pool's members may differ)."""
        return self.losses[members]

    def _d_objective(self, d, x, fake, eps, labels, members: slice):
        """(loss, loss + penalties) per member; d(v) evaluates D on points v with `labels`."""
        cfg = self.cfg
        n = x.shape[1] // self.pack
        out = d(torch.cat([x, fake], 1), None if labels is None else torch.cat(labels, 1))
        loss = losses.per_member(losses.d_loss, self._kinds(members), out[:, :n], out[:, n:])
        total = loss
        d_real = lambda v: d(v, None if labels is None else labels[0])    # noqa: E731  (penalties: real labels)
        if cfg.loss == "wgan-gp":
            total = total + cfg.gp_lambda * losses.gradient_penalty(d_real, x, fake, eps)
        if cfg.r1_gamma > 0:
            total = total + cfg.r1_gamma * losses.r1_penalty(d_real, x)
        return loss, total, out[:, n:]

    @staticmethod
    def _pick(t, m):
        return None if t is None else t[m]

    def _labels(self, xl, zl, m):
        return None if not self.K else (xl[m], zl[m])

    # ---- the players, as toylab.games.methods moves them ---------------------------
    def grad(self, who: str = "xy"):
        """The field at the current weights, on fresh batches: D's gradient ("y"), G's ("x",
        through k look-ahead updates of D when unrolled), or both players' on one batch
        ("xy": a tuple). Records the losses they were taken at. The tensors are the Game's
        gradient buffers, valid until its next grad() (every method consumes a gradient first)."""
        if who == "y":
            return self._d_grad()
        if who == "x":
            return self._g_grad()
        return self._joint_grads()

    def step(self, g, who: str = "xy") -> None:
        """The players' optimiser steps for g; records the gradients' norms."""
        gd, gg = g if who == "xy" else ((g, None) if who == "y" else (None, g))
        if gd is not None:
            self._apply(self.opt_d, self.disc.flat, gd, self.lr_d)
            self._last["d_grad_norm"] = gd.norm(dim=1)
        if gg is not None:
            self._apply(self.opt_g, self.gen.flat, gg, self.lr_g)
            self._last["g_grad_norm"] = gg.norm(dim=1)

    def point(self) -> torch.Tensor:
        """Both players' weights, (E, P_D + P_G): a copy."""
        return torch.cat([self.disc.flat.detach(), self.gen.flat.detach()], 1)

    def place(self, z: torch.Tensor) -> None:
        with torch.no_grad():
            self.disc.flat.copy_(z[:, :self.disc.flat.shape[1]])
            self.gen.flat.copy_(z[:, self.disc.flat.shape[1]:])

    def _d_grad(self):
        x, eps, xl = self.batches.real()
        z, zl = self.batches.fake_input()

        def objective(m, pd):
            with torch.no_grad():
                fake = self.G(z[m], self._pick(zl, m), self.gen.params(m), m)
            d = lambda v, lab: self.Dt(v, lab, pd, m)      # noqa: E731
            loss, total, _ = self._d_objective(d, x[m], fake, eps[m], self._labels(xl, zl, m), m)
            return [total], [loss]

        (grad,), (self._last["d_loss"],) = self._grads(objective, [self.disc])
        return grad

    def _g_grad(self):
        z, zl = self.batches.fake_input()
        k = self.cfg.unrolled_steps
        ahead = [(self.batches.real(), self.batches.fake_input()) for _ in range(k)]

        def objective(m, pg):
            lab = self._pick(zl, m)
            pd = self.disc.params(m, requires_grad=bool(k))
            if k:
                pd = self.look_ahead(m, pg, pd, ahead)
            out = self.Dt(self.G(z[m], lab, pg, m), lab, pd, m)
            loss = losses.per_member(losses.g_loss, self._kinds(m), out)
            return [loss], [loss]

        (grad,), (self._last["g_loss"],) = self._grads(objective, [self.gen])
        return grad

    def _joint_grads(self):
        x, eps, xl = self.batches.real()
        z, zl = self.batches.fake_input()

        def objective(m, pd, pg):
            fake = self.G(z[m], self._pick(zl, m), pg, m)
            d = lambda v, lab: self.Dt(v, lab, pd, m)      # noqa: E731
            loss_d, total, out_fake = self._d_objective(d, x[m], fake, eps[m], self._labels(xl, zl, m), m)
            loss_g = losses.per_member(losses.g_loss, self._kinds(m), out_fake)
            return [total, loss_g], [loss_d, loss_g]

        grads, (self._last["d_loss"], self._last["g_loss"]) = self._grads(objective, [self.disc, self.gen])
        return tuple(grads)

    def look_ahead(self, m, pg, pd, batches):
        """D's parameters after len(batches) look-ahead updates, as differentiable functions of
        G's parameters pg (Metz et al. 2017): each update is D's own optimiser rule
        (toylab.engine.optim, from the optimiser's current state, without changing it) applied
        to the gradient of D's objective, taken with create_graph so that G's gradient flows
        through it. D's real weights are not touched."""
        cfg = self.cfg
        lr = self.lr_d[m].view(-1, 1, 1) if torch.is_tensor(self.lr_d) else self.lr_d
        view = lambda t: [x for layer in self.disc.weights(t.detach()[m]) for x in layer]  # noqa: E731
        flat_pd = [t for layer in pd for t in layer]
        group = self.opt_d.param_groups[0]
        rule = optim.init(cfg.d_optimizer, flat_pd, self.opt_d.state.get(self.disc.flat, {}), view,
                          dict(betas=cfg.betas, alpha=group.get("alpha"), momentum=cfg.momentum))
        for (x, eps, xl), (z, zl) in batches:
            fake = self.G(z[m], self._pick(zl, m), pg, m)             # depends on pg: keeps the graph
            layers = [tuple(flat_pd[j:j + 2]) for j in range(0, len(flat_pd), 2)]
            d = lambda v, lab: self.Dt(v, lab, layers, m)             # noqa: E731
            _, total, _ = self._d_objective(d, x[m], fake, eps[m], self._labels(xl, zl, m), m)
            steps, rule = optim.update(torch.autograd.grad(total.sum(), flat_pd, create_graph=True), rule)
            flat_pd = [p - lr * s_ for p, s_ in zip(flat_pd, steps)]
        return [tuple(flat_pd[j:j + 2]) for j in range(0, len(flat_pd), 2)]

    def round(self) -> torch.Tensor:
        """One round's updates by the config's method (toylab.games.methods: D then G, or both
        at once); returns its record (len(HISTORY), E), on the device."""
        cfg = self.cfg
        self.memory = methods.MOVES[cfg.update](self, self.memory, d_steps=cfg.d_steps, g_steps=cfg.g_steps)
        return torch.stack([self._last[k] for k in HISTORY])
