"""The engine: a GAN that learns, ensembles that equal single runs, divergence recorded, runs saved."""

import math

import numpy as np
import pytest
import torch

import toylab
from toylab import ConfigError, TrainConfig, Trainer, load_run, resume, train


def test_nonsaturating_gan_matches_a_gaussian_and_reaches_the_equilibrium_losses():
    """p_g -> p_data, so D -> 1/2: D loss -> 2 ln 2 and G loss -> ln 2 (THEORY.md).

    The generator circles its equilibrium rather than resting on it, so its moments are
    judged over the second half of training: at round 2,000 alone its std was 0.67 and 0.37
    (x and y), averaged over the 21 snapshots from round 1,000 0.49 and 0.48. (Measured with
    1 and 2 threads, torch 2.13's CPU build: the same bits; a thread count is not promised to.)"""
    run = train(dataset="gaussian", dataset_params=dict(mean=(1.0, -1.0), std=0.5), steps=2000)
    late = [s.fake[0] for s in run.snapshots if s.step >= 1000]
    assert len(late) == 21
    assert np.mean([f.mean(0) for f in late], 0) == pytest.approx([1.0, -1.0], abs=0.1)
    assert np.mean([f.std(0) for f in late], 0) == pytest.approx([0.5, 0.5], abs=0.06)
    assert run.sample(5000, seed=1).mean(0).numpy() == pytest.approx([1.0, -1.0], abs=0.15)
    h = run.member_history(0)
    assert h["d_loss"][-10:].mean() == pytest.approx(2 * math.log(2), abs=0.03)
    assert h["g_loss"][-10:].mean() == pytest.approx(math.log(2), abs=0.06)
    # D(x) near 1/2 where the data lie
    d = torch.sigmoid(run.discriminate(torch.tensor([[1.0, -1.0]])))
    assert float(d) == pytest.approx(0.5, abs=0.1)


@pytest.mark.slow
def test_ring8_samples_reach_several_modes():
    run = train(dataset="ring8", steps=3000)
    t = run.target
    x = run.sample(2500, seed=0)
    dist = torch.cdist(x, t.modes)
    near = dist.min(1).values < 3 * t.mode_std * 5     # within 0.3 of a centre
    modes_hit = torch.unique(dist.argmin(1)[near]).numel()
    assert modes_hit >= 4
    assert x.norm(dim=1).median() == pytest.approx(2.0, abs=0.3)


def test_ensemble_members_differ_and_each_equals_its_single_run(tiny):
    ens = Trainer([tiny.replace(seed=s) for s in (3, 4, 5)]).fit()
    one = Trainer(tiny.replace(seed=4)).fit()
    assert not np.allclose(ens.snapshots[-1].fake[0], ens.snapshots[-1].fake[1])
    np.testing.assert_allclose(ens.snapshots[-1].fake[1], one.snapshots[-1].fake[0], atol=1e-4)
    np.testing.assert_allclose(ens.member_history(1)["d_loss"], one.member_history(0)["d_loss"], atol=1e-5)


def test_ensemble_of_one_is_the_single_run(tiny):
    a = train(tiny, seeds=[7])
    b = train(tiny.replace(seed=7))
    assert torch.equal(a.generator.flat, b.generator.flat)
    assert torch.equal(a.discriminator.flat, b.discriminator.flat)


def test_same_seed_same_run_and_different_seed_differs(tiny):
    a, b, c = train(tiny), train(tiny), train(tiny.replace(seed=1))
    assert torch.equal(a.generator.flat, b.generator.flat)
    assert not torch.equal(a.generator.flat, c.generator.flat)


@pytest.mark.parametrize("threads", [1, 2])
def test_same_seed_and_thread_count_give_the_same_run_bit_for_bit(tiny, threads):
    """engine.md's promise: the same seeds on the same thread count (and torch build) train the same
    run, bit for bit - weights, batch-norm statistics, logged losses and snapshots. On PacGAN's
    kinds of layers (batch norm, maxout, packs, normal init), an ensemble of two, an explicit thread
    count ("auto" changes it with the machine's load). A different count is not promised (torch may
    split a sum another way); measured here, 1 and 2 threads gave the same bits."""
    cfg = tiny.replace(g_batchnorm=True, d_maxout=3, pack=2, init="normal", threads=threads)

    def fit():
        return Trainer([cfg.replace(seed=s) for s in (0, 1)]).fit()

    a, b = fit(), fit()
    assert torch.equal(a.generator.flat, b.generator.flat)
    assert torch.equal(a.discriminator.flat, b.discriminator.flat)
    assert torch.equal(a.sample(500, seed=0, member=1), b.sample(500, seed=0, member=1))   # running statistics
    for e in (0, 1):
        for k in ("d_loss", "g_loss", "d_grad_norm", "g_grad_norm"):
            np.testing.assert_array_equal(a.member_history(e)[k], b.member_history(e)[k])
    assert len(a.snapshots) == len(b.snapshots) > 1
    for sa, sb in zip(a.snapshots, b.snapshots):
        np.testing.assert_array_equal(sa.fake, sb.fake)
        np.testing.assert_array_equal(sa.d_grid, sb.d_grid)


