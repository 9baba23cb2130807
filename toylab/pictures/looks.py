"""How pictures look, without drawing anything (so the command line can list the choices
without importing torch or matplotlib): the panel names and their help, the layout of a
frame, the themes and the frame sizes."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..engine.safe_load import short

MAP_PANELS = ("p_data", "p_model", "d", "d_star", "manifold", "arrows")
CURVE_PANELS = ("losses", "js", "modes")
PANELS = MAP_PANELS + CURVE_PANELS

TITLES = {
    "p_data": "p_data (target)",
    "p_model": "p_model (generator)",
    "d": "D(x), line: D = ½",
    "d_star": "optimal D*(x)",
    "manifold": "G(noise grid)",
    "arrows": "∇D at the fakes",
    "losses": "losses",
    "js": "JS divergence (nats)",
    "modes": "modes present / captured",
}

#: one line per panel, for the dashboard's help and the docs
HELP = {
    "p_data": "The target distribution's exact density (the pixel average of its formula), with real samples.",
    "p_model": "Where the generator puts its samples: the kernel density the JS number is computed on (500 "
               "fixed-noise samples), on the same colour scale as p_data, so a mode that is too bright has too "
               "much mass.",
    "d": "The discriminator's output D(x) = sigmoid(logit): blue where it says 'real', orange where it says "
         "'fake'. At the Nash equilibrium p_model = p_data and D = ½ everywhere; the black line is D = ½.",
    "d_star": "The best possible discriminator for the current generator, p_data / (p_data + p_model). "
              "Compare with D: a D far from D* is not a good critic. Blank where neither has mass.",
    "manifold": "The image under G of a regular grid of noise values: how G folds and stretches the latent "
                "space. Collapsing lines mean many z map to the same x.",
    "arrows": "The gradient of D's logit at each fake sample: the direction the generator's update pushes "
              "that sample. Arrows all pointing to one mode precede mode collapse.",
    "losses": "D's and G's losses (means over each logging interval). For the non-saturating GAN at the "
              "equilibrium: D loss -> 2 ln 2 = 1.386, G loss -> ln 2 = 0.693.",
    "js": "Jensen-Shannon divergence between p_data and p_model (exact p_data, kernel density for p_model, "
          "bias-corrected), with a band of one standard error and the lower bound from the current D. 0 means "
          "a perfect match; ln 2 = 0.693 is the maximum. An open circle on the axis: the estimate fell below 0 "
          "and was clipped (no divergence resolved from 500 samples).",
    "modes": "Present (solid): modes holding at least a tenth of their fair share of the samples within 3 "
             "standard deviations. Captured (dotted): modes with at least one such sample, the literature's "
             "count, which stray samples of a diffuse generator inflate. Collapse: present below all K while "
             "most samples sit on modes.",
}


def check_panels(panels) -> tuple[str, ...]:
    """Panel names, validated: a clear error naming the unknown ones and the allowed ones."""
    if panels is None or panels == "all":
        return PANELS
    if isinstance(panels, str):
        panels = [p.strip() for p in panels.split(",") if p.strip()]
    panels = tuple(panels)
    bad = [p for p in panels if p not in PANELS]
    if bad or not panels:
        raise ValueError(f"panels: unknown {', '.join(map(repr, bad)) or 'empty list'}; "
                         f"allowed: {', '.join(PANELS)} (or 'all')")
    return tuple(p for p in PANELS if p in panels)      # canonical order


# ---- layout ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Cell:
    panel: str
    row: int
    col: int
    rowspan: int
    colspan: int


@dataclass(frozen=True)
class Layout:
    """Panels placed on a rows x cols grid (cells may span); shared by matplotlib and Plotly."""

    rows: int
    cols: int
    cells: tuple[Cell, ...]
    row_heights: tuple[float, ...]
    col_widths: tuple[float, ...]


def layout(panels, width: int, height: int) -> Layout:
    """Maps (square) in a grid, curves beside them on wide frames or below on square ones; four
    panels in a 2x2 grid (maps first: a slide's "p_model, D, JS, modes" reads as a square, each
    map with its colour bar beside it, instead of one thin row)."""
    panels = check_panels(panels)
    maps = [p for p in panels if p in MAP_PANELS]
    curves = [p for p in panels if p in CURVE_PANELS]
    cells = []
    if len(panels) == 4:
        cells = [Cell(p, i // 2, i % 2, 1, 1) for i, p in enumerate(maps + curves)]
        return Layout(2, 2, tuple(cells), (1.0, 1.0), (1.0, 1.0))
    if not maps or not curves:
        items = maps or curves
        n = len(items)
        cols = n if (width / height >= 1.25 or n <= 2) and n <= 4 else math.ceil(math.sqrt(n))
        rows = math.ceil(n / cols)
        cells = [Cell(p, i // cols, i % cols, 1, 1) for i, p in enumerate(items)]
        return Layout(rows, cols, tuple(cells), (1.0,) * rows, (1.0,) * cols)
    nm, nc = len(maps), len(curves)
    if width / height >= 1.25:                  # wide: maps left, curves stacked in a right column
        mr = 1 if nm <= 3 else 2
        mc = math.ceil(nm / mr)
        R = 6
        for i, p in enumerate(maps):
            cells.append(Cell(p, (i // mc) * (R // mr), i % mc, R // mr, 1))
        for i, p in enumerate(curves):
            cells.append(Cell(p, i * (R // nc), mc, R // nc, 1))
        return Layout(R, mc + 1, tuple(cells), (1.0,) * R, (1.0,) * mc + (1.35,))
    mc = min(nm, 3)                             # square or tall: maps on top, curves in a row below
    mr = math.ceil(nm / mc)
    C = 6
    for i, p in enumerate(maps):
        cells.append(Cell(p, i // mc, (i % mc) * (C // mc), 1, C // mc))
    for i, p in enumerate(curves):
        cells.append(Cell(p, mr, i * (C // nc), 1, C // nc))
    return Layout(mr + 1, C, tuple(cells), (1.0,) * mr + (0.75,), (1.0,) * C)


# ---- themes --------------------------------------------------------------------------
@dataclass(frozen=True)
class Theme:
    """Colours for one kind of slide. real/fake are the one real-vs-fake palette that every
    panel uses (Okabe-Ito hues, told apart by colour-blind viewers and on projectors); the
    density maps run from the background to them and D runs from fake to real."""

    name: str
    bg: str
    fg: str
    muted: str
    real: str
    fake: str
    d: str          # the discriminator's own colour (its loss, its bound)
    font_size: float = 15.0


THEMES = {
    "light": Theme("light", bg="#FFFFFF", fg="#1A1A1A", muted="#9A9A9A", real="#0072B2", fake="#D55E00",
                   d="#009E73"),
    "dark": Theme("dark", bg="#111418", fg="#EEEEEE", muted="#6A6A6A", real="#56B4E9", fake="#E69F00",
                  d="#2FC79A"),
}

#: densities share one colour scale, 0 .. max p_data, stretched as (p / max)^DENSITY_GAMMA so that
#: thin mass stays visible beside sharp modes (the same in the matplotlib and Plotly faces)
DENSITY_GAMMA = 0.5

#: named frame sizes in pixels
SIZES = {"720p": (1280, 720), "1080p": (1920, 1080), "square": (1080, 1080), "square720": (720, 720),
         "4:3": (1024, 768), "small": (960, 540)}


def get_theme(theme) -> Theme:
    if isinstance(theme, Theme):
        return theme
    if not isinstance(theme, str) or theme not in THEMES:      # a list or dict was a TypeError
        raise ValueError(f"theme: unknown {short(theme, 60)}; allowed: {', '.join(THEMES)}")
    return THEMES[theme]


def get_size(size) -> tuple[int, int]:
    """(width, height) in pixels from a name in SIZES, 'WxH', or a pair; both even (H.264 needs it)."""
    if isinstance(size, str):
        if size in SIZES:
            return SIZES[size]
        try:
            w, h = (int(v) for v in size.lower().split("x"))
        except ValueError:
            raise ValueError(f"size: {size!r} is not a size; allowed: {', '.join(SIZES)} or WIDTHxHEIGHT "
                             f"such as 1280x720") from None
    else:
        w, h = (int(v) for v in size)
    if not (160 <= w <= 7680 and 160 <= h <= 4320) or w % 2 or h % 2:
        raise ValueError(f"size: {w}x{h} must be even numbers between 160x160 and 7680x4320")
    return w, h
