"""Hostile values (issue #28): alias bombs and other YAML/JSON/TOML tricks, malformed values sent to
the dashboard's callbacks, an MP4 on a full disk, temporary files left by a killed server, and the
minor items (a key given twice, a bool for an int, train_to(-5), identical drawn points).

Every case ends in one clear message that names the field or file and what is allowed, in bounded
time and memory, and never quotes more than a short cut of the value."""

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from toylab import ConfigError, TrainConfig
from toylab.engine import safe_load
from toylab.engine.config import read_mapping, read_value

ROOT = Path(__file__).resolve().parents[1]


def bomb(levels: int = 9, width: int = 9) -> str:
    """A YAML value of nested aliases: `levels` lists each naming the one before `width` times, so
    the last stands for width**levels scalars (9 levels: 387 million) in ~370 bytes."""
    parts = ["&a0 [" + ",".join(["x"] * width) + "]"]
    parts += [f"&a{i} [" + ",".join([f"*a{i - 1}"] * width) + "]" for i in range(1, levels)]
    return "[" + ", ".join(parts) + "]"


def cost(call):
    """(seconds, peak bytes Python allocated, the exception raised or None) of call()."""
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        call()
        err = None
    except Exception as e:          # noqa: BLE001 - the cases below assert which
        err = e
    took = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return took, peak, err


# ---- 1. the alias bomb, and every reader of user values and files --------------------------------
def test_the_bomb_is_small():
    text = "{k: " + bomb() + "}"
    assert len(text) < 400


@pytest.mark.parametrize("where", ["read_value", "cli", "dashboard form", "config file", "spec file"])
def test_an_alias_bomb_costs_under_a_second_and_50_mb_and_names_the_field(where, tmp_path, capsys):
    """Before: a 331-byte 8-level bomb took 13 s, a 254 MB message and 1.8 GB (9 levels: ~10x more)."""
    value = "{k: " + bomb() + "}"
    if where == "read_value":
        def call():
            read_value(value, "dataset_params")
        expect = "dataset_params: anchors (&name) are not allowed"
    elif where == "cli":
        from toylab.cli import main

        def call():
            assert main(["train", "--dataset", "ring", "--dataset-params", value, "--out", str(tmp_path / "r"),
                         "--quiet"]) == 2
        expect = None
    elif where == "dashboard form":
        from dashboards import forms

        def call():
            cfg, errors, general = forms.build_config({"dataset": "ring", "dataset_params": f"k={bomb()}"})
            assert cfg is None
            raise ConfigError(errors["dataset_params"])
        expect = "k: anchors (&name) are not allowed"
    else:
        path = tmp_path / "c.yaml"
        path.write_text(f"dataset: ring\ndataset_params: {value}\n")

        def call():
            if where == "config file":
                read_mapping(path)
            else:
                from toylab.experiments import load_experiment
                load_experiment(path)
        expect = "anchors (&name) are not allowed"
    took, peak, err = cost(call)
    assert took < 1.0 and peak < 50e6, (took, peak)
    if where == "cli":
        msg = capsys.readouterr().err
        assert "dataset_params: anchors (&name) are not allowed" in msg and len(msg) < 300, msg
        assert not (tmp_path / "r").exists()
    else:
        assert isinstance(err, ValueError) and expect in str(err) and len(str(err)) < 300, err


def test_a_bomb_built_in_python_is_named_in_a_short_message():
    """The API takes Python values: one list shared 9 levels deep (387 million leaves) is refused
    with its first 200 characters (the message formatted the whole value: 13 s, 254 MB at 8 levels)."""
    x = ["x"] * 9
    for _ in range(8):
        x = [x] * 9
    took, peak, err = cost(lambda: TrainConfig(dataset="ring", dataset_params={"k": x}))
    assert took < 1.0 and peak < 50e6, (took, peak)
    assert isinstance(err, ConfigError) and "dataset_params: ring: k must be" in str(err)
    assert len(str(err)) < 500 and "…" in str(err)


@pytest.mark.parametrize("text, expect", [
    ("{k: &a 8, radius: *a}", "anchors (&name) are not allowed"),
    ("*a", "aliases (*name) are not allowed"),
    ("!!python/object/apply:os.system ['echo pwned']", "tags ("),
    ("{k: !!int '8'}", "tags ("),
    ("!!set {a, b}", "tags ("),
    ("! 8", "tags ('!') are not allowed"),
    ("{k: 8, k: 9}", "the key 'k' is given twice"),
    ("[" * 40 + "]" * 40, "nested more than 32 deep"),
    ("[" * 5000, "nested more than 32 deep"),
    ("x" * 10_001, "10,001 characters; at most 10,000 are read"),
])
def test_a_typed_value_refuses_aliases_tags_twice_given_keys_and_size(text, expect):
    with pytest.raises(ConfigError) as info:
        read_value(text, "dataset_params")
    assert str(info.value).startswith("dataset_params: ") and expect in str(info.value), str(info.value)
    assert len(str(info.value)) < 300


