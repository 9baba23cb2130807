"""The dashboard in a real browser (headless Chromium through dash.testing's dash_duo).

Without Chromium and chromedriver these tests fail (they are not skipped): `.ci/run`
installs Debian's chromium and chromium-driver.
"""

import re
import socket
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

import toylab
from dashboards import ids as I
from dashboards.app import create_app

pytestmark = pytest.mark.browser


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def runs_dir(tmp_path):
    return tmp_path / "runs"


@pytest.fixture
def app(runs_dir):
    app = create_app(runs_dir=str(runs_dir))
    yield app
    app.sessions.shutdown()


def _start(dash_duo, app):
    dash_duo.start_server(app, port=_port())
    dash_duo.wait_for_element(f"#{I.START}", timeout=15)


def _step(dash_duo) -> int:
    m = re.search(r"step ([\d,]+) /", dash_duo.find_element(f"#{I.STATUS}").text)
    return int(m.group(1).replace(",", "")) if m else -1


def _wait(cond, timeout=60, what="condition"):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what() if callable(what) else what}")


def _set_input(dash_duo, field, value):
    el = dash_duo.find_element(f"#{I.FIELD.format(field)}")
    el.send_keys(Keys.CONTROL, "a")
    el.send_keys(str(value), Keys.TAB)


def _plot_data(dash_duo, panel) -> list:
    return dash_duo.driver.execute_script(
        f"var g = document.querySelector('#{I.GRAPH.format(panel)} .js-plotly-plot');"
        "return g && g._fullData ? g._fullData.map(t => t._length || 0) : [];")


def _pick(dash_duo, selector, text):
    """Open a dcc.Dropdown and click the option whose text contains `text`."""
    dash_duo.wait_for_element(selector, timeout=30).click()
    _wait(lambda: [o for o in dash_duo.driver.find_elements(By.CSS_SELECTOR, "[role=option]")
                   if text in o.text and o.is_displayed()], timeout=10, what=f"option {text!r}")
    [o for o in dash_duo.driver.find_elements(By.CSS_SELECTOR, "[role=option]")
     if text in o.text and o.is_displayed()][0].click()
    dash_duo.driver.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)


def test_train_live_pause_scrub_and_export(dash_duo, app):
    _start(dash_duo, app)
    assert dash_duo.get_logs() == [], "console errors on load"
    # invalid input: a message beside the field, and nothing runs
    _set_input(dash_duo, "lr_d", -1)
    dash_duo.find_element(f"#{I.START}").click()
    dash_duo.wait_for_contains_text(f"#{I.ERROR.format('lr_d')}", "greater than 0", timeout=10)
    assert "ready" in dash_duo.find_element(f"#{I.STATUS}").text
    _set_input(dash_duo, "lr_d", 0.0002)
    _set_input(dash_duo, "snapshot_every", 20)
    dash_duo.find_element(f"#{I.START}").click()
    dash_duo.wait_for_contains_text(f"#{I.STATUS}", "running", timeout=30)
    assert dash_duo.find_element(f"#{I.ERROR.format('lr_d')}").text == ""
    first = _step(dash_duo)
    _wait(lambda: _step(dash_duo) > first + 40, what="the step counter to advance")
    _wait(lambda: _plot_data(dash_duo, "layered")[3:] and _plot_data(dash_duo, "layered")[3] > 100,
          what="the layered map (the default view) to show the fake samples")
    dash_duo.find_element(f"#{I.PAUSE}").click()
    dash_duo.wait_for_contains_text(f"#{I.STATUS}", "paused", timeout=30)
    paused_at = _step(dash_duo)
    time.sleep(1.5)
    assert _step(dash_duo) == paused_at, "training went on after Pause"
    # the slider speaks in training steps: its tooltip names the step, no box shows a snapshot index
    assert dash_duo.driver.execute_script("return window.dccFunctions.toylabStep(1)") == "step 20"
    assert dash_duo.driver.execute_script(f"return document.querySelectorAll('#{I.SLIDER} input').length") == 0
    # a step by hand moves exactly one round
    dash_duo.find_element(f"#{I.STEP_ROUND}").click()
    _wait(lambda: _step(dash_duo) == paused_at + 1, what="one round by hand")
    dash_duo.wait_for_text_to_equal(f"#{I.MESSAGE}", f"Round: step {paused_at:,} → {paused_at + 1:,}; the panels "
                                    f"show it.", timeout=10)
    # a D step says what it did (it gave no feedback: a round counts D's and G's updates together)
    dash_duo.find_element(f"#{I.STEP_D}").click()
    dash_duo.wait_for_contains_text(f"#{I.MESSAGE}", f"D step: one update of D at round {paused_at + 1:,}",
                                    timeout=10)
    # scrub back to the first snapshot: the slider's handle, keyboard Home (as a user would)
    handle = dash_duo.find_element(f"#{I.SLIDER} [role=slider]")
    handle.click()
    handle.send_keys(Keys.HOME)
    dash_duo.wait_for_contains_text(f"#{I.STATUS}", "showing step 0", timeout=30)
    # export a GIF and get a file
    dash_duo.find_element(f"#{I.EXPORT}").click()
    dash_duo.wait_for_contains_text(f"#{I.EXPORT_MSG}", "exported", timeout=60)
    downloads = Path(dash_duo.download_path)
    _wait(lambda: [p for p in downloads.iterdir() if p.suffix == ".gif"], what="the downloaded GIF")
    gif = next(p for p in downloads.iterdir() if p.suffix == ".gif")
    with Image.open(gif) as im:
        assert im.size == (1280, 720) and im.n_frames >= 2       # the size chosen: 720p by default
    assert dash_duo.get_logs() == []


