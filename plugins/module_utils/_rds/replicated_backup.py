# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""rds_restore source automated_backup_replica: the automated backups of an instance of another region,
replicated into this one, and the window they can be restored to.

RDS replicates an instance's automated backups (snapshots and transaction
logs) into a second region once start_db_instance_automated_backups_replication
was called there (rds_backup_replication). In that region,
describe_db_instance_automated_backups lists the replica with the source
instance's ARN (DBInstanceArn, of the source region), its identifier and its
RestoreWindow; a restore names the replica by its DBInstanceAutomatedBackupsArn.
"""

from __future__ import annotations

import typing as t
from datetime import datetime, timezone

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError
from ansible_collections.resilience.dr.plugins.module_utils._rds.api import Rds, check_restore_time
from ansible_collections.resilience.dr.plugins.module_utils._timing import format_time

SOURCE = "automated_backup_replica"


def arn_region(arn: str | None) -> str:
    """The region of an RDS ARN (arn:aws:rds:REGION:ACCOUNT:...); empty when it is none."""
    parts = str(arn or "").split(":")
    return parts[3] if len(parts) > 4 and parts[0] == "arn" else ""


def _describe(backup: dict[str, t.Any]) -> str:
    window = backup.get("RestoreWindow") or {}
    earliest, latest = window.get("EarliestTime"), window.get("LatestTime")
    span = (f"window {format_time(earliest)} to {format_time(latest)}"
            if isinstance(earliest, datetime) and isinstance(latest, datetime) else "no restore window")
    return (f"{backup.get('DBInstanceIdentifier')} ({backup.get('DBInstanceArn') or 'no source ARN'}, "
            f"{backup.get('Status')}, {span})")


def automated_backups(rds: Rds) -> list[dict[str, t.Any]]:
    """Every automated backup listed in rds.region (the region's own instances' and the replicated), page by page."""
    found: list[dict[str, t.Any]] = []
    marker: str | None = None
    while True:
        page = rds.call("list the automated backups", "describe_db_instance_automated_backups", MaxRecords=100,
                        **({"Marker": marker} if marker else {}))
        found.extend((page or {}).get("DBInstanceAutomatedBackups") or [])
        marker = (page or {}).get("Marker")
        if not marker:
            return found


def find_replica(rds: Rds, source: str) -> dict[str, t.Any]:
    """The automated backups replicated into rds.region of source (an instance's ARN or identifier).

    Only backups of an instance of another region count (their DBInstanceArn
    names it): the automated backups of an instance of this region are
    restored with source point_in_time.
    """
    backups = automated_backups(rds)
    wanted = source.lower()
    by_arn = wanted.startswith("arn:")
    matching = [item for item in backups
                if (str(item.get("DBInstanceArn") or "").lower() == wanted if by_arn
                    else str(item.get("DBInstanceIdentifier") or "").lower() == wanted)]
    replicas = [item for item in matching if arn_region(item.get("DBInstanceArn")) not in ("", rds.region)]
    if len(replicas) == 1:
        return replicas[0]
    if len(replicas) > 1:
        raise ConfigurationError(
            f"several replicated automated backups in {rds.region} are of an instance named {source}: "
            f"{'; '.join(_describe(item) for item in replicas)}; give source_db_instance_identifier as the source "
            f"instance's ARN to choose one",
            source_db_instance_identifier=source,
        )
    local = [item for item in matching if item not in replicas]
    seen = "; ".join(_describe(item) for item in backups) or "none"
    advice = (f" The automated backups of {source} found belong to an instance of {rds.region} itself: restore them "
              f"with source point_in_time." if local else "")
    raise ConfigurationError(
        f"no automated backups of DB instance {source} are replicated into {rds.region}, so there is nothing to "
        f"restore from; automated backups there: {seen}.{advice} Start the replication in the source region's plan "
        f"(rds_backup_replication, or the backup role with restore.source automated_backup_replica on this site), "
        f"or restore the newest snapshot copied here (source snapshot)",
        source_db_instance_identifier=source,
    )


def replica_window(rds: Rds, backup: dict[str, t.Any]) -> tuple[datetime, datetime]:
    """(earliest, latest) time the replicated backups can be restored to: their RestoreWindow."""
    window = backup.get("RestoreWindow") or {}
    earliest, latest = window.get("EarliestTime"), window.get("LatestTime")
    if not isinstance(earliest, datetime) or not isinstance(latest, datetime):
        raise ConfigurationError(
            f"the automated backups of {backup.get('DBInstanceIdentifier')} replicated into {rds.region} report no "
            f"restore window yet (status {backup.get('Status')}): the first replicated snapshot has not arrived. "
            f"Wait for it, or restore the newest snapshot copied into {rds.region} (source snapshot)"
        )
    return earliest.astimezone(timezone.utc), latest.astimezone(timezone.utc)


def plan_replica(rds: Rds, source: str, restore_time: datetime | None) -> dict[str, t.Any]:
    """What a restore from the replica uses: its ARN, the window, and the time restored to (the latest
    restorable time without restore_time). A restore_time outside the window is refused here."""
    backup = find_replica(rds, source)
    earliest, latest = replica_window(rds, backup)
    if restore_time is not None:
        check_restore_time(f"{source} (automated backups replicated as {backup.get('DBInstanceAutomatedBackupsArn')})",
                           rds.region, restore_time, (earliest, latest))
    return {
        "arn": backup.get("DBInstanceAutomatedBackupsArn"),
        "window": {"earliest": format_time(earliest), "latest": format_time(latest)},
        "restore_time": format_time(restore_time if restore_time is not None else latest),
    }
