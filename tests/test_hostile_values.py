"""Hostile values (issue #28): alias bombs and other YAML/JSON/TOML tricks, malformed values sent to
the dashboard's callbacks, an MP4 on a full disk, temporary files left by a killed server, and the
minor items (a key given twice, a bool for an int, train_to(-5), identical drawn points).

Every case ends in one clear message that names the field or file and what is allowed, in bounded
time and memory, and never quotes more than a short cut of the value."""

import errno
import json
import math
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
    """(seconds, peak bytes Python allocated, the exception raised or None) of call(), after the
    readers' lazy imports (PyYAML, the CLI) are done: the cost of the input, not of importing."""
    read_value("1", "warm-up")
    import toylab.cli  # noqa: F401
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
    quoted = "{a: '" + "[" * 40 + "', b: \"" + "{" * 40 + "\"} # " + "[" * 40     # quotes, a comment
    assert read_value(quoted) == {"a": "[" * 40, "b": "{" * 40}


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


# ---- 2. the dashboard: a clear message, never an HTTP 500 -------------------------------------
SMALL_FORM = {"f-g_hidden__value": 8, "f-d_hidden__value": 8, "f-batch_size__value": 16, "f-steps__value": 20,
              "f-snapshot_every__value": 10}


def _tab(app):
    from dashboards.client import TabClient
    tab = TabClient.over_flask(app.server)
    assert tab.open()
    tab.values.update({k.replace("__", "."): v for k, v in SMALL_FORM.items()})
    return tab


def _call(tab, dep: dict, trigger: str, **changes):
    """Call the callback `dep` (an entry of the page's dependencies) as if `trigger` ("id.prop")
    changed, with `changes` ("id.prop" -> value) over the page's values: (HTTP status, reply)."""
    values = {**tab.values, **changes}

    def item(x):
        return {"id": x["id"], "property": x["property"], "value": values.get(f"{x['id']}.{x['property']}")}
    outs = [dict(zip(("id", "property"), o.split("@")[0].rsplit(".", 1))) for o in dep["output"].strip(".").split("...")]
    payload = {"output": dep["output"], "outputs": outs if dep["output"].startswith("..") else outs[0],
               "inputs": [item(x) for x in dep["inputs"]], "state": [item(x) for x in dep["state"]],
               "changedPropIds": [trigger]}
    status, body = tab.request("POST", "/_dash-update-component", json.dumps(payload).encode())
    return status, (json.loads(body).get("response", {}) if status == 200 and body else {})


def _dep(tab, output: str, trigger: str) -> dict:
    for d in tab.deps:
        outs = [o.split("@")[0].rsplit(".", 1)[0] for o in d["output"].strip(".").split("...")]
        if output in outs and any(i["id"] == trigger for i in d["inputs"]):
            return d
    raise KeyError((output, trigger))


def test_a_device_the_server_lacks_is_named_under_the_field_not_a_500(app):
    """'cuda' on a CPU-only server was an HTTP 500 at Start, and the tab then did nothing.
    (cuda:99 fails on any machine: no CUDA, or not 100 GPUs.)"""
    from dashboards import ids as I
    tab = _tab(app)
    for device in ("cuda:99", *(["cuda"] if not __import__("torch").cuda.is_available() else [])):
        status, out = tab.call(I.MESSAGE, I.START, **{"f-device__value": device})
        assert status == 200
        err = out[I.ERROR.format("device")]["children"]
        assert f"'{device}' asked for" in err and "allowed on this server: auto, cpu" in err, err
        assert "nothing was run" in out[I.MESSAGE]["children"] and app.sessions.get(tab.sid).live is None
    status, out = tab.call(I.MESSAGE, I.START, **{"f-device__value": "cpu"})
    assert status == 200 and out[I.ERROR.format("device")]["children"] == ""
    assert app.sessions.get(tab.sid).live is not None


BAD = [["light"], {"a": 1}, True, "x" * 500]


@pytest.mark.parametrize("bad", BAD, ids=["list", "dict", "bool", "long"])
@pytest.mark.parametrize("case", ["speed", "speed at Start", "theme", "theme on the canvas", "export format",
                                  "export theme", "draw mode", "dataset"])
