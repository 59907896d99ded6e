# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Files written whole or not at all, readable by their owner only: a temporary file created 0600 beside the
target, flushed to disk, then renamed over it. Reports, published secrets and records people read later."""

from __future__ import annotations

import os


def write_private(path: str, text: str) -> None:
    """Write a file created 0600 from the start, atomically (temporary file + rename)."""
    temporary = f"{path}.tmp{os.getpid()}"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
