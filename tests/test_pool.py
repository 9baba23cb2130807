"""The pool of live ensembles: runs started at any time share batched rounds, and each ends with
the weights, records and status it would reach alone."""

import threading

import numpy as np
import pytest
import torch

from toylab.engine.pool import Pool, fuse_key
from toylab.engine.training import Trainer

WAIT = 120.0        # seconds a test waits for pooled runs (they take ~1 s; a busy machine is slower)


class Exits:
    """on_exit callbacks of pooled runs: which ended, with what error, and waiting for them."""

    def __init__(self):
        self.errors, self._cond = {}, threading.Condition()

    def __call__(self, trainer):
        def on_exit(error):
            with self._cond:
                self.errors[id(trainer)] = error
                self._cond.notify_all()
        return on_exit

    def wait(self, *trainers):
        with self._cond:
            assert self._cond.wait_for(lambda: all(id(t) in self.errors for t in trainers), WAIT)
        for t in trainers:
            self.errors.pop(id(t))


def weights(t):
    return torch.cat([t.gen.flat.detach(), t.disc.flat.detach()], 1)


def solo(cfg):
    t = Trainer(cfg)
    t.fit()
    return t


def assert_same_run(pooled, alone):
    torch.testing.assert_close(weights(pooled), weights(alone), atol=1e-5, rtol=0)
    assert pooled.step == alone.step and pooled.status == alone.status
    assert [s.step for s in pooled.snapshots] == [s.step for s in alone.snapshots]
    a, b = pooled.hist.arrays(), alone.hist.arrays()
    np.testing.assert_allclose(a["d_loss"], b["d_loss"], atol=1e-5)
    np.testing.assert_allclose(a["js"], b["js"], atol=1e-4)


@pytest.fixture
def settings(tiny):
    """Four runs that share the networks' shapes but little else."""
    return [tiny, tiny.replace(seed=3, lr_d=1e-3, betas=(0.9, 0.99)),
            tiny.replace(seed=5, dataset="grid25", loss="lsgan", snapshot_every=10, metrics_every=20),
            tiny.replace(seed=7, loss="hinge", lr_g=5e-4, steps=40)]


def test_members_with_their_own_settings_end_with_the_weights_and_records_they_reach_alone(settings):
    pool, exits = Pool(max_groups=1, floor=0), Exits()
    pooled = [Trainer(c) for c in settings]
    assert len({fuse_key(t) for t in pooled}) == 1                      # one group for all four
    for t in pooled:
        assert pool.join(t, on_exit=exits(t)) == 0
    exits.wait(*pooled)
    for t, cfg in zip(pooled, settings):
        assert_same_run(t, solo(cfg))
    assert [t.step for t in pooled] == [60, 60, 60, 40]
    assert pool.stats() == [] and pool.members() == 0                   # the group ended with its members


def test_members_join_late_pause_and_come_back_at_round_boundaries(settings):
    """B joins when A is at round 20; A pauses at 40 (leaves), then trains on to 60 in the pool
    again; each equals its run alone (A's with the same pause)."""
    pool, exits = Pool(max_groups=1, floor=0), Exits()
    a_cfg, b_cfg = settings[0], settings[1]
    b = Trainer(b_cfg)

    def at_snapshot(trainer, snap):
        if snap.step == 20 and trainer is a:
            assert pool.join(b, on_exit=exits(b)) == 0
        if snap.step == 40 and trainer is a:
            return False                                        # a pause: the member leaves the group
    a = Trainer(a_cfg, callbacks=[at_snapshot])
    pool.join(a, on_exit=exits(a))
    exits.wait(a)
    assert a.step == 40 and a.status == "stopped"
    a.callbacks = []
    pool.join(a, 60, on_exit=exits(a))
    exits.wait(a, b)
    alone = Trainer(a_cfg, callbacks=[lambda trainer, snap: snap.step != 40])      # the same pause alone
    alone.fit()
    alone.callbacks = []
    alone.fit(60)
    assert_same_run(a, alone)
    assert_same_run(b, solo(b_cfg))


