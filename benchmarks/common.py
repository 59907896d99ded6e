# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared pieces of the benchmarks: realistic data, timing, the lab, the report.

A benchmark measures this collection side by side with the bare tool doing
the same job, in the same run, and reports both and their ratio.
"""

from __future__ import annotations

import json
import os
import random
import resource
import subprocess
import sys
import time
import typing as t
from dataclasses import asdict, dataclass, field
from pathlib import Path

from benchmarks.cpu_split import machine_cpu_seconds

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "bench"
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT / ".collections"))

MiB = 1024 * 1024
GiB = 1024 * MiB


@dataclass
class Comparison:
    """One measurement of ours against the bare tool."""

    name: str
    ours_s: float
    bare_s: float
    size_bytes: int
    target: str  # in words, e.g. "ours >= 0.8x bare throughput"
    passed: bool
    details: dict[str, t.Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        """Time ratio ours / bare (below 1 is faster than bare)."""
        return self.ours_s / self.bare_s if self.bare_s else float("inf")

    def rate(self, seconds: float) -> str:
        return f"{self.size_bytes / seconds / 1e6:7.0f} MB/s" if self.size_bytes and seconds else ""

    def row(self) -> str:
        return (f"{self.name:<44} ours {self.ours_s:7.2f}s {self.rate(self.ours_s)}   bare {self.bare_s:7.2f}s "
                f"{self.rate(self.bare_s)}   time ratio {self.ratio:5.2f}   {'PASS' if self.passed else 'MISS'}  ({self.target})")


def timed(function: t.Callable[[], t.Any]) -> tuple[float, t.Any]:
    started = time.perf_counter()
    value = function()
    return time.perf_counter() - started, value


def cpu_seconds(*who: int) -> float:
    """User + system CPU seconds of getrusage(who), summed: RUSAGE_SELF is this process (all its threads),
    RUSAGE_CHILDREN its ended children (the bare tools, pg_dump)."""
    return sum(usage.ru_utime + usage.ru_stime for usage in map(resource.getrusage, who))


def process_cpu_seconds() -> float:
    """User + system CPU seconds of this process and of its ended children."""
    return cpu_seconds(resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)


def server_cpu_seconds(postmaster: int) -> float:
    """CPU seconds of a PostgreSQL server: its postmaster, its live processes and the ended ones it reaped
    (a backend's time is added to its postmaster's once the connection ends). Readable without being the server's
    user: /proc/<pid>/stat is public."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    children = [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]
    for pid in [postmaster, *children]:
        try:
            with open(f"/proc/{pid}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if pid == postmaster:
            total += sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
        elif int(fields[1]) == postmaster:
            total += int(fields[11]) + int(fields[12])
    return total / ticks


@dataclass
class Measured:
    """Wall-clock and CPU seconds of one run: CPU of this process and its children, of the database server, and of
    the whole machine (every process: on N cores the run cannot take less than machine_cpu_s / N)."""

    wall_s: float
    cpu_s: float
    server_cpu_s: float
    machine_cpu_s: float

    def details(self, prefix: str) -> dict[str, float]:
        return {f"{prefix}_cpu_s": round(self.cpu_s, 2), f"{prefix}_server_cpu_s": round(self.server_cpu_s, 2),
                f"{prefix}_machine_cpu_s": round(self.machine_cpu_s, 2)}


def measured(function: t.Callable[[], t.Any], postmaster: int) -> tuple[Measured, t.Any]:
    """Run function; its wall-clock seconds and CPU seconds (on a shared machine the CPU seconds are the steadier)."""
    cpu, server, machine = process_cpu_seconds(), server_cpu_seconds(postmaster), machine_cpu_seconds()
    started = time.perf_counter()
    value = function()
    wall = time.perf_counter() - started
    machine = machine_cpu_seconds() - machine
    time.sleep(0.3)  # let the postmaster reap the backends that served the run
    return Measured(wall, process_cpu_seconds() - cpu, server_cpu_seconds(postmaster) - server, machine), value


def rto_span(report: dict[str, t.Any]) -> tuple[float, float]:
    """The RTO's start and end (as time.time()) from a report.json: the incident's start to the last restore's end."""
    # Imported here: .collections is on sys.path once this module is loaded.
    from ansible_collections.resilience.dr.plugins.module_utils._timing import parse_time

    return parse_time(report["incident_start"]).timestamp(), parse_time(report["rto_end"]).timestamp()


def run_pipeline(commands: list[list[str]], stdin_path: Path | None = None) -> None:
    """Run commands connected by pipes; fail if any stage fails (no failures hidden inside a pipe)."""
    processes = []
    previous = open(stdin_path, "rb") if stdin_path else None
    for position, command in enumerate(commands):
        last = position == len(commands) - 1
        process = subprocess.Popen(command, stdin=previous, stdout=subprocess.DEVNULL if last else subprocess.PIPE)
        if previous is not None:
            previous.close()
        previous = process.stdout
        processes.append(process)
    for command, process in zip(commands, processes):
        if process.wait() != 0:
            raise RuntimeError(f"{command[0]} exited with {process.returncode}")


def dump_like_text(size: int) -> Path:
    """A pg_dump-like COPY text file of `size` bytes: ids, amounts, timestamps, words, JSON.

    64 MiB of random rows are generated once and repeated; zstd's match window
    (at most a few MiB at the levels used) never reaches the previous copy, so
    it compresses like one long varied dump.
    """
    path = CACHE / f"dump-like-{size // MiB}MiB.txt"
    if path.exists() and path.stat().st_size == size:
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    rng = random.Random(20261123)
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocabulary = ["".join(rng.choices(letters, k=rng.randint(2, 11))) for _word in range(20000)]
    weights = [1 / (rank + 1) for rank in range(len(vocabulary))]  # Zipf-like word frequencies
    statuses = ["paid", "pending", "shipped", "refunded", "cancelled"]
    lines = []
    produced = 0
    row = 0
    while produced < 64 * MiB:
        row += 1
        words = " ".join(rng.choices(vocabulary, weights, k=rng.randint(3, 18)))
        line = (f"{row}\t{rng.randint(1, 250000)}\t{rng.randint(100, 9999999) / 100:.2f}\t"
                f"2026-{rng.randint(1, 11):02d}-{rng.randint(1, 28):02d} {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:"
                f"{rng.randint(0, 59):02d}.{rng.randint(0, 999999):06d}+00\t{rng.choice(statuses)}\t{words}\t"
                f'{{"sku": "SKU-{rng.randint(1, 99999):05d}", "qty": {rng.randint(1, 20)}, "gift": {str(rng.random() < 0.1).lower()}}}\n')
        lines.append(line)
        produced += len(line)
    block = "".join(lines).encode()
    with open(path, "wb") as handle:
        written = 0
        while written < size:
            chunk = block[: size - written]
            handle.write(chunk)
            written += len(chunk)
    return path


def lab_facts() -> dict[str, t.Any]:
    path = Path(os.environ.get("LAB_DIR", ROOT / ".lab")) / "lab.json"
    return json.loads(path.read_text())


def as_record(comparison: Comparison) -> dict[str, t.Any]:
    """A comparison as saved: its fields and its time ratio."""
    return {**asdict(comparison), "ratio": comparison.ratio}


def save(run: dict[str, t.Any]) -> Path:
    """Save one run (its machine, load, times and each family's comparisons) as benchmarks/results/bench-<UTC>.json."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"bench-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    path.write_text(json.dumps(run, indent=2) + "\n")
    return path