def test_members_with_their_own_learning_rates_equal_single_runs(tiny):
    cfgs = [tiny.replace(lr_d=1e-3, lr_g=2e-4), tiny.replace(lr_d=2e-4, lr_g=1e-3)]
    ens = Trainer(cfgs).fit()
    for e, c in enumerate(cfgs):
        single = Trainer(c).fit()
        torch.testing.assert_close(ens.generator.flat[e], single.generator.flat[0], atol=1e-5, rtol=1e-4)


def test_ensemble_members_may_not_differ_in_structure(tiny):
    with pytest.raises(ConfigError, match="differs in g_hidden"):
        Trainer([tiny, tiny.replace(g_hidden=8)])


def test_bad_config_raises_before_anything_is_written(tmp_path):
    with pytest.raises(ConfigError, match="lr_g") as err:
        train(out=tmp_path / "run", lr_g=-1.0, loss="nope")
    assert "loss: allowed: 'nonsaturating'" in str(err.value)
    with pytest.raises(ConfigError, match="unknown field"):
        train(out=tmp_path / "run", learning_rate=0.1)
    assert not (tmp_path / "run").exists()


def test_forced_nan_ends_the_run_as_diverged_with_earlier_snapshots_intact(tiny, tmp_path):
    def poison(trainer, snap):
        if snap.step == 40:
            trainer.gen.flat.data[0, 0] = math.nan

    run = train(tiny.replace(steps=200), out=tmp_path / "nan", callbacks=[poison])
    assert run.status == "diverged" and run.diverged_step == [41]
    assert [s.step for s in run.snapshots] == [0, 20, 40]
    assert all(np.isfinite(s.fake).all() for s in run.snapshots)
    back = load_run(run.path)
    assert back.status == "diverged" and back.diverged_step == [41]
    assert [s.step for s in back.snapshots] == [0, 20, 40]


def test_one_member_diverging_leaves_the_others_training(tiny):
    def poison(trainer, snap):
        if snap.step == 20:
            trainer.disc.flat.data[1] = math.nan

    run = Trainer([tiny.replace(seed=s) for s in range(3)], callbacks=[poison]).fit()
    assert run.member_status == ["completed", "diverged", "completed"]
    assert run.diverged_step[1] == 21 and run.status == "completed"
    assert np.isfinite(run.snapshots[-1].fake[[0, 2]]).all()


def test_saved_run_loads_back_equal(tiny, tmp_path):
    run = train(tiny, out=tmp_path / "r")
    back = load_run(tmp_path / "r")
    assert back.configs == run.configs and back.status == "completed" and back.step == 60
    for k in ("step", "d_loss", "g_loss", "d_grad_norm"):
        np.testing.assert_allclose(back.history[k], run.history[k], rtol=1e-5)
    assert [s.step for s in back.snapshots] == [s.step for s in run.snapshots]
    np.testing.assert_array_equal(back.snapshots[-1].d_grid, run.snapshots[-1].d_grid)
    assert torch.equal(back.sample(100, seed=5), run.sample(100, seed=5))
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == [
        "checkpoint.pt", "checkpoint.pt.sha256", "config.json", "metrics.csv", "snapshots", "status.json",
        "target_view.npz"]


def test_a_new_run_never_overwrites_another(tiny, tmp_path):
    a = train(tiny, out=tmp_path / "r")
    b = train(tiny.replace(seed=1), out=tmp_path / "r")
    assert a.path.name == "r" and b.path.name == "r-2"
    assert load_run(a.path).config.seed == 0


def test_resume_continues_exactly_where_it_stopped(tiny, tmp_path):
    full = train(tiny.replace(steps=100), out=tmp_path / "full")
    half = train(tiny.replace(steps=40), out=tmp_path / "half")
    cont = resume(half.path, steps=100)
    assert cont.path == half.path and cont.step == 100 and cont.status == "completed"
    torch.testing.assert_close(cont.generator.flat, full.generator.flat)
    np.testing.assert_allclose(load_run(half.path).history["d_loss"], full.history["d_loss"], rtol=1e-5)


def test_memory_stays_bounded_by_thinning(tiny):
    run = train(tiny.replace(steps=400, snapshot_every=5, max_snapshots=10))
    assert len(run.snapshots) <= 10
    assert run.snapshots[0].step == 0 and run.snapshots[-1].step == 400


def test_callback_returning_false_stops_the_run(tiny):
    run = train(tiny.replace(steps=1000), callbacks=[lambda t, s: s.step < 40])
    assert run.status == "stopped" and run.step == 40


def test_keyboard_interrupt_ends_cleanly_with_what_was_recorded(tiny, tmp_path):
    def ctrl_c(trainer, snap):
        if snap.step == 40:
            raise KeyboardInterrupt

    run = train(tiny.replace(steps=1000), out=tmp_path / "i", callbacks=[ctrl_c])
    assert run.status == "interrupted" and run.step == 40
    assert load_run(run.path).status == "interrupted"


