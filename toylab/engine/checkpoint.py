"""Checkpoint files: a run's whole state (weights, optimiser moments, random streams, round)
written atomically, never with non-finite weights, and read back with errors naming the file."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch

from . import runs


#: the largest checkpoint read back without a config to size it by (RunFolder passes runs.checkpoint_cap)
READ_MAX = 1 << 32


def write(file: Path, state: dict, ok: np.ndarray, *, cap: int = READ_MAX, tag: str = "",
          upgrade=lambda state: state) -> None:
    """Write `state` (tensors anywhere) to file (and its digest, with `tag`); members not `ok`
    (non-finite) keep their rows of the checkpoint already there (every (E, ...) tensor of gen,
    disc, opt_g, opt_d and the optimistic update's memory), read in today's layout by
    `upgrade` (Networks.upgrade)."""
    state = to_device(state, "cpu")
    if not ok.all() and Path(file).exists():
        old = upgrade(read(file, cap))
        bad = torch.from_numpy(~ok)
        for k in ("gen", "disc", "opt_g", "opt_d", "memory"):
            if k in state and k in old:
                state[k] = splice_rows(state[k], old[k], bad, len(ok))
    runs.write_torch(file, state, tag)


def restore(source, game) -> tuple[int, np.ndarray | None]:
    """Load a checkpoint (a file, or the state runs.read_checkpoint read and checked) into `game`
    (weights, optimisers, random streams); returns its round and the round tail (history rows not
    yet logged; None in an older file). A missing, truncated, foreign or garbled checkpoint is an
    error naming it (never a run left untrained)."""
    name = "checkpoint.pt" if isinstance(source, dict) else source
    state = source if isinstance(source, dict) else read(source)
    try:
        game.load_state(state)
        step, tail = int(state["step"]), state.get("round_tail")
    except Exception as err:
        raise unreadable(name, err) from None
    return step, tail.numpy() if tail is not None else None


def saved_step(file: Path, cap: int = READ_MAX) -> int | None:
    """The round of the checkpoint in file, or None where there is none readable."""
    try:
        return int(read(file, cap)["step"])
    except Exception:
        return None


def read(file: Path, cap: int = READ_MAX) -> dict:
    """The state in file, read through the guarded reader (a regular file, not a link, at most
    `cap` bytes); FileNotFoundError if missing, else a ValueError naming it."""
    file = Path(file)
    data = runs.RunDir(file.parent).read_archive(file.name, cap, "a checkpoint")
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as err:
        raise unreadable(file, err) from None


def unreadable(file: Path, err: Exception) -> ValueError:
    return ValueError(f"{file}: unreadable checkpoint ({type(err).__name__}: {str(err)[:200]}); "
                      f"the run cannot be restored from it")


def splice_rows(new, old, bad, E):
    """`new` with the member rows `bad` of every (E, ...) float tensor taken from `old`."""
    if torch.is_tensor(new):
        if (torch.is_tensor(old) and new.is_floating_point() and new.dim() >= 1 and new.shape[0] == E
                and old.shape == new.shape):
            new = new.clone()
            new[bad] = old[bad]
        return new
    if isinstance(new, dict) and isinstance(old, dict):
        return {k: splice_rows(v, old[k], bad, E) if k in old else v for k, v in new.items()}
    if isinstance(new, (list, tuple)) and isinstance(old, (list, tuple)) and len(new) == len(old):
        return type(new)(splice_rows(a, b, bad, E) for a, b in zip(new, old))
    return new


def to_device(obj, device):
    """Move tensors in a nested state to `device`; RNG states (uint8) stay on the CPU, as set_state needs."""
    if torch.is_tensor(obj):
        return obj.cpu() if obj.dtype == torch.uint8 else obj.to(device)
    if isinstance(obj, dict):
        return {k: to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_device(v, device) for v in obj)
    return obj
