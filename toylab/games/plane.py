"""Two-player games in the plane and the gradient methods that play them (toylab.games).

min_x max_y f(x, y). A game gives its *field* F(z) = (df/dx, -df/dy): both players
step along -F (x descends, y ascends). Games:

- ``xy``: f = a x y, equilibrium (0, 0), the seeds' classic orbit.
- ``dirac``: Dirac-GAN (Mescheder et al. 2018): data at 0, generator at theta (x),
  linear discriminator D(v) = sigmoid(psi v) (y = psi), for the ``standard``
  (minimax), ``nonsaturating`` and ``wasserstein`` losses, with optional R1
  penalty gamma/2 psi^2 and instance noise sigma.

Methods map a flat state s = (z, memory...) to the next; `spectral_radius` differentiates
that very map at the equilibrium (torch.func.jacrev), so a new method gets its radius for
free. Simultaneous, alternating, optimistic and extragradient are toylab.games.methods run on
a `Plane` (SGD steps): the very functions GAN training runs with its networks and optimisers.
Consensus and momentum are maps of their own (in GAN terms a change of the field and SGD's
momentum).

>>> import numpy as np
>>> z = trajectory("simultaneous", lr=0.1, steps=10)
>>> bool(np.isclose(np.linalg.norm(z[-1]) / np.linalg.norm(z[0]), np.sqrt(1.01) ** 10))
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch.func import jacrev

from . import methods
from .config import DIRAC_LOSSES, METHOD_NAMES, GameConfig

Field = Callable[[torch.Tensor], torch.Tensor]       # z (2,) -> F(z) (2,)


# ---- games -----------------------------------------------------------------------------
def xy_field(a: float = 1.0) -> Field:
    """f(x, y) = a x y: F(z) = (a y, -a x)."""
    def F(z):
        return torch.stack([a * z[1], -a * z[0]])
    return F


def _hermite(sigma: float, n: int = 24):
    """Gauss-Hermite nodes/weights for E_{eps ~ N(0, sigma^2)} (probabilists' form)."""
    x, w = np.polynomial.hermite_e.hermegauss(n)
    return torch.tensor(sigma * x), torch.tensor(w / w.sum())


def dirac_field(loss: str = "standard", r1_gamma: float = 0.0, noise: float = 0.0) -> Field:
    """Dirac-GAN. D maximises V = E f(psi (0 + e)) + E f(-psi (theta + e)), f = log sigmoid
    (identity for Wasserstein), e ~ N(0, noise^2) instance noise, minus gamma/2 psi^2 (R1:
    the data sit at 0, where grad_x (psi x) = psi). G minimises V (standard), or
    -E log sigmoid(psi (theta + e)) (non-saturating), or -psi theta (Wasserstein)."""
    if loss not in DIRAC_LOSSES:
        raise ValueError(f"loss: {loss!r}; allowed: {', '.join(DIRAC_LOSSES)}")
    eps, w = _hermite(noise) if noise > 0 else (torch.zeros(1, dtype=torch.float64),
                                                 torch.ones(1, dtype=torch.float64))
    # f' in closed form (f = log sigmoid: f'(t) = sigmoid(-t)); with u = theta + e,
    #   dV/dtheta = -psi E f'(-psi u),  dV/dpsi = E e f'(psi e) - E u f'(-psi u) - gamma psi,
    #   non-saturating G: d/dtheta -E log sigmoid(psi u) = -psi E sigmoid(-psi u).
    # (torch.func.grad of V made each field value ~0.5 ms: 8 s for an xy-tab request.)
    def df(t):
        return torch.ones_like(t) if loss == "wasserstein" else torch.sigmoid(-t)

    def F(z):
        theta, psi = z[0], z[1]
        u = theta + eps
        fake = df(-psi * u)
        dtheta = -psi * (w * (torch.sigmoid(-psi * u) if loss == "nonsaturating" else fake)).sum()
        dpsi = (w * eps * df(psi * eps)).sum() - (w * u * fake).sum() - r1_gamma * psi
        return torch.stack([dtheta, -dpsi])
    return F


def make_field(game: str = "xy", **options) -> Field:
    """The field of `game` with its options (checked by GameConfig; the methods' are ignored)."""
    return field_of(GameConfig(game=game, **options))


def field_of(cfg: GameConfig) -> Field:
    """The field of a checked GameConfig's game."""
    if cfg.game == "xy":
        return xy_field(cfg.a)
    return dirac_field(cfg.loss, cfg.r1_gamma, cfg.noise)


# ---- methods: state (z, memory) -> next state ------------------------------------------
# eta is the (2,) vector of the players' step sizes (eta_x, eta_y).

class Plane:
    """The players of a plane game for toylab.games.methods: the point z = (x, y), the field F,
    SGD steps of sizes eta = (eta_x, eta_y); out of place, so that jacrev follows every step."""

    #: who moves in a one-player step: the other's step size is masked out (made once: a step
    #: that built its mask each time made long trajectories ~40 % slower)
    ONLY = {"x": torch.tensor([1.0, 0.0], dtype=torch.float64), "y": torch.tensor([0.0, 1.0], dtype=torch.float64)}

    def __init__(self, F: Field, z: torch.Tensor, eta: torch.Tensor):
        self.F, self.z, self.eta = F, z, eta

    def grad(self, who: str = "xy"):
        return self.F(self.z)

    def step(self, g, who: str = "xy") -> None:
        self.z = self.z - (self.eta if who == "xy" else self.eta * self.ONLY[who]) * g

    def point(self) -> torch.Tensor:
        return self.z

    def place(self, z: torch.Tensor) -> None:
        self.z = z


def _plane_map(move, memory: int, **fixed):
    """The state map s = (z, memory) -> next state of a shared method, on a Plane."""
    def step(F, s, eta, **options):
        p = Plane(F, s[:2], eta)
        out = move(p, s[2:] if memory else None, **{**options, **fixed})
        return torch.cat([p.z, out]) if memory else p.z
    step.__doc__ = move.__doc__
    return step


simultaneous = _plane_map(methods.simultaneous, 0)
alternating = _plane_map(methods.alternating, 0, first="x")
optimistic = _plane_map(methods.optimistic, 2)
extragradient = _plane_map(methods.extragradient, 0)


def consensus(F, s, eta, gamma: float = 1.0, **_):
    """Consensus optimisation (Mescheder et al. 2017): step along F + gamma grad(1/2 |F|^2)."""
    g = F(s)
    reg = torch.func.vjp(F, s)[1](g)[0]          # J^T F = grad 1/2 |F|^2
    return s - eta * (g + gamma * reg)


def momentum(F, s, eta, beta: float = 0.5, order: str = "simultaneous", **_):
    """Heavy ball: v' = beta v - eta F, z' = z + v'; memory v. beta < 0 is negative momentum
    (Gidel et al. 2019), which with order='alternating' can converge on the bilinear game."""
    z, v = s[:2], s[2:]
    if order == "simultaneous":
        v = beta * v - eta * F(z)
        return torch.cat([z + v, v])
    vx = beta * v[0] - eta[0] * F(z)[0]
    x = z[0] + vx
    vy = beta * v[1] - eta[1] * F(torch.stack([x, z[1]]))[1]
    return torch.stack([x, z[1] + vy, vx, vy])


METHODS: dict[str, tuple[Callable, int]] = {      # name -> (step, memory size); names: config.METHOD_NAMES
    "simultaneous": (simultaneous, 0),
    "alternating": (alternating, 0),
    "optimistic": (optimistic, 2),
    "extragradient": (extragradient, 0),
    "consensus": (consensus, 0),
    "momentum": (momentum, 2),
}


def _method(name: str):
    if name not in METHODS:
        raise ValueError(f"method: {name!r}; allowed: {', '.join(METHODS)}")
    return METHODS[name]


def _eta(lr, lr_y=None) -> torch.Tensor:
    return torch.tensor([lr, lr if lr_y is None else lr_y], dtype=torch.float64)


def _initial_state(name, F, z0, eta):
    step, mem = _method(name)
    if name == "optimistic":
        return torch.cat([z0, -eta * F(z0)])      # as if the last move were this one: the first step is plain GDA
    return torch.cat([z0, torch.zeros(mem, dtype=torch.float64)])


def trajectory(method: str, lr: float, steps: int, start=(1.0, 1.0), game: str = "xy", *,
               lr_y: float | None = None, **options) -> np.ndarray:
    """The iterates z_0 .. z_steps of `method` on `game`: array (steps + 1, 2).

    lr / lr_y: the step sizes of x and y (lr_y defaults to lr); options: the game's
    (a, loss, r1_gamma, noise) and the method's (gamma, beta, order, d_steps)."""
    step, _ = _method(method)
    cfg = GameConfig(methods=(method,), game=game, lr=lr, lr_y=lr_y, steps=steps, start=start, **options)
    steps, start, F = cfg.steps, cfg.start, field_of(cfg)
    eta = _eta(lr, lr_y)
    s = _initial_state(method, F, torch.tensor(start, dtype=torch.float64), eta)
    out = np.empty((steps + 1, 2))
    out[0] = s[:2].numpy()
    with torch.no_grad():
        for t in range(steps):
            s = step(F, s, eta, **options)
            out[t + 1] = s[:2].numpy()
            if not torch.isfinite(s).all():
                out[t + 2:] = np.nan
                break
    return out


@dataclass
class Linearisation:
    """The method's one-step map linearised at the equilibrium."""

    jacobian: np.ndarray
    eigenvalues: np.ndarray

    @property
    def spectral_radius(self) -> float:
        return float(np.abs(self.eigenvalues).max())


def linearise(method: str, lr: float, game: str = "xy", *, lr_y: float | None = None, **options) -> Linearisation:
    """Jacobian of the method's own update map (state -> next state) at the equilibrium."""
    step, mem = _method(method)
    F = field_of(GameConfig(methods=(method,), game=game, lr=lr, lr_y=lr_y, **options))
    eta = _eta(lr, lr_y)
    s0 = torch.zeros(2 + mem, dtype=torch.float64)
    J = jacrev(lambda s: step(F, s, eta, **options))(s0).numpy()
    return Linearisation(J, np.linalg.eigvals(J))


def spectral_radius(method: str, lr: float, game: str = "xy", **options) -> float:
    """max |eigenvalue| of the linearised update: < 1 converges locally, > 1 diverges."""
    return linearise(method, lr, game, **options).spectral_radius


def flow(steps: int, lr: float, start=(1.0, 1.0), game: str = "xy", **options) -> np.ndarray:
    """The continuous gradient flow dz/dt = -F(z) sampled at t = k lr (a fine scipy ODE solve)."""
    from scipy.integrate import solve_ivp
    F = make_field(game, **options)

    def rhs(_, z):
        return -F(torch.tensor(z, dtype=torch.float64)).numpy()

    t = np.arange(steps + 1) * lr
    sol = solve_ivp(rhs, (0, t[-1] if steps else 0.0), np.asarray(start, dtype=float), t_eval=t,
                    rtol=1e-10, atol=1e-12, method="DOP853")
    return sol.y.T


def decay_rate(z: np.ndarray, skip: int = 0) -> float:
    """Measured per-step factor of the distance to the equilibrium: a least-squares fit of
    log |z_t| against t (after `skip` transient steps)."""
    r = np.linalg.norm(z[skip:], axis=1)
    ok = np.isfinite(r) & (r > 0)
    t = np.arange(len(r))[ok]
    return float(np.exp(np.polyfit(t, np.log(r[ok]), 1)[0]))


assert tuple(METHODS) == METHOD_NAMES, "games.METHODS and games.config.METHOD_NAMES must name the same methods"


def descent_field(lim, game="xy", density=21, **options) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The descent field -F(z) on a density x density grid over [-lim, lim]^2: (xs, U, V),
    U[i, j] and V[i, j] at (xs[j], xs[i]): what gameviz draws as streamlines and arrows."""
    F = make_field(game, **options)
    xs = np.linspace(-lim, lim, density)
    U, V = np.zeros((density, density)), np.zeros((density, density))
    with torch.no_grad():
        for i, y in enumerate(xs):
            for j, x in enumerate(xs):
                f = F(torch.tensor([x, y], dtype=torch.float64)).numpy()
                U[i, j], V[i, j] = -f[0], -f[1]
    return xs, U, V
