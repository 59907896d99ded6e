# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError, WaitTimeout
from ansible_collections.resilience.dr.plugins.module_utils._timing import format_time, parse_time, wait_for


def test_parse_time_reads_zulu_offsets_and_naive_as_utc():
    expected = datetime(2026, 11, 23, 4, 0, tzinfo=timezone.utc)
    assert parse_time("2026-11-23T04:00:00Z") == expected
    assert parse_time("2026-11-23 06:00:00+02:00") == expected
    assert parse_time("2026-11-23T04:00:00") == expected


def test_parse_time_error_names_the_option_and_shows_the_format():
    with pytest.raises(ConfigurationError, match=r"target_time 'yesterday' is not an ISO 8601 time; write it like 2026-"):
        parse_time("yesterday", "target_time")


def test_format_time_is_utc_with_z_suffix():
    moment = datetime(2026, 11, 23, 6, 0, 1, 500, tzinfo=timezone(timedelta(hours=2)))
    assert format_time(moment) == "2026-11-23T04:00:01.000500Z"
    assert parse_time(format_time(moment)) == moment


def test_wait_for_returns_the_first_answer():
    answers = iter([None, None, "ready"])
    assert wait_for(lambda: next(answers), timeout=5, interval=0.01, what="server") == "ready"


def test_wait_for_times_out_naming_what_it_waited_for():
    progress = []
    with pytest.raises(WaitTimeout, match=r"replica promotion: not reached after 0.05s"):
        wait_for(lambda: None, timeout=0.05, interval=0.01, what="replica promotion", on_progress=progress.append)
    assert progress, "progress is reported while waiting"
