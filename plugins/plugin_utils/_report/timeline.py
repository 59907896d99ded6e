# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The incident timeline of a run: what the dr_report callback feeds in, and the report made of it.

The dr_report callback feeds a Timeline with what Ansible tells it (playbook,
plays, task starts, task results); the Timeline keeps the tasks and the events
their results carry (events.py), and its report measures them (measure.py).

A restore run in the background (async with poll 0, as the level 2 and 3
playbooks do for the components of one restore step) reports twice: the
launch (``ansible_job_id``, ``started``, not ``finished``) and later the
``async_status`` result carrying the module's result. Its event takes the
launching task's action and name, starts when that task started (like a
task run in the foreground) and ends ``duration_s`` (the module's own time)
after the launch returned, when the job was running: never after the result
was seen. Components restored at the same time show overlapping times.
"""

from __future__ import annotations

import os
import typing as t
from datetime import datetime, timedelta

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError
from ansible_collections.resilience.dr.plugins.module_utils._timing import format_time, parse_time
from ansible_collections.resilience.dr.plugins.plugin_utils._report.events import RESTORE_TEST_KEYS, component_events, result_parts
from ansible_collections.resilience.dr.plugins.plugin_utils._report.infrastructure import infrastructure_steps
from ansible_collections.resilience.dr.plugins.plugin_utils._report.measure import (
    component_entries, judge, parallel_restores, plan_targets, point_in_time,
)
from ansible_collections.resilience.dr.plugins.plugin_utils._report.targets import TARGETS_ACTIONS
from ansible_collections.resilience.dr.plugins.plugin_utils._report.values import as_text, plain, run_id

REPORT_VERSION = 1
MESSAGE_LIMIT = 500
RECOVERY_KINDS = ("restore", "verify", "dns_failover")


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
            entry["msg"] = as_text(result.get("msg"))[:MESSAGE_LIMIT]
        if preview:
            entry["preview"] = True
        self.tasks.append(entry)
        if task_action in TARGETS_ACTIONS and isinstance(result, dict) and isinstance(result.get("fail_on_miss"), bool):
            self.targets_fail_on_miss = result["fail_on_miss"]
            self.targets_failed_run = self.targets_failed_run or status == "failed"
        if status in ("skipped", "unreachable") or censored or preview:
            return
        for part, part_status in result_parts(result, status):
            job_id = as_text(part.get("ansible_job_id"))
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
        # An evidence set (and its verification) is kept evidence, not a recovered component.
        evidence = [event for event in good_events if event["kind"] == "evidence_set"]
        kept_evidence = {(event["component"], event["backup_id"]) for event in evidence}
        good_events = [event for event in good_events if event["kind"] != "evidence_set"
                       and (event.get("component"), event.get("backup_id")) not in kept_evidence]
        recovery = [event for event in good_events if event["kind"] in RECOVERY_KINDS]
        components = component_entries(good_events, self.problems)
        misses = judge(components, targets, incident, self.problems)

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
            "point_in_time": point_in_time(self.target_time_value, components, self.problems),
            "run": {"ok": run_ok, "failures": failures, "unreachable": unreachable, "stats": plain(self.stats)},
            "rto_seconds": rto_seconds,
            "rto_end": last_recovery,
            # Each component's restore time, the slowest, and the RTO as a multiple of it (parallel efficiency).
            "parallel_restores": parallel_restores(recovery, rto_seconds),
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
            # Every hook run (consistency and recovery hooks), in order, failed ones too: hook["failed"] says so.
            "hooks": [{**{key: value for key, value in event.items() if key not in ("kind", "hook_kind", "task", "status")},
                       "kind": event["hook_kind"]} for event in good_events if event["kind"] == "hook"],
            # Level 3's infrastructure step: what Terraform planned or applied, and the outputs' names (never values).
            "infrastructure": infrastructure_steps(good_events),
            "evidence_sets": [{key: event[key] for key in ("component", "backup_id", "pieces", "repository")}
                              for event in evidence],
            # A security incident's isolations, logging changes and rotations, in the order they were done (words only).
            "incident_actions": [{"at": event["end"], "task": event["task"], "host": event["host"], "action": event["action"]}
                                 for event in good_events if event["kind"] == "incident_action"],
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
