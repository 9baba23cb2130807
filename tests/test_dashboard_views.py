"""The Train page's main views in a real browser (headless Chromium, dash.testing's dash_duo):
the layered view is the default and its layers switch; a scrub while training draws its snapshot
and holds it until "● live"; Present holds at any window size and Esc leaves it. Every wait is
on the page's own progress (the step counter, the drawn record), never on the clock alone."""

import re

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from dashboards import ids as I
from test_dashboard import _set_input, _start, _step, _wait  # noqa: E402  (the browser tests' helpers)

pytestmark = pytest.mark.browser


def _js(dash_duo, script):
    return dash_duo.driver.execute_script(script)


def _names(dash_duo, graph) -> list:
    return _js(dash_duo, f"var g = document.querySelector('#{I.GRAPH.format(graph)} .js-plotly-plot');"
                         "return g && g._fullData ? g._fullData.map(t => t.name) : [];")


def _shown(dash_duo, box) -> bool:
    return _js(dash_duo, f"return !!document.getElementById('{I.PANEL_BOX.format(box)}').offsetParent")


def _slider(dash_duo) -> tuple[int, int]:
    h = dash_duo.find_element(f"#{I.SLIDER} [role=slider]")
    return int(h.get_attribute("aria-valuenow")), int(h.get_attribute("aria-valuemax"))


def _train(dash_duo, steps=100_000):
    _set_input(dash_duo, "steps", steps)
    _set_input(dash_duo, "snapshot_every", 20)
    dash_duo.find_element(f"#{I.START}").click()
    dash_duo.wait_for_contains_text(f"#{I.STATUS}", "running", timeout=30)


def test_the_layered_view_is_the_default_and_its_layers_switch(dash_duo, app):
    _start(dash_duo, app)
    assert _shown(dash_duo, "layered") and not _shown(dash_duo, "p_model")
    _wait(lambda: _names(dash_duo, "layered") == ["real"], what="the target's real samples before Start")
    _train(dash_duo)
    _wait(lambda: _names(dash_duo, "layered") == ["D", "D = level", "real", "fake"], what="the default layers")
    assert all(_shown(dash_duo, p) for p in ("js", "modes", "losses"))
    dash_duo.driver.find_element(By.XPATH, f"//*[@id='{I.LAYERS}']//label[contains(., 'G(noise grid)')]").click()
    dash_duo.driver.find_element(By.XPATH, f"//*[@id='{I.LAYERS}']//label[contains(., 'fake samples')]").click()
    _wait(lambda: _names(dash_duo, "layered") == ["D", "D = level", "real", "manifold"], what="manifold on, fakes off")
    # the nine-panel grid is one switch away, and back
    dash_duo.driver.find_element(By.XPATH, f"//*[@id='{I.VIEW}']//label[contains(., 'all panels')]").click()
    _wait(lambda: _shown(dash_duo, "p_model") and not _shown(dash_duo, "layered"), what="the grid view")
    _wait(lambda: "fake" in _names(dash_duo, "p_model"), what="the grid's p_model panel drawn")
    dash_duo.find_element(f"#{I.PAUSE}").click()
    assert dash_duo.get_logs() == []


def test_a_scrub_while_training_draws_its_snapshot_and_holds_until_live(dash_duo, app):
    _start(dash_duo, app)
    _train(dash_duo)
    _wait(lambda: _slider(dash_duo)[1] >= 10, what="ten snapshots")
    track = dash_duo.find_element(f"#{I.SLIDER}")
    width = track.size["width"]
    # a click at 20 % of the track (from its centre: move_to_element_with_offset's origin changed in Selenium 4.3)
    ActionChains(dash_duo.driver).move_to_element(track).move_by_offset(int(-0.3 * width), 0).click().perform()
    _wait(lambda: "showing step" in dash_duo.find_element(f"#{I.STATUS}").text, what="the scrubbed snapshot drawn")
    held, _ = _slider(dash_duo)
    shown = re.search(r"showing step ([\d,]+)", dash_duo.find_element(f"#{I.STATUS}").text).group(1)
    assert 0 < held and dash_duo.find_element(f"#{I.LIVE}").is_displayed()
    # the run trains on (the counter, and the slider's end, move) while the view holds its snapshot
    at = _step(dash_duo)
    _wait(lambda: _step(dash_duo) > at + 400 and _slider(dash_duo)[1] > held + 5, what="training to go on")
    assert _slider(dash_duo)[0] == held
    assert f"showing step {shown}" in dash_duo.find_element(f"#{I.STATUS}").text
    now = _js(dash_duo, f"return document.querySelector('#{I.GRAPH.format('js')} .js-plotly-plot')"
                          "._fullData.find(t => t.name === 'now').x[0]")
    assert f"{int(now):,}" == shown                                  # the curves' "now" line is there too
    # "● live" follows the run again: the slider goes to the newest snapshot
    dash_duo.find_element(f"#{I.LIVE}").click()
    _wait(lambda: "showing step" not in dash_duo.find_element(f"#{I.STATUS}").text, what="following the run")
    _wait(lambda: _slider(dash_duo)[0] == _slider(dash_duo)[1], what="the slider at the newest snapshot")
    _wait(lambda: not dash_duo.find_element(f"#{I.LIVE}").is_displayed(), what="the live button hidden")
    dash_duo.find_element(f"#{I.PAUSE}").click()
    assert dash_duo.get_logs() == []