def test_a_typed_value_still_reads_what_people_type():
    assert read_value("1e-3") == 0.001 and read_value("[0.5, 0.9]") == [0.5, 0.9]
    assert read_value("{k: 8, radius: 2}") == {"k": 8, "radius": 2} and read_value("true") is True
    assert read_value("eight") == "eight" and read_value("{k: [1") == "{k: [1"     # not YAML: the text
    assert read_value("[" * 32 + "]" * 32) is not None                             # 32 deep: allowed


@pytest.mark.parametrize("name, content, expect", [
    ("deep.json", "[" * 100_000 + "]" * 100_000, "nested more than 32 deep"),
    ("deep40.json", '{"a": ' + "[" * 40 + "]" * 40 + "}", "nested more than 32 deep"),
    ("twice.json", '{"steps": 10, "steps": 20}', "the key 'steps' is given twice"),
    ("nan.json", '{"lr_d": NaN}', "NaN is not a JSON number"),
    ("deep.toml", "a = " + "[" * 100_000, "nested more than 32 deep"),
    ("twice.yaml", "steps: 10\nsteps: 20\n", "the key 'steps' is given twice"),
    ("anchor.yaml", "lr_d: &x 0.1\nlr_g: *x\n", "anchors (&name) are not allowed"),
    ("deep.yaml", "a: " + "[" * 50_000, "nested more than 32 deep"),
])
def test_a_config_file_is_read_with_the_same_guards(tmp_path, name, content, expect):
    path = tmp_path / name
    path.write_text(content)
    took, peak, err = cost(lambda: read_mapping(path))
    assert isinstance(err, ConfigError) and expect in str(err) and name in str(err), err
    assert "is not valid" in str(err) and len(str(err)) < 400 and took < 2.0


def test_a_fifo_named_like_a_config_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "config.yaml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="is not a file"):
        read_mapping(fifo)
    with pytest.raises(safe_load.InputError, match="is not a regular file"):
        safe_load.read_text(fifo, what="config")          # (opened for reading, a FIFO would block)
    with pytest.raises(safe_load.InputError, match="is not a regular file"):
        safe_load.read_text("/dev/zero", what="status.json")


def test_load_json_is_depth_and_size_limited():
    with pytest.raises(safe_load.InputError, match="status.json: nested more than 8 deep"):
        safe_load.load_json("[" * 100_000 + "]" * 100_000, what="status.json", max_depth=8)
    with pytest.raises(safe_load.InputError, match="status.json: nested more than 3 deep"):
        safe_load.load_json(b'{"a": [[{"b": 1}]]}', what="status.json", max_depth=3)
    assert safe_load.load_json(b'{"a": [[1]]}', what="x", max_depth=3) == {"a": [[1]]}
    with pytest.raises(safe_load.InputError, match="x: 2,000,001 bytes; at most 2,000,000 are read"):
        safe_load.load_json(b" " * 2_000_001, what="x", max_bytes=2_000_000)
    with pytest.raises(safe_load.MalformedInput, match="x: not valid JSON"):
        safe_load.load_json("{oops", what="x")
    with pytest.raises(safe_load.MalformedInput, match="x: not UTF-8 text"):
        safe_load.load_json(b"\xff\xfe", what="x")


def test_short_is_bounded():
    x = ["y" * 1000]
    for _ in range(30):
        x = [x] * 50
    t0 = time.perf_counter()
    text = safe_load.short(x)
    assert time.perf_counter() - t0 < 0.1 and len(text) <= safe_load.SHORT and text.endswith("…")
    assert safe_load.short(1_000_000_000) == "1000000000" and safe_load.short("eight") == "'eight'"


def test_no_user_value_or_file_is_read_by_an_unguarded_yaml_load():
    """Every YAML, TOML and JSON read of a user's value or config/spec file goes through safe_load:
    no yaml.safe_load anywhere else in toylab/ and dashboards/, and the config reader (configs and
    experiment specs: config.read_mapping; typed values: config.read_value) uses no other parser."""
    found = [str(p.relative_to(ROOT)) for folder in ("toylab", "dashboards") for p in (ROOT / folder).rglob("*.py")
             if p.name != "safe_load.py" and any(s in p.read_text() for s in ("yaml.safe_load", "yaml.load(",
                                                                              "yaml.full_load", "yaml.unsafe_load"))]
    assert found == []
    config = (ROOT / "toylab" / "engine" / "config.py").read_text()
    assert "json.loads" not in config and "tomllib.loads" not in config and "import yaml" not in config
