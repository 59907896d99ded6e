# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The words of a DR plan and the small readers every check and resolution shares.

The kinds of component and their backup methods, the parts a run may use,
and reading a plan's parts: durations, names, unknown keys, every component
mapping with its site, and a component as one site sees it (the site's
overrides merged over it).
"""

from __future__ import annotations

import copy
import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError
from ansible_collections.resilience.dr.plugins.module_utils._timing import parse_duration

KINDS = ("postgresql", "rds", "redis", "files", "s3", "elasticache")
# Kinds whose data lives in our backup repository (rds and elasticache use snapshots, s3 object versions).
REPOSITORY_KINDS = ("postgresql", "redis", "files")
BACKUP_METHODS = {
    "postgresql": ("logical", "physical"),
    "redis": ("rdb", "online"),
    "files": ("tar",),
    "rds": ("snapshot",),
    "s3": ("versioning",),
    "elasticache": ("snapshot",),
}
# Where a restore of an rds component comes from (restore.source; see rds_sources): replica promotes the read
# replica connection.db_instance_identifier of the site's region; automated_backup_replica restores the primary's
# automated backups replicated into the site's region (sites.check_replica_sources).
RDS_RESTORE_SOURCES = ("point_in_time", "snapshot", "automated_backup_replica", "replica")
# The parts of a plan a run may use (plan_validate's `uses`); a component run uses one component.
PLAN_PARTS = ("repository", "components", "dns", "notifications", "security", "restore_test")
# Keys whose values are secrets wherever they appear in a plan (docs/dr-plan.md, "Secrets"); secrets.py keeps them
# out of a resolved plan.
SECRET_KEYS = frozenset((
    "login_password", "password", "smtp_password", "access_key", "secret_key", "session_token",
    "encryption_identity", "tsig_key_secret",
))
# Keys whose whole value (a URL, a dictionary of headers) carries a token.
SECRET_CONTAINERS = frozenset(("headers",))


def seconds(value: t.Any, where: str, problems: list[str]) -> int | None:
    """A duration in whole seconds (None when not given); one that is no duration is added to problems."""
    try:
        duration = parse_duration(value, where)
    except ConfigurationError as error:
        problems.append(error.message)
        return None
    return int(duration.total_seconds()) if duration is not None else None


def listed_names(items: t.Sequence[dict[str, t.Any]], what: str, problems: list[str]) -> list[str]:
    """The names of items in order; a missing or repeated name is added to problems."""
    names = []
    for position, item in enumerate(items, start=1):
        name = item.get("name") if isinstance(item, dict) else None
        if not name:
            problems.append(f"{what} {position} has no name")
            continue
        if name in names:
            problems.append(f"{what} {name} is defined twice")
        names.append(name)
    return names


def refuse_unknown_keys(mapping: dict[str, t.Any], known: t.AbstractSet[str], where: str, problems: list[str]) -> None:
    """A key the plan's schema does not have is a problem (a misspelt key is never silently dropped)."""
    unknown = sorted(map(str, set(mapping) - known))
    if unknown:
        problems.append(f"{where} has unknown key(s) {', '.join(unknown)}; the keys are {', '.join(sorted(known))}")


def merge(base: dict[str, t.Any], override: dict[str, t.Any]) -> dict[str, t.Any]:
    merged = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def site_component(plan: dict[str, t.Any], site: str, component: dict[str, t.Any]) -> dict[str, t.Any]:
    """The component as the site sees it: the site's sites.<site>.components.<name> merged over it."""
    overrides = ((plan.get("sites") or {}).get(site) or {}).get("components") or {}
    return merge(component, overrides.get(component.get("name")) or {})


def component_places(plan: dict[str, t.Any]) -> list[tuple[str, dict[str, t.Any]]]:
    """Every component mapping of the plan with its site: ("", component) for the plan's own, (site, override
    with its name) for each site's component overrides."""
    places = [("", component) for component in plan.get("components") or [] if isinstance(component, dict)]
    for site, settings in (plan.get("sites") or {}).items():
        for name, override in (((settings or {}).get("components") or {}).items()):
            if isinstance(override, dict):
                places.append((site, dict(override, name=name)))
    return places
