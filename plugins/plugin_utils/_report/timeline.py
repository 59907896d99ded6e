# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The incident timeline of a run and the RTO/RPO it achieved (controller side: the dr_report callback).

The dr_report callback feeds a Timeline with what Ansible tells it (playbook,
plays, task starts, task results); everything else happens here, in plain
Python: recognising component results by their shape, measuring RTO and RPO,
comparing them with the plan's targets and rendering report.json, report.md
and a self-contained report.html.

Component results are recognised by shape, not by module name:

- a result with ``component`` and ``backup_id`` (backup and restore modules),
  optionally ``consistency_point`` ({"time": ISO 8601, ...}) or, for a
  point-in-time restore, ``recovered_to`` (the last transaction replayed),
  ``verification`` or ``verified`` and ``duration_s``; a physical restore's
  ``pgbackrest_repo`` and ``action`` (``restored``, ``promoted``) name the
  pgBackRest repository it came from and whether a warm standby was promoted;
- the items of a ``verified`` list that carry ``component`` and ``backup_id``
  (backup_verify);
- a result with ``previous``, ``new`` and ``changed`` (dns_failover);
- a result with ``component``, ``backup_id`` and a ``restore_test`` record
  (restore_test_record): one restore test, passed or failed, with its
  duration (the projected RTO); reported under ``restore_tests``;
- a fact ``dr_heartbeat`` ({"component": name, "time": ISO 8601}, or a list of
  them) set by a playbook after recovery: the newest heartbeat row or key
  found in the recovered data. It measures the RPO more exactly than the
  consistency point and takes its place;
- a fact ``dr_recovered`` ({component: {"requested_time", "consistency_time",
  ...}}) set by the level playbooks: a component restored to a requested
  point in time (``target_time``; for S3 the time it rolled back to) shows
  that time, the point reached and the gap between them. The run's state is
  only as consistent as its widest gap.

A restore run in the background (async with poll 0, as the level 2 and 3
playbooks do for the components of one restore step) reports twice: the
launch (``ansible_job_id``, ``started``, not ``finished``) and later the
``async_status`` result carrying the module's result. Its event takes the
launching task's action and name, starts when that task started (like a
task run in the foreground) and ends ``duration_s`` (the module's own time)
after the launch returned, when the job was running: never after the result
was seen. Components restored at the same time show overlapping times.

In a loop result each item counts on its own: a failed item's component is
not counted as recovered, and the items that succeeded are, even when the
task as a whole failed or had its errors ignored.

Achieved RTO = incident start -> end of the last restore, verification or DNS
failover (a run that restored nothing and moved no DNS has none); achieved RPO per component = incident start -> newest consistency
point restored for it (never negative), or from the requested point in time
when one was asked for (what came after it was given up on purpose); the
run's RPO is the worst component's.
"""

from __future__ import annotations

import html
import json
import os
import re
import tempfile
import typing as t
from datetime import datetime, timedelta

from ansible_collections.resilience.dr.plugins.module_utils._atomic import write_private
from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError
from ansible_collections.resilience.dr.plugins.module_utils._timing import format_time, parse_duration, parse_time

REPORT_VERSION = 1
# The environment variable naming the file where the dr_report callback leaves the measurements so far for the
# recovery_targets task (a task's worker process inherits the controller's environment).
TARGETS_FILE_VARIABLE = "DR_REPORT_TARGETS_FILE"
# The task that checks the targets (plugins/action/recovery_targets.py), as a playbook may name it.
TARGETS_ACTIONS = frozenset({"resilience.dr.recovery_targets", "recovery_targets"})
MESSAGE_LIMIT = 500
RECOVERY_KINDS = ("restore", "verify", "dns_failover")
# What a recovery reports about the backup each component came from (playbooks/tasks/restore_sources.yml).
SOURCE_KEYS = ("site", "repository", "backup_id", "status", "age_s", "copied_from", "copied_at")
RESTORE_TEST_KEYS = ("ok", "duration_s", "target_rto_s", "error")
WRITE_FREEZE_KEYS = ("site", "components", "start", "end", "duration_s", "thawed")


def _text(value: t.Any) -> str:
    return "" if value is None else str(value)


def plain(value: t.Any) -> t.Any:
    """A JSON-safe copy with plain str/dict/list (Ansible hands over str and dict subclasses)."""
    if isinstance(value, dict) or hasattr(value, "items"):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [plain(item) for item in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, datetime):
        return format_time(value)
    return str(value)


def format_seconds(seconds: float | None) -> str:
    """A duration for people: 42.3s, 12m 05s, 3h 02m."""
    if seconds is None:
        return "n/a"
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if seconds < 60:
        return f"{sign}{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{sign}{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{sign}{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{sign}{days}d {hours:02d}h"


def run_id(started: datetime, playbook: str) -> str:
    """UTC timestamp + playbook name, safe as a directory name: 20261123T040000Z-level1_component."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", os.path.splitext(os.path.basename(playbook or "run"))[0]) or "run"
    return f"{started.strftime('%Y%m%dT%H%M%SZ')}-{name}"


def _action_kind(action: str, result: dict[str, t.Any]) -> str:
    short = (action or "").rsplit(".", 1)[-1]
    if "restore" in short:
        return "restore"
    if "verify" in short:
        return "verify"
    if "backup" in short or "snapshot" in short:
        return "backup"
    if "restored" in result or "target_db" in result:
        return "restore"
    return "component"


