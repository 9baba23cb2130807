"""Update methods of a two-player game, written once over what the players can do.

min_x max_y: x is the minimiser (a GAN's generator), y the maximiser (its discriminator).
A method moves the players through four operations (the `Players` protocol):

- ``grad(who)``: the field at the current point, F = (d loss_x / dx, -d V / dy): both
  players' parts (``"xy"``), or the one of the player about to move (``"x"``, ``"y"``);
- ``step(g, who)``: the players' optimiser step for g, z <- z - u(g) (with SGD u(g) = eta g);
- ``point()`` / ``place(z)``: read and set the point, a flat tensor of both players.

Two kinds of players run these same functions: a plane's point with SGD steps (toylab.games:
the orbits, and the spectral radius by differentiating the map with torch.func.jacrev), and a
GAN's networks with their torch optimisers (toylab.engine.step.Game). With SGD the formulas
below are the textbook ones; with Adam they are Optimistic Adam and Extra-Adam.

Each method returns its memory for the next call (None when it keeps none).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import torch


class Players(Protocol):
    def grad(self, who: str = "xy"): ...

    def step(self, g, who: str = "xy") -> None: ...

    def point(self) -> torch.Tensor: ...

    def place(self, z: torch.Tensor) -> None: ...


def simultaneous(p: Players, memory=None, **_):
    """z' = z - u(F(z)): both players move from the same point."""
    p.step(p.grad())


def alternating(p: Players, memory=None, d_steps: int = 1, g_steps: int = 1, first: str = "y", **_):
    """One player at a time, each seeing the other's newest position: y takes `d_steps`
    ascent steps, x `g_steps` descent steps; `first` moves first. GAN training moves D first
    (Goodfellow et al. 2014, Algorithm 1: k D-steps, then a G-step); the plane's orbits move
    x first (x' = x - eta F_x(x, y), y' = y - eta F_y(x', y))."""
    counts = {"x": g_steps, "y": d_steps}
    for who in (first, "y" if first == "x" else "x"):
        for _ in range(counts[who]):
            p.step(p.grad(who), who)


def optimistic(p: Players, memory=None, **_):
    """z' = z - 2 u_t + u_{t-1} (Daskalakis et al. 2018; OGDA with SGD: z - 2 eta F(z_t) +
    eta F(z_{t-1})). Memory: the last plain move, -u_t; none at first, and the first step
    is then a plain one."""
    before = p.point()
    p.step(p.grad())
    after = p.point()
    move = after - before
    if memory is not None:
        p.place(after + move - memory)
    return move


def extragradient(p: Players, memory=None, **_):
    """Look ahead one step, z+ = z - u(F(z)), then z' = z - u(F(z+)) (Korpelevich 1976;
    Extra-Adam, Gidel et al. 2019, where both steps update Adam's moments)."""
    start = p.point()
    p.step(p.grad())
    g = p.grad()
    p.place(start)
    p.step(g)


#: the methods both kinds of players run: name -> function
MOVES = {"simultaneous": simultaneous, "alternating": alternating, "optimistic": optimistic,
         "extragradient": extragradient}
