"""Remake the gallery (docs/gallery.md's pictures in docs/img/gallery/):

    python docs/make_gallery.py          # ~2 minutes on a 2-core CPU

Every picture comes from the library's own exporters (toylab.animate, viz.frame_figure,
gameviz.animate_orbits), trained from fixed seeds, so a rerun gives the same pictures.
"""

from pathlib import Path

import toylab
from toylab import charts, gameviz, viz

OUT = Path(__file__).parent / "img" / "gallery"
GIF = dict(fps=8, size="800x450", frames=40, hold=1.5, overwrite=True, progress=False)


def main():
    OUT.mkdir(parents=True, exist_ok=True)

    # 1. ring8 learning: all eight modes found
    ring = toylab.train(dataset="ring8", steps=5000, seed=0, progress=False)
    toylab.animate(ring, OUT / "ring8_learning.gif", **GIF)
    viz.save_figure(viz.frame_figure(ring, size="720p"), OUT / "ring8_final.png")

    # 2. grid25: the vanilla GAN covers a third of the modes (mode collapse)
    grid = toylab.train(dataset="grid25", steps=6000, seed=0, progress=False)
    toylab.animate(grid, OUT / "grid25_collapse.gif", **GIF)
    viz.save_figure(viz.frame_figure(grid, size="720p"), OUT / "grid25_final.png")

    # 3. a strong D (5 D steps per G step, lr_d 1e-3): the saturating minimax G loss
    #    gets a fraction of the non-saturating loss's gradient
    strong = dict(dataset="ring8", steps=3000, d_steps=5, lr_d=1e-3, seed=0, progress=False)
    runs = {"minimax (saturating)": toylab.train(loss="minimax", **strong),
            "non-saturating": toylab.train(loss="nonsaturating", **strong)}
    viz.save_figure(charts.curves_figure(runs, "g_grad_norm", log=True, size="960x540",
                                      title="generator gradient norm, strong D"), OUT / "saturating_grad.png")
    for name, run in runs.items():
        tag = "minimax" if name.startswith("minimax") else "nonsaturating"
        viz.save_figure(viz.frame_figure(run, step=500, panels="p_model,d,losses", size="1280x420"),
                        OUT / f"strong_d_{tag}.png")

    # 4. the xy game: simultaneous steps spiral out, alternating orbits, extragradient spirals in
    gameviz.animate_orbits(["simultaneous", "alternating", "extragradient"], 0.2, 120, OUT / "xy_orbits.gif",
                           fps=20, size="540x540", overwrite=True, progress=False)
    print(f"wrote {sorted(p.name for p in OUT.iterdir())}")


if __name__ == "__main__":
    main()