def _consistency_time(result: dict[str, t.Any]) -> str | None:
    point = result.get("consistency_point")
    if isinstance(point, dict) and point.get("time"):
        return str(point["time"])
    if isinstance(point, str) and point:
        return point
    return None


def _verified_flag(result: dict[str, t.Any]) -> bool | None:
    verified = result.get("verified")
    if isinstance(verified, bool):
        return verified
    verification = result.get("verification")
    if isinstance(verification, dict):
        for key in ("ok", "passed", "verified"):
            if isinstance(verification.get(key), bool):
                return verification[key]
    return None


def component_events(action: str, result: dict[str, t.Any]) -> list[dict[str, t.Any]]:
    """The component and DNS events one module result carries (loop results included)."""
    if not isinstance(result, dict):
        return []
    events: list[dict[str, t.Any]] = []
    if isinstance(result.get("results"), list):
        for item in result["results"]:
            if isinstance(item, dict):
                events.extend(component_events(action, item))
    test = result.get("restore_test")
    if result.get("component") and result.get("backup_id") and isinstance(test, dict):
        events.append({"kind": "restore_test", "component": _text(result["component"]),
                       "backup_id": _text(result["backup_id"]),
                       **{key: plain(test.get(key)) for key in RESTORE_TEST_KEYS}})
    elif result.get("component") and result.get("backup_id"):
        event = {
            "kind": _action_kind(action, result),
            "component": _text(result["component"]),
            "backup_id": _text(result["backup_id"]),
            # A point-in-time restore replays past the backup's point: what it reached is what was kept.
            "consistency_time": _text(result.get("recovered_to")) or _consistency_time(result),
            "verified": _verified_flag(result),
            "changed": bool(result.get("changed", False)),
        }
        if isinstance(result.get("duration_s"), (int, float)):
            event["duration_s"] = float(result["duration_s"])
        # A physical restore says which pgBackRest repository its files and WAL came from, and how it recovered.
        if isinstance(result.get("pgbackrest_repo"), int) and not isinstance(result.get("pgbackrest_repo"), bool):
            event["pgbackrest_repo"] = result["pgbackrest_repo"]
            if isinstance(result.get("action"), str):
                event["action"] = result["action"]
        events.append(event)
    elif isinstance(result.get("verified"), list):
        for item in result["verified"]:
            if isinstance(item, dict) and item.get("component") and item.get("backup_id"):
                events.append({
                    "kind": "verify", "component": _text(item["component"]), "backup_id": _text(item["backup_id"]),
                    "consistency_time": _consistency_time(item), "verified": item.get("ok"), "changed": False,
                })
    snapshot = result.get("snapshot")
    if result.get("component") and isinstance(snapshot, dict) and snapshot.get("db_snapshot_identifier"):
        # An RDS restore from a snapshot: the copy it came from is the snapshot in the site's region.
        events.append({"kind": "source", "component": _text(result["component"]), "source": {
            "repository": f"RDS snapshots in {_text(snapshot.get('region') or '-')}",
            "backup_id": _text(snapshot["db_snapshot_identifier"]), "age_s": snapshot.get("age_s"),
            "copied_from": _text(snapshot.get("source_region")) if snapshot.get("source_region") else None,
            "copied_at": _text(snapshot.get("snapshot_create_time")) if snapshot.get("source_region") else None,
        }})
    facts = result.get("ansible_facts")
    sources = facts.get("dr_source") if isinstance(facts, dict) else None
    for source in sources if isinstance(sources, list) else []:
        if isinstance(source, dict) and source.get("component") and source.get("backup_id"):
            kept = {key: plain(source.get(key)) for key in SOURCE_KEYS}
            events.append({"kind": "source", "component": _text(source["component"]), "source": kept})
    recovered = facts.get("dr_recovered") if isinstance(facts, dict) else None
    for name, point in recovered.items() if isinstance(recovered, dict) else []:
        if isinstance(point, dict) and point.get("requested_time"):
            events.append({"kind": "point", "component": _text(name), "requested_time": _text(point["requested_time"]),
                           "reached_time": _text(point.get("consistency_time")) or None})
    heartbeats = facts.get("dr_heartbeat") if isinstance(facts, dict) else None
    for beat in heartbeats if isinstance(heartbeats, list) else [heartbeats] if heartbeats else []:
        if isinstance(beat, dict) and beat.get("component") and beat.get("time"):
            events.append({"kind": "heartbeat", "component": _text(beat["component"]), "heartbeat_time": _text(beat["time"])})
    freeze = facts.get("dr_write_freeze") if isinstance(facts, dict) else None
    if isinstance(freeze, dict) and freeze.get("start") and freeze.get("end"):
        # The failback's write freeze: its downtime, from the first datastore frozen to the traffic moved (or thawed).
        # start and end are the task's own times in every event: the freeze's are freeze_start and freeze_end.
        event = {"kind": "write_freeze", **{key: plain(freeze.get(key)) for key in WRITE_FREEZE_KEYS}}
        event["freeze_start"], event["freeze_end"] = event.pop("start"), event.pop("end")
        try:
            event["duration_s"] = float(event["duration_s"])
        except (TypeError, ValueError):
            event["duration_s"] = None
        events.append(event)
    if "previous" in result and "new" in result and "changed" in result:
        events.append({
            "kind": "dns_failover", "record": _text(result.get("record")), "previous": plain(result.get("previous")),
            "new": plain(result.get("new")), "changed": bool(result.get("changed")),
        })
    return events


