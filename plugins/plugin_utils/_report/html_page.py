# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The report as one self-contained HTML page (report.html): inline CSS and SVG, no scripts.
"""

from __future__ import annotations

import html
import typing as t

from ansible_collections.resilience.dr.plugins.plugin_utils._report.svg import target_bars, timeline_chart
from ansible_collections.resilience.dr.plugins.plugin_utils._report.infrastructure import infrastructure_rows
from ansible_collections.resilience.dr.plugins.plugin_utils._report.values import as_text, format_seconds
from ansible_collections.resilience.dr.plugins.plugin_utils._report.words import (
    dns_rows, hook_rows, incident_action_rows, kept_from, parallel_rows, parallel_text, point_in_time_text, point_rows,
    restore_test_rows, sources,
)

CSS = """
body{font-family:-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:2em;color:#1d2733;max-width:1200px}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}td,th{border:1px solid #d0d7de;padding:.25em .6em;text-align:left}
th{background:#f3f5f7}.met{color:#116329;font-weight:bold}.missed{color:#b42318;font-weight:bold}
.summary{display:flex;gap:1em;flex-wrap:wrap}.card{border:1px solid #d0d7de;border-radius:6px;padding:.6em 1em;min-width:10em}
.card b{display:block;font-size:1.4em}svg text{font-size:11px;font-family:inherit}
"""


def _table(headers: list[str], rows: list[list[str]]) -> str:
    """A table of escaped headers and rows of cells already written as HTML."""
    head = "".join(f"<th>{html.escape(header)}</th>" for header in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cells(row: t.Iterable[t.Any]) -> list[str]:
    """A row's values escaped, an empty one as -."""
    return [html.escape(as_text(value) or "-") for value in row]


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
    component_rows = [[escape(as_text(value)) if index not in (6, 9) else value for index, value in enumerate((
        entry["component"], entry["backup_id"] or "-", kept_from(entry), entry["recovered_at"] or "-",
        format_seconds(entry["rto_seconds"]), entry["rto_target"] or "-", _met_html(entry["rto_met"]),
        format_seconds(entry["rpo_seconds"]), entry["rpo_target"] or "-", _met_html(entry["rpo_met"]),
    ))] for entry in report["components"]]
    changes = [[escape(as_text(value)) for value in row] for row in dns_rows(report)]
    task_rows = [[escape(as_text(value)) for value in (
        task["start"], format_seconds(task["duration_s"]), task["host"], task["status"],
        task["name"] + (f" ({task['msg']})" if task.get("msg") else ""),
    )] for task in report["tasks"] if task["status"] != "skipped"]
    body = [
        f"<h1>DR run report: {escape(report['run_id'])}</h1>",
        f"<p>Application <b>{escape(as_text(report.get('application') or 'not given'))}</b>, playbook "
        f"<code>{escape(report['playbook']['path'])}</code>{' (check mode)' if report['check_mode'] else ''}; "
        f"run {escape(report['started'])} to {escape(report['finished'])}; incident start "
        f"{escape(report['incident_start'])} ({escape(report['incident_start_source'])}).</p>",
        f'<div class="summary">{summary}</div>',
        f"<ul>{misses}{problems}</ul>" if misses or problems else "",
        "<h2>Timeline</h2>",
        "<p>Bars are tasks (green ok, amber changed, red failed); the red dashed line is the incident start, "
        "the blue one the end of the last restore, verification or failover.</p>",
        timeline_chart(report),
        "<h2>RTO per component (achieved against target)</h2>", target_bars(report, "rto"),
        "<h2>RPO per component (achieved against target)</h2>", target_bars(report, "rpo"),
        "<h2>Components</h2>",
        _table(["component", "backup", "data kept up to", "recovered at", "RTO", "target", "", "RPO", "target", ""],
               component_rows) if component_rows else "<p>No component was restored, verified or backed up.</p>",
    ]
    overlap = parallel_text(report.get("parallel_restores"))
    if overlap:
        body += ["<h2>Restore durations</h2>", f"<p>{escape(overlap)}</p>",
                 _table(["component", "restore (start to verified)"], [_cells(row) for row in parallel_rows(report)])]
    asked = point_rows(report)
    if asked:
        body += ["<h2>Point in time</h2>", f"<p>{escape(point_in_time_text(report.get('point_in_time') or {}))}</p>",
                 _table(["component", "requested", "reached", "gap"], [_cells(row) for row in asked])]
    sourced = sources(report)
    if sourced:
        body += ["<h2>Where each component came from</h2>", "<ul>" + "".join(
            f"<li>{escape(component)}: {escape(source)}</li>" for component, source in sourced) + "</ul>"]
    if report.get("evidence_sets"):
        body += ["<h2>Evidence</h2>", "<ul>" + "".join(
            f"<li>Evidence set {escape(str(item['backup_id']))} ({item['pieces']} pieces) stored as "
            f"{escape(str(item['component']))} in {escape(str(item['repository']))}</li>"
            for item in report["evidence_sets"]) + "</ul>"]
    if report.get("incident_actions"):
        body += ["<h2>Incident actions</h2>", _table(["at", "task", "action"],
                                                     [_cells(row) for row in incident_action_rows(report)])]
    if report.get("restore_tests"):
        body += ["<h2>Restore tests</h2>", _table(["component", "backup", "result", "duration", "RTO target", "error"],
                                                  [_cells(row) for row in restore_test_rows(report)])]
    if report.get("infrastructure"):
        body += ["<h2>Infrastructure</h2>", _table(["at", "site", "project (workspace)", "Terraform", "outputs used", "other outputs"],
                                                   [_cells(row) for row in infrastructure_rows(report)])]
    if report.get("hooks"):
        body += ["<h2>Hooks</h2>", _table(["at", "stage", "scope", "hook", "host", "result", "duration", "output (last lines)"],
                                          [_cells(row) for row in hook_rows(report)])]
    if changes:
        body += ["<h2>DNS</h2>", _table(["record", "previous", "new", "changed", "at"], changes)]
    body += ["<h2>Tasks</h2>", _table(["start", "duration", "host", "status", "task"], task_rows)]
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>DR run report {escape(report['run_id'])}</title><style>{CSS}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )
