"""A class of clients on one dashboard server: memory, threads and CPU while they work and after they leave.

    python benchmarks/bench_soak.py [--clients 30] [--poll-s 20] [--long-rounds 20000] [--json]

Starts `python -m dashboards` on 127.0.0.1 (a free port; nothing leaves this machine) as a
separate process, then:

1. warm-up: one client opens a tab, trains a little and closes it (every code path loaded);
   the server's RSS after that, idle, is the baseline;
2. soak: `--clients` simulated tabs (threads of this process, each a TabClient on the Dash
   callback endpoint) open the page, press Start at about the same time (default form:
   ring8, 5,000 rounds), poll every 0.4 s as the page does for `--poll-s` seconds, then
   close (the goodbye beacon). Meanwhile one more client times a light callback (the panel
   check-boxes) every 0.1 s. Reported: how many Starts ran, waited or were refused; peak
   RSS, threads and CPU; p50/p95 of the light callback while runs train;
3. after the last close: RSS, threads and CPU every 0.5 s for `--settle-s` seconds, and
   the seconds until CPU is idle (< 5 % over 1 s) and RSS is back within 10 % of the baseline;
4. one long run (`--long-rounds` rounds at the default form, snapshot every 50): the
   server's RSS before and after, i.e. the memory one live run holds (0 skips it).

Bounded: at most `--clients` tabs, each for `--poll-s` seconds; the server is stopped at
the end whatever happens. Linux only (reads /proc/PID).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dashboards import ids as I  # noqa: E402
from dashboards.client import TabClient  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


class Proc:
    """RSS, threads and CPU time of a process, from /proc."""

    def __init__(self, pid: int):
        self.pid = pid

    def rss_mb(self) -> float:
        return self._status("VmRSS") / 1024

    def threads(self) -> int:
        return int(self._status("Threads"))

    def _status(self, key) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
        raise KeyError(key)

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS

    def cpu_percent(self, window: float = 1.0) -> float:
        c0, t0 = self.cpu_s(), time.monotonic()
        time.sleep(window)
        return 100 * (self.cpu_s() - c0) / (time.monotonic() - t0)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_up(base: str, timeout: float = 60.0) -> None:
    import urllib.request
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(base + "/", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the dashboard did not start")


def pct(values, q) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))] if values else float("nan")


def _message(out) -> str:
    return str(out.get(I.MESSAGE, {}).get("children", ""))


def warm_up(base):
    tab = TabClient.over_http(base)
    tab.open()
    tab.call(I.MESSAGE, I.START, **{"f-steps__value": 200})
    end = time.monotonic() + 60
    while time.monotonic() < end and "finished" not in str(tab.call(I.STATUS, I.TICK)[1].get(I.STATUS)):
        time.sleep(0.4)
    tab.call(I.XY_MESSAGE, I.XY_RUN)
    tab.close()


def soak(base, proc, n_clients, poll_s):
    outcome, lock = {"running": 0, "queued": 0, "refused": 0, "no tab": 0, "errors": 0}, threading.Lock()
    go = threading.Barrier(n_clients + 1)
    closed = []

    def client(i):
        tab = TabClient.over_http(base)
        try:
            sid = tab.open()
            go.wait()
            if sid is None:
                kind = "no tab"
            else:
                status, out = tab.call(I.MESSAGE, I.START)
                msg = _message(out)
                kind = ("refused" if "the lab is busy" in msg else "queued" if "waits in line" in msg
                        else "running" if status == 200 and not msg else "errors")
            with lock:
                outcome[kind] += 1
            end = time.monotonic() + poll_s
            while sid and time.monotonic() < end:
                tab.call(I.STATUS, I.TICK)
                time.sleep(0.4)                       # the page's dcc.Interval
        except Exception as err:                      # counted, never hangs the benchmark
            with lock:
                outcome["errors"] += 1
            print(f"client {i}: {type(err).__name__}: {err}", file=sys.stderr)
        finally:
            tab.close()
            closed.append(time.monotonic())

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(n_clients)]
    for t in threads:
        t.start()
    go.wait()
    # the light callback, timed while the runs train
    probe = TabClient.over_http(base)
    probe.open()
    light, peak = [], {"rss_mb": 0.0, "threads": 0, "cpu_percent": 0.0}
    end = time.monotonic() + poll_s
    last_cpu, last_t = proc.cpu_s(), time.monotonic()
    while time.monotonic() < end:
        t0 = time.perf_counter()
        probe.call(I.PANEL_BOX.format("p_data"), f"{I.SHOWN}.value")
        light.append(1000 * (time.perf_counter() - t0))
        peak["rss_mb"] = max(peak["rss_mb"], proc.rss_mb())
        peak["threads"] = max(peak["threads"], proc.threads())
        now = time.monotonic()
        if now - last_t >= 1.0:
            c = proc.cpu_s()
            peak["cpu_percent"] = max(peak["cpu_percent"], 100 * (c - last_cpu) / (now - last_t))
            last_cpu, last_t = c, now
        time.sleep(0.1)
    probe.close()
    for t in threads:
        t.join(poll_s + 120)
    return outcome, light, peak, max(closed)


def settle(proc, baseline_mb, settle_s, last_close):
    """Samples every 0.5 s; the times from which on CPU stays idle (< 5 %) and RSS stays within 10 %."""
    trace = []
    end = time.monotonic() + settle_s
    while time.monotonic() < end:
        cpu = proc.cpu_percent(0.5)
        t = time.monotonic() - last_close
        trace.append({"t_s": round(t, 1), "rss_mb": round(proc.rss_mb(), 1), "threads": proc.threads(),
                      "cpu_percent": round(cpu, 1)})

    def settled(ok):
        bad = [x["t_s"] for x in trace if not ok(x)]
        return trace[0]["t_s"] if not bad else (None if bad[-1] == trace[-1]["t_s"] else bad[-1] + 0.5)
    return (trace, settled(lambda x: x["cpu_percent"] < 5),
            settled(lambda x: x["rss_mb"] <= 1.1 * baseline_mb))


def long_run(base, proc, rounds):
    tab = TabClient.over_http(base)
    tab.open()
    time.sleep(1.0)
    before = proc.rss_mb()
    t0 = time.monotonic()
    status, out = tab.call(I.MESSAGE, I.START, **{"f-steps__value": rounds})
    assert not _message(out), _message(out)
    peak, text = before, ""
    while True:
        text = str(tab.call(I.STATUS, I.TICK)[1].get(I.STATUS, {}).get("children", text))
        peak = max(peak, proc.rss_mb())
        if "finished" in text or "failed" in text or time.monotonic() - t0 > 1800:
            break
        time.sleep(1.0)
    after = proc.rss_mb()
    tab.close()
    return {"rounds": rounds, "seconds": round(time.monotonic() - t0, 1), "status": text,
            "rss_before_mb": round(before, 1), "rss_peak_mb": round(peak, 1), "rss_after_mb": round(after, 1),
            "held_mb": round(peak - before, 1)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=30)
    ap.add_argument("--poll-s", type=float, default=20.0)
    ap.add_argument("--settle-s", type=float, default=15.0)
    ap.add_argument("--long-rounds", type=int, default=20_000)
    ap.add_argument("--max-runs", type=int, default=2, help="the server's --max-runs (2: the issue's two runs)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    assert 1 <= args.clients <= 64 and 0 < args.poll_s <= 120, "bounded: at most 64 clients, 120 s each"

    port = _port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "dashboards", "--host", "127.0.0.1", "--port", str(port),
                               "--max-sessions", str(args.clients + 8), "--max-per-client", str(args.clients + 8),
                               "--max-runs", str(args.max_runs)],
                              cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proc = Proc(server.pid)
    try:
        _wait_up(base)
        cold = proc.rss_mb()
        warm_up(base)
        time.sleep(3.0)                                  # the closed run's garbage pass (once a second)
        baseline = {"rss_mb": round(proc.rss_mb(), 1), "threads": proc.threads(),
                    "cpu_percent": round(proc.cpu_percent(1.0), 1), "rss_cold_mb": round(cold, 1)}
        outcome, light, peak, last_close = soak(base, proc, args.clients, args.poll_s)
        trace, idle_at, rss_at = settle(proc, baseline["rss_mb"], args.settle_s, last_close)
        result = {
            "clients": args.clients, "max_runs": args.max_runs, "poll_s": args.poll_s, "cores": os.cpu_count(),
            "baseline": baseline, "starts": outcome,
            "peak": {k: round(v, 1) for k, v in peak.items()},
            "light_callback_ms": {"n": len(light), "p50": round(pct(light, 50), 1), "p95": round(pct(light, 95), 1),
                                  "max": round(max(light), 1)},
            "after_last_close": {"cpu_idle_after_s": idle_at, "rss_within_10pct_after_s": rss_at,
                                 "final": trace[-1], "trace": trace},
        }
        if args.long_rounds:
            result["long_run"] = long_run(base, proc, args.long_rounds)
    finally:
        server.terminate()
        server.wait(30)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    b, p, lc, a = result["baseline"], result["peak"], result["light_callback_ms"], result["after_last_close"]
    print(f"{args.clients} clients, --max-runs {args.max_runs}, {os.cpu_count()} cores")
    print(f"baseline (warm, idle): {b['rss_mb']} MB RSS (cold {b['rss_cold_mb']}), {b['threads']} threads, "
          f"{b['cpu_percent']} % CPU")
    print(f"starts: {outcome}")
    print(f"peak while loaded: {p['rss_mb']} MB, {p['threads']} threads, {p['cpu_percent']} % CPU")
    print(f"light callback while runs train: p50 {lc['p50']} ms, p95 {lc['p95']} ms, max {lc['max']} ms "
          f"({lc['n']} calls)")
    print(f"after the last close: CPU idle after {a['cpu_idle_after_s']} s, RSS within 10 % after "
          f"{a['rss_within_10pct_after_s']} s; final {a['final']}")
    if "long_run" in result:
        r = result["long_run"]
        print(f"one live run of {r['rounds']:,} rounds ({r['seconds']} s, {r['status']}): RSS {r['rss_before_mb']} -> "
              f"peak {r['rss_peak_mb']} -> {r['rss_after_mb']} MB; held {r['held_mb']} MB")


if __name__ == "__main__":
    main()