@pytest.mark.parametrize("loss", ["nonsaturating", "minimax", "lsgan", "wgan", "wgan-gp", "hinge"])
def test_every_objective_trains_without_error(tiny, loss):
    run = train(tiny.replace(loss=loss, steps=20))
    trained = run.history["step"] > 0          # round 0 has measurements but no losses yet
    assert run.status == "completed" and np.isfinite(run.history["d_loss"][trained]).all()
    if loss == "wgan":
        assert run.discriminator.flat.abs().max() <= tiny.clip + 1e-7


def test_snapshot_contents_have_the_documented_shapes(tiny):
    run = train(tiny.replace(steps=20))
    s = run.snapshots[-1]
    assert s.fake.shape == (1, 64, 2) and s.d_grad.shape == (1, 64, 2)
    assert s.d_grid.shape == (1, 16, 16) and s.manifold.shape == (1, 5, 5, 2)
    # the stored grid really is D on the grid over the bounds: check one corner
    x0, x1, y0, y1 = run.target.bounds
    assert float(run.discriminate(torch.tensor([[x1, y0]]))) == pytest.approx(s.d_grid[0, 0, -1], abs=1e-5)


def test_conditional_gan_and_spectral_norm(tiny):
    run = train(tiny.replace(conditional=True, spectral_norm=True, steps=20))
    assert run.status == "completed"
    # spectral norm: each D layer's largest singular value is ~1 after power iterations
    d = run.discriminator
    for i, (w, _) in enumerate(d.params()):
        assert float(torch.linalg.matrix_norm(d._sn(i, w), ord=2)) == pytest.approx(1.0, abs=0.1)
    with pytest.raises(ConfigError, match="conditional"):
        train(tiny.replace(conditional=True, dataset="swissroll"))


def test_simultaneous_needs_one_step_each():
    with pytest.raises(ConfigError, match="simultaneous"):
        TrainConfig(update="simultaneous", d_steps=2)
    TrainConfig(update="simultaneous")


def test_d_steps_apply_several_discriminator_updates_then_g_steps(tiny):
    t = Trainer(tiny.replace(d_steps=3, g_steps=2))
    calls = []
    orig = t.game.grad
    t.game.grad = lambda who="xy": (calls.append(who), orig(who))[1]
    t.round()
    assert calls == ["y", "y", "y", "x", "x"]


def test_device_auto_is_cpu_here_and_a_missing_device_is_refused():
    assert toylab.resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else
                                                  "mps" if torch.backends.mps.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            toylab.resolve_device("cuda")
    with pytest.raises(ConfigError, match="device"):
        toylab.make_config(device="gpu")


def test_tensorboard_logging_writes_events(tiny, tmp_path):
    pytest.importorskip("tensorboard")   # the dev extra installs it, so CI runs this
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = train(tiny.replace(tensorboard=True, steps=40), out=tmp_path / "tb")
    acc = EventAccumulator(str(run.path / "tensorboard"))
    acc.Reload()
    steps = [e.step for e in acc.Scalars("losses/d_loss")]
    assert steps == [10, 20, 30, 40]
    assert "snapshot" in acc.Tags()["images"]


def test_run_files_get_the_usual_permissions(tiny, tmp_path):
    import os
    import stat
    run = train(tiny.replace(steps=20), out=tmp_path / "p")
    mode = stat.S_IMODE(os.stat(run.path / "status.json").st_mode)
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask


def test_penalties_on_a_linear_discriminator_have_their_closed_forms():
    """D(x) = w . x has grad w everywhere: GP = (|w| - 1)^2, R1 = 1/2 |w|^2."""
    from toylab import losses
    w = torch.tensor([3.0, 4.0])                               # |w| = 5
    d = lambda x: (x * w).sum(-1, keepdim=True)               # noqa: E731
    real, fake = torch.randn(2, 64, 2), torch.randn(2, 64, 2)
    eps = torch.rand(2, 64, 1)
    torch.testing.assert_close(losses.gradient_penalty(d, real, fake, eps), torch.full((2,), 16.0))
    torch.testing.assert_close(losses.r1_penalty(d, real), torch.full((2,), 12.5))
    # BCE forms: at logit 0 (D = 1/2) the D loss is 2 ln 2 and the non-saturating G loss ln 2
    zero = torch.zeros(1, 8, 1)
    assert float(losses.d_loss("nonsaturating", zero, zero)) == pytest.approx(2 * math.log(2))
    assert float(losses.g_loss("nonsaturating", zero)) == pytest.approx(math.log(2))
    assert float(losses.g_loss("minimax", zero)) == pytest.approx(-math.log(2))


def test_retune_changes_learning_rate_as_if_set_from_the_start(tiny):
    from toylab import Trainer
    from toylab.engine.config import ConfigError
    a = Trainer(tiny.replace(lr_d=1e-3, lr_g=5e-4, d_steps=2))
    b = Trainer(tiny.replace(lr_d=2e-4, lr_g=2e-4, d_steps=1))
    b.retune(lr_d=1e-3, lr_g=5e-4, d_steps=2)
    for _ in range(3):
        a.round()
        b.round()
    torch.testing.assert_close(a.disc.flat, b.disc.flat)
    torch.testing.assert_close(a.gen.flat, b.gen.flat)
    assert b.cfg.d_steps == 2 and b.game.opt_d.param_groups[0]["lr"] == 1e-3
    with pytest.raises(ConfigError, match="batch_size: cannot change during a run; changeable: lr_d"):
        b.retune(batch_size=32)
    with pytest.raises(ConfigError, match="lr_d"):
        b.retune(lr_d=-1.0)
    assert b.cfg.lr_d == 1e-3                  # a refused change leaves the trainer as it was


