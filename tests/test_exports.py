"""Exports a slide can use and the verdict with its reason (issue #29 items 4, 5, 7): the dashboard's
Export at 1080p through the path its button takes, the GIF palette (D's colour bar not banded), the
modes curve and the title agreeing on the last frame, the responsive HTML, and Compare's run
colours, verdicts and "step"."""

import base64
import json
import re
import os
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import toylab
from dashboards import ids as I
from toylab.measure.outcomes import Outcome, classify, verdict_text
from toylab.pictures.export import palette_image, to_palette
from toylab.pictures.plotly_figures import RUN_COLOURS, panel_traces
from toylab.pictures.looks import THEMES, layout
from toylab.pictures.panels import RunView
from toylab.pictures.mpl_figures import Painter, gif_palette

FOUR = ["p_model", "d", "js", "modes"]


def test_verdict_text_says_the_outcome_and_its_reason():
    o = Outcome("mode_collapse", "1 of 8 modes present, 96% high quality")
    assert verdict_text(o) == "mode collapse — 1 of 8 modes present, 96% high quality"
    assert verdict_text(o, reason=False) == "mode collapse" and verdict_text(None) == ""


def test_four_panels_sit_in_a_2x2_grid_each_map_with_its_colour_bar_beside_it(run):
    lay = layout(FOUR, 1920, 1080)
    assert (lay.rows, lay.cols) == (2, 2)
    assert {c.panel: (c.row, c.col) for c in lay.cells} == {"p_model": (0, 0), "d": (0, 1), "js": (1, 0),
                                                            "modes": (1, 1)}
    p = Painter(RunView(run), FOUR, "light", "1080p")
    try:
        p.update(p.view.frame(run.snapshots[-1]))
        p.render()
        d, bar, js = p.axes["d"].get_window_extent(), p.fig.axes[-1].get_window_extent(), \
            p.axes["js"].get_window_extent()
        assert d.x1 <= bar.x0 < d.x1 + 80                   # the bar just right of D's map
        assert bar.y0 > js.y1                               # in D's row, not beside the JS axis
        assert d.height > 1080 * 0.3                        # maps fill half the frame's height, not a thin row
    finally:
        p.close()


def _bar_column(painter, rgb):
    bb = painter.fig.axes[-1].get_window_extent()           # D's colour bar: the axes made last
    h = rgb.shape[0]
    return int((bb.x0 + bb.x1) / 2), int(h - bb.y1) + 2, int(h - bb.y0) - 2


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_the_gif_palette_keeps_ds_colour_bar_smooth(run, theme, tmp_path):
    """Distinct colours along D's colour bar (1080p): the frame has ~250; Pillow's octree per frame
    kept ~50 (visible bands, the white at D = ½ lost), the theme's palette keeps ~150, within 6 levels."""
    p = Painter(RunView(run), FOUR, theme, "1080p")
    try:
        p.update(p.view.frame(run.snapshots[-1]))
        rgb = p.render()
        x, y0, y1 = _bar_column(p, rgb)
    finally:
        p.close()
    img = Image.fromarray(rgb)
    octree = np.asarray(img.quantize(colors=255, method=Image.Quantize.FASTOCTREE).convert("RGB"))
    ours = np.asarray(to_palette(img, rgb, palette_image(gif_palette(THEMES[theme]))).convert("RGB"))

    def distinct(a):
        return len({tuple(c) for c in a[y0:y1, x]})
    assert distinct(rgb) > 200
    assert distinct(ours) >= 120 and distinct(ours) >= 2 * distinct(octree), (distinct(ours), distinct(octree))
    assert np.abs(ours[y0:y1, x].astype(int) - rgb[y0:y1, x].astype(int)).max() <= 6
    assert (ours[5, 5] == rgb[5, 5]).all()                 # the background exactly (no tint)
    # the export itself: the GIF's frames carry the palette's colours
    gif = toylab.animate(run, tmp_path / "a.gif", size="1080p", panels=FOUR, theme=theme, hold=0, progress=False)
    with Image.open(gif) as im:
        im.seek(im.n_frames - 1)
        frame = np.asarray(im.convert("RGB"))
    assert frame.shape == (1080, 1920, 3) and distinct(frame) >= 120


