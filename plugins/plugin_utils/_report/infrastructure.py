# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Level 3's infrastructure step in the report: the fact ``dr_infrastructure`` (playbooks/tasks/infrastructure.yml).

What was planned or applied - the site, the Terraform project and workspace,
Terraform's summary line, whether it changed anything - and the outputs' names:
those the later steps read (``fed``, with where they went), the others, the
sensitive ones. An output's value is never in the fact, so never in the report.
"""

from __future__ import annotations

import typing as t

from ansible_collections.resilience.dr.plugins.plugin_utils._report.values import as_text, plain

INFRASTRUCTURE_KEYS = ("site", "project_path", "workspace", "check_mode", "changed", "summary", "outputs",
                       "sensitive_outputs", "fed", "unknown")


def infrastructure_event(facts: t.Any) -> dict[str, t.Any] | None:
    """The infrastructure step a task's facts record, or None."""
    step = facts.get("dr_infrastructure") if isinstance(facts, dict) else None
    if not isinstance(step, dict) or not step.get("project_path"):
        return None
    event = {key: plain(step.get(key)) for key in INFRASTRUCTURE_KEYS}
    for key in ("outputs", "sensitive_outputs", "unknown"):
        event[key] = [as_text(name) for name in event[key]] if isinstance(event[key], list) else []
    event["fed"] = {as_text(name): as_text(place) for name, place in event["fed"].items()} if isinstance(event["fed"], dict) else {}
    event["kind"] = "infrastructure"
    return event


def infrastructure_steps(events: list[dict[str, t.Any]]) -> list[dict[str, t.Any]]:
    """Each infrastructure step of the run for report.json, with when it was recorded."""
    return [{**{key: event.get(key) for key in INFRASTRUCTURE_KEYS}, "end": event.get("end")}
            for event in events if event.get("kind") == "infrastructure"]


def infrastructure_rows(report: dict[str, t.Any]) -> list[tuple[t.Any, ...]]:
    """Each step: when, site, project (workspace), what Terraform did, the outputs used and the other outputs' names."""
    rows = []
    for step in report.get("infrastructure") or []:
        did = ("planned (check mode): " if step.get("check_mode") else "") + (step.get("summary") or "")
        used = ", ".join(f"{name} -> {place}" for name, place in (step.get("fed") or {}).items()) or "-"
        if step.get("unknown"):
            used += f"; known after the apply: {', '.join(step['unknown'])}"
        others = [name for name in step.get("outputs") or [] if name not in (step.get("fed") or {})]
        others += [f"{name} (sensitive)" for name in step.get("sensitive_outputs") or []]
        rows.append((step.get("end"), step.get("site"), f"{step.get('project_path')} ({step.get('workspace')})", did, used,
                     ", ".join(others) or "-"))
    return rows