def _result_parts(result: dict[str, t.Any], status: str) -> list[tuple[dict[str, t.Any], str]]:
    """A task result split into its own part and its loop items, each with its own status."""
    if not isinstance(result, dict):
        return []
    items = result.get("results")
    if not isinstance(items, list):
        return [(result, status)]
    parts = [({key: value for key, value in result.items() if key != "results"}, status)]
    for item in items:
        if not isinstance(item, dict) or item.get("skipped") is True:
            continue
        if item.get("failed"):
            item_status = "failed"
        elif status in ("failed", "ignored"):
            item_status = "changed" if item.get("changed") else "ok"
        else:
            item_status = status
        parts.append((item, item_status))
    return parts


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


class Timeline:
    """Collects one run's events and turns them into the report."""

    def __init__(self) -> None:
        self.playbook: str = ""
        self.started: datetime | None = None
        self.finished: datetime | None = None
        self.plays: list[str] = []
        self.tasks: list[dict[str, t.Any]] = []
        self.events: list[dict[str, t.Any]] = []
        self._task_starts: dict[str, tuple[str, datetime, str]] = {}
        # Background jobs by ansible_job_id: (task name, task start, action, when the launch returned).
        self._jobs: dict[str, tuple[str, datetime, str, datetime]] = {}
        self.plan: t.Any = None
        self.incident_start_value: t.Any = None
        self.target_time_value: t.Any = None
        self.check_mode = False
        # fail_on_miss as the recovery_targets task decided it (its option, else the callback's).
        self.targets_fail_on_miss: bool | None = None
        self.targets_failed_run = False
        self.stats: dict[str, dict[str, int]] = {}
        self.problems: list[str] = []

    # --- what the callback feeds in ---------------------------------------------------------

    def playbook_start(self, playbook: str, moment: datetime) -> None:
        self.playbook = playbook
        self.started = moment

    def play_start(self, name: str, extra_vars: dict[str, t.Any], moment: datetime) -> None:
        if self.started is None:
            self.started = moment
        self.plays.append(name)
        if "dr_plan" in extra_vars:
            self.plan = plain(extra_vars["dr_plan"])
        if extra_vars.get("incident_start"):
            self.incident_start_value = plain(extra_vars["incident_start"])
        if extra_vars.get("target_time"):
            self.target_time_value = plain(extra_vars["target_time"])

    def task_start(self, task_id: str, name: str, action: str, moment: datetime) -> None:
        self._task_starts[task_id] = (name, moment, action)

    def task_result(
        self, task_id: str, host: str, status: str, result: dict[str, t.Any], moment: datetime,
        name: str | None = None, action: str | None = None, preview: bool = False,
    ) -> None:
        """status: ok, changed, failed, ignored, skipped, unreachable, rescued.

        preview: the task ran in check mode inside a real run; it is listed, but
        what it predicts is no event of the recovery.
        """
        started_name, started, started_action = self._task_starts.get(task_id, (name or "", moment, action or ""))
        task_name = name or started_name
        task_action = action or started_action
        entry: dict[str, t.Any] = {
            "name": task_name, "action": task_action, "host": host, "status": status,
            "start": format_time(started), "end": format_time(moment),
            "duration_s": round((moment - started).total_seconds(), 3),
        }
        censored = isinstance(result, dict) and ("censored" in result or result.get("_ansible_no_log"))
        if status in ("failed", "ignored", "unreachable") and isinstance(result, dict) and not censored and result.get("msg"):
            entry["msg"] = _text(result.get("msg"))[:MESSAGE_LIMIT]
        if preview:
            entry["preview"] = True
        self.tasks.append(entry)
        if task_action in TARGETS_ACTIONS and isinstance(result, dict) and isinstance(result.get("fail_on_miss"), bool):
            self.targets_fail_on_miss = result["fail_on_miss"]
            self.targets_failed_run = self.targets_failed_run or status == "failed"
        if status in ("skipped", "unreachable") or censored or preview:
            return
        for part, part_status in _result_parts(result, status):
            job_id = _text(part.get("ansible_job_id"))
            if job_id and part.get("started") and not part.get("finished"):
                self._jobs[job_id] = (task_name, started, task_action, moment)
                continue
            part_name, part_start, part_end, part_action = task_name, started, moment, task_action
            if job_id and job_id in self._jobs:
                part_name, part_start, part_action, launched = self._jobs[job_id]
                if isinstance(part.get("duration_s"), (int, float)):
                    part_end = min(moment, launched + timedelta(seconds=float(part["duration_s"])))
            for event in component_events(part_action, part):
                event.update(task=part_name, host=host, start=format_time(part_start), end=format_time(part_end),
                             status=part_status)
                self.events.append(event)

    def finish(self, moment: datetime, stats: dict[str, dict[str, int]], check_mode: bool = False) -> None:
        self.finished = moment
        self.stats = stats
        self.check_mode = check_mode

    # --- the measurements -------------------------------------------------------------------

    def incident_start(self) -> tuple[datetime, str]:
        if self.incident_start_value:
            try:
                return parse_time(self.incident_start_value, "incident_start"), "extra var incident_start"
            except ConfigurationError as error:
                self.problems.append(f"{error.message}; the playbook start is used instead")
        if self.started is None:
            raise ConfigurationError("the run recorded no playbook start; there is nothing to report")
        return self.started, "playbook start"

    def _point_gap(self, entry: dict[str, t.Any]) -> datetime | None:
        """Set the gap between a component's requested point in time and the point reached; return the former."""
        if not entry.get("requested_time"):
            return None
        try:
            requested = parse_time(entry["requested_time"], f"requested time of {entry['component']}")
            reached = parse_time(entry["reached_time"]) if entry.get("reached_time") else None
        except ConfigurationError as error:
            self.problems.append(error.message)
            return None
        entry["point_gap_s"] = round(max((requested - reached).total_seconds(), 0.0), 3) if reached else None
        return requested

    def _point_in_time(self, components: dict[str, dict[str, t.Any]]) -> dict[str, t.Any]:
        """The run's requested point in time and the widest gap to what a component reached."""
        target = None
        if self.target_time_value:
            try:
                target = format_time(parse_time(self.target_time_value, "target_time"))
            except ConfigurationError as error:
                self.problems.append(error.message)
        asked = [entry for entry in components.values() if entry.get("requested_time")]
        gaps = [entry for entry in asked if entry.get("point_gap_s") is not None]
        widest = max(gaps, key=lambda entry: entry["point_gap_s"]) if gaps else None
        return {
            "target_time": target,
            "components": len(asked),
            "widest_gap_s": widest["point_gap_s"] if widest else None,
            "widest_gap_component": widest["component"] if widest else None,
        }

    def report(self, fail_on_target_miss: bool = False) -> dict[str, t.Any]:
        if self.targets_fail_on_miss is not None:
            fail_on_target_miss = self.targets_fail_on_miss
        if self.started is None:
            raise ConfigurationError("the run recorded no playbook start; there is nothing to report")
        finished = self.finished or self.started
        incident, incident_source = self.incident_start()
        targets = plan_targets(self.plan)
        for name, target in targets.items():
            for key in ("rpo_error", "rto_error"):
                if target.get(key):
                    self.problems.append(target[key])

        good_events = [event for event in self.events if event["status"] != "failed"]
        recovery = [event for event in good_events if event["kind"] in RECOVERY_KINDS]
        components: dict[str, dict[str, t.Any]] = {}
        for event in good_events:
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
                    self.problems.append(f"heartbeat of {event['component']}: {error.message}")
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
            reference = self._point_gap(entry) or incident
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

        restored = any(event["kind"] in ("restore", "dns_failover") for event in recovery)
        last_recovery = max((event["end"] for event in recovery), default=None) if restored else None
        rto_seconds = round((parse_time(last_recovery) - incident).total_seconds(), 3) if last_recovery else None
        rpos = [entry["rpo_seconds"] for entry in components.values() if entry["rpo_seconds"] is not None]
        rpo_seconds = max(rpos) if rpos else None
        failures = {host: count for host, count in (self.stats.get("failures") or {}).items() if count}
        unreachable = {host: count for host, count in (self.stats.get("dark") or {}).items() if count}
        run_ok = not failures and not unreachable and not any(task["status"] == "failed" for task in self.tasks)
        measured = [entry for entry in components.values() if entry["rto_met"] is not None or entry["rpo_met"] is not None]
        if self.check_mode:
            verdict = "check_mode"
        elif misses:
            verdict = "missed"
        elif measured:
            verdict = "met"
        else:
            verdict = "no_targets"
        dns = [event for event in good_events if event["kind"] == "dns_failover"]
        freezes = [event for event in good_events if event["kind"] == "write_freeze"]
        return {
            "version": REPORT_VERSION,
            "run_id": run_id(self.started, self.playbook),
            "application": (self.plan or {}).get("name") if isinstance(self.plan, dict) else None,
            "playbook": {"path": self.playbook, "name": os.path.splitext(os.path.basename(self.playbook))[0]},
            "plays": self.plays,
            "check_mode": self.check_mode,
            "started": format_time(self.started),
            "finished": format_time(finished),
            "duration_s": round((finished - self.started).total_seconds(), 3),
            "incident_start": format_time(incident),
            "incident_start_source": incident_source,
            "point_in_time": self._point_in_time(components),
            "run": {"ok": run_ok, "failures": failures, "unreachable": unreachable, "stats": plain(self.stats)},
            "rto_seconds": rto_seconds,
            "rto_end": last_recovery,
            "rpo_seconds": rpo_seconds,
            "targets": {"verdict": verdict, "misses": misses, "fail_on_target_miss": fail_on_target_miss,
                        "failed_run": self.targets_failed_run},
            "components": sorted(components.values(), key=lambda entry: entry["recovered_at"] or ""),
            "dns": dns,
            "write_freeze": {
                "site": freezes[-1]["site"], "components": freezes[-1]["components"],
                "start": freezes[-1]["freeze_start"], "end": freezes[-1]["freeze_end"],
                "duration_s": freezes[-1]["duration_s"], "thawed": freezes[-1]["thawed"],
            } if freezes else None,
            "restore_tests": [{key: event[key] for key in ("component", "backup_id", *RESTORE_TEST_KEYS)}
                              for event in good_events if event["kind"] == "restore_test"],
            "events": self.events,
            "tasks": self.tasks,
            "problems": self.problems,
        }

    def targets_so_far(self, moment: datetime, fail_on_target_miss: bool, check_mode: bool) -> dict[str, t.Any]:
        """The targets' verdict of the run up to moment, for the recovery_targets task; the timeline stays as it was."""
        problems, finished, was_check_mode = list(self.problems), self.finished, self.check_mode
        self.finished, self.check_mode = moment, check_mode
        try:
            report = self.report(fail_on_target_miss=fail_on_target_miss)
        finally:
            self.problems, self.finished, self.check_mode = problems, finished, was_check_mode
        return {
            "run_id": report["run_id"], "run_ok": report["run"]["ok"], "verdict": report["targets"]["verdict"],
            "misses": report["targets"]["misses"], "fail_on_target_miss": fail_on_target_miss,
            "rto_seconds": report["rto_seconds"], "rpo_seconds": report["rpo_seconds"],
        }


