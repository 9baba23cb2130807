"""One round of the GAN game: the players' updates, for E members at once.

`Game` holds what a round changes — the networks' weights (toylab.engine.model.Networks),
the two optimisers and the seeded noise and data streams — and nothing that records: the
Trainer (toylab.engine.training) calls `round()` and keeps the history, snapshots and files.

A round is `d_steps` discriminator updates then `g_steps` generator updates (alternating),
or one joint move of both players, as the xy game's methods make it (toylab.games):
simultaneous, optimistic or extragradient, each with the players' own optimisers. With
`unrolled_steps = k` G's loss looks through k differentiable updates of D by D's own
optimiser rule (Metz et al. 2017).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from . import losses, optim, streams
from .checkpoint import to_device
from .config import TrainConfig
from .model import Networks
from .nets import BatchedMLP

CHUNK = 32            # batches drawn per refill of a noise/data buffer
CPU_ROWS = 4096        # rows (members x 2 batch) evaluated together on the CPU
#: what a round records per member, in this order
HISTORY = ("d_loss", "g_loss", "d_grad_norm", "g_grad_norm")


class Game:
    """The players of E GANs: networks, optimisers and random streams, and one round's updates."""

    def __init__(self, configs: list[TrainConfig], nets: Networks, seeds: list[int]):
        self.configs, self.cfg, self.E = configs, configs[0], len(configs)
        cfg = self.cfg
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
        self._make_streams(seeds)
        self.chunks = self._member_chunks()
        self._last = {k: torch.full((self.E,), math.nan, device=self.device) for k in HISTORY}
        self.memory: list[torch.Tensor] | None = None    # the optimistic method's last move [dD, dG]

    # ---- state ---------------------------------------------------------------
    def state_dict(self) -> dict:
        """Weights, optimiser moments and random streams (a checkpoint's body)."""
        return {"gen": self.gen.state_dict(), "disc": self.disc.state_dict(),
                "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
                "noise": self.noise.state_dict(), "data": self.data.state_dict(),
                **({"memory": list(self.memory)} if self.memory is not None else {})}

    def load_state(self, state: dict) -> None:
        self.nets.load_weights(state)
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.noise.load_state_dict(to_device(state["noise"], self.device))
        self.data.load_state_dict(to_device(state["data"], self.device))
        self.memory = [to_device(m, self.device) for m in state["memory"]] if "memory" in state else None

    def finite_members(self) -> np.ndarray:
        """(E,) bool: the member's weights and optimiser moments are all finite."""
        ok = torch.isfinite(self.gen.flat).all(1) & torch.isfinite(self.disc.flat).all(1)
        for move in self.memory or ():
            ok &= torch.isfinite(move).all(1)
        for opt in (self.opt_g, self.opt_d):
            for st in opt.state.values():
                for v in st.values():
                    if torch.is_tensor(v) and v.dim() == 2 and v.shape[0] == self.E:
                        ok &= torch.isfinite(v).all(1)
        return ok.cpu().numpy()

    def use(self, configs: list[TrainConfig]) -> None:
        """Carry on with changed live fields (learning rates, steps, objective): weights,
        optimiser moments and streams stay."""
        if configs[0].update != self.cfg.update:
            self.memory = None             # a new method starts without the optimistic one's memory
        self.configs, self.cfg = configs, configs[0]
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

    def _make_streams(self, seeds):
        cfg, dev = self.cfg, self.device
        B = cfg.batch_size * cfg.pack         # PacGAN: batch_size packs of m samples, real and fake
        weights = self.target.weights.to(dev) if self.K else None

        def noise(g, n):
            z = streams.draw_noise(cfg.noise, g, (n, B, cfg.z_dim), dev)
            if not self.K:
                return z
            return z, torch.multinomial(weights, n * B, replacement=True, generator=g).view(n, B)

        def data(g, n):
            x, labels = self.target.sample_with_labels(n * B, generator=g, device=dev)
            x = x.view(n, B, 2)
            eps = torch.rand(n, B, 1, generator=g, device=dev)   # interpolation weights for wgan-gp
            return (x, eps, labels.view(n, B)) if self.K else (x, eps)

        self.noise = streams.Buffered(streams.generators(seeds, streams.NOISE, dev), noise, CHUNK)
        self.data = streams.Buffered(streams.generators(seeds, streams.DATA, dev), data, CHUNK)

    def _member_chunks(self) -> list[slice]:
        """Members evaluated together. On the CPU a chunk holds about CPU_ROWS rows of a batch,
        so activations stay in cache (64 members x 1024 rows x 128 floats is 32 MB, and every
        elementwise op would go to DRAM); on a GPU all members go in one call."""
        if self.device.type != "cpu":
            return [slice(0, self.E)]
        size = max(1, CPU_ROWS // (2 * self.cfg.batch_size * self.cfg.pack))
        return [slice(i, min(i + size, self.E)) for i in range(0, self.E, size)]

    def _grads(self, fn, nets) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Gradients of per-member objectives, member chunk by member chunk.

        fn(members, *params) -> (objectives, records): objective i (E',) is differentiated
        w.r.t. params i, the layer leaves of nets[i] for those members (BatchedMLP.params).
        Returns ([flat grad (E, P)] per net, [record (E,)] on the device).
        """
        whole = len(self.chunks) == 1
        grads = [None] * len(nets) if whole else [torch.empty_like(n.flat) for n in nets]
        recs_out = None
        for m in self.chunks:
            params = [n.params(m, requires_grad=True) for n in nets]
            objs, recs = fn(m, *params)
            for i, (o, p) in enumerate(zip(objs, params)):
                leaves = [t for layer in p for t in layer]
                g = BatchedMLP.flat_grad(torch.autograd.grad(o.sum(), leaves, retain_graph=i < len(objs) - 1),
                                         o.shape[0])
                if whole:
                    grads[i] = g
                else:
                    grads[i][m] = g
            if whole:
                return grads, [r.detach() for r in recs]
            if recs_out is None:
                recs_out = [torch.empty(self.E, device=self.device) for _ in recs]
            for buf, r in zip(recs_out, recs):
                buf[m] = r.detach()
        return grads, recs_out

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

    def _d_objective(self, d, x, fake, eps, labels):
        """(loss, loss + penalties) per member; d(v) evaluates D on points v with `labels`."""
        cfg = self.cfg
        n = x.shape[1] // self.pack
        out = d(torch.cat([x, fake], 1), None if labels is None else torch.cat(labels, 1))
        loss = losses.d_loss(cfg.loss, out[:, :n], out[:, n:])
        total = loss
        d_real = lambda v: d(v, None if labels is None else labels[0])    # noqa: E731  (penalties: real labels)
        if cfg.loss == "wgan-gp":
            total = total + cfg.gp_lambda * losses.gradient_penalty(d_real, x, fake, eps)
        if cfg.r1_gamma > 0:
            total = total + cfg.r1_gamma * losses.r1_penalty(d_real, x)
        return loss, total, out[:, n:]

    def _real(self):
        batch = self.data.next()
        return batch[0], batch[1], (batch[2] if self.K else None)

    def _fake_input(self):
        batch = self.noise.next()
        return batch[0], (batch[1] if self.K else None)

    @staticmethod
    def _pick(t, m):
        return None if t is None else t[m]

    def _labels(self, xl, zl, m):
        return None if not self.K else (xl[m], zl[m])

    def d_step(self):
        """One discriminator update on a fresh real and fake batch."""
        x, eps, xl = self._real()
        z, zl = self._fake_input()

        def objective(m, pd):
            with torch.no_grad():
                fake = self.G(z[m], self._pick(zl, m), self.gen.params(m), m)
            d = lambda v, lab: self.Dt(v, lab, pd, m)      # noqa: E731
            loss, total, _ = self._d_objective(d, x[m], fake, eps[m], self._labels(xl, zl, m))
            return [total], [loss]

        (grad,), (loss,) = self._grads(objective, [self.disc])
        self._apply(self.opt_d, self.disc.flat, grad, self.lr_d)
        self._last["d_loss"], self._last["d_grad_norm"] = loss, grad.norm(dim=1)

    def g_step(self):
        """One generator update on a fresh noise batch (D fixed; or, unrolled, D after k
        look-ahead updates that G's gradient flows through)."""
        z, zl = self._fake_input()
        k = self.cfg.unrolled_steps
        ahead = [(self._real(), self._fake_input()) for _ in range(k)]

        def objective(m, pg):
            lab = self._pick(zl, m)
            pd = self.disc.params(m, requires_grad=bool(k))
            if k:
                pd = self.look_ahead(m, pg, pd, ahead)
            out = self.Dt(self.G(z[m], lab, pg, m), lab, pd, m)
            loss = losses.g_loss(self.cfg.loss, out)
            return [loss], [loss]

        (grad,), (loss,) = self._grads(objective, [self.gen])
        self._apply(self.opt_g, self.gen.flat, grad, self.lr_g)
        self._last["g_loss"], self._last["g_grad_norm"] = loss, grad.norm(dim=1)

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
            _, total, _ = self._d_objective(d, x[m], fake, eps[m], self._labels(xl, zl, m))
            steps, rule = optim.update(torch.autograd.grad(total.sum(), flat_pd, create_graph=True), rule)
            flat_pd = [p - lr * s_ for p, s_ in zip(flat_pd, steps)]
        return [tuple(flat_pd[j:j + 2]) for j in range(0, len(flat_pd), 2)]

    def _joint_grads(self):
        """Both players' gradients at the current point, on one fresh batch:
        ((grad D, grad G), (D loss, G loss)), per member."""
        x, eps, xl = self._real()
        z, zl = self._fake_input()

        def objective(m, pd, pg):
            fake = self.G(z[m], self._pick(zl, m), pg, m)
            d = lambda v, lab: self.Dt(v, lab, pd, m)      # noqa: E731
            loss_d, total, out_fake = self._d_objective(d, x[m], fake, eps[m], self._labels(xl, zl, m))
            loss_g = losses.g_loss(self.cfg.loss, out_fake)
            return [total, loss_g], [loss_d, loss_g]

        return self._grads(objective, [self.disc, self.gen])

    def _move(self, gd, gg) -> None:
        """Both optimisers' steps from the current point."""
        self._apply(self.opt_d, self.disc.flat, gd, self.lr_d)
        self._apply(self.opt_g, self.gen.flat, gg, self.lr_g)

    def _point(self) -> list[torch.Tensor]:
        return [self.disc.flat.detach().clone(), self.gen.flat.detach().clone()]

    def joint_step(self, method: str = "simultaneous"):
        """Both players move at once, as the xy game's methods (toylab.games) with an optimiser's
        step u(g) in place of eta F (with SGD u(g) = lr g, exactly the games' formulas):

        - simultaneous: z' = z - u(F(z)).
        - optimistic (Daskalakis et al. 2018, Optimistic Adam with Adam): z' = z - 2 u_t + u_{t-1},
          the previous move remembered (and checkpointed); the first step is a plain one.
        - extragradient (Korpelevich 1976; Extra-Adam, Gidel et al. 2019): a look-ahead step
          z+ = z - u(F(z)), then z' = z - u(F(z+)), each gradient on a fresh batch; with Adam
          both steps update the moments, as in Extra-Adam."""
        (gd, gg), (loss_d, loss_g) = self._joint_grads()
        start = self._point() if method != "simultaneous" else None     # copies only where a method needs them
        if method == "extragradient":
            self._move(gd, gg)
            (gd, gg), _ = self._joint_grads()
            with torch.no_grad():
                self.disc.flat.copy_(start[0])
                self.gen.flat.copy_(start[1])
        self._move(gd, gg)
        if method == "optimistic":
            moves = [after - before for after, before in zip(self._point(), start)]
            prev = self.memory if self.memory is not None else moves
            with torch.no_grad():
                self.disc.flat.add_(moves[0] - prev[0])
                self.gen.flat.add_(moves[1] - prev[1])
            self.memory = moves
        self._last.update(d_loss=loss_d, g_loss=loss_g, d_grad_norm=gd.norm(dim=1), g_grad_norm=gg.norm(dim=1))

    def round(self) -> torch.Tensor:
        """One round's updates; returns its record (len(HISTORY), E), on the device."""
        if self.cfg.update != "alternating":
            self.joint_step(self.cfg.update)
        else:
            for _ in range(self.cfg.d_steps):
                self.d_step()
            for _ in range(self.cfg.g_steps):
                self.g_step()
        return torch.stack([self._last[k] for k in HISTORY])