def test_threads_are_set_while_fitting_and_restored_after(tiny):
    before = torch.get_num_threads()
    seen = []

    def watch(trainer, snap):
        seen.append(torch.get_num_threads())

    train(tiny.replace(threads=2, steps=20), callbacks=[watch])
    assert set(seen) == {2} and torch.get_num_threads() == before
    seen.clear()
    train(tiny.replace(steps=20, batch_size=32), callbacks=[watch])   # "auto", 32 rows a round: one
    assert set(seen) == {1} and torch.get_num_threads() == before


def test_auto_threads_follow_the_machines_load():
    from toylab import threads
    assert threads.choose(32, 2.0, 2) == 1                     # small rounds: one thread is as fast
    assert threads.choose(64, 2.0, 2) == 2
    assert threads.choose(512, 2.0, 2) == 2                    # idle: every core
    assert threads.choose(512, 1.75, 2) == 2                   # a little background work
    assert threads.choose(512, 1.0, 2) == 1                    # one core busy elsewhere: one thread
    assert threads.choose(512, 0.2, 2) == 1
    assert threads.choose(4096, 7.0, 8) == 7
    assert threads.choose(512, None, 2) == 1                   # load unknown (not Linux)
    assert threads.choose(512, 2.0, 2, side_by_side=2) == 1    # two fits in one process


def test_load_meter_sees_another_process_spinning():
    import subprocess
    import sys
    import time

    from toylab import threads
    meter = threads.LoadMeter()
    if meter._last is None:
        pytest.skip("no /proc/stat on this system: auto threads fall back to one")
    spin = subprocess.Popen([sys.executable, "-c", "import time\nend = time.monotonic() + 30\nwhile time.monotonic() < end: pass"])
    try:
        time.sleep(0.3)
        meter.others()                                          # a reading with the spinner running
        time.sleep(1.0)
        busy = meter.others()
    finally:
        spin.kill()
        spin.wait()
    assert busy >= 0.8                                          # the spinner's core (plus anything else running)
    readings = iter([(10.0, 100.0, 5.0), (12.0, 103.0, 7.0)])   # (time, machine busy s, our own CPU s)
    meter._read = lambda: next(readings)
    meter._last = meter._read()
    assert meter.others() == pytest.approx(0.5)                 # 3 busy core-seconds, 2 of them ours, in 2 s


def test_maxout_layers_keep_the_largest_of_k_affine_pieces():
    from toylab.engine.nets import BatchedMLP
    g = [torch.Generator().manual_seed(s) for s in (0, 1)]
    net = BatchedMLP(2, 1, 3, 1, g, maxout=4)
    assert [b for _, _, b in net.shapes] == [12, 1]                  # 3 units x 4 pieces, then the output
    x = torch.randn(2, 5, 2)
    (w0, b0), (w1, b1) = net.weights()
    pieces = (x @ w0 + b0).reshape(2, 5, 4, 3)                        # piece j of unit u is column 3j + u
    expected = pieces.max(-2).values @ w1 + b1
    torch.testing.assert_close(net(x), expected)


@pytest.mark.parametrize("n_out", [1, 2, 4])
def test_a_thin_layer_has_the_plain_products_values_gradients_and_second_derivatives(n_out):
    """ThinLinear lays the products out for the CPU's GEMM: the same numbers as baddbmm, and a
    backward made of differentiable ops (gradient penalties and the unrolled look-ahead need
    second derivatives through D)."""
    from toylab.engine.nets import ThinLinear
    g = torch.Generator().manual_seed(0)
    h = torch.randn(3, 7, 5, dtype=torch.float64, generator=g, requires_grad=True)
    w = torch.randn(3, 5, n_out, dtype=torch.float64, generator=g, requires_grad=True)
    b = torch.randn(3, 1, n_out, dtype=torch.float64, generator=g, requires_grad=True)
    torch.testing.assert_close(ThinLinear.apply(h, w, b), torch.baddbmm(b, h, w))
    assert torch.autograd.gradcheck(ThinLinear.apply, (h, w, b))
    assert torch.autograd.gradgradcheck(ThinLinear.apply, (h, w, b))
    # a gradient penalty's shape: |d out / d h|^2 differentiated w.r.t. the weights
    penalties = []
    for f in (lambda: ThinLinear.apply(h, w, b), lambda: torch.baddbmm(b, h, w)):
        gh, = torch.autograd.grad(torch.tanh(f()).sum(), h, create_graph=True)
        penalties.append(torch.autograd.grad(gh.pow(2).sum(), w)[0])
    torch.testing.assert_close(*penalties)
    assert penalties[0].abs().max() > 0.1