def test_the_last_frames_modes_curve_and_title_say_the_same_count(run):
    """The title's "modes k/K" is the last measurement at the frame's step; the present curve, a
    step curve, reached it with a drop at that very step, under the cursor at the axis' end: it
    read as the value before. The value now is a dot, and the axis runs past the last step."""
    view = RunView(run)
    last = run.snapshots[-1]
    frame = view.frame(last)
    k = int(re.search(r"modes (\d+)/8", view.title(frame)).group(1))
    p = Painter(view, FOUR, "light", "720p")
    try:
        p.update(frame)
        line = p.artists["curve_modes_present"]
        xs, ys = line.get_data()
        dot = line.get_markevery()
        assert xs[dot[0]] == last.step and ys[dot[0]] == k and dot == [len(xs) - 1]
        assert p.axes["modes"].get_xlim()[1] > last.step    # the last step's drop is not at the axis' edge
    finally:
        p.close()
    # the Plotly face (dashboard, HTML export): the dot on the present curve at the frame's step
    tr = next(t for t, _ in panel_traces(view, frame, "modes", THEMES["light"]) if t.get("name") == "present")
    i = int(np.argmax(tr["marker"]["size"]))
    s, v = view.curve("modes_present")                      # (the trace's arrays, binary-encoded)
    assert tr["marker"]["size"][i] > 0 and s[i] == last.step and v[i] == k
    from toylab.pictures.plotly_figures import panel_figure
    assert panel_figure(view, frame, "modes")["layout"]["xaxis"]["range"][1] > last.step


def test_the_last_frame_says_the_verdict_and_its_reason(run, tmp_path):
    from toylab.pictures.animation import verdict_line
    line = verdict_line(run)
    o = classify(run)
    assert line == f"verdict: {o.outcome.replace('_', ' ')} — {o.reason}" and o.reason
    out = toylab.animate(run, tmp_path / "a.html", progress=False, panels=FOUR)
    html = out.read_text()
    assert json.dumps(o.reason)[1:-1] in html               # in the last frame's title


def test_the_html_export_fills_the_window(run, tmp_path):
    html = toylab.animate(run, tmp_path / "a.html", progress=False, size="1080p").read_text()
    assert '"responsive": true' in html.replace('"responsive":true', '"responsive": true')
    assert "height:100vh; width:100%;" in html and '<body style="margin:0;overflow:hidden">' in html
    assert '"width":1920' not in html and '"height":1080' not in html     # no fixed 1920x1080 box


# ---- the dashboard --------------------------------------------------------------------------
def _tab(app):
    from dashboards.client import TabClient
    tab = TabClient.over_flask(app.server)
    assert tab.open()
    tab.values.update({"f-g_hidden.value": 8, "f-d_hidden.value": 8, "f-batch_size.value": 16,
                       "f-steps.value": 20, "f-snapshot_every.value": 10})
    return tab


def _exports_drawn():
    for t in threading.enumerate():
        if t.name == "export":
            t.join(300)


def test_dashboard_export_at_1080p_takes_the_buttons_path_and_frees_the_request(app, tmp_path):
    import imageio_ffmpeg
    tab = _tab(app)
    assert tab.call(I.MESSAGE, I.START)[0] == 200
    status, out = tab.call(I.EXPORT_MSG, I.EXPORT, **{
        f"{I.EXPORT_FORMAT}__value": ".mp4", f"{I.EXPORT_SIZE}__value": "1080p", f"{I.EXPORT_THEME}__value": "dark",
        f"{I.EXPORT_FPS}__value": 24, f"{I.EXPORT_PANELS}__value": "four"})
    # the click answers at once: the drawing goes on on its own thread, the poll turned on
    assert status == 200 and out[I.EXPORT_MSG]["children"].startswith("exporting ring8-step")
    assert out[I.EXPORT_TICK]["disabled"] is False
    _exports_drawn()
    status, out = tab.call(I.DOWNLOAD, I.EXPORT_TICK)
    assert status == 200 and out[I.EXPORT_MSG]["children"].startswith("exported ring8-step")
    assert out[I.EXPORT_TICK]["disabled"] is True
    sent = out[I.DOWNLOAD]["data"]
    mp4 = tmp_path / "got.mp4"
    mp4.write_bytes(base64.b64decode(sent["content"]))
    reader = imageio_ffmpeg.read_frames(str(mp4))
    meta = next(reader)
    assert meta["size"] == (1920, 1080) and meta["fps"] == 24
    assert sum(1 for _ in reader) >= 1 + 24                 # the snapshots and a second's hold at 24 fps
    assert not list((app.sessions.get(tab.sid).dir).glob("*.mp4"))     # not kept on the server
    # a bad size is named with the allowed ones
    _, out = tab.call(I.EXPORT_MSG, I.EXPORT, **{f"{I.EXPORT_SIZE}__value": "4k"})
    assert out[I.EXPORT_MSG]["children"] == "export: size: must be one of small, 720p, 1080p (got '4k')"