def test_a_live_edit_applies_at_the_next_round_as_a_retune_alone_would(settings):
    cfg = settings[0]
    pool, exits = Pool(max_groups=2, floor=0), Exits()

    def edit(trainer, snap):
        if snap.step == 20:
            trainer.retune(lr_d=1e-3)                       # same shapes: stays in the group
        if snap.step == 40:
            trainer.retune(d_steps=2)                       # another schedule: moves to a group of its own
    t, other = Trainer(cfg, callbacks=[edit]), Trainer(settings[1])
    pool.join(t, on_exit=exits(t))
    pool.join(other, on_exit=exits(other))
    exits.wait(t, other)
    alone = Trainer(cfg)
    alone.fit(20)
    alone.retune(lr_d=1e-3)
    alone.fit(40)
    alone.retune(d_steps=2)
    alone.fit(60)
    assert t.cfg.d_steps == 2 and t.cfg.lr_d == 1e-3
    torch.testing.assert_close(weights(t), weights(alone), atol=1e-5, rtol=0)
    assert_same_run(other, solo(settings[1]))


def test_admission_fills_groups_then_queues_and_a_waiting_run_starts_when_one_leaves(settings):
    pool, exits = Pool(max_groups=1, first_size=2, floor=1e9), Exits()          # full at 2 members
    gate = threading.Event()

    def hold(trainer, snap):                    # keep the first two training until the test says
        gate.wait(WAIT)
    first = [Trainer(c, callbacks=[hold]) for c in settings[:2]]
    third = Trainer(settings[2])
    assert [pool.join(t, on_exit=exits(t)) for t in first] == [0, 0]
    assert pool.join(third, on_exit=exits(third)) == 1             # the one group is full: first in line
    assert pool.place(third) == 1 and third.step == 0
    alone_key = Trainer(settings[0].replace(g_hidden=16))              # another shape: no group may start
    assert pool.join(alone_key, on_exit=exits(alone_key)) == 2
    assert pool.cancel(alone_key) and pool.place(alone_key) == 0
    fourth = Trainer(settings[3])
    assert pool.join(fourth, on_exit=exits(fourth)) == 2
    fourth.stop()                                                     # asked while it waits: kept
    gate.set()
    exits.wait(*first, third, fourth)
    assert_same_run(third, solo(settings[2]))
    assert fourth.step == 0 and fourth.status == "stopped"


def test_an_owner_training_none_takes_the_newest_place_of_an_owner_training_two(settings):
    """Issue #28 in the pool: A fills the one group (2 places); B asks: A's newest run gives up
    its place at the next round boundary and waits; A's third waits behind (A trains one); when B
    ends, A's bumped run trains on and every run ends as it would alone."""
    pool, exits = Pool(max_groups=1, max_members=2, floor=0), Exits()
    gate = threading.Event()

    def hold(trainer, snap):
        gate.wait(WAIT)
    a1, a2 = (Trainer(c, callbacks=[hold]) for c in settings[:2])
    assert pool.join(a1, on_exit=exits(a1), owner="A") == 0 and pool.join(a2, on_exit=exits(a2), owner="A") == 0
    b, a3 = Trainer(settings[2]), Trainer(settings[3])
    assert pool.join(b, on_exit=exits(b), owner="B") == 0                # A's newest place is B's
    assert pool.training("A") == 1 and pool.training("B") == 1
    assert pool.join(a3, on_exit=exits(a3), owner="A") in (1, 2)         # A trains one: it waits (behind
                                                                         # A's bumped run if it left already)
    c = Trainer(settings[0].replace(seed=11))
    assert pool.join(c, on_exit=exits(c), owner="C") >= 2                # A holds one place only now: C waits
    gate.set()
    exits.wait(a1, a2, b, a3, c)
    for t, cfg in ((a1, settings[0]), (a2, settings[1]), (b, settings[2]), (a3, settings[3]),
                   (c, settings[0].replace(seed=11))):
        assert_same_run(t, solo(cfg))
    assert pool.members() == 0 and not pool.waiting


def test_room_that_frees_goes_first_to_the_owner_training_the_fewest(settings):
    """Two waiting runs, A's (A trains one) ahead of C's (C trains none): the freed place is C's."""
    pool, exits = Pool(max_groups=1, max_members=2, floor=0), Exits()
    gate = threading.Event()
    ran: list = []

    def hold(trainer, snap):
        gate.wait(WAIT)
    a1, b1 = Trainer(settings[0], callbacks=[hold]), Trainer(settings[1].replace(steps=20), callbacks=[hold])
    assert pool.join(a1, on_exit=exits(a1), owner="A") == 0 and pool.join(b1, on_exit=exits(b1), owner="B") == 0
    a2 = Trainer(settings[2], callbacks=[lambda t, s: ran.append("A")])
    c1 = Trainer(settings[3], callbacks=[lambda t, s: ran.append("C")])
    assert pool.join(a2, on_exit=exits(a2), owner="A") == 1 and pool.join(c1, on_exit=exits(c1), owner="C") == 2
    gate.set()
    exits.wait(b1)                                                       # B's short run frees a place
    exits.wait(a1, a2, c1)
    assert ran[0] == "C", ran[:5]


