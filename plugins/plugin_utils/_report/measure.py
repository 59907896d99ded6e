# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The RTO and RPO a run achieved, per component and for the run, against the plan's targets.

Achieved RTO = incident start -> end of the last restore, verification or DNS
failover (a run that restored nothing and moved no DNS has none); achieved RPO per component = incident start -> newest consistency
point restored for it (never negative), or from the requested point in time
when one was asked for (what came after it was given up on purpose); the
run's RPO is the worst component's.
"""

from __future__ import annotations

import typing as t
from datetime import datetime

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError
from ansible_collections.resilience.dr.plugins.module_utils._timing import format_time, parse_duration, parse_time
from ansible_collections.resilience.dr.plugins.plugin_utils._report.values import format_seconds


def plan_targets(plan: t.Any) -> dict[str, dict[str, t.Any]]:
    """Each component's RPO/RTO target in seconds from dr_plan (unparsable ones are reported, not fatal)."""
    targets: dict[str, dict[str, t.Any]] = {}
    if not isinstance(plan, dict):
        return targets
    for component in plan.get("components") or []:
        if not isinstance(component, dict) or not component.get("name"):
            continue
        entry: dict[str, t.Any] = {"kind": component.get("kind")}
        for key in ("rpo", "rto"):
            try:
                duration = parse_duration(component.get(key), f"component {component['name']} {key}")
            except ConfigurationError as error:
                entry[f"{key}_error"] = error.message
                duration = None
            entry[f"{key}_target"] = component.get(key)
            entry[f"{key}_target_seconds"] = duration.total_seconds() if duration is not None else None
        targets[str(component["name"])] = entry
    return targets


def component_entries(events: list[dict[str, t.Any]], problems: list[str]) -> dict[str, dict[str, t.Any]]:
    """Each component's entry from the run's events that did not fail: restores, verifications and backups
    counted, the newest point restored and heartbeat found, when it was recovered, where it came from and the
    point in time asked for. A heartbeat that is no time is added to problems."""
    components: dict[str, dict[str, t.Any]] = {}
    for event in events:
        # A restore test restored into a sandbox: it is listed under restore_tests, it recovered nothing.
        if "component" not in event or event["kind"] == "restore_test":
            continue
        entry = components.setdefault(event["component"], {
            "component": event["component"], "restores": 0, "verifications": 0, "backups": 0,
            "backup_id": None, "consistency_time": None, "heartbeat_time": None, "recovered_at": None,
        })
        if event["kind"] == "source":
            entry["source"] = event["source"]
            continue
        if event["kind"] == "point":
            entry["requested_time"], entry["reached_time"] = event["requested_time"], event["reached_time"]
            continue
        if event["kind"] == "heartbeat":
            try:
                newer = entry["heartbeat_time"] is None or (
                    parse_time(event["heartbeat_time"]) > parse_time(entry["heartbeat_time"]))
            except ConfigurationError as error:
                problems.append(f"heartbeat of {event['component']}: {error.message}")
                continue
            if newer:
                entry["heartbeat_time"] = event["heartbeat_time"]
            continue
        if event["kind"] == "restore":
            entry["restores"] += 1
            for key, name in (("pgbackrest_repo", "pgbackrest_repo"), ("action", "restore_action"),
                              ("duration_s", "restore_duration_s")):
                if key in event:
                    entry[name] = event[key]
            if event.get("consistency_time") and (
                entry["consistency_time"] is None
                or parse_time(event["consistency_time"]) > parse_time(entry["consistency_time"])
            ):
                entry["consistency_time"] = event["consistency_time"]
                entry["backup_id"] = event["backup_id"]
            elif entry["backup_id"] is None:
                entry["backup_id"] = event["backup_id"]
        elif event["kind"] == "verify":
            entry["verifications"] += 1
        elif event["kind"] == "backup":
            entry["backups"] += 1
            entry.setdefault("backup_ids", []).append(event["backup_id"])
        if event["kind"] in ("restore", "verify"):
            if entry["recovered_at"] is None or event["end"] > entry["recovered_at"]:
                entry["recovered_at"] = event["end"]
    return components