def test_switch_target_and_upload_a_bad_file(dash_duo, app, tmp_path):
    _start(dash_duo, app)
    _pick(dash_duo, f"#{I.FIELD.format('dataset')}", "grid25")
    _wait(lambda: "n=5" in dash_duo.find_element(f"#{I.FIELD.format('dataset_params')}").get_attribute("value"),
          what="grid25's parameters in the form")
    dash_duo.find_element(f"#{I.RESET}").click()
    dash_duo.find_element(f"#{I.START}").click()
    dash_duo.wait_for_contains_text(f"#{I.STATUS}", "grid25 · step", timeout=20)
    _wait(lambda: _step(dash_duo) > 0, what="grid25 training")
    dash_duo.find_element(f"#{I.PAUSE}").click()
    # a file with three columns is refused with a message, and the target stays grid25
    bad = tmp_path / "bad.csv"
    np.savetxt(bad, np.random.default_rng(0).normal(size=(50, 3)), delimiter=",")
    dash_duo.find_element(f"#{I.UPLOAD} input[type=file]").send_keys(str(bad))
    dash_duo.wait_for_contains_text(f"#{I.UPLOAD_MSG}", "expected an array of shape (n, 2)", timeout=10)
    assert "grid25" in dash_duo.find_element(f"#{I.STATUS}").text
    # a good one becomes the 'points' target
    good = tmp_path / "good.csv"
    np.savetxt(good, np.random.default_rng(0).normal(size=(200, 2)), delimiter=",")
    dash_duo.find_element(f"#{I.UPLOAD} input[type=file]").send_keys(str(good))
    dash_duo.wait_for_contains_text(f"#{I.UPLOAD_MSG}", "loaded good.csv", timeout=10)
    dash_duo.find_element(f"#{I.RESET}").click()
    dash_duo.wait_for_contains_text(f"#{I.STATUS}", "points · step 0", timeout=20)
    assert dash_duo.get_logs() == []


