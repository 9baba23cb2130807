"""A class of clients on one dashboard server: memory, threads and CPU while they work and after they leave.

    python benchmarks/bench_soak.py [--clients 30] [--browsers 2] [--poll-s 20] [--long-rounds 20000] [--json]

Starts `python -m dashboards` on 127.0.0.1 (a free port; nothing leaves this machine) as a
separate process, then:

1. warm-up: one client opens a tab, trains a little and closes it (every code path loaded);
   the server's RSS after that, idle, is the baseline;
2. soak: `--clients` simulated tabs (threads of this process, each a TabClient on the Dash
   callback endpoint) and `--browsers` real pages (headless Chromium) open the page and press
   Start at about the same time, each with its own settings (seed, learning rates, ring8 or
   grid25: the default shapes, so they may share a group's rounds), then poll as the page does
   for `--poll-s` seconds - one poll in flight, the reply's own interval between - and close
   (the goodbye beacon). One more tab times a user's action (a panel check-box: the update
   callback draws at once) every 0.5 s. Reported: how many Starts ran, waited or were refused;
   each session's rounds/s; p50/p95 of that update and of the polls; the longest time any page
   showed no new snapshot while its run trained; peak RSS, threads and CPU;
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
import re
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
from dashboards.pages.train_layout import GRAPHS  # noqa: E402

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


STEP_RE = re.compile(r"step ([\d,]+) /")


def _step(text) -> int | None:
    m = STEP_RE.search(str(text))
    return int(m.group(1).replace(",", "")) if m else None


def _settings(i: int) -> dict:
    """Client i's own form: its seed, learning rates and target (the default shapes: one kind)."""
    return {"f-seed__value": i, "f-lr_d__value": [2e-4, 4e-4, 1e-4][i % 3], "f-lr_g__value": [2e-4, 1e-4][i % 2],
            "f-dataset__value": "grid25" if i % 4 == 3 else "ring8",
            "f-dataset_params__value": "n=5, spacing=2, std=0.05" if i % 4 == 3 else "k=8, radius=2, std=0.02",
            "f-steps__value": 100_000}


def client_address(i: int) -> str:
    """Client i's own loopback address (127.0.0.10 on): in a class each student's computer is its own
    address to the server, and the lab's fair shares are per address (Linux routes all of
    127.0.0.0/8 to the loopback, so no set-up is needed)."""
    return f"127.0.0.{10 + i}"


