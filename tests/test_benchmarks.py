"""The benchmarks measure what they say they measure (their figures are in docs/; no timing is
asserted here). The class soak once went on printing numbers after the page's protocol changed
under it: its clients slept a fixed 300 ms instead of the reply's pace, and looked for a graph
the default view no longer draws, so 'longest time without a new snapshot' read 0 (none seen)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_class_soak_sees_each_tab_train_and_draw_new_snapshots():
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_soak.py"), "--clients", "2",
                          "--browsers", "0", "--poll-s", "8", "--settle-s", "3", "--long-rounds", "0",
                          "--nice", "0", "--json"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    r = json.loads(out.stdout)
    assert r["starts"] == {"running": 2, "queued": 0, "refused": 0, "no tab": 0, "errors": 0}, r["starts"]
    each = r["sessions"]["each"]
    assert len(each) == 2
    for s in each:
        # its run advanced while polled, and the page drew at least two new snapshots (a gap measured)
        assert s["rounds_per_s"] > 0 and s["longest_no_new_snapshot_s"] is not None, s
    # the polls follow the reply's pace: one in flight per tab, at least one every POLL_MAX_MS
    assert r["poll_ms"]["n"] >= 2 * 8 / 2.0
    assert r["update_ms"]["n"] >= 8                      # the user's action, timed every 0.5 s
    assert r["after_last_close"]["cpu_idle_after_s"] is not None     # idle again once every tab closed
