# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A DR plan resolved for one site: what the recovery and backup playbooks read.

Each component's connection with the site's overrides applied, its RPO and
RTO in seconds, hooks and schedule with their defaults; the order to restore
in (batches and the steps of each), the order to start services in, who
depends on whom, the site's repository and where its backups are copied,
the warm standbys it keeps, and each DNS record's value per site.
"""

from __future__ import annotations

import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._plan.dns import dns_records
from ansible_collections.resilience.dr.plugins.module_utils._plan.graph import batches, restore_steps
from ansible_collections.resilience.dr.plugins.module_utils._plan.hooks import hooks, recovery_hooks
from ansible_collections.resilience.dr.plugins.module_utils._plan.infrastructure import infrastructure
from ansible_collections.resilience.dr.plugins.module_utils._plan.parts import merge, seconds, site_component
from ansible_collections.resilience.dr.plugins.module_utils._plan.schedules import PLAN_SCHEDULES, schedules
from ansible_collections.resilience.dr.plugins.module_utils._plan.sites import (
    REPLICA_SOURCE, copy_sites, rds_sources, replica_source_instance, site_repository, standbys,
)
from ansible_collections.resilience.dr.plugins.module_utils._plan.validate import PlanError, validate, warnings


def resolve(plan: dict[str, t.Any], site: str = "primary") -> dict[str, t.Any]:
    """The plan as one site sees it; raises PlanError listing every problem."""
    problems = validate(plan)
    sites = plan.get("sites") or {}
    if not problems and site not in sites:
        problems.append(f"site {site} is not in dr_plan.sites ({', '.join(sites)})")
    if problems:
        raise PlanError(problems)
    settings = sites[site] or {}
    site_services = settings.get("services") or {}

    components: dict[str, dict[str, t.Any]] = {}
    order = []
    graph: dict[str, list[str]] = {}
    for component in plan["components"]:
        name = component["name"]
        resolved = site_component(plan, site, component)
        resolved.setdefault("connection", {})
        resolved.setdefault("depends_on", [])
        resolved["rpo_seconds"] = seconds(resolved.get("rpo"), name, [])
        resolved["rto_seconds"] = seconds(resolved.get("rto"), name, [])
        resolved["host"] = resolved.get("host") or "localhost"
        resolved["restore_test"] = {**(plan.get("restore_test") or {}), **(resolved.get("restore_test") or {})}
        resolved["backup"] = dict(resolved.get("backup") or {})
        resolved["backup"]["hooks"] = hooks(resolved["backup"].get("hooks"), f"component {name} backup.hooks",
                                            resolved["host"], [])
        # Recovery hooks run around this component's restore, on its host unless they name another.
        resolved["hooks"] = recovery_hooks(resolved.get("hooks"), f"component {name} hooks", resolved["host"], [])
        resolved["backup"]["schedule"] = (resolved["backup"].get("schedule") or plan.get("backup_schedule")
                                          or PLAN_SCHEDULES["backup"])
        if resolved.get("kind") == "rds":
            default_source, resolved["copies"] = rds_sources(plan, site, resolved)
            resolved["restore"] = dict(resolved.get("restore") or {})
            resolved["restore"].setdefault("source", default_source)
            if resolved["restore"]["source"] == REPLICA_SOURCE:
                resolved["restore"].setdefault("source_db_instance_identifier", replica_source_instance(plan, component))
        components[name] = resolved
        order.append(name)
        graph[name] = list(resolved["depends_on"])

    services: dict[str, dict[str, t.Any]] = {}
    service_graph: dict[str, list[str]] = {}
    for service in plan.get("services") or []:
        resolved = merge(service, site_services.get(service["name"]) or {})
        resolved.setdefault("requires", [])
        resolved.setdefault("after", [])
        resolved["host"] = resolved.get("host") or "localhost"
        services[service["name"]] = resolved
        service_graph[service["name"]] = list(resolved["after"])

    dependants: dict[str, dict[str, list[str]]] = {name: {"components": [], "services": []} for name in components}
    for name, component in components.items():
        for dependency in component["depends_on"]:
            dependants[dependency]["components"].append(name)
    for name, service in services.items():
        for needed in service["requires"]:
            dependants[needed]["services"].append(name)

    restore_batches = batches(graph, order)
    return {
        "name": plan["name"],
        "site": site,
        "repository": site_repository(plan, site),
        "repositories": {name: site_repository(plan, name) for name in sites},
        "copy_to": copy_sites(plan, site),
        "standbys": standbys(plan, site),
        "backup": {"hooks": hooks((plan.get("backup") or {}).get("hooks"), "dr_plan.backup.hooks", None, [])},
        # The plan's and this site's recovery hooks, around a whole recovery level (docs/dr-plan.md, "Recovery hooks").
        "hooks": recovery_hooks(plan.get("hooks"), "dr_plan.hooks", None, []),
        "site_hooks": recovery_hooks(settings.get("hooks"), f"dr_plan.sites.{site}.hooks", None, []),
        # Every site's recovery hooks, for the plan document.
        "sites_hooks": {name: recovery_hooks((sites[name] or {}).get("hooks"), f"dr_plan.sites.{name}.hooks", None, [])
                        for name in sites},
        "warnings": warnings(plan),
        "address": settings.get("address"),
        # The site's Terraform or OpenTofu project, applied first by level 3 (docs/dr-plan.md, "Infrastructure").
        "infrastructure": infrastructure(plan, site),
        "components": components,
        "schedules": schedules(plan, components),
        "restore_batches": restore_batches,
        "restore_steps": restore_steps(restore_batches, components),
        "services": services,
        "service_batches": batches(service_graph, list(services)),
        "dependants": dependants,
        "dns_records": dns_records(plan),
    }
