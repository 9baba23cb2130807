"""How a run ended: one outcome per member, by documented rules with thresholds you can set.

Judged on the last `window` share of training (the verdict is about where training got
to, not how it started) and, when the caller gives it (sweeps do), on the final
measurement of 2,500 fresh samples. What the samples look like is judged over the
window's snapshots, not the last one alone, so that the verdict does not flip with the
round training happened to stop at: the *spread* is the median over the window's
snapshots (`spread`: the 90th percentile of distances between pairs of samples, over the
target's), the *travel* the median jump of the samples' centre between consecutive
snapshots over their spread. The first rule that holds names the outcome:

1. ``diverged``: the member's losses or weights became NaN/Inf, or a snapshot's samples
   (or the final samples) hold NaN/Inf.
2. ``vanishing_gradient`` (BCE objectives): D saturates — its loss over the window has
   median below ``d_saturated`` — and G's gradient norm over the window has median below
   ``grad_ratio`` times its peak earlier in training.
3. ``stalled``, "G did not move": at no snapshot had the fixed fake batch moved from where
   it was at the first snapshot by a median distance of ``moved_min`` times the target's
   spread (a generator that never learns: a frozen blob where it started).
4. ``converged``: JS at or below ``js_converged`` nats and, on mixture targets, every
   mode present (toylab.modes: holding at least a tenth of its fair share of the
   samples), at least ``hq_concentrated`` of the samples high quality, the mass shared out
   evenly — reverse KL of the high-quality mode histogram at most ``rkl_balanced`` — and
   at most ``off_mode_max`` of the samples off the modes (farther than 3 std from every
   mode: `off_mode`; a run recorded without it reads 1 - high quality).
5. ``oscillating``: the generator loss cycles — its detrended autocorrelation over the
   window has a peak of at least ``osc_autocorr`` at a lag of 2 or more measurements, with
   relative amplitude (std / mean |loss|) at least ``osc_amplitude`` — and, on mixture
   targets, mass left at least ``osc_hops`` modes in the window (mode losses with
   hysteresis, so sampling noise never counts).
6. ``mode_collapse`` (mixture targets): the samples are concentrated — at least
   ``hq_concentrated`` of them high quality, or in a region much smaller than the target
   (spread at most ``spread_compact``: a generator in transit between two modes is a compact
   blob with no high-quality sample), or one blob travelling (travel at least
   ``blob_travel``: Metz et al.'s vanilla GAN, its blob across the ring from one snapshot to
   the next) — and modes are missing (present below ``collapse_fraction`` x K), or the mode
   timeline over the window says 'hopping' (mass keeps leaving modes while not all are
   held), or the mass is unevenly shared (reverse KL above ``rkl_balanced``: a partial
   collapse, one mode holding far more than its fair share).
7. ``not_converged`` (mixture targets): fewer than ``hq_concentrated`` of the samples are
   high quality and they are neither compact nor one travelling blob (the generator is
   diffuse, whatever it covers), or more than ``off_mode_max`` of them lie off the modes
   (mass left between the modes: background junk, or modes much too wide).
8. ``stalled``: none of the above: concentrated on every mode (or no modes to count) but
   JS above the bound — wrong mode widths, or a target it has not fitted.

Every median and percentile is taken over finite values only: NaN in a history or a
snapshot never raises here (a NaN sample is rule 1).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import numpy as np

from .remember import remembered


OUTCOMES = ("converged", "mode_collapse", "not_converged", "oscillating", "vanishing_gradient", "diverged", "stalled")

#: a share at a threshold counts as within it (1 - 0.95 is 0.05000000000000004 in floats)
_SLACK = 1e-9
#: snapshots of the window whose spread is computed (evenly spaced, the last always among them)
_SPREAD_SNAPSHOTS = 8


@dataclass(frozen=True)
class OutcomeRules:
    """Thresholds of the outcome rules (see the module docstring)."""

    window: float = 0.25            # last share of training that is judged
    js_converged: float = 0.15      # nats
    collapse_fraction: float = 1.0  # modes present below this x K: modes missing
    hq_concentrated: float = 0.5    # share of high-quality samples from which mass counts as concentrated
    spread_compact: float = 0.25    # samples' spread at most this x the target's: a compact blob, concentrated
    blob_travel: float = 1.0        # centre's jump between snapshots at least this x the spread: one blob travelling
    rkl_balanced: float = 0.15      # reverse KL (nats) of the HQ mode histogram above: mass unevenly shared
    off_mode_max: float = 0.05      # share of samples off every mode (> 3 std) above this: mass between the modes
    moved_min: float = 0.001        # fixed batch's farthest median move from the first snapshot below this
                                    # x the target's spread: G did not move
    d_saturated: float = 0.1        # D's loss (BCE, real + fake) below: D wins outright
    grad_ratio: float = 0.1         # G's gradient norm below this x its earlier peak: vanished
    osc_autocorr: float = 0.3
    osc_amplitude: float = 0.05
    osc_hops: int = 2

    def __post_init__(self):
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"rules.{f.name}: {v!r} must be a finite number")
        if not 0 < self.window <= 1:
            raise ValueError(f"rules.window: {self.window} must be in (0, 1]")
        if self.js_converged < 0:
            raise ValueError(f"rules.js_converged: {self.js_converged} must be >= 0")
        if not 0 < self.collapse_fraction <= 1:
            raise ValueError(f"rules.collapse_fraction: {self.collapse_fraction} must be in (0, 1]")
        if not 0 < self.hq_concentrated <= 1:
            raise ValueError(f"rules.hq_concentrated: {self.hq_concentrated} must be in (0, 1]")
        if not 0 <= self.off_mode_max <= 1:
            raise ValueError(f"rules.off_mode_max: {self.off_mode_max} must be in [0, 1]")
        for name in ("spread_compact", "blob_travel", "rkl_balanced", "moved_min", "d_saturated", "grad_ratio",
                     "osc_amplitude"):
            if getattr(self, name) < 0:
                raise ValueError(f"rules.{name}: {getattr(self, name)} must be >= 0")
        if not -1 <= self.osc_autocorr <= 1:
            raise ValueError(f"rules.osc_autocorr: {self.osc_autocorr} must be in [-1, 1]")
        if self.osc_hops < 0 or self.osc_hops != int(self.osc_hops):
            raise ValueError(f"rules.osc_hops: {self.osc_hops} must be a whole number >= 0")

    @classmethod
    def from_dict(cls, d: dict | None) -> "OutcomeRules":
        d = dict(d or {})
        bad = [k for k in d if k not in cls.__dataclass_fields__]
        if bad:
            raise ValueError(f"rules: unknown {', '.join(bad)}; allowed: {', '.join(cls.__dataclass_fields__)}")
        return cls(**d)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Outcome:
    outcome: str
    reason: str
    js: float = float("nan")
    modes: float = float("nan")          # modes present
    num_modes: int = 0
    high_quality: float = float("nan")
    d_loss: float = float("nan")
    g_grad_norm: float = float("nan")
    hops: int = 0
    spread: float = float("nan")         # the samples' spread / the target's, median over the window's snapshots
    travel: float = float("nan")         # the samples' centre's median jump between snapshots / their spread
    reverse_kl: float = float("nan")     # of the high-quality mode histogram (nats)
    off_mode: float = float("nan")       # share of the samples off every mode (farther than 3 std)
    moved: float = float("nan")          # fixed batch's farthest median move from the first snapshot / target's spread


def spread(x: np.ndarray, n: int = 1000) -> float:
    """How far 2D samples reach: the 90th percentile of the distances between pairs of them (of
    the first n finite ones). A few stragglers move it little; two far-apart clusters are not
    'compact'. NaN with fewer than 2 finite samples."""
    from scipy.spatial.distance import pdist      # (start-up: a sweep's worker imports this module)

    x = np.asarray(x, dtype=float).reshape(-1, 2)
    x = x[np.isfinite(x).all(1)][:n]
    if len(x) < 2:
        return float("nan")
    return float(np.percentile(pdist(x), 90))


def moved(first: np.ndarray, last: np.ndarray) -> float:
    """The median distance the fixed fake batch moved between two snapshots (rows finite in
    both; NaN if none): the same noise inputs, so each row is the same sample, earlier and later."""
    a, b = np.asarray(first, dtype=float).reshape(-1, 2), np.asarray(last, dtype=float).reshape(-1, 2)
    m = min(len(a), len(b))
    d = np.linalg.norm(b[:m] - a[:m], axis=1)
    return _median(d)


def _median(v) -> float:
    """The median of the finite values of v; NaN when there are none (never a warning)."""
    v = np.asarray(v, dtype=float).ravel()
    v = v[np.isfinite(v)]
    return float(np.median(v)) if len(v) else float("nan")


def _window(steps: np.ndarray, values: np.ndarray, last_step: int, share: float):
    ok = np.isfinite(values) & np.isfinite(steps)
    s, v = steps[ok], values[ok]
    keep = s >= last_step * (1 - share)
    return s[keep], v[keep], s, v


def _periodic(v: np.ndarray) -> tuple[float, float]:
    """(highest autocorrelation at lag >= 2, relative amplitude) of a detrended series."""
    if len(v) < 8:
        return 0.0, 0.0
    t = np.arange(len(v))
    r = v - np.polyval(np.polyfit(t, v, 1), t)
    amp = float(r.std() / (np.abs(v).mean() or 1.0))
    if r.std() == 0:
        return 0.0, amp
    r = (r - r.mean()) / r.std()
    ac = [float(np.mean(r[:-lag] * r[lag:])) for lag in range(2, len(r) // 2)]
    return (max(ac) if ac else 0.0), amp


def _final(final: dict | None, key: str, default: float) -> float:
    """final[key] when it is a finite number, else default (a NaN final value leaves the
    window's measurement in place)."""
    try:
        v = float((final or {})[key])
    except (KeyError, TypeError, ValueError):
        return default
    return v if math.isfinite(v) else default


def _nonfinite_snapshot(snapshots, member: int):
    """(step, non-finite rows, rows) of the first snapshot whose samples of `member` hold NaN/Inf; None if none."""
    for s in snapshots:
        x = np.asarray(s.fake[member], dtype=float).reshape(-1, 2)
        bad = ~np.isfinite(x).all(1)
        if bad.any():
            return s.step, int(bad.sum()), len(x)
    return None


def _evenly(seq: list, k: int) -> list:
    """At most k items of seq, evenly spaced, the last always among them."""
    if len(seq) <= k:
        return list(seq)
    idx = np.unique(np.round(np.linspace(len(seq) - 1, 0, k)).astype(int))
    return [seq[i] for i in sorted(idx)]


def _imbalance_text(shares: np.ndarray | None, weights: np.ndarray) -> str:
    """'mode k holds 50% (fair share 12.5%), ' for the mode furthest above its fair share."""
    if shares is None or not np.isfinite(shares).all() or shares.sum() <= 0:
        return ""
    p = shares / shares.sum()
    k = int(np.argmax(p / weights))
    return f"mode {k} holds {p[k]:.0%} (fair share {100 * weights[k]:.3g}%), "


def classify(run, member: int = 0, rules: OutcomeRules | None = None, final: dict | None = None) -> Outcome:
    """The outcome of one member of a run (a Run with history and snapshots).

    final: the member's row of metrics.evaluate (2,500 fresh samples); when given, it decides
    JS, the modes present, the high-quality and off-mode shares and the reverse KL (more
    reliable than the 500 samples measured during training); the window's measurements and
    snapshots still decide hopping, spread, travel and trends. Never raises on NaN values."""
    rules = rules or OutcomeRules()
    h = run.member_history(member)
    status = (run.member_status or ["?"] * run.size)[member]
    target = run.target
    K = target.num_modes
    steps = np.asarray(h.get("step", []), dtype=float)
    finite_steps = steps[np.isfinite(steps)]
    last = int(finite_steps.max()) if len(finite_steps) else run.step
    col = lambda k: np.asarray(h.get(k, np.full(len(steps), np.nan)), dtype=float)  # noqa: E731
    win = lambda k: _window(steps, col(k), last, rules.window)[1]  # noqa: E731
    present_key = "modes_present" if "modes_present" in h else "modes_captured"
    g_s, gn_w, g_all_s, gn_all = _window(steps, col("g_grad_norm"), last, rules.window)
    out = Outcome("stalled", "", js=_median(win("js")), modes=_median(win(present_key)), num_modes=K,
                  high_quality=_median(win("high_quality")), d_loss=_median(win("d_loss")), g_grad_norm=_median(gn_w),
                  reverse_kl=_median(win("reverse_kl")), off_mode=_median(win("off_mode")))
    out.js = _final(final, "js", out.js)
    out.modes = _final(final, "modes_present", out.modes)
    out.high_quality = _final(final, "high_quality", out.high_quality)
    out.reverse_kl = _final(final, "reverse_kl", out.reverse_kl)
    if final is not None and "off_mode" in final:
        out.off_mode = _final(final, "off_mode", float("nan"))
    elif final is not None and "high_quality" in final:
        out.off_mode = float("nan")            # a final row from before off_mode: 1 - its high quality, below
    snapshots = list(run.snapshots)

    # 1. diverged
    trained = steps > 0                          # the step-0 row (before any round) has no loss
    if status == "diverged" or (trained.any() and not np.isfinite(col("d_loss")[trained][-1:]).all()):
        out.outcome, out.reason = "diverged", f"NaN/Inf at step {run.diverged_step[member] if run.diverged_step else '?'}"
        return out
    bad = _nonfinite_snapshot(snapshots, member)
    if bad:
        out.outcome = "diverged"
        out.reason = f"NaN/Inf samples at step {bad[0]} ({bad[1]} of {bad[2]})"
        return out
    if _final(final, "nonfinite", 0.0) > 0:
        out.outcome = "diverged"
        out.reason = f"NaN/Inf in the final samples ({_final(final, 'nonfinite', 0.0):.1%})"
        return out

    # 2. vanishing gradient
    if run.probabilistic and len(gn_all):
        early = gn_all[g_all_s < last * (1 - rules.window)]
        peak = float(np.max(early)) if len(early) else float("nan")
        if out.d_loss < rules.d_saturated and out.g_grad_norm < rules.grad_ratio * peak:
            out.outcome = "vanishing_gradient"
            out.reason = (f"D loss {out.d_loss:.3f} < {rules.d_saturated}; G gradient norm {out.g_grad_norm:.3g} "
                          f"< {rules.grad_ratio} x earlier peak {peak:.3g}")
            return out

    # 3. G did not move
    scale = remembered(target, "spread", lambda: spread(target.sample(2000, seed=0).numpy())) \
        if snapshots else float("nan")
    if len(snapshots) >= 2 and snapshots[-1].step > snapshots[0].step and scale > 0:
        first = snapshots[0].fake                # each snapshot's distance from it, remembered with it
        out.moved = max((remembered(s.fake, ("moved", member), lambda s=s: moved(first[member], s.fake[member]),
                                    of=first) for s in snapshots[1:]),
                        key=lambda v: v if np.isfinite(v) else -1.0) / scale
        if out.moved < rules.moved_min:
            out.outcome = "stalled"
            out.reason = (f"G did not move: its fixed samples moved at most {out.moved:.2g} x the target's spread "
                          f"from step {snapshots[0].step} to {snapshots[-1].step} (< {rules.moved_min})")
            return out

    # what the window's samples look like: spread, travel, the mode timeline
    snaps = [s for s in snapshots if s.step >= last * (1 - rules.window)] or snapshots[-1:]
    verdict, last_shares = None, None
    if K and len(snaps) >= 2:
        # imported here: a sweep's worker imports this module (through the runner) and must start
        # without torch, so that its watch on the parent runs at once (a kill -9 leaves no orphan)
        from .modes import mode_timeline, present
        tl = mode_timeline(snaps, target, member)
        out.hops, verdict = tl.losses, tl.verdict()
        last_shares = tl.shares[-1]
        if not np.isfinite(out.modes):          # no measurement recorded: the last snapshot's modes present
            n = len(snaps[-1].fake[member])
            out.modes = float(present(np.round(last_shares * n), target.weights.double().numpy(), n).sum())
    if K and snaps and scale > 0:
        spreads = [remembered(s.fake, ("spread", member), lambda s=s: spread(s.fake[member]))
                   for s in _evenly(snaps, _SPREAD_SNAPSHOTS)]
        out.spread = _median(spreads) / scale
        if len(snaps) >= 2:
            centres = [np.asarray(s.fake[member], dtype=float).reshape(-1, 2).mean(0) for s in snaps]
            jumps = np.linalg.norm(np.diff(np.array(centres), axis=0), axis=1)
            blob = _median(spreads)
            out.travel = _median(jumps) / blob if blob > 0 else float("nan")
    if final is not None and isinstance(final.get("counts"), (list, tuple, np.ndarray)) and len(final["counts"]) == K:
        last_shares = np.asarray(final["counts"], dtype=float)
    if K and not np.isfinite(out.reverse_kl) and last_shares is not None and last_shares.sum() > 0:
        p, w = last_shares / last_shares.sum(), target.weights.double().numpy()
        out.reverse_kl = float(np.sum(p[p > 0] * np.log(p[p > 0] / w[p > 0])))
    if K and not np.isfinite(out.off_mode) and np.isfinite(out.high_quality):
        out.off_mode = 1 - out.high_quality     # a run recorded without off_mode

    compact = bool(K) and np.isfinite(out.spread) and out.spread <= rules.spread_compact
    travelling = bool(K) and np.isfinite(out.travel) and out.travel >= rules.blob_travel
    concentrated = (not K or compact or travelling
                    or (np.isfinite(out.high_quality) and out.high_quality >= rules.hq_concentrated))
    all_modes = not K or (np.isfinite(out.modes) and out.modes >= K)
    uneven = bool(K) and np.isfinite(out.reverse_kl) and out.reverse_kl > rules.rkl_balanced + _SLACK
    off_modes = bool(K) and np.isfinite(out.off_mode) and out.off_mode > rules.off_mode_max + _SLACK
    hq_txt = f", {out.high_quality:.0%} high quality" if K and np.isfinite(out.high_quality) else ""

    # 4. converged
    fits = np.isfinite(out.js) and out.js <= rules.js_converged
    if fits and all_modes and concentrated and not uneven and not off_modes:
        out.outcome = "converged"
        out.reason = f"JS {out.js:.3f} <= {rules.js_converged}" + (f", all {K} modes{hq_txt}" if K else "")
        return out
    # 5. oscillating
    ac, amp = _periodic(win("g_loss"))
    if ac >= rules.osc_autocorr and amp >= rules.osc_amplitude and (not K or out.hops >= rules.osc_hops):
        out.outcome = "oscillating"
        out.reason = f"G loss autocorrelation {ac:.2f}, amplitude {amp:.2f}" + (f", {out.hops} mode losses" if K else "")
        return out
    # 6. mode collapse
    missing = np.isfinite(out.modes) and out.modes < rules.collapse_fraction * K
    if K and concentrated and (missing or verdict == "hopping" or uneven):
        out.outcome = "mode_collapse"
        if missing or verdict == "hopping":
            out.reason = f"{out.modes:g} of {K} modes present{hq_txt}" + (", hopping" if verdict == "hopping" else "")
        else:
            out.reason = (f"partial: {_imbalance_text(last_shares, target.weights.double().numpy())}"
                          f"reverse KL {out.reverse_kl:.2f} > {rules.rkl_balanced}{hq_txt}")
        if compact:
            out.reason += f", a compact blob (spread {out.spread:.2f} x the target's)"
        elif travelling:
            out.reason += (f", one blob travelling (its centre jumps {out.travel:.1f} x its spread between snapshots; "
                           f"spread {out.spread:.2f} x the target's)")
        return out
    # 7. not converged
    if K and not concentrated:
        out.outcome = "not_converged"
        out.reason = (f"diffuse: {out.high_quality:.0%} high quality < {rules.hq_concentrated:.0%}, "
                      f"spread {out.spread:.2f} x the target's")
        return out
    if off_modes:
        out.outcome = "not_converged"
        out.reason = (f"mass between the modes: {out.off_mode:.1%} of the samples farther than 3 std from every mode "
                      f"> {rules.off_mode_max:.0%} (exact samples: 1.1%)")
        return out
    # 8. stalled
    out.reason = (f"fits no better: JS {out.js:.3f} > {rules.js_converged}" + (f" with all {K} modes{hq_txt}" if K else "")
                  + " (mode widths wrong, or not fitted yet)")
    return out


def verdict_text(outcome: Outcome | None, reason: bool = True) -> str:
    """An outcome said in words, with the reason the classifier gave: "mode collapse — 1 of 8 modes
    present, 96% high quality" ('' for None). Every face that shows a run's verdict says it with
    this: the dashboard's status line and Compare, export titles, the CLI."""
    if outcome is None:
        return ""
    name = outcome.outcome.replace("_", " ")
    return f"{name} — {outcome.reason}" if reason and outcome.reason else name
