# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Clocks, timestamps and bounded waits.

Timestamps are timezone-aware UTC and written as ISO 8601 with a "Z" suffix,
the form that backup ids, manifests and reports share.
"""

from __future__ import annotations

import re
import time
import typing as t
from datetime import datetime, timedelta, timezone

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError, WaitTimeout

T = t.TypeVar("T")


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


Clock = t.Callable[[], datetime]
"""Where code that decides with "now" gets it: `utc_now` in use, a fixed time in tests.

Windows, ages and "in the future" checks take a `clock` argument (default
`utc_now`) instead of calling `utc_now` themselves, so that a test's data and
the code's idea of now always agree, whatever the date the test runs on.
"""


def format_time(moment: datetime) -> str:
    """ISO 8601 in UTC with a Z suffix, microseconds kept: 2026-11-23T04:00:00.123456Z."""
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def parse_time(value: str | datetime, option: str = "time") -> datetime:
    """Read a user-given time; one without a zone is taken as UTC.

    Accepts ISO 8601 (2026-11-23T04:00:00Z, 2026-11-23 04:00:00+02:00) and the
    PostgreSQL style with a space.
    """
    if isinstance(value, datetime):
        moment = value
    else:
        text = str(value).strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ConfigurationError(
                f"{option} {value!r} is not an ISO 8601 time; write it like 2026-11-23T04:00:00Z"
            ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
DURATION_PATTERN = re.compile(r"(\d+)\s*([smhdw])")


def parse_duration(value: str | int | float | None, option: str = "duration") -> timedelta | None:
    """'90s', '15m', '36h', '7d', '1w2d', or a number of seconds; None stays None."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) or str(value).strip().isdigit():
        return timedelta(seconds=int(value))
    text = str(value).strip().lower()
    if not re.fullmatch(r"(\s*\d+\s*[smhdw])+\s*", text):
        raise ConfigurationError(f"{option} {value!r} is not a duration; write it like 90s, 15m, 36h, 7d or 2w3d")
    return timedelta(seconds=sum(int(amount) * DURATION_UNITS[unit] for amount, unit in DURATION_PATTERN.findall(text)))


class Stopwatch:
    """Elapsed seconds on the monotonic clock, immune to wall-clock jumps."""

    def __init__(self) -> None:
        self.started_at = utc_now()
        self._start = time.monotonic()

    def elapsed(self) -> float:
        return round(time.monotonic() - self._start, 3)


def wait_for(
    probe: t.Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    interval: float = 1.0,
    max_interval: float = 10.0,
    on_progress: t.Callable[[float], None] | None = None,
) -> T:
    """Call probe until it returns something other than None, or fail after timeout.

    The interval grows by half each round up to max_interval, so short waits
    answer quickly and long ones do not hammer the server.
    """
    stopwatch = Stopwatch()
    delay = interval
    while True:
        outcome = probe()
        if outcome is not None:
            return outcome
        elapsed = stopwatch.elapsed()
        if elapsed >= timeout:
            raise WaitTimeout(f"{what}: not reached after {timeout:g}s", waited_s=elapsed)
        if on_progress is not None:
            on_progress(elapsed)
        time.sleep(min(delay, max(timeout - elapsed, 0.05)))
        delay = min(delay * 1.5, max_interval)