def test_a_malformed_choice_is_answered_naming_the_field_and_the_choices(app, case, bad):
    from dashboards import ids as I
    tab = _tab(app)
    output, trigger, key, field, allowed = {
        "speed": (I.SPEED_NOTE, I.SPEED, I.SPEED, "speed", "0, 100, 30, 10, 3, 1"),
        "speed at Start": (I.MESSAGE, I.START, I.SPEED, "speed", "0, 100, 30, 10, 3, 1"),
        "theme": (I.STATUS, I.THEME, I.THEME, "theme", "light, dark"),
        "theme on the canvas": (I.DRAW_MSG, I.THEME, I.THEME, "theme", "light, dark"),
        "export format": (I.EXPORT_MSG, I.EXPORT, I.EXPORT_FORMAT, "format", ".gif, .mp4, .html"),
        "export theme": (I.EXPORT_MSG, I.EXPORT, I.EXPORT_THEME, "theme", "light, dark"),
        "draw mode": (I.DRAW_MSG, I.DRAW_MODE, I.DRAW_MODE, "draw mode", "click, draw"),
        "dataset": (I.MESSAGE, I.START, I.FIELD.format("dataset"), "dataset", "ring8"),
    }[case]
    dep = _dep(tab, output, trigger)
    prop = next(i["property"] for i in dep["inputs"] if i["id"] == trigger)
    status, out = _call(tab, dep, f"{trigger}.{prop}", **{f"{key}.value": bad, f"{trigger}.{prop}": 1}
                        if prop == "n_clicks" else {f"{key}.value": bad})
    assert status == 200, (case, bad)
    text = json.dumps(out, ensure_ascii=False)
    assert f"{field}: must be one of" in text or (case == "dataset" and "must be one of" in text), text[:500]
    assert allowed in text and len(text) < 20_000 and "x" * 100 not in text, text[:500]
    assert app.sessions.get(tab.sid).live is None


@pytest.mark.parametrize("click, relayout", [
    ([1, 2], None), ({"points": []}, None), ({"points": [5]}, None), ({"points": "x"}, None),
    ({"points": [{"x": [1], "y": 2}]}, None), ({"points": [{"x": True, "y": 0}]}, None),
    ({"points": [{"x": 1e308, "y": 0}]}, None),
    (None, [1]), (None, {"shapes": "x"}), (None, {"shapes": [5]}), (None, {"shapes": [{"path": 5}]}),
    (None, {"shapes": [{"path": "M a,b"}]}), (None, {"shapes": [{"path": "M1,1" + " L2,2" * 20_000}]}),
])
def test_malformed_canvas_data_is_refused_with_a_message(app, click, relayout):
    from dashboards import ids as I
    tab = _tab(app)
    dep = _dep(tab, I.DRAW_MSG, I.DRAW_CANVAS)
    trigger = f"{I.DRAW_CANVAS}.clickData" if click is not None else f"{I.DRAW_CANVAS}.relayoutData"
    status, out = _call(tab, dep, trigger, **{f"{I.DRAW_CANVAS}.clickData": click,
                                              f"{I.DRAW_CANVAS}.relayoutData": relayout})
    assert status == 200
    msg = out[I.DRAW_MSG]["children"]
    assert msg.startswith(("canvas:", "a click must", "a stroke must")), msg
    assert app.sessions.get(tab.sid).drawing is None


HOSTILE = [["x"], {"a": [1]}, "x" * 300]


def test_no_callback_answers_500_to_any_malformed_value(app):
    """Every server-side callback, each of its inputs and states set to a list, a mapping and a long
    string in turn: 41 such HTTP 500s were found in ~550 cases (issue #28), now none. (The export
    goes first, before any Start made a run to export: a real export takes seconds.)"""
    tab = _tab(app)
    failures, calls = [], 0
    for dep in sorted(tab.deps, key=lambda d: "download.data" not in d["output"]):
        if dep.get("clientside_function"):
            continue
        ids = [i["id"] for i in dep["inputs"]]
        keys = [f"{x['id']}.{x['property']}" for x in dep["inputs"] + dep["state"]]
        first = f"{dep['inputs'][0]['id']}.{dep['inputs'][0]['property']}"
        for key in keys:
            if key.startswith("session-id"):
                continue
            for bad in HOSTILE:
                trigger = key if key.split(".")[0] in ids else first
                status, _ = _call(tab, dep, trigger, **{key: bad})
                calls += 1
                if status != 200 and status != 204:
                    failures.append((dep["output"][:40], key, repr(bad)[:20], status))
    assert calls > 250 and failures == []


