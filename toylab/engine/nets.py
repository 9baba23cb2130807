"""Batched MLPs: E independent networks evaluated in one call.

All weights of a network live in ONE flat parameter of shape (E, P); each
layer's W (E, in, out) and b (E, out) are views into it. So one optimiser step
over one tensor updates every layer of every member (Adam, SGD and RMSprop are
elementwise, so E stacked members train exactly like E separate models), a
member's gradient norm is one row norm, and x @ W runs as one ``baddbmm``.
E = 1 is the ordinary single network and uses the same code.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


BN_MOMENTUM = 0.1      # running statistics of batch normalisation (torch's default)
BN_EPS = 1e-5
#: a layer with at most this many outputs is "thin" (D's 1, G's 2): its products are laid out
#: so that the long batch dimension is the GEMM's N (see ThinLinear)
THIN = 4


class ThinLinear(torch.autograd.Function):
    """h @ W + b for a layer with few outputs (W: (E, K, N), N <= THIN), in layouts the CPU's
    GEMM runs fast.

    bmm(h (E, M, K), W (E, K, 1)) is a matrix-vector product that MKL ran at 2-4 GFLOP/s here
    (0.56 ms for 8 members x 512 rows: as long as a 128 x 128 layer's GEMM), and so did its
    autograd backward (h^T g and g W^T). The same numbers computed as W^T h^T (forward), g^T h
    (W's gradient) and g * W^T (h's gradient, N = 1) took 0.04-0.14 ms: measured in
    benchmarks/bench_flops.py. The backward is made of differentiable ops, so gradient
    penalties and the unrolled look-ahead (create_graph) differentiate through it."""

    @staticmethod
    def forward(ctx, h, w, b):
        ctx.save_for_backward(h, w)
        return torch.baddbmm(b.transpose(1, 2), w.transpose(1, 2), h.transpose(1, 2)).transpose(1, 2)

    @staticmethod
    def backward(ctx, g):
        h, w = ctx.saved_tensors
        g = g.contiguous()      # (E, M, N): tiny; a strided g made every later elementwise op ~30x slower
        gh = gw = gb = None
        if ctx.needs_input_grad[0]:
            gh = g * w.transpose(1, 2) if w.shape[-1] == 1 else torch.bmm(g, w.transpose(1, 2))
        if ctx.needs_input_grad[1]:
            gw = torch.bmm(g.transpose(1, 2), h).transpose(1, 2)
        if ctx.needs_input_grad[2]:
            gb = g.sum(1, keepdim=True)
        return gh, gw, gb


class Maxout(torch.autograd.Function):
    """The largest of k pieces: h (..., k * units), piece j of unit u in column j * units + u
    (piece-major) -> (..., units). Its backward sends the gradient to the largest piece through
    a 0/1 mask made in the forward as 1 + sign(piece - max) (a tie, of probability zero for
    real-valued pieces, sends it to each); the backward is a product with g, differentiable
    again (gradient penalties).

    Why this layout and this mask (PacGAN's D, 5 members x 200 rows x 200 units x 5 pieces, one
    thread): with unit u's pieces in columns uk..uk+k-1 every op ran an inner loop of k = 5
    over a broadcast, and a boolean mask converted to float in the backward: 3.1 ms a layer
    forward and backward, a quarter of the round; piece-major with a float mask, 0.7 ms.
    Checkpoints written in the old layout are converted on load (BatchedMLP.unit_major_order)."""

    @staticmethod
    def forward(ctx, h, k: int):
        pieces = h.unflatten(-1, (k, -1))
        out = pieces.amax(-2)
        ctx.save_for_backward(torch.sub(pieces, out.unsqueeze(-2)).sign_().add_(1))
        return out

    @staticmethod
    def backward(ctx, g):
        mask, = ctx.saved_tensors
        return (mask * g.unsqueeze(-2)).flatten(-2), None


def linear(h: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """h (E, M, K) @ W (E, K, N) + b (E, 1, N), one GEMM per member (ThinLinear for N <= THIN)."""
    if w.shape[-1] <= THIN:
        return ThinLinear.apply(h, w, b)
    return torch.baddbmm(b, h, w)


class BatchedMLP(nn.Module):
    """E stacked MLPs in_dim -> [hidden] * depth -> out_dim.

    init "uniform": per member like ``nn.Linear`` (U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for
    weights and biases); "normal": weights N(0, init_std^2), biases 0 (as PacGAN's code). Each
    member draws from its own CPU generator, so member e of an ensemble equals a single network
    built with the same generator. maxout k > 1: every hidden layer computes k affine pieces
    per unit and keeps their maximum (Goodfellow et al. 2013; PacGAN's D uses k = 5), in place
    of the activation (columns piece-major: see Maxout). batchnorm: every hidden layer
    normalises its pre-activations over the batch, per member (gamma, beta in the flat
    parameter after the layer's W and b; running means and variances as buffers, momentum
    BN_MOMENTUM), in training mode with the batch's statistics and in eval mode (sampling,
    snapshots) with the running ones (Ioffe & Szegedy 2015).
    """

    def __init__(self, in_dim: int, out_dim: int, hidden: int, depth: int, generators: list[torch.Generator],
                 activation: str = "leaky_relu", leaky_slope: float = 0.2, spectral_norm: bool = False,
                 init: str = "uniform", init_std: float = 0.02, maxout: int = 1, batchnorm: bool = False):
        super().__init__()
        self.dims = [in_dim] + [hidden] * depth + [out_dim]
        self.E = len(generators)
        self.activation, self.leaky_slope, self.use_sn, self.maxout = activation, leaky_slope, spectral_norm, maxout
        self.shapes, offset = [], 0
        self.bn = [batchnorm and i < depth for i in range(depth + 1)]
        for i, (a, b) in enumerate(zip(self.dims[:-1], self.dims[1:])):
            b = b * maxout if i < depth else b            # a maxout layer computes k pieces a unit
            self.shapes.append((offset, a, b))
            offset += a * b + b + (2 * b if self.bn[i] else 0)
        self.size = offset
        rows = []
        for g in generators:
            parts = []
            for i, (_, a, b) in enumerate(self.shapes):
                if init == "normal":
                    parts.append(torch.randn(a * b, generator=g).mul_(init_std))
                    parts.append(torch.zeros(b))
                else:
                    bound = 1 / math.sqrt(a)
                    parts.append(torch.rand(a * b, generator=g).mul_(2 * bound).sub_(bound))
                    parts.append(torch.rand(b, generator=g).mul_(2 * bound).sub_(bound))
                if self.bn[i]:
                    parts += [torch.ones(b), torch.zeros(b)]          # gamma, beta
            rows.append(torch.cat(parts))
        self.flat = nn.Parameter(torch.stack(rows))
        self._leaves: dict = {}
        for i, (_, _, b) in enumerate(self.shapes):
            if self.bn[i]:
                self.register_buffer(f"bn_mean{i}", torch.zeros(self.E, b))
                self.register_buffer(f"bn_var{i}", torch.ones(self.E, b))
        if spectral_norm:
            # One power-iteration vector u per layer and member (Miyato et al. 2018).
            for i, (_, a, b) in enumerate(self.shapes):
                u = torch.stack([F.normalize(torch.randn(b, generator=g), dim=0) for g in generators])
                self.register_buffer(f"sn_u{i}", u)
        if maxout > 1:      # drawn unit by unit as before the layout changed (the same networks), kept piece-major
            self.load_state_dict(self.from_unit_major(self.state_dict()))

    def weights(self, flat: torch.Tensor | None = None):
        """[(W (E, in, out), b (E, 1, out))] views into the flat parameter (differentiable); a
        batch-normalised layer's tuple also holds (gamma, beta) (E, 1, out)."""
        flat = self.flat if flat is None else flat
        E = flat.shape[0]
        out = []
        for i, (off, a, b) in enumerate(self.shapes):
            w = flat[:, off:off + a * b].view(E, a, b)
            end = off + a * b + b
            layer = (w, flat[:, off + a * b:end].view(E, 1, b))
            if self.bn[i]:
                layer += (flat[:, end:end + b].view(E, 1, b), flat[:, end + b:end + 2 * b].view(E, 1, b))
            out.append(layer)
        return out

    def _piece_columns(self) -> dict[int, torch.Tensor]:
        """{layer i: (b,) order} of the maxout layers: column jU + u of today's layout holds
        column uk + j of the unit-major one."""
        return {i: torch.arange(b).view(-1, self.maxout).t().reshape(-1)
                for i, (_, _, b) in enumerate(self.shapes[:-1])} if self.maxout > 1 else {}

    def unit_major_order(self) -> torch.Tensor:
        """(P,) column order taking a flat row with its maxout layers laid out unit-major (unit u's
        pieces in columns uk..uk+k-1, as checkpoints written before 2026-12-05 hold them) to
        today's piece-major layout (piece j of unit u in column jU + u, see Maxout):
        new = old[:, order]. The identity for a network without maxout."""
        order = torch.arange(self.size)
        for i, cols in self._piece_columns().items():
            off, a, b = self.shapes[i]
            order[off:off + a * b] = off + (torch.arange(a)[:, None] * b + cols).reshape(-1)
            for start in range(off + a * b, off + a * b + b * (3 if self.bn[i] else 1), b):   # b (gamma, beta)
                order[start:start + b] = start + cols
        return order

    def from_unit_major(self, state: dict) -> dict:
        """This network's state_dict as written with unit-major maxout layers, in today's layout
        (the flat parameter and each maxout layer's per-column buffers)."""
        def fits(t, n):         # (a tensor of another shape is left for load_state_dict to refuse)
            return torch.is_tensor(t) and t.dim() == 2 and t.shape[1] == n
        state = dict(state)
        if fits(state.get("flat"), self.size):
            state["flat"] = state["flat"][:, self.unit_major_order()]
        for i, cols in self._piece_columns().items():
            for name in (f"sn_u{i}", f"bn_mean{i}", f"bn_var{i}"):
                if fits(state.get(name), len(cols)):
                    state[name] = state[name][:, cols]
        return state

    def params(self, members: slice = slice(None), requires_grad: bool = False) -> list:
        """[(W, b)] per layer as leaf tensors sharing the flat parameter's storage, for `members`.

        The hot loop differentiates w.r.t. these leaves: autograd then returns one gradient
        per layer instead of running a full-size slice backward per layer, and the
        optimiser still steps the one flat tensor (the leaves see its in-place updates).
        Cached, so a training step creates no views."""
        key = (self.flat.data_ptr(), members.start, members.stop, requires_grad)
        cached = self._leaves.get(key)
        if cached is None:
            base = self.flat.detach()[members]
            cached = [tuple(t.requires_grad_(requires_grad) for t in layer) for layer in self.weights(base)]
            self._leaves[key] = cached
        return cached

    def view_rows(self, source: "BatchedMLP", row: int) -> None:
        """Make this one-member network's parameter and buffers views of row `row` of `source`'s
        (a pool's stacked network, toylab.engine.pool): an update of either is seen by both."""
        self.flat.data = source.flat.data[row:row + 1]
        for name, buf in source.named_buffers():
            self._buffers[name] = buf[row:row + 1]
        self._leaves.clear()

    def own_rows(self) -> None:
        """Give the parameter and buffers storage of their own again (leaving a pool's stack)."""
        self.flat.data = self.flat.data.clone()
        for name, buf in list(self._buffers.items()):
            self._buffers[name] = buf.clone()
        self._leaves.clear()

    @staticmethod
    def flat_grad(grads, rows: int, out: torch.Tensor | None = None) -> torch.Tensor:
        """Per-layer gradients [gW0, gb0, gW1, ...] laid out like the flat parameter: (rows, P),
        into `out` when given (a buffer kept across rounds: a fresh (E, P) tensor of PacGAN's
        networks is 20 MB, and allocating it each round cost more than the copy, in page faults)."""
        return torch.cat([g.reshape(rows, -1) for g in grads], 1, out=out)

    def _act(self, h):
        """The hidden activation. LeakyReLU in place: h is the layer's fresh pre-activation, which
        no backward keeps (the matmuls keep their inputs, batch norm makes a new tensor) and its
        own backward reads the output's sign; one activation-sized tensor less per layer: +11-15 %
        member-rounds/s on the default 30-member ensemble (bench_flops, side by side)."""
        if self.activation == "leaky_relu":
            return F.leaky_relu(h, self.leaky_slope, inplace=True)
        if self.activation == "relu":
            return F.relu(h)
        return torch.tanh(h)

    def _batchnorm(self, i: int, h, gamma, beta, members: slice) -> torch.Tensor:
        """(h - mean) / sqrt(var + BN_EPS) * gamma + beta over the batch (dim 1) of each member:
        the batch's statistics in training mode (the running ones updated), else the running ones."""
        mean_buf, var_buf = getattr(self, f"bn_mean{i}"), getattr(self, f"bn_var{i}")
        if self.training:
            # the variance as the mean of squared deviations: torch.var over the batch (dim 1 of
            # (E, n, C)) took 2.6 ms on PacGAN's (10, 100, 400), this 0.2-0.3 ms (the same numbers)
            mean = h.mean(1, keepdim=True)
            dev = h - mean
            var = (dev * dev).mean(1, keepdim=True)
            with torch.no_grad():
                n = h.shape[1]
                mean_buf[members] = (1 - BN_MOMENTUM) * mean_buf[members] + BN_MOMENTUM * mean.squeeze(1)
                unbiased = var.squeeze(1) * (n / max(n - 1, 1))
                var_buf[members] = (1 - BN_MOMENTUM) * var_buf[members] + BN_MOMENTUM * unbiased
        else:
            mean, var = mean_buf[members].unsqueeze(1), var_buf[members].unsqueeze(1)
            dev = h - mean
        return dev * torch.rsqrt(var + BN_EPS) * gamma + beta

    def _sn(self, i: int, w: torch.Tensor, members: slice = slice(None)) -> torch.Tensor:
        """W / sigma_max(W), sigma from one power iteration per forward (updates u in training)."""
        u = getattr(self, f"sn_u{i}")[members]
        with torch.no_grad():
            v = F.normalize(torch.bmm(w, u.unsqueeze(-1)).squeeze(-1), dim=1)      # (E, in)
            u_new = F.normalize(torch.bmm(v.unsqueeze(1), w).squeeze(1), dim=1)   # (E, out)
            if self.training:
                u.copy_(u_new)
        sigma = torch.einsum("ei,eio,eo->e", v, w, u_new)
        return w / sigma[:, None, None]

    def forward(self, x: torch.Tensor, params: list | torch.Tensor | None = None,
                members: slice = slice(None)) -> torch.Tensor:
        """x: (E', n, in) -> (E', n, out).

        params: None (this network's own parameters), a flat (E', P) tensor, or the
        [(W, b)] list of ``params()``; members: which members' rows they are (spectral
        norm keeps one power-iteration vector per member)."""
        layers = params if isinstance(params, list) else self.weights(params)
        h = x
        for i, (w, b, *norm) in enumerate(layers):
            if self.use_sn:
                w = self._sn(i, w, members)
            h = linear(h, w, b)
            if norm:
                h = self._batchnorm(i, h, *norm, members)
            if i < len(layers) - 1:
                if self.maxout > 1:
                    h = Maxout.apply(h, self.maxout)
                else:
                    h = self._act(h)
        return h
