# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""rds_backup_replication: an instance's automated backups replicated into another region, started or stopped.

The source instance is read in its own region (its ARN, whether it is
encrypted); the replication is started or stopped in the destination region,
where the replicated backups are listed with the source's ARN. An instance
whose backups are already replicated there changes nothing (RDS has no call
to change a running replication's retention: a different one is reported
in the warnings, with the way to change it).
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError
from ansible_collections.resilience.dr.plugins.module_utils._rds.api import Rds
from ansible_collections.resilience.dr.plugins.module_utils._rds.replicated_backup import automated_backups

IAM_HINT = (
    "rds_backup_replication needs rds:DescribeDBInstances in the source region and "
    "rds:DescribeDBInstanceAutomatedBackups, rds:StartDBInstanceAutomatedBackupsReplication, "
    "rds:StopDBInstanceAutomatedBackupsReplication in the destination region, plus kms:CreateGrant and "
    "kms:DescribeKey on kms_key_id for an encrypted instance (see docs/rds.md)"
)
# The replicated backups' statuses while the replication runs; "retained" ones outlive a stopped replication.
RUNNING = frozenset({"pending", "replicating", "active", "creating"})


@dataclass
class ReplicationRequest:
    db_instance_identifier: str
    destination_region: str
    state: str = "present"
    kms_key_id: str | None = None
    backup_retention_period: int | None = None

    @classmethod
    def from_params(cls, params: dict[str, t.Any]) -> ReplicationRequest:
        return cls(
            db_instance_identifier=str(params["db_instance_identifier"]).lower(),
            destination_region=str(params["destination_region"]),
            state=params.get("state") or "present",
            kms_key_id=params.get("kms_key_id") or None,
            backup_retention_period=params.get("backup_retention_period"),
        )


def replication_facts(backup: dict[str, t.Any] | None, region: str) -> dict[str, t.Any] | None:
    if backup is None:
        return None
    window = backup.get("RestoreWindow") or {}
    return {
        "db_instance_automated_backups_arn": backup.get("DBInstanceAutomatedBackupsArn"),
        "source_db_instance_arn": backup.get("DBInstanceArn"),
        "region": region,
        "status": backup.get("Status"),
        "backup_retention_period": backup.get("BackupRetentionPeriod"),
        "encrypted": backup.get("Encrypted"),
        "kms_key_id": backup.get("KmsKeyId"),
        "restore_window": {key: str(value) if value is not None else None for key, value in (
            ("earliest", window.get("EarliestTime")), ("latest", window.get("LatestTime")))},
    }


def _replicated(destination: Rds, arn: str) -> dict[str, t.Any] | None:
    running = [item for item in automated_backups(destination)
               if str(item.get("DBInstanceArn") or "") == arn and item.get("Status") in RUNNING]
    return running[0] if running else None


def run(source: Rds, destination: Rds, request: ReplicationRequest, *, check_mode: bool, diff: bool) -> dict[str, t.Any]:
    identifier = request.db_instance_identifier
    if destination.region == source.region:
        raise ConfigurationError(
            f"destination_region {destination.region} is the region of DB instance {identifier}; automated backups "
            f"are replicated into another region (the site's that restores from them)"
        )
    instance = source.instance(identifier)
    if instance is None:
        raise ConfigurationError(
            f"DB instance {identifier} not found in {source.region}, so its automated backups cannot be replicated "
            f"into {destination.region}; check db_instance_identifier and region (the source instance's region)",
            db_instance_identifier=identifier,
        )
    arn = str(instance["DBInstanceArn"])
    existing = _replicated(destination, arn)
    warnings: list[str] = []
    action = "none"
    if request.state == "present" and existing is None:
        if int(instance.get("BackupRetentionPeriod") or 0) == 0:
            raise ConfigurationError(
                f"DB instance {identifier} in {source.region} keeps no automated backups (backup retention period "
                f"0), so there is nothing to replicate; give it a retention period first (amazon.aws.rds_instance "
                f"backup_retention_period)"
            )
        if instance.get("StorageEncrypted") and not request.kms_key_id:
            raise ConfigurationError(
                f"DB instance {identifier} in {source.region} is encrypted, and a KMS key is used only in its own "
                f"region: give kms_key_id, a key of {destination.region}, to encrypt the replicated backups with"
            )
        action = "start"
    elif request.state == "present" and existing is not None:
        kept = existing.get("BackupRetentionPeriod")
        if request.backup_retention_period is not None and kept is not None and int(kept) != request.backup_retention_period:
            warnings.append(
                f"the automated backups of {identifier} are replicated into {destination.region} for {kept} days, not "
                f"{request.backup_retention_period}: RDS cannot change a running replication's retention; stop it "
                f"(state: absent) and start it again to change it"
            )
    elif request.state == "absent" and existing is not None:
        action = "stop"
    result: dict[str, t.Any] = {
        "changed": action != "none",
        "action": action,
        "db_instance_identifier": identifier,
        "source_db_instance_arn": arn,
        "destination_region": destination.region,
        "replication": replication_facts(existing, destination.region),
        "warnings": warnings,
    }
    if not check_mode and action == "start":
        options: dict[str, t.Any] = {"SourceDBInstanceArn": arn, "SourceRegion": source.region}
        if request.kms_key_id:
            options["KmsKeyId"] = request.kms_key_id
        if request.backup_retention_period is not None:
            options["BackupRetentionPeriod"] = request.backup_retention_period
        # SourceRegion makes botocore add the pre-signed URL the call needs for an encrypted instance.
        response = destination.call(
            f"start replicating the automated backups of {arn} into {destination.region}",
            "start_db_instance_automated_backups_replication", **options,
        )
        result["replication"] = replication_facts((response or {}).get("DBInstanceAutomatedBackup"), destination.region)
    elif not check_mode and action == "stop":
        response = destination.call(
            f"stop replicating the automated backups of {arn} into {destination.region}",
            "stop_db_instance_automated_backups_replication", SourceDBInstanceArn=arn,
        )
        result["replication"] = replication_facts((response or {}).get("DBInstanceAutomatedBackup"), destination.region)
    if diff:
        result["diff"] = {
            "before": {"replicated_into": destination.region if existing is not None else None},
            "after": {"replicated_into": destination.region if (existing is not None or action == "start")
                      and action != "stop" else None},
        }
    return result
