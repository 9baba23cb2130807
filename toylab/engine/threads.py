"""How many CPU threads torch trains with: chosen from how busy the machine is, not guessed.

Measured on the 2-core reference machine (docs/performance.md, benchmarks/bench_threads.py):
idle, two intra-op threads train 1.5-1.7x faster than one from batches of 512 rows up, and
no faster at batch 64; with one core kept busy by another process, two threads wait on each
other at every operation and run 2.2-4x SLOWER than one. No fixed count is right for both,
so `threads="auto"` on the CPU measures: the cores other processes used over the last
interval (Linux /proc/stat, less this process's own CPU time) leave `free` cores, and

    threads = 1                                    for rows < SMALL_WORK, or fits side by side
    threads = clamp(floor(free + 0.3), 1, cores)   otherwise

re-decided at every snapshot interval (at most once a second). A fit starts on one thread
until the first reading spans MIN_WINDOW seconds. Elsewhere than Linux: one thread.
"""

from __future__ import annotations

import math
import os
import threading
import time

SMALL_WORK = 64         # rows per round (batch x members) below which one thread is as fast as two
MIN_WINDOW = 0.2        # seconds a load reading must span to be trusted
RECHECK = 1.0           # seconds between decisions during a fit

_active = 0             # fits running in this process (torch's thread count is process-wide)
_lock = threading.Lock()


def cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:                       # not Linux
        return os.cpu_count() or 1


def choose(rows: int, free: float | None, n_cores: int, side_by_side: int = 1) -> int:
    """Threads for a fit of `rows` rows a round, with `free` idle cores (None: unknown)."""
    if rows < SMALL_WORK or side_by_side > 1 or free is None:
        return 1
    return max(1, min(n_cores, math.floor(free + 0.3)))


class LoadMeter:
    """Cores used by OTHER processes between two readings (Linux /proc/stat minus our own CPU time)."""

    def __init__(self):
        self._last = self._read()

    @staticmethod
    def _read() -> tuple[float, float, float] | None:
        try:
            with open("/proc/stat") as f:
                v = [int(x) for x in f.readline().split()[1:9]]
        except (OSError, ValueError):
            return None
        t = os.times()
        busy = (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")      # all but idle and iowait
        return time.monotonic(), busy, t.user + t.system

    def others(self) -> float | None:
        """Mean cores busy with other processes since the last reading that spanned MIN_WINDOW s."""
        now = self._read()
        if now is None or self._last is None or now[0] - self._last[0] < MIN_WINDOW:
            return None
        (t0, b0, o0), (t1, b1, o1) = self._last, now
        self._last = now
        return max(0.0, (b1 - b0) - (o1 - o0)) / (t1 - t0)


class AutoThreads:
    """The thread count of one fit: set on start(), re-decided by adjust(), restored by stop().

    requested: an int (fixed) or "auto"; device: torch.device; rows: batch x members a round."""

    def __init__(self, requested, device, rows: int):
        import torch
        self.torch, self.rows, self.auto = torch, rows, requested == "auto"
        self.fixed = None if self.auto else int(requested)
        self.cpu = device.type == "cpu"
        self.meter = LoadMeter() if self.auto and self.cpu and rows >= SMALL_WORK else None
        self.previous = torch.get_num_threads()
        self.due = time.monotonic() + MIN_WINDOW
        self.count = self.previous

    def _set(self, n: int) -> None:
        if n != self.torch.get_num_threads():
            self.torch.set_num_threads(n)
        self.count = n

    def start(self) -> int:
        global _active
        with _lock:
            _active += 1
        if self.fixed is not None:
            self._set(self.fixed)
        elif self.cpu:
            self._set(1)                         # until a reading of the machine's load is in
        return self.count

    def adjust(self) -> int:
        """Re-decide from the load since the last decision (auto on the CPU, at most once per RECHECK)."""
        if self.meter is None or time.monotonic() < self.due:
            return self.count
        others = self.meter.others()
        if others is not None:
            self.due = time.monotonic() + RECHECK
            n = cores()
            self._set(choose(self.rows, n - others, n, _active))
        return self.count

    def stop(self) -> None:
        global _active
        with _lock:
            _active -= 1
        self._set(self.previous)