def soak(base, proc, n_clients, poll_s, browsers=0):
    """n_clients HTTP tabs (and `browsers` headless Chromium pages) each train their own run and
    poll as the page does (one poll in flight, the reply's interval between): per session its
    rounds/s, each update's latency, and the longest wait for a new snapshot while it trains."""
    outcome, lock = {"running": 0, "queued": 0, "refused": 0, "no tab": 0, "errors": 0}, threading.Lock()
    go = threading.Barrier(n_clients + browsers + 1)
    closed, sessions, latencies = [], [], []

    def client(i):
        tab = TabClient.over_http(base, source=client_address(i))
        try:
            sid = tab.open()
            go.wait()
            if sid is None:
                kind = "no tab"
            else:
                status, out = tab.call(I.MESSAGE, I.START, **_settings(i))
                msg = _message(out)
                kind = ("refused" if "the lab is busy" in msg else "queued" if "waits in line" in msg
                        else "running" if status == 200 and not msg else "errors")
                if kind == "errors":
                    print(f"client {i}: Start answered {status}: {msg[:200]}", file=sys.stderr)
            with lock:
                outcome[kind] += 1
            seen, new_at, lat = [], [], []
            end = time.monotonic() + poll_s
            while sid and time.monotonic() < end:
                t0 = time.perf_counter()
                status, out = tab.call(I.STATUS, I.TICK)
                now = time.monotonic()
                lat.append(1000 * (time.perf_counter() - t0))
                step = _step(tab.values.get(f"{I.STATUS}.children"))
                if step is not None:
                    seen.append((now, step))
                if any(I.GRAPH.format(g) in out for g in GRAPHS):
                    new_at.append((now, step))           # a reply that drew a new snapshot
                time.sleep(tab.poll_wait_ms() / 1000)   # the reply's pace, as the page waits
            with lock:
                latencies.extend(lat)
                if len(seen) > 2:
                    (t0, s0), (t1, s1) = seen[len(seen) // 4], seen[-1]        # after the start-up
                    gaps = [b[0] - a[0] for a, b in zip(new_at, new_at[1:]) if b[1] is not None and a[1] is not None
                            and b[1] > a[1]]
                    sessions.append({"client": i, "rounds_per_s": (s1 - s0) / max(t1 - t0, 1e-9),
                                     "longest_no_new_snapshot_s": max(gaps) if gaps else None,
                                     "updates": len(lat)})
        except Exception as err:                      # counted, never hangs the benchmark
            with lock:
                outcome["errors"] += 1
            print(f"client {i}: {type(err).__name__}: {err}", file=sys.stderr)
        finally:
            tab.close()
            closed.append(time.monotonic())

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(n_clients)]
    pages = [threading.Thread(target=browser, args=(base, n_clients + k, poll_s, go, sessions, lock, closed),
                              daemon=True) for k in range(browsers)]
    for t in threads + pages:
        t.start()
    go.wait()
    # a user's action while the runs train (a panel check-box: the update callback draws at once,
    # no poll's wait), timed every 0.5 s by one more tab with a run of its own
    probe = TabClient.over_http(base)
    probe.open()
    probe.call(I.MESSAGE, I.START, **_settings(n_clients + browsers))
    shown = list(probe.values.get(f"{I.SHOWN}.value") or [])
    actions = []
    peak = {"rss_mb": 0.0, "threads": 0, "cpu_percent": 0.0}
    end = time.monotonic() + poll_s
    last_cpu, last_t = proc.cpu_s(), time.monotonic()
    server0, machine0, t_start = proc.cpu_s(), _machine_busy_s(), time.monotonic()
    while time.monotonic() < end:
        t0 = time.perf_counter()
        probe.call(I.STATUS, f"{I.SHOWN}.value", **{f"{I.SHOWN}__value": shown[:-1] if len(actions) % 2 else shown})
        actions.append(1000 * (time.perf_counter() - t0))
        peak["rss_mb"] = max(peak["rss_mb"], proc.rss_mb())
        peak["threads"] = max(peak["threads"], proc.threads())
        now = time.monotonic()
        if now - last_t >= 1.0:
            c = proc.cpu_s()
            peak["cpu_percent"] = max(peak["cpu_percent"], 100 * (c - last_cpu) / (now - last_t))
            last_cpu, last_t = c, now
        time.sleep(0.5)
    span = time.monotonic() - t_start
    server = proc.cpu_s() - server0
    peak["server_cpu_mean_percent"] = 100 * server / span
    peak["clients_cpu_mean_percent"] = 100 * (_machine_busy_s() - machine0 - server) / span
    probe.close()
    for t in threads + pages:
        t.join(poll_s + 120)
    return outcome, latencies, actions, sessions, peak, max(closed)


