"""A pool of live ensembles: runs that train at the same time share batched rounds.

A class of thirty students each training a GAN on one server is thirty runs at once, and one
batched step over thirty members does ~2x the work of thirty separate steps on a CPU
(docs/performance.md). The pool takes live runs — each its own Trainer (E = 1), started and
stopped at any time — and trains those whose networks have the same shapes and update method
(`fuse_key`) as the members of one `Group`: one thread, one Game over their stacked weights,
one optimiser step over all of them.

What stays each member's own: its seed and streams (its Batches are drawn from as if alone),
its target, learning rates, Adam betas, momentum and objective (the penalty-free ones mix;
wgan and wgan-gp share rounds with their own kind), its step count and end, its snapshots,
measurements, history, callbacks and status. Its weights and optimiser moments stay its own
tensors' values: while pooled, its networks' flat parameters (and buffers) are views of its
rows of the group's stacked ones, and the group's torch optimiser holds the member's own
parameters in a param group with the member's hyperparameters, with the very state dicts of
the member's own optimiser (per-member step counts: Adam's bias correction is each member's).
So a member ends with the weights it would reach alone, to float tolerance (tests/test_pool.py),
and can leave (pause, finish, a live edit that changes its shapes) at any round boundary and
go on alone or in another group.

Members join and leave at round boundaries; the group rebuilds its stacked tensors then. A
member trains at the group's pace (no per-member rest): a run asked to go slower trains alone
(toylab's dashboard does that). Admission fits the machine: at most `max_groups` groups train
at once (one per core), a group takes members while its measured rate with one more would
stay at or above `floor` rounds/s, and a run that fits nowhere waits in line (`place`), never
by stopping another — except to share fairly: runs carry an `owner` (the dashboard's client
address), a waiting run whose owner trains none takes the newest place of an owner training two
or more in a group of its kind (that run waits in line again and trains on when room frees), and
room that frees goes first to the owner training the fewest.
"""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

import torch

from .model import Networks
from .runs import FAILED
from .step import Game
from .training import Trainer

#: what a pooled member keeps its own of: everything else must be equal to share a round
OWN_FIELDS = ("seed", "lr_d", "lr_g", "betas", "momentum", "dataset", "dataset_params", "loss", "steps",
              "snapshot_every", "max_snapshots", "log_every", "metrics_every", "n_fixed", "grid_size",
              "manifold_size", "tensorboard", "threads", "device")
#: objectives with a penalty or weight clipping (the group applies the first member's): shared
#: rounds only with members of the same objective
OWN_KIND_LOSSES = ("wgan", "wgan-gp")
#: rounds/s a group keeps for each member: it takes no member that would drop it below (a 5,000-round
#: run then ends within ~10 minutes; the dashboard's --floor changes it)
FLOOR = 8.0
FIRST_SIZE = 16         # members a group takes before its rate is measured
MAX_MEMBERS = 64        # members in one group at most
RATE_SMOOTHING = 0.2    # weight of the newest round in a group's measured rate


def fuse_key(trainer: Trainer) -> tuple | None:
    """What must be equal for two runs to share rounds (None: this run trains alone): the config
    less OWN_FIELDS, the objective for OWN_KIND_LOSSES, the class count of a conditional GAN and
    the device. An ensemble, an unrolled GAN (its look-ahead reads D's optimiser state as one
    tensor) or an optimistic one (its memory of the last move is the Game's) trains alone."""
    cfg = trainer.cfg
    if trainer.E != 1 or cfg.unrolled_steps or cfg.update == "optimistic":
        return None
    fields = cfg.model_dump(mode="json", exclude=set(OWN_FIELDS))
    return (json.dumps(fields, sort_keys=True), cfg.loss if cfg.loss in OWN_KIND_LOSSES else "",
            trainer.nets.K, str(trainer.device))


