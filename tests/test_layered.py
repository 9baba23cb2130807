"""The layered view (one map, toggleable layers) and the dashboard's scrub rule: which snapshot
the Train page shows given the slider, a held view and the newest snapshot."""

import numpy as np
import pytest

import toylab
from toylab import panels
from toylab.pictures import plotly_figures as figures
from toylab.pictures.layered import DEFAULT_LAYERS, LAYERS, check_layers, layered_figure


@pytest.fixture(scope="module")
def view(tmp_path_factory):
    run = toylab.train(dataset="ring8", g_hidden=16, d_hidden=16, batch_size=32, steps=40, snapshot_every=20,
                       metrics_every=20, n_fixed=120, grid_size=24, manifold_size=5,
                       out=tmp_path_factory.mktemp("runs") / "r", progress=False)
    return panels.RunView(run, size=32, n_points=120, n_arrows=30)


def _names(fig):
    return [t["name"] for t in fig["data"]]


def test_the_layers_are_those_asked_for_in_drawing_order(view):
    frame = view.frame(view.run.snapshots[-1])
    assert _names(layered_figure(view, frame)) == ["D", "D = level", "real", "fake"]
    assert _names(layered_figure(view, frame, layers="all")) == ["D", "D = level", "real", "manifold", "fake",
                                                                  "arrows"]
    assert _names(layered_figure(view, frame, layers=["fake", "real"])) == ["real", "fake"]
    assert _names(layered_figure(view, frame, layers=[])) == []
    assert check_layers(None) == DEFAULT_LAYERS and check_layers("all") == LAYERS
    with pytest.raises(ValueError, match=r"layers: unknown 'p_data'; allowed: d, real, fake, manifold, arrows"):
        check_layers("d,p_data")


def test_the_layers_reuse_the_panels_traces(view):
    """Same D field and decision line as the D panel, same fakes and real samples: nothing recomputed."""
    frame = view.frame(view.run.snapshots[-1])
    t = panels.get_theme("dark")
    fig = layered_figure(view, frame, "dark", layers="all")
    layered = {tr["name"]: tr for tr in fig["data"]}
    d_panel = {tr["name"]: tr for tr, _ in figures.panel_traces(view, frame, "d", t)}
    assert layered["D"]["z"] == d_panel["D"]["z"] and layered["D = level"]["x"] == d_panel["D = level"]["x"]
    assert layered["fake"]["x"] == d_panel["fake"]["x"]
    p_data = {tr["name"]: tr for tr, _ in figures.panel_traces(view, frame, "p_data", t)}
    assert layered["real"]["x"] == p_data["real"]["x"]
    # fakes are outlined in the theme's foreground, so they show on D's orange ("fake") region
    assert layered["fake"]["marker"]["line"] == {"width": 1, "color": "white"}
    assert layered["fake"]["marker"]["color"] == t.fake
    assert layered_figure(view, frame, "light")["data"][3]["marker"]["line"]["color"] == "black"
    assert fig["layout"]["title"]["text"] == view.title(frame)
    assert fig["layout"]["yaxis"]["scaleanchor"] == "x"


def test_fonts_scale_and_the_height_can_follow_the_box(view):
    frame = view.frame(view.run.snapshots[0])
    big = layered_figure(view, frame, height=None, font_scale=1.6)
    assert big["layout"]["height"] is None
    assert big["layout"]["font"]["size"] == pytest.approx(1.6 * panels.get_theme("light").font_size)
    assert big["data"][0]["colorbar"]["tickfont"]["size"] == pytest.approx(0.8 * 1.6 * 15)
    assert np.isfinite(view.frame(view.run.snapshots[0]).d).all()


def test_the_scrub_rule_holds_a_scrubbed_snapshot_by_step_until_live():
    from dashboards.pages.train import choose_snapshot
    steps = [0, 20, 40, 60, 80, 100]
    assert choose_snapshot(steps, None, 5, "poll") == (5, None)        # following: the newest
    assert choose_snapshot(steps, None, 1, "scrub") == (1, 20)          # a scrub holds its snapshot ...
    assert choose_snapshot(steps + [120, 140], 20, 7, "poll") == (1, 20)   # ... while new ones come
    # thinned while training (every other one dropped): the newest snapshot at or before the held step
    assert choose_snapshot([0, 40, 80, 120], 60, 3, "poll") == (1, 60)
    assert choose_snapshot([0, 40, 80, 120], 20, 3, "poll") == (0, 20)
    # the far right of the slider, and "● live", follow the run again
    assert choose_snapshot(steps, 20, 5, "scrub") == (5, None)
    assert choose_snapshot(steps, 20, 9, "scrub") == (5, None)
    assert choose_snapshot(steps, 20, 1, "live") == (5, None)
    # a slider value the page should never send follows the run
    for junk in (None, float("nan"), True, "3"):
        assert choose_snapshot(steps, 20, junk, "scrub") == (5, None)
    assert choose_snapshot(steps, None, -4, "scrub") == (0, 0)