def test_xy_tab_and_compare_tab(dash_duo, app, runs_dir):
    toylab.train(dataset="ring8", steps=60, snapshot_every=20, g_hidden=16, d_hidden=16, grid_size=20,
                 n_fixed=200, out=runs_dir / "small")
    _start(dash_duo, app)
    dash_duo.driver.find_element(By.XPATH, "//*[text()='xy game']").click()
    dash_duo.wait_for_contains_text(f"#{I.XY_RADII}", "simultaneous", timeout=20)
    assert "1.00499" in dash_duo.find_element(f"#{I.XY_RADII}").text      # sqrt(1 + 0.1^2)
    n = dash_duo.driver.execute_script(
        f"return document.querySelector('#{I.XY_ORBIT} .js-plotly-plot').data.length")
    assert n >= 7                                          # field + 3 methods x (path, point) + flow ...
    # a bad step size: a message, the old orbit stays
    lr = dash_duo.find_element(f"#{I.XY_LR}")
    lr.send_keys(Keys.CONTROL, "a")
    lr.send_keys("5", Keys.TAB)
    dash_duo.find_element(f"#{I.XY_RUN}").click()
    dash_duo.wait_for_contains_text(f"#{I.XY_MESSAGE}", "η: at most 2 in the dashboard", timeout=10)
    dash_duo.driver.find_element(By.XPATH, "//*[text()='Compare runs']").click()
    _pick(dash_duo, f"#{I.CMP_RUNS}", "small")
    dash_duo.wait_for_contains_text(f"#{I.CMP_GRID}", "small · ring8", timeout=20)
    assert dash_duo.get_logs() == []


def test_a_run_survives_another_tab_for_longer_than_the_reap_time(dash_duo, runs_dir):
    """The page beats on every tab (a dcc.Interval outside the tabs): a run left training while the
    lecturer shows the xy tab for twice the idle timeout is still there when they come back (before,
    only the Train tab's timer touched the session and it was reaped after idle_timeout)."""
    app = create_app(runs_dir=str(runs_dir), idle_timeout=3)
    try:
        _start(dash_duo, app)
        sid = dash_duo.driver.execute_script(f"return document.getElementById('{I.SESSION_TEXT}').textContent")
        _set_input(dash_duo, "steps", 100000)
        dash_duo.find_element(f"#{I.START}").click()
        dash_duo.wait_for_contains_text(f"#{I.STATUS}", "running", timeout=30)
        dash_duo.driver.find_element(By.XPATH, "//*[text()='xy game']").click()
        dash_duo.wait_for_contains_text(f"#{I.XY_RADII}", "simultaneous", timeout=20)
        away = time.monotonic()
        session = app.sessions._sessions[sid]
        # heard from long after the reap time, while the Train tab (and its timer) is not shown
        _wait(lambda: session.last_seen > away + 2 * app.sessions.idle_timeout, timeout=30,
              what="heartbeats past twice the idle timeout")
        assert sid in app.sessions._sessions and session.live is not None and session.live.running
        dash_duo.driver.find_element(By.XPATH, "//*[text()='Train']").click()
        before = time.monotonic()
        _wait(lambda: _step(dash_duo) > 0 and "running" in dash_duo.find_element(f"#{I.STATUS}").text,
              what="the Train tab showing the same run, still running")
        assert time.monotonic() - before < 30
        assert dash_duo.find_element(f"#{I.SESSION_STATE}").text == ""
        dash_duo.find_element(f"#{I.PAUSE}").click()
        dash_duo.wait_for_contains_text(f"#{I.STATUS}", "paused", timeout=30)
        assert dash_duo.get_logs() == []
    finally:
        app.sessions.shutdown()


def _trace_names(dash_duo, panel) -> list:
    return dash_duo.driver.execute_script(
        f"var g = document.querySelector('#{I.GRAPH.format(panel)} .js-plotly-plot');"
        "return g && g.data ? g.data.map(t => t.name || '') : [];")