def test_maxout_has_amaxs_values_and_gradients_and_a_penalty_differentiates_through_it():
    from toylab.engine.nets import Maxout
    g = torch.Generator().manual_seed(1)
    h = torch.randn(2, 6, 12, dtype=torch.float64, generator=g, requires_grad=True)
    w = torch.randn(2, 3, dtype=torch.float64, generator=g)
    results = []
    for f in (lambda x: Maxout.apply(x, 4), lambda x: x.unflatten(-1, (4, -1)).amax(-2)):     # piece-major
        out = f(h)
        gh, = torch.autograd.grad((out * w[:, None]).sum(), h, create_graph=True)
        results.append((out, gh))
    torch.testing.assert_close(results[0], results[1])
    assert int((results[0][1] != 0).sum()) == 2 * 6 * 3                  # one piece a unit gets the gradient
    assert torch.autograd.gradcheck(lambda x: Maxout.apply(x, 4), (h,))


def test_the_thin_output_layers_train_the_weights_the_plain_products_train(tiny, monkeypatch):
    """20 rounds with ThinLinear (D's 1 output, G's 2) and with plain baddbmm everywhere: the same
    weights to float tolerance, for the objectives whose D steps differentiate twice too."""
    import toylab.engine.nets as nets
    for fields in ({}, {"loss": "wgan-gp"}, {"unrolled_steps": 2}, {"r1_gamma": 1.0}):
        cfg, weights = tiny.replace(**fields), []
        for thin in (nets.THIN, 0):
            monkeypatch.setattr(nets, "THIN", thin)
            t = Trainer([cfg.replace(seed=s) for s in range(2)])
            for _ in range(20):
                t.round()
            weights.append(torch.cat([t.gen.flat.detach(), t.disc.flat.detach()], 1))
        torch.testing.assert_close(weights[0], weights[1], atol=2e-5, rtol=0, msg=str(fields))


def test_normal_initialisation_and_per_network_activations(tiny):
    from toylab.engine.model import Networks
    nets = Networks(tiny.replace(init="normal", init_std=0.02, g_activation="relu", d_activation="tanh",
                                 g_hidden=256, d_hidden=256))
    for net in (nets.gen, nets.disc):
        (w, b), *_ = net.weights()
        assert float(w.std()) == pytest.approx(0.02, rel=0.05) and not b.any()
    assert (nets.gen.activation, nets.disc.activation) == ("relu", "tanh")
    plain = Networks(tiny)
    assert (plain.gen.activation, plain.disc.activation) == ("leaky_relu", "leaky_relu")
    with pytest.raises(ConfigError, match="d_maxout"):
        tiny.replace(d_maxout=0)
    with pytest.raises(ConfigError, match="init"):
        tiny.replace(init="xavier")


def test_ensemble_member_equals_its_single_run_with_paper_architectures(tiny):
    """PacGAN-style networks (maxout D, N(0, 0.02) init, ReLU G): member e of an ensemble trains
    exactly like the single run of its seed, as for the default networks."""
    paper = tiny.replace(d_maxout=5, init="normal", init_std=0.02, g_activation="relu", g_batchnorm=True, steps=30)
    ens = Trainer([paper.replace(seed=s) for s in (3, 4)]).fit()
    one = Trainer(paper.replace(seed=4)).fit()
    np.testing.assert_allclose(ens.snapshots[-1].fake[1], one.snapshots[-1].fake[0], atol=1e-4)
    torch.testing.assert_close(ens.discriminator.flat[1], one.discriminator.flat[0], atol=1e-5, rtol=1e-4)


def test_batchnorm_uses_the_batch_in_training_and_running_statistics_when_sampling():
    from toylab.engine.nets import BN_MOMENTUM, BatchedMLP
    g = [torch.Generator().manual_seed(s) for s in (0, 1)]
    net = BatchedMLP(2, 1, 4, 1, g, activation="relu", batchnorm=True)
    (w0, b0, gamma, beta), (w1, b1) = net.weights()
    assert gamma.eq(1).all() and beta.eq(0).all()
    x = torch.randn(2, 64, 2) * 3 + 1
    pre = x @ w0 + b0
    for e in range(2):                       # per member: torch's own batch norm over that member's batch
        ref = torch.nn.functional.batch_norm(pre[e], None, None, training=True)
        torch.testing.assert_close(net(x)[e], torch.relu(ref) @ w1[e] + b1[e], atol=1e-5, rtol=1e-5)
    m = BN_MOMENTUM                          # two training forwards above: m mean, then (1 - m) m mean + m mean
    torch.testing.assert_close(net.bn_mean0, (2 * m - m * m) * pre.mean(1))
    net.eval()                               # eval: the running statistics, whatever the batch
    one = net(x[:, :1])
    ref = (pre[:, :1] - net.bn_mean0[:, None]) / torch.sqrt(net.bn_var0[:, None] + 1e-5)
    torch.testing.assert_close(one, torch.relu(ref) @ w1 + b1, atol=1e-5, rtol=1e-5)


def test_resume_with_batchnorm_continues_exactly(tiny, tmp_path):
    bn = tiny.replace(g_batchnorm=True, g_activation="relu")
    full = train(bn.replace(steps=60), out=tmp_path / "full")
    half = train(bn.replace(steps=20), out=tmp_path / "half")
    cont = resume(half.path, steps=60)
    torch.testing.assert_close(cont.generator.flat, full.generator.flat)
    torch.testing.assert_close(cont.generator.bn_var0, full.generator.bn_var0)
    np.testing.assert_allclose(cont.snapshots[-1].fake, full.snapshots[-1].fake, atol=1e-5)