def point_in_time_text(point: dict[str, t.Any]) -> str:
    """The run's point in time and its widest gap, in one sentence (report and the run's final message)."""
    if not point.get("components"):
        return ""
    asked = f"point in time {point['target_time']}" if point.get("target_time") else "point in time per component"
    if point.get("widest_gap_s") is None:
        return f"{asked}: the point reached is unknown"
    return (f"{asked}: widest gap {format_seconds(point['widest_gap_s'])} ({point['widest_gap_component']}); "
            "the application's state is only as consistent as that gap")


def publish_targets(measured: dict[str, t.Any], previous: str | None = None) -> str:
    """Write the measurements so far to a new private file and name it in TARGETS_FILE_VARIABLE; return its path."""
    withdraw_targets(previous)
    descriptor, path = tempfile.mkstemp(prefix="dr_report-targets-", suffix=".json")
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(measured, handle)
    os.environ[TARGETS_FILE_VARIABLE] = path
    return path


def withdraw_targets(path: str | None) -> None:
    """Remove a file publish_targets wrote, and its name from the environment."""
    os.environ.pop(TARGETS_FILE_VARIABLE, None)
    if path:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def should_fail(report: dict[str, t.Any]) -> bool:
    """Whether fail_on_target_miss turns this report into a failed run."""
    return bool(report["targets"]["fail_on_target_miss"] and report["targets"]["verdict"] == "missed")


