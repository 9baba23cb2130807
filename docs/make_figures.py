"""Remake the game figures in docs/img:  python docs/make_figures.py  (the gallery: make_gallery.py;
the dashboard screenshots: make_screenshots.py)."""

from pathlib import Path

import numpy as np

from toylab import gameviz, viz

IMG = Path(__file__).parent / "img"


def main():
    IMG.mkdir(exist_ok=True)
    viz.save_figure(gameviz.orbit_figure(["simultaneous", "alternating", "optimistic", "extragradient"], 0.1, 300),
                    IMG / "xy_orbits.png")
    viz.save_figure(gameviz.orbit_figure(["simultaneous", "alternating", "consensus"], 0.1, 300, game="dirac",
                                         gamma=1.0), IMG / "dirac_orbits.png")
    fig, _ = gameviz.radius_map("momentum", np.linspace(0.02, 1.2, 60), "beta", np.linspace(-0.9, 0.9, 37),
                                order="alternating")
    viz.save_figure(fig, IMG / "momentum_radius_map.png")


if __name__ == "__main__":
    main()
