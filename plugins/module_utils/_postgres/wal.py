# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""WAL segment names and positions, and what a cluster's pg_wal has not archived yet.

A segment's name is three groups of 8 hex digits: timeline, log number and
segment number within the log; a position (LSN) is written `16/B374D848`.
"""

from __future__ import annotations

import os
import re
import typing as t

SEGMENT_NAME = re.compile(r"^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})$")


def parse_lsn(text: str) -> int:
    """'16/B374D848' as an integer position."""
    high, _sep, low = text.partition("/")
    return (int(high, 16) << 32) + int(low, 16)


def segment_end(name: str | None, segment_size: int) -> int | None:
    """The WAL position just after segment `name` (None for history files, .partial and the like)."""
    match = SEGMENT_NAME.match(name or "")
    if not match:
        return None
    log, seg = int(match.group(2), 16), int(match.group(3), 16)
    return (log << 32) + (seg + 1) * segment_size


def segment_after(name: str | None, other: str | None) -> bool:
    """Whether WAL segment `name` comes after `other` (timeline first, then position)."""
    return bool(name and other and SEGMENT_NAME.match(name) and SEGMENT_NAME.match(other) and name > other)


def next_segment(name: str, segment_size: int) -> str:
    """The name of the WAL segment after `name` on the same timeline."""
    per_log = 0x100000000 // segment_size
    number = int(name[8:16], 16) * per_log + int(name[16:], 16) + 1
    return f"{name[:8]}{number // per_log:08X}{number % per_log:08X}"


def unarchived_wal(wal_dir: str) -> dict[str, t.Any]:
    """WAL in a (damaged) cluster's pg_wal that its archive may lack.

    ready: complete segments still waiting for archive_command (status .ready);
    current: the segment being written when the server stopped, the one after
    the newest segment with a status (recycled segments ahead of it are not
    WAL of this cluster's history). Nothing when there is no archive status.
    """
    status_dir = os.path.join(wal_dir, "archive_status")
    try:
        segments = {name for name in os.listdir(wal_dir) if SEGMENT_NAME.match(name)}
        statuses = os.listdir(status_dir)
    except OSError:
        return {"ready": [], "current": None}
    ready, marked = [], []
    for entry in statuses:
        name, status = (entry.split(".", 1) + [""])[:2]
        if SEGMENT_NAME.match(name) and status in ("ready", "done"):
            marked.append(name)
            if status == "ready" and name in segments:
                ready.append(name)
    marked = sorted(name for name in marked if name in segments)
    if not marked:
        return {"ready": sorted(ready), "current": None}
    size = os.path.getsize(os.path.join(wal_dir, marked[-1]))
    if size <= 0:  # a truncated segment: its size does not tell the segment size
        return {"ready": sorted(ready), "current": None}
    current = next_segment(marked[-1], size)
    return {"ready": sorted(ready), "current": current if current in segments else None}