# ---- 4 (minor). keys given twice, true for a number, train_to(-5), identical drawn points -----------
def test_a_parameter_given_twice_is_refused_naming_it(tmp_path, capsys):
    from dashboards import forms
    from toylab.cli import main
    cfg, errors, _ = forms.build_config({"dataset": "ring", "dataset_params": "k=8, k=9"})
    assert cfg is None and errors["dataset_params"] == "'k' is given twice; give each parameter once"
    assert main(["train", "--dataset", "ring", "--dataset-params", "{k: 8, k: 9}", "--out", str(tmp_path / "r"),
                 "--quiet"]) == 2
    assert "dataset_params: the key 'k' is given twice" in capsys.readouterr().err and not (tmp_path / "r").exists()


@pytest.mark.parametrize("field", ["g_hidden", "steps", "seed", "lr_d", "threads", "betas"])
def test_true_is_not_a_number(field, tmp_path, capsys):
    """g_hidden: true was read as 1 (pydantic's lax mode turns a bool into an int)."""
    with pytest.raises(ConfigError, match=f"{field}: must be a number, not true/false"):
        TrainConfig(**{field: True})
    path = tmp_path / "c.yaml"
    path.write_text(f"{field}: true\n")
    from toylab.cli import main
    assert main(["train", "--config", str(path), "--out", str(tmp_path / "r"), "--quiet"]) == 2
    assert f"{field}: must be a number, not true/false" in capsys.readouterr().err
    assert TrainConfig(tensorboard=True, conditional=True).conditional is True          # bool fields still are


def test_train_to_takes_whole_rounds_only():
    from toylab import Trainer
    t = Trainer(TrainConfig(g_hidden=8, d_hidden=8, batch_size=8, steps=5, snapshot_every=5, n_fixed=10,
                            grid_size=8, manifold_size=2))
    for bad in (-5, 2.5, True, float("nan"), 1e300, "10", None):
        with pytest.raises(ConfigError, match="train_to: total must be a whole number of rounds from 0 to"):
            t.train_to(bad)
    t.train_to(10)
    t.train_to(12.0)
    assert t.controls.total == 12
    with pytest.raises(ConfigError, match="pace: rounds per second"):
        t.pace([1])


def test_identical_drawn_points_are_refused_when_used_not_at_reset(app):
    """Strokes of no length at one place gave identical points: Use accepted them, and Reset then said
    the points could not be read."""
    from dashboards import ids as I
    tab = _tab(app)
    dep = _dep(tab, I.DRAW_MSG, I.DRAW_CANVAS)
    dots = {"shapes": [{"path": "M1,1L1,1"}] * 8}
    for _ in range(2):
        status, out = _call(tab, dep, f"{I.DRAW_CANVAS}.relayoutData", **{f"{I.DRAW_CANVAS}.relayoutData": dots})
        assert status == 200
    assert len(app.sessions.get(tab.sid).drawing) == 16
    dep = _dep(tab, I.DRAW_MSG, I.DRAW_USE)
    status, out = _call(tab, dep, f"{I.DRAW_USE}.n_clicks", **{f"{I.DRAW_USE}.n_clicks": 1})
    msg = out[I.DRAW_MSG]["children"]
    assert status == 200 and "This drawing cannot be a target: all points are identical" in msg, msg
    assert app.sessions.get(tab.sid).upload is None and I.FIELD.format("dataset") not in out


# ---- 3. an MP4 on a full disk ------------------------------------------------------------------------
FRAME = np.zeros((64, 96, 3), np.uint8)


def _frames(n=5):
    for i in range(n):
        f = FRAME.copy()
        f[:, : 10 * (i + 1)] = 200
        yield f


def _write_mp4(out, n=5, overwrite=True):
    from toylab.pictures.export import FrameWriter
    with FrameWriter(out, fps=10, overwrite=overwrite) as w:
        for f in _frames(n):
            w.write(f)