def _window(dash_duo, w, h):
    d = dash_duo.driver
    d.set_window_size(w, h)
    dw, dh = d.execute_script("return [window.outerWidth - window.innerWidth, window.outerHeight - window.innerHeight]")
    d.set_window_size(w + dw, h + dh)


def _inside(dash_duo) -> list:
    """What sticks out of the window: [(id, right, bottom)] of the shown panels and the exit button."""
    return _js(dash_duo, f"""var w = window.innerWidth, h = window.innerHeight, out = [];
        document.querySelectorAll('.panel, #{I.PRESENT}').forEach(function (p) {{
            if (!p.offsetParent) return;
            var r = p.getBoundingClientRect();
            if (r.right > w + 0.5 || r.bottom > h + 0.5 || r.left < 0 || r.top < 0) out.push([p.id, r.right, r.bottom]);
        }});
        return out;""")


def test_present_holds_after_a_resize_and_esc_leaves_it(dash_duo, app):
    _start(dash_duo, app)
    _window(dash_duo, 1920, 1080)
    _train(dash_duo)
    _wait(lambda: _slider(dash_duo)[1] >= 3, what="three snapshots")
    dash_duo.find_element(f"#{I.PRESENT}").click()
    dash_duo.wait_for_contains_text(f"#{I.HEADLINE}", "ring8", timeout=30)
    _wait(lambda: (_js(dash_duo, f"var t = document.querySelector('#{I.GRAPH.format('js')} .gtitle');"
                                 "return t ? parseFloat(t.style.fontSize) : 0") or 0) >= 24, what="the large fonts")
    assert [b for b in ("layered", "js", "modes") if _shown(dash_duo, b)] == ["layered", "js", "modes"]
    assert _inside(dash_duo) == []
    _window(dash_duo, 1280, 720)
    # the graphs follow the window: the map's box fits the smaller window
    _wait(lambda: _inside(dash_duo) == [], timeout=30, what=f"everything inside 1280x720: {_inside(dash_duo)}")
    button = dash_duo.find_element(f"#{I.PRESENT}")
    assert button.is_displayed() and "Exit presentation" in button.text
    # Plotly redraws its SVGs after the boxes (a debounced resize): wait for the redraw, then check
    def heights():
        return _js(dash_duo, "return ['layered', 'js', 'modes'].map(p => document.querySelector("
                             "'#graph-' + p + ' .main-svg').getBoundingClientRect().height)")
    _wait(lambda: heights()[0] <= 720, timeout=30, what=lambda: f"the map redrawn for 1280x720: {heights()}")
    layered, *curves = heights()
    assert 500 < layered <= 720
    # the curves fill their half of the window's height (a rule for the page's 210 px curves hid this)
    assert all(250 < h <= 360 for h in curves), curves
    dash_duo.find_element("body").send_keys(Keys.ESCAPE)
    _wait(lambda: "Present" in dash_duo.find_element(f"#{I.PRESENT}").text and
          "presenting" not in dash_duo.find_element(f"#{I.ROOT}").get_attribute("class"), what="Esc to leave")
    assert dash_duo.find_element(f"#{I.START}").is_displayed()
    dash_duo.find_element(f"#{I.PAUSE}").click()
    assert dash_duo.get_logs() == []
