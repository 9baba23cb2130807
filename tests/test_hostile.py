"""Hostile inputs (issue #13): every case ends in ONE clear error that names the field or file
and what is allowed; non-zero exit, no traceback, nothing written or changed on disk, and no
run reported from weights it does not have.

Each CLI case runs `toylab.cli.main` in-process inside its own folder; every file there (a copy
of a tiny trained run, config files, point clouds) is listed before and compared after."""

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
import pytest

import toylab
from toylab import ConfigError
from toylab.cli import main

ROOT = Path(__file__).resolve().parents[1]
LONG = "x" * 300                                   # a file name longer than any file system allows
SMALL = {"g_hidden": 16, "d_hidden": 16, "batch_size": 32, "steps": 20, "snapshot_every": 10,
         "metrics_every": 0, "grid_size": 10, "n_fixed": 50, "manifold_size": 3}


# ---- inputs the cases refer to ---------------------------------------------------------------
def _npy_header_only(path, rows):
    """A .npy whose header claims `rows` x 2 float64 values, with (almost) no data behind it."""
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f8", "fortran_order": False, "shape": (rows, 2)})
        f.write(b"\0" * 64)


def _other_experiment(folder):
    folder.mkdir()
    (folder / "experiment.json").write_text(json.dumps({"name": "someone-else", "seeds": [0]}))


FILES = {
    # configs
    "bad.yaml": "dataset: [ring8\nloss: hinge\n",
    "tag.yaml": "dataset: !!python/object/apply:os.system ['echo pwned']\n",
    "list.json": "[1, 2, 3]",
    "scalar.json": "42",
    "broken.json": '{"dataset": "ring8",',
    "broken.toml": "dataset = \n",
    "c.ini": "[train]\nsteps=1\n",
    "unknown.yaml": "colour: blue\n",
    "intkey.yaml": "1: 2\n",
    "train5.toml": "train = 5\n",
    "badvalue.toml": "lr_d = -1.0\n",
    "binary.yaml": b"\xff\xfe\x00garbage\x80",
    # point clouds
    "secret.csv": "sk-live-0123456789,abc\nsk-live-9876543210,def\n1,2\n",
    "three.csv": "1,2,3\n4,5,6\n",
    "empty.csv": "",
    "one.csv": "1,2\n",
    "nan.csv": "1,2\n3,nan\n",
    "cloud.txt2": "1,2\n3,4\n",
}


