# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The report as Markdown (report.md)."""

from __future__ import annotations

import typing as t

from ansible_collections.resilience.dr.plugins.plugin_utils._report.targets import should_fail
from ansible_collections.resilience.dr.plugins.plugin_utils._report.infrastructure import infrastructure_rows
from ansible_collections.resilience.dr.plugins.plugin_utils._report.values import as_text, format_seconds
from ansible_collections.resilience.dr.plugins.plugin_utils._report.words import (
    dns_rows, hook_rows, incident_action_rows, kept_from, parallel_rows, parallel_text, point_in_time_text, point_rows,
    restore_test_rows, sources,
)


def _cell(value: t.Any) -> str:
    return as_text(value).replace("|", "\\|").replace("\n", " ") or "-"


def _table(headers: t.Sequence[str], rows: t.Iterable[t.Iterable[t.Any]]) -> list[str]:
    """A Markdown table's lines: the header (an empty header stays an empty column), the rule, a row each."""
    head = "|" + "|".join(f" {header} " if header else " " for header in headers) + "|"
    return [head, "|" + "---|" * len(headers)] + ["| " + " | ".join(_cell(value) for value in row) + " |" for row in rows]


def _met(value: bool | None) -> str:
    return {True: "met", False: "MISSED", None: "-"}[value]


# The components table: the columns after each target say whether it was met.
COMPONENT_HEADERS = ("component", "backup", "data kept up to", "recovered at", "RTO", "target", "", "RPO", "target", "")


def render_markdown(report: dict[str, t.Any]) -> str:
    """The report as Markdown: the summary, then a section per kind of finding, then the timeline of tasks."""
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
    overlap = parallel_text(report.get("parallel_restores"))
    if overlap:
        lines.append(f"- Restores side by side: {overlap}")
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
        lines += _table(COMPONENT_HEADERS, [(
            entry["component"], entry["backup_id"], kept_from(entry), entry["recovered_at"],
            format_seconds(entry["rto_seconds"]), entry["rto_target"], _met(entry["rto_met"]),
            format_seconds(entry["rpo_seconds"]), entry["rpo_target"], _met(entry["rpo_met"]),
        ) for entry in report["components"]])
    else:
        lines.append("No component was restored, verified or backed up in this run.")
    if overlap:
        lines += ["", "## Restore durations", ""]
        lines += _table(("component", "restore (start to verified)"), parallel_rows(report))
    asked = point_rows(report)
    if asked:
        lines += ["", "## Point in time", ""]
        lines += _table(("component", "requested", "reached", "gap"), asked)
    sourced = sources(report)
    if sourced:
        lines += ["", "## Where each component came from", ""]
        lines += [f"- {component}: {source}" for component, source in sourced]
    if report.get("evidence_sets"):
        lines += ["", "## Evidence", ""]
        lines += [f"- Evidence set {item['backup_id']} ({item['pieces']} pieces) stored as {item['component']} in "
                  f"{item['repository']}" for item in report["evidence_sets"]]
    if report.get("incident_actions"):
        lines += ["", "## Incident actions", ""]
        lines += _table(("at", "task", "action"), incident_action_rows(report))
    if report.get("restore_tests"):
        lines += ["", "## Restore tests", ""]
        lines += _table(("component", "backup", "result", "duration", "RTO target", "error"), restore_test_rows(report))
    if report.get("infrastructure"):
        lines += ["", "## Infrastructure", ""]
        lines += _table(("at", "site", "project (workspace)", "Terraform", "outputs used", "other outputs"),
                        infrastructure_rows(report))
    if report.get("hooks"):
        lines += ["", "## Hooks", ""]
        lines += _table(("at", "stage", "scope", "hook", "host", "result", "duration", "output (last lines)"), hook_rows(report))
    if report["dns"]:
        lines += ["", "## DNS", ""]
        lines += _table(("record", "previous", "new", "changed", "at"), dns_rows(report))
    lines += ["", "## Timeline", ""]
    lines += _table(("start", "end", "duration", "host", "status", "task"), [(
        task["start"], task["end"], format_seconds(task["duration_s"]), task["host"], task["status"],
        task["name"] + (f" ({task['msg']})" if task.get("msg") else ""),
    ) for task in report["tasks"] if task["status"] != "skipped"])
    return "\n".join(lines) + "\n"
