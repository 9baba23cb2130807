"""Runs that never lose or corrupt data: signals sent to real training processes, divergence
after a pause, resume cut back to its checkpoint, lost checkpoints, a full disk."""

import errno
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from toylab import Trainer, load_run, resume, train
from toylab import runs as R
from toylab.engine import files as F
from toylab.cli import main

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--g-hidden", "16", "--d-hidden", "16", "--batch-size", "32", "--snapshot-every", "10",
         "--metrics-every", "0", "--grid-size", "10", "--n-fixed", "50", "--manifold-size", "3", "--quiet"]


def env1():
    """The environment of a child process: this checkout first, one thread (as the tests)."""
    return {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
            "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def like_a_terminal():
    """Child's signal dispositions as in a terminal: a shell starts background jobs (and so
    a CI runner's whole test run, sometimes) with SIGINT ignored, and an ignored SIGINT stays
    ignored across exec (toylab then rightly keeps ignoring it, as nohup asks)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_for(cond, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_training_after_a_whole_round_and_resume_is_exact_to_the_bit(tmp_path, sig):
    out = tmp_path / "r"
    proc = subprocess.Popen([sys.executable, "-m", "toylab", "train", "--out", str(out), "--steps", "1000000",
                             *SMALL], env=env1(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=like_a_terminal)
    try:
        wait_for(lambda: len(R.snapshot_files(out)) >= 4, 60, "training to start")
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=120)     # generous: a loaded CI machine is slow
    finally:
        proc.kill()
    assert proc.returncode == 130 and "Traceback" not in stderr, stderr
    status = json.loads((out / "status.json").read_text())
    assert status["status"] == "interrupted" and "checkpoint_step" not in status     # the checkpoint is that round's
    stopped = status["step"]
    assert f"saved at round {stopped}" in stdout
    total = stopped + 27                                  # mid log interval and mid snapshot interval
    cont = resume(out, steps=total)
    ref = train(load_run(out).config.replace(steps=total), out=tmp_path / "ref")
    assert torch.equal(cont.generator.flat, ref.generator.flat)
    assert torch.equal(cont.discriminator.flat, ref.discriminator.flat)
    a, b = load_run(out).history, load_run(ref.path).history
    for k in ("step", "d_loss", "g_loss", "d_grad_norm", "g_grad_norm"):
        np.testing.assert_array_equal(a[k], b[k])
    steps = {R.snapshot_step(f) for f in R.snapshot_files(out)}
    assert steps - {R.snapshot_step(f) for f in R.snapshot_files(ref.path)} <= {stopped}   # + where it resumed


def test_divergence_after_pause_and_start_is_recorded_and_the_finite_checkpoint_survives(tiny, tmp_path, capsys):
    t = Trainer(tiny.replace(steps=200), out=tmp_path / "p")
    t.callbacks.append(lambda tr, snap: snap.step < 40)   # Pause at round 40 (the dashboard calls stop())
    first = t.fit()
    assert first.status == "stopped" and t.step == 40
    good = t.gen.flat.detach().clone()

    def poison(tr, snap):                                # a blow-up during the second fit
        if snap.step == 60:
            tr.gen.flat.data[0, 0] = math.inf

    t.callbacks = [poison]
    run = t.fit()                                        # Start after Pause
    assert run.status == "diverged" and run.member_status == ["diverged"] and run.diverged_step == [61]
    status = json.loads((run.path / "status.json").read_text())
    assert status["status"] == "diverged" and status["checkpoint_step"] == 40
    back = load_run(run.path)
    assert back.status == "diverged" and torch.equal(back.generator.flat, good)
    assert torch.isfinite(back.discriminator.flat).all()
    assert main(["evaluate", str(run.path)]) == 0
    assert "diverged at round 80 (weights of round 40, the last finite checkpoint)" in capsys.readouterr().out


def test_one_diverged_member_keeps_its_last_finite_weights_in_the_checkpoint(tiny, tmp_path):
    def poison(tr, snap):
        if snap.step == 20:
            tr.disc.flat.data[1] = math.nan

    run = Trainer([tiny.replace(seed=s) for s in range(2)], out=tmp_path / "e", callbacks=[poison]).fit()
    assert run.member_status == ["completed", "diverged"]
    state = torch.load(run.path / "checkpoint.pt", weights_only=True)
    assert state["step"] == 60 and torch.isfinite(state["disc"]["flat"]).all()
    assert torch.equal(state["gen"]["flat"][0], run.generator.flat[0].detach())   # the healthy member is current


def test_manual_steps_after_a_finished_fit_still_check_divergence(tiny):
    t = Trainer(tiny.replace(steps=20))
    t.fit()
    t.gen.flat.data[0, 0] = math.nan
    t.round()
    t.flush()
    assert t.member_status == ["diverged"] and t.diverged_step == [21]


def test_resume_to_fewer_rounds_than_a_dead_run_reached_cuts_the_folder_back(tiny, tmp_path):
    half = train(tiny.replace(steps=100, snapshot_every=10), out=tmp_path / "r")   # checkpoint at 100
    at_100 = {n: (half.path / n).read_bytes() for n in ("checkpoint.pt", "checkpoint.pt.sha256")}
    full = resume(half.path, steps=200)                                             # ... and at 200
    ckpt = torch.load(full.path / "checkpoint.pt", weights_only=True)
    # a run killed at round 190 whose last checkpoint is round 100: put that checkpoint back (the
    # run's own: another run's checkpoint would be refused)
    for name, data in at_100.items():
        (full.path / name).write_bytes(data)
    assert ckpt["step"] == 200
    run = resume(full.path, steps=120)
    assert run.step == 120
    assert max(R.snapshot_step(f) for f in R.snapshot_files(full.path)) == 120
    back = load_run(full.path)
    assert back.history["step"].max() == 120 and [s.step for s in back.snapshots][-1] == 120


@pytest.mark.parametrize("damage", ["missing", "truncated", "garbage", "foreign"])
def test_a_lost_checkpoint_is_an_error_never_an_untrained_run(tiny, tmp_path, capsys, damage):
    run = train(tiny, out=tmp_path / "r")
    ckpt = run.path / "checkpoint.pt"
    if damage == "missing":
        ckpt.unlink()
    elif damage == "truncated":
        ckpt.write_bytes(ckpt.read_bytes()[:300])
    elif damage == "garbage":
        ckpt.write_bytes(b"not a checkpoint at all")
    else:
        other = train(tiny.replace(g_hidden=8), out=tmp_path / "o")
        ckpt.write_bytes((other.path / "checkpoint.pt").read_bytes())
    for cmd in (["evaluate", str(run.path)], ["figure", str(run.path), "--out", str(tmp_path / "f.png")],
                ["animate", str(run.path), "--out", str(tmp_path / "a.gif")],
                ["train", "--resume", str(run.path), "--steps-total", "100", "--quiet"]):
        assert main(cmd) == 2, cmd
        err = capsys.readouterr().err
        assert "checkpoint.pt" in err and "Traceback" not in err
    assert not (tmp_path / "f.png").exists() and not (tmp_path / "a.gif").exists()


def test_a_truncated_snapshot_is_named(tiny, tmp_path, capsys):
    run = train(tiny, out=tmp_path / "r")
    f = R.snapshot_files(run.path)[1]
    f.write_bytes(f.read_bytes()[:100])
    for cmd in (["figure", str(run.path), "--step", str(R.snapshot_step(f)), "--out", str(tmp_path / "f.png")],
                ["animate", str(run.path), "--out", str(tmp_path / "a.gif")]):
        assert main(cmd) == 2
        assert f.name in capsys.readouterr().err
    # a figure reads only the snapshot it draws: the last one still draws
    assert main(["figure", str(run.path), "--out", str(tmp_path / "f.png")]) == 0


@pytest.mark.parametrize("total", ["-5", "0"])
def test_steps_total_must_be_positive(tiny, tmp_path, capsys, total):
    run = train(tiny, out=tmp_path / "r")
    before = (run.path / "checkpoint.pt").read_bytes()
    assert main(["train", "--resume", str(run.path), "--steps-total", total, "--quiet"]) == 2
    assert "steps_total (--steps-total): must be a positive number" in capsys.readouterr().err
    assert (run.path / "checkpoint.pt").read_bytes() == before
    assert main(["train", "--resume", str(run.path), "--steps-total", "30", "--quiet"]) == 2
    assert "below round 60" in capsys.readouterr().err


def test_a_full_disk_names_the_cause_keeps_earlier_files_and_resume_continues(tiny, tmp_path, monkeypatch):
    full = train(tiny.replace(steps=100, snapshot_every=10), out=tmp_path / "ref")
    real = F._write_file
    state = {"writes": 0}

    def filling(fd, data):                  # the disk fills up after a few files
        state["writes"] += 1
        if state["writes"] > 12:
            os.close(fd)
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd, data)

    monkeypatch.setattr(F, "_write_file", filling)
    t = Trainer(tiny.replace(steps=100, snapshot_every=10), out=tmp_path / "r")
    with pytest.raises(R.DiskFullError, match="no space left on the device while writing .*files written before "
                                              "are intact"):
        t.fit()
    assert not list(t.path.rglob("*.tmp"))
    json.loads((t.path / "status.json").read_text())           # whole files only
    monkeypatch.setattr(F, "_write_file", real)                # space is back
    run = resume(t.path, steps=100)
    assert run.status == "completed" and torch.equal(run.generator.flat, full.generator.flat)


def test_a_full_disk_is_one_clear_cli_error(tmp_path, monkeypatch, capsys):
    def full(fd, data):
        os.close(fd)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(F, "_write_file", full)
    assert main(["train", "--out", str(tmp_path / "r"), "--steps", "20", *SMALL]) == 2
    err = capsys.readouterr().err
    assert "no space left on the device" in err and "Traceback" not in err and "unexpected pos" not in err


# ---- sweeps: Ctrl-C and kill -9 --------------------------------------------------------------
SWEEP = {"name": "faults", "base": {"dataset": "ring8", "g_hidden": 16, "d_hidden": 16, "batch_size": 64,
                                    "steps": 120, "snapshot_every": 20, "metrics_every": 40, "n_fixed": 200,
                                    "grid_size": 10, "manifold_size": 3},
         "seeds": [0], "variants": [{"label": "ns"}, {"label": "minimax", "loss": "minimax"},
                                    {"label": "hinge", "loss": "hinge"}]}


def sweep(spec_file, out):
    return subprocess.Popen([sys.executable, "-m", "toylab", "sweep", str(spec_file), "--out", str(out),
                             "--workers", "2", "--quiet"], env=env1(), start_new_session=True,
                            preexec_fn=like_a_terminal,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def group(pgid):
    """Live processes of a process group (zombies excluded)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            out.append(int(stat.parent.name))
    return out


class Inline:
    """An executor that runs each job at once in this process (threads = 1, as the 2-worker sweep)."""

    def submit(self, fn, *args):
        from concurrent.futures import Future
        f = Future()
        f.set_result(fn(*args))
        return f


def test_sweep_workers_must_be_positive(tmp_path, capsys):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(SWEEP))
    assert main(["sweep", str(spec), "--out", str(tmp_path / "e"), "--workers", "0", "--quiet"]) == 2
    assert "workers: must be at least 1 (got 0)" in capsys.readouterr().err
    assert not (tmp_path / "e").exists()