# --- rendering ---------------------------------------------------------------------------------


def _cell(value: t.Any) -> str:
    return _text(value).replace("|", "\\|").replace("\n", " ") or "-"


PHYSICAL_ACTIONS = {"promoted": "the warm standby promoted", "restored": "restored from scratch"}


def source_text(entry: dict[str, t.Any]) -> str:
    """The copy a component was restored from, in words: which, where, copied from where and when, how old;
    for a physical restore also the pgBackRest repository its files and WAL came from and how it recovered."""
    source = entry.get("source") or {}
    parts = []
    if source:
        text = f"{source.get('backup_id')} in {source.get('repository')}"
        if source.get("status"):
            text += f" ({source['status']})"
        if source.get("copied_from"):
            text += f", copied from {source['copied_from']}" + (f" at {source['copied_at']}" if source.get("copied_at") else "")
        if isinstance(source.get("age_s"), (int, float)):
            text += f", {format_seconds(float(source['age_s']))} old when chosen"
        parts.append(text)
    if entry.get("pgbackrest_repo") is not None:
        text = f"files and WAL from pgBackRest repo{entry['pgbackrest_repo']}"
        if entry.get("restore_action") in PHYSICAL_ACTIONS:
            text += f" ({PHYSICAL_ACTIONS[entry['restore_action']]})"
        parts.append(text)
    return "; ".join(parts)


def restore_test_rows(report: dict[str, t.Any]) -> list[tuple[t.Any, ...]]:
    """Each restore test: component, backup, passed or FAILED, duration, RTO target, error."""
    return [(test["component"], test["backup_id"], "passed" if test.get("ok") else "FAILED",
             format_seconds(test.get("duration_s")), format_seconds(test.get("target_rto_s")), test.get("error"))
            for test in report.get("restore_tests") or []]


def _kept(entry: dict[str, t.Any]) -> str:
    """What the RPO was measured from: the newest heartbeat recovered, else the consistency point."""
    if entry.get("heartbeat_time"):
        return f"heartbeat {entry['heartbeat_time']}"
    return _text(entry.get("consistency_time")) or "-"


def _met(value: bool | None) -> str:
    return {True: "met", False: "MISSED", None: "-"}[value]