def judge(components: dict[str, dict[str, t.Any]], targets: dict[str, dict[str, t.Any]], incident: datetime,
          problems: list[str]) -> list[str]:
    """Give each entry its targets, its achieved RTO and RPO and whether each was met; return each miss in words."""
    misses: list[str] = []
    for name, entry in components.items():
        target = targets.get(name, {})
        entry["rto_target"] = target.get("rto_target")
        entry["rpo_target"] = target.get("rpo_target")
        entry["rto_target_seconds"] = target.get("rto_target_seconds")
        entry["rpo_target_seconds"] = target.get("rpo_target_seconds")
        # Only a restored component has a recovery time; verifying backups alone recovers nothing.
        entry["rto_seconds"] = (
            round((parse_time(entry["recovered_at"]) - incident).total_seconds(), 3)
            if entry["restores"] and entry["recovered_at"] else None
        )
        # The newest heartbeat found after recovery is the data actually kept; else the restored point.
        kept = entry["heartbeat_time"] or (entry["consistency_time"] if entry["restores"] else None)
        entry["rpo_source"] = "heartbeat" if entry["heartbeat_time"] else ("consistency_point" if kept else None)
        # Restored to a requested point in time: the loss counts from that time, not from the incident.
        reference = point_gap(entry, problems) or incident
        entry["rpo_seconds"] = round(max((reference - parse_time(kept)).total_seconds(), 0.0), 3) if kept else None
        for key in ("rto", "rpo"):
            achieved, limit = entry[f"{key}_seconds"], entry[f"{key}_target_seconds"]
            met = None if achieved is None or limit is None else achieved <= limit
            entry[f"{key}_met"] = met
            if met is False:
                misses.append(
                    f"{name}: {key.upper()} {format_seconds(achieved)} exceeds the target "
                    f"{entry[f'{key}_target']} ({format_seconds(limit)})"
                )
    return misses


def point_gap(entry: dict[str, t.Any], problems: list[str]) -> datetime | None:
    """Set the gap between a component's requested point in time and the point reached; return the former."""
    if not entry.get("requested_time"):
        return None
    try:
        requested = parse_time(entry["requested_time"], f"requested time of {entry['component']}")
        reached = parse_time(entry["reached_time"]) if entry.get("reached_time") else None
    except ConfigurationError as error:
        problems.append(error.message)
        return None
    entry["point_gap_s"] = round(max((requested - reached).total_seconds(), 0.0), 3) if reached else None
    return requested


def point_in_time(target_time: t.Any, components: dict[str, dict[str, t.Any]], problems: list[str]) -> dict[str, t.Any]:
    """The run's requested point in time and the widest gap to what a component reached."""
    target = None
    if target_time:
        try:
            target = format_time(parse_time(target_time, "target_time"))
        except ConfigurationError as error:
            problems.append(error.message)
    asked = [entry for entry in components.values() if entry.get("requested_time")]
    gaps = [entry for entry in asked if entry.get("point_gap_s") is not None]
    widest = max(gaps, key=lambda entry: entry["point_gap_s"]) if gaps else None
    return {
        "target_time": target,
        "components": len(asked),
        "widest_gap_s": widest["point_gap_s"] if widest else None,
        "widest_gap_component": widest["component"] if widest else None,
    }


def parallel_restores(events: list[dict[str, t.Any]], rto_seconds: float | None) -> dict[str, t.Any] | None:
    """How well the run's restores overlapped: each component's restore time, the slowest, and two ratios.

    ``rto_to_slowest`` is the achieved RTO over the slowest component's restore (1.0 would mean everything
    else - plan checks, service stops, other components - hid behind that one restore); ``window_to_slowest``
    is first restore start to last restore end over the slowest restore (1.0: every restore ran beside the
    slowest; 2.0: as long as two such restores one after another, e.g. a component that depends on it).
    None when the run restored nothing.
    """
    spans: dict[str, tuple[datetime, datetime]] = {}
    for event in events:
        if event["kind"] != "restore" or not event.get("component"):
            continue
        start, end = parse_time(event["start"]), parse_time(event["end"])
        earlier = spans.get(event["component"])
        spans[event["component"]] = (min(start, earlier[0]), max(end, earlier[1])) if earlier else (start, end)
    if not spans:
        return None
    durations = {name: round((end - start).total_seconds(), 3) for name, (start, end) in spans.items()}
    slowest = max(durations, key=lambda name: durations[name])
    window = (max(end for _start, end in spans.values()) - min(start for start, _end in spans.values())).total_seconds()

    def ratio(seconds: float | None) -> float | None:
        return round(seconds / durations[slowest], 3) if seconds is not None and durations[slowest] > 0 else None

    return {
        "restore_seconds": durations,
        "slowest_component": slowest,
        "slowest_restore_seconds": durations[slowest],
        "restore_window_seconds": round(window, 3),
        "window_to_slowest": ratio(window),
        "rto_to_slowest": ratio(rto_seconds),
    }
