"""The dashboard's server side without a browser: sessions are isolated and bounded, training
runs off the request thread and stops with its tab, the form refuses bad input by field."""

import base64
import time

import numpy as np
import pytest

from dashboards import forms
from dashboards.sessions import LiveRun, SessionManager


def _config(**kw):
    cfg, errors, general = forms.build_config({"g_hidden": 16, "d_hidden": 16, "batch_size": 32, "steps": 400,
                                               "snapshot_every": 10, **kw})
    assert cfg is not None, (errors, general)
    return cfg


def test_sessions_are_isolated_and_bounded(tmp_path):
    m = SessionManager(max_sessions=2, idle_timeout=600, root=tmp_path)
    a, b = m.get("a"), m.get("b")
    a.live = LiveRun(_config(seed=1))
    b.live = LiveRun(_config(seed=2))
    a.live.step("round")
    assert a.live.trainer.step == 1 and b.live.trainer.step == 0
    assert a.live.trainer is not b.live.trainer
    time.sleep(0.01)
    m.get("b")                      # b is the more recently seen
    m.get("c")                      # a third tab: the longest idle (a) is closed
    assert len(m) == 2 and a.live is None and b.live is not None
    m.close_all()


def test_training_runs_in_the_background_and_stops_with_its_tab(tmp_path):
    m = SessionManager(max_sessions=4, idle_timeout=0.5, root=tmp_path)
    s = m.get("tab")
    s.live = live = LiveRun(_config(steps=100_000))
    live.start()
    t0 = time.time()
    while live.trainer.step < 20 and time.time() - t0 < 30:
        time.sleep(0.05)
    assert live.running and live.state == "running"
    assert live.snapshot_run().step >= 10                  # snapshots published while it trains
    t0 = time.time()                                       # the tab stops polling: the reaper closes it
    while (len(m) or live.running) and time.time() - t0 < 10:
        time.sleep(0.1)
    assert len(m) == 0 and not live.running and live.trainer.status == "stopped"
    m.close_all()


def test_pause_then_step_by_hand_and_retune(tmp_path):
    live = LiveRun(_config(steps=100_000))
    live.start()
    time.sleep(0.3)
    live.pause()
    assert live.state == "paused"
    n = live.trainer.step
    live.step("d")
    assert live.trainer.step == n                          # a D step alone is not a round
    live.step("round")
    assert live.trainer.step == n + 1 and live.snapshot_run().snapshots[-1].step == n + 1
    live.retune(lr_d=1e-3, d_steps=3)
    assert live.trainer.cfg.d_steps == 3 and live.trainer.opt_d.param_groups[0]["lr"] == 1e-3


def test_form_errors_name_their_field():
    cfg, errors, _ = forms.build_config({"lr_d": -1, "batch_size": 0})
    assert cfg is None and "greater than 0" in errors["lr_d"] and "batch_size" in errors
    cfg, errors, _ = forms.build_config({"dataset": "ring", "dataset_params": "k=8, std=-1"})
    assert cfg is None and "std" in errors["dataset_params"]
    cfg, errors, _ = forms.build_config({"dataset_params": "k=eight="})
    assert cfg is None and "dataset_params" in errors
    assert forms.parse_params("mean=[0, 1], std=0.5") == {"mean": [0, 1], "std": 0.5}
    cfg, errors, _ = forms.build_config({"dataset": "grid25", "dataset_params": forms.default_params("grid25")})
    assert cfg is not None and cfg.target().num_modes == 25
    assert forms.choices("loss") == ["nonsaturating", "minimax", "lsgan", "wgan", "wgan-gp", "hinge"]


def _upload(data: bytes) -> str:
    return "data:application/octet-stream;base64," + base64.b64encode(data).decode()


def test_upload_is_validated_and_saved(tmp_path):
    good = "\n".join(f"{x},{y}" for x, y in np.random.default_rng(0).normal(size=(50, 2)))
    path = forms.read_upload(_upload(good.encode()), "pts.csv", tmp_path)
    assert np.load(path).shape == (50, 2)
    for data, name, match in [(b"1,2,3\n4,5,6\n" * 10, "a.csv", r"shape \(n, 2\), got shape \(20, 3\)"),
                              (b"1,2\n3,4\n" * 2, "a.csv", "need 10 to 100,000 rows; got 4"),
                              (b"a,b\nx,y\n" * 10, "a.csv", "upload: 'a.csv': .*could not be read as rows of two comma-separated numbers"),
                              (b"1,nan\n" * 20, "a.csv", "NaN or infinite"),
                              (b"1,2\n", "a.png", "must be a .csv or .npy"),
                              (b"0" * (forms.UPLOAD_MAX_BYTES + 1), "a.csv", "over the 5,000,000-byte limit")]:
        with pytest.raises(ValueError, match=match):
            forms.read_upload(_upload(data), name, tmp_path / "bad")
    assert list((tmp_path / "bad").glob("*")) == []          # nothing kept, not even the raw upload