def test_the_target_shows_before_start(dash_duo, app):
    """p_data is known before any training: the page shows it (and its real samples) at once, and
    follows the form's target; the other panels stay empty until Start."""
    _start(dash_duo, app)
    _wait(lambda: _trace_names(dash_duo, "p_data") == ["p_data", "real"], timeout=30, what="the ring8 preview")
    assert _trace_names(dash_duo, "p_model") == []
    reach = lambda: dash_duo.driver.execute_script(  # noqa: E731  (how far right the real samples reach)
        f"var g = document.querySelector('#{I.GRAPH.format('p_data')} .js-plotly-plot');"
        "return g && g._fullData && g._fullData[1] ? Math.max(...Array.from(g._fullData[1].x)) : 0")
    assert 1.9 < reach() < 2.3                            # ring8: radius 2
    _pick(dash_duo, f"#{I.FIELD.format('dataset')}", "grid25")
    _wait(lambda: reach() > 3.8, timeout=30, what="the grid25 preview (modes out to x = 4)")
    assert "ready" in dash_duo.find_element(f"#{I.STATUS}").text and dash_duo.get_logs() == []


def test_the_dark_theme_darkens_the_page_too(dash_duo, app):
    """In the dark theme the page around the plots was left white; it now takes the theme's colour."""
    _start(dash_duo, app)
    bg = lambda: dash_duo.driver.execute_script(  # noqa: E731
        f"return getComputedStyle(document.getElementById('{I.ROOT}')).backgroundColor")
    assert bg() in ("rgba(0, 0, 0, 0)", "rgb(255, 255, 255)")
    dash_duo.driver.find_element(By.XPATH, f"//*[@id='{I.THEME}']//label[contains(., 'dark')]").click()
    _wait(lambda: bg() == "rgb(17, 20, 24)", timeout=15, what="the page to turn dark (#111418)")
    _wait(lambda: dash_duo.driver.execute_script(
        f"var g = document.querySelector('#{I.GRAPH.format('p_data')} .js-plotly-plot');"
        "return g && g._fullLayout ? g._fullLayout.paper_bgcolor : ''") == "#111418", timeout=15,
        what="the plots in the same colour")
    # the xy tab follows the theme too (its orbits were drawn light on the dark page)
    dash_duo.driver.find_element(By.XPATH, "//*[text()='xy game']").click()
    _wait(lambda: dash_duo.driver.execute_script(
        f"var g = document.querySelector('#{I.XY_ORBIT} .js-plotly-plot');"
        "return g && g._fullLayout ? g._fullLayout.paper_bgcolor : ''") == "#111418", timeout=30,
        what="the xy tab's orbits in the dark theme")
    assert dash_duo.get_logs() == []


def test_the_counter_moves_between_snapshots_and_pause_shows_where_it_stopped(dash_duo, app):
    """The status counter is the trainer's round, read with its state, not the last snapshot's: with
    a snapshot every 2,000 rounds it still moves, and after Pause it is the round training stopped at.
    (A snapshot every 2,000 rounds was refused before: metrics_every, not on the form, stayed 100.)"""
    _start(dash_duo, app)
    _set_input(dash_duo, "steps", 100000)
    _set_input(dash_duo, "snapshot_every", 2000)
    dash_duo.find_element(f"#{I.START}").click()
    _wait(lambda: 0 < _step(dash_duo) < 2000, timeout=30, what="the counter between snapshots")
    seen = {_step(dash_duo)}
    _wait(lambda: seen.add(_step(dash_duo)) or len([s for s in seen if 0 < s < 2000]) >= 2, timeout=30,
          what="the counter to move again before the next snapshot")
    dash_duo.find_element(f"#{I.PAUSE}").click()
    dash_duo.wait_for_contains_text(f"#{I.STATUS}", "paused", timeout=30)
    live = next(iter(app.sessions._sessions.values())).live
    assert _step(dash_duo) == live.trainer.step and not live.running


def _viewport(dash_duo, w=1280, h=720):
    """Make the page's viewport (not the window) w x h."""
    d = dash_duo.driver
    d.set_window_size(w, h)
    dw, dh = d.execute_script("return [window.outerWidth - window.innerWidth, window.outerHeight - window.innerHeight]")
    d.set_window_size(w + dw, h + dh)


