# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers for tests of the Redis stream filters: a sink that keeps what it is given, fed in steps."""

from __future__ import annotations


class Collected:
    """A sink that keeps every byte written to it."""

    def __init__(self):
        self.data = bytearray()

    def write(self, data):
        self.data += data
        return len(data)


def feed(sink, data: bytes, step: int) -> None:
    """Write data to sink in pieces of step bytes (commands cut anywhere), then close it."""
    for start in range(0, len(data), step):
        sink.write(data[start:start + step])
    sink.close()
