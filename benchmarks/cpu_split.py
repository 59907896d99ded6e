# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The whole machine's CPU seconds while something runs, split by program.

A benchmark whose sides run several processes (a playbook and its modules,
the servers they load, the WAL archiver behind them) cannot be judged by the
CPU of its own children alone. This reads /proc: the machine's total from
/proc/stat, and each process's user + system time from /proc/<pid>/stat,
sampled a few times a second and grouped by program name. A process that
lives shorter than one sample is in the total but in no group ("not
sampled"); so is the kernel's own time outside any process.

On N cores a side cannot finish in less than its CPU seconds / N: that is
the floor the drill compares with its goal.
"""

from __future__ import annotations

import bisect
import os
import threading
import time
import typing as t
from collections import defaultdict
from dataclasses import dataclass, field

SAMPLE_SECONDS = 0.25
TICKS = os.sysconf("SC_CLK_TCK")
# Program names (the kernel's comm, at most 15 characters) and the group each is counted in.
GROUPS = {
    "postgres": "PostgreSQL server",
    "pgbackrest": "WAL archiving (pgbackrest)",
    "redis-server": "Redis server",
    "pg_restore": "pg_restore",
    "pg_dump": "pg_dump",
    "zstd": "zstd",
    "tar": "tar",
    "redis-cli": "redis-cli",
}
PYTHON = "Ansible and its modules (python)"
NOT_SAMPLED = "not sampled (short-lived processes, interrupts)"


def _group(comm: str) -> str:
    if comm in GROUPS:
        return GROUPS[comm]
    if comm.startswith(("python", "ansible")):
        return PYTHON
    if "/" in comm:  # kworker/u8:3, ksoftirqd/0: the kernel's threads (writeback, block I/O)
        return "kernel threads"
    return "other"


def machine_cpu_seconds() -> float:
    """User, nice, system, irq and softirq time of every CPU since boot (/proc/stat's first line)."""
    with open("/proc/stat", encoding="ascii") as handle:
        values = [int(value) for value in handle.readline().split()[1:]]
    return (values[0] + values[1] + values[2] + values[5] + values[6]) / TICKS


def _processes() -> t.Iterator[tuple[tuple[int, str], str, float]]:
    """(pid, start time), program name and CPU seconds of every process now."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                raw = handle.read()
        except OSError:  # it ended since the listing
            continue
        comm = raw[raw.index(b"(") + 1: raw.rindex(b")")].decode(errors="replace")
        fields = raw.rsplit(b")", 1)[1].split()
        yield (int(entry), fields[19].decode()), comm, (int(fields[11]) + int(fields[12])) / TICKS


@dataclass
class CpuSplit:
    """What one measured span cost the whole machine."""

    machine_s: float = 0.0
    by_group: dict[str, float] = field(default_factory=dict)
    # (time.time(), the machine's CPU seconds since boot) at each sample, to cut out a part of the span.
    timeline: list[tuple[float, float]] = field(default_factory=list)

    def machine_between(self, start: float, end: float) -> float:
        """The machine's CPU seconds between two times (time.time()) inside the span, read between samples."""
        return self._machine_at(end) - self._machine_at(start)

    def _machine_at(self, moment: float) -> float:
        times = [when for when, _cpu in self.timeline]
        after = min(max(bisect.bisect_left(times, moment), 1), len(times) - 1)
        (before_time, before_cpu), (after_time, after_cpu) = self.timeline[after - 1], self.timeline[after]
        share = min(max((moment - before_time) / (after_time - before_time), 0.0), 1.0) if after_time > before_time else 1.0
        return before_cpu + share * (after_cpu - before_cpu)

    def rounded(self) -> dict[str, t.Any]:
        return {"machine_cpu_s": round(self.machine_s, 1),
                "by_program": {name: round(value, 1) for name, value in self.by_group.items() if value >= 0.05}}


class CpuSampler:
    """Samples /proc in a thread from start() to stop(); stop() returns the split.

    Processes seen at start() count from then; those born later count whole,
    so a short-lived tool started during the span is counted if one sample saw it.
    This process itself (the sampler) is left out.
    """

    def __init__(self, interval: float = SAMPLE_SECONDS) -> None:
        self.interval = interval
        self._seen: dict[tuple[int, str], tuple[str, float]] = {}
        self._start: dict[tuple[int, str], float] = {}
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu sampler", daemon=True)
        self._timeline: list[tuple[float, float]] = []

    def start(self) -> CpuSampler:
        for key, comm, cpu in _processes():
            self._start[key] = cpu
            self._seen[key] = (comm, cpu)
        self._timeline.append((time.time(), machine_cpu_seconds()))
        self._thread.start()
        return self

    def _sample(self) -> None:
        for key, comm, cpu in _processes():
            self._seen[key] = (comm, cpu)
        self._timeline.append((time.time(), machine_cpu_seconds()))

    def _run(self) -> None:
        while not self._stopping.wait(self.interval):
            self._sample()

    def stop(self) -> CpuSplit:
        self._stopping.set()
        self._thread.join()
        self._sample()
        machine = self._timeline[-1][1] - self._timeline[0][1]
        own = os.getpid()
        groups: dict[str, float] = defaultdict(float)
        for key, (comm, cpu) in self._seen.items():
            if key[0] != own:
                groups[_group(comm)] += cpu - self._start.get(key, 0.0)
        groups[NOT_SAMPLED] = max(machine - sum(groups.values()), 0.0)
        return CpuSplit(machine, dict(sorted(groups.items(), key=lambda item: -item[1])), self._timeline)


def cpu_split(function: t.Callable[[], t.Any]) -> tuple[CpuSplit, t.Any]:
    """Run function; the machine's CPU seconds meanwhile, by program, and the function's value."""
    sampler = CpuSampler().start()
    try:
        value = function()
    finally:
        split = sampler.stop()
    return split, value