def render_markdown(report: dict[str, t.Any]) -> str:
    lines = [
        f"# DR run report: {report['run_id']}",
        "",
        f"- Application: {report.get('application') or 'not given (no dr_plan)'}",
        f"- Playbook: `{report['playbook']['path']}`" + (" (check mode: nothing was changed)" if report["check_mode"] else ""),
        f"- Run: {report['started']} to {report['finished']} ({format_seconds(report['duration_s'])}), "
        f"{'succeeded' if report['run']['ok'] else 'FAILED'}",
        f"- Incident start: {report['incident_start']} ({report['incident_start_source']})",
        f"- Achieved RTO: **{format_seconds(report['rto_seconds'])}** (incident start to the last restore, "
        f"verification or failover{', at ' + report['rto_end'] if report['rto_end'] else ''})",
        f"- Achieved RPO: **{format_seconds(report['rpo_seconds'])}** (worst component: incident start to the newest "
        "data recovered, a heartbeat or else the restored consistency point)",
        f"- Targets: **{report['targets']['verdict']}**",
    ]
    point = report.get("point_in_time") or {}
    if point.get("components"):
        lines.append(f"- Point in time: {point_in_time_text(point)}")
    for miss in report["targets"]["misses"]:
        lines.append(f"  - {miss}")
    if should_fail(report):
        lines.append("  - fail_on_target_miss is set: " + (
            "the task resilience.dr.recovery_targets failed the run" if report["targets"].get("failed_run")
            else "a run fails on it only when the playbook ends with the task resilience.dr.recovery_targets"))
    freeze = report.get("write_freeze")
    if freeze:
        lines.append(
            f"- Write freeze (downtime of the failback): **{format_seconds(freeze.get('duration_s'))}**, "
            f"{freeze.get('start')} to {freeze.get('end')} on {freeze.get('site')} "
            f"({', '.join(freeze.get('components') or []) or 'no datastore'})"
            + ("; the failback failed and the site was thawed" if freeze.get("thawed") else ""))
    for problem in report["problems"]:
        lines.append(f"- Problem: {problem}")
    lines += ["", "## Components", ""]
    if report["components"]:
        lines += [
            "| component | backup | data kept up to | recovered at | RTO | target | | RPO | target | |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for entry in report["components"]:
            lines.append("| " + " | ".join(_cell(value) for value in (
                entry["component"], entry["backup_id"], _kept(entry), entry["recovered_at"],
                format_seconds(entry["rto_seconds"]), entry["rto_target"], _met(entry["rto_met"]),
                format_seconds(entry["rpo_seconds"]), entry["rpo_target"], _met(entry["rpo_met"]),
            )) + " |")
    else:
        lines.append("No component was restored, verified or backed up in this run.")
    asked = [entry for entry in report["components"] if entry.get("requested_time")]
    if asked:
        lines += ["", "## Point in time", "", "| component | requested | reached | gap |", "|---|---|---|---|"]
        lines += ["| " + " | ".join(_cell(value) for value in (
            entry["component"], entry["requested_time"], entry.get("reached_time"),
            format_seconds(entry.get("point_gap_s")))) + " |" for entry in asked]
    sources = [entry for entry in report["components"] if entry.get("source") or entry.get("pgbackrest_repo") is not None]
    if sources:
        lines += ["", "## Where each component came from", ""]
        lines += [f"- {entry['component']}: {source_text(entry)}" for entry in sources]
    if report.get("restore_tests"):
        lines += ["", "## Restore tests", "", "| component | backup | result | duration | RTO target | error |",
                  "|---|---|---|---|---|---|"]
        lines += ["| " + " | ".join(_cell(value) for value in row) + " |" for row in restore_test_rows(report)]
    if report["dns"]:
        lines += ["", "## DNS", "", "| record | previous | new | changed | at |", "|---|---|---|---|---|"]
        for event in report["dns"]:
            lines.append("| " + " | ".join(_cell(value) for value in (
                event["record"], json.dumps(event["previous"]), json.dumps(event["new"]), event["changed"], event["end"],
            )) + " |")
    lines += ["", "## Timeline", "", "| start | end | duration | host | status | task |", "|---|---|---|---|---|---|"]
    for task in report["tasks"]:
        if task["status"] == "skipped":
            continue
        name = task["name"] + (f" ({task['msg']})" if task.get("msg") else "")
        lines.append("| " + " | ".join(_cell(value) for value in (
            task["start"], task["end"], format_seconds(task["duration_s"]), task["host"], task["status"], name,
        )) + " |")
    return "\n".join(lines) + "\n"


CSS = """
body{font-family:-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:2em;color:#1d2733;max-width:1200px}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}td,th{border:1px solid #d0d7de;padding:.25em .6em;text-align:left}
th{background:#f3f5f7}.met{color:#116329;font-weight:bold}.missed{color:#b42318;font-weight:bold}
.summary{display:flex;gap:1em;flex-wrap:wrap}.card{border:1px solid #d0d7de;border-radius:6px;padding:.6em 1em;min-width:10em}
.card b{display:block;font-size:1.4em}svg text{font-size:11px;font-family:inherit}
"""

STATUS_COLOURS = {"ok": "#2da44e", "changed": "#bf8700", "failed": "#cf222e", "ignored": "#8250df",
                  "unreachable": "#6e7781", "rescued": "#0969da"}


def _svg_timeline(report: dict[str, t.Any]) -> str:
    tasks = [task for task in report["tasks"] if task["status"] != "skipped"]
    incident = parse_time(report["incident_start"])
    end = parse_time(report["finished"])
    times = [parse_time(task["start"]) for task in tasks] + [incident]
    origin = min(times)
    span = max((end - origin).total_seconds(), 1.0)
    label_width, width, row = 330, 860, 16
    height = 40 + row * len(tasks)

    def x(moment: datetime) -> float:
        return label_width + (moment - origin).total_seconds() / span * (width - label_width - 10)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="Timeline of the run">']
    for step in range(5):
        moment = origin + timedelta(seconds=span * step / 4)
        parts.append(f'<line x1="{x(moment):.1f}" y1="14" x2="{x(moment):.1f}" y2="{height}" stroke="#eaeef2"/>')
        anchor = "end" if step == 4 else "middle"
        parts.append(f'<text x="{x(moment):.1f}" y="11" text-anchor="{anchor}">+{format_seconds(span * step / 4)}</text>')
    for number, task in enumerate(tasks):
        top = 20 + number * row
        start, finish = parse_time(task["start"]), parse_time(task["end"])
        width_px = max(x(finish) - x(start), 2.0)
        label = task["name"] if len(task["name"]) <= 48 else task["name"][:47] + "…"
        parts.append(f'<text x="4" y="{top + 11}">{html.escape(label)}</text>')
        parts.append(
            f'<rect x="{x(start):.1f}" y="{top + 2}" width="{width_px:.1f}" height="{row - 4}" '
            f'fill="{STATUS_COLOURS.get(task["status"], "#57606a")}"><title>{html.escape(task["name"])} on '
            f'{html.escape(task["host"])}: {task["status"]}, {format_seconds(task["duration_s"])}</title></rect>'
        )
    parts.append(f'<line x1="{x(incident):.1f}" y1="14" x2="{x(incident):.1f}" y2="{height}" stroke="#cf222e" '
                 f'stroke-dasharray="4 3"><title>incident start</title></line>')
    if report["rto_end"]:
        rto_x = x(parse_time(report["rto_end"]))
        parts.append(f'<line x1="{rto_x:.1f}" y1="14" x2="{rto_x:.1f}" y2="{height}" stroke="#0969da" '
                     f'stroke-dasharray="4 3"><title>recovered (RTO end)</title></line>')
    parts.append("</svg>")
    return "".join(parts)


def _svg_bars(report: dict[str, t.Any], key: str) -> str:
    entries = [entry for entry in report["components"] if entry[f"{key}_seconds"] is not None]
    if not entries:
        return f"<p>No {key.upper()} was measured in this run.</p>"
    scale_max = max(max(entry[f"{key}_seconds"], entry[f"{key}_target_seconds"] or 0) for entry in entries) or 1.0
    label_width, width, row = 160, 700, 26
    height = 10 + row * len(entries)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="{key.upper()} achieved against target per component">']
    for number, entry in enumerate(entries):
        top = 5 + number * row
        achieved, target = entry[f"{key}_seconds"], entry[f"{key}_target_seconds"]
        length = max(achieved / scale_max * (width - label_width - 120), 2.0)
        colour = "#cf222e" if entry[f"{key}_met"] is False else "#2da44e"
        parts.append(f'<text x="4" y="{top + 15}">{html.escape(entry["component"])}</text>')
        parts.append(f'<rect x="{label_width}" y="{top + 4}" width="{length:.1f}" height="14" fill="{colour}"/>')
        text = format_seconds(achieved) + (f" / target {format_seconds(target)}" if target is not None else "")
        parts.append(f'<text x="{label_width + length + 6:.1f}" y="{top + 15}">{html.escape(text)}</text>')
        if target is not None:
            target_x = label_width + target / scale_max * (width - label_width - 120)
            parts.append(f'<line x1="{target_x:.1f}" y1="{top}" x2="{target_x:.1f}" y2="{top + 22}" stroke="#1d2733" '
                         f'stroke-width="2"><title>target {html.escape(_text(entry[f"{key}_target"]))}</title></line>')
    parts.append("</svg>")
    return "".join(parts)


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(header)}</th>" for header in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _met_html(value: bool | None) -> str:
    return {True: '<span class="met">met</span>', False: '<span class="missed">MISSED</span>', None: "-"}[value]


