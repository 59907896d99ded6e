# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The machine's CPU split by program, read from /proc while real processes run."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
import time

import pytest

from benchmarks.common import measured, rto_span
from benchmarks.cpu_split import GROUPS, NOT_SAMPLED, PYTHON, TICKS, CpuSampler, CpuSplit, _group, cpu_split

# Burns about a second of CPU in a child process, whatever the wall time on a busy machine. It names itself
# (the kernel's comm, at most 15 characters) so that other Python processes on the machine, and the burners of
# tests running at the same time in other workers, are not counted with it.
BURNER = f"burner{os.getpid()}"
BURN = (f"import ctypes, time\nctypes.CDLL(None).prctl(15, b'{BURNER}', 0, 0, 0)\n"
        "end = time.process_time() + 1.0\nwhile time.process_time() < end:\n    pass\n")


@pytest.fixture(autouse=True)
def burner_group(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(GROUPS, BURNER, "burner")


def test_a_child_program_is_counted_in_its_group_and_in_the_machine_total() -> None:
    split, value = cpu_split(lambda: subprocess.run([sys.executable, "-c", BURN], check=True).returncode)
    assert value == 0
    burned = split.by_group["burner"]
    # Up to one sample interval of its time may fall after the last sample that saw it.
    assert 0.6 <= burned <= 1.3
    assert split.machine_s >= burned - 0.05
    assert sum(split.by_group.values()) == pytest.approx(max(split.machine_s, sum(
        value for name, value in split.by_group.items() if name != NOT_SAMPLED)), abs=0.01)
    rounded = split.rounded()
    assert rounded["by_program"]["burner"] == round(burned, 1)


def _cpu_of(pid: int) -> float:
    with open(f"/proc/{pid}/stat", "rb") as handle:
        fields = handle.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def test_a_process_running_before_the_span_counts_only_what_it_used_during_it() -> None:
    child = subprocess.Popen([sys.executable, "-c", BURN])
    try:
        deadline = time.monotonic() + 60
        while _cpu_of(child.pid) < 0.4 and time.monotonic() < deadline:  # part of its burn before the span
            time.sleep(0.02)
        sampler = CpuSampler().start()
        child.wait(timeout=60)
        split = sampler.stop()
    finally:
        child.kill()
        child.wait()
    assert split.by_group.get("burner", 0.0) <= 0.7


def test_program_names_are_grouped_by_what_they_are() -> None:
    assert _group("postgres") == "PostgreSQL server"
    assert _group("pgbackrest") == "WAL archiving (pgbackrest)"
    assert _group("python3.11") == PYTHON
    assert _group("ansible-playboo") == PYTHON
    assert _group("kworker/u8:3+flush-254:0") == "kernel threads"
    assert _group("sha256sum") == "other"


def test_a_measured_run_records_the_machine_cpu_its_processes_used() -> None:
    run, value = measured(lambda: subprocess.run([sys.executable, "-c", BURN], check=True).returncode, os.getpid())
    assert value == 0
    assert run.machine_cpu_s >= 0.9  # the child's second, whatever else the machine did
    assert run.cpu_s >= 0.9
    assert run.details("ours")["ours_machine_cpu_s"] == round(run.machine_cpu_s, 2)


def test_the_machine_cpu_of_part_of_a_span_is_read_between_the_samples() -> None:
    split = CpuSplit(machine_s=12.0, timeline=[(100.0, 1000.0), (101.0, 1002.0), (102.0, 1006.0), (103.0, 1012.0)])
    assert split.machine_between(100.0, 103.0) == pytest.approx(12.0)
    assert split.machine_between(100.5, 102.5) == pytest.approx(1009.0 - 1001.0)
    # Times outside the span are held to its ends.
    assert split.machine_between(90.0, 200.0) == pytest.approx(12.0)


def test_the_drill_cuts_the_rto_out_of_the_playbook_by_the_report_times() -> None:
    start, end = rto_span({"incident_start": "2026-12-07T21:49:07.500000Z", "rto_end": "2026-12-07T21:49:57.614376Z"})
    assert end - start == pytest.approx(50.114376)
    assert start == pytest.approx(datetime.datetime(2026, 12, 7, 21, 49, 7, 500000, tzinfo=datetime.timezone.utc).timestamp())