def _showing(dash_duo) -> int | None:
    m = re.search(r"showing step ([\d,]+)", dash_duo.find_element(f"#{I.STATUS}").text)
    return int(m.group(1).replace(",", "")) if m else None


def _fakes(dash_duo) -> list:
    """The first few fake samples drawn in the p_model panel (what the panel shows, not its text)."""
    return dash_duo.driver.execute_script(
        f"var g = document.querySelector('#{I.GRAPH.format('p_model')} .js-plotly-plot');"
        "return g && g._fullData && g._fullData[1] ? Array.from(g._fullData[1].x).slice(0, 5) : [];")


def test_a_lecturers_session(dash_duo, runs_dir):
    """The issue's script: train ring8 -> pause -> scrub back -> play -> the xy tab for longer than
    the reap time and back -> grid25 -> present (fits 1280 x 720) -> export. Waits on conditions."""
    app = create_app(runs_dir=str(runs_dir), idle_timeout=3)
    try:
        _viewport(dash_duo)
        _start(dash_duo, app)
        # the nine-panel grid (the layered view is the default; tests/test_dashboard_views.py)
        dash_duo.driver.find_element(By.XPATH, f"//*[@id='{I.VIEW}']//label[contains(., 'all panels')]").click()
        sid = dash_duo.driver.execute_script(f"return document.getElementById('{I.SESSION_TEXT}').textContent")
        _set_input(dash_duo, "steps", 100000)
        _set_input(dash_duo, "snapshot_every", 10)
        dash_duo.find_element(f"#{I.START}").click()
        _wait(lambda: _step(dash_duo) > 300, timeout=90, what="ring8 training past 300 rounds (30 snapshots)")
        # pause: within half a second the counter stands still, at the trainer's own round
        dash_duo.find_element(f"#{I.PAUSE}").click()
        dash_duo.wait_for_contains_text(f"#{I.STATUS}", "paused", timeout=30)
        live = app.sessions._sessions[sid].live
        paused_at = live.trainer.step
        _wait(lambda: _step(dash_duo) == paused_at, timeout=0.5, what="the counter at the paused round")
        newest = _fakes(dash_duo)
        # scrub back: the panel's data changes, not only the words
        handle = dash_duo.find_element(f"#{I.SLIDER} [role=slider]")
        handle.click()
        handle.send_keys(Keys.HOME)
        dash_duo.wait_for_contains_text(f"#{I.STATUS}", "showing step 0", timeout=30)
        _wait(lambda: _fakes(dash_duo) and _fakes(dash_duo) != newest, what="the p_model panel at step 0")
        # play from eight snapshots before the end: the shown step advances, then playback stops there
        handle.send_keys(Keys.END)
        _wait(lambda: _showing(dash_duo) is None, what="the slider at the end")
        handle.send_keys(*[Keys.LEFT] * 8)
        _wait(lambda: (_showing(dash_duo) or 0) > 0, what="the slider eight snapshots back")
        dash_duo.find_element(f"#{I.PLAY}").click()
        seen = []
        _wait(lambda: seen.append(_showing(dash_duo)) or (
            len(seen) > 3 and seen[-1] is None and "Play" in dash_duo.find_element(f"#{I.PLAY}").text),
            timeout=60, what=lambda: f"playback to run to the newest snapshot and stop (seen {seen[-30:]}, "
                                     f"{dash_duo.find_element(f'#{I.STATUS}').text!r}, "
                                     f"{dash_duo.find_element(f'#{I.PLAY}').text!r})")
        shown = [s for s in seen if s is not None]
        assert len(set(shown)) >= 3 and shown == sorted(shown), f"playback did not advance: {seen}"
        _wait(lambda: _fakes(dash_duo) == newest, what="the newest picture again")
        # away on the xy tab for more than twice the reap time: the run is kept
        dash_duo.driver.find_element(By.XPATH, "//*[text()='xy game']").click()
        dash_duo.wait_for_contains_text(f"#{I.XY_RADII}", "simultaneous", timeout=20)
        away = time.monotonic()
        _wait(lambda: app.sessions._sessions[sid].last_seen > away + 2 * app.sessions.idle_timeout, timeout=30,
              what="heartbeats past twice the reap time")
        dash_duo.driver.find_element(By.XPATH, "//*[text()='Train']").click()
        _wait(lambda: _step(dash_duo) == paused_at, what="the same run on coming back")
        # grid25
        _pick(dash_duo, f"#{I.FIELD.format('dataset')}", "grid25")
        _wait(lambda: "n=5" in dash_duo.find_element(f"#{I.FIELD.format('dataset_params')}").get_attribute("value"),
              what="grid25's parameters")
        _set_input(dash_duo, "steps", 400)
        dash_duo.find_element(f"#{I.RESET}").click()
        dash_duo.wait_for_contains_text(f"#{I.STATUS}", "grid25 · step 0", timeout=30)
        dash_duo.find_element(f"#{I.START}").click()
        dash_duo.wait_for_contains_text(f"#{I.STATUS}", "finished", timeout=120)
        # present: four large panels and the status line with the verdict, no scrolling at 1280 x 720
        dash_duo.find_element(f"#{I.PRESENT}").click()
        verdicts = [o.replace("_", " ") for o in toylab.outcomes.OUTCOMES]
        _wait(lambda: any(v in dash_duo.find_element(f"#{I.HEADLINE}").text for v in verdicts), timeout=30,
              what="the headline's verdict")
        head = dash_duo.find_element(f"#{I.HEADLINE}").text
        assert "grid25" in head and "step 400" in head and "modes" in head and "JS" in head, head
        js = dash_duo.driver.execute_script
        assert js("return [document.documentElement.scrollWidth, document.documentElement.scrollHeight]") == \
            [1280, 720], "the presentation view scrolls"
        visible = js("return Array.from(document.querySelectorAll('.panel')).filter(p => p.offsetParent)"
                     ".map(p => [p.id, Math.round(p.getBoundingClientRect().bottom)])")
        assert [v[0] for v in visible] == [I.PANEL_BOX.format(p) for p in ("p_model", "d", "js", "modes")]
        assert all(bottom <= 720 for _, bottom in visible) and not dash_duo.find_element(".sidebar").is_displayed()
        full = lambda panel, expr: js(  # noqa: E731
            f"var g = document.querySelector('#{I.GRAPH.format(panel)} .js-plotly-plot');"
            f"return g && g._fullData ? {expr} : null;")
        _wait(lambda: full("d", "g._fullLayout.font.size") == 24, what="the fonts 1.6 x larger")
        assert full("d", "g._fullData.filter(t => t.type === 'heatmap' && t.name === 'D' && t.showscale).length") == 1   # a colour bar
        assert "all 25" in full("modes", "g._fullData.map(t => t.name)")
        assert js(f"return document.querySelector('#{I.GRAPH.format('d')}').getBoundingClientRect().height") > 250
        # out of the presentation, export the run
        dash_duo.find_element(f"#{I.PRESENT}").click()
        _wait(lambda: dash_duo.find_element(".sidebar").is_displayed(), what="the sidebar back")
        dash_duo.find_element(f"#{I.EXPORT}").click()
        dash_duo.wait_for_contains_text(f"#{I.EXPORT_MSG}", "exported grid25", timeout=90)
        assert dash_duo.get_logs() == []
    finally:
        app.sessions.shutdown()