def render_html(report: dict[str, t.Any]) -> str:
    """One self-contained page: inline CSS and SVG, no scripts, no external references."""
    escape = html.escape
    verdict = report["targets"]["verdict"]
    verdict_class = {"met": "met", "missed": "missed"}.get(verdict, "")
    cards = [
        ("Achieved RTO", format_seconds(report["rto_seconds"])),
        ("Achieved RPO", format_seconds(report["rpo_seconds"])),
        ("Targets", f'<span class="{verdict_class}">{escape(verdict)}</span>'),
        ("Run", "succeeded" if report["run"]["ok"] else '<span class="missed">FAILED</span>'),
    ]
    summary = "".join(f'<div class="card">{escape(title)}<b>{value if title in ("Targets", "Run") else escape(value)}</b></div>'
                      for title, value in cards)
    misses = "".join(f"<li class=\"missed\">{escape(miss)}</li>" for miss in report["targets"]["misses"])
    problems = "".join(f"<li>{escape(problem)}</li>" for problem in report["problems"])
    component_rows = [[escape(_text(value)) if index not in (6, 9) else value for index, value in enumerate((
        entry["component"], entry["backup_id"] or "-", _kept(entry), entry["recovered_at"] or "-",
        format_seconds(entry["rto_seconds"]), entry["rto_target"] or "-", _met_html(entry["rto_met"]),
        format_seconds(entry["rpo_seconds"]), entry["rpo_target"] or "-", _met_html(entry["rpo_met"]),
    ))] for entry in report["components"]]
    dns_rows = [[escape(_text(value)) for value in (
        event["record"], json.dumps(event["previous"]), json.dumps(event["new"]), event["changed"], event["end"],
    )] for event in report["dns"]]
    task_rows = [[escape(_text(value)) for value in (
        task["start"], format_seconds(task["duration_s"]), task["host"], task["status"],
        task["name"] + (f" ({task['msg']})" if task.get("msg") else ""),
    )] for task in report["tasks"] if task["status"] != "skipped"]
    body = [
        f"<h1>DR run report: {escape(report['run_id'])}</h1>",
        f"<p>Application <b>{escape(_text(report.get('application') or 'not given'))}</b>, playbook "
        f"<code>{escape(report['playbook']['path'])}</code>{' (check mode)' if report['check_mode'] else ''}; "
        f"run {escape(report['started'])} to {escape(report['finished'])}; incident start "
        f"{escape(report['incident_start'])} ({escape(report['incident_start_source'])}).</p>",
        f'<div class="summary">{summary}</div>',
        f"<ul>{misses}{problems}</ul>" if misses or problems else "",
        "<h2>Timeline</h2>",
        "<p>Bars are tasks (green ok, amber changed, red failed); the red dashed line is the incident start, "
        "the blue one the end of the last restore, verification or failover.</p>",
        _svg_timeline(report),
        "<h2>RTO per component (achieved against target)</h2>", _svg_bars(report, "rto"),
        "<h2>RPO per component (achieved against target)</h2>", _svg_bars(report, "rpo"),
        "<h2>Components</h2>",
        _table(["component", "backup", "data kept up to", "recovered at", "RTO", "target", "", "RPO", "target", ""],
               component_rows) if component_rows else "<p>No component was restored, verified or backed up.</p>",
    ]
    asked = [entry for entry in report["components"] if entry.get("requested_time")]
    if asked:
        body += ["<h2>Point in time</h2>", f"<p>{escape(point_in_time_text(report.get('point_in_time') or {}))}</p>",
                 _table(["component", "requested", "reached", "gap"], [[escape(_text(value) or "-") for value in (
                     entry["component"], entry["requested_time"], entry.get("reached_time"),
                     format_seconds(entry.get("point_gap_s")))] for entry in asked])]
    sources = [entry for entry in report["components"] if entry.get("source") or entry.get("pgbackrest_repo") is not None]
    if sources:
        body += ["<h2>Where each component came from</h2>", "<ul>" + "".join(
            f"<li>{escape(entry['component'])}: {escape(source_text(entry))}</li>" for entry in sources) + "</ul>"]
    if report.get("restore_tests"):
        body += ["<h2>Restore tests</h2>", _table(["component", "backup", "result", "duration", "RTO target", "error"], [
            [escape(_text(value) or "-") for value in row] for row in restore_test_rows(report)])]
    if dns_rows:
        body += ["<h2>DNS</h2>", _table(["record", "previous", "new", "changed", "at"], dns_rows)]
    body += ["<h2>Tasks</h2>", _table(["start", "duration", "host", "status", "task"], task_rows)]
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>DR run report {escape(report['run_id'])}</title><style>{CSS}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )


def write_report(report: dict[str, t.Any], directory: str) -> str:
    """Write report.json, report.md and report.html into <directory>/<run id>/ (dirs 0700, files 0600)."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    base = os.path.join(directory, report["run_id"])
    target, suffix = base, 1
    while True:
        try:
            os.mkdir(target, 0o700)
            break
        except FileExistsError:
            suffix += 1
            target = f"{base}-{suffix}"
    if target != base:
        report["run_id"] = os.path.basename(target)
    write_private(os.path.join(target, "report.json"), json.dumps(report, indent=2, sort_keys=False) + "\n")
    write_private(os.path.join(target, "report.md"), render_markdown(report))
    write_private(os.path.join(target, "report.html"), render_html(report))
    return target


def replay(events: list[dict[str, t.Any]]) -> Timeline:
    """Feed recorded callback events (the JSON fixtures of the unit tests) into a Timeline."""
    timeline = Timeline()
    for event in events:
        moment = parse_time(event["time"])
        kind = event["event"]
        if kind == "playbook_start":
            timeline.playbook_start(event["playbook"], moment)
        elif kind == "play_start":
            timeline.play_start(event.get("name", ""), event.get("extra_vars") or {}, moment)
        elif kind == "task_start":
            timeline.task_start(event["task_id"], event["name"], event.get("action", ""), moment)
        elif kind == "task_result":
            timeline.task_result(event["task_id"], event.get("host", "localhost"), event["status"],
                                 event.get("result") or {}, moment)
        elif kind == "stats":
            timeline.finish(moment, event.get("stats") or {}, check_mode=bool(event.get("check_mode")))
        else:
            raise ConfigurationError(f"unknown event {kind!r} in the recorded events")
    return timeline