def test_a_good_mp4_is_checked_and_readable(tmp_path):
    import imageio_ffmpeg

    from toylab.pictures.export import mp4_problem
    out = tmp_path / "clip.mp4"
    _write_mp4(out)
    assert mp4_problem(out) == "" and [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]
    reader = imageio_ffmpeg.read_frames(str(out))
    meta = next(reader)
    assert meta["size"] == (96, 64) and len(next(reader)) == 96 * 64 * 3
    reader.close()
    data = out.read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])
    assert "truncated" in mp4_problem(tmp_path / "cut.mp4")
    moov = data.index(b"moov") - 4
    n = int.from_bytes(data[moov: moov + 4], "big")
    (tmp_path / "nomoov.mp4").write_bytes(data[:moov] + n.to_bytes(4, "big") + b"free" + data[moov + 8:])
    assert mp4_problem(tmp_path / "nomoov.mp4") == "it has no moov atom"
    (tmp_path / "empty.mp4").write_bytes(b"")
    assert mp4_problem(tmp_path / "empty.mp4") == "the file is empty"


def _old_clip(tmp_path):
    out = tmp_path / "clip.mp4"
    out.write_bytes(b"the lecture's old clip")
    return out


def _left_alone(tmp_path, out):
    return out.read_bytes() == b"the lecture's old clip" and [p.name for p in tmp_path.iterdir()] == [out.name]


def test_enospc_while_writing_an_mp4_is_a_disk_full_error_and_the_old_file_stays(tmp_path, monkeypatch):
    from toylab.engine.files import DiskFullError
    from toylab.pictures import export
    out = _old_clip(tmp_path)
    real_send, sent = export.FfmpegPipe.send, []

    def send(self, data):                      # the second frame meets a full disk
        if sent:
            raise OSError(errno.ENOSPC, "No space left on device")
        sent.append(len(data))
        real_send(self, data)
    monkeypatch.setattr(export.FfmpegPipe, "send", send)
    with pytest.raises(DiskFullError, match=f"no space left on the device while writing {out}"):
        _write_mp4(out)
    assert _left_alone(tmp_path, out)


@pytest.mark.parametrize("when", ["a frame", "the end"])
def test_ffmpeg_saying_no_space_is_a_disk_full_error_not_a_broken_pipe(tmp_path, monkeypatch, when):
    """1 MB free: ffmpeg died, the next frame met a broken pipe, and the export said "Broken pipe ...
    check permissions"; 2 MB free: ffmpeg failed writing its trailer, exited, and the export said
    "wrote" over a file without its moov atom."""
    from toylab.engine.files import DiskFullError
    from toylab.pictures import export
    out = _old_clip(tmp_path)
    real_finish = export.FfmpegPipe.finish

    def finish(self, timeout=None):
        code, _ = real_finish(self, timeout)
        if when == "the end":                  # what a full disk leaves: the trailer (moov) never written
            tmp = Path(self.proc.args[-1])
            data = tmp.read_bytes()
            tmp.write_bytes(data[: data.index(b"moov") - 4] if b"moov" in data else data[:100])
        self.said = "[out#0/mp4] Error writing trailer: No space left on device"
        return code, self.said

    def send(self, data):
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")
    monkeypatch.setattr(export.FfmpegPipe, "finish", finish)
    if when == "a frame":
        monkeypatch.setattr(export.FfmpegPipe, "send", send)
    with pytest.raises(DiskFullError, match=f"no space left on the device while writing {out}"):
        _write_mp4(out)
    assert _left_alone(tmp_path, out)


def test_a_broken_mp4_on_a_roomy_disk_is_an_error_naming_the_file_not_wrote(tmp_path, monkeypatch):
    from toylab.engine.files import DiskFullError
    from toylab.pictures import export
    out = _old_clip(tmp_path)
    real_finish = export.FfmpegPipe.finish

    def finish(self, timeout=None):
        code, said = real_finish(self, timeout)
        Path(self.proc.args[-1]).write_bytes(b"\0\0\0\x18ftypisom" + b"\0" * 12)      # a header, no moov
        return code, said
    monkeypatch.setattr(export.FfmpegPipe, "finish", finish)
    with pytest.raises(OSError, match=f"ffmpeg could not write {out}: it has no moov atom") as info:
        _write_mp4(out)
    assert not isinstance(info.value, DiskFullError) and _left_alone(tmp_path, out)


