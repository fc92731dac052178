"""What the benchmark reads of other processes in ``/proc``: the process tree, RSS, CPU time.

A figure such as "the second worker process adds N %" means little without knowing how much
of the machine the first one left free: :class:`CpuSampler` splits the CPU time of a run
between the worker processes, their sandbox processes, PostgreSQL, Redis and the benchmark
itself (which plays the dispatcher).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterable
from pathlib import Path

PROC = Path("/proc")
TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> tuple[str, list[str]] | None:
    """(command name, fields after it) of ``/proc/PID/stat``; None when the process is gone."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    name = stat[stat.index("(") + 1:stat.rindex(")")]
    return name, stat[stat.rindex(")") + 2:].split()


def parents() -> dict[int, int]:
    """Every process's parent, as one snapshot of ``/proc``."""
    found: dict[int, int] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit() and (fields := _stat_fields(int(entry.name))) is not None:
            with contextlib.suppress(IndexError, ValueError):
                found[int(entry.name)] = int(fields[1][1])
    return found


def descendants(pid: int, tree: dict[int, int] | None = None) -> set[int]:
    """Every process below ``pid`` (a worker's or web process's sandbox processes)."""
    tree = parents() if tree is None else tree
    found: set[int] = set()
    todo = [pid]
    while todo:
        parent = todo.pop()
        kids = {child for child, ppid in tree.items() if ppid == parent}
        found |= kids
        todo.extend(kids)
    return found


def rss_kib(pid: int) -> int:
    """Resident set size of ``pid`` in KiB (0 when it is gone)."""
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time ``pid`` has used so far; None when it is gone."""
    fields = _stat_fields(pid)
    if fields is None:
        return None
    return (int(fields[1][11]) + int(fields[1][12])) / TICKS


def machine_busy_seconds() -> float:
    """CPU seconds all cores have spent not idle since boot (``/proc/stat``)."""
    fields = (PROC / "stat").read_text().split("\n", 1)[0].split()[1:]
    # user nice system idle iowait irq softirq steal ...: idle and iowait are not busy.
    values = [int(value) for value in fields[:8]]
    return (sum(values) - values[3] - values[4]) / TICKS


class RssSampler(threading.Thread):
    """Peak RSS of a process and (separately) of all its descendants, sampled every 0.2 s."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_main = 0
        self.peak_children = 0
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(0.2):
            self.peak_main = max(self.peak_main, rss_kib(self.pid))
            self.peak_children = max(self.peak_children,
                                     sum(rss_kib(p) for p in descendants(self.pid)))


class CpuSampler(threading.Thread):
    """CPU seconds used during a run, by group: the given root processes, their descendants,
    PostgreSQL, Redis, this process, and the rest of the machine.

    Processes come and go (sandbox processes are recycled), so every process is read every
    0.1 s and its last reading kept; a process that ends loses at most its last 0.1 s.
    """

    def __init__(self, roots: Iterable[int], names: tuple[str, str] = ("workers", "sandboxes"),
                 me: str = "dispatcher") -> None:
        super().__init__(daemon=True)
        self.roots = set(roots)
        # How the report names the roots, their descendants and this process.
        self.names = names
        self.me = me
        self.halt = threading.Event()
        self._start: dict[int, float] = {}
        self._last: dict[int, tuple[str, float]] = {}
        self._baseline()

    def _baseline(self) -> None:
        self._machine = machine_busy_seconds()
        # Long-lived servers (postgres, redis) count from now, not from their start.
        for pid in parents():
            seconds = cpu_seconds(pid)
            if seconds is not None:
                self._start[pid] = seconds

    def _group(self, pid: int, name: str, below_roots: set[int]) -> str | None:
        if pid in self.roots:
            return self.names[0]
        if pid in below_roots:
            return self.names[1]
        if name.startswith("postgres"):
            return "postgres"
        if name.startswith("redis"):
            return "redis"
        if pid == os.getpid():
            return self.me
        return None

    def _sample(self) -> None:
        tree = parents()
        below = set().union(*(descendants(root, tree) for root in self.roots))
        for pid in tree:
            fields = _stat_fields(pid)
            if fields is None:
                continue
            group = self._group(pid, fields[0], below)
            if group is not None:
                self._last[pid] = (group, (int(fields[1][11]) + int(fields[1][12])) / TICKS)

    def run(self) -> None:
        while not self.halt.wait(0.1):
            self._sample()

    def stop(self) -> dict[str, float]:
        """End sampling; CPU seconds by group."""
        self.halt.set()
        self.join()
        self._sample()
        totals = dict.fromkeys((*self.names, "postgres", "redis", self.me, "other"), 0.0)
        for pid, (group, seconds) in self._last.items():
            totals[group] += max(0.0, seconds - self._start.get(pid, 0.0))
        # Whatever else kept the machine busy meanwhile (another job, the kernel).
        busy = machine_busy_seconds() - self._machine
        totals["other"] = max(0.0, busy - sum(totals.values()))
        return totals