class StackedBatches:
    """The members' own streams (toylab.engine.streams.Batches, one member each) drawn from as
    the members would alone, stacked into the group's (E, B, ...) batches."""

    def __init__(self, own: list):
        self.own, self.K = own, own[0].K

    @staticmethod
    def _cat(parts):
        return tuple(None if p[0] is None else torch.cat(p) for p in zip(*parts))

    def real(self):
        return self._cat([b.real() for b in self.own])

    def fake_input(self):
        return self._cat([b.fake_input() for b in self.own])


def pooled_optimizer(owns: list[torch.optim.Optimizer]) -> torch.optim.Optimizer:
    """One torch optimiser over the members' own parameters: one param group per distinct set
    of hyperparameters (learning rate, betas, momentum), each parameter's state the very dict
    of its own optimiser (so a member that leaves carries its moments and step count on)."""
    groups: dict[str, dict] = {}
    for opt in owns:
        g = opt.param_groups[0]
        hyper = {k: v for k, v in g.items() if k != "params"}
        groups.setdefault(repr(sorted(hyper.items())), {**hyper, "params": []})["params"].extend(g["params"])
    first = owns[0]
    pooled = type(first)(list(groups.values()), **({"fused": True} if first.defaults.get("fused") else {}))
    for opt in owns:
        for p in opt.param_groups[0]["params"]:
            pooled.state[p] = opt.state[p]
    return pooled


class PooledGame(Game):
    """The Game of a group: stacked networks of the members, their own streams and optimisers."""

    def __init__(self, trainers: list[Trainer]):
        configs = [t.cfg for t in trainers]
        first = trainers[0]
        nets = Networks(configs, target=first.target, device=first.device)
        super().__init__(configs, nets, [c.seed for c in configs])
        self.own = {}
        for name in ("gen", "disc"):
            stacked = getattr(nets, name)
            mine = [getattr(t.nets, name) for t in trainers]
            with torch.no_grad():
                stacked.flat.copy_(torch.cat([m.flat.detach() for m in mine]))
                for bname, buf in stacked.named_buffers():
                    buf.copy_(torch.cat([m.get_buffer(bname) for m in mine]))
            for i, m in enumerate(mine):
                m.view_rows(stacked, i)
            self.own[id(stacked.flat)] = [m.flat for m in mine]
        self.batches = StackedBatches([t.game.batches for t in trainers])
        self.opt_d = pooled_optimizer([t.game.opt_d for t in trainers])
        self.opt_g = pooled_optimizer([t.game.opt_g for t in trainers])

    def _apply(self, opt, param, grad, lr):
        """The pooled optimiser's step: each member's own parameter takes its row of the gradient."""
        own = self.own[id(param)]
        for i, p in enumerate(own):
            p.grad = grad[i:i + 1]
        try:
            opt.step()
        finally:
            for p in own:
                p.grad = None                    # never left pointing into the group's buffer
        if param is self.disc.flat and self.cfg.loss == "wgan":
            with torch.no_grad():
                param.clamp_(-self.cfg.clip, self.cfg.clip)     # weight clipping (Arjovsky et al.)


@dataclass
class Member:
    """A run in the pool: its trainer, where it ends, what to call when it leaves."""
    trainer: Trainer
    total: int
    on_exit: Callable[[str | None], None] | None = None
    recorders: list = field(default_factory=list)
    key: tuple | None = None
    started: float = 0.0
    error: str | None = None
    begun: bool = False             # its fit has begun (begin_fit): it ends with end_fit and on_exit
    owner: object = None            # who started it (a client address): the unit of a fair share
    bumped: bool = False            # its place was given to another owner's run: it waits again
    seq: int = 0                    # when it took its place (the newest of an owner gives it up)


_SEQ = itertools.count(1)