@pytest.mark.slow
def test_sweep_ctrl_c_records_no_interrupted_job_and_a_rerun_equals_an_uninterrupted_sweep(tmp_path):
    from toylab import experiments as X
    spec = tmp_path / "spec.json"
    # the third job is longer, so the sweep is surely still running when Ctrl-C comes, however
    # late the poll below notices that the first jobs are training on a loaded machine
    variants = SWEEP["variants"][:2] + [{**SWEEP["variants"][2], "steps": 600}]
    spec.write_text(json.dumps({**SWEEP, "variants": variants}))
    out = tmp_path / "int"
    proc = sweep(spec, out)
    try:
        wait_for(lambda: len(list(out.glob("runs/*/snapshots/*.npz"))) >= 3, 90, "jobs to be training")
        t0 = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)                     # Ctrl-C in the terminal: the whole group
        _, stderr = proc.communicate(timeout=30)
        took = time.monotonic() - t0
    finally:
        proc.kill()
    assert proc.returncode == 130 and "Traceback" not in stderr, stderr
    assert "Run the same command again" in stderr and took < 10
    done = sorted(out.glob("results/*.json"))
    assert len(done) < 3                                       # stopped: the queued job never started
    for f in done:
        assert all(r["status"] != "interrupted" and r["steps"] == (600 if r["setting"] == "hinge" else 120)
                   for r in json.loads(f.read_text()))
    wait_for(lambda: not group(proc.pid), 5, "the workers to be gone")
    again = sweep(spec, out)
    _, stderr = again.communicate(timeout=180)
    assert again.returncode == 0, stderr
    X.run_experiment({**SWEEP, "variants": variants}, tmp_path / "ref", executor=Inline(), progress=False)
    assert (out / "results.csv").read_text() == (tmp_path / "ref" / "results.csv").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("phase", ["starting", "training", "idle worker"])
