# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Files written whole or not at all, readable by their owner only: a temporary file created 0600 beside the
target, flushed to disk, then renamed over it. Reports, published secrets, records people read later, and data
files staged for a restore."""

from __future__ import annotations

import contextlib
import os
import typing as t


@contextlib.contextmanager
def private_file(path: str) -> t.Iterator[t.BinaryIO]:
    """A binary handle whose content appears at path, created 0600, only when the block ends without an error.

    Until then it is a temporary file beside path; an error removes it and leaves path as it was.
    """
    temporary = f"{path}.tmp{os.getpid()}"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    renamed = False
    try:
        with os.fdopen(descriptor, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
        renamed = True
    finally:
        if not renamed:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)


def write_private(path: str, text: str) -> None:
    """Write a text file created 0600 from the start, atomically (temporary file + rename)."""
    with private_file(path) as handle:
        handle.write(text.encode("utf-8"))
