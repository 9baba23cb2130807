"""Unrolled GANs are truly unrolled: G's gradient flows through the k look-ahead D updates.

(A popular PyTorch port computes G's loss against the look-ahead D but detaches it from G,
so G never sees the look-ahead: its gradient equals the plain one. These tests fail that.)
Also: PacGAN's packed discriminator."""

import pytest
import torch

import toylab
from toylab import ConfigError, TrainConfig, Trainer, losses


def _setup(optimizer, lr_d, k=3):
    cfg = TrainConfig(dataset="ring8", g_hidden=8, d_hidden=8, batch_size=16, unrolled_steps=k, d_optimizer=optimizer,
                      lr_d=lr_d, metrics_every=0, snapshot_every=10, n_fixed=16, grid_size=8, manifold_size=3)
    t = Trainer(cfg)
    for _ in range(3):
        t.round()                                   # optimiser state (Adam moments) is not empty
    t.gen.double()
    t.disc.double()
    dbl = lambda b: tuple(x.double() if torch.is_tensor(x) and x.is_floating_point() else x for x in b)  # noqa
    z, zl = dbl(t.game.batches.fake_input())
    ahead = [(dbl(t.game.batches.real()), dbl(t.game.batches.fake_input())) for _ in range(k)]
    m = slice(0, 1)

    def g_loss(flat_g, unrolled=True):
        pg = t.gen.weights(flat_g)
        pd = t.disc.params(m, requires_grad=True)
        if unrolled:
            pd = t.game.look_ahead(m, pg, pd, ahead)
        return losses.g_loss(cfg.loss, t.nets.Dt(t.nets.G(z, None, pg, m), None, pd, m)).sum()

    return t, g_loss


@pytest.mark.parametrize("optimizer, lr_d", [("sgd", 0.5), ("adam", 0.05)])
def test_unrolled_gradient_matches_finite_differences_and_differs_from_plain(optimizer, lr_d):
    t, g_loss = _setup(optimizer, lr_d)
    flat = t.gen.flat.detach().clone().requires_grad_(True)
    grad = torch.autograd.grad(g_loss(flat), flat)[0]
    plain = torch.autograd.grad(g_loss(flat, unrolled=False), flat)[0]
    v = torch.randn(flat.shape, generator=torch.Generator().manual_seed(0), dtype=flat.dtype)
    v /= v.norm()
    h = 1e-5
    base = flat.detach()                 # (no torch.no_grad: the look-ahead itself differentiates D's loss)
    fd = (g_loss(base + h * v).detach() - g_loss(base - h * v).detach()) / (2 * h)
    assert float(grad.flatten() @ v.flatten()) == pytest.approx(float(fd), rel=1e-5, abs=1e-9)
    # the look-ahead changes G's gradient: far more than the finite-difference error
    assert float((grad - plain).norm() / plain.norm()) > 0.05
    cos = float(grad.flatten() @ plain.flatten() / (grad.norm() * plain.norm()))
    assert cos < 0.999


def test_unrolled_step_leaves_d_unchanged_and_trains():
    t = Trainer(TrainConfig(dataset="ring8", g_hidden=16, d_hidden=16, batch_size=32, unrolled_steps=3, steps=60,
                            snapshot_every=20, grid_size=8, n_fixed=32))
    d_before = t.disc.flat.detach().clone()
    t.g_step()
    torch.testing.assert_close(t.disc.flat, d_before)      # the look-ahead is discarded
    assert t.fit().status == "completed"


def test_unrolled_config_checks():
    with pytest.raises(ConfigError, match="unrolled_steps with loss='wgan-gp' is not supported"):
        TrainConfig(unrolled_steps=2, loss="wgan-gp")
    with pytest.raises(ConfigError, match="unrolled_steps needs update='alternating'"):
        TrainConfig(unrolled_steps=2, update="simultaneous")