def test_kill_9_of_a_sweep_leaves_no_orphan_in_any_phase(tmp_path, phase):
    spec = tmp_path / "spec.json"
    long = {"label": "long", "steps": 100_000}
    spec.write_text(json.dumps({**SWEEP, "variants": [SWEEP["variants"][0], long]}))
    out = tmp_path / "e"
    proc = sweep(spec, out)
    try:
        if phase == "starting":                              # workers spawned, still importing
            wait_for(lambda: len(group(proc.pid)) >= 3, 60, "worker processes")
        elif phase == "training":
            wait_for(lambda: len(list(out.glob("runs/*/snapshots/*.npz"))) >= 2, 90, "training")
        else:                                                 # the short job done: its worker waits
            wait_for(lambda: list(out.glob("results/*.json")), 90, "the short job")
        assert len(group(proc.pid)) >= 2
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        wait_for(lambda: not group(proc.pid), 5, f"no orphan 5 s after kill -9 ({group(proc.pid)})")
    finally:
        for pid in group(proc.pid):
            os.kill(pid, signal.SIGKILL)


# ---- a points run carries its points ----------------------------------------------------------
def test_a_points_run_keeps_its_points_and_scores_the_same_from_anywhere(tiny, tmp_path, monkeypatch):
    from toylab import metrics
    rng = np.random.default_rng(0)
    src = tmp_path / "data"
    src.mkdir()
    np.savetxt(src / "cloud.csv", rng.normal(size=(300, 2)) * [1.0, 0.3], delimiter=",")
    monkeypatch.chdir(src)
    run = train(tiny.replace(dataset="points", dataset_params={"path": "cloud.csv"}), out=tmp_path / "r")
    before = metrics.evaluate(load_run(run.path), n=500)[0]["js"]
    assert (run.path / "points.npy").exists()
    np.savetxt(src / "cloud.csv", rng.normal(size=(300, 2)) + 5, delimiter=",")    # the source is edited ...
    monkeypatch.chdir(tmp_path)                                                    # ... and we are elsewhere
    back = load_run(run.path)
    assert metrics.evaluate(back, n=500)[0]["js"] == before
    torch.testing.assert_close(back.target.points, run.target.points)
    np.save(run.path / "points.npy", np.zeros((300, 2), np.float32) + np.arange(300)[:, None])   # tampered copy
    with pytest.raises(ValueError, match="points.npy: its points differ from those the run was trained on"):
        load_run(run.path)


