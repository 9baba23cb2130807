"""D*, the optimal discriminator, from two log-densities (NumPy alone, for the panels and the
metric alike): D*(x) = p_data / (p_data + p_model) (Goodfellow et al. 2014, Prop. 1)."""

from __future__ import annotations

import numpy as np


def optimal_d(log_p, log_q) -> np.ndarray:
    """D*(x) = p_data / (p_data + p_model) = sigmoid(log p - log q) (Goodfellow et al. 2014,
    Prop. 1), from log-densities so that it holds where both are tiny; 1/2 where both vanish."""
    log_p, log_q = np.asarray(log_p, dtype=np.float64), np.asarray(log_q, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        d = 0.5 * (1 + np.tanh(0.5 * (log_p - log_q)))          # sigmoid, without overflow
    return np.where(np.isneginf(log_p) & np.isneginf(log_q), 0.5, d)