def test_packed_discriminator_judges_groups_of_samples():
    t = Trainer(TrainConfig(dataset="ring8", g_hidden=16, d_hidden=16, batch_size=32, pack=4, steps=40,
                            snapshot_every=20, grid_size=8, n_fixed=32))
    assert t.disc.shapes[0][1] == 8                        # input: 4 samples x 2 coordinates
    x = torch.randn(1, 32, 2)
    assert t.nets.Dt(x).shape == (1, 8, 1)                       # 32 samples -> 8 packs
    # the D field shown is D on packs of copies of a point
    torch.testing.assert_close(t.nets.D(x[:, :1]), t.disc(x[:, :1].repeat(1, 1, 4)))
    run = t.fit()
    assert run.status == "completed" and run.snapshots[-1].d_grid.shape == (1, 8, 8)


def test_packing_as_in_pacgan_draws_pack_x_batch_samples_and_d_sees_batch_packs():
    """Lin et al. 2018: with packing m, D still judges batch_size items a step, each a pack of m
    samples, so m x batch_size real and m x batch_size fake samples are drawn per step."""
    t = Trainer(TrainConfig(dataset="ring8", g_hidden=16, d_hidden=16, batch_size=30, pack=3, steps=4,
                            snapshot_every=2, grid_size=8, n_fixed=30, metrics_every=0))
    x, eps = t.game.batches.real()[:2]
    z, _ = t.game.batches.fake_input()
    assert x.shape == (1, 90, 2) and z.shape[:2] == (1, 90)
    assert t.nets.Dt(x).shape == (1, 30, 1)                      # 30 packs of 3
    seen = []
    orig = t.game._d_objective
    t.game._d_objective = lambda d, xr, fake, *rest: seen.append((xr.shape, fake.shape)) or orig(d, xr, fake, *rest)
    t.d_step()
    assert seen == [((1, 90, 2), (1, 90, 2))]               # (members, samples, 2): 90 real, 90 fake


@pytest.mark.parametrize("optimizer", ["adam", "rmsprop"])
def test_unrolling_through_dead_relu_units_stays_finite(tiny, optimizer):
    """A ReLU D has units whose gradient is exactly 0: the look-ahead's sqrt(v) then had an
    infinite derivative and G's gradient became NaN at the second round (every member diverged)."""
    from toylab.engine.training import Trainer
    t = Trainer(tiny.replace(activation="relu", unrolled_steps=5, d_optimizer=optimizer, steps=20, metrics_every=0))
    t.fit()
    assert t.member_status == ["completed"] and torch.isfinite(t.gen.flat).all()


@pytest.mark.parametrize("kind, momentum", [("adam", 0.0), ("rmsprop", 0.0), ("rmsprop", 0.9), ("sgd", 0.0),
                                            ("sgd", 0.9)])
def test_the_look_aheads_rules_are_torchs_optimisers(kind, momentum):
    """toylab.engine.optim's pure rules, started from a torch optimiser's state after two steps,
    make the very step torch makes next (the look-ahead is D's own optimiser, not a lookalike)."""
    from toylab.engine import optim
    gen = torch.Generator().manual_seed(0)
    p = torch.randn(3, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    opt = optim.make_optimizer(kind, p, 0.01, (0.5, 0.9), momentum)
    grads = [torch.randn(3, 5, generator=gen, dtype=torch.float64) for _ in range(3)]
    for g in grads[:2]:
        p.grad = g.clone()
        opt.step()
    rule = optim.init(kind, [p.detach()], opt.state[p], lambda t: [t.detach()],
                      dict(betas=(0.5, 0.9), alpha=opt.param_groups[0].get("alpha"), momentum=momentum))
    steps, rule = optim.update([grads[2]], rule)
    expected = p.detach() - 0.01 * steps[0]
    p.grad = grads[2].clone()
    opt.step()
    torch.testing.assert_close(p.detach(), expected, rtol=1e-12, atol=1e-14)
    assert not torch.equal(expected, p.detach() - 0.01 * grads[2]) or (kind == "sgd" and not momentum)