@pytest.fixture
def tiny_fs(tmp_path):
    """A 64 kB tmpfs (root only; skipped where mounting is not allowed)."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], check=True,
                       capture_output=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        pytest.skip("cannot mount a tmpfs here (not root, or not allowed)")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True, timeout=20)


def test_an_mp4_on_a_real_tiny_file_system(tiny_fs, tmp_path):
    """The CLI's `animate` on 64 kB: exit 2 with a DiskFullError's message, nothing left there, the
    file that was there kept (it printed "wrote" and exited 0 over a corrupt file)."""
    from toylab import animate, train
    from toylab.engine.files import DiskFullError
    run = train(dataset="ring8", g_hidden=16, d_hidden=16, batch_size=32, steps=40, snapshot_every=10,
                metrics_every=0, grid_size=10, n_fixed=50, manifold_size=3, out=tmp_path / "run").path
    (tiny_fs / "keep.txt").write_text("old")
    out = tiny_fs / "x.mp4"
    with pytest.raises(DiskFullError, match=f"while writing {out}"):
        animate(run, out, size="1080p", progress=False)
    assert sorted(p.name for p in tiny_fs.iterdir()) == ["keep.txt"]
    p = subprocess.run([sys.executable, "-m", "toylab", "animate", str(run), "--out", str(out), "--size", "1080p",
                        "--quiet"], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"})
    assert p.returncode == 2 and "wrote" not in p.stdout, (p.stdout, p.stderr)
    assert f"no space left on the device while writing {out}" in p.stderr and "Traceback" not in p.stderr
    assert sorted(x.name for x in tiny_fs.iterdir()) == ["keep.txt"] and (tiny_fs / "keep.txt").read_text() == "old"


def test_the_dashboards_export_on_a_full_disk_says_so_without_server_paths(app, monkeypatch):
    from dashboards import ids as I
    from toylab.engine.files import DiskFullError
    tab = _tab(app)
    assert tab.call(I.MESSAGE, I.START)[0] == 200
    live = app.sessions.get(tab.sid).live
    deadline = time.monotonic() + 60
    while live.running and time.monotonic() < deadline:
        time.sleep(0.1)

    def full(*a, **k):
        raise DiskFullError(errno.ENOSPC, f"no space left on the device while writing {app.sessions.root}/x.mp4")
    monkeypatch.setattr("dashboards.pages.train_export.animate", full)
    status, out = tab.call(I.EXPORT_MSG, I.EXPORT, **{f"{I.EXPORT_FORMAT}__value": ".mp4"})
    msg = out[I.EXPORT_MSG]["children"]
    for _ in range(5000):           # the export draws on its own thread; the page polls it (db38a55)
        if not str(msg).startswith("exporting"):
            break
        status, out = tab.call(I.EXPORT_MSG, I.EXPORT_TICK)
        msg = out.get(I.EXPORT_MSG, {}).get("children", msg)
    assert status == 200 and "the server's disk is full" in msg and str(app.sessions.root) not in msg


# ---- 4. what a killed server leaves behind ---------------------------------------------------------
def _dead_pid() -> int:
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def test_a_start_removes_what_killed_servers_left_and_nothing_else(tmp_path):
    from dashboards.sessions import SessionManager, clean_stale
    base, canary = tmp_path / "base", tmp_path / "canary"
    base.mkdir()
    canary.mkdir()
    (canary / "keep.npy").write_bytes(b"mine")
    dead = _dead_pid()
    old = base / f"toylab-dash-{dead}-abc123"
    (old / "tab-x").mkdir(parents=True)
    np.save(old / "tab-x" / "points.npy", np.zeros((10, 2)))
    (base / f"toylab-dash-{dead}-link").symlink_to(canary, target_is_directory=True)
    alive = base / f"toylab-dash-{os.getppid()}-live"                 # a running server's (pytest's parent)
    alive.mkdir()
    other = base / "toylab-dash-notapid"
    other.mkdir()
    for p in (old, other):
        os.utime(p, (time.time() - 3600,) * 2)
    time.sleep(0.01)                       # (alive: changed after its server started, before this start)
    m = SessionManager(root=base)
    try:
        assert m.removed_stale == [old] and not old.exists()
        assert (base / f"toylab-dash-{dead}-link").is_symlink() and (canary / "keep.npy").read_bytes() == b"mine"
        assert alive.exists() and other.exists() and m.root.parent == base
        assert m.root.name.startswith(f"toylab-dash-{os.getpid()}-")
        young = base / f"toylab-dash-{dead}-young"                    # changed after a start: not that start's
        young.mkdir()
        assert clean_stale(base, time.time() - 60) == [] and young.exists()
        assert clean_stale(base, time.time() + 1) == [young] and not young.exists()
        assert m.root.exists(), "a running server's folder (this process) is never removed"
    finally:
        m.shutdown()
    assert not m.root.exists()


def test_the_fixed_folder_is_used_only_when_it_is_this_users_own(tmp_path, monkeypatch):
    import tempfile

    from dashboards.sessions import temp_base
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    base = temp_base()
    assert base == tmp_path / f"toylab-dashboard-{os.getuid()}" and (base.stat().st_mode & 0o777) == 0o700
    shutil.rmtree(base)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    base.symlink_to(elsewhere, target_is_directory=True)             # someone took the name: not used
    assert temp_base() is None
    base.unlink()
    base.mkdir(mode=0o777)
    os.chmod(base, 0o777)                                             # writable by anyone: not used
    assert temp_base() is None


def _start_server(tmp, port):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(tmp), "OMP_NUM_THREADS": "1"}
    p = subprocess.Popen([sys.executable, "-m", "dashboards", "--port", str(port), "--runs-dir", str(tmp / "runs"),
                          "--max-runs", "1"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    from dashboards.client import TabClient
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert p.poll() is None, p.stderr.read().decode()[-2000:]
        try:
            tab = TabClient.over_http(f"http://127.0.0.1:{port}", timeout=10)
            if tab.open():
                return p, tab
        except OSError:
            time.sleep(0.5)
    p.kill()
    raise AssertionError("the dashboard did not start")


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_kill_9_leftovers_go_at_the_next_start_and_sigterm_cleans_up(tmp_path):
    """Uploaded points.npy files stayed in $TMPDIR after kill -9 or SIGTERM, and each start added
    a folder. Now SIGTERM cleans as Ctrl-C does, and a start removes what a kill -9 left."""
    from dashboards import ids as I
    tmp = tmp_path / "tmp"
    (tmp / "runs").mkdir(parents=True)
    base = tmp / f"toylab-dashboard-{os.getuid()}"
    pts = "\n".join(f"{x},{y}" for x, y in np.random.default_rng(0).normal(size=(50, 2))).encode()
    upload = {"upload__contents": "data:text/csv;base64," + __import__("base64").b64encode(pts).decode(),
              "upload__filename": "p.csv"}
    first, tab = _start_server(tmp, _free_port())
    try:
        assert tab.call(I.UPLOAD_MSG, I.UPLOAD, **upload)[0] == 200
        left = list(base.glob("toylab-dash-*/tab-*/points.npy"))
        assert len(left) == 1
    finally:
        first.kill()                                                   # kill -9: nothing can clean
        first.wait(30)
    assert left[0].exists()
    second, tab = _start_server(tmp, _free_port())
    try:
        assert not left[0].exists() and len(list(base.glob("toylab-dash-*"))) == 1
        assert tab.call(I.UPLOAD_MSG, I.UPLOAD, **upload)[0] == 200
        assert len(list(base.glob("toylab-dash-*/tab-*/points.npy"))) == 1
        second.send_signal(signal.SIGTERM)
        assert second.wait(60) == 128 + signal.SIGTERM
    finally:
        if second.poll() is None:
            second.kill()
    assert list(base.iterdir()) == [] and sorted(tmp.iterdir()) == sorted([base, tmp / "runs"])


def test_an_experiment_folders_json_is_read_guarded(tmp_path):
    """experiment.json nested 100,000 deep was a RecursionError traceback in `toylab report`; now
    one line naming the file (the result rows keep the NaN that json.dump writes)."""
    from toylab.cli import main
    from toylab.experiments.spec import read_json
    (tmp_path / "experiment.json").write_text("[" * 100_000 + "]" * 100_000)
    (tmp_path / "results").mkdir()
    assert main(["report", str(tmp_path)]) == 2
    rows = tmp_path / "rows.json"
    rows.write_text('[{"js": NaN, "off_mode": 0.1}]')
    got = read_json(rows)
    assert math.isnan(got[0]["js"]) and got[0]["off_mode"] == 0.1
