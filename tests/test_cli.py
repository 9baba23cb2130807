"""The toylab command line: subcommands call the library; bad input gets a named error."""

import json

import pytest

from toylab import load_run
from toylab.cli import build_parser, config_from_args, main

FAST = ["--steps", "30", "--g-hidden", "16", "--d-hidden", "16", "--batch-size", "32",
        "--snapshot-every", "10", "--grid-size", "12", "--n-fixed", "50", "--quiet"]


def test_datasets_lists_targets(capsys):
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert "ring8" in out and "grid25" in out and "checkerboard" in out


def test_train_writes_a_run_and_summary(tmp_path, capsys):
    assert main(["train", "--out", str(tmp_path / "r"), "--dataset", "grid25", "--loss", "hinge",
                 "--betas", "[0.0, 0.9]", "--spectral-norm", *FAST]) == 0
    run = load_run(tmp_path / "r")
    assert run.config.dataset == "grid25" and run.config.loss == "hinge"
    assert run.config.betas == (0.0, 0.9) and run.config.spectral_norm is True
    assert (tmp_path / "r" / "summary.png").stat().st_size > 10_000
    assert "status: completed at round 30" in capsys.readouterr().out


def test_train_from_a_toml_file_with_overrides(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('dataset = "circle"\nlr_d = 0.001\n[dataset_params]\nradius = 1.5\n')
    assert main(["train", "--config", str(cfg), "--lr-d", "0.002", "--out", str(tmp_path / "r"), *FAST]) == 0
    run = load_run(tmp_path / "r")
    assert run.config.lr_d == 0.002 and run.config.dataset_params == {"radius": 1.5}


def test_ensemble_over_seeds(tmp_path):
    assert main(["train", "--seeds", "1,2,3", "--out", str(tmp_path / "e"), *FAST]) == 0
    run = load_run(tmp_path / "e")
    assert [c.seed for c in run.configs] == [1, 2, 3] and run.snapshots[-1].fake.shape[0] == 3


def test_bad_values_name_the_field_and_write_nothing(tmp_path, capsys):
    assert main(["train", "--loss", "magic", "--z-dim", "0", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "loss: allowed:" in err and "'hinge'" in err and "z_dim" in err
    assert not (tmp_path / "r").exists()
    assert main(["train", "--config", str(tmp_path / "missing.toml")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_resume_from_the_cli(tmp_path):
    assert main(["train", "--out", str(tmp_path / "r"), *FAST]) == 0
    assert main(["train", "--resume", str(tmp_path / "r"), "--steps-total", "50", "--quiet"]) == 0
    assert json.loads((tmp_path / "r" / "status.json").read_text())["step"] == 50


def test_dashboard_is_a_subcommand_with_its_options(monkeypatch, tmp_path, capsys):
    """`toylab dashboard --port 8050 ...` reaches the server with those values (waitress.serve and
    Dash.run are replaced, so nothing listens); its sessions are shut down when the server returns."""
    import dash
    import waitress
    import dashboards.app
    calls, apps, create = [], [], dashboards.app.create_app
    monkeypatch.setattr(dashboards.app, "create_app", lambda *a, **kw: apps.append(create(*a, **kw)) or apps[-1])
    import threadpoolctl

    def blas():
        return [d["num_threads"] for d in threadpoolctl.threadpool_info() if d["user_api"] == "blas"]
    limit = threadpoolctl.threadpool_limits(2, user_api="blas")     # so that "restored" can fail
    before = blas()
    assert before and set(before) == {2}
    monkeypatch.setattr(waitress, "serve", lambda wsgi, **kw: calls.append(("waitress", wsgi, kw, blas())))
    monkeypatch.setattr(dash.Dash, "run", lambda app, **kw: calls.append(("dash", app, kw, blas())))
    assert main(["dashboard", "--port", "8061", "--host", "127.0.0.2", "--runs-dir", str(tmp_path),
                 "--max-runs", "3", "--max-sessions", "12", "--max-per-client", "2", "--max-queue", "0",
                 "--floor", "5", "--server-threads", "6", "--frame-seconds", "1.5"]) == 0
    (kind, server, kw, serving), = calls
    # NumPy's BLAS on one thread while serving (its spinning second thread beside the training
    # threads cost the soak 40 % of its rounds), as it was after
    assert serving and set(serving) == {1} and blas() == before
    limit.restore_original_limits()
    assert kind == "waitress" and kw == {"host": "127.0.0.2", "port": 8061, "threads": 6, "connection_limit": 200,
                                         "channel_timeout": 60, "ident": "toylab"}
    app, = apps
    assert server is app.server
    m = app.sessions
    assert (m.slots.max_runs, m.slots.max_queue, m.max_sessions, m.max_per_client) == (3, 0, 12, 2)
    assert (m.pool.max_groups, m.pool.floor, m.frame_seconds) == (3, 5, 1.5)
    assert not m._reaper.is_alive() and not m.root.exists()         # shut down with the server
    assert "http://127.0.0.2:8061" in capsys.readouterr().out
    calls.clear()
    assert main(["dashboard", "--debug", "--runs-dir", str(tmp_path)]) == 0
    (kind, _, kw, _), = calls
    assert kind == "dash" and kw["debug"] is True                     # --debug: Dash's development server
    for bad, match in [(["--port", "99999"], "--port: must be a port number 1 to 65535"),
                       (["--max-runs", "0"], "--max-runs: must be >= 1"),
                       (["--frame-seconds", "nan"], "--frame-seconds: must be seconds from 0 to 60, got nan")]:
        with pytest.raises(SystemExit):
            main(["dashboard", *bad])
        assert match in capsys.readouterr().err


def test_one_reader_of_typed_values_for_the_cli_and_the_dashboard():
    """--lr-d 1e-3 and a dashboard field 'std=1e-3' read the same (YAML 1.1 leaves 1e-3 a string)."""
    from dashboards.forms import parse_params
    from toylab.engine.config import read_value
    assert read_value("1e-3") == 0.001 and read_value("8") == 8 and read_value("true") is True
    assert read_value("[0, 1]") == [0, 1] and read_value(" ring ") == "ring" and read_value("a: [") == "a: ["
    assert parse_params("std=1e-3, mean=[0, 1], k=8") == {"std": 0.001, "mean": [0, 1], "k": 8}
    args = build_parser().parse_args(["train", "--lr-d", "1e-3", "--dataset-params", "{k: 4}"])
    cfg = config_from_args(args)
    assert cfg.lr_d == 0.001 and cfg.dataset_params == {"k": 4}


def test_train_takes_the_dashboards_presets_with_overrides(tmp_path):
    """`toylab train --preset NAME` (promised in presets.py's docstring, missing) starts from the
    dashboard's preset fields; --config and options override them; the names are presets.PRESETS'."""
    from toylab import TrainConfig
    from toylab.cli import PRESET_NAMES
    from toylab.experiments.presets import PRESETS, preset_fields
    assert set(PRESET_NAMES) == set(PRESETS)
    cfg = tmp_path / "c.toml"
    cfg.write_text("lr_g = 0.0005\n")
    args = build_parser().parse_args(["train", "--preset", "collapse", "--config", str(cfg), "--lr-d", "0.003"])
    want = TrainConfig(**{**preset_fields("collapse"), "lr_g": 0.0005, "lr_d": 0.003})
    assert config_from_args(args) == want and want != TrainConfig(lr_g=0.0005, lr_d=0.003)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--preset", "nope"])


def test_betas_take_comma_separated_numbers_or_say_the_form(tmp_path, capsys):
    for text in ("0.5,0.999", "0.5, 0.999", "[0.5, 0.999]", "(0.5,0.999)"):
        assert config_from_args(build_parser().parse_args(["train", "--betas", text])).betas == (0.5, 0.999)
    assert config_from_args(build_parser().parse_args(["train", "--betas", "0.9,0"])).betas == (0.9, 0.0)
    for bad in ("0.5", "0.5,0.9,0.99", "fast"):
        assert main(["train", "--betas", bad, "--out", str(tmp_path / "r")]) == 2
        err = capsys.readouterr().err
        assert "betas: give 2 comma-separated numbers, e.g. --betas 0.5,0.999" in err and repr(bad) in err
    assert main(["train", "--betas", "0.5,1.5", "--out", str(tmp_path / "r")]) == 2
    assert "both betas must lie in [0, 1)" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