def test_compare_colours_runs_apart_from_real_and_fake_with_verdicts_and_steps(app, tmp_path):
    runs = tmp_path / "runs"
    for seed in (0, 1):
        toylab.train(dataset="ring8", g_hidden=16, d_hidden=16, batch_size=32, steps=40, snapshot_every=20,
                     metrics_every=20, n_fixed=100, grid_size=16, manifold_size=5, seed=seed,
                     out=runs / f"seed{seed}", progress=False)
    tab = _tab(app)
    tab.call(I.CMP_RUNS, I.CMP_REFRESH)
    status, out = tab.call(I.CMP_GRID, I.CMP_RUNS, **{f"{I.CMP_RUNS}__value": ["seed0", "seed1"]})
    assert status == 200
    text = json.dumps(out[I.CMP_GRID]["children"], ensure_ascii=False)
    verdicts = re.findall(r"verdict: ([a-z ]+) — ([^\"]+)\"", text)
    assert len(verdicts) == 2 and all(reason for _, reason in verdicts), text[:400]
    fig = out[I.CMP_CURVES]["figure"]
    colours = {tr["line"]["color"] for tr in fig["data"]}
    assert colours == set(RUN_COLOURS[:2])
    for theme in THEMES.values():
        assert not colours & {theme.real, theme.fake}
    assert RUN_COLOURS[0] in text and RUN_COLOURS[1] in text       # each card in its curves' colour
    assert fig["layout"]["xaxis"]["title"]["text"] == "step"


def _a_finished_run(dash_duo, app, steps):
    """The page served, a run of `steps` rounds (a snapshot every 20) started and finished."""
    from test_dashboard import _set_input, _start
    _start(dash_duo, app)
    _set_input(dash_duo, "steps", steps)
    _set_input(dash_duo, "snapshot_every", 20)
    dash_duo.find_element(f"#{I.START}").click()
    dash_duo.wait_for_contains_text(f"#{I.STATUS}", "finished", timeout=120)


@pytest.mark.browser
def test_the_status_line_says_the_verdict_and_its_reason(dash_duo, app, tmp_path):
    """In a real browser: once the run has a measurement, the Train tab's status line ends in the
    verdict with its reason, the very words of outcomes.verdict_text for the run as it is."""
    import socket
    _a_finished_run(dash_duo, app, steps=60)
    live = app.sessions.get(next(iter(app.sessions.ids()))).live
    words = verdict_text(classify(live.snapshot_run()))
    assert " — " in words
    dash_duo.wait_for_contains_text(f"#{I.STATUS}", words, timeout=30)
    text = dash_duo.find_element(f"#{I.STATUS}").text
    assert text.startswith("ring8 · step 60 / 60") and text.endswith(words), text


@pytest.mark.browser
def test_the_export_button_in_a_browser_sends_a_1080p_mp4(dash_duo, app, monkeypatch):
    """In a real browser: choose MP4, 1080p and 24 fps, press Export; the page says it exported,
    and the file the server sent (read as it is sent) is 1920x1080 at 24 fps."""
    import imageio_ffmpeg

    from dashboards.pages import train_export
    sent = []
    real_send = train_export.send

    def send(job):
        if job.out.exists() and not job.error:
            meta = next(imageio_ffmpeg.read_frames(str(job.out)))
            sent.append((meta["size"], meta["fps"]))
        return real_send(job)
    monkeypatch.setattr(train_export, "send", send)
    _a_finished_run(dash_duo, app, steps=40)
    dash_duo.find_element(f"#{I.EXPORT_FORMAT} input[value='.mp4']").click()
    dash_duo.find_element(f"#{I.EXPORT_SIZE} input[value='1080p']").click()
    dash_duo.select_dcc_dropdown(f"#{I.EXPORT_FPS}", value="24")
    dash_duo.find_element(f"#{I.EXPORT}").click()
    dash_duo.wait_for_contains_text(f"#{I.EXPORT_MSG}", "exported", timeout=240)
    assert sent == [((1920, 1080), 24.0)], sent


FORK_WHILE_BLAS = """
import os, sys, threading, numpy as np
from toylab.pictures.export import FfmpegPipe
stop = []
def blas():
    a = np.random.rand(300, 300)
    while not stop:
        a @ a
worker = threading.Thread(target=blas, daemon=True)
worker.start()
for i in range(200):
    p = FfmpegPipe(os.path.join(sys.argv[1], f"{i % 2}.mp4"), 64, 48, 12)
    p.proc.kill(); p.proc.wait()
stop.append(1)
worker.join()     # a daemon thread still inside a BLAS call at exit hung the interpreter's shutdown (2 in 5 under load)
print("started 200")
"""


def test_ffmpeg_starts_while_another_thread_is_inside_numpy(tmp_path):
    """The dashboard draws panels (NumPy's BLAS) on request threads while an export starts ffmpeg.
    A fork() there runs OpenBLAS's atfork handler, which deadlocks the process when another
    thread is inside a BLAS call (imageio-ffmpeg's read_frames, which forks for its preexec_fn,
    hung a test worker for ever; with a preexec_fn this test hangs too, measured). toylab's
    FfmpegPipe passes none, so Python vforks and no handler runs: 200 starts beside a thread
    multiplying matrices all finish."""
    import subprocess
    import sys
    env = {**os.environ, "PYTHONPATH": str(Path(toylab.__file__).parents[1])}
    p = subprocess.run([sys.executable, "-c", FORK_WHILE_BLAS, str(tmp_path)], capture_output=True, text=True,
                       timeout=60, env=env)
    assert p.returncode == 0 and "started 200" in p.stdout, p.stderr[-2000:]