def test_retune_and_train_to_while_fit_runs_in_another_thread():
    """A live edit: checked at once in the caller, applied by the training thread before its next
    round; train_to moves the end of the fit in progress; pace caps the rounds per second."""
    import threading
    import time

    t = Trainer(TrainConfig(steps=100_000, snapshot_every=10, metrics_every=0, g_hidden=16, d_hidden=16,
                            n_fixed=100, grid_size=20, device="cpu"))
    worker = threading.Thread(target=t.fit)
    worker.start()
    try:
        end = time.monotonic() + 60
        while t.step < 20 and time.monotonic() < end:
            time.sleep(0.01)
        t.retune(lr_d=1e-3, d_steps=2)
        with pytest.raises(ConfigError, match="g_hidden: cannot change during a run"):
            t.retune(g_hidden=8)
        with pytest.raises(ConfigError):
            t.retune(lr_d=-1.0)                      # refused in the caller, nothing queued
        while (t.cfg.lr_d, t.cfg.d_steps) != (1e-3, 2) and time.monotonic() < end:
            time.sleep(0.01)
        assert (t.cfg.lr_d, t.cfg.d_steps) == (1e-3, 2) and worker.is_alive()
        stop_at = t.step + 30
        t.train_to(stop_at)
    finally:
        worker.join(60)
    assert not worker.is_alive() and t.step == stop_at and t.status == "completed"
    with pytest.raises(ConfigError, match="pace: rounds per second must be a number >= 0"):
        t.pace(-1)
    t.pace(50)                                       # 20 rounds at most 50 a second: at least 19 rests of 20 ms
    start = time.perf_counter()
    t.fit(stop_at + 20)
    assert time.perf_counter() - start >= 0.38 and t.step == stop_at + 20


def _both(t):
    return t.disc.flat.detach().clone(), t.gen.flat.detach().clone()


def _set(t, d, g):
    with torch.no_grad():
        t.disc.flat.copy_(d)
        t.gen.flat.copy_(g)


@pytest.mark.parametrize("method", ["extragradient", "optimistic"])
def test_the_gan_steps_joint_methods_are_the_xy_games_formulas(tiny, method):
    """With SGD (a step is lr x the gradient) the GAN's joint methods are the xy game's
    (toylab.games): extragradient z' = z - lr F(z - lr F(z)); optimistic z2 = z1 - 2 lr F(z1)
    + lr F(z0) after a plain first step. Checked against gradients taken by hand on the very
    batches the round draws (a twin trainer with the same seed draws the same ones)."""
    lr = 0.05
    cfg = tiny.replace(update=method, d_optimizer="sgd", g_optimizer="sgd", lr_d=lr, lr_g=lr, metrics_every=0)
    t, twin = Trainer(cfg), Trainer(cfg.replace(update="simultaneous"))
    d0, g0 = _both(twin)
    gd, gg = (g.clone() for g in twin.game.grad())        # the game's buffers: the next grad() reuses them
    if method == "extragradient":
        _set(twin, d0 - lr * gd, g0 - lr * gg)                    # the look-ahead point
        hd, hg = twin.game.grad()
        expected, plain = (d0 - lr * hd, g0 - lr * hg), (d0 - lr * gd, g0 - lr * gg)
        t.round()
    else:
        d1, g1 = d0 - lr * gd, g0 - lr * gg                       # the first step is plain
        _set(twin, d1, g1)
        hd, hg = twin.game.grad()
        expected = (d1 - 2 * lr * hd + lr * gd, g1 - 2 * lr * hg + lr * gg)
        plain = (d1 - lr * hd, g1 - lr * hg)
        t.round()
        t.round()
    for got, want in zip(_both(t), expected):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    assert not any(torch.allclose(got, p, rtol=1e-5, atol=1e-6) for got, p in zip(_both(t), plain))  # not plain GDA


def test_an_optimistic_run_resumes_exactly_its_memory_is_in_the_checkpoint(tiny, tmp_path):
    cfg = tiny.replace(update="optimistic", steps=60)
    full = train(cfg, out=tmp_path / "full")
    half = train(cfg.replace(steps=30), out=tmp_path / "half")
    cont = resume(half.path, steps=60)
    torch.testing.assert_close(cont.generator.flat, full.generator.flat)
    with pytest.raises(ConfigError, match="update='extragradient' needs d_steps = g_steps = 1"):
        TrainConfig(update="extragradient", d_steps=2)


def test_a_resumed_fit_holds_the_snapshots_an_uninterrupted_one_holds(tiny, tmp_path):
    """The fit's thinning rule (runs.keep: past max_snapshots, every other one dropped) is
    replayed when a run is resumed (runs.kept), so resuming changes nothing in memory; the
    frames chosen to show (runs.thin) are exactly k, evenly spread."""
    from toylab.engine import runs
    cfg = tiny.replace(steps=120, snapshot_every=10, max_snapshots=5)
    full = train(cfg, out=tmp_path / "full")
    train(cfg.replace(steps=70), out=tmp_path / "half")
    cont = resume(tmp_path / "half", steps=120)
    assert [s.step for s in full.snapshots] == [0, 80, 100, 110, 120]
    assert [s.step for s in cont.snapshots] == [s.step for s in full.snapshots]
    assert [s.step for s in load_run(tmp_path / "full", max_snapshots=4).snapshots] == [0, 40, 80, 120]
    assert runs.kept(13, 5) == [0, 8, 10, 11, 12] and runs.thin(13, 4) == [0, 4, 8, 12]