def test_presets_fill_the_form_from_the_recipes(dash_duo, app):
    """One click fills the form with a recipe's setting; what the form does not show (Adam's betas)
    comes from the recipe on the server, so Start trains exactly the recipe's run."""
    _start(dash_duo, app)
    field = lambda f: dash_duo.find_element(f"#{I.FIELD.format(f)}").get_attribute("value")  # noqa: E731
    dash_duo.find_element(f"#{I.PRESET_BUTTON.format('collapse')}").click()
    _wait(lambda: field("z_dim") == "256" and field("batch_size") == "512" and field("lr_d") == "0.0001",
          what="Metz et al.'s setting in the form")
    assert "relu" in dash_duo.find_element(f"#{I.FIELD.format('activation')}").text
    dash_duo.wait_for_contains_text(f"#{I.PRESET_MSG}", "betas=[0.5, 0.999]", timeout=10)
    dash_duo.find_element(f"#{I.START}").click()
    dash_duo.wait_for_contains_text(f"#{I.STATUS}", "running", timeout=60)
    cfg = next(iter(app.sessions._sessions.values())).live.trainer.cfg
    assert (cfg.z_dim, cfg.batch_size, cfg.activation, tuple(cfg.betas), cfg.metrics_every) == \
        (256, 512, "relu", (0.5, 0.999), 200)
    dash_duo.find_element(f"#{I.PAUSE}").click()
    dash_duo.find_element(f"#{I.PRESET_BUTTON.format('defaults')}").click()
    _wait(lambda: field("z_dim") == "2" and field("batch_size") == "256", what="the defaults back")
    assert dash_duo.get_logs() == []


