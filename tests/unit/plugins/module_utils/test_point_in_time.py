# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The run's point in time: checked before anything stops, and what S3 components roll back to."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError
from ansible_collections.resilience.dr.plugins.module_utils._point_in_time import resolve

NOW = datetime(2031, 2, 3, 4, 5, 6, tzinfo=timezone.utc)


def clock():
    return NOW


def test_a_target_time_is_normalised_to_utc_and_s3_rolls_back_to_it():
    point = resolve("2031-02-03 05:00:00+02:00", "2031-02-03T03:30:00Z", clock)
    assert point == {"target_time": "2031-02-03T03:00:00Z", "incident_start": "2031-02-03T03:30:00Z",
                     "run_started": "2031-02-03T04:05:06Z", "s3_time": "2031-02-03T03:00:00Z",
                     "s3_time_source": "target_time", "intrusion_time": None}


@pytest.mark.parametrize("incident, expected, source", [
    ("2031-02-03T03:30:00Z", "2031-02-03T03:30:00Z", "incident_start"),
    (None, "2031-02-03T04:05:06Z", "run start"),
])
def test_without_a_target_time_s3_takes_the_incident_start_else_the_run_start(incident, expected, source):
    point = resolve(None, incident, clock)
    assert point["target_time"] is None
    assert (point["s3_time"], point["s3_time_source"]) == (expected, source)


@pytest.mark.parametrize("option", ["target_time", "incident_start"])
def test_a_time_in_the_future_is_refused_naming_the_option_and_now(option):
    times = {"target_time": None, "incident_start": None, option: "2031-02-03T05:00:00Z"}
    with pytest.raises(ConfigurationError, match=rf"{option} 2031-02-03T05:00:00Z is in the future \(now is "
                                                 r"2031-02-03T04:05:06Z\)"):
        resolve(times["target_time"], times["incident_start"], clock)


def test_a_time_that_does_not_parse_shows_the_format():
    with pytest.raises(ConfigurationError, match="target_time 'yesterday' is not an ISO 8601 time; write it like"):
        resolve("yesterday", None, clock)


def test_an_intrusion_time_is_the_target_time_and_named_as_such():
    point = resolve(None, None, clock, intrusion_time="2031-02-03 05:00:00+02:00")
    assert (point["target_time"], point["intrusion_time"]) == ("2031-02-03T03:00:00Z", "2031-02-03T03:00:00Z")
    assert (point["s3_time"], point["s3_time_source"]) == ("2031-02-03T03:00:00Z", "intrusion_time")


@pytest.mark.parametrize("value, words", [
    ("2031-02-03T05:00:00Z", "intrusion_time 2031-02-03T05:00:00Z is in the future"),
    ("yesterday", "intrusion_time"),
])
def test_an_intrusion_time_in_the_future_or_unreadable_is_refused_naming_it(value, words):
    with pytest.raises(ConfigurationError, match=words):
        resolve(None, None, clock, intrusion_time=value)


def test_target_time_and_intrusion_time_exclude_each_other():
    with pytest.raises(ConfigurationError, match="either target_time or intrusion_time"):
        resolve("2031-02-03T03:00:00Z", None, clock, intrusion_time="2031-02-03T03:00:00Z")
