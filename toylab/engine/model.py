"""A run's networks alone: G and D rebuilt from its configs, with a checkpoint's weights.

What sampling, D's field and the pictures need, without the trainer's optimisers, data
streams and records: loading a saved run for a figure or an evaluation builds this (a
trainer, to resume, holds one too). Loading a torch optimiser imports torch._dynamo, ~2 s.
"""

from __future__ import annotations

import contextlib
from typing import Iterable

import torch
import torch.nn.functional as F

from . import streams
from .config import ConfigError, TrainConfig
from .device import resolve_device
from .nets import BatchedMLP
from .target import check_member, check_rows


#: how a checkpoint's maxout layers are laid out ("maxout_layout"; absent: unit-major, before 2026-12-05)
MAXOUT_LAYOUT = "piece-major"


class Networks:
    """G and D of an ensemble of E members (one (E, P) parameter each), on `device`.

    G(z | label) and D(x | label); with PacGAN packing D judges m samples at once: `D`
    shows D's field on packs of identical copies of each point, `Dt` judges consecutive
    groups of m samples as training does."""

    def __init__(self, configs: TrainConfig | Iterable[TrainConfig], target=None, device=None):
        configs = [configs] if isinstance(configs, TrainConfig) else list(configs)
        self.configs, self.cfg, self.E = configs, configs[0], len(configs)
        cfg = self.cfg
        self.device = device if device is not None else resolve_device(cfg.device)
        self.target = target if target is not None else cfg.target()
        self.K = self.target.num_modes if cfg.conditional else 0
        if cfg.conditional and self.K == 0:
            raise ConfigError(f"conditional: needs a mixture target with modes; {cfg.dataset!r} has none")
        init = streams.generators([c.seed for c in configs], streams.INIT)
        style = dict(init=cfg.init, init_std=cfg.init_std)
        self.gen = BatchedMLP(cfg.z_dim + self.K, 2, cfg.g_hidden, cfg.g_depth, init,
                              cfg.g_activation or cfg.activation, cfg.leaky_slope, batchnorm=cfg.g_batchnorm,
                              **style).to(self.device)
        self.pack = cfg.pack
        self.disc = BatchedMLP((2 + self.K) * cfg.pack, 1, cfg.d_hidden, cfg.d_depth, init,
                               cfg.d_activation or cfg.activation, cfg.leaky_slope, spectral_norm=cfg.spectral_norm,
                               maxout=cfg.d_maxout, **style).to(self.device)
        self.step = 0           # the round of the weights loaded (0: as initialised)

    @classmethod
    def load(cls, configs, checkpoint, target=None, *, name=None) -> "Networks":
        """The networks of a saved run, from its checkpoint (a file, or the state read from it:
        runs.read_checkpoint); a missing, truncated, foreign or garbled checkpoint, or weights of
        other sizes than the config's, is an error naming the file (never a run silently left
        untrained)."""
        nets = cls(configs, target)
        name = name if name is not None else checkpoint
        try:
            state = checkpoint if isinstance(checkpoint, dict) else \
                torch.load(checkpoint, map_location="cpu", weights_only=True)
            nets.load_weights(nets.upgrade(state))
        except Exception as err:
            why = " ".join(str(err).split())[:200]
            raise ValueError(f"{name}: unreadable checkpoint, or weights that do not fit config.json's networks "
                             f"({type(err).__name__}: {why}); the run cannot be restored from it") from None
        return nets

    def upgrade(self, state: dict) -> dict:
        """A checkpoint's state in today's layout. D's maxout layers were stored unit-major
        until 2026-12-05 (a state without MAXOUT_LAYOUT): its weights, buffers, optimiser
        moments and the optimistic update's memory (every (E, P_D) tensor) are reordered to
        piece-major (BatchedMLP.unit_major_order); any other state is returned as it is."""
        layout = state.get("maxout_layout")
        if layout not in (None, MAXOUT_LAYOUT):
            raise ValueError(f"maxout_layout: {str(layout)[:40]!r} is not one this toylab reads "
                             f"({MAXOUT_LAYOUT!r}, or none: unit-major, written before 2026-12-05)")
        if self.disc.maxout == 1 or layout == MAXOUT_LAYOUT or not isinstance(state.get("disc"), dict):
            return state        # (a state without D's is refused where it is read)
        order, size = self.disc.unit_major_order(), self.disc.size

        def moments(v):
            if isinstance(v, dict):
                return {k: moments(x) for k, x in v.items()}
            if torch.is_tensor(v) and v.dim() == 2 and v.shape[1] == size:
                return v[:, order]
            return v
        state = {**state, "disc": self.disc.from_unit_major(state["disc"]), "maxout_layout": MAXOUT_LAYOUT}
        if isinstance(state.get("opt_d"), dict) and "state" in state["opt_d"]:
            state["opt_d"] = {**state["opt_d"], "state": moments(state["opt_d"]["state"])}
        memory = state.get("memory")
        if isinstance(memory, list) and all(torch.is_tensor(m) for m in memory):    # [dD, dG], before 21b87b4
            memory = torch.cat(memory, 1)
        if torch.is_tensor(memory) and memory.dim() == 2 and memory.shape[1] > size:     # [D's weights | G's]
            state["memory"] = torch.cat([memory[:, :size][:, order], memory[:, size:]], 1)
        return state

    def load_weights(self, state: dict) -> None:
        """G's and D's weights and the round they are from, out of a checkpoint's state in
        today's layout (upgrade)."""
        self.gen.load_state_dict(state["gen"])
        self.disc.load_state_dict(state["disc"])
        self.step = int(state["step"])

    # ---- the networks as functions --------------------------------------
    def _with_labels(self, x, labels):
        if not self.K:
            return x
        return torch.cat([x, F.one_hot(labels, self.K).to(x.dtype)], -1)

    def G(self, z, labels=None, flat=None, members=slice(None)):
        return self.gen(self._with_labels(z, labels), flat, members)

    def D(self, x, labels=None, flat=None, members=slice(None)):
        """D at each point of x (E', n, 2) -> (E', n, 1). A packed D (PacGAN) judges a pack of
        copies of the point: the field it shows is D on packs of identical samples."""
        x = self._with_labels(x, labels)
        if self.pack > 1:
            x = torch.cat([x] * self.pack, -1)
        return self.disc(x, flat, members)

    def Dt(self, x, labels=None, flat=None, members=slice(None)):
        """D as training sees it: with pack m, consecutive groups of m samples of x (E', n, 2)
        form one input (E', n/m, 2m) (Lin et al. 2018); otherwise D at each point."""
        if self.pack == 1:
            return self.D(x, labels, flat, members)
        E, n, dim = x.shape
        return self.disc(x.reshape(E, n // self.pack, dim * self.pack), flat, members)

    # ---- using the trained networks ---------------------------------------------
    @contextlib.contextmanager
    def evaluating(self):
        """G and D in eval mode (batch normalisation with its running statistics, no spectral-norm
        power iteration) for a probe or a sample; their modes are restored after."""
        was = self.gen.training, self.disc.training
        self.gen.eval()
        self.disc.eval()
        try:
            yield self
        finally:
            self.gen.train(was[0])
            self.disc.train(was[1])

    @torch.no_grad()
    def sample(self, n: int, member: int = 0, seed: int | None = None) -> torch.Tensor:
        """n draws (n, 2) from member `member`'s generator, on the CPU (eval mode). Unseeded draws
        use a fresh generator of their own (torch's global random state is left alone)."""
        n = check_rows(n)
        member = check_member(member, self.E)
        g = torch.Generator(device=self.device)
        if seed is not None:
            g.manual_seed(seed)
        else:
            g.seed()
        z = streams.draw_noise(self.cfg.noise, g, (self.E, n, self.cfg.z_dim), self.device)
        labels = None
        if self.K:
            labels = torch.multinomial(self.target.weights.to(self.device), self.E * n, True, generator=g)
            labels = labels.view(self.E, n)
        with self.evaluating():
            return self.G(z, labels)[member].cpu()

    @torch.no_grad()
    def discriminate(self, x, member: int = 0) -> torch.Tensor:
        """D's raw output (logit or critic value) at points x (n, 2), for one member."""
        x = torch.as_tensor(x, dtype=torch.float32, device=self.device)
        xs = x.expand(self.E, -1, -1)
        labels = None
        if self.K:
            labels = torch.cdist(x, self.target.modes.to(x)).argmin(1).expand(self.E, -1)
        with self.evaluating():
            return self.D(xs, labels)[member, :, 0].cpu()
