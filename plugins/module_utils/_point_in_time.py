# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one point in time a recovery run brings every component back to.

A level playbook takes `target_time` (the last moment the data was right)
and `incident_start` (when the incident began). Every component is restored
to the newest state at or before `target_time`; without one, to its newest
backup - except S3 components, which roll back object versions and always
need a time: they take `incident_start`, else the run's start.

Checked once, before anything is stopped, so a mistyped or future time fails
the run while the application still runs.
"""

from __future__ import annotations

import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError
from ansible_collections.resilience.dr.plugins.module_utils._timing import Clock, format_time, parse_time, utc_now


def resolve(target_time: str | None, incident_start: str | None, clock: Clock = utc_now,
            intrusion_time: str | None = None) -> dict[str, t.Any]:
    """The run's requested point in time and the time S3 components roll back to, with where each came from.

    intrusion_time (the security runbook's) is a target_time by another name: the components come back to
    their newest state at or before it, and a problem with it is named as intrusion_time."""
    if target_time and intrusion_time:
        raise ConfigurationError(
            "give either target_time or intrusion_time, not both: with intrusion_time every component is restored "
            "to its newest state at or before it"
        )
    now = clock()
    target_option = "intrusion_time" if intrusion_time else "target_time"
    target_time = target_time or intrusion_time
    target = parse_time(target_time, target_option) if target_time else None
    incident = parse_time(incident_start, "incident_start") if incident_start else None
    for option, moment in ((target_option, target), ("incident_start", incident)):
        if moment is not None and moment > now:
            raise ConfigurationError(
                f"{option} {format_time(moment)} is in the future (now is {format_time(now)}); "
                "give a time in UTC, like 2026-11-23T04:00:00Z"
            )
    if target is not None:
        s3_time, s3_source = target, target_option
    elif incident is not None:
        s3_time, s3_source = incident, "incident_start"
    else:
        s3_time, s3_source = now, "run start"
    return {
        "target_time": format_time(target) if target else None,
        "intrusion_time": format_time(target) if target and intrusion_time else None,
        "incident_start": format_time(incident) if incident else None,
        "run_started": format_time(now),
        "s3_time": format_time(s3_time),
        "s3_time_source": s3_source,
    }
