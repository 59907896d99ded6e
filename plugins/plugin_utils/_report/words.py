# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The report's findings in words, the same in Markdown, in HTML and in the run's last message.
"""

from __future__ import annotations

import json
import typing as t

from ansible_collections.resilience.dr.plugins.plugin_utils._report.values import as_text, format_seconds

PHYSICAL_ACTIONS = {"promoted": "the warm standby promoted", "restored": "restored from scratch"}


def point_in_time_text(point: dict[str, t.Any]) -> str:
    """The run's point in time and its widest gap, in one sentence (report and the run's final message)."""
    if not point.get("components"):
        return ""
    asked = f"point in time {point['target_time']}" if point.get("target_time") else "point in time per component"
    if point.get("widest_gap_s") is None:
        return f"{asked}: the point reached is unknown"
    return (f"{asked}: widest gap {format_seconds(point['widest_gap_s'])} ({point['widest_gap_component']}); "
            "the application's state is only as consistent as that gap")


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


def incident_action_rows(report: dict[str, t.Any]) -> list[tuple[t.Any, ...]]:
    """Each action of a security incident: when, the task that took it, what it did (words, never a value)."""
    return [(item["at"], item["task"], item["action"]) for item in report.get("incident_actions") or []]


def kept_from(entry: dict[str, t.Any]) -> str:
    """What the RPO was measured from: the newest heartbeat recovered, else the consistency point."""
    if entry.get("heartbeat_time"):
        return f"heartbeat {entry['heartbeat_time']}"
    return as_text(entry.get("consistency_time")) or "-"


def point_rows(report: dict[str, t.Any]) -> list[tuple[t.Any, ...]]:
    """Each component restored to a requested point in time: component, requested, reached, gap."""
    return [(entry["component"], entry["requested_time"], entry.get("reached_time"), format_seconds(entry.get("point_gap_s")))
            for entry in report["components"] if entry.get("requested_time")]


def sources(report: dict[str, t.Any]) -> list[tuple[str, str]]:
    """Each component whose source is known, with that source in words (source_text)."""
    return [(entry["component"], source_text(entry)) for entry in report["components"]
            if entry.get("source") or entry.get("pgbackrest_repo") is not None]


def dns_rows(report: dict[str, t.Any]) -> list[tuple[t.Any, ...]]:
    """Each DNS change: record, previous and new value (JSON), whether it changed, when."""
    return [(event["record"], json.dumps(event["previous"]), json.dumps(event["new"]), event["changed"], event["end"])
            for event in report["dns"]]


def hook_result(hook: dict[str, t.Any]) -> str:
    """A hook run's outcome in words: skipped in check mode, ok or FAILED (timed out), with its exit status."""
    if hook.get("skipped"):
        return "skipped (check mode)"
    text = ("TIMED OUT" if hook.get("timed_out") else "FAILED") if hook.get("failed") else "ok"
    return text + (f", exit status {hook['rc']}" if hook.get("rc") is not None else "")


def hook_rows(report: dict[str, t.Any]) -> list[tuple[t.Any, ...]]:
    """Each hook run: when it was recorded, stage, scope, name, host, outcome, duration, the tail of its output."""
    return [(hook.get("end"), hook.get("stage"), hook.get("scope"), hook.get("name"), hook.get("host"), hook_result(hook),
             format_seconds(hook.get("duration_s") if isinstance(hook.get("duration_s"), (int, float)) else None),
             (hook.get("stdout_tail") or "") + (f" ({hook['msg']})" if hook.get("failed") and hook.get("msg") else ""))
            for hook in report.get("hooks") or []]


def parallel_text(parallel: dict[str, t.Any] | None) -> str:
    """The restores' overlap in one sentence: the slowest restore and the RTO and restore window against it."""
    if not parallel or len(parallel.get("restore_seconds") or {}) < 2:
        return ""
    text = (f"slowest restore {parallel['slowest_component']} {format_seconds(parallel['slowest_restore_seconds'])}; "
            f"all restores took {format_seconds(parallel['restore_window_seconds'])}")
    if parallel.get("window_to_slowest") is not None:
        text += f" ({parallel['window_to_slowest']:.2f}x the slowest)"
    if parallel.get("rto_to_slowest") is not None:
        text += f", RTO {parallel['rto_to_slowest']:.2f}x the slowest restore (parallel efficiency)"
    return text


def parallel_rows(report: dict[str, t.Any]) -> list[tuple[str, str]]:
    """Each restored component and how long its restore took, slowest first."""
    seconds = (report.get("parallel_restores") or {}).get("restore_seconds") or {}
    return [(name, format_seconds(value)) for name, value in sorted(seconds.items(), key=lambda item: -item[1])]
