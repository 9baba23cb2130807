"""Screenshots of the dashboard's tabs in headless Chromium, for the docs:

    python docs/make_screenshots.py      # needs chromium + chromedriver (as the browser tests)

Starts the dashboard on a free port, trains ring8 for a few seconds, and saves
docs/img/dashboard_train.png (the layered view, the default), dashboard_grid.png (the nine
panels), dashboard_xy.png and dashboard_compare.png; then trains the 'Mode collapse' preset and
saves the presentation view in both themes at 1280 x 720 (dashboard_present.png,
dashboard_present_dark.png), at 1920 x 1080 (..._1080.png) and entered at 1920 x 1080 then
resized to 1280 x 720 (..._resized.png).
"""

import socket
import tempfile
import threading
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

import toylab
from dashboards import ids as I
from dashboards.app import create_app

IMG = Path(__file__).parent / "img"


def _serve(app, *chrome_args) -> tuple[int, webdriver.Chrome]:
    """The app on a free port (a daemon thread) and a headless Chromium to look at it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    threading.Thread(target=lambda: app.run(port=port), daemon=True).start()
    time.sleep(3)
    opts = webdriver.ChromeOptions()
    for a in ["--headless=new", "--no-sandbox", "--disable-gpu", *chrome_args]:
        opts.add_argument(a)
    return port, webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)


def main():
    runs = Path(tempfile.mkdtemp()) / "runs"
    for name, kw in {"ring8": {}, "ring8-minimax": {"loss": "minimax"}}.items():
        toylab.train(dataset="ring8", steps=3000, out=runs / name, **kw)
    app = create_app(runs_dir=str(runs))
    port, d = _serve(app, "--window-size=1600,1250")
    try:
        d.get(f"http://127.0.0.1:{port}")
        time.sleep(3)
        d.find_element(By.ID, I.START).click()
        time.sleep(12)
        d.find_element(By.ID, I.PAUSE).click()
        time.sleep(2)
        d.save_screenshot(str(IMG / "dashboard_train.png"))
        d.find_element(By.XPATH, f"//*[@id='{I.VIEW}']//label[contains(., 'all panels')]").click()
        time.sleep(3)
        d.save_screenshot(str(IMG / "dashboard_grid.png"))
        d.find_element(By.XPATH, f"//*[@id='{I.VIEW}']//label[contains(., 'layered')]").click()
        d.find_element(By.XPATH, "//*[text()='xy game']").click()
        time.sleep(3)
        d.save_screenshot(str(IMG / "dashboard_xy.png"))
        d.find_element(By.XPATH, "//*[text()='Compare runs']").click()
        time.sleep(1)
        menu = f"#{I.CMP_RUNS} [role=option], .dash-dropdown-content [role=option]"
        for name in ("ring8-minimax", "ring8"):
            if not [o for o in d.find_elements(By.CSS_SELECTOR, menu) if o.is_displayed()]:
                d.find_element(By.ID, I.CMP_RUNS).click()    # opens the multi-choice menu (a click may close it)
                time.sleep(1)
            opts = [o for o in d.find_elements(By.CSS_SELECTOR, menu) if o.is_displayed()]
            texts = [o.text.strip() for o in opts]
            match = [o for o, t in zip(opts, texts) if t == name or t.endswith("/" + name)]
            if not match:
                raise RuntimeError(f"no run {name!r} in the Compare menu: {texts}")
            match[0].click()
            time.sleep(2)
        d.find_element(By.TAG_NAME, "h1").click()
        time.sleep(2)
        d.save_screenshot(str(IMG / "dashboard_compare.png"))
    finally:
        d.quit()
        app.sessions.shutdown()
    present()
    print("wrote", [p.name for p in sorted(IMG.glob("dashboard_*.png"))])


def _until(cond, timeout=120):
    end = time.time() + timeout
    while time.time() < end and not cond():
        time.sleep(0.3)


def _viewport(d, w, h):
    """Make the page itself (not the window) w x h."""
    d.set_window_size(w, h)
    dw, dh = d.execute_script("return [window.outerWidth - window.innerWidth, "
                              "window.outerHeight - window.innerHeight]")
    d.set_window_size(w + dw, h + dh)


def present():
    """The presentation view (the layered map, JS and modes) of the 'Mode collapse' preset, light
    and dark: at 1280 x 720, at 1920 x 1080, and entered at 1920 x 1080 then resized to 1280 x 720."""
    app = create_app(runs_dir=tempfile.mkdtemp())
    port, d = _serve(app, "--hide-scrollbars")
    try:
        _viewport(d, 1280, 720)
        d.get(f"http://127.0.0.1:{port}")
        time.sleep(3)
        d.find_element(By.ID, I.PRESET_BUTTON.format("collapse")).click()
        time.sleep(2)
        steps = d.find_element(By.ID, I.FIELD.format("steps"))
        steps.send_keys(Keys.CONTROL, "a")
        steps.send_keys("1500", Keys.TAB)
        time.sleep(1)
        d.find_element(By.ID, I.START).click()
        _until(lambda: "finished" in d.find_element(By.ID, I.STATUS).text, timeout=300)
        for theme, suffix in (("light", ""), ("dark", "_dark")):
            if theme == "dark":
                d.find_element(By.XPATH, f"//*[@id='{I.THEME}']//label[contains(., 'dark')]").click()
                time.sleep(2)
            for size, enter, name in (((1280, 720), None, ""), ((1920, 1080), None, "_1080"),
                                      ((1280, 720), (1920, 1080), "_resized")):
                _viewport(d, *(enter or size))
                d.find_element(By.ID, I.PRESENT).click()
                _until(lambda: "·" in d.find_element(By.ID, I.HEADLINE).text, timeout=30)
                time.sleep(3)
                if enter:
                    _viewport(d, *size)
                    time.sleep(3)
                d.save_screenshot(str(IMG / f"dashboard_present{name}{suffix}.png"))
                d.find_element(By.ID, I.PRESENT).click()
                time.sleep(1)
    finally:
        d.quit()
        app.sessions.shutdown()


if __name__ == "__main__":
    main()