def test_live_edits_and_the_speed_control_while_training(dash_duo, app):
    """While training: the speed control caps rounds per second; learning rates and the step count
    change the run in flight (before, only a paused run could be changed)."""
    _start(dash_duo, app)
    _set_input(dash_duo, "steps", 100000)
    dash_duo.find_element(f"#{I.START}").click()
    dash_duo.wait_for_contains_text(f"#{I.STATUS}", "running", timeout=30)
    live = next(iter(app.sessions._sessions.values())).live
    _pick(dash_duo, f"#{I.SPEED}", "10 rounds/s")
    _wait(lambda: live.trainer.controls.interval == 0.1, what="the pace set")
    a, t0 = live.trainer.step, time.monotonic()
    _wait(lambda: time.monotonic() - t0 > 2.0, what="two seconds")
    rate = (live.trainer.step - a) / (time.monotonic() - t0)
    assert 5 <= rate <= 11, rate
    _set_input(dash_duo, "lr_d", 0.001)
    # said where the user is looking: a toast in the window, wherever the sidebar is scrolled
    dash_duo.wait_for_contains_text(f"#{I.TOAST}", "Changed lr_d = 0.001", timeout=15)
    _wait(lambda: live.trainer.cfg.lr_d == 0.001, what="the new learning rate in the trainer")
    assert live.running
    top, bottom, height = dash_duo.driver.execute_script(
        f"var r = document.querySelector('#{I.TOAST} .toast-body').getBoundingClientRect();"
        "return [r.top, r.bottom, window.innerHeight]")
    assert 0 <= top < bottom <= height
    # ... and marked on the curves, where the engine recorded it
    at = live.trainer.edits[-1]["step"]
    _wait(lambda: dash_duo.driver.execute_script(
        f"var g = document.querySelector('#{I.GRAPH.format('js')} .js-plotly-plot');"
        "var t = g && g.data.filter(t => t.name === 'live edits')[0];"
        "return t ? t.text.join('') : ''").strip() == "lr_d 2e-4→1e-3", what="the edit marked on the JS curve")
    assert live.trainer.edits[-1] == {"step": at, "field": "lr_d", "old": 2e-4, "new": 1e-3}
    # a field that cannot change a run says so at once (it was deferred silently)
    _set_input(dash_duo, "g_hidden", 48)
    dash_duo.wait_for_contains_text(f"#{I.TOAST}", "g_hidden = 48 takes effect on Reset (a new run); this run "
                                    "keeps", timeout=15)
    assert live.trainer.cfg.g_hidden != 48 and live.running
    end = live.trainer.step + 15
    _set_input(dash_duo, "steps", end)
    dash_duo.wait_for_contains_text(f"#{I.STATUS}", "finished", timeout=30)
    assert live.trainer.step == end and _step(dash_duo) == end
    assert dash_duo.get_logs() == []