def test_a_loaded_run_is_records_until_its_networks_are_first_used(tiny, tmp_path):
    """load_run reads records without torch (the checkpoint judged by its digest); G and D
    are loaded on first use and are the trained ones."""
    import subprocess
    import sys
    ref = train(tiny.replace(steps=20), out=tmp_path / "r")
    code = ("import sys; from toylab.engine.runs import load_run; run = load_run(sys.argv[1]); "
            "assert 'torch' not in sys.modules and run._nets is None; "
            "import torch; torch.save(run.generator.flat.detach(), sys.argv[2])")
    subprocess.run([sys.executable, "-c", code, str(ref.path), str(tmp_path / "g.pt")], check=True)
    assert torch.equal(torch.load(tmp_path / "g.pt"), ref.generator.flat.detach())


@pytest.mark.parametrize("slope", [0.2, 0.0])
def test_the_in_place_activation_gives_the_plain_mlps_values_and_gradients(slope):
    """LeakyReLU runs in place on each layer's fresh pre-activation (one activation-sized tensor
    less a layer: +11-15 % member-rounds/s on the default ensemble, docs/performance.md). The
    values, the gradients and a gradient penalty's second derivative equal those of the same MLP
    written with the plain activation, member by member."""
    import torch.nn.functional as F

    from toylab.engine.nets import BatchedMLP
    net = BatchedMLP(2, 1, 16, 2, [torch.Generator().manual_seed(s) for s in range(3)], leaky_slope=slope)
    x = torch.randn(3, 40, 2, generator=torch.Generator().manual_seed(9), requires_grad=True)

    def plain(x):
        h = x
        layers = net.weights()
        for i, (w, b) in enumerate(layers):
            h = torch.baddbmm(b, h, w)
            if i < len(layers) - 1:
                h = F.leaky_relu(h, slope)
        return h

    for f in (net, plain):
        out = f(x)
        g_x, = torch.autograd.grad(out.sum(), x, create_graph=True)
        g_w, = torch.autograd.grad(out.pow(2).sum() + g_x.pow(2).sum(), net.flat)
        if f is net:
            first = (out.detach(), g_x.detach(), g_w)
    torch.testing.assert_close(first[0], out.detach())
    torch.testing.assert_close(first[1], g_x.detach())
    torch.testing.assert_close(first[2], g_w)
    assert first[2].abs().sum() > 0


def test_live_frames_between_snapshots_change_nothing_but_what_is_shown(tiny, tmp_path):
    """A live face's frames between the scheduled snapshots (snapshot_seconds; 0 here: after every
    round) are shown and replaced: the run trains, records, measures and writes exactly what it
    would without them, and holds at most one such frame, the newest."""
    cfg = tiny.replace(steps=45, metrics_every=20, snapshot_every=5, max_snapshots=4)
    plain = Trainer(cfg, out=tmp_path / "plain")
    plain.fit()
    seen, held = [], []

    def look(t, snap):
        seen.append((snap.step, snap.provisional))
        held.append([(s.step, s.provisional) for s in t.snapshots])
    live = Trainer(cfg, out=tmp_path / "live", callbacks=[look])
    live.snapshot_seconds = 0.0
    live.fit()
    assert [s for s, p in seen if p] == [s for s in range(1, 45) if s % 5]          # a frame every round between
    assert [s for s, p in seen if not p] == list(range(5, 46, 5))
    assert all(not any(p for _, p in h[:-1]) for h in held)   # older frames gave way to the newest
    assert [h[-1] for h in held] == seen
    for before, now in zip(held, held[1:]):                    # a frame is held beside the kept ones, never
        if now[-1][1]:                                         # a cause to thin them (the newest kept stays)
            assert now[:-1] == [x for x in before if not x[1]]
    assert [s.step for s in live.snapshots] == [s.step for s in plain.snapshots]    # thinned alike (max 4)
    assert not any(s.provisional for s in live.snapshots)
    for mine, theirs in ((live.gen, plain.gen), (live.disc, plain.disc)):
        assert torch.equal(mine.flat, theirs.flat)                                 # trained the same, bit for bit
    for k, v in plain.hist.arrays().items():
        np.testing.assert_array_equal(live.hist.arrays()[k], v, err_msg=k)          # losses and measurements
    files = sorted(p.name for p in (tmp_path / "live" / "snapshots").iterdir())
    assert files == sorted(p.name for p in (tmp_path / "plain" / "snapshots").iterdir()) and len(files) == 10
    # a fit stopped on a live frame (its callback said stop) ends on a snapshot of that round, kept and written
    stopper = Trainer(cfg, out=tmp_path / "stopped", callbacks=[lambda t, snap: not (snap.provisional and t.step == 23)])
    stopper.snapshot_seconds = 0.0
    run = stopper.fit()
    assert run.step == 23 and run.snapshots[-1].step == 23 and not run.snapshots[-1].provisional
    assert (tmp_path / "stopped" / "snapshots" / "step_00000023.npz").exists()


