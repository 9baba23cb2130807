"""Pictures and animations: exports open back with the right frames, the panels show the
right numbers, one real/fake palette everywhere, nothing saved is overwritten."""

import json
import math
import re

import numpy as np
import pytest
import torch

import toylab
from toylab import datasets, figures, kde, metrics, panels, viz
from toylab.pictures import plotly_figures as P
from toylab.cli import main
from toylab.pictures.export import FrameWriter


def _mp4_frames(path):
    import imageio_ffmpeg
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    w, h = meta["size"]
    return meta, [np.frombuffer(b, np.uint8).reshape(h, w, 3) for b in reader]


def test_mp4_reads_back_with_every_frame_at_the_asked_size(run, tmp_path):
    out = toylab.animate(run, tmp_path / "a.mp4", fps=10, size="720p", hold=0.5, progress=False)
    meta, frames = _mp4_frames(out)
    assert meta["size"] == (1280, 720) and meta["codec"].startswith("h264") and meta["fps"] == 10
    assert len(frames) == len(run.snapshots) + 5          # 6 snapshots + 0.5 s hold at 10 fps
    assert "yuv420p" in meta["pix_fmt"]                    # what PowerPoint and Keynote play
    assert not (frames[0] == frames[-1]).all()             # the picture changes over training


def test_gif_and_png_sequence_read_back(run, tmp_path):
    from PIL import Image
    gif = toylab.animate(run, tmp_path / "a.gif", fps=5, size="small", hold=0, progress=False)
    with Image.open(gif) as im:
        assert im.size == (960, 540) and im.n_frames == len(run.snapshots)
        assert im.info["duration"] == 200 and im.info["loop"] == 0
    seq = toylab.animate(run, tmp_path / "frames", size="square720", hold=0, progress=False)
    files = sorted(seq.iterdir())
    assert [f.name for f in files] == [f"frame_{i:05d}.png" for i in range(len(run.snapshots))]
    with Image.open(files[0]) as im:
        assert im.size == (720, 720)


def test_html_is_standalone_with_a_frame_per_snapshot(run, tmp_path):
    out = toylab.animate(run, tmp_path / "a.html", progress=False, theme="dark")
    html = out.read_text()
    names = re.findall(r'"name":"(\d+)","traces"', html) or re.findall(r'"name":"(\d+)"', html)
    steps = [str(s.step) for s in run.snapshots]
    assert all(s in names for s in steps)
    assert '"method":"animate"' in html and "play" in html                 # a play button and a slider
    # nothing is fetched from the network: every script is inline, no external src/href
    assert not re.search(r'<script[^>]+src="(https?:)?//', html)
    assert not re.search(r'<link[^>]+href="(https?:)?//', html)
    assert "Plotly.newPlot" in html and len(html) > 3_000_000                # plotly.js is embedded


def test_figure_command_writes_a_vector_pdf(run, tmp_path, capsys):
    out = tmp_path / "f.pdf"
    assert main(["figure", str(run.path), "--step", "40", "--out", str(out), "--theme", "dark"]) == 0
    assert out.read_bytes()[:5] == b"%PDF-" and out.stat().st_size > 20_000
    assert main(["figure", str(run.path), "--step", "41", "--out", str(tmp_path / "g.pdf")]) == 2
    err = capsys.readouterr().err
    assert "step: no snapshot at step 41; nearest is 40" in err


def test_an_existing_file_is_never_overwritten(run, tmp_path, capsys):
    out = tmp_path / "talk.mp4"
    out.write_bytes(b"my lecture")
    with pytest.raises(FileExistsError, match="out: .*talk.mp4 already exists"):
        toylab.animate(run, out, progress=False)
    assert main(["animate", str(run.path), "--out", str(out), "--quiet"]) == 2
    assert out.read_bytes() == b"my lecture"
    toylab.animate(run, out, overwrite=True, progress=False, frames=2, hold=0)
    assert out.read_bytes()[4:8] == b"ftyp"
    assert not list(tmp_path.glob(".*partial*"))            # no temporary left behind


