# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The events one task result carries: component results recognised by their shape, not by module name:

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
- a result with ``component``, ``backup_id`` and a ``pieces`` list
  (evidence_store): a security incident's evidence set stored in the
  repository; reported under ``evidence_sets``, never as a recovered component;
- a result with an ``actions`` list of words and a ``recorded`` dict (pg_incident_mode,
  redis_incident_mode, ec2_quarantine), or a fact ``security_incident_reported_action``
  (a line or a list of lines, set by the security_incident role for each credential
  it rotated and each time it stopped or started services): one action of a security
  incident, in words from our modules and roles, never a value; reported under
  ``incident_actions``;
- a fact ``dr_heartbeat`` ({"component": name, "time": ISO 8601}, or a list of
  them) set by a playbook after recovery: the newest heartbeat row or key
  found in the recovered data. It measures the RPO more exactly than the
  consistency point and takes its place;
- a fact ``plan_hook_report`` (one hook run as the hook runner records it: ``scope``,
  ``stage``, ``name``, ``kind``, ``host``, ``skipped``, ``rc``,
  ``duration_s``, ``stdout_tail``, ``failed``, ``timed_out``, ``msg``): a
  consistency hook of a backup or a recovery hook of a level; reported under
  ``hooks`` in the order they ran;
- a fact ``dr_infrastructure`` (level 3's infrastructure step: site, project, workspace,
  Terraform's summary, the outputs' names; see ``infrastructure.py``); reported
  under ``infrastructure``;
- a fact ``dr_recovered`` ({component: {"requested_time", "consistency_time",
  ...}}) set by the level playbooks: a component restored to a requested
  point in time (``target_time``; for S3 the time it rolled back to) shows
  that time, the point reached and the gap between them. The run's state is
  only as consistent as its widest gap.

In a loop result each item counts on its own: a failed item's component is
not counted as recovered, and the items that succeeded are, even when the
task as a whole failed or had its errors ignored.
"""

from __future__ import annotations

import typing as t

from ansible_collections.resilience.dr.plugins.plugin_utils._report.infrastructure import infrastructure_event
from ansible_collections.resilience.dr.plugins.plugin_utils._report.values import as_text, plain

# What a recovery reports about the backup each component came from (playbooks/tasks/restore_sources.yml).
SOURCE_KEYS = ("site", "repository", "backup_id", "status", "age_s", "copied_from", "copied_at")
RESTORE_TEST_KEYS = ("ok", "duration_s", "target_rto_s", "error")
WRITE_FREEZE_KEYS = ("site", "components", "start", "end", "duration_s", "thawed")
# What the report keeps of a hook run (roles/plan/tasks/hook.yml); stdout_tail is at most the last 20 lines.
HOOK_KEYS = ("scope", "stage", "name", "kind", "host", "skipped", "rc", "duration_s", "stdout_tail", "failed", "timed_out", "msg")


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
        events.append({"kind": "restore_test", "component": as_text(result["component"]),
                       "backup_id": as_text(result["backup_id"]),
                       **{key: plain(test.get(key)) for key in RESTORE_TEST_KEYS}})
    elif result.get("component") and result.get("backup_id") and isinstance(result.get("pieces"), list):
        events.append({"kind": "evidence_set", "component": as_text(result["component"]),
                       "backup_id": as_text(result["backup_id"]), "pieces": len(result["pieces"]),
                       "repository": as_text(result.get("repository"))})
    elif result.get("component") and result.get("backup_id"):
        event: dict[str, t.Any] = {
            "kind": _action_kind(action, result),
            "component": as_text(result["component"]),
            "backup_id": as_text(result["backup_id"]),
            # A point-in-time restore replays past the backup's point: what it reached is what was kept.
            "consistency_time": as_text(result.get("recovered_to")) or _consistency_time(result),
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
                    "kind": "verify", "component": as_text(item["component"]), "backup_id": as_text(item["backup_id"]),
                    "consistency_time": _consistency_time(item), "verified": item.get("ok"), "changed": False,
                })
    snapshot = result.get("snapshot")
    if result.get("component") and isinstance(snapshot, dict) and snapshot.get("db_snapshot_identifier"):
        # An RDS restore from a snapshot: the copy it came from is the snapshot in the site's region.
        events.append({"kind": "source", "component": as_text(result["component"]), "source": {
            "repository": f"RDS snapshots in {as_text(snapshot.get('region') or '-')}",
            "backup_id": as_text(snapshot["db_snapshot_identifier"]), "age_s": snapshot.get("age_s"),
            "copied_from": as_text(snapshot.get("source_region")) if snapshot.get("source_region") else None,
            "copied_at": as_text(snapshot.get("snapshot_create_time")) if snapshot.get("source_region") else None,
        }})
    if isinstance(result.get("actions"), list) and isinstance(result.get("recorded"), dict):
        events.extend({"kind": "incident_action", "action": action} for action in result["actions"]
                      if isinstance(action, str) and action)
    facts = result.get("ansible_facts")
    done = facts.get("security_incident_reported_action") if isinstance(facts, dict) else None
    for action in done if isinstance(done, list) else [done] if done else []:
        if isinstance(action, str) and action.strip():
            events.append({"kind": "incident_action", "action": " ".join(action.split())})
    sources = facts.get("dr_source") if isinstance(facts, dict) else None
    for source in sources if isinstance(sources, list) else []:
        if isinstance(source, dict) and source.get("component") and source.get("backup_id"):
            kept = {key: plain(source.get(key)) for key in SOURCE_KEYS}
            events.append({"kind": "source", "component": as_text(source["component"]), "source": kept})
    recovered = facts.get("dr_recovered") if isinstance(facts, dict) else None
    for name, point in recovered.items() if isinstance(recovered, dict) else []:
        if isinstance(point, dict) and point.get("requested_time"):
            events.append({"kind": "point", "component": as_text(name), "requested_time": as_text(point["requested_time"]),
                           "reached_time": as_text(point.get("consistency_time")) or None})
    heartbeats = facts.get("dr_heartbeat") if isinstance(facts, dict) else None
    for beat in heartbeats if isinstance(heartbeats, list) else [heartbeats] if heartbeats else []:
        if isinstance(beat, dict) and beat.get("component") and beat.get("time"):
            events.append({"kind": "heartbeat", "component": as_text(beat["component"]), "heartbeat_time": as_text(beat["time"])})
    hook = facts.get("plan_hook_report") if isinstance(facts, dict) else None
    if isinstance(hook, dict) and hook.get("name") and hook.get("stage"):
        # The hook's own status: the task that records it succeeds even when the hook failed.
        # The event's kind is "hook"; the hook's own kind (command or tasks) is hook_kind.
        event = {key: plain(hook.get(key)) for key in HOOK_KEYS}
        event["hook_kind"], event["kind"] = event.pop("kind"), "hook"
        events.append(event)
    step = infrastructure_event(facts)
    if step:
        events.append(step)
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
            "kind": "dns_failover", "record": as_text(result.get("record")), "previous": plain(result.get("previous")),
            "new": plain(result.get("new")), "changed": bool(result.get("changed")),
        })
    return events


def result_parts(result: dict[str, t.Any], status: str) -> list[tuple[dict[str, t.Any], str]]:
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
