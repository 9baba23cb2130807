"""Device choice: "auto" takes CUDA when present, then Apple's MPS, else the CPU."""

from __future__ import annotations

import torch


def resolve_device(name: str = "auto") -> torch.device:
    """The torch.device for a config's `device` field; a clear error if it is not available."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"device: {str(name)[:40]!r} is not a device; allowed: auto, cpu, cuda, cuda:N, mps") \
            from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device: {name!r} asked for, but CUDA is not available here; use 'auto' or 'cpu'")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        n = torch.cuda.device_count()
        raise ValueError(f"device: {name!r} asked for, but this machine has {n} CUDA device{'s' * (n != 1)} "
                         f"(cuda:0 to cuda:{n - 1}); use 'auto', 'cuda' or 'cpu'")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"device: {name!r} asked for, but MPS is not available here; use 'auto' or 'cpu'")
    return dev


def available_devices() -> list[str]:
    """The `device` values that train on this machine: auto and cpu, cuda and cuda:N for each GPU,
    mps on Apple silicon."""
    out = ["auto", "cpu"]
    if torch.cuda.is_available():
        out += ["cuda", *(f"cuda:{i}" for i in range(torch.cuda.device_count()))]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        out.append("mps")
    return out
