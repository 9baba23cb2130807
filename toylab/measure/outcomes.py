"""How a run ended: one outcome per member, by documented rules with thresholds you can set.

Judged on the last `window` share of training (the verdict is about where training got
to, not how it started) and, when the caller gives it (sweeps do), on the final
measurement of 2,500 fresh samples. The first rule that holds names the outcome:

1. ``diverged``: the member's losses or weights became NaN/Inf.
2. ``vanishing_gradient`` (BCE objectives): D saturates — its loss over the window has
   median below ``d_saturated`` — and G's gradient norm over the window has median below
   ``grad_ratio`` times its peak earlier in training.
3. ``converged``: JS at or below ``js_converged`` nats and, on mixture targets, every
   mode present (toylab.modes: holding at least a tenth of its fair share of the
   samples) and at least ``hq_concentrated`` of the samples high quality.
4. ``oscillating``: the generator loss cycles — its detrended autocorrelation over the
   window has a peak of at least ``osc_autocorr`` at a lag of 2 or more measurements, with
   relative amplitude (std / mean |loss|) at least ``osc_amplitude`` — and, on mixture
   targets, mass left at least ``osc_hops`` modes in the window (mode losses with
   hysteresis, so sampling noise never counts).
5. ``mode_collapse`` (mixture targets): the samples are concentrated — at least
   ``hq_concentrated`` of them high quality, or all of them in a region much smaller than
   the target (`spread`: the 90th percentile of distances between pairs of samples, at most
   ``spread_compact`` times the target's; a generator in transit between two modes is a
   compact blob with no high-quality sample) — and modes are missing (present below ``collapse_fraction`` x K),
   or the mode timeline over the window says 'hopping' (mass keeps leaving modes while not
   all are held).
6. ``not_converged`` (mixture targets): fewer than ``hq_concentrated`` of the samples are
   high quality and they are not compact: the generator is diffuse, whatever it covers.
7. ``stalled``: none of the above: concentrated on every mode (or no modes to count) but
   JS above the bound — wrong mode widths or weights, or a target it has not fitted.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


OUTCOMES = ("converged", "mode_collapse", "not_converged", "oscillating", "vanishing_gradient", "diverged", "stalled")


@dataclass(frozen=True)
class OutcomeRules:
    """Thresholds of the outcome rules (see the module docstring)."""

    window: float = 0.25            # last share of training that is judged
    js_converged: float = 0.15      # nats
    collapse_fraction: float = 1.0  # modes present below this x K: modes missing
    hq_concentrated: float = 0.5    # share of high-quality samples from which mass counts as concentrated
    spread_compact: float = 0.25    # samples' spread at most this x the target's: a compact blob, concentrated
    d_saturated: float = 0.1        # D's loss (BCE, real + fake) below: D wins outright
    grad_ratio: float = 0.1         # G's gradient norm below this x its earlier peak: vanished
    osc_autocorr: float = 0.3
    osc_amplitude: float = 0.05
    osc_hops: int = 2

    def __post_init__(self):
        if not 0 < self.window <= 1:
            raise ValueError(f"rules.window: {self.window} must be in (0, 1]")
        if self.js_converged < 0 or not 0 < self.collapse_fraction <= 1:
            raise ValueError("rules.js_converged must be >= 0 and rules.collapse_fraction in (0, 1]")
        if not 0 < self.hq_concentrated <= 1:
            raise ValueError(f"rules.hq_concentrated: {self.hq_concentrated} must be in (0, 1]")

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
    spread: float = float("nan")         # the final samples' spread / the target's (see `spread`)


def spread(x: np.ndarray, n: int = 1000) -> float:
    """How far 2D samples reach: the 90th percentile of the distances between pairs of them (of
    the first n). A few stragglers move it little; two far-apart clusters are not 'compact'."""
    x = np.asarray(x, dtype=float).reshape(-1, 2)[:n]
    x = x[np.isfinite(x).all(1)]
    if len(x) < 2:
        return float("nan")
    i, j = np.triu_indices(len(x), 1)
    return float(np.percentile(np.linalg.norm(x[i] - x[j], axis=1), 90))


def _window(steps: np.ndarray, values: np.ndarray, last_step: int, share: float):
    ok = np.isfinite(values)
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


def classify(run, member: int = 0, rules: OutcomeRules | None = None, final: dict | None = None) -> Outcome:
    """The outcome of one member of a run (a Run with history and snapshots).

    final: the member's row of metrics.evaluate (2,500 fresh samples); when given, it decides
    JS, the modes present and the high-quality share (more reliable than the 500 samples
    measured during training); the window's measurements still decide hopping and trends."""
    rules = rules or OutcomeRules()
    h = run.member_history(member)
    status = (run.member_status or ["?"] * run.size)[member]
    K = run.target.num_modes
    steps = np.asarray(h.get("step", []), dtype=float)
    last = int(steps.max()) if len(steps) else run.step
    col = lambda k: np.asarray(h.get(k, np.full(len(steps), np.nan)), dtype=float)  # noqa: E731
    win = lambda k: _window(steps, col(k), last, rules.window)[1]  # noqa: E731
    med = lambda v: float(np.median(v)) if len(v) else float("nan")  # noqa: E731
    present_key = "modes_present" if "modes_present" in h else "modes_captured"
    g_s, gn_w, g_all_s, gn_all = _window(steps, col("g_grad_norm"), last, rules.window)
    out = Outcome("stalled", "", js=med(win("js")), modes=med(win(present_key)), num_modes=K,
                  high_quality=med(win("high_quality")), d_loss=med(win("d_loss")), g_grad_norm=med(gn_w))
    if final:
        out.js = float(final.get("js", out.js))
        out.modes = float(final.get("modes_present", out.modes))
        out.high_quality = float(final.get("high_quality", out.high_quality))
    snaps = [s for s in run.snapshots if s.step >= last * (1 - rules.window)]
    verdict = None
    if K and len(snaps) >= 2:
        # imported here: a sweep's worker imports this module (through the runner) and must start
        # without torch, so that its watch on the parent runs at once (a kill -9 leaves no orphan)
        from .modes import mode_timeline
        tl = mode_timeline(snaps, run.target, member)
        out.hops, verdict = tl.losses, tl.verdict()
    if K and run.snapshots:
        out.spread = spread(run.snapshots[-1].fake[member]) / spread(run.target.sample(2000, seed=0).numpy())

    if status == "diverged" or (len(steps) and not np.isfinite(col("d_loss")[-1:]).all()):
        out.outcome, out.reason = "diverged", f"NaN/Inf at step {run.diverged_step[member] if run.diverged_step else '?'}"
        return out
    if run.probabilistic and len(gn_all):
        early = gn_all[g_all_s < last * (1 - rules.window)]
        peak = float(np.max(early)) if len(early) else float("nan")
        if out.d_loss < rules.d_saturated and out.g_grad_norm < rules.grad_ratio * peak:
            out.outcome = "vanishing_gradient"
            out.reason = (f"D loss {out.d_loss:.3f} < {rules.d_saturated}; G gradient norm {out.g_grad_norm:.3g} "
                          f"< {rules.grad_ratio} x earlier peak {peak:.3g}")
            return out
    compact = bool(K) and np.isfinite(out.spread) and out.spread <= rules.spread_compact
    concentrated = not K or compact or (np.isfinite(out.high_quality) and out.high_quality >= rules.hq_concentrated)
    all_modes = not K or (np.isfinite(out.modes) and out.modes >= K)
    hq_txt = f", {out.high_quality:.0%} high quality" if K else ""
    if all_modes and concentrated and np.isfinite(out.js) and out.js <= rules.js_converged:
        out.outcome = "converged"
        out.reason = f"JS {out.js:.3f} <= {rules.js_converged}" + (f", all {K} modes{hq_txt}" if K else "")
        return out
    ac, amp = _periodic(win("g_loss"))
    if ac >= rules.osc_autocorr and amp >= rules.osc_amplitude and (not K or out.hops >= rules.osc_hops):
        out.outcome = "oscillating"
        out.reason = f"G loss autocorrelation {ac:.2f}, amplitude {amp:.2f}" + (f", {out.hops} mode losses" if K else "")
        return out
    missing = np.isfinite(out.modes) and out.modes < rules.collapse_fraction * K
    if K and concentrated and (missing or verdict == "hopping"):
        out.outcome = "mode_collapse"
        out.reason = (f"{out.modes:g} of {K} modes present{hq_txt}" + (", hopping" if verdict == "hopping" else "")
                      + (f", a compact blob (spread {out.spread:.2f} x the target's)" if compact else ""))
        return out
    if K and not concentrated:
        out.outcome = "not_converged"
        out.reason = (f"diffuse: {out.high_quality:.0%} high quality < {rules.hq_concentrated:.0%}, "
                      f"spread {out.spread:.2f} x the target's")
        return out
    out.reason = f"JS {out.js:.3f} > {rules.js_converged}" + (f" with all {K} modes{hq_txt}" if K else "")
    return out
