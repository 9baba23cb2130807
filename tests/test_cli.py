"""The toylab command line: subcommands call the library; bad input gets a named error."""

import json

import pytest

from toylab import load_run
from toylab.cli import main

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
