# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a benchmark run ran on, and when: recorded with its results.

A timing means little without the machine, the versions of the bare tools it
was compared with and how busy the machine was: the load average before and
after shows whether other work shared the CPU.
"""

from __future__ import annotations

import datetime
import os
import platform
import re
import shutil
import subprocess
import typing as t
from pathlib import Path

# The bare tools the benchmarks compare with, and the argument that prints their version.
BARE_TOOLS = {"pg_dump": "--version", "zstd": "--version", "tar": "--version", "redis-server": "--version"}
VERSION = re.compile(r"\d+(?:\.\d+)+")


def utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages."""
    return [round(value, 2) for value in os.getloadavg()]


def _proc_field(path: str, name: str) -> str | None:
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, _separator, value = line.partition(":")
        if key.strip() == name:
            return value.strip()
    return None


def tool_version(name: str, argument: str = "--version") -> str:
    """The version a tool prints (its first line when no version number is in it), or why there is none."""
    executable = shutil.which(name)
    if executable is None:
        return "not installed"
    try:
        done = subprocess.run([executable, argument], capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"unknown ({error})"
    lines = (done.stdout or done.stderr).strip().splitlines()
    first = lines[0] if lines else ""
    found = VERSION.search(first)
    return found.group(0) if found else first or f"unknown (exit status {done.returncode})"


def describe() -> dict[str, t.Any]:
    """The machine, its Python and the bare tools' versions."""
    memory_kib = _proc_field("/proc/meminfo", "MemTotal")
    return {
        "cpu": _proc_field("/proc/cpuinfo", "model name") or platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "memory_gib": round(int(memory_kib.split()[0]) / 1024 / 1024, 1) if memory_kib else None,
        "kernel": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "tools": {name: tool_version(name, argument) for name, argument in BARE_TOOLS.items()},
    }
