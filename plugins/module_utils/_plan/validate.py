# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checking a DR plan: what a schema cannot see, every problem listed at once.

The roles' argument specs check the plan's shape; this checks references
between its parts, cycles, components without a backup, durations, unknown
keys, repositories, hooks, schedules, standbys and RDS settings, and names
what a valid plan accepts knowingly (warnings).
"""

from __future__ import annotations

import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError
from ansible_collections.resilience.dr.plugins.module_utils._plan.aws_kinds import check_aurora, check_elasticache
from ansible_collections.resilience.dr.plugins.module_utils._plan.dns import check_dns
from ansible_collections.resilience.dr.plugins.module_utils._plan.graph import find_cycle
from ansible_collections.resilience.dr.plugins.module_utils._plan.hooks import check_hooks, check_recovery_hooks
from ansible_collections.resilience.dr.plugins.module_utils._plan.infrastructure import check_infrastructure
from ansible_collections.resilience.dr.plugins.module_utils._plan.incident import check_incident_isolation
from ansible_collections.resilience.dr.plugins.module_utils._plan.parts import (
    BACKUP_METHODS, KINDS, RDS_RESTORE_SOURCES, REPOSITORY_KINDS, listed_names, refuse_unknown_keys, seconds, site_component,
)
from ansible_collections.resilience.dr.plugins.module_utils._plan.repoint import check_repoint
from ansible_collections.resilience.dr.plugins.module_utils._plan.schedules import check_schedules
from ansible_collections.resilience.dr.plugins.module_utils._plan.security_rotation import check_security_rotation
from ansible_collections.resilience.dr.plugins.module_utils._plan.security_evidence import check_security_evidence
from ansible_collections.resilience.dr.plugins.module_utils._plan.sites import check_replica_sources, one_place, site_repository
from ansible_collections.resilience.dr.plugins.module_utils._repository.manifest import COMPONENT_PATTERN

# The keys of a repository mapping (top-level or a site's): `location` plus every option the repository
# modules share (plugins/module_utils/_repository/options.py). Any other key is a plan error, so a
# misspelt key is never silently dropped on its way to the modules.
REPOSITORY_KEYS = frozenset((
    "location", "endpoint_url", "region", "access_key", "secret_key", "session_token", "profile",
    "validate_certs", "aws_ca_bundle", "aws_config", "s3_sse", "s3_sse_kms_key_id", "encryption_identity_file",
    "encryption_identity",
    "lock_timeout", "break_stale_lock", "encryption_recipients", "compression_level", "compression_threads",
    "retention_class", "s3_object_lock_mode", "s3_object_lock_days", "signing_key_file", "signing_public_keys",
))
# Where the restore_test playbook restores to (docs/dr-plan.md, "Restore tests"): dr_plan.restore_test for every
# component, a component's restore_test over it.
RESTORE_TEST_KEYS = frozenset((
    "base_dir", "os_user", "pg_bin_dir", "redis_server", "bucket_prefix", "instance_prefix", "db_instance_class",
    "vpc_security_group_ids", "server",
))
RESTORE_TEST_SERVER_KEYS = frozenset(("login_host", "login_port", "login_user", "login_password", "login_unix_socket", "db"))


class PlanError(ConfigurationError):
    """Every problem found in a plan, listed at once."""

    def __init__(self, problems: list[str]) -> None:
        listed = "\n".join(f"- {problem}" for problem in problems)
        super().__init__(f"dr_plan has {len(problems)} problem(s):\n{listed}", problems=problems)


def _check_standby(plan: dict[str, t.Any], component: dict[str, t.Any], problems: list[str]) -> None:
    """restore.standby: a physical PostgreSQL component, with a data directory and a port on each site using it."""
    for site in plan.get("sites") or {}:
        merged = site_component(plan, site, component)
        restore = merged.get("restore") or {}
        if not isinstance(restore, dict) or not restore.get("standby"):
            continue
        if not isinstance(restore["standby"], bool):
            problems.append(f"component {component['name']} has restore.standby {restore['standby']!r} on site {site}; "
                            "write true or false")
            continue
        if merged.get("kind") != "postgresql" or (merged.get("backup") or {}).get("method") != "physical":
            problems.append(f"component {component['name']} has restore.standby on site {site}, but only a physical "
                            "PostgreSQL component (backup.method: physical, pgBackRest) can have a warm standby")
            continue
        missing = [key for key in ("data_dir", "port") if not restore.get(key)]
        if missing:
            problems.append(f"component {component['name']} has restore.standby on site {site} without restore."
                            f"{' and restore.'.join(missing)}: say where the standby runs there")


def _check_rds(component: dict[str, t.Any], sites: dict[str, t.Any], problems: list[str]) -> None:
    """restore.source and backup.kms_key_id of an rds component, at the top level and on every site."""
    name = component["name"]
    overrides = {"": component}
    for site, settings in sites.items():
        override = ((settings or {}).get("components") or {}).get(name)
        if isinstance(override, dict):
            overrides[site] = override
    for site, settings in overrides.items():
        where = f"component {name}" if not site else f"site {site} component {name}"
        source = (settings.get("restore") or {}).get("source")
        if source is not None and source not in RDS_RESTORE_SOURCES:
            problems.append(f"{where} has restore.source {source!r}; use one of {', '.join(RDS_RESTORE_SOURCES)}")
        key = (settings.get("backup") or {}).get("kms_key_id")
        if key is not None and (not isinstance(key, str) or not key):
            problems.append(
                f"{where} has backup.kms_key_id {key!r}; give the ARN, id or alias of a KMS key of the site's region"
            )


def _known_mappings(places: list[tuple[str, t.Any]], known: t.AbstractSet[str], contents: str,
                    problems: list[str]) -> list[tuple[str, dict[str, t.Any]]]:
    """The places (where, value) holding a mapping, each checked for unknown keys; a value neither None nor a
    mapping is a problem, which says what the mapping holds (contents)."""
    mappings = []
    for where, value in places:
        if value is None:
            continue
        if not isinstance(value, dict):
            problems.append(f"{where} must be a mapping ({contents})")
            continue
        refuse_unknown_keys(value, known, where, problems)
        mappings.append((where, value))
    return mappings


def _validate_repositories(plan: dict[str, t.Any], problems: list[str]) -> None:
    sites = plan.get("sites") or {}
    mappings = [("dr_plan.repository", plan.get("repository"))]
    mappings += [(f"site {site} repository", (settings or {}).get("repository")) for site, settings in sites.items()]
    _known_mappings(mappings, REPOSITORY_KEYS, "location and repository options", problems)
    if not any(component.get("kind") in REPOSITORY_KINDS for component in plan.get("components") or [] if isinstance(component, dict)):
        return
    if not sites:
        if not (plan.get("repository") or {}).get("location"):
            problems.append("dr_plan.repository.location is required: postgresql, redis and files components back up into it")
        return
    missing = [site for site in sites if not site_repository(plan, site)["repository"]]
    if missing:
        problems.append(
            "dr_plan.repository.location is required: postgresql, redis and files components back up into it "
            f"(no location for site(s) {', '.join(missing)}; set dr_plan.repository.location or sites.<site>.repository.location)"
        )
        return
    accepted = plan.get("single_repository")
    if accepted not in (None, "accepted"):
        problems.append(f"dr_plan.single_repository is {accepted!r}; the only value is accepted (with single_repository_reason)")
    elif accepted == "accepted" and not str(plan.get("single_repository_reason") or "").strip():
        problems.append("dr_plan.single_repository: accepted needs single_repository_reason (why losing one site may lose every backup)")
    elif accepted is None and one_place(plan):
        problems.append(
            "every site keeps its backups in one repository, which a loss of that place takes with it: give each "
            "site its own with sites.<site>.repository (another directory, bucket, region or endpoint), or say "
            "single_repository: accepted with single_repository_reason"
        )


def warnings(plan: dict[str, t.Any]) -> list[str]:
    """What a valid plan accepts knowingly, to show where it is used (plan_validate, the plan document)."""
    if plan.get("single_repository") == "accepted" and one_place(plan):
        return [f"every site keeps its backups in one repository (single_repository: accepted, because: "
                f"{plan.get('single_repository_reason')})"]
    return []


def _check_restore_test(plan: dict[str, t.Any], problems: list[str]) -> None:
    """restore_test of the plan and of each component: a mapping of known keys."""
    places = [("dr_plan.restore_test", plan.get("restore_test"))]
    places += [(f"component {component.get('name')} restore_test", component.get("restore_test"))
               for component in plan.get("components") or [] if isinstance(component, dict)]
    for where, settings in _known_mappings(places, RESTORE_TEST_KEYS, ", ".join(sorted(RESTORE_TEST_KEYS)), problems):
        server = settings.get("server")
        if server is not None and not isinstance(server, dict):
            problems.append(f"{where}.server must be a mapping ({', '.join(sorted(RESTORE_TEST_SERVER_KEYS))})")
        elif server:
            refuse_unknown_keys(server, RESTORE_TEST_SERVER_KEYS, f"{where}.server", problems)


def validate(plan: dict[str, t.Any]) -> list[str]:
    """Every semantic problem of the plan (an empty list means it is usable)."""
    problems: list[str] = []
    if not isinstance(plan, dict):
        return ["dr_plan must be a dictionary"]
    if not plan.get("name"):
        problems.append("dr_plan has no name (the application's name, used in reports and backups)")
    components = plan.get("components") or []
    if not components:
        problems.append("dr_plan lists no components")
    names = listed_names(components, "component", problems)
    services = plan.get("services") or []
    service_names = listed_names(services, "service", problems)
    for name in set(names) & set(service_names):
        problems.append(f"{name} is both a component and a service; give them different names")

    _validate_repositories(plan, problems)
    check_hooks(plan, problems)
    check_recovery_hooks(plan, problems)
    _check_restore_test(plan, problems)
    check_schedules(plan, problems)
    check_repoint(plan, problems)
    check_infrastructure(plan, problems)
    check_security_rotation(plan, problems)
    check_security_evidence(plan.get("security"), names, problems)
    check_incident_isolation(plan, problems)

    graph: dict[str, list[str]] = {}
    for component in components:
        name = component.get("name")
        if not name:
            continue
        if not COMPONENT_PATTERN.match(name):
            problems.append(f"component {name!r} is not a valid name (letters, digits, '.', '_', '-')")
        kind = component.get("kind")
        if kind not in KINDS:
            problems.append(f"component {name} has kind {kind!r}; use one of {', '.join(KINDS)}")
            continue
        backup = component.get("backup")
        if not isinstance(backup, dict):
            problems.append(f"component {name} has no backup: every component needs one (backup.method: {'|'.join(BACKUP_METHODS[kind])})")
        elif backup.get("method") not in BACKUP_METHODS[kind]:
            problems.append(
                f"component {name} ({kind}) has backup method {backup.get('method')!r}; use one of {', '.join(BACKUP_METHODS[kind])}"
            )
        for key in ("rpo", "rto"):
            seconds(component.get(key), f"component {name} {key}", problems)
        restore = component.get("restore") or {}
        parallel = restore.get("parallel", True) if isinstance(restore, dict) else True
        if not isinstance(parallel, bool):
            problems.append(f"component {name} has restore.parallel {parallel!r}; write true or false")
        if kind == "rds":
            _check_rds(component, plan.get("sites") or {}, problems)
            check_replica_sources(plan, component, problems)
            check_aurora(plan, component, problems)
        if kind == "elasticache":
            check_elasticache(plan, component, problems)
        _check_standby(plan, component, problems)
        dependencies = component.get("depends_on") or []
        for dependency in dependencies:
            if dependency not in names:
                problems.append(f"component {name} depends on {dependency}, which is not a component of the plan")
        graph[name] = [dependency for dependency in dependencies if dependency in names]
    cycle = find_cycle(graph)
    if cycle:
        problems.append(f"components depend on each other in a cycle: {' -> '.join(cycle)}")

    service_graph: dict[str, list[str]] = {}
    for service in services:
        name = service.get("name")
        if not name:
            continue
        if not (service.get("start_command") or service.get("systemd_unit")):
            problems.append(f"service {name} has neither start_command nor systemd_unit")
        for needed in service.get("requires") or []:
            if needed not in names:
                problems.append(f"service {name} requires {needed}, which is not a component of the plan")
        for after in service.get("after") or []:
            if after not in service_names:
                problems.append(f"service {name} starts after {after}, which is not a service of the plan")
        service_graph[name] = [after for after in service.get("after") or [] if after in service_names]
    cycle = find_cycle(service_graph)
    if cycle:
        problems.append(f"services start after each other in a cycle: {' -> '.join(cycle)}")

    sites = plan.get("sites") or {}
    if "primary" not in sites:
        problems.append("dr_plan.sites has no primary site")
    for site, settings in sites.items():
        for name in (settings or {}).get("components") or {}:
            if name not in names:
                problems.append(f"site {site} overrides component {name}, which is not a component of the plan")
        for name in (settings or {}).get("services") or {}:
            if name not in service_names:
                problems.append(f"site {site} overrides service {name}, which is not a service of the plan")

    check_dns(plan, problems)
    for position, hook in enumerate(plan.get("notifications") or [], start=1):
        if hook.get("type") not in ("webhook", "slack", "email"):
            problems.append(f"notification {position} has type {hook.get('type')!r}; use webhook, slack or email")
    return problems
