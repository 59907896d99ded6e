# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Schedules of a DR plan: when backups, restore tests and RPO checks run (docs/dr-plan.md, "Schedules").

Each component's backup.schedule (the plan's backup_schedule when it has
none), the backup runs they make, and the restore test's and the RPO
check's schedules, as systemd calendar expressions.
"""

from __future__ import annotations

import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._plan.parts import component_places

# The plan's schedules (docs/dr-plan.md, "Schedules"), systemd calendar expressions, and their defaults.
PLAN_SCHEDULES = {"backup": "daily", "restore_test": "daily", "rpo_check": "hourly"}
# Kinds a backup run backs up: an s3 component's object versions are its backups.
SCHEDULED_BACKUP_KINDS = ("postgresql", "rds", "redis", "files", "elasticache")


def _check_schedule(value: t.Any, where: str, problems: list[str]) -> None:
    """A schedule is a systemd calendar expression on one line; systemd itself checks the expression."""
    if value is None:
        return
    if not isinstance(value, str) or not value.strip() or any(ord(character) < 32 or ord(character) == 127
                                                              for character in value):
        problems.append(f"{where} is {value!r}; give a systemd calendar expression on one line, like daily, hourly, "
                        "*:0/15 (every 15 minutes) or Mon..Fri *-*-* 02:00:00")


def check_schedules(plan: dict[str, t.Any], problems: list[str]) -> None:
    """The plan's <job>_schedule keys and backup.schedule of each component and of each site's overrides."""
    for job in PLAN_SCHEDULES:
        _check_schedule(plan.get(f"{job}_schedule"), f"dr_plan.{job}_schedule", problems)
    for site, component in component_places(plan):
        backup = component.get("backup")
        if isinstance(backup, dict):
            where = f"component {component.get('name')} backup.schedule"
            _check_schedule(backup.get("schedule"), f"site {site} {where}" if site else where, problems)


def schedules(plan: dict[str, t.Any], components: dict[str, dict[str, t.Any]]) -> dict[str, t.Any]:
    """When the plan's scheduled jobs run, from the plan and its resolved components.

    backup: one run per distinct backup.schedule, in plan order of first use, with the components it backs
    up ({"schedule", "components"}); components sharing a schedule share a run, s3 components (whose
    object versions are their backups) are in none. restore_test and rpo_check: the plan's
    restore_test_schedule and rpo_check_schedule, or their defaults.
    """
    runs: dict[str, list[str]] = {}
    for name, component in components.items():
        if component.get("kind") in SCHEDULED_BACKUP_KINDS:
            runs.setdefault(component["backup"]["schedule"], []).append(name)
    resolved: dict[str, t.Any] = {
        "backup": [{"schedule": schedule, "components": names} for schedule, names in runs.items()],
    }
    for job in ("restore_test", "rpo_check"):
        resolved[job] = plan.get(f"{job}_schedule") or PLAN_SCHEDULES[job]
    return resolved