def _write_inputs(tmp):
    for name, content in FILES.items():
        p = tmp / name
        p.write_bytes(content) if isinstance(content, bytes) else p.write_text(content)
    (tmp / "folder").mkdir()
    (tmp / "folder.png").mkdir()
    (tmp / "afile").write_text("I am a file")
    rng = np.random.default_rng(0)
    np.save(tmp / "three.npy", rng.normal(size=(10, 3)))
    np.save(tmp / "obj.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    np.savez(tmp / "cloud.npz", x=rng.normal(size=(10, 2)))
    shutil.copy(tmp / "cloud.npz", tmp / "npz_named.npy")
    _npy_header_only(tmp / "huge_header.npy", 2_000_000_000)
    _npy_header_only(tmp / "ten_million.npy", 10_000_000)
    np.save(tmp / "million.npy", np.zeros((1_000_000, 2), np.float32))
    np.save(tmp / "ok.npy", rng.normal(size=(100, 2)))
    (tmp / "truncated.npy").write_bytes((tmp / "ok.npy").read_bytes()[:200])
    with open(tmp / "header_says_10_rows.npy", "wb") as f:       # np.load read 10 rows, ignored the other 190
        np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": (10, 2)})
        f.write(np.random.default_rng(0).normal(size=(200, 2)).astype(np.float32).tobytes())
    (tmp / "wide.csv").write_text(",".join(["1"] * 10_000_000) + "\n")     # np.loadtxt built a (1, 1e7) row: 540 MB


def _spec(tmp, key, **spec):
    p = tmp / f"{key}.json"
    p.write_text(json.dumps({"name": key, "base": SMALL, "seeds": [0], **spec}))
    return str(p)


SPECS = {
    "scalar_grid": dict(grid={"lr_d": 0.1}),
    "empty_grid": dict(grid={"lr_d": []}),
    "grid_list": dict(grid=[1, 2]),
    "scalar_variant": dict(variants=[1]),
    "string_variants": dict(variants="hinge"),
    "dup_seeds": dict(seeds=[1, 1]),
    "zero_seeds": dict(seeds=0),
    "neg_seeds": dict(seeds=-3),
    "billion_seeds": dict(seeds=1_000_000_000),
    "text_seeds": dict(seeds="abc"),
    "empty_seeds": dict(seeds=[]),
    "bool_seeds": dict(seeds=True),
    "neg_seed_list": dict(seeds=[0, -1]),
    "evil_name": dict(name="../../evil"),
    "number_name": dict(name=5),
    "base_list": dict(base=[1, 2]),
    "base_unknown": dict(base={**SMALL, "colour": 1}),
    "base_bad": dict(base={**SMALL, "lr_d": -1}),
    "base_inf": dict(base={**SMALL, "r1_gamma": "inf"}),
    "rules_unknown": dict(rules={"bogus": 1}),
    "rules_number": dict(rules=3),
    "top_unknown": dict(colour="red"),
    "variant_bad": dict(variants=[{"label": "x", "loss": "magic"}]),
    "dup_labels": dict(variants=[{"label": "a"}, {"label": "a", "loss": "hinge"}]),
}


# ---- the table --------------------------------------------------------------------------------
# (id, argv, substrings the error must contain); {tmp} is the case's folder, {run} a tiny trained
# run copied there, {spec:NAME} a sweep spec from SPECS.
def _train(*a):
    return ["train", "--quiet", "--out", "{tmp}/out", *a]


FIELD_CASES = [
    ("z_dim 0", ["--z-dim", "0"], "z_dim"), ("z_dim 513", ["--z-dim", "513"], "z_dim"),
    ("z_dim text", ["--z-dim", "abc"], "z_dim"), ("z_dim 1e9", ["--z-dim", "1e9"], "z_dim"),
    ("g_hidden 0", ["--g-hidden", "0"], "g_hidden"), ("g_hidden 5000", ["--g-hidden", "5000"], "g_hidden"),
    ("d_hidden -1", ["--d-hidden", "-1"], "d_hidden"), ("g_depth 0", ["--g-depth", "0"], "g_depth"),
    ("d_depth 100", ["--d-depth", "100"], "d_depth"), ("leaky_slope 1", ["--leaky-slope", "1"], "leaky_slope"),
    ("leaky_slope nan", ["--leaky-slope", ".nan"], "leaky_slope"),
    ("pack 0", ["--pack", "0"], "pack"), ("pack 17", ["--pack", "17"], "pack"),
    ("pack with conditional", ["--pack", "2", "--conditional", "true"], "pack"),
    ("unrolled -1", ["--unrolled-steps", "-1"], "unrolled_steps"),
    ("unrolled 21", ["--unrolled-steps", "21"], "unrolled_steps"),
    ("loss magic", ["--loss", "magic"], "loss: allowed:"), ("activation", ["--activation", "sigmoid"], "activation"),
    ("noise cauchy", ["--noise", "cauchy"], "noise"), ("update random", ["--update", "random"], "update"),
    ("r1 -1", ["--r1-gamma", "-1"], "r1_gamma"), ("r1 inf", ["--r1-gamma", ".inf"], "r1_gamma"),
    ("r1 nan", ["--r1-gamma", ".nan"], "r1_gamma"), ("r1 1e5", ["--r1-gamma", "100000"], "r1_gamma"),
    ("gp inf", ["--gp-lambda", ".inf"], "gp_lambda"), ("gp -1", ["--gp-lambda", "-1"], "gp_lambda"),
    ("clip inf", ["--clip", ".inf"], "clip"), ("clip 0", ["--clip", "0"], "clip"),
    ("clip -0.01", ["--clip", "-0.01"], "clip"), ("d_optimizer", ["--d-optimizer", "lbfgs"], "d_optimizer"),
    ("lr_d 0", ["--lr-d", "0"], "lr_d"), ("lr_d -1", ["--lr-d", "-1"], "lr_d"),
    ("lr_d nan", ["--lr-d", ".nan"], "lr_d"), ("lr_d inf", ["--lr-d", ".inf"], "lr_d"),
    ("lr_d 11", ["--lr-d", "11"], "lr_d"), ("lr_d text", ["--lr-d", "fast"], "lr_d"),
    ("lr_g 1e308", ["--lr-g", "1.0e+308"], "lr_g"),
    ("betas 1", ["--betas", "[1, 0.9]"], "betas"), ("betas one", ["--betas", "[0.5]"], "betas"),
    ("betas scalar", ["--betas", "0.5"], "betas"), ("betas nan", ["--betas", "[.nan, 0.9]"], "betas"),
    ("momentum 1", ["--momentum", "1"], "momentum"), ("momentum -0.5", ["--momentum", "-0.5"], "momentum"),
    ("d_steps 0", ["--d-steps", "0"], "d_steps"), ("d_steps 101", ["--d-steps", "101"], "d_steps"),
    ("g_steps 0", ["--g-steps", "0"], "g_steps"),
    ("simultaneous d_steps 2", ["--update", "simultaneous", "--d-steps", "2"], "d_steps = g_steps = 1"),
    ("batch 0", ["--batch-size", "0"], "batch_size"), ("batch 65537", ["--batch-size", "65537"], "batch_size"),
    ("steps -1", ["--steps", "-1"], "steps"), ("steps 1e8", ["--steps", "100000000"], "steps"),
    ("seed -1", ["--seed", "-1"], "seed"), ("seed 2^40", ["--seed", str(2 ** 40)], "seed"),
    ("device tpu", ["--device", "tpu"], "device"), ("device cuda:x", ["--device", "cuda:x"], "device"),
    ("snapshot_every 0", ["--snapshot-every", "0"], "snapshot_every"),
    ("max_snapshots 1", ["--max-snapshots", "1"], "max_snapshots"),
    ("log_every 0", ["--log-every", "0"], "log_every"),
    ("metrics_every 7", ["--metrics-every", "7"], "metrics_every (7) must be a multiple"),
    ("metrics_every -1", ["--metrics-every", "-1"], "metrics_every"),
    ("n_fixed 0", ["--n-fixed", "0"], "n_fixed"), ("n_fixed 2e5", ["--n-fixed", "200000"], "n_fixed"),
    ("grid_size 4", ["--grid-size", "4"], "grid_size"), ("grid_size 5000", ["--grid-size", "5000"], "grid_size"),
    ("manifold 1", ["--manifold-size", "1"], "manifold_size"),
    ("manifold 500", ["--manifold-size", "500"], "manifold_size"),
    ("tensorboard maybe", ["--tensorboard", "maybe"], "tensorboard"),
    ("threads 0", ["--threads", "0"], "threads"), ("threads 300", ["--threads", "300"], "threads"),
    ("threads fast", ["--threads", "fast"], "threads"),
    ("dataset nope", ["--dataset", "nope"], "dataset: allowed:"),
    ("unrolled wgan-gp", ["--unrolled-steps", "2", "--loss", "wgan-gp"], "unrolled_steps"),
    ("conditional gaussian", ["--conditional", "--dataset", "swissroll"], "conditional"),
]

PARAM_CASES = [      # --dataset-params: memory bombs and nonsense, refused before anything is built
    ("ring k 1e9", "ring", "{k: 1000000000}", "k must be >= 1 and <= 1000"),
    ("grid n 1e5", "grid", "{n: 100000}", "n must be >= 1 and <= 32"),
    ("checkerboard n 2e4", "checkerboard", "{n: 20000}", "n must be >= 2 and <= 200"),
    ("ring8 k 1e9", "ring8", "{k: 1000000000}", "k must be >= 1 and <= 1000"),
    ("ring k 0", "ring", "{k: 0}", "k must be >= 1"),
    ("ring k 2.5", "ring", "{k: 2.5}", "an integer"),
    ("ring k text", "ring", "{k: eight}", "ring: k"),
    ("ring k bool", "ring", "{k: true}", "ring: k"),
    ("ring std 0", "ring", "{std: 0}", "std must be a positive"),
    ("ring std 1e-300", "ring", "{std: 1.0e-300}", "std must be a positive number, >= 0.0001"),
    ("ring radius inf", "ring", "{radius: .inf}", "radius must be a positive"),
    ("ring unknown", "ring", "{colour: 3}", "unknown parameter 'colour'; allowed: k, radius, std"),
    ("grid spacing -1", "grid", "{spacing: -1}", "spacing"),
    ("gaussian mean 1", "gaussian", "{mean: [0]}", "mean must be two finite numbers"),
    ("gaussian mean nan", "gaussian", "{mean: [.nan, 0]}", "mean must be two finite numbers"),
    ("anisotropic angle nan", "anisotropic", "{angle_deg: .nan}", "angle_deg"),
    ("anisotropic distance inf", "anisotropic", "{distance: .inf}", "distance"),
    ("spiral turns 1e6", "spiral", "{turns: 1000000}", "turns"),
    ("swissroll scale -1", "swissroll", "{scale: -1}", "scale"),
    ("line length 0", "line", "{length: 0}", "length"),
    ("circle radius -2", "circle", "{radius: -2}", "radius must be a positive"),
    ("checkerboard n 1", "checkerboard", "{n: 1}", "n must be >= 2"),
    ("params a list", "ring", "[1, 2]", "dataset_params"),
    ("params a scalar", "ring", "5", "dataset_params"),
    ("params int key", "ring", "{1: 2}", "dataset_params"),
    ("ring k of 4,001 digits", "ring", "{k: 1" + "0" * 4000 + "}", "k must be >= 1 and <= 1000"),   # was OverflowError
    ("ring std of 4,001 digits", "ring", "{std: 1" + "0" * 4000 + "}", "std must be a positive"),
]

POINTS_CASES = [     # a points target's file
    ("points no path", "{}", "path="),
    ("points missing", "{path: nowhere.csv}", "no such file"),
    ("points npz", "{path: cloud.npz}", "must be .csv or .npy"),
    ("points npz named npy", "{path: npz_named.npy}", "not a .npy array file"),
    ("points folder", "{path: folder}", "is not a file"),
    ("points 2e9-row header", "{path: huge_header.npy}", "2,000,000,000 rows; at most 100,000"),
    ("points 1e7-row header", "{path: ten_million.npy}", "10,000,000 rows; at most 100,000"),
    ("points 1e6 rows", "{path: million.npy}", "1,000,000 rows; at most 100,000"),
    ("points 3 columns npy", "{path: three.npy}", "shape (n, 2)"),
    ("points object npy", "{path: obj.npy}", "shape (n, 2)"),
    ("points truncated npy", "{path: truncated.npy}", "truncated"),
    ("points npy longer than its header", "{path: header_says_10_rows.npy}", "more data than its header's 10 rows"),
    ("points csv of one 10M-cell line", "{path: wide.csv}", "a line longer than 1,000 characters"),
    ("points secret csv", "{path: secret.csv}", "could not be read as rows of two comma-separated numbers"),
    ("points 3 columns csv", "{path: three.csv}", "shape"),
    ("points empty csv", "{path: empty.csv}", "no rows"),
    ("points one row", "{path: one.csv}", "at least 2 rows"),
    ("points nan", "{path: nan.csv}", "NaN"),
    ("points suffix", "{path: cloud.txt2}", ".csv or .npy"),
    ("points path number", "{path: 5}", "path must be a file name"),
]

CLI_CASES = [
    *[(f"train {i}", _train(*a), m) for i, a, m in FIELD_CASES],
    *[(f"train {i}", _train("--dataset", d, "--dataset-params", p), m) for i, d, p, m in PARAM_CASES],
    *[(f"train {i}", _train("--dataset", "points", "--dataset-params", p), m) for i, p, m in POINTS_CASES],
    # seeds and ensembles
    ("seeds repeated", _train("--seeds", "1,1"), "--seeds: each seed once"),
    ("seeds text", _train("--seeds", "a,b"), "--seeds: comma-separated whole numbers"),
    ("seeds negative", _train("--seeds", "-1"), "--seeds"),
    ("seeds comma", _train("--seeds", ","), "--seeds"),
    ("seeds empty", _train("--seeds", ""), "--seeds"),
    ("seeds 2000", _train("--seeds", ",".join(map(str, range(2000)))), "at most 1024"),
    # config files
    ("config folder", _train("--config", "{tmp}/folder"), "config: {tmp}/folder is not a file"),
    ("config missing", _train("--config", "{tmp}/missing.yaml"), "config: no such file"),
    ("config malformed yaml", _train("--config", "{tmp}/bad.yaml"), "bad.yaml is not valid YAML"),
    ("config python tag", _train("--config", "{tmp}/tag.yaml"), "tag.yaml is not valid YAML"),
    ("config json list", _train("--config", "{tmp}/list.json"), "must hold a table of fields (a mapping), got a list"),
    ("config json scalar", _train("--config", "{tmp}/scalar.json"), "got a int"),
    ("config broken json", _train("--config", "{tmp}/broken.json"), "broken.json is not valid JSON"),
    ("config broken toml", _train("--config", "{tmp}/broken.toml"), "broken.toml is not valid TOML"),
    ("config suffix", _train("--config", "{tmp}/c.ini"), "must be .toml, .yaml, .yml or .json"),
    ("config unknown field", _train("--config", "{tmp}/unknown.yaml"), "colour: unknown field"),
    ("config int key", _train("--config", "{tmp}/intkey.yaml"), "field names must be strings"),
    ("config train 5", _train("--config", "{tmp}/train5.toml"), "[train] must be a table"),
    ("config bad value", _train("--config", "{tmp}/badvalue.toml"), "lr_d"),
    ("config binary", _train("--config", "{tmp}/binary.yaml"), "binary.yaml is not valid YAML"),
    # where a run goes
    ("out under a file", ["train", "--quiet", "--out", "{tmp}/afile/run"], "afile is a file"),
    ("out read-only", ["train", "--quiet", "--out", "/sys/toylab-hostile/run", *sum(
        ([f"--{k.replace('_', '-')}", str(v)] for k, v in SMALL.items()), [])], "/sys/toylab-hostile"),
    ("out name too long", ["train", "--quiet", "--out", f"{{tmp}}/{LONG}"], "at most 255"),
    # resume
    ("resume missing", ["train", "--resume", "{tmp}/nowhere", "--quiet"], "not a toylab run"),
    ("resume a file", ["train", "--resume", "{tmp}/afile", "--quiet"], "not a toylab run"),
    ("resume with a field", ["train", "--resume", "{run}", "--lr-d", "0.1"], "--lr-d cannot be changed"),
    ("resume with --out", ["train", "--resume", "{run}", "--out", "{tmp}/x"], "--out cannot be changed"),
    ("resume steps 0", ["train", "--resume", "{run}", "--steps-total", "0"], "steps_total (--steps-total)"),
    ("resume fewer", ["train", "--resume", "{run}", "--steps-total", "5"], "below round 20"),
    ("steps-total alone", _train("--steps-total", "100"), "--steps-total: only with --resume"),
    # evaluate
    ("evaluate missing", ["evaluate", "{tmp}/nowhere"], "not a toylab run"),
    ("evaluate empty folder", ["evaluate", "{tmp}/folder"], "not a toylab run"),
    ("evaluate n 0", ["evaluate", "{run}", "--n", "0"], "--n: samples per member"),
    ("evaluate n 1e7", ["evaluate", "{run}", "--n", "10000000"], "--n: samples per member"),
    ("evaluate seed -1", ["evaluate", "{run}", "--seed", "-1"], "--seed"),
    ("evaluate no checkpoint", ["evaluate", "{run:no_ckpt}"], "checkpoint.pt"),
    ("evaluate empty config", ["evaluate", "{run:empty_config}"], "config.json"),
    ("evaluate truncated csv", ["evaluate", "{run:bad_csv}"], "metrics.csv"),
    ("evaluate garbage status", ["evaluate", "{run:bad_status}"], "status.json"),
    ("evaluate empty checkpoint", ["evaluate", "{run:zero_ckpt}"], "checkpoint.pt"),
    # xy
    ("xy steps 0", ["xy", "--steps", "0", "--out", "{tmp}/o.png"], "--steps: must be from 1"),
    ("xy steps 1e8", ["xy", "--steps", "100000000", "--out", "{tmp}/o.png"], "--steps: must be from 1 to 100,000"),
    ("xy steps -5", ["xy", "--steps", "-5", "--out", "{tmp}/o.png"], "--steps"),
    ("xy gif steps 6000", ["xy", "--steps", "6000", "--out", "{tmp}/o.gif"], "for an animation"),
    ("xy start 1", ["xy", "--start", "1", "--out", "{tmp}/o.png"], "--start: two numbers"),
    ("xy start 3", ["xy", "--start", "1,2,3", "--out", "{tmp}/o.png"], "--start: two numbers"),
    ("xy start text", ["xy", "--start", "a,b", "--out", "{tmp}/o.png"], "--start: two numbers"),
    ("xy start nan", ["xy", "--start", "nan,1", "--out", "{tmp}/o.png"], "start: both coordinates"),
    ("xy start 1e308", ["xy", "--start", "1e308,1", "--out", "{tmp}/o.png"], "start: both coordinates"),
    ("xy lr nan", ["xy", "--lr", "nan", "--out", "{tmp}/o.png"], "lr: must be a step size in (0, 10]"),
    ("xy lr 1e308", ["xy", "--lr", "1e308", "--out", "{tmp}/o.png"], "lr: must be a step size"),
    ("xy lr -1", ["xy", "--lr", "-1", "--out", "{tmp}/o.png"], "lr: must be a step size"),
    ("xy lr 0", ["xy", "--lr", "0", "--out", "{tmp}/o.png"], "lr: must be a step size"),
    ("xy lr inf", ["xy", "--lr", "inf", "--out", "{tmp}/o.png"], "lr: must be a step size"),
    ("xy lr_y -1", ["xy", "--lr-y", "-1", "--out", "{tmp}/o.png"], "lr_y: must be a step size"),
    ("xy d_steps 0", ["xy", "--d-steps", "0", "--out", "{tmp}/o.png"], "d_steps: must be a whole number from 1"),
    ("xy d_steps 1000", ["xy", "--d-steps", "1000", "--out", "{tmp}/o.png"], "d_steps"),
    ("xy methods comma", ["xy", "--methods", ",", "--out", "{tmp}/o.png"], "methods: give at least one"),
    ("xy methods bogus", ["xy", "--methods", "newton", "--out", "{tmp}/o.png"], "methods: 'newton'; allowed"),
    ("xy methods twice", ["xy", "--methods", "simultaneous,simultaneous", "--out", "{tmp}/o.png"], "each method once"),
    ("dirac r1 -1", ["xy", "--game", "dirac", "--r1-gamma", "-1", "--out", "{tmp}/o.png"], "r1_gamma: must be"),
    ("dirac r1 nan", ["xy", "--game", "dirac", "--r1-gamma", "nan", "--out", "{tmp}/o.png"], "r1_gamma"),
    ("dirac noise -1", ["xy", "--game", "dirac", "--noise", "-1", "--out", "{tmp}/o.png"], "noise: must be"),
    ("dirac noise inf", ["xy", "--game", "dirac", "--noise", "inf", "--out", "{tmp}/o.png"], "noise"),
    ("xy beta 1", ["xy", "--methods", "momentum", "--beta", "1", "--out", "{tmp}/o.png"], "beta: must be"),
    ("xy beta nan", ["xy", "--beta", "nan", "--out", "{tmp}/o.png"], "beta"),
    ("xy gamma -1", ["xy", "--gamma", "-1", "--out", "{tmp}/o.png"], "gamma: must be"),
    ("xy a nan", ["xy", "--a", "nan", "--out", "{tmp}/o.png"], "a: must be a finite number"),
    ("xy a 1e9", ["xy", "--a", "1e9", "--out", "{tmp}/o.png"], "a: must be"),
    ("xy fps 0", ["xy", "--fps", "0", "--out", "{tmp}/o.gif"], "fps: must be a number of frames per second"),
    ("xy fps -1", ["xy", "--fps", "-1", "--out", "{tmp}/o.gif"], "fps"),
    ("xy fps text", ["xy", "--fps", "fast", "--out", "{tmp}/o.gif"], "--fps"),
    ("xy out txt", ["xy", "--out", "{tmp}/o.txt"], "--out: .txt is not a picture format"),
    ("xy out under a file", ["xy", "--out", "{tmp}/afile/o.png"], "afile is a file"),
    ("xy out exists", ["xy", "--out", "{tmp}/afile.png"], "already exists"),
    ("xy out too long", ["xy", "--out", f"{{tmp}}/{LONG}.png"], "at most 255"),
    ("xy out folder exists", ["xy", "--out", "{tmp}/folder"], "already exists"),
    ("xy size 1x1", ["xy", "--size", "1x1", "--out", "{tmp}/o.gif"], "size: 1x1 must be"),
    ("xy out read-only", ["xy", "--steps", "5", "--quiet", "--out", "/sys/toylab-hostile.png"], "cannot write under /sys"),
    # animate
    ("animate fps 0", ["animate", "{run}", "--fps", "0", "--out", "{tmp}/a.gif"], "fps: must be"),
    ("animate fps nan", ["animate", "{run}", "--fps", "nan", "--out", "{tmp}/a.gif"], "fps: must be"),
    ("animate fps 1000", ["animate", "{run}", "--fps", "1000", "--out", "{tmp}/a.gif"], "fps: must be"),
    ("animate hold 1e6", ["animate", "{run}", "--hold", "1e6", "--out", "{tmp}/a.gif"], "hold: must be a number of seconds in [0, 60]"),
    ("animate hold -1", ["animate", "{run}", "--hold", "-1", "--out", "{tmp}/a.gif"], "hold"),
    ("animate hold nan", ["animate", "{run}", "--hold", "nan", "--out", "{tmp}/a.gif"], "hold"),
    ("animate frames 0", ["animate", "{run}", "--frames", "0", "--out", "{tmp}/a.gif"], "frames: must be"),
    ("animate frames -3", ["animate", "{run}", "--frames", "-3", "--out", "{tmp}/a.gif"], "frames"),
    ("animate member 5", ["animate", "{run}", "--member", "5", "--out", "{tmp}/a.gif"], "member: 5 is out of range"),
    ("animate member -1", ["animate", "{run}", "--member", "-1", "--out", "{tmp}/a.gif"], "member"),
    ("animate panels bogus", ["animate", "{run}", "--panels", "bogus", "--out", "{tmp}/a.gif"], "panels: unknown 'bogus'"),
    ("animate panels comma", ["animate", "{run}", "--panels", ",", "--out", "{tmp}/a.gif"], "panels"),
    ("animate size tiny", ["animate", "{run}", "--size", "2x2", "--out", "{tmp}/a.gif"], "size"),
    ("animate size text", ["animate", "{run}", "--size", "huge", "--out", "{tmp}/a.gif"], "size: 'huge'"),
    ("animate size 1e5", ["animate", "{run}", "--size", "100000x100000", "--out", "{tmp}/a.gif"], "size"),
    ("animate out txt", ["animate", "{run}", "--out", "{tmp}/a.txt"], "format '.txt' not supported"),
    ("animate out under a file", ["animate", "{run}", "--out", "{tmp}/afile/a.gif"], "afile is a file"),
    ("animate out exists", ["animate", "{run}", "--out", "{tmp}/afile.gif"], "already exists"),
    ("animate out too long", ["animate", "{run}", "--out", f"{{tmp}}/{LONG}.gif"], "at most 255"),
    ("animate run missing", ["animate", "{tmp}/nowhere", "--out", "{tmp}/a.gif"], "not a toylab run"),
    ("animate no snapshots", ["animate", "{run:no_snapshots}", "--out", "{tmp}/a.gif"], "no snapshots"),
    ("animate no checkpoint", ["animate", "{run:no_ckpt}", "--out", "{tmp}/a.gif"], "checkpoint.pt"),
    ("animate nan snapshot", ["animate", "{run:bad_snapshot}", "--out", "{tmp}/a.gif"], "step_00000010.npz"),
    # figure
    ("figure step 7", ["figure", "{run}", "--step", "7", "--out", "{tmp}/f.png"], "step: no snapshot at step 7"),
    ("figure step -1", ["figure", "{run}", "--step", "-1", "--out", "{tmp}/f.png"], "step: no snapshot"),
    ("figure member 3", ["figure", "{run}", "--member", "3", "--out", "{tmp}/f.png"], "member: 3 is out of range"),
    ("figure member -1", ["figure", "{run}", "--member", "-1", "--out", "{tmp}/f.png"], "--member"),
    ("figure out txt", ["figure", "{run}", "--out", "{tmp}/f.txt"], "not a picture format"),
    ("figure out exists", ["figure", "{run}", "--out", "{tmp}/afile.png"], "already exists"),
    ("figure out under a file", ["figure", "{run}", "--out", "{tmp}/afile/f.png"], "afile is a file"),
    ("figure out folder", ["figure", "{run}", "--out", "{tmp}/folder.png"], "folder.png is a folder"),
    ("figure panels", ["figure", "{run}", "--panels", "nope", "--out", "{tmp}/f.png"], "panels: unknown 'nope'"),
    ("figure size", ["figure", "{run}", "--size", "0x0", "--out", "{tmp}/f.png"], "size: 0x0"),
    ("figure run missing", ["figure", "{tmp}/nowhere", "--out", "{tmp}/f.png"], "not a toylab run"),
    ("figure no checkpoint", ["figure", "{run:no_ckpt}", "--out", "{tmp}/f.png"], "checkpoint.pt"),
    # sweep
    *[(f"sweep {k}", ["sweep", f"{{spec:{k}}}", "--out", "{tmp}/e", "--workers", "1", "--quiet"], m) for k, m in [
        ("scalar_grid", "grid.lr_d: must be a non-empty list"), ("empty_grid", "grid.lr_d: must be a non-empty list"),
        ("grid_list", "grid: must be a table"), ("scalar_variant", "variants: must be a list of tables"),
        ("string_variants", "variants: must be a list of tables"), ("dup_seeds", "seeds: [1] given more than once"),
        ("zero_seeds", "seeds: a count from 1 to 1024"), ("neg_seeds", "seeds: a count from 1 to 1024"),
        ("billion_seeds", "seeds: a count from 1 to 1024"), ("text_seeds", "seeds:"), ("empty_seeds", "seeds:"),
        ("bool_seeds", "seeds:"), ("neg_seed_list", "seeds:"), ("evil_name", "name: '../../evil'"),
        ("number_name", "name: 5"), ("base_list", "base: must be a table"), ("base_unknown", "colour: unknown field"),
        ("base_bad", "lr_d"), ("base_inf", "r1_gamma"), ("rules_unknown", "rules: unknown bogus"),
        ("rules_number", "rules: must be a table"), ("top_unknown", "experiment: unknown colour"),
        ("variant_bad", "setting 'x'"), ("dup_labels", "labels must differ")]],
    ("sweep spec folder", ["sweep", "{tmp}/folder", "--out", "{tmp}/e"], "is not a file"),
    ("sweep spec missing", ["sweep", "{tmp}/nope.toml", "--out", "{tmp}/e"], "no recipe or file"),
    ("sweep spec malformed", ["sweep", "{tmp}/bad.yaml", "--out", "{tmp}/e"], "not valid YAML"),
    ("sweep spec python tag", ["sweep", "{tmp}/tag.yaml", "--out", "{tmp}/e"], "not valid YAML"),
    ("sweep spec list", ["sweep", "{tmp}/list.json", "--out", "{tmp}/e"], "got a list"),
    ("sweep workers 0", ["sweep", "{spec:ok}", "--out", "{tmp}/e", "--workers", "0"], "workers: must be at least 1"),
    ("sweep workers -2", ["sweep", "{spec:ok}", "--out", "{tmp}/e", "--workers", "-2"], "workers: must be at least 1"),
    ("sweep seeds 0", ["sweep", "{spec:ok}", "--out", "{tmp}/e", "--seeds", "0"], "seeds: a count from 1"),
    ("sweep seeds 5000", ["sweep", "{spec:ok}", "--out", "{tmp}/e", "--seeds", "5000"], "seeds: a count from 1 to 1024"),
    ("sweep steps -1", ["sweep", "{spec:ok}", "--out", "{tmp}/e", "--steps", "-1"], "steps"),
    ("sweep scheduler unreachable", ["sweep", "{spec:ok}", "--out", "{tmp}/e", "--scheduler", "tcp://127.0.0.1:1"],
     "scheduler: could not connect to 'tcp://127.0.0.1:1' within 1 s"),
    ("sweep scheduler nonsense", ["sweep", "{spec:ok}", "--out", "{tmp}/e", "--scheduler", "not an address"],
     "scheduler: could not connect"),
    ("sweep into another experiment", ["sweep", "{spec:ok}", "--out", "{tmp}/other", "--workers", "1"],
     "holds a different experiment"),
    ("sweep inside another experiment", ["sweep", "{spec:ok}", "--out", "{tmp}/other/sub", "--workers", "1"],
     "lies inside the experiment folder"),
    ("sweep into a run folder", ["sweep", "{spec:ok}", "--out", "{run}", "--workers", "1"],
     "is not empty and holds no experiment"),
    ("sweep out a file", ["sweep", "{spec:ok}", "--out", "{tmp}/afile", "--workers", "1"], "afile is a file"),
    # report
    ("report empty folder", ["report", "{tmp}/folder"], "not an experiment folder"),
    ("report missing", ["report", "{tmp}/nowhere"], "not an experiment folder"),
    ("report no results", ["report", "{tmp}/other"], "no finished runs yet"),
    ("report a file", ["report", "{tmp}/afile"], "not an experiment folder"),
    ("report garbage spec", ["report", "{tmp}/garbage_exp"], "experiment.json"),
    ("report a run folder", ["report", "{run}"], "not an experiment folder"),
]

DAMAGE = {
    "no_ckpt": lambda p: (p / "checkpoint.pt").unlink(),
    "zero_ckpt": lambda p: (p / "checkpoint.pt").write_bytes(b""),
    "empty_config": lambda p: (p / "config.json").write_text("{}"),
    "bad_csv": lambda p: (p / "metrics.csv").write_text("step,member\n1\n"),
    "bad_status": lambda p: (p / "status.json").write_text("{not json"),
    "no_snapshots": lambda p: shutil.rmtree(p / "snapshots"),
    "bad_snapshot": lambda p: (p / "snapshots" / "step_00000010.npz").write_bytes(b"PK\x03\x04 garbage"),
}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """The input files, made once (a 1e6-row cloud is 8 MB); each case links them into its folder."""
    folder = tmp_path_factory.mktemp("inputs")
    _write_inputs(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from toylab import train
    return train(dataset="ring8", **SMALL, out=tmp_path_factory.mktemp("runs") / "tiny").path


def _files(root: Path) -> dict:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in root.rglob("*")}


def _expand(argv, tmp, run, spec_dir):
    out = []
    for a in argv:
        if a.startswith("{run"):
            damage = a[5:-1] if a.startswith("{run:") else None
            dest = tmp / f"run_{damage or 'ok'}"
            if not dest.exists():
                shutil.copytree(run, dest)
                if damage:
                    DAMAGE[damage](dest)
            a = str(dest)
        elif a.startswith("{spec:"):
            name = a[6:-1]
            a = _spec(spec_dir, name, **SPECS.get(name, {}))
        out.append(a.replace("{tmp}", str(tmp)))
    return out


@pytest.mark.parametrize("argv,expect", [pytest.param(a, e, id=i) for i, a, e in CLI_CASES])
def test_cli_refuses_with_one_clear_error(argv, expect, tiny_run, inputs, tmp_path, capsys, monkeypatch):
    for p in inputs.iterdir():
        (tmp_path / p.name).symlink_to(p, target_is_directory=p.is_dir())
    (tmp_path / "afile.png").write_text("mine")
    (tmp_path / "afile.gif").write_text("mine")
    _other_experiment(tmp_path / "other")
    (tmp_path / "garbage_exp").mkdir()
    (tmp_path / "garbage_exp" / "experiment.json").write_text("{oops")
    spec_dir = tmp_path / "specs"
    spec_dir.mkdir()
    argv = _expand(argv, tmp_path, tiny_run, spec_dir)
    monkeypatch.chdir(tmp_path)                      # relative paths (points files) resolve here
    monkeypatch.setattr("toylab.experiments.runner.SCHEDULER_TIMEOUT", 1)    # (5 s in use)
    before, shared = _files(tmp_path), _files(inputs)
    try:
        code = main(argv)
    except SystemExit as exit_:                      # argparse's own refusals (a non-number for an int)
        code = exit_.code
    out, err = capsys.readouterr()
    assert code not in (0, None), (out, err)
    assert "Traceback" not in err and "Traceback" not in out
    assert expect.replace("{tmp}", str(tmp_path)) in err, err
    assert "sk-live" not in err                      # a file's content is never echoed
    assert len(err.strip().splitlines()) <= 12, err  # one message, not a dump
    assert "JS " not in out and "status: completed" not in out      # nothing reported as a run
    assert _files(tmp_path) == before and _files(inputs) == shared, "something was written or changed"
    assert not Path("/sys/toylab-hostile").exists()


# ---- the Python API -----------------------------------------------------------------------
def _api_cases():
    import toylab
    from toylab import datasets, experiments, games

    inf, nan = math.inf, math.nan
    return [
        ("TrainConfig r1 inf", lambda t: toylab.TrainConfig(r1_gamma=inf), ConfigError, "r1_gamma"),
        ("TrainConfig gp inf", lambda t: toylab.TrainConfig(gp_lambda=inf), ConfigError, "gp_lambda"),
        ("TrainConfig clip inf", lambda t: toylab.TrainConfig(clip=inf), ConfigError, "clip"),
        ("TrainConfig lr nan", lambda t: toylab.TrainConfig(lr_g=nan), ConfigError, "lr_g"),
        ("TrainConfig ring k", lambda t: toylab.TrainConfig(dataset="ring", dataset_params={"k": 10**9}),
         ConfigError, "dataset_params: ring: k must be >= 1 and <= 1000"),
        ("TrainConfig threads", lambda t: toylab.TrainConfig(threads=-1), ConfigError, "threads"),
        ("datasets ring k", lambda t: datasets.get("ring", k=10**9), ValueError, "k must be >= 1 and <= 1000"),
        ("datasets grid n", lambda t: datasets.get("grid", n=10**5), ValueError, "n must be >= 1 and <= 32"),
        ("datasets checkerboard n", lambda t: datasets.get("checkerboard", n=20_000), ValueError, "<= 200"),
        ("datasets PointCloud rows", lambda t: datasets.PointCloud(np.zeros((100_001, 2))), ValueError,
         "at most 100,000"),
        ("train duplicate seeds", lambda t: toylab.train(**SMALL, seeds=[1, 1], out=t / "r"), ConfigError,
         "repeats member 0"),
        ("Trainer 2000 members", lambda t: toylab.Trainer([toylab.TrainConfig(seed=s) for s in range(2000)]),
         ConfigError, "at most 1024"),
        ("trajectory lr nan", lambda t: games.trajectory("simultaneous", nan, 10), ValueError, "lr: must be"),
        ("spectral radius lr 1e308", lambda t: games.spectral_radius("extragradient", 1e308), ValueError, "lr"),
        ("trajectory steps 1e8", lambda t: games.trajectory("simultaneous", 0.1, 10**8), ValueError, "steps"),
        ("trajectory start 3", lambda t: games.trajectory("simultaneous", 0.1, 5, (1, 2, 3)), ValueError, "start"),
        ("trajectory unknown option", lambda t: games.trajectory("simultaneous", 0.1, 5, bogus=1), ValueError,
         "bogus: unknown option"),
        ("dirac r1 -1", lambda t: games.make_field("dirac", r1_gamma=-1), ValueError, "r1_gamma"),
        ("experiment scalar grid", lambda t: experiments.load_experiment({"grid": {"lr_d": 0.1}}), ConfigError,
         "grid.lr_d"),
        ("experiment list", lambda t: experiments.load_experiment([1, 2]), ConfigError, "mapping"),
        ("run_experiment other folder", lambda t: (_other_experiment(t / "o"), experiments.run_experiment(
            {"name": "x", "base": SMALL, "seeds": [0]}, t / "o", workers=1, progress=False)), ConfigError,
         "different experiment"),
        ("load_run missing", lambda t: toylab.load_run(t / "nowhere"), FileNotFoundError, "not a toylab run"),
        ("animate fps 0", lambda t: toylab.animate(t / "nowhere", t / "a.gif", fps=0), ValueError, "fps"),
        ("animate hold 1e6", lambda t: toylab.animate(t / "nowhere", t / "a.gif", hold=1e6), ValueError, "hold"),
        ("resume steps 0", lambda t: toylab.resume(t / "nowhere", steps=0), ConfigError, "steps_total"),
    ]


@pytest.mark.parametrize("i", range(len(_api_cases())), ids=[c[0] for c in _api_cases()])
def test_api_refuses_with_one_clear_error(i, tmp_path):
    name, call, kind, expect = _api_cases()[i]
    before = _files(tmp_path)
    with pytest.raises(kind) as info:
        call(tmp_path)
    assert expect in str(info.value), (name, str(info.value))
    files = _files(tmp_path)
    if name == "run_experiment other folder":    # (the folder the case made itself)
        files = {k: v for k, v in files.items() if not k.startswith("o")}
    assert files == before, name


def _ring8_sample():
    from toylab import datasets
    return datasets.get("ring8").sample(200, seed=0)


#: public functions called with what a hostile or careless caller passes (the re-run of issue #28's
#: attacks): each was a raw exception from deep inside, or a quiet answer to a meaningless question
API_NAMED = {
    "js_estimate of an empty sample (was ln 2)": (
        lambda: toylab.metrics.js_estimate(toylab.datasets.get("ring8"), np.zeros((0, 2))), "samples: no rows given"),
    "mode_coverage of an empty sample (was 0 modes)": (
        lambda: toylab.metrics.mode_coverage(np.zeros((0, 2)), toylab.datasets.get("ring8")), "samples: no rows given"),
    "mode_coverage threshold nan (was 0 modes)": (
        lambda: toylab.metrics.mode_coverage(_ring8_sample(), toylab.datasets.get("ring8"), threshold=math.nan),
        "threshold: must be a finite number"),
    "mode_coverage threshold -5": (
        lambda: toylab.metrics.mode_coverage(_ring8_sample(), toylab.datasets.get("ring8"), threshold=-5),
        "threshold"),
    "kde_log_prob of 4-column points (was read as 2-column)": (
        lambda: toylab.metrics.kde_log_prob(np.zeros((5, 4)), _ring8_sample(), 0.1), "x: expected numbers of shape (n, 2)"),
    "kde_log_prob of 1-D samples (was a RuntimeError)": (
        lambda: toylab.metrics.kde_log_prob(np.zeros((5, 2)), np.zeros(5), 0.1), "samples: expected"),
    "kde_log_prob of None (was a RuntimeError)": (
        lambda: toylab.metrics.kde_log_prob(None, _ring8_sample(), 0.1), "x: expected"),
    "kde_log_prob h 0 (was NaN)": (lambda: toylab.metrics.kde_log_prob(np.zeros((5, 2)), _ring8_sample(), 0.0),
                                   "h: must be one bandwidth"),
    "kde_log_prob h nan (was NaN)": (lambda: toylab.metrics.kde_log_prob(np.zeros((5, 2)), _ring8_sample(), math.nan),
                                     "h: must be"),
    "kde_log_prob h of the wrong length": (
        lambda: toylab.metrics.kde_log_prob(np.zeros((5, 2)), _ring8_sample(), np.ones(7)), "one per sample (200)"),
    "PointCloud bandwidth nan (was accepted)": (
        lambda: toylab.datasets.PointCloud(np.random.default_rng(0).normal(size=(50, 2)), bandwidth=math.nan),
        "bandwidth: must be a finite number > 0"),
    "PointCloud bandwidth -1 (was accepted)": (
        lambda: toylab.datasets.PointCloud(np.random.default_rng(0).normal(size=(50, 2)), bandwidth=-1), "bandwidth"),
    "PointCloud bandwidth True (was accepted)": (
        lambda: toylab.datasets.PointCloud(np.random.default_rng(0).normal(size=(50, 2)), bandwidth=True), "bandwidth"),
    "datasets.get ring k of 5,000 digits (was OverflowError)": (
        lambda: toylab.datasets.get("ring", k=10 ** 5000), "k must be >= 1 and <= 1000"),
    "target.sample 0 (was a torch RuntimeError)": (lambda: toylab.datasets.get("ring8").sample(0), "n: must be"),
    "target.sample inf (was OverflowError)": (lambda: toylab.datasets.get("ring8").sample(math.inf), "n: must be"),
    "target.sample 1e12 (was a terabyte allocation)": (
        lambda: toylab.datasets.get("ring8").sample(10 ** 12), "from 1 to 10,000,000"),
    "target.sample True (was one draw)": (lambda: toylab.datasets.get("ring8").sample(True), "n: must be"),
    "js_divergence of a target name (was AttributeError)": (
        lambda: toylab.metrics.js_divergence("ring8", _ring8_sample()), "target: expected a target"),
    "measure of an array as target": (
        lambda: toylab.metrics.measure(np.zeros((5, 2)), _ring8_sample()), "target: expected a target"),
    "mode_coverage of None as target": (
        lambda: toylab.metrics.mode_coverage(_ring8_sample(), None), "target: expected a target"),
    "grid_points size -1 (was a torch RuntimeError)": (
        lambda: toylab.metrics.grid_points((-1, 1, -1, 1), -1), "size: must be a whole number from 1 to 8,192"),
    "grid_points size 1e12 (was a 4 TB allocation)": (
        lambda: toylab.metrics.grid_points((-1, 1, -1, 1), 10 ** 12), "size: must be"),
    "js_divergence_quadrature size 0 (was IndexError)": (
        lambda: toylab.metrics.js_divergence_quadrature(math.sin, math.sin, (-1, 1, -1, 1), 0), "size: must be"),
    "binned_kde size True (was ZeroDivisionError)": (
        lambda: toylab.metrics.binned_kde(np.zeros((5, 2)), (-1, 1, -1, 1), True, 0.1), "size: must be"),
    "kde_bandwidth span nan (was a NaN bandwidth)": (
        lambda: toylab.metrics.kde_bandwidth(_ring8_sample(), math.nan), "span: must be a finite length > 0"),
    "binned_kde h inf (was OverflowError)": (
        lambda: toylab.metrics.binned_kde(np.zeros((5, 2)), (-1, 1, -1, 1), 10, math.inf), "h: must be"),
    "GaussianMixture means of one number (was RuntimeError: shape '[-1, 2]')": (
        lambda: toylab.datasets.GaussianMixture(math.nan, np.eye(2)), "means: expected finite numbers of shape (K, 2)"),
    "GaussianMixture means (5, 3) (was read as 7.5 rows)": (
        lambda: toylab.datasets.GaussianMixture(np.zeros((5, 3)), 0.1), "means: expected finite numbers of shape (K, 2)"),
    "GaussianMixture means with NaN": (
        lambda: toylab.datasets.GaussianMixture([[0, 0], [math.nan, 1]], 0.1), "means: expected finite numbers"),
    "GaussianMixture means a string": (
        lambda: toylab.datasets.GaussianMixture("abc", 0.1), "means: expected numbers"),
    "GaussianMixture covs (5,) for 2 means (was RuntimeError: expanded size)": (
        lambda: toylab.datasets.GaussianMixture([[0, 0], [1, 1]], np.zeros(5)), "covs: expected a number, a 2x2 matrix"),
    "GaussianMixture covs empty": (
        lambda: toylab.datasets.GaussianMixture([[0, 0], [1, 1]], np.zeros((0, 2))), "covs: expected"),
    "a target's log_prob of a scalar (was RuntimeError: split)": (
        lambda: toylab.datasets.get("ring8").log_prob(math.nan), "x: expected numbers of shape (n, 2)"),
    "a target's log_prob of a 1-D array (was IndexError)": (
        lambda: toylab.datasets.get("grid25").log_prob(np.zeros(5)), "x: expected numbers of shape (n, 2)"),
    "a target's log_prob of (n, 3) points (was RuntimeError)": (
        lambda: toylab.datasets.get("checkerboard").log_prob(np.zeros((5, 3))), "x: expected numbers of shape (n, 2)"),
    "kde_log_prob of NaN samples (was SciPy's 'data must be finite')": (
        lambda: toylab.metrics.kde_log_prob(np.zeros((5, 2)), np.full((10, 2), math.nan), 0.1),
        "samples: rows of NaN or Inf"),
}


def test_a_nan_point_has_a_nan_density_and_the_others_theirs():
    """kde_log_prob at rows of NaN (SciPy's 'x must be finite' before): NaN there, the same
    values elsewhere as without them; a target's log_prob likewise keeps NaN rows NaN."""
    s = _ring8_sample()
    x = np.array([[0.0, 2.0], [math.nan, 0.0], [2.0, 0.0], [math.inf, 1.0]])
    got = toylab.metrics.kde_log_prob(x, s, 0.1)
    assert torch.isnan(got[[1, 3]]).all()
    torch.testing.assert_close(got[[0, 2]], toylab.metrics.kde_log_prob(x[[0, 2]], s, 0.1))
    assert torch.isnan(toylab.datasets.get("ring8").log_prob(x)[1])


@pytest.mark.parametrize("name", list(API_NAMED))
def test_a_public_function_refuses_hostile_arguments_naming_them(name):
    call, expect = API_NAMED[name]
    with pytest.raises((ValueError, TypeError)) as info:
        call()
    assert expect in str(info.value), str(info.value)


def test_a_huge_bandwidth_is_a_flat_picture_not_a_262_tib_allocation():
    """binned_kde(h=1e12) asked NumPy for 262 TiB of filter taps (MemoryError); a kernel that wide is
    flat over the grid: each pixel holds 1 / (2 pi h^2) of the mass, as the exact sum says."""
    from toylab import metrics
    p = metrics.binned_kde(np.random.default_rng(0).normal(size=(5, 2)), (-1, 1, -1, 1), 10, 1e12)
    assert p.shape == (10, 10)
    assert np.allclose(p, 1 / (2 * math.pi * 1e24), rtol=1e-3)


def test_the_empty_sample_checks_leave_measure_of_junk_rows_alone():
    """measure still records a generator that produced only NaN: ln 2, nonfinite 1 (what a run keeps)."""
    from toylab import datasets, metrics
    out = metrics.measure(datasets.get("ring8"), np.full((50, 2), np.nan))
    assert out["js"] == pytest.approx(math.log(2)) and out["nonfinite"] == 1.0 and out["modes_captured"] == 0
    t = datasets.get("ring8")
    x = t.sample(300, seed=1)
    assert metrics.kde_log_prob(x.reshape(15, 20, 2), x, 0.1).shape == (300,)      # a grid of points is still points


# ---- real processes: what a user's terminal shows ---------------------------------------------
@pytest.mark.parametrize("case", ["config folder", "points 2e9-row header", "config python tag"])
def test_a_real_process_prints_one_line_and_no_traceback(tmp_path, case):
    (tmp_path / "folder").mkdir()
    (tmp_path / "tag.yaml").write_text(FILES["tag.yaml"])
    _npy_header_only(tmp_path / "huge_header.npy", 2_000_000_000)
    argv = {"config folder": ["train", "--config", "folder"],
            "points 2e9-row header": ["train", "--dataset", "points", "--dataset-params", "{path: huge_header.npy}"],
            "config python tag": ["train", "--config", "tag.yaml"]}[case]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, "-m", "toylab", *argv, "--quiet"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    assert p.stderr.startswith("toylab train: error:") and not (tmp_path / "runs").exists()


def test_a_killed_exports_partial_files_are_cleaned_by_the_next_export(tiny_run, tmp_path):
    from toylab import animate
    dead = tmp_path / ".a.gif.partial-999999999.gif"      # no such process: a killed export's leftover
    old = tmp_path / ".a.gif.partial.gif"                  # the name older versions used
    live = tmp_path / f".a.gif.partial-{os.getppid()}.gif"  # a running export of the same name: kept
    folder = tmp_path / ".frames.partial-999999999"        # a PNG sequence's partial folder
    for p in (dead, old, live):
        p.write_bytes(b"half a gif")
    folder.mkdir()
    (folder / "frame_00000.png").write_bytes(b"x")
    animate(tiny_run, tmp_path / "a.gif", size="small", progress=False, hold=0)
    assert not dead.exists() and not old.exists() and live.exists() and (tmp_path / "a.gif").stat().st_size > 0
    animate(tiny_run, tmp_path / "frames", size="small", progress=False, hold=0)
    assert not folder.exists() and len(list((tmp_path / "frames").glob("*.png"))) == 3


def test_train_without_out_says_where_it_writes(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    small = sum(([f"--{k.replace('_', '-')}", str(v)] for k, v in SMALL.items()), [])
    assert main(["train", "--quiet", *small]) == 0
    assert main(["train", "--quiet", *small]) == 0
    out = capsys.readouterr().out
    assert "run folder: runs/run  (no --out given: the default is runs/run" in out
    assert "run folder: runs/run-2" in out and (tmp_path / "runs" / "run-2" / "checkpoint.pt").exists()
