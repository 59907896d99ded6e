# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The checks of the managed AWS data stores a plan may hold beside RDS instances: Aurora clusters (an rds component
whose connection names db_cluster_identifier) and ElastiCache (Redis OSS) components.

Each problem names the component (and the site whose override holds it) and what to write instead.
"""

from __future__ import annotations

import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._plan.parts import site_component

ELASTICACHE_TARGETS = ("replication_group", "cache_cluster")


def is_aurora(component: dict[str, t.Any]) -> bool:
    return bool((component.get("connection") or {}).get("db_cluster_identifier"))


def _views(plan: dict[str, t.Any], component: dict[str, t.Any]) -> list[tuple[str, dict[str, t.Any]]]:
    """The component as the plan states it and as each site sees it, with where to say a problem is."""
    name = component["name"]
    views = [(f"component {name}", component)]
    for site, settings in (plan.get("sites") or {}).items():
        if name in ((settings or {}).get("components") or {}):
            views.append((f"site {site} component {name}", site_component(plan, site, component)))
    return views


def check_aurora(plan: dict[str, t.Any], component: dict[str, t.Any], problems: list[str]) -> None:
    """An rds component names one instance or one Aurora cluster; a cluster's restore needs its instances' class."""
    for where, view in _views(plan, component):
        connection = view.get("connection") or {}
        restore = view.get("restore") or {}
        if connection.get("db_cluster_identifier") and connection.get("db_instance_identifier"):
            problems.append(f"{where} has both connection.db_instance_identifier and connection.db_cluster_identifier; "
                            "give db_cluster_identifier for an Aurora cluster, db_instance_identifier for an instance")
            continue
        if not is_aurora(view):
            if restore.get("source_db_cluster_identifier"):
                problems.append(f"{where} has restore.source_db_cluster_identifier but no connection.db_cluster_identifier; "
                                "an RDS instance restores from restore.source_db_instance_identifier")
            continue
        if restore.get("source_db_instance_identifier"):
            problems.append(f"{where} is an Aurora cluster (connection.db_cluster_identifier): write its source as "
                            "restore.source_db_cluster_identifier, not restore.source_db_instance_identifier")
        if (restore.get("source") or "point_in_time") == "point_in_time" and not restore.get("source_db_cluster_identifier"):
            problems.append(f"{where} is an Aurora cluster restored to a point in time: give "
                            "restore.source_db_cluster_identifier, the cluster whose backups are restored")
        if not restore.get("db_instance_class"):
            problems.append(f"{where} is an Aurora cluster: give restore.db_instance_class, the class of the instances "
                            "created in the restored cluster (a cluster without one answers no query)")
        instances = restore.get("instance_identifiers")
        if instances is not None and (not isinstance(instances, list) or not all(isinstance(item, str) and item for item in instances)):
            problems.append(f"{where} has restore.instance_identifiers {instances!r}; write a list of instance names")


def check_elasticache(plan: dict[str, t.Any], component: dict[str, t.Any], problems: list[str]) -> None:
    """The group or cluster backed up, and the new one a restore creates (ElastiCache restores only into a new one)."""
    for where, view in _views(plan, component):
        connection = view.get("connection") or {}
        restore = view.get("restore") or {}
        given = [key for key in ("replication_group_id", "cache_cluster_id") if connection.get(key)]
        if len(given) != 1:
            problems.append(f"{where} (elasticache) needs exactly one of connection.replication_group_id and "
                            f"connection.cache_cluster_id, the group or cluster whose snapshots are taken")
        if not restore.get("target_id"):
            problems.append(f"{where} (elasticache) has no restore.target_id: ElastiCache restores a snapshot only into "
                            "a new replication group or cache cluster; name it (and point the application at it)")
        elif restore.get("target_id") in (connection.get("replication_group_id"), connection.get("cache_cluster_id")):
            problems.append(f"{where} (elasticache) has restore.target_id {restore['target_id']!r}, the group backed up; "
                            "a restore makes a new one: give it another name")
        target = restore.get("target", "replication_group")
        if target not in ELASTICACHE_TARGETS:
            problems.append(f"{where} (elasticache) has restore.target {target!r}; use one of {', '.join(ELASTICACHE_TARGETS)}")