class Group:
    """Members of one fuse_key trained in one thread, one batched round at a time."""

    def __init__(self, pool: "Pool", key: tuple):
        self.pool, self.key = pool, key
        self.members: list[Member] = []
        self.joining: list[Member] = []
        self.rate: float | None = None          # rounds/s measured with `measured_with` members
        self.measured_with = 0
        self.warm: int | None = None            # members of the rounds measured since the last rebuild
        self.member_round_s: float | None = None    # seconds a member-round took, last measured (kept across rebuilds)
        self.game: PooledGame | None = None
        self.thread = threading.Thread(target=self._loop, name="toylab-pool", daemon=True)

    @property
    def size(self) -> int:
        return len(self.members) + len(self.joining)

    def admits(self) -> bool:
        """Room for one more: under the pool's max_members, and the rate measured now, scaled by the
        members it would then have, stays at or above its floor (before a measurement: under first_size)."""
        n, pool = self.size, self.pool
        if n >= pool.max_members:
            return False
        if self.rate is None or not self.measured_with:
            if self.member_round_s is None:
                return n < pool.first_size
            return 1.0 / (self.member_round_s * (n + 1)) >= pool.floor   # the last measurement, until remeasured
        return self.rate * self.measured_with / (n + 1) >= pool.floor

    # -- the group's thread ------------------------------------------------------------
    def _loop(self) -> None:
        try:
            self._rounds()
        except BaseException as err:                  # the thread's own end: no member is left behind
            with self.pool.lock:
                left = self.members + self.joining
                self.members, self.joining = [], []
                self.pool._group_ended(self)
            for m in left:
                m.error = m.error or f"{type(err).__name__}: {err}"
                m.trainer.status = FAILED
                _tell(m)
            raise

    def _rounds(self) -> None:
        while True:
            with self.pool.lock:
                changed = bool(self.joining)
                self.members += self.joining
                self.joining = []
                if not self.members:
                    self.pool._group_ended(self)
                    return
            try:
                self._round(changed)
            except Exception as err:            # recorded for every member, never kills the server
                for m in list(self.members):
                    m.error = m.error or f"{type(err).__name__}: {err}"
                    self._leave(m)
                self.game = None

    def _round(self, changed: bool) -> None:
        """One batched round of the members (after their edits, and a rebuild when they changed),
        then each member's bookkeeping: its history row, and its snapshot when one is due."""
        for m in list(self.members):
            if m.bumped:                         # its place went to another owner's run: it waits
                m.bumped = False
                self._leave(m, rejoin=True)
                changed = True
            elif self._edited(m) or not m.trainer.wants_round():
                changed = True
        if changed or self.game is None:
            self._rebuild()
            if not self.members:
                return
        t0 = time.perf_counter()
        log = self.game.round()
        for i, m in enumerate(self.members):
            t = m.trainer
            t.record_round(log[:, i:i + 1])
            try:
                t.after_round(m.recorders)
            except Exception as err:             # this member's snapshot or recorder: it alone fails
                m.error = f"{type(err).__name__}: {err}"
                t.stop()
        self._measure(time.perf_counter() - t0)
        if self.pool.waiting and self.rate is not None:
            with self.pool.lock:                 # a measured rate may have made room
                self.pool._admit_waiting()

    def _edited(self, m: Member) -> bool:
        """Apply the member's queued live edits; True when its config changed (the group rebuilds;
        a member whose key changed leaves for a group of its own kind)."""
        t = m.trainer
        before = t.cfg
        t._apply_pending()
        if t.cfg == before:
            return False
        if fuse_key(t) != self.key:
            self._leave(m, rejoin=True)
        return True

    def _measure(self, seconds: float) -> None:
        """The group's rounds/s, snapshots and measurements included (what its members see): the
        first round after a rebuild is not counted (it allocates), later ones smoothed."""
        n = len(self.members)
        if self.warm != n:
            self.warm = n
            return
        rate = 1.0 / max(seconds, 1e-6)
        if self.rate is None or n != self.measured_with:
            self.rate, self.measured_with = rate, n
        else:
            self.rate += RATE_SMOOTHING * (rate - self.rate)
        self.member_round_s = 1.0 / (self.rate * n)

    def _rebuild(self) -> None:
        """Members who are done leave; the stacked tensors are made for those who stay."""
        for m in list(self.members):
            if m.error is not None or not m.trainer.wants_round():
                self._leave(m)
        self.game = PooledGame([m.trainer for m in self.members]) if self.members else None
        self.rate, self.measured_with, self.warm = None, 0, None

    def _leave(self, m: Member, rejoin: bool = False) -> None:
        """A member leaves at a round boundary: its networks get their rows as their own tensors;
        its fit ends (or it queues for another group, when a live edit changed its shapes)."""
        self.members.remove(m)
        t = m.trainer
        for net in (t.nets.gen, t.nets.disc):
            net.own_rows()
        self.game = None
        if rejoin:
            self.pool._route(m)
            return
        t.elapsed += time.perf_counter() - m.started
        if m.error is not None:
            t._torn = True                       # a round may be half done: the last whole checkpoint stays
        try:
            t.end_fit(m.recorders, ended=m.error is None)
        except Exception as err:                 # a full disk at the final save: said, not raised here
            m.error = m.error or f"{type(err).__name__}: {err}"
        if m.error is not None:
            t.status = FAILED
        _tell(m)
        with self.pool.lock:
            self.pool._admit_waiting()