def _legacy_maxout(tmp_path):
    """A copy of the run tests/data/make_unit_major_maxout.py wrote with the code of 61488d9 (maxout
    layers unit-major), and what that code computed from it."""
    import shutil
    from pathlib import Path
    data = Path(__file__).parent / "data"
    run = tmp_path / "run"
    shutil.copytree(data / "unit_major_maxout", run)
    return run, torch.load(data / "unit_major_maxout_expected.pt", weights_only=True)


def _logits(run, points):
    nets = load_run(run).networks()
    return torch.stack([nets.discriminate(points, m) for m in range(nets.E)])


def test_a_run_saved_with_unit_major_maxout_layers_loads_and_resumes_as_the_code_that_saved_it(tmp_path):
    """Until 2026-12-05 D's maxout layers were stored unit-major (unit u's pieces in columns
    uk..uk+k-1). Loading such a run reorders its weights, spectral-norm vectors, Adam moments and
    the optimistic update's memory, so D's field, and the run resumed, are the old code's."""
    run, old = _legacy_maxout(tmp_path)
    assert "maxout_layout" not in torch.load(run / "checkpoint.pt", weights_only=True)
    torch.testing.assert_close(_logits(run, old["points"]), old["logits_20"])
    resume(run, 30)
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    assert state["maxout_layout"] == "piece-major"
    order = load_run(run).networks().disc.unit_major_order()
    assert not torch.equal(order, torch.arange(len(order)))
    torch.testing.assert_close(state["disc"]["flat"], old["disc_30"][:, order])
    torch.testing.assert_close(state["gen"]["flat"], old["gen_30"])
    torch.testing.assert_close(_logits(run, old["points"]), old["logits_30"])


def test_a_maxout_run_trained_today_is_the_run_the_unit_major_code_trained(tmp_path):
    """The networks are drawn unit by unit as before and stored piece-major: the same functions,
    so the same run to float tolerance (the fixture's 20 rounds, trained afresh)."""
    run, old = _legacy_maxout(tmp_path)
    configs = load_run(run).configs
    fresh = train(configs, out=tmp_path / "fresh")
    torch.testing.assert_close(_logits(fresh.path, old["points"]), old["logits_20"])


def test_a_member_diverging_on_resume_keeps_its_unit_major_rows_reordered(tmp_path):
    """A checkpoint keeps a diverged member's rows from the file already there: read from an old
    unit-major file, they are reordered like the rest (else D's row would mix two layouts)."""
    from toylab.engine.runs import load_run as load
    run, old = _legacy_maxout(tmp_path)
    before = torch.load(run / "checkpoint.pt", weights_only=True)
    t = Trainer.resumed(load(run, snapshots=False, weights=False), 40)
    t.disc.flat.data[1] = math.nan
    t.fit(40)
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    assert state["step"] == 40 and load(run).member_status == ["completed", "diverged"]
    order = t.disc.unit_major_order()
    torch.testing.assert_close(state["disc"]["flat"][1], before["disc"]["flat"][1][order], rtol=0, atol=0)
    torch.testing.assert_close(state["gen"]["flat"][1], before["gen"]["flat"][1], rtol=0, atol=0)
    assert not torch.equal(state["disc"]["flat"][0], before["disc"]["flat"][0][order])   # the healthy one trained on


def test_an_old_maxout_checkpoint_with_weights_of_another_size_is_refused_with_its_name(tmp_path):
    from toylab.engine.model import Networks
    run, _ = _legacy_maxout(tmp_path)
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    configs = load_run(run).configs
    for bad in (state["disc"]["flat"][:, :-3], state["disc"]["flat"][0]):
        garbled = {**state, "disc": {**state["disc"], "flat": bad}}
        with pytest.raises(ValueError, match="old.pt: unreadable checkpoint, or weights that do not fit"):
            Networks.load(configs, garbled, name="old.pt")


def test_an_old_maxout_checkpoint_with_the_memory_as_a_list_or_a_layout_unknown_here(tmp_path):
    """Before 21b87b4 the optimistic update's memory was saved as a list [dD, dG]: its D part is
    reordered too. A layout name this code does not know is refused, naming the file."""
    from toylab.engine.model import Networks
    run, _ = _legacy_maxout(tmp_path)
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    nets = Networks(load_run(run).configs)
    size = nets.disc.size
    as_list = {**state, "memory": [state["memory"][:, :size], state["memory"][:, size:]]}
    torch.testing.assert_close(nets.upgrade(as_list)["memory"], nets.upgrade(state)["memory"], rtol=0, atol=0)
    assert not torch.equal(nets.upgrade(state)["memory"], state["memory"])
    with pytest.raises(ValueError, match="old.pt: unreadable checkpoint.*maxout_layout: 'unit-minor'"):
        Networks.load(load_run(run).configs, {**state, "maxout_layout": "unit-minor"}, name="old.pt")