def test_draw_a_target_by_hand(dash_duo, app):
    """Clicks add modes and a drag draws a curve on the canvas; 'Use as target' makes the drawing the
    'points' target with the likelihood-rule bandwidth in the form, and Reset trains on it."""
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    _start(dash_duo, app)
    layer = dash_duo.wait_for_element(f"#{I.DRAW_CANVAS} .nsewdrag", timeout=20)
    dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", layer)
    msg = lambda: dash_duo.find_element(f"#{I.DRAW_MSG}").text  # noqa: E731
    count = lambda: int(m.group(1).replace(",", "")) if (m := re.match(r"([\d,]+) points", msg())) else 0  # noqa

    def pointer(moves, press=True):
        """Press at the first offset from the centre, move through the rest, release (a click or a drag)."""
        cx, cy = dash_duo.driver.execute_script(      # the plot area's centre, in the viewport
            "var r = document.querySelector(arguments[0]).getBoundingClientRect();"
            "return [r.x + r.width / 2, r.y + r.height / 2]", f"#{I.DRAW_CANVAS} .nsewdrag")
        b = ActionBuilder(dash_duo.driver)
        b.pointer_action.move_to_location(int(cx + moves[0][0]), int(cy + moves[0][1]))
        b.pointer_action.pause(0.4)        # Plotly reports a click on what the hover found: let it hover first
        b.pointer_action.pointer_down()
        for dx, dy in moves[1:]:
            b.pointer_action.move_to_location(int(cx + dx), int(cy + dy))
        b.pointer_action.pointer_up()
        b.perform()

    for i, at in enumerate([(-60, -60), (60, -60), (0, 60)]):
        pointer([at])
        _wait(lambda: count() == 20 * (i + 1), timeout=15, what=f"click {i + 1}: a mode of 20 points")
    dash_duo.driver.find_element(By.XPATH, f"//*[@id='{I.DRAW_MODE}']//label[contains(., 'drag')]").click()
    _wait(lambda: dash_duo.driver.execute_script(
        f"return document.querySelector('#{I.DRAW_CANVAS} .js-plotly-plot')._fullLayout.dragmode") == "drawopenpath",
        what="the canvas in drawing mode")
    pointer([(-80, 90)] + [(-80 + 10 * k, 90 - 3 * k) for k in range(1, 17)])
    _wait(lambda: count() > 60 + 20, timeout=15, what="a stroke's points")
    n = count()
    assert "kernel bandwidth h = " in dash_duo.find_element(f"#{I.DRAW_MSG}").text
    dash_duo.find_element(f"#{I.DRAW_USE}").click()
    _wait(lambda: dash_duo.find_element(f"#{I.FIELD.format('dataset_params')}").get_attribute("value")
          .startswith("source=upload, bandwidth="), timeout=15, what="the drawing as the form's target")
    # p_data shows the drawing at once (it stayed empty until Reset), and the page says what comes next
    _wait(lambda: dash_duo.driver.execute_script(
        f"var g = document.querySelector('#{I.GRAPH.format('p_data')} .js-plotly-plot');"
        "return !!(g && g.data && g.data.some(t => t.type === 'heatmap'))"), timeout=20, what="p_data of the drawing")
    dash_duo.wait_for_contains_text(f"#{I.DRAW_MSG}", "p_data shows it; press Start", timeout=10)
    dash_duo.find_element(f"#{I.RESET}").click()
    dash_duo.wait_for_contains_text(f"#{I.STATUS}", "points · step 0", timeout=30)
    target = next(iter(app.sessions._sessions.values())).live.trainer.target
    assert len(target.points) == n and np.abs(target.points.numpy()).max() <= 4.0
    dash_duo.find_element(f"#{I.DRAW_CLEAR}").click()
    dash_duo.wait_for_contains_text(f"#{I.DRAW_MSG}", "Click to add a mode", timeout=10)
    assert dash_duo.get_logs() == []
