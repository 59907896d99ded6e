# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What one site of a DR plan keeps and where its backups go: repositories, copies, standbys, RDS sources.

Each site's repository is the plan's with the site's merged over it; backups
taken on a site are copied to every site whose repository is another place.
A physical PostgreSQL component with restore.standby on another site is a
warm standby that the backup taken here keeps there. An rds component's
snapshots are copied to the other sites' regions, and a site restores it
from a point in time or from the newest snapshot in its own region.
"""

from __future__ import annotations

import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._plan.parts import merge, site_component

# restore.source of a site that restores an rds instance from the automated backups of the primary's instance
# replicated into its region (started by the backup role on the serving site).
REPLICA_SOURCE = "automated_backup_replica"
# The days RDS may keep replicated automated backups (its BackupRetentionPeriod).
REPLICATION_RETENTION_DAYS = (1, 35)


def standbys(plan: dict[str, t.Any], site: str) -> list[dict[str, str]]:
    """The warm standbys that a backup taken on site keeps on the other sites: each physical component whose
    restore.standby is true on another site, as {"site", "component"}, in plan order."""
    return [{"site": other, "component": component["name"]}
            for component in plan.get("components") or []
            for other in plan.get("sites") or {}
            if other != site and ((site_component(plan, other, component).get("restore") or {}).get("standby") is True)]


def _rds_location(component: dict[str, t.Any]) -> tuple[str, str]:
    connection = component.get("connection") or {}
    return str(connection.get("region") or ""), str(connection.get("endpoint_url") or "")


def rds_sources(plan: dict[str, t.Any], site: str, component: dict[str, t.Any]) -> tuple[str, list[dict[str, t.Any]]]:
    """The restore source an rds component defaults to on site, and the copies its backup makes.

    The backup snapshots the instance in the serving site's region; every other
    site whose connection names another region gets a copy there
    ({site, region, endpoint_url, kms_key_id}, the key being that site's
    backup.kms_key_id, and whether the backup starts replicating the instance's
    automated backups there: that site restores from them, restore.source
    automated_backup_replica). A site in the primary site's region restores to a
    point in time of the primary's instance; a site elsewhere cannot reach that
    instance's transaction logs, so it restores the newest snapshot in its own
    region (the copies). `component` is the component resolved for site.
    """
    sites = plan.get("sites") or {}
    base = next(item for item in plan["components"] if item["name"] == component["name"])
    region, _endpoint = _rds_location(component)

    def on(other: str) -> dict[str, t.Any]:
        return merge(base, ((sites[other] or {}).get("components") or {}).get(base["name"]) or {})

    copies = []
    for other in sites:
        if other == site:
            continue
        there = on(other)
        other_region, other_endpoint = _rds_location(there)
        if other_region and other_region != region:
            copies.append({
                "site": other,
                "region": other_region,
                "endpoint_url": other_endpoint or None,
                "kms_key_id": (there.get("backup") or {}).get("kms_key_id"),
                "replicate_automated_backups": (there.get("restore") or {}).get("source") == REPLICA_SOURCE,
                "replication_retention_days": (there.get("backup") or {}).get("replication_retention_days"),
            })
    primary_region = _rds_location(on("primary"))[0] if "primary" in sites else region
    default_source = "point_in_time" if primary_region == region else "snapshot"
    return default_source, copies


def replica_source_instance(plan: dict[str, t.Any], component: dict[str, t.Any]) -> str | None:
    """The instance whose replicated automated backups a site restores: the one the backup role backs up on the
    primary site (its restore.source_db_instance_identifier, else its connection.db_instance_identifier)."""
    base = next(item for item in plan["components"] if item["name"] == component["name"])
    serving = site_component(plan, "primary", base) if "primary" in (plan.get("sites") or {}) else base
    return ((serving.get("restore") or {}).get("source_db_instance_identifier")
            or (serving.get("connection") or {}).get("db_instance_identifier"))


def check_replica_sources(plan: dict[str, t.Any], component: dict[str, t.Any], problems: list[str]) -> None:
    """restore.source automated_backup_replica: an instance, on a site in another region than the primary's."""
    name = component["name"]
    sites = plan.get("sites") or {}
    views = {site: site_component(plan, site, component) for site in sites} or {"": component}
    primary_region = _rds_location(views.get("primary", component))[0]
    for site, view in views.items():
        where = f"site {site} component {name}" if site else f"component {name}"
        retention = (view.get("backup") or {}).get("replication_retention_days")
        low, high = REPLICATION_RETENTION_DAYS
        if retention is not None and (isinstance(retention, bool) or not isinstance(retention, int) or not low <= retention <= high):
            problems.append(f"{where} has backup.replication_retention_days {retention!r}; give whole days from {low} to {high}")
        if (view.get("restore") or {}).get("source") != REPLICA_SOURCE:
            continue
        region = _rds_location(view)[0]
        if not sites:
            problems.append(f"{where} has restore.source {REPLICA_SOURCE}, but the plan has no sites: the replicated "
                            "automated backups are restored on a site in another region than the primary's")
        elif (view.get("connection") or {}).get("db_cluster_identifier"):
            problems.append(f"{where} is an Aurora cluster: restore.source {REPLICA_SOURCE} restores an instance; "
                            "restore the cluster from a point in time or a snapshot")
        elif not region:
            problems.append(f"{where} has restore.source {REPLICA_SOURCE} without connection.region: name the "
                            "site's region, where the automated backups are replicated")
        elif region == primary_region:
            problems.append(f"{where} has restore.source {REPLICA_SOURCE}, but the site is in the primary's region "
                            f"{region}, where no backups are replicated: use restore.source point_in_time there")


def site_repository(plan: dict[str, t.Any], site: str) -> dict[str, t.Any]:
    """The repository of site as module options: the plan's, with the site's `repository` merged over it."""
    settings = (plan.get("sites") or {}).get(site) or {}
    merged = merge(plan.get("repository") or {}, settings.get("repository") or {})
    options = {"repository": merged.pop("location", None)}
    options.update({key: value for key, value in merged.items() if value not in (None, "", [])})
    return options


def repository_place(options: dict[str, t.Any]) -> tuple[str, str, str]:
    """Where a repository keeps its backups, to tell whether two sites share one place."""
    location = str(options.get("repository") or "").rstrip("/")
    if not location.startswith("s3://"):
        return (location, "", "")
    return (location, str(options.get("endpoint_url") or ""), str(options.get("region") or ""))


def copy_sites(plan: dict[str, t.Any], site: str) -> list[str]:
    """The other sites whose repository is another place: backups taken on site are copied there."""
    own = repository_place(site_repository(plan, site))
    return [other for other in plan.get("sites") or {}
            if other != site and repository_place(site_repository(plan, other)) != own]


def one_place(plan: dict[str, t.Any]) -> bool:
    """Whether a plan with several sites keeps every site's backups in the same place."""
    sites = list(plan.get("sites") or {})
    return len(sites) > 1 and not copy_sites(plan, sites[0])