def _machine_busy_s() -> float:
    """CPU seconds the whole machine has been busy (all cores, /proc/stat: not idle or iowait)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / TICKS


def browser(base, i, poll_s, go, sessions, lock, closed):
    """A real page in headless Chromium: Start with client i's settings, then the step on screen
    read every 0.1 s; the longest time it shows no new step while its run trains."""
    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    opts = webdriver.ChromeOptions()
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"):
        opts.add_argument(a)
    driver = webdriver.Chrome(options=opts)
    try:
        driver.get(base)
        end = time.monotonic() + 60
        while time.monotonic() < end and not driver.find_elements(By.ID, I.START):
            time.sleep(0.2)
        go.wait()
        seed = driver.find_element(By.ID, I.FIELD.format("seed"))
        seed.send_keys(Keys.CONTROL, "a")
        seed.send_keys(str(i), Keys.TAB)                                         # its own seed (the client number)
        driver.find_element(By.ID, I.START).click()
        seen, t_end = [], time.monotonic() + poll_s
        while time.monotonic() < t_end:
            seen.append((time.monotonic(), _step(driver.find_element(By.ID, I.STATUS).text)))
            time.sleep(0.1)
        moves = [t for (t, s), (_, p) in zip(seen[1:], seen) if s is not None and p is not None and s > p]
        moves = moves[len(moves) // 4:]                                          # after the start-up
        gaps = [b - a for a, b in zip(moves, moves[1:])]
        steps = [s for _, s in seen if s is not None]
        span = seen[-1][0] - seen[len(seen) // 4][0]
        with lock:
            sessions.append({"client": f"browser {i}", "rounds_per_s": (steps[-1] - steps[len(steps) // 4]) / span
                             if steps else 0.0, "longest_no_new_snapshot_s": max(gaps) if gaps else None,
                             "updates": len(moves)})
    finally:
        driver.close()                      # the tab closes (its goodbye beacon), then the browser
        driver.quit()
        closed.append(time.monotonic())


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
    ap.add_argument("--max-runs", type=int, default=2, help="the server's --max-runs (training groups at once)")
    ap.add_argument("--browsers", type=int, default=2, help="headless Chromium pages besides the HTTP clients")
    ap.add_argument("--frame-seconds", type=float, default=None,
                    help="the server's --frame-seconds (default: the server's own default)")
    ap.add_argument("--nice", type=int, default=10,
                    help="the clients' niceness (default 10): in a class they run on the students' machines; "
                         "here they share the server's cores, and lower priority keeps them from taking its share "
                         "(0: clients and server compete equally)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    assert 1 <= args.clients <= 64 and 0 < args.poll_s <= 120 and 0 <= args.browsers <= 4, \
        "bounded: at most 64 clients and 4 browsers, 120 s each"

    port = _port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "dashboards", "--host", "127.0.0.1", "--port", str(port),
                               "--max-sessions", str(args.clients + 8), "--max-per-client", str(args.browsers + 3),
                               "--max-runs", str(args.max_runs)]
                              + (["--frame-seconds", str(args.frame_seconds)] if args.frame_seconds is not None else []),
                              cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proc = Proc(server.pid)
    if args.nice:
        os.nice(args.nice)     # the clients, from here on (the server started at priority 0): see --nice
    try:
        _wait_up(base)
        cold = proc.rss_mb()
        warm_up(base)
        time.sleep(3.0)                                  # the closed run's garbage pass (once a second)
        baseline = {"rss_mb": round(proc.rss_mb(), 1), "threads": proc.threads(),
                    "cpu_percent": round(proc.cpu_percent(1.0), 1), "rss_cold_mb": round(cold, 1)}
        outcome, latency, actions, sessions, peak, last_close = soak(base, proc, args.clients, args.poll_s,
                                                                     args.browsers)
        trace, idle_at, rss_at = settle(proc, baseline["rss_mb"], args.settle_s, last_close)
        result = {
            "clients": args.clients, "browsers": args.browsers, "nice": args.nice, "max_runs": args.max_runs, "poll_s": args.poll_s, "cores": os.cpu_count(),
            "baseline": baseline, "starts": outcome,
            "peak": {k: round(v, 1) for k, v in peak.items()},
            "poll_ms": {"n": len(latency), "p50": round(pct(latency, 50), 1), "p95": round(pct(latency, 95), 1),
                        "max": round(max(latency), 1)},
            "update_ms": {"n": len(actions), "p50": round(pct(actions, 50), 1), "p95": round(pct(actions, 95), 1),
                          "max": round(max(actions), 1)},
            "sessions": {"n": len(sessions),
                         "rounds_per_s": {"min": round(min(x["rounds_per_s"] for x in sessions), 1),
                                          "median": round(pct([x["rounds_per_s"] for x in sessions], 50), 1),
                                          "total": round(sum(x["rounds_per_s"] for x in sessions), 1)},
                         "longest_no_new_snapshot_s": round(max(x["longest_no_new_snapshot_s"] or 0 for x in sessions), 2),
                         "each": sessions},
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
    b, p, lc, a = result["baseline"], result["peak"], result["update_ms"], result["after_last_close"]
    print(f"{args.clients} clients, --max-runs {args.max_runs}, {os.cpu_count()} cores")
    print(f"baseline (warm, idle): {b['rss_mb']} MB RSS (cold {b['rss_cold_mb']}), {b['threads']} threads, "
          f"{b['cpu_percent']} % CPU")
    print(f"starts: {outcome}")
    print(f"peak while loaded: {p['rss_mb']} MB, {p['threads']} threads, {p['cpu_percent']} % CPU; mean CPU: server "
          f"{p['server_cpu_mean_percent']} %, everything else (the clients: this process, Chromium) "
          f"{p['clients_cpu_mean_percent']} %")
    se = result["sessions"]
    po = result["poll_ms"]
    print(f"update on a user's action while runs train (draws at once): p50 {lc['p50']} ms, p95 {lc['p95']} ms, "
          f"max {lc['max']} ms ({lc['n']} calls)")
    print(f"the pages' polls: p50 {po['p50']} ms, p95 {po['p95']} ms "
          f"({po['n']} calls)")
    print(f"sessions measured: {se['n']}; rounds/s each: min {se['rounds_per_s']['min']}, median "
          f"{se['rounds_per_s']['median']}, total {se['rounds_per_s']['total']}; longest time a page showed no new "
          f"snapshot while its run trained: {se['longest_no_new_snapshot_s']} s")
    print(f"after the last close: CPU idle after {a['cpu_idle_after_s']} s, RSS within 10 % after "
          f"{a['rss_within_10pct_after_s']} s; final {a['final']}")
    if "long_run" in result:
        r = result["long_run"]
        print(f"one live run of {r['rounds']:,} rounds ({r['seconds']} s, {r['status']}): RSS {r['rss_before_mb']} -> "
              f"peak {r['rss_peak_mb']} -> {r['rss_after_mb']} MB; held {r['held_mb']} MB")


if __name__ == "__main__":
    main()