def test_a_diverging_member_ends_diverged_and_the_others_train_on(settings):
    pool, exits = Pool(max_groups=1, floor=0), Exits()
    bad = Trainer(settings[0].replace(seed=11, lr_d=10.0, lr_g=10.0, loss="lsgan", steps=60))
    good = Trainer(settings[1])
    with torch.no_grad():
        bad.gen.flat.mul_(1e30)                                     # its first round overflows
    for t in (bad, good):
        pool.join(t, on_exit=exits(t))
    exits.wait(bad, good)
    assert bad.status == "diverged" and bad.step < 60
    assert_same_run(good, solo(settings[1]))


def test_runs_that_cannot_share_rounds_are_told_so():
    import toylab
    cfg = toylab.TrainConfig(g_hidden=16, d_hidden=16, batch_size=32, steps=10)
    assert fuse_key(Trainer([cfg, cfg.replace(seed=1)])) is None                  # an ensemble
    assert fuse_key(Trainer(cfg.replace(unrolled_steps=1))) is None               # reads D's optimiser state
    assert fuse_key(Trainer(cfg.replace(update="optimistic"))) is None            # its memory is the Game's
    keys = {fuse_key(Trainer(c)) for c in (cfg, cfg.replace(lr_d=1e-3, seed=4, dataset="grid25", loss="minimax"))}
    assert len(keys) == 1
    assert fuse_key(Trainer(cfg.replace(loss="wgan-gp"))) != fuse_key(Trainer(cfg))
    assert fuse_key(Trainer(cfg.replace(d_steps=2))) != fuse_key(Trainer(cfg))
    with pytest.raises(ValueError, match="trains alone"):
        Pool().join(Trainer(cfg.replace(unrolled_steps=1)))


def test_a_round_that_raises_fails_its_members_and_the_pool_goes_on(settings, monkeypatch):
    from toylab.engine import pool as pool_module
    pool, exits = Pool(max_groups=1, floor=0), Exits()
    calls = {"n": 0}
    real = pool_module.PooledGame.round

    def broken(self):
        calls["n"] += 1
        if calls["n"] == 5:
            raise RuntimeError("out of memory")
        return real(self)
    monkeypatch.setattr(pool_module.PooledGame, "round", broken)
    a, b = Trainer(settings[0]), Trainer(settings[1])
    for t in (a, b):
        pool.join(t, on_exit=exits(t))
    with exits._cond:
        assert exits._cond.wait_for(lambda: len(exits.errors) == 2, WAIT)
    assert set(exits.errors.values()) == {"RuntimeError: out of memory"}
    assert a.status == b.status == "failed" and max(a.step, b.step) == 4        # 4 whole rounds, then the error
    assert torch.isfinite(weights(a)).all() and pool.members() == 0
    exits.errors.clear()
    c = Trainer(settings[2])                                         # the pool trains the next run as usual
    pool.join(c, on_exit=exits(c))
    exits.wait(c)
    assert_same_run(c, solo(settings[2]))


def test_a_group_admits_one_more_only_while_its_measured_rate_keeps_every_member_at_the_floor():
    """Admission by measured rounds/s (docs/engine.md): before any measurement a group fills to
    first_size; then one more member is admitted only while rate x members / (members + 1) - the
    rounds/s each would get - stays at or above the floor; max_members caps it whatever the rate."""
    from toylab.engine.pool import Group
    pool = Pool(floor=20.0, first_size=4, max_members=12)
    g = Group(pool, ("shapes",))                    # (its thread is not started)
    g.members = [object()] * 3
    assert g.admits()                                # 3 < first_size
    g.members = [object()] * 4
    assert not g.admits()
    g.member_round_s = 1 / 250                       # the last measurement: 250 member-rounds/s
    assert g.admits()                                # 250 / 5 = 50 rounds/s each
    g.members = [object()] * 12
    assert not g.admits()                            # max_members
    g.members = [object()] * 9
    g.rate, g.measured_with = 24.0, 9                # 216 member-rounds/s measured with 9
    assert g.admits()                                # 216 / 10 = 21.6 >= 20
    g.rate = 21.0                                    # 189 / 10 = 18.9 < 20
    assert not g.admits()