# ---- memory ---------------------------------------------------------------------------------
MEMORY_SCRIPT = """
import torch, toylab
torch.set_num_threads(1)
def rss():
    return int(open('/proc/self/statm').read().split()[1]) * 4096 / 2**20
# snapshots every 7 rounds: not a multiple of log_every, the case where the heap's holes grew
cfg = toylab.TrainConfig(steps=700, snapshot_every=7, max_snapshots=200, metrics_every=0)
toylab.train(cfg.replace(steps=14))
before = rss()
run = toylab.train(cfg)
print(len(run.snapshots), rss() - before)
"""


@pytest.mark.slow
def test_kept_snapshots_cost_about_their_size_in_memory():
    """Each snapshot holds ~60 kB; held among the training step's buffers they once cost 5-10 MB
    of fragmented heap each (a 20,000-round run reached 1.36 GB)."""
    out = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT], env=env1(), capture_output=True, text=True,
                         timeout=300)
    kept, grown = out.stdout.split()
    assert int(kept) > 100 and float(grown) / int(kept) < 0.25, out.stdout    # MB per kept snapshot
    # (measured: 0.08 MB; 0.5 MB without malloc_trim, ~10 MB with the arrays on the heap)


def test_point_cloud_density_is_binned_fast_and_matches_the_exact_sum():
    from toylab.engine.datasets import PointCloud
    from toylab.pictures.panels import pixel_density
    rng = np.random.default_rng(0)
    cloud = PointCloud(np.r_[rng.normal(size=(150, 2)), rng.normal(size=(150, 2)) * 0.5 + 3])

    class Exact:                      # the generic path: the exact density averaged over each pixel
        bounds, prob = cloud.bounds, cloud.prob

    fast, exact = pixel_density(cloud, 40), pixel_density(Exact, 40)
    assert np.abs(fast - exact).sum() / exact.sum() < 0.01
    big = PointCloud(rng.normal(size=(100_000, 2)))
    t0 = time.perf_counter()
    p = pixel_density(big, 160)
    assert time.perf_counter() - t0 < 5 and p.shape == (160, 160)