def _tell(m: Member) -> None:
    """The member's on_exit(error); a callback that raises is not the group's end."""
    if m.on_exit is not None:
        try:
            m.on_exit(m.error)
        except Exception:
            pass


class Pool:
    """Live runs trained together: groups of fusable runs, one thread each, and a waiting line.

    join(trainer, total, on_exit) starts a run's fit inside the pool (0) or queues it (its
    place); trainer.stop() ends it at the next round boundary (on_exit(error) is then called
    from the group's thread); cancel() takes a waiting run out of line."""

    def __init__(self, max_groups: int | None = None, floor: float = FLOOR, first_size: int = FIRST_SIZE,
                 max_members: int = MAX_MEMBERS):
        self.max_groups = max_groups or os.cpu_count() or 1
        self.floor, self.first_size, self.max_members = floor, first_size, max_members
        self.lock = threading.RLock()
        self.groups: list[Group] = []
        self.waiting: list[Member] = []

    def join(self, trainer: Trainer, total: int | None = None,
             on_exit: Callable[[str | None], None] | None = None, owner=None) -> int:
        """Start `trainer`'s fit to `total` rounds (default its config's steps) in a group: 0, or
        its place in line when no group has room. `owner` (e.g. a client address) is whose share
        the run counts in. A run fuse_key refuses raises ValueError."""
        key = fuse_key(trainer)
        if key is None:
            raise ValueError("pool: this run trains alone (an ensemble, an unrolled or an optimistic GAN)")
        m = Member(trainer, trainer.cfg.steps if total is None else int(total), on_exit, key=key, owner=owner)
        trainer.controls.stopping.clear()           # a new start; a stop asked while it waits is kept
        return self._route(m)

    def _route(self, m: Member) -> int:
        with self.lock:
            m.key = fuse_key(m.trainer)
            group = self._room(m.key)
            if group is None:
                taken = self._over_share(m)
                if taken is None:
                    self.waiting.append(m)
                    return len(self.waiting)
                group, victim = taken
                victim.bumped = True             # leaves at its group's next round boundary
            self._add(group, m)
            return 0

    def _placed(self) -> list[tuple[Group, Member]]:
        return [(g, m) for g in self.groups for m in g.members + g.joining if not m.bumped]

    def _owners(self) -> Counter:
        """Places held in groups now, by owner."""
        return Counter(m.owner for _, m in self._placed())

    def training(self, owner) -> int:
        """Runs of `owner` holding a place in a group now."""
        with self.lock:
            return self._owners()[owner]

    def _over_share(self, m: Member) -> tuple[Group, Member] | None:
        """(group, member) whose place `m` takes: when m's owner trains none and another owner
        trains two or more, that owner's newest member in a group of m's kind (the freed place
        fits m). None otherwise, and for runs without an owner."""
        if m.owner is None:
            return None
        placed = self._placed()
        counts = Counter(o.owner for _, o in placed)
        if counts[m.owner]:
            return None
        tops = [o for o, c in counts.items() if o is not None and c >= 2]
        if not tops:
            return None
        top = max(tops, key=counts.get)
        mine = [(g, o) for g, o in placed if o.owner == top and g.key == m.key]
        return max(mine, key=lambda go: go[1].seq) if mine else None

    def _open_group(self, key) -> Group | None:
        """A training group of this key with room for one more."""
        return next((g for g in self.groups if g.key == key and g.admits()), None)

    def _room(self, key) -> Group | None:
        """A group of this key with room, or a new one while fewer than max_groups train."""
        group = self._open_group(key)
        if group is not None:
            return group
        if len(self.groups) < self.max_groups:
            g = Group(self, key)
            self.groups.append(g)
            return g
        return None

    def _add(self, group: Group, m: Member) -> None:
        if not m.begun:
            stop = m.trainer.controls.stopping.is_set()         # asked while it waited: kept
            try:
                m.recorders = m.trainer.begin_fit(m.total)
            except Exception as err:                            # its first snapshot or save: it alone fails
                m.error = f"{type(err).__name__}: {err}"
            m.begun, m.started = True, time.perf_counter()
            if stop:
                m.trainer.stop()
        m.seq = next(_SEQ)
        group.joining.append(m)
        if not group.thread.is_alive() and group.thread.ident is None:
            group.thread.start()

    def _admit_waiting(self) -> None:
        """Waiting runs take the room there is now: the run of the owner training the fewest
        first, then in order (a run that still fits nowhere keeps its place; one behind it that
        fits elsewhere goes)."""
        placed = True
        while placed and self.waiting:
            placed = False
            counts = self._owners()
            for m in sorted(self.waiting, key=lambda w: counts[w.owner] if w.owner is not None else 0):
                group = self._room(m.key)
                if group is not None:
                    self.waiting.remove(m)
                    self._add(group, m)
                    placed = True
                    break

    def _group_ended(self, group: Group) -> None:
        if group in self.groups:
            self.groups.remove(group)
        self._admit_waiting()

    def has_room(self, trainer: Trainer) -> bool:
        """A group would take this run now (one of its kind with room, or a new one)."""
        key = fuse_key(trainer)
        with self.lock:
            return len(self.groups) < self.max_groups or self._open_group(key) is not None

    def place(self, trainer: Trainer) -> int:
        """0 when not waiting, else the run's place in line (1 = next)."""
        with self.lock:
            for i, m in enumerate(self.waiting):
                if m.trainer is trainer:
                    return i + 1
        return 0

    def cancel(self, trainer: Trainer) -> bool:
        """Take a waiting run out of line (its fit never started); True when it was waiting."""
        with self.lock:
            for m in self.waiting:
                if m.trainer is trainer:
                    self.waiting.remove(m)
                    break
            else:
                return False
        if m.begun:                   # it had trained in a group before a live edit moved it
            m.trainer.end_fit(m.recorders)
            _tell(m)
        return True

    def members(self) -> int:
        with self.lock:
            return sum(g.size for g in self.groups)

    def stats(self) -> list[dict]:
        """Each group's members and measured rounds/s (None before its first measurement)."""
        with self.lock:
            return [{"members": g.size, "rounds_per_s": g.rate} for g in self.groups]

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop every member at its next round boundary, empty the line, wait for the groups."""
        with self.lock:
            waiting, self.waiting = self.waiting, []
            groups = list(self.groups)
            for g in groups:
                for m in g.members + g.joining:
                    m.trainer.stop()
        for m in waiting:
            _tell(m)
        for g in groups:
            if g.thread.ident is not None:
                g.thread.join(timeout)
