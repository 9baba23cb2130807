"""Run folders that lie (issue #28): crafted copies of a small real run — files linked to
/dev/zero or out of the folder, FIFOs, sparse 1 GB files, JSON nested 100,000 deep, records
that contradict each other, another run's weights, snapshots of the wrong shape, a zip bomb —
opened by `toylab figure`, `animate`, `evaluate`, `train --resume` and the dashboard's Compare
tab. Each must end in one clear error naming the file (CLI: exit code 2, no traceback, no hang;
Compare: a message on the page, never HTTP 500 and never a file's content or a server path),
with nothing written or deleted outside the run (nor inside it, when refused), and the special
files never read (memory stays low).

Every case is run by ONE child process (`python tests/test_hostile_folders.py ROOT`): it calls
`toylab.cli.main` in a thread per command with a timeout (a FIFO that hangs is reported, then
released), under a 3 GB data limit (a /dev/zero read fails there instead of taking the
machine), and writes one JSON line per command; the tests read those lines."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SMALL = {"g_hidden": 16, "d_hidden": 16, "batch_size": 32, "snapshot_every": 10, "metrics_every": 10,
         "grid_size": 10, "n_fixed": 50, "manifold_size": 3, "log_every": 5}
COMMANDS = ("figure", "animate", "evaluate", "resume")
OK = "ok"
SECRET = "sk-live-STEP"


# ---- building the crafted folders ---------------------------------------------------------------
def _remove(p: Path) -> None:
    if p.is_symlink() or p.is_file() or (p.exists() and not p.is_dir()):
        p.unlink()
    elif p.is_dir():
        shutil.rmtree(p)


def link(name, target):
    """`name` in the run replaced by a symlink to `target` ('{outside}/...' or an absolute path)."""
    def build(run, outside):
        _remove(run / name)
        (run / name).symlink_to(target.format(outside=outside))
    return build


def fifo(name):
    def build(run, outside):
        _remove(run / name)
        os.mkfifo(run / name)
    return build


def sparse(name, size=1 << 30):
    """A 1 GB file of zero bytes that takes no disk space."""
    def build(run, outside):
        _remove(run / name)
        with open(run / name, "wb") as f:
            f.truncate(size)
    return build


def text(name, content):
    def build(run, outside):
        _remove(run / name)
        (run / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    return build


def edit_json(name, change):
    def build(run, outside):
        rec = json.loads((run / name).read_text())
        change(rec)
        (run / name).write_text(json.dumps(rec))
    return build


def deep_json(name, depth=100_000, inside=False):
    """JSON nested `depth` deep: the whole file, or one value of the real record."""
    def build(run, outside):
        deep = "[" * depth + "]" * depth
        if inside:
            rec = json.loads((run / name).read_text())
            rec["note"] = "<DEEP>"
            (run / name).write_text(json.dumps(rec).replace('"<DEEP>"', deep))
        else:
            (run / name).write_text(deep)
    return build


SNAP = "snapshots/step_00000020.npz"          # the last: the one a figure draws and Compare shows
MIDDLE = "snapshots/step_00000010.npz"        # read by animate and resume only


def edit_snapshot(change, file=SNAP):
    def build(run, outside):
        with np.load(run / file, allow_pickle=False) as d:
            arrays = {k: d[k] for k in d.files}
        change(arrays)
        with open(run / file, "wb") as f:
            np.savez_compressed(f, **arrays)
    return build


def hardlink(name, target):
    """`name` in the run replaced by a hard link to `target` ('{outside}/...'): a regular file, the
    same inode as the outside one, so O_NOFOLLOW does not see it."""
    def build(run, outside):
        _remove(run / name)
        os.link(target.format(outside=outside), run / name)
    return build


def linked_elsewhere(name, other):
    """The run's own `name` given a second name outside the run (its content is the run's own)."""
    def build(run, outside):
        os.link(run / name, outside / other)
    return build


def checkpoint_zip_bomb(run, outside):
    """checkpoint.pt with its largest record deflated and padded to 2 GB of zeros (~2 MB on disk):
    torch inflated it whole before seeing the size is wrong (Compare's memory grew by 2 GB)."""
    src = zipfile.ZipFile(io.BytesIO((run / "checkpoint.pt").read_bytes()))
    big = max((i for i in src.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for info in src.infolist():
            zi = zipfile.ZipInfo(info.filename)
            zi.compress_type = zipfile.ZIP_DEFLATED if info is big else zipfile.ZIP_STORED
            with z.open(zi, "w", force_zip64=True) as f:
                f.write(src.read(info))
                if info is big:
                    zeros = bytes(1 << 22)
                    for _ in range(512):
                        f.write(zeros)
    (run / "checkpoint.pt").write_bytes(out.getvalue())


def deep_folders(run, outside):
    p = run / "snapshots"
    for _ in range(200):
        p = p / "d"
    p.mkdir(parents=True)


def zip_bomb(build_run, outside):
    """A snapshot whose d_grid is declared 6000 x 6000 (288 MB of zeros, ~300 kB compressed)."""
    file = build_run / SNAP
    with np.load(file, allow_pickle=False) as d:
        arrays = {k: d[k] for k in d.files if k != "d_grid"}
    with zipfile.ZipFile(file, "w", zipfile.ZIP_DEFLATED) as z:
        for k, v in arrays.items():
            with z.open(k + ".npy", "w") as f:
                np.lib.format.write_array(f, v, allow_pickle=False)
        with z.open("d_grid.npy", "w", force_zip64=True) as f:
            np.lib.format.write_array_header_1_0(f, {"descr": "<f8", "fortran_order": False,
                                                     "shape": (1, 6000, 6000)})
            zeros = bytes(1 << 22)
            for _ in range(6000 * 6000 * 8 // len(zeros) + 1):
                f.write(zeros)


def copy_from_outside(*names):
    """Files of the other run (the same sizes, another seed) copied over this run's."""
    def build(run, outside):
        for n in names:
            _remove(run / n)
            shutil.copy(outside / n, run / n)
    return build


def several(*builders):
    def build(run, outside):
        for b in builders:
            b(run, outside)
    return build


def set_config(**fields):
    return edit_json("config.json", lambda rec: rec["config"].update(fields))


@dataclass
class Case:
    name: str
    build: object
    expect: object = None                 # the file the error names (a str or a tuple of alternatives)
    ok: tuple = ()                        # commands (and "compare") that must succeed instead
    why: str = ""
    extra: dict = field(default_factory=dict)


ALL = (*COMMANDS, "compare")
CASES = [
    # -- special files: never opened for reading beyond a fstat -----------------------------------
    Case("metrics_to_dev_zero", link("metrics.csv", "/dev/zero"), "metrics.csv"),
    Case("status_to_dev_zero", link("status.json", "/dev/zero"), "status.json"),
    Case("checkpoint_to_dev_zero", link("checkpoint.pt", "/dev/zero"), "checkpoint.pt"),
    Case("config_to_dev_zero", link("config.json", "/dev/zero"), "config.json"),
    Case("digest_to_dev_zero", link("checkpoint.pt.sha256", "/dev/zero"), "checkpoint.pt.sha256"),
    Case("snapshot_to_dev_zero", link(MIDDLE, "/dev/zero"), "step_00000010.npz"),
    Case("target_view_to_dev_zero", link("target_view.npz", "/dev/zero"), "target_view.npz"),
    Case("config_is_a_fifo", fifo("config.json"), "config.json"),
    Case("status_is_a_fifo", fifo("status.json"), "status.json"),
    Case("metrics_is_a_fifo", fifo("metrics.csv"), "metrics.csv"),
    Case("checkpoint_is_a_fifo", fifo("checkpoint.pt"), "checkpoint.pt"),
    Case("digest_is_a_fifo", fifo("checkpoint.pt.sha256"), "checkpoint.pt.sha256"),
    Case("snapshot_is_a_fifo", fifo(MIDDLE), "step_00000010.npz"),
    Case("metrics_is_a_folder", several(lambda r, o: (r / "metrics.csv").unlink(),
                                        lambda r, o: (r / "metrics.csv").mkdir()), "metrics.csv"),
    Case("snapshots_is_a_file", several(lambda r, o: shutil.rmtree(r / "snapshots"),
                                        text("snapshots", "not a folder")), "snapshots"),
    # -- links out of the run folder (and out of --runs-dir) --------------------------------------
    Case("status_links_to_a_secret", link("status.json", "{outside}/secret.txt"), "status.json"),
    Case("config_links_to_a_secret", link("config.json", "{outside}/secret.txt"), "config.json"),
    Case("config_links_to_another_run", link("config.json", "{outside}/config.json"), "config.json"),
    Case("checkpoint_links_to_another_run", several(link("checkpoint.pt", "{outside}/checkpoint.pt"),
                                                    link("checkpoint.pt.sha256", "{outside}/checkpoint.pt.sha256")),
         "checkpoint.pt"),
    Case("snapshots_link_to_another_run", link("snapshots", "{outside}/snapshots"), "snapshots",
         why="resume deleted the other run's later snapshots and wrote its own there"),
    Case("snapshot_links_to_another_run", link(SNAP, "{outside}/snapshots/step_00000020.npz"), "step_00000020.npz"),
    Case("tensorboard_links_out", several(lambda r, o: (o / "tb").mkdir(), link("tensorboard", "{outside}/tb")),
         "tensorboard", why="a resume would write through it: a name toylab writes is never a link"),
    # -- sizes -----------------------------------------------------------------------------------
    Case("metrics_sparse_1gb", sparse("metrics.csv"), "metrics.csv"),
    Case("config_sparse_1gb", sparse("config.json"), "config.json"),
    Case("status_sparse_1gb", sparse("status.json"), "status.json"),
    Case("checkpoint_sparse_1gb", sparse("checkpoint.pt"), "checkpoint.pt"),
    Case("digest_sparse_1gb", sparse("checkpoint.pt.sha256"), "checkpoint.pt.sha256", ok=("resume",),
         why="a resume reads the weights themselves and writes a new digest; the old one is never read"),
    Case("snapshot_sparse_1gb", sparse(SNAP), "step_00000020.npz", ok=("evaluate",)),
    Case("target_view_sparse_1gb", sparse("target_view.npz"), ok=ALL,
         why="a cache over its cap is never read: the view is computed from the target"),
    Case("snapshot_zip_bomb", zip_bomb, "step_00000020.npz", ok=("evaluate",)),
    # -- depth -----------------------------------------------------------------------------------
    Case("config_nested_100k", deep_json("config.json"), "config.json"),
    Case("status_nested_100k", deep_json("status.json"), "status.json"),
    Case("config_value_nested_100k", deep_json("config.json", inside=True), "config.json"),
    Case("status_value_nested_100k", deep_json("status.json", inside=True), "status.json"),
    # -- records that are not what toylab writes ------------------------------------------------------
    Case("members_empty", edit_json("config.json", lambda r: r.update(members=[])), "members"),
    Case("members_not_a_list", edit_json("config.json", lambda r: r.update(members=5)), "members"),
    Case("member_with_other_sizes", edit_json("config.json", lambda r: r["members"][0].update(g_hidden=64)),
         "members"),
    Case("two_members_one_in_the_weights",
         edit_json("config.json", lambda r: r.update(members=[r["members"][0], {**r["members"][0], "seed": 7}])),
         ("checkpoint.pt", "snapshot", "status.json", "metrics.csv")),
    Case("points_file_outside", edit_json("config.json", lambda r: r.update(
        points={"file": "../../outside/points_file_outside/secret.txt", "sha256": "0" * 64, "rows": 1})),
         "points"),
    Case("config_not_an_object", text("config.json", "[1, 2, 3]"), "config.json"),
    Case("config_binary", text("config.json", b"\xff\xfe\x00\x80garbage"), "config.json"),
    Case("config_unknown_field", set_config(colour="blue"), "config.json"),
    Case("status_step_is_a_secret", edit_json("status.json", lambda r: r.update(step=SECRET)), "status.json"),
    Case("status_not_an_object", text("status.json", "[1, 2]"), "status.json"),
    Case("status_members_disagree", edit_json("status.json", lambda r: r.update(
        member_status=["completed"] * 3, diverged_step=[None] * 3)), "status.json"),
    Case("status_unknown_status", edit_json("status.json", lambda r: r.update(status={"a": 1})), "status.json"),
    Case("status_negative_step", edit_json("status.json", lambda r: r.update(step=-5)), "status.json"),
    # -- the parts disagree: another run's weights, a config that does not fit them ----------------
    Case("foreign_checkpoint_and_digest", copy_from_outside("checkpoint.pt", "checkpoint.pt.sha256"),
         "checkpoint.pt", why="figure and animate drew with the other run's digest as proof"),
    Case("foreign_checkpoint_only", copy_from_outside("checkpoint.pt"), "checkpoint.pt"),
    Case("config_sizes_differ_from_weights", set_config(g_hidden=32), "checkpoint.pt",
         why="figure and animate drew the snapshots and never looked at the weights"),
    Case("config_target_differs", set_config(dataset="grid25"), "checkpoint.pt"),
    Case("config_grid_differs_from_snapshots", set_config(grid_size=12), ("checkpoint.pt", "step_0000")),
    Case("checkpoint_truncated", lambda r, o: (r / "checkpoint.pt").write_bytes(
        (r / "checkpoint.pt").read_bytes()[:300]), "checkpoint.pt"),
    Case("checkpoint_garbage_with_its_digest", several(text("checkpoint.pt", b"PK\x03\x04junk" * 10),
                                                       lambda r, o: (r / "checkpoint.pt.sha256").write_text(
        __import__("hashlib").sha256(b"PK\x03\x04junk" * 10).hexdigest())), "checkpoint.pt"),
    # -- snapshots ----------------------------------------------------------------------------------
    Case("snapshot_d_grid_wrong_shape", edit_snapshot(lambda a: a.update(d_grid=np.zeros((1, 5, 5)))),
         "step_00000020.npz", ok=("evaluate",),
         why="figure and animate drew a blank D panel (evaluate reads no snapshot)"),
    Case("snapshot_fake_wrong_shape", edit_snapshot(lambda a: a.update(fake=np.zeros((1, 7, 2)))),
         "step_00000020.npz", ok=("evaluate",)),
    Case("snapshot_three_members", edit_snapshot(lambda a: a.update(
        {k: np.concatenate([a[k]] * 3) for k in ("fake", "d_grid", "manifold", "d_grad")})),
         "step_00000020.npz", ok=("evaluate",)),
    Case("snapshot_missing_d_grad", edit_snapshot(lambda a: a.pop("d_grad")), "step_00000020.npz", ok=("evaluate",)),
    Case("snapshot_text_d_grid", edit_snapshot(lambda a: a.update(d_grid=np.full((1, 10, 10), "x"))),
         "step_00000020.npz", ok=("evaluate",)),
    Case("snapshot_metric_wrong_shape", edit_snapshot(lambda a: a.update({"metric/js": np.zeros(9)})),
         "step_00000020.npz", ok=("evaluate",)),
    Case("snapshot_step_differs_from_name", edit_snapshot(lambda a: a.update(step=np.array(10))),
         "step_00000020.npz", ok=("evaluate",)),
    Case("snapshot_from_another_run", copy_from_outside(SNAP), "step_00000020.npz", ok=("evaluate",)),
    Case("snapshot_garbage", text(SNAP, b"PK\x03\x04 garbage"), "step_00000020.npz", ok=("evaluate",)),
    Case("snapshot_with_a_strange_name", text("snapshots/step_abc.npz", "junk"), ok=ALL,
         why="not a name toylab writes: not a snapshot, left alone"),
    Case("snapshot_folder_with_notes", text("snapshots/notes.txt", "my notes"), ok=ALL),
    # -- metrics.csv ----------------------------------------------------------------------------------
    Case("metrics_nul_bytes", text("metrics.csv", b"step,member\n0,0\x00\x00\n"), "metrics.csv"),
    Case("metrics_ragged_rows", text("metrics.csv", "step,member,seed,d_loss\n0,0\n"), "metrics.csv"),
    Case("metrics_text_values", text("metrics.csv", "step,member,seed,d_loss\n0,0,0,abc\n"), "metrics.csv"),
    Case("metrics_member_out_of_range", text("metrics.csv", "step,member,seed,d_loss\n0,7,0,1.0\n"),
         "metrics.csv"),
    Case("metrics_huge_field", text("metrics.csv", "step,member\n0," + "9" * 300_000 + "\n"), "metrics.csv"),
    # -- what may be recomputed or re-read: the run is still drawn, and right -----------------------------
    Case("digest_garbage", text("checkpoint.pt.sha256", "not a digest"), ok=ALL,
         why="the weights are read and checked instead"),
    Case("digest_missing", lambda r, o: (r / "checkpoint.pt.sha256").unlink(), ok=ALL),
    Case("target_view_garbage", text("target_view.npz", b"PK\x03\x04junk"), ok=ALL,
         why="a cache: computed again from the target"),
    Case("target_view_blank", lambda r, o: _blank_view(r), ok=ALL,
         why="a view of zeros not made for this run: computed again (it drew an empty p_data panel)"),
    # -- the re-run of the attacks (issue #28's "Done when"): hard links, bombs in other files ------------
    Case("hardlink_status_to_a_secret", hardlink("status.json", "{outside}/secret.txt"), "status.json",
         why="a hard link is a regular file: O_NOFOLLOW passes it; Compare refuses a file with two names"),
    Case("hardlink_snapshot_to_another_run", hardlink(SNAP, "{outside}/snapshots/step_00000020.npz"),
         "step_00000020.npz", ok=("evaluate",)),
    Case("config_hardlinked_elsewhere", linked_elsewhere("config.json", "config_backup.json"), "config.json",
         ok=COMMANDS, why="the command line reads a user's own folder: its hard links are the user's"),
    Case("metrics_hardlinked_elsewhere", linked_elsewhere("metrics.csv", "metrics_backup.csv"), "metrics.csv",
         ok=COMMANDS, why="a resume must not append through the link to the outside name (it renames a new file in)"),
    Case("checkpoint_zip_bomb", checkpoint_zip_bomb, "checkpoint.pt"),
    Case("metrics_one_line_of_10m_cells", text("metrics.csv", ",".join(["c"] * 10_000_000) + "\n"), "metrics.csv",
         why="the csv module split the line into 10 million cells (~140 MB) before the header check"),
    Case("snapshots_200_folders_deep", deep_folders, ok=ALL),
    Case("snapshot_with_an_rtl_name", text("snapshots/step_\u202e00000030.npz", "x"), ok=ALL),
    Case("untouched", lambda r, o: None, ok=ALL),
]
assert len({c.name for c in CASES}) == len(CASES)


def _blank_view(run):
    with np.load(run / "target_view.npz", allow_pickle=False) as d:
        arrays = {k: d[k] for k in d.files if k != "run"}
    arrays["p_data"] = np.zeros_like(arrays["p_data"])
    with open(run / "target_view.npz", "wb") as f:
        np.savez_compressed(f, **arrays)


def build_tree(root: Path, base: Path, other: Path) -> None:
    """root/runs/CASE: a copy of `base` made to lie; root/outside/CASE: a copy of `other` (the same
    sizes, another seed, twice as long) and a secret file, where the case's links lead."""
    for c in CASES:
        run, outside = root / "runs" / c.name, root / "outside" / c.name
        shutil.copytree(other, outside)
        (outside / "secret.txt").write_text(SECRET)
        shutil.copytree(base, run)
        c.build(run, outside)
        (root / "out" / c.name).mkdir(parents=True)


# ---- the child process: every command on every case ---------------------------------------------
def listing(folder: Path) -> dict:
    """Every entry under folder (links not followed): kind, size and modification time."""
    out = {}
    for dirpath, dirs, files in os.walk(folder):
        for n in dirs + files:
            p = Path(dirpath) / n
            st = os.lstat(p)
            out[str(p.relative_to(folder))] = (st.st_mode >> 12, st.st_size, st.st_mtime_ns)
    return out


def _release_fifos(folder: Path) -> None:
    """Unblock a reader stuck on a FIFO (the old code's hang): open it for writing, then close."""
    for dirpath, _, files in os.walk(folder):
        for n in files:
            p = Path(dirpath) / n
            if p.is_fifo():
                try:
                    os.close(os.open(p, os.O_WRONLY | os.O_NONBLOCK))
                except OSError:
                    pass


def _peak_rss_mb() -> float:
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _in_thread(fn, timeout):
    """fn() in a daemon thread: ('done', value) | ('raised', traceback text) | ('hang', None)."""
    import threading
    import traceback
    box = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException:           # noqa: BLE001 - a traceback is what we report
            box["error"] = traceback.format_exc()
    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        return "hang", None
    return ("raised", box["error"]) if "error" in box else ("done", box.get("value"))


def _argv(command, run, out):
    return {"figure": ["figure", str(run), "--out", str(out / "figure.png"), "--size", "480x320"],
            "animate": ["animate", str(run), "--out", str(out / "anim.gif"), "--size", "320x240", "--quiet"],
            "evaluate": ["evaluate", str(run), "--n", "100"],
            "resume": ["train", "--resume", str(run), "--steps-total", "30", "--quiet"]}[command]


def child(root: Path, timeout: float) -> None:
    import contextlib
    import io
    import resource
    lim = 3 << 30
    resource.setrlimit(resource.RLIMIT_DATA, (lim, lim))
    from toylab.cli import main
    done = set()
    if (root / "results.jsonl").exists():            # a child that died is continued where it stopped
        for line in (root / "results.jsonl").read_text().splitlines():
            r = json.loads(line)
            done.add((r["kind"], r.get("case"), r.get("command")))
    results = open(root / "results.jsonl", "a")

    def record(**r):
        results.write(json.dumps(r) + "\n")
        results.flush()

    names = [c.name for c in CASES if (root / "runs" / c.name).exists()]
    # Compare first (it only reads); then the commands, resume last (it writes)
    from dashboards import ids as I
    from dashboards.app import create_app
    from dashboards.client import TabClient
    (root / "dash").mkdir(exist_ok=True)
    app = create_app(runs_dir=str(root / "runs"), max_runs=1, root=root / "dash")
    tab = TabClient.over_flask(app.server)
    tab.open()
    base_rss = _peak_rss_mb()
    status, out = tab.call(I.CMP_RUNS, I.CMP_REFRESH)
    options = out.get(I.CMP_RUNS, {}).get("options", [])
    values = [o["value"] if isinstance(o, dict) else o for o in options]
    if ("list", None, None) not in done:
        record(kind="list", status=status, values=values, text=json.dumps(out))
        thief = TabClient.over_flask(app.server)
        thief.deps, thief.values = tab.deps, {**tab.values, f"{I.SESSION}.data": "A" * 32}
        status, out = thief.call(I.CMP_RUNS, I.CMP_REFRESH)
        record(kind="list_without_token", status=status, text=json.dumps(out))
    for name in names:
        if ("compare", name, None) in done:
            continue
        value = next((v for v in values if Path(v).name == name), name)
        before = (listing(root / "outside" / name), listing(root / "runs" / name))
        how, got = _in_thread(lambda: tab.call(I.CMP_MESSAGE, I.CMP_RUNS, **{f"{I.CMP_RUNS}__value": [value]}), timeout)
        if how == "hang":
            _release_fifos(root / "runs" / name)
        after = (listing(root / "outside" / name), listing(root / "runs" / name))
        status, out = got if how == "done" else (None, {})
        record(kind="compare", case=name, how=how, status=status, error=got if how == "raised" else None,
               message=str(out.get(I.CMP_MESSAGE, {}).get("children", "")),
               cards=len(out.get(I.CMP_GRID, {}).get("children") or []), text=json.dumps(out)[:20000],
               rss_mb=_peak_rss_mb() - base_rss, outside_changed=before[0] != after[0],
               run_changed=before[1] != after[1], listed=value in values)
    app.sessions.shutdown()
    for name in names:
        run, outside, out_dir = root / "runs" / name, root / "outside" / name, root / "out" / name
        for command in COMMANDS:
            if ("cli", name, command) in done:
                continue
            before = (listing(outside), listing(run))
            rss0 = _peak_rss_mb()
            stdout, stderr = io.StringIO(), io.StringIO()

            def call():
                with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                    try:
                        return main(_argv(command, run, out_dir))
                    except SystemExit as exit_:
                        return exit_.code
            how, got = _in_thread(call, timeout)
            if how == "hang":
                _release_fifos(run)
            after = (listing(outside), listing(run))
            record(kind="cli", case=name, command=command, how=how, rc=got if how == "done" else None,
                   error=got if how == "raised" else None, stdout=stdout.getvalue()[-4000:],
                   stderr=stderr.getvalue()[-4000:], rss_mb=_peak_rss_mb() - rss0,
                   outside_changed=sorted(set(before[0].items()) ^ set(after[0].items()))[:10],
                   run_changed=before[1] != after[1])
    results.close()


# ---- the tests ----------------------------------------------------------------------------------
def _train(out, steps, seed):
    from toylab import train
    return train(dataset="ring8", steps=steps, seed=seed, out=out, **SMALL).path


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile_folders")
    base = _train(root / "made" / "base", 20, 0)
    other = _train(root / "made" / "other", 40, 1)
    build_tree(root, base, other)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        proc = subprocess.run([sys.executable, __file__, str(root), "60"], cwd=root, env=env, timeout=1500,
                              capture_output=True, text=True)
        tail = proc.stderr[-3000:]
    except subprocess.TimeoutExpired:
        tail = "the child process timed out"
    rows = [json.loads(line) for line in (root / "results.jsonl").read_text().splitlines()]
    return {"root": root, "tail": tail,
            "cli": {(r["case"], r["command"]): r for r in rows if r["kind"] == "cli"},
            "compare": {r["case"]: r for r in rows if r["kind"] == "compare"},
            "list": next((r for r in rows if r["kind"] == "list"), None),
            "thief": next((r for r in rows if r["kind"] == "list_without_token"), None)}


def _names(expect) -> tuple:
    return expect if isinstance(expect, tuple) else (expect,)


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_the_command_refuses_a_lying_folder_with_one_clear_error(case, command, results):
    r = results["cli"].get((case.name, command))
    assert r is not None, f"no result (the child process died?): {results['tail']}"
    assert r["how"] != "hang", "the command hung"
    assert r["how"] != "raised", r["error"]
    assert "Traceback" not in r["stderr"] + r["stdout"]
    assert not r["outside_changed"], f"written or deleted outside the run: {r['outside_changed']}"
    assert r["rss_mb"] < 600, f"peak memory grew by {r['rss_mb']:.0f} MB"
    if command in case.ok:
        assert r["rc"] == 0, r["stderr"]
        return
    assert r["rc"] == 2, f"exit {r['rc']} (a refusal was expected): {r['stdout'][-500:]}"
    lines = r["stderr"].strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("toylab "), r["stderr"]
    assert any(n in lines[0] for n in _names(case.expect)), lines[0]
    assert SECRET not in r["stderr"] and "/dev/zero" not in r["stderr"]
    assert not r["run_changed"], "a refused command changed the run folder"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_compare_shows_a_message_and_never_a_500(case, results):
    r = results["compare"].get(case.name)
    assert r is not None, f"no result (the child process died?): {results['tail']}"
    assert r["how"] == "done", r["error"] or "hung"
    assert r["status"] == 200, r["text"][:2000]
    assert SECRET not in r["text"]
    assert str(results["root"]) not in r["text"], "a server path in the answer"
    assert not r["outside_changed"] and not r["run_changed"]
    assert r["rss_mb"] < 300, f"peak memory grew by {r['rss_mb']:.0f} MB"
    if "compare" in case.ok:
        assert r["cards"] == 1 and r["message"] == "", r["message"]
        return
    assert r["cards"] == 0
    assert r["message"].startswith(f"run folder {case.name}: ") or \
        r["message"].startswith(f"{case.name}: not a run"), r["message"]
    assert (not r["listed"]) or any(n in r["message"] for n in _names(case.expect)), r["message"]


def test_the_compare_list_needs_the_token_and_names_no_server_path(results):
    listed, thief = results["list"], results["thief"]
    assert listed["status"] == 200 and str(results["root"]) not in listed["text"]
    assert "untouched" in listed["values"]
    assert thief["status"] == 200
    assert "untouched" not in thief["text"] and "reload the page" in thief["text"]


def test_every_case_was_run(results):
    assert len(results["cli"]) == len(CASES) * len(COMMANDS), results["tail"]
    assert len(results["compare"]) == len(CASES), results["tail"]


# ---- the guarded reader's new checks, directly ------------------------------------------------------
def test_a_zip_declaring_gigabytes_is_refused_from_its_headers(tmp_path):
    from toylab.engine.guarded import FileRefused, RunDir
    with zipfile.ZipFile(tmp_path / "checkpoint.pt", "w", zipfile.ZIP_DEFLATED) as z:
        with z.open("archive/data/0", "w", force_zip64=True) as f:
            for _ in range(256):
                f.write(bytes(1 << 22))                  # 1 GB of zeros, ~1 MB on disk
    assert (tmp_path / "checkpoint.pt").stat().st_size < 2 << 20
    with pytest.raises(FileRefused, match=r"checkpoint.pt: declares 1,073,741,824 bytes in 1 entries once "
                                          r"unpacked, over the 10,000,000-byte limit"):
        RunDir(tmp_path).read_archive("checkpoint.pt", 10_000_000, "a checkpoint")
    (tmp_path / "plain.pt").write_bytes(b"not a zip")            # not an archive: its reader refuses it
    assert RunDir(tmp_path).read_archive("plain.pt", 100) == b"not a zip"


def test_a_metrics_line_over_the_cap_is_refused_before_it_is_split(tmp_path):
    from toylab.engine.guarded import CSV_LINE, RunDir, RunFileError
    (tmp_path / "metrics.csv").write_text("step,member\n0," + "9" * CSV_LINE + "\n")
    with pytest.raises(RunFileError, match=f"metrics.csv: has a line longer than {CSV_LINE:,} characters"):
        RunDir(tmp_path).read_table("metrics.csv")
    (tmp_path / "metrics.csv").write_text("step,member,d_loss\n0,0,1.5\r\n5,0,2\n")
    table = RunDir(tmp_path).read_table("metrics.csv")
    assert table["step"].tolist() == [0, 5] and table["d_loss"].tolist() == [1.5, 2.0]


def test_a_hard_link_is_refused_under_a_runs_folder_and_read_on_the_command_line(tmp_path):
    from toylab.engine.guarded import FileRefused, RunDir
    run = tmp_path / "runs" / "r"
    run.mkdir(parents=True)
    (tmp_path / "secret.txt").write_text(SECRET)
    os.link(tmp_path / "secret.txt", run / "status.json")
    with pytest.raises(FileRefused, match=r"status.json: is a hard link \(2 names\)") as info:
        RunDir(run, root=tmp_path / "runs").read("status.json", 1000)
    assert SECRET not in str(info.value)
    assert RunDir(run).read("status.json", 1000) == SECRET.encode()      # the user's own folder
    (tmp_path / "runs" / "out").symlink_to(tmp_path)                       # a run folder linked out
    with pytest.raises(ValueError, match="leads out of the runs folder"):
        RunDir(tmp_path / "runs" / "out", root=tmp_path / "runs")


if __name__ == "__main__":      # the child process of `results`
    child(Path(sys.argv[1]), float(sys.argv[2]))
