# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plain values and durations for people, as every part of the report writes them.
"""

from __future__ import annotations

import os
import re
import typing as t
from datetime import datetime

from ansible_collections.resilience.dr.plugins.module_utils._timing import format_time


def as_text(value: t.Any) -> str:
    return "" if value is None else str(value)


def plain(value: t.Any) -> t.Any:
    """A JSON-safe copy with plain str/dict/list (Ansible hands over str and dict subclasses)."""
    if isinstance(value, dict) or hasattr(value, "items"):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [plain(item) for item in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, datetime):
        return format_time(value)
    return str(value)


def format_seconds(seconds: float | None) -> str:
    """A duration for people: 42.3s, 12m 05s, 3h 02m."""
    if seconds is None:
        return "n/a"
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if seconds < 60:
        return f"{sign}{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{sign}{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{sign}{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{sign}{days}d {hours:02d}h"


def run_id(started: datetime, playbook: str) -> str:
    """UTC timestamp + playbook name, safe as a directory name: 20261123T040000Z-level1_component."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", os.path.splitext(os.path.basename(playbook or "run"))[0]) or "run"
    return f"{started.strftime('%Y%m%dT%H%M%SZ')}-{name}"
