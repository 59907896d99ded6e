# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pytest plugin for the unit suite's run under libfaketime (scripts/units-shifted-clock.sh).

libfaketime 0.9.10 (Debian 12) shifts the wall clock well, but with the
monotonic clock left alone (FAKETIME_DONT_FAKE_MONOTONIC=1, needed for
thread waits) it turns the absolute monotonic deadline of clock_nanosleep,
which Python's time.sleep uses, into EINVAL. Sleeping in select() instead
keeps sleeps working; the code under test is unchanged.
"""

from __future__ import annotations

import select
import time


def _sleep(seconds: float) -> None:
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    select.select([], [], [], seconds)


time.sleep = _sleep
