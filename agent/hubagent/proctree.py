"""A kernel's memory and CPU, read from /proc (hubagent runs as root and sees every participant's
processes): resident memory of the kernel and all its descendants, sampled on a thread for the peak, and
their CPU seconds (a reaped child's counted through its parent's cutime and cstime)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

PROC = Path("/proc")
SAMPLE_SECONDS = 0.05
_PAGE = os.sysconf("SC_PAGE_SIZE")
_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # pid (comm) state ppid ...: comm may hold spaces and ')', so split after its last ')'
    return text.rsplit(")", 1)[1].split()


def children(pid: int) -> list[int]:
    """Every descendant of ``pid`` that runs now."""
    parents: dict[int, int] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is not None:
            parents[int(entry.name)] = int(fields[1])
    found: list[int] = []
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        kids = [child for child, ppid in parents.items() if ppid == parent]
        found += kids
        frontier += kids
    return found


def rss(pid: int) -> int:
    """Resident bytes of one process (0 when it is gone)."""
    try:
        resident = int((PROC / str(pid) / "statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return resident * _PAGE


def tree_rss(pid: int) -> int:
    return rss(pid) + sum(rss(child) for child in children(pid))


def tree_cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of ``pid``, its living descendants and the children it reaped."""
    total = 0
    for index, each in enumerate([pid, *children(pid)]):
        fields = _stat_fields(each)
        if fields is None:
            continue
        # utime stime cutime cstime are fields 14-17 of stat (11-14 after the state, counted from 0)
        total += int(fields[11]) + int(fields[12])
        if index == 0:
            total += int(fields[13]) + int(fields[14])
    return total / _TICKS


def find_kernel(kernel_id: str) -> int | None:
    """The process whose command line names the kernel's connection file (kernel-ID.json)."""
    marker = f"kernel-{kernel_id}.json".encode()
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if marker in cmdline:
            return int(entry.name)
    return None


class PeakSampler:
    """Samples ``tree_rss`` of a process every ``interval`` seconds on a thread, keeping the peak; the
    process may be replaced (a restarted kernel) with ``follow``."""

    def __init__(self, pid: int, interval: float = SAMPLE_SECONDS) -> None:
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss", daemon=True)

    def sample(self) -> int:
        value = tree_rss(self.pid)
        self.peak = max(self.peak, value)
        return value

    def follow(self, pid: int) -> None:
        self.pid = pid

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def start(self) -> PeakSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
