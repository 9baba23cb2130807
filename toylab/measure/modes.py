"""Mode coverage on mixture targets: which modes the generator reproduces, and over time.

Definitions of VEEGAN (Srivastava et al. 2017) and PacGAN (Lin et al. 2018): each sample
goes to its nearest mode centre and is *high quality* (HQ) within `threshold` standard
deviations of it; a mode is *captured* with at least one HQ sample. Captured is the
literature's number, but for a diffuse generator it is noise (a few stray HQ samples
decide it), so the lab also reports which modes are *present*: a mode is present when
its HQ count reaches `PRESENT_SHARE` of its fair share of all the samples, w_k * N.
The junk is counted too: *off-mode* samples, farther than `threshold` standard deviations
from every mode, as a share of the finite samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from .kde import as_points, check_target, sq_dist
from .remember import remembered

#: a mode is present when its HQ count is at least this share of its fair share w_k * N
PRESENT_SHARE = 0.1
#: multinomial resamples for the standard error of modes captured / present
RESAMPLES = 200


@dataclass
class ModeCoverage:
    """Mode statistics of a set of generated samples, with standard errors."""

    modes_captured: int          # modes with at least one HQ sample (VEEGAN / PacGAN)
    num_modes: int               # K
    high_quality: float          # share of samples within `threshold` std of their nearest mode
    counts: np.ndarray = field(repr=False)   # HQ samples per mode, (K,)
    reverse_kl: float = math.nan  # KL(p_hat || w), p_hat the HQ histogram over modes
    modes_present: int = 0       # modes holding at least PRESENT_SHARE of their fair share w_k * N
    high_quality_se: float = 0.0  # binomial standard error of high_quality
    modes_captured_se: float = 0.0  # standard error by multinomial resampling of the counts
    modes_present_se: float = 0.0
    off_mode: float = 0.0        # share of the finite samples farther than `threshold` std from every mode
    off_mode_se: float = 0.0     # its binomial standard error

    @property
    def shares(self) -> np.ndarray:
        total = self.counts.sum()
        return self.counts / total if total else np.zeros_like(self.counts, dtype=float)


def present(counts: np.ndarray, weights: np.ndarray, n: int) -> np.ndarray:
    """Which modes are present: HQ count >= PRESENT_SHARE * w_k * n (and at least 1), n the
    number of samples. A few stray samples of a diffuse generator never make a mode present."""
    return np.asarray(counts) >= np.maximum(PRESENT_SHARE * weights * n, 1)


def mode_coverage(samples, target, threshold: float = 3.0, seed: int = 0) -> ModeCoverage:
    """Assign each sample to its nearest mode centre; it is high quality if it lies within
    `threshold` standard deviations of it (Mahalanobis distance, which for isotropic modes
    is distance / std). A mode is captured with at least one HQ sample, present with at
    least PRESENT_SHARE of its fair share of all samples as HQ samples.

    Denominators: rows with NaN or Inf are dropped before the assignment, but they count in
    N = all the rows given: high_quality = HQ / N (a NaN row is not high quality), and the fair
    share of `present` is w_k * N. off_mode = (samples farther than `threshold` std from
    every mode) / F, F the finite rows (0 when F = 0), with the binomial standard error
    sqrt(off (1 - off) / F). "Farther than 3 std from every mode" is min_k of the Mahalanobis
    distances to each mode > threshold. For isotropic modes of one std (ring8, grid25, ...)
    the Mahalanobis distance is distance / std, so the nearest centre is also the nearest in
    Mahalanobis distance and off_mode = 1 - HQ / F exactly: the non-HQ finite samples. For
    modes of different or anisotropic covariances the nearest centre may not be the mode a
    sample is within `threshold` std of, and then off_mode <= 1 - HQ / F: a sample inside a
    broad mode's 3 std but nearer a narrow mode's centre is neither HQ nor off-mode. So
    HQ / N + off_mode * F / N + (N - F) / N = 1 for equal isotropic modes.

    reverse_kl = KL(p_hat || w), p_hat the histogram of HQ samples over modes and w the
    mixture weights (ln K - H(p_hat) for equal weights); NaN without any. Standard errors:
    binomial for high_quality and off_mode; for the mode counts, the spread over RESAMPLES
    multinomial redraws of the n samples from the observed shares (seeded).
    """
    check_target(target)
    if getattr(target, "modes", None) is None:
        raise ValueError(f"mode_coverage: target {target.name!r} has no modes "
                         "(only mixture targets such as ring8 or grid25 do)")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.integer, np.floating)) \
            or not 0 < threshold < math.inf:
        raise ValueError(f"threshold: must be a finite number of standard deviations > 0 (got {threshold!r:.60})")
    x = as_points(samples)
    K = target.num_modes
    n_all = int(torch.as_tensor(np.asarray(samples) if not torch.is_tensor(samples) else samples).shape[0])
    if n_all == 0:
        raise ValueError("samples: no rows given (mode coverage needs an (n, 2) array with n >= 1)")
    if x.shape[0] == 0:
        return ModeCoverage(0, K, 0.0, np.zeros(K, dtype=np.int64), math.nan)
    nearest = sq_dist(x, target.modes).argmin(1)
    maha_all = target.mahalanobis(x)                  # (F, K)
    maha = maha_all.gather(1, nearest[:, None]).squeeze(1)
    hq = maha <= threshold
    off = float((maha_all.min(1).values > threshold).double().mean())
    counts = torch.bincount(nearest[hq], minlength=K).numpy()
    total = int(counts.sum())
    w = target.weights.double().numpy()
    rkl = math.nan
    if total:
        p_hat = counts / total
        nz = p_hat > 0
        rkl = float((p_hat[nz] * np.log(p_hat[nz] / w[nz])).sum())
    hq_share = total / max(n_all, 1)
    # resample the n samples' categories (K modes + "not HQ") from the observed shares
    rng = np.random.default_rng(seed)
    probs = np.append(counts, n_all - total) / max(n_all, 1)
    redraws = rng.multinomial(n_all, probs, size=RESAMPLES)[:, :K] if n_all else np.zeros((1, K))
    return ModeCoverage(int((counts > 0).sum()), K, hq_share, counts, rkl,
                        modes_present=int(present(counts, w, n_all).sum()),
                        high_quality_se=math.sqrt(hq_share * (1 - hq_share) / max(n_all, 1)),
                        modes_captured_se=float((redraws > 0).sum(1).std()),
                        modes_present_se=float(present(redraws, w, n_all).sum(1).std()),
                        off_mode=off, off_mode_se=math.sqrt(off * (1 - off) / x.shape[0]))


# ---- over time ---------------------------------------------------------------------
@dataclass
class ModeTimeline:
    """Which modes hold mass at each snapshot of one member: mode hopping, shown not told.

    A mode *starts holding* mass when its share of the samples reaches `enter` (half its
    fair share w_k) and *stops* when it falls below `leave` (an eighth of it): between the
    two it keeps its state, so the sampling noise of a mode near its fair share never
    counts as a change. `losses` counts modes that stopped holding mass: mass moved away
    from them. A converging run gains modes and loses none; a hopping run keeps losing them.
    """

    steps: np.ndarray            # (T,)
    shares: np.ndarray           # (T, K) share of all samples that are high quality at mode k
    held: np.ndarray             # (T, K) bool, with the hysteresis above
    enter: np.ndarray            # (K,)
    leave: np.ndarray            # (K,)

    @property
    def modes_held(self) -> np.ndarray:
        return self.held.sum(1)

    @property
    def dominant(self) -> np.ndarray:
        """The mode with the most mass at each snapshot (-1: none holds mass)."""
        return np.where(self.held.any(1), self.shares.argmax(1), -1)

    def losses_in(self, window: int | None = None) -> int:
        held = self.held if window is None else self.held[-window:]
        return int((held[:-1] & ~held[1:]).sum())

    @property
    def losses(self) -> int:
        return self.losses_in()

    @property
    def hops(self) -> int:
        """Mass moving between modes: modes that stopped holding mass (see the class doc)."""
        return self.losses

    def verdict(self, window: int | None = None, min_losses: int = 2) -> str:
        """'covered' (every mode holds mass at the end), 'hopping' (not covered, and at least
        `min_losses` modes lost their mass in the last `window` snapshots, default the last
        half, >= 3), 'collapsed', or 'no_modes_held'."""
        last = self.held[-1]
        if last.all():
            return "covered"
        w = window or max(len(self.steps) // 2, 3)
        if self.losses_in(w) >= min_losses:
            return "hopping"
        return "collapsed" if last.any() else "no_modes_held"


def mode_timeline(snapshots, target, member: int = 0, threshold: float = 3.0) -> ModeTimeline:
    """Per snapshot, the share of the fixed fake batch that is high quality at each mode,
    and which modes hold mass (entering at half, leaving below an eighth of the fair share)."""
    K = target.num_modes
    if K == 0:
        raise ValueError(f"mode_timeline: target {target.name!r} has no modes")
    w = target.weights.double().numpy()
    enter, leave = 0.5 * w, 0.125 * w
    steps, shares = [], []
    for s in snapshots:
        counts = remembered(s.fake, ("mode counts", member, float(threshold)),
                            lambda s=s: mode_coverage(s.fake[member], target, threshold).counts, of=target)
        steps.append(s.step)
        shares.append(counts / max(len(s.fake[member]), 1))
    shares = np.array(shares).reshape(-1, K)
    held = np.zeros(shares.shape, dtype=bool)
    state = np.zeros(K, dtype=bool)
    for t, row in enumerate(shares):
        state = np.where(state, row >= leave, row >= enter)
        held[t] = state
    return ModeTimeline(np.array(steps), shares, held, enter, leave)