@pytest.mark.parametrize("kwargs, match", [
    (dict(panels="p_data,bogus"), r"panels: unknown 'bogus'; allowed: p_data, p_model, d, d_star"),
    (dict(theme="neon"), r"theme: unknown 'neon'; allowed: light, dark"),
    (dict(size="huge"), r"size: 'huge' is not a size; allowed: 720p, 1080p"),
    (dict(size="641x480"), r"size: 641x480 must be even"),
    (dict(fps=0), r"fps: must be a number of frames per second in \(0, 120\] \(got 0\)"),
    (dict(member=3), r"member: 3 is out of range; this run has members 0..0"),
])
def test_bad_options_name_the_field_and_write_nothing(run, tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        toylab.animate(run, tmp_path / "x.mp4", progress=False, **kwargs)
    assert not list(tmp_path.iterdir())


def test_unknown_format_names_the_allowed_ones(run, tmp_path):
    with pytest.raises(ValueError, match=r"out: format '.webm' not supported; allowed: .gif, .mp4, .html"):
        toylab.animate(run, tmp_path / "x.webm", progress=False)


# ---- the panels show the right numbers -------------------------------------------------
def test_p_data_panel_is_the_target_density():
    t = datasets.get("ring8")
    # point-sampled (supersample=1) it is exactly the target's density on the grid ...
    np.testing.assert_allclose(panels.pixel_density(t, 60, supersample=1), t.density_grid(60)[2].numpy(),
                               rtol=1e-6)
    # ... and pixel-averaged it holds the target's probability mass (1), even for modes of
    # std 0.02 that are narrower than a pixel, where point samples miss most of it
    x0, x1, y0, y1 = t.bounds
    area = ((x1 - x0) / 59) * ((y1 - y0) / 59)
    assert panels.pixel_density(t, 60, supersample=8).sum() * area == pytest.approx(1.0, abs=0.01)
    assert abs(panels.pixel_density(t, 60, supersample=1).sum() * area - 1.0) > 0.1


def test_p_data_image_in_the_picture_is_the_panel_data(run):
    view = panels.RunView(run)
    painter = viz.Painter(view, ["p_data", "p_model"], size="small")
    np.testing.assert_array_equal(painter.p_data_image.get_array(), view.p_data)
    painter.close()


def test_binned_kde_matches_the_exact_kde():
    x = datasets.get("grid25").sample(2000, seed=1)
    bounds, size, h = (-5.0, 5.0, -5.0, 5.0), 201, 0.25
    binned = metrics.binned_kde(x.numpy(), bounds, size, h)
    _, _, pts = kde.grid_points(bounds, size)
    exact = metrics.kde_log_prob(pts, x, h).exp().reshape(size, size).numpy()
    dx = 10 / (size - 1)
    assert np.abs(binned - exact).sum() * dx * dx < 0.03          # L1 distance of two densities
    assert binned.sum() * dx * dx == pytest.approx(1.0, abs=0.01)


def test_binned_kde_with_per_sample_bandwidths_matches_the_exact_adaptive_kde():
    """The p_model panel draws the adaptive KDE of the JS number: one blur per bandwidth class."""
    from toylab.measure.bandwidth import kde_bandwidths
    ring = datasets.get("ring8")
    x = datasets.Blend([ring, datasets.Uniform(ring.bounds)], [0.7, 0.3]).sample(500, seed=2)
    bw = kde_bandwidths(x.numpy(), 8.0)
    assert bw.power > 0 and len(np.unique(bw.factors)) >= 3          # background: wide kernels, modes: narrow
    bounds, size = ring.bounds, 401
    binned = metrics.binned_kde(x.numpy(), bounds, size, bw.per_sample)
    _, _, pts = kde.grid_points(bounds, size)
    exact = metrics.kde_log_prob(pts, x, torch.from_numpy(bw.per_sample)).exp().reshape(size, size).numpy()
    cell = ((bounds[1] - bounds[0]) / (size - 1)) ** 2
    assert np.abs(binned - exact).sum() * cell < 0.05
    assert binned.sum() * cell == pytest.approx(exact.sum() * cell, abs=0.01)


def test_optimal_discriminator_panel_is_p_over_p_plus_q(run):
    view = panels.RunView(run)
    fr = view.frame(run.snapshots[-1])
    ok = np.isfinite(fr.d_star)
    assert ok.mean() > 0.01 and fr.d_star[ok].min() < 0.1 and fr.d_star[ok].max() > 0.9
    np.testing.assert_allclose(fr.d_star[ok], (view.p_data / (view.p_data + fr.p_model))[ok], atol=1e-12)
    assert fr.d.min() >= 0 and fr.d.max() <= 1                    # D = sigmoid(logit) for BCE


def test_a_frame_makes_its_densities_only_when_drawn_and_they_are_the_fresh_ones(run):
    """p_model, D* and the bandwidth are ~20 of a frame's ~26 ms and the layered view and the curves
    never read them: a frame computes them on first use only (a class's pages computed them at
    every snapshot for nothing), once, and then they are what the view computes afresh."""
    from toylab.pictures.layered import layered_figure
    view = panels.RunView(run)
    snap = run.snapshots[-1]
    fr = view.frame(snap)
    layered_figure(view, fr)
    for p in ("losses", "js", "modes", "d", "manifold", "arrows", "p_data"):
        P.panel_traces(view, fr, p, P.get_theme("light"))
    assert "_densities" not in fr.__dict__                 # not computed: nothing drawn needed them
    P.panel_traces(view, fr, "p_model", P.get_theme("light"))
    assert "_densities" in fr.__dict__
    p_model, d_star, h = view.densities(np.asarray(snap.fake[0], dtype=np.float64))
    np.testing.assert_array_equal(fr.p_model, p_model)
    np.testing.assert_array_equal(fr.d_star, d_star)
    assert fr.bandwidth == h and fr.p_model is fr.p_model       # made once
    assert p_model.sum() * (view.xs[1] - view.xs[0]) * (view.ys[1] - view.ys[0]) == pytest.approx(1.0, abs=0.05)


def test_the_p_model_and_d_star_panels_show_the_density_the_js_number_was_computed_on(tmp_path):
    """The picture and the number agree: the panels estimate p_model from the recorded JS
    estimate's samples (the first 500 of the fixed fakes) with its bandwidth. Before, the
    panels used all 1,000 fakes, and their bandwidth was ~11 % narrower than the number's."""
    run = toylab.train(dataset="ring8", g_hidden=16, d_hidden=16, batch_size=32, steps=20, snapshot_every=20,
                       metrics_every=20, n_fixed=1000, grid_size=20, manifold_size=3)
    snap = run.snapshots[-1]
    fr = panels.RunView(run).frame(snap)
    est = metrics.js_estimate(run.target, snap.fake[0][:metrics.TRAINING_SAMPLES])
    assert est.value == pytest.approx(run.member_history(0)["js"][-1], abs=1e-12)
    assert fr.bandwidth == pytest.approx(est.bandwidth, rel=1e-12)
    assert fr.bandwidth != pytest.approx(metrics.kde_bandwidth(np.asarray(snap.fake[0]), 8.0), rel=0.02)


def test_d_star_from_log_densities_holds_where_both_are_tiny_and_is_one_half_where_both_vanish():
    from toylab.measure.dstar import optimal_d
    d = optimal_d([-800.0, -np.inf, 0.0, -np.inf, np.log(3)], [-801.0, -np.inf, -np.inf, 0.0, 0.0])
    np.testing.assert_allclose(d, [1 / (1 + np.exp(-1)), 0.5, 1.0, 0.0, 0.75])


def test_one_real_fake_palette_in_every_panel(run):
    view = panels.RunView(run)
    for name, theme in panels.THEMES.items():
        painter = viz.Painter(view, None, name, "720p")
        painter.update(view.frame(run.snapshots[-1]))
        from matplotlib.colors import to_hex
        points = [c for ax in painter.fig.axes for c in ax.collections if hasattr(c, "get_offsets")
                  and c.get_offsets().shape[0] > 1 and type(c).__name__ == "PathCollection"]
        colours = {to_hex(c.get_facecolor()[0]) for c in points}
        assert colours == {theme.real.lower(), theme.fake.lower()}
        cm = painter.cmaps
        assert to_hex(cm["real"](1.0)) == theme.real.lower() and to_hex(cm["fake"](1.0)) == theme.fake.lower()
        assert to_hex(cm["d"](0.0)) == theme.fake.lower() and to_hex(cm["d"](1.0)) == theme.real.lower()
        painter.close()
        fig, _ = figures.snapshot_figure(view, view.frame(run.snapshots[-1]), theme=name)
        for tr in fig.data:
            if tr.name in ("real", "fake"):
                assert tr.marker.color == getattr(theme, tr.name)
        assert figures.d_scale(theme)[0][1] == theme.fake and figures.d_scale(theme)[-1][1] == theme.real


def test_blitted_frame_equals_a_full_redraw(run):
    """Only the changing artists are redrawn per frame; the picture must be the same as drawing all."""
    import io

    from PIL import Image
    view = panels.RunView(run)
    painter = viz.Painter(view, None, "light", "small")
    for s in run.snapshots:            # several frames through the blitter
        painter.update(view.frame(s))
        fast = painter.render()
    buf = io.BytesIO()
    painter.finish().savefig(buf, format="png", dpi=viz.DPI)
    full = np.asarray(Image.open(buf).convert("RGB"))
    assert full.shape == fast.shape
    assert np.abs(full.astype(int) - fast.astype(int)).mean() < 1.0
    painter.close()


def test_layouts_place_every_panel_once():
    for size in ("720p", "square", "4:3"):
        w, h = panels.get_size(size)
        for chosen in (panels.PANELS, ("p_data", "d"), ("losses", "js"), ("p_model", "js")):
            lay = panels.layout(chosen, w, h)
            assert sorted(c.panel for c in lay.cells) == sorted(chosen)
            taken = set()
            for c in lay.cells:
                cells = {(r, k) for r in range(c.row, c.row + c.rowspan) for k in range(c.col, c.col + c.colspan)}
                assert not cells & taken and all(r < lay.rows and k < lay.cols for r, k in cells)
                taken |= cells


def test_title_line_has_step_loss_and_numbers(run):
    view = panels.RunView(run)
    fr = view.frame(run.snapshots[-1])
    t = view.title(fr)
    assert "ring8" in t and "non-saturating GAN" in t and "step 100" in t
    assert f"JS {fr.metrics['js']:.3f}" in t and f"modes {int(fr.metrics['modes_captured'])}/8" in t


def test_orbit_animation_moves_the_points(tmp_path):
    from toylab import gameviz
    out = gameviz.animate_orbits(["simultaneous", "alternating"], 0.2, 30, tmp_path / "o.mp4", fps=15,
                                 size="square720", theme="dark", progress=False)
    meta, frames = _mp4_frames(out)
    assert meta["size"] == (720, 720) and len(frames) == 31
    assert np.abs(frames[1].astype(int) - frames[-1].astype(int)).mean() > 0.1


def test_frame_writer_refuses_mixed_sizes(tmp_path):
    with pytest.raises(ValueError, match="frame 1 is 20x10, the first was 10x10"):
        with FrameWriter(tmp_path / "x.gif", fps=5) as w:
            w.write(np.zeros((10, 10, 3), np.uint8))
            w.write(np.zeros((10, 20, 3), np.uint8))
    assert not list(tmp_path.iterdir())


def test_density_colour_scale_is_the_same_in_both_faces(run):
    from matplotlib.colors import PowerNorm
    view = panels.RunView(run)
    p = view.p_data
    mpl = PowerNorm(panels.DENSITY_GAMMA, vmin=0, vmax=view.density_max, clip=True)(p)
    ply = figures._density(p, view.density_max) / figures.LEVELS
    assert np.abs(np.asarray(mpl) - ply).max() <= 0.5 / figures.LEVELS + 1e-9


@pytest.mark.parametrize("name,params,tol", [("ring8", {}, 1e-4), ("grid25", {}, 1e-4), ("gaussian", {}, 1e-4),
                                             ("swissroll", {}, 0.02), ("spiral", {}, 0.02), ("line", {}, 0.02)])
def test_p_data_images_match_the_exact_pixel_average_and_are_fast(name, params, tol):
    """Axis-aligned mixtures factorise exactly; curve targets (a mean of Gaussians at their
    quadrature nodes) are linearly binned and convolved. Both against the generic exact path."""
    import time

    from toylab import datasets
    from toylab.pictures.panels import pixel_density
    target = datasets.get(name, **params)

    class Exact:                       # the generic path: the exact density averaged over each pixel
        bounds, prob = target.bounds, target.prob

    fast, exact = pixel_density(target, 40), pixel_density(Exact, 40)
    assert np.abs(fast - exact).sum() / exact.sum() < tol
    t0 = time.perf_counter()
    pixel_density(target, 160)
    assert time.perf_counter() - t0 < 1.0          # (the exact swiss roll took ~18 s at 160 px)


def test_gaussian_blur_equals_scipys_gaussian_filter():
    from scipy.ndimage import gaussian_filter

    from toylab.measure.kde_grid import gaussian_blur
    img = np.random.default_rng(0).random((37, 53))
    for sigma in ((0.6, 2.3), (3.0, 3.0), (7.5, 0.9)):
        np.testing.assert_allclose(gaussian_blur(img, sigma), gaussian_filter(img, sigma, mode="constant", truncate=4.0),
                                   rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", ["ring8", "swissroll"])
def test_the_kept_target_view_equals_a_fresh_one(name, tmp_path, monkeypatch):
    """What the trainer keeps in the run folder (target_view.npz) is what a picture would compute,
    and a RunView of the saved run uses it without building the target."""
    from toylab.engine.target_view import read_target_view, target_view
    saved = toylab.train(dataset=name, steps=2, snapshot_every=1, metrics_every=0, out=tmp_path / name)
    kept, fresh = read_target_view(saved.path), target_view(saved.config.target())
    np.testing.assert_array_equal(kept.p_data, fresh.p_data)
    np.testing.assert_array_equal(kept.real, fresh.real)
    assert kept.bounds == fresh.bounds and kept.num_modes == fresh.num_modes
    loaded = viz.load_for_frame(saved.path)
    monkeypatch.setattr(type(loaded), "target", property(lambda self: pytest.fail("the target was built")))
    view = panels.RunView(loaded)
    monkeypatch.undo()
    np.testing.assert_array_equal(view.p_data, fresh.p_data)
    assert read_target_view(saved.path, size=64) is None         # another size: computed, not misread


def test_a_figure_of_a_saved_run_starts_without_torch(run, tmp_path):
    """`toylab figure` reads the run's records and the kept target view: neither torch nor scipy
    nor pyplot is imported (~1.5 s instead of ~3.5 s; benchmarks/bench_figure.py)."""
    import subprocess
    import sys
    code = (f"import sys; from toylab.cli import main; main(['figure', {str(run.path)!r}, '--out', "
            f"{str(tmp_path / 'f.pdf')!r}]); print(sorted(m for m in ('torch', 'scipy', 'matplotlib.pyplot') "
            f"if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("[]") and (tmp_path / "f.pdf").stat().st_size > 10_000


def test_html_animation_curves_grow_with_the_frame_and_fonts_with_the_size(run):
    """An animation must not show the future: each frame's curves end at its step (they were drawn
    to the end on every frame); the curves have a legend; at 1080p the fonts are 1.5x the 720p ones."""
    import base64

    def n(x):
        return len(np.frombuffer(base64.b64decode(x["bdata"]), dtype=np.dtype(x["dtype"]))) if isinstance(x, dict) \
            else len(x)

    view = panels.RunView(run, size=48, n_points=200, n_arrows=50)
    fig = figures.animation_figure(view, run.snapshots, panels="p_model,losses,js", size="1080p", progress=False)
    d_loss = [[t for t in f.data if t.name == "D"][0] for f in fig.frames]
    lengths = [n(t.to_plotly_json()["x"]) for t in d_loss]
    steps = [int(f.name) for f in fig.frames]
    assert lengths == sorted(lengths) and lengths[0] < lengths[-1]
    for t, step in zip(d_loss, steps):
        x = t.to_plotly_json()["x"]
        xs = np.frombuffer(base64.b64decode(x["bdata"]), dtype=np.dtype(x["dtype"])) if isinstance(x, dict) else x
        assert len(xs) == 0 or max(xs) <= step
    assert fig.layout.showlegend and fig.layout.font.size == pytest.approx(1.5 * panels.get_theme("light").font_size)
    small, _ = figures.snapshot_figure(view, view.frame(run.snapshots[-1]), panels="losses", size="720p")
    assert small.layout.font.size == pytest.approx(panels.get_theme("light").font_size)


def test_a_dashboard_curve_panels_legend_sits_under_its_plot(run):
    """The legend of a curve panel is under the plot area, in one row: inside it (Plotly's default
    corner) it covered a JS curve near log 2; above the plot its rows wrapped over the title."""
    view = panels.RunView(run, size=48, n_points=200, n_arrows=50)
    frame = view.frame(run.snapshots[-1])
    for scale in (1.0, 1.6):
        fig = figures.panel_figure(view, frame, "js", font_scale=scale)
        legend, margin = fig["layout"]["legend"], fig["layout"]["margin"]
        assert legend["y"] < 0 and legend["yanchor"] == "top" and legend["traceorder"] == "normal"
        # room for the axis' numbers and a line of legend in the bottom margin
        assert margin["b"] >= 3 * panels.get_theme("light").font_size * scale
        assert fig["layout"]["showlegend"] is True
    assert "legend" not in figures.panel_figure(view, frame, "p_model")["layout"]


def test_the_js_panel_has_a_dotted_ln2_line_in_the_dashboard_and_the_export(run):
    view = panels.RunView(run, size=48, n_points=200, n_arrows=50)
    frame = view.frame(run.snapshots[-1])
    line = [t for t in figures.panel_figure(view, frame, "js")["data"] if t["name"] == "ln 2 (max)"]
    assert len(line) == 1 and line[0]["y"] == [math.log(2)] * 2 and line[0]["line"]["dash"] == "dot"
    fig, _ = figures.snapshot_figure(view, frame, panels="js,modes")
    assert [t.y for t in fig.data if t.name == "ln 2 (max)"] == [(math.log(2), math.log(2))]


def test_short_values_and_edit_labels():
    assert [panels.short_value(v) for v in (2e-4, 1e-3, 2.5e-4, 0.5, 0.02, 5, 0.0, "alternating")] == \
        ["2e-4", "1e-3", "2.5e-4", "0.5", "0.02", "5", "0", "alternating"]
    edits = [{"step": 1200, "field": "lr_d", "old": 2e-4, "new": 1e-3},
             {"step": 300, "field": "d_steps", "old": 1, "new": 3},
             {"step": 1200, "field": "update", "old": "simultaneous", "new": "alternating"},
             {"step": 1200, "field": "metrics_every", "old": 50, "new": 20}]
    assert panels.edit_marks(edits) == [(300, "d_steps 1→3"), (1200, "lr_d 2e-4→1e-3, update simultaneous→alternating")]


def test_a_live_edit_is_kept_with_its_step_and_marked_on_every_curve_panel(tmp_path):
    """Trainer.retune records the edit at the round it applies from; it is saved in the run folder,
    read back, and drawn as a dotted line with its label on the curves (dashboard and export)."""
    from toylab.engine.runs import load_run
    from toylab.api import trainer
    t = trainer(toylab.TrainConfig(dataset="ring8", g_hidden=16, d_hidden=16, batch_size=32, steps=40,
                                              snapshot_every=20, metrics_every=20, n_fixed=64, grid_size=16,
                                              manifold_size=5), out=tmp_path / "r")
    t.fit(20)
    t.retune(lr_d=1e-3)
    t.fit(40)
    assert t.edits == [{"step": 20, "field": "lr_d", "old": 2e-4, "new": 1e-3}]
    saved = load_run(tmp_path / "r")
    view = panels.RunView(saved, size=32, n_points=64)
    assert view.edits == [(20, "lr_d 2e-4→1e-3")]
    frame = view.frame(saved.snapshots[-1])
    for panel in ("losses", "js", "modes"):
        traces = {t["name"]: t for t in figures.panel_figure(view, frame, panel)["data"]}
        assert traces["live edits"]["text"] == [" lr_d 2e-4→1e-3 "]
        assert traces["live edit"]["line"]["dash"] == "dot"
    # growing (an animation): an edit shows from its step on
    first = view.frame(saved.snapshots[0])
    grown = {t["name"]: t for t, _ in figures.panel_traces(view, first, "js", panels.get_theme("light"), grow=True)}
    assert grown["live edits"]["text"] == []
    # the matplotlib pictures (GIF, MP4, figure) mark it too, from its step on
    painter = viz.Painter(view, panels="losses,js", size=(640, 360))
    for snap, shown in ((saved.snapshots[0], False), (saved.snapshots[-1], True)):
        painter.update(view.frame(snap))
        assert painter.artists["js_edit0"].get_visible() is shown
        assert painter.artists["losses_edit_text0"].get_text().strip() == "lr_d 2e-4→1e-3"
    painter.close()
    # a run never edited has no marks, and a hand-edited record's junk entries are left out
    saved.info["edits"] = [{"step": "x"}, 3, {"step": 5, "field": "clip", "old": None, "new": 1.0}]
    assert panels.RunView(saved, size=32, n_points=64).edits == [(5, "clip None→1")]


def test_every_outcome_and_every_method_has_its_colour():
    """The charts draw each outcome of measure.outcomes, the orbit pictures each method of the
    games, in a colour of their own: a new one cannot vanish from a plot or go black."""
    from toylab import games
    from toylab.measure.outcomes import OUTCOMES
    from toylab.pictures.charts import OUTCOME_COLOURS
    from toylab.pictures.gameviz import METHOD_COLOURS
    assert set(OUTCOME_COLOURS) == set(OUTCOMES) and len(set(OUTCOME_COLOURS.values())) == len(OUTCOMES)
    assert set(METHOD_COLOURS) == {*games.METHOD_NAMES, "flow"}
    assert len(set(METHOD_COLOURS.values())) == len(METHOD_COLOURS)


def test_title_line_says_off_mode_and_nan_only_when_there_are_nan_rows(run):
    view = panels.RunView(run)
    fr = view.frame(run.snapshots[-1])
    assert "off_mode" in fr.metrics and fr.metrics["nonfinite"] == 0
    t = view.title(fr)
    assert "off-mode " in t and "NaN" not in t
    fr.metrics.update(off_mode=0.04, nonfinite=0.02)
    assert "modes" in view.title(fr) and "off-mode 4 %  ·  NaN 2 %" in view.title(fr)
    fr.metrics.update(nonfinite=0.002)
    assert "NaN 0.2 %" in view.title(fr)                 # a nonzero share never reads 0