@pytest.mark.parametrize("file,content", [("config.json", "{}"), ("config.json", "[1, 2]"),
                                          ("config.json", '{"config": {"loss": "nope"}, "members": [{}]}'),
                                          ("status.json", "{not json"), ("metrics.csv", "step,member\n1\n")])
def test_a_damaged_run_file_is_named_not_a_traceback(tiny, tmp_path, capsys, file, content):
    run = train(tiny, out=tmp_path / "r")
    (run.path / file).write_text(content)
    assert main(["evaluate", str(run.path)]) == 2
    err = capsys.readouterr().err
    assert (file in err or "loss" in err) and "Traceback" not in err


@pytest.mark.parametrize("suffix", [".gif", ".html"])
def test_an_export_on_a_full_disk_is_a_disk_full_error_and_the_old_file_stays(tmp_path, monkeypatch, suffix):
    """Exports go through the one atomic writer (engine.files.atomic_write), as run files do."""
    import plotly.graph_objects as go

    from toylab.pictures.export import FrameWriter, write_html
    out = tmp_path / f"clip{suffix}"
    out.write_text("the lecture's old clip")

    def full(fd, data):
        os.close(fd)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(F, "_write_file", full)
    with pytest.raises(R.DiskFullError, match=f"while writing {out}"):
        if suffix == ".html":
            write_html(go.Figure(), out, overwrite=True)
        else:
            with FrameWriter(out, fps=10, overwrite=True) as w:
                w.write(np.zeros((8, 8, 3), np.uint8))
    assert out.read_text() == "the lecture's old clip" and [p.name for p in tmp_path.iterdir()] == [out.name]
