#!/usr/bin/python
# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: rds_restore
short_description: Restore an RDS instance from a snapshot or to a point in time, or promote a read replica
version_added: 0.1.0
description:
  - O(source=snapshot) creates the new DB instance O(db_instance_identifier) from O(db_snapshot_identifier), for
    example from a cross-region copy made by M(resilience.dr.rds_snapshot) during a region failover. With
    O(snapshot_tags) instead, the newest available snapshot in O(region) carrying those tags is chosen (the time its
    data was taken counts, so a copy counts from its source); RV(snapshot) says which one and how old it is.
  - O(source=point_in_time) creates it from O(source_db_instance_identifier) as it was at O(restore_time), or at its
    latest restorable time (O(use_latest_restorable_time)). A O(restore_time) outside the restorable window is refused
    before anything changes, and the message gives the window.
  - O(source=automated_backup_replica) creates it in O(region) from the automated backups of
    O(source_db_instance_identifier), an instance of another region, replicated into O(region) (see
    M(resilience.dr.rds_backup_replication)), as it was at O(restore_time) or at the replica's latest restorable time.
    The replica is found with the source instance's ARN or identifier; none found, or a O(restore_time) outside its
    restore window, is refused before anything changes, and the message names what O(region) holds.
  - O(source=replica) promotes the read replica O(db_instance_identifier) to a standalone instance.
  - The new instance is tagged with where it came from (C(resilience.dr:restored-from), and
    C(resilience.dr:restore-time) for a point in time). A run on an instance restored from the same source changes
    nothing (its settings are not modified); an instance restored from anything else, or not by this collection, is
    refused unless O(replace=true), which deletes it with a final snapshot and restores in its place.
  - Waits (O(wait)) until the instance is available, reporting each status change in RV(progress), and returns its
    RV(endpoint) and RV(port) for repointing the application.
  - See docs/rds.md in the collection for incident examples and the least-privilege IAM policy.
author: resilience.dr maintainers (@resilience-dr)
options:
  source:
    description: What to restore from.
    type: str
    required: true
    choices: [snapshot, point_in_time, automated_backup_replica, replica]
  db_instance_identifier:
    description: The instance restored (a new identifier), or with O(source=replica) the read replica to promote.
    type: str
    required: true
  db_snapshot_identifier:
    description: The snapshot restored from, in O(region). With O(source=snapshot), this or O(snapshot_tags).
    type: str
  snapshot_tags:
    description:
      - With O(source=snapshot), restore the newest available snapshot in O(region) that carries all these tags, for
        example C(resilience-dr-component) and C(resilience-dr-plan), which the backup role sets on its snapshots and
        their cross-region copies. With O(restore_time), the newest taken at or before it.
      - A later run picks again; when a newer snapshot has appeared since the instance was restored, the instance is
        refused as restored from another source unless O(replace=true).
    type: dict
  source_db_instance_identifier:
    description:
      - The instance whose automated backups are restored, with O(source=point_in_time) (required then).
      - With O(source=automated_backup_replica) (required then), the instance of another region whose automated
        backups are replicated into O(region) - its identifier, or its ARN when instances of two regions share it.
      - With O(source=replica), optionally the instance the replica must be a replica of; another one is refused.
    type: str
  restore_time:
    description:
      - The moment to restore to, ISO 8601 (V(2026-11-23T04:00:00Z)); without a zone, UTC. With
        O(source=point_in_time) and O(source=automated_backup_replica), one of O(restore_time) and
        O(use_latest_restorable_time) is required.
      - With O(source=snapshot) and O(snapshot_tags), the newest snapshot taken at or before it is restored.
    type: str
  use_latest_restorable_time:
    description: Restore to the latest restorable time (usually within the last five minutes).
    type: bool
    default: false
  db_instance_class:
    description: The new instance's class (V(db.r6g.large)); defaults to the source's.
    type: str
  db_subnet_group_name:
    description: The new instance's DB subnet group (the VPC it lives in).
    type: str
  vpc_security_group_ids:
    description: The new instance's VPC security groups.
    type: list
    elements: str
  db_parameter_group_name:
    description: The new instance's DB parameter group.
    type: str
  multi_az:
    description: Whether the new instance is Multi-AZ.
    type: bool
  tags:
    description: Tags of the new (or promoted) instance, besides the C(resilience.dr:) tags the module sets.
    type: dict
  replace:
    description:
      - When O(db_instance_identifier) exists and was not restored from this source, delete it (keeping a final
        snapshot, named in RV(final_db_snapshot_identifier)) and restore in its place. Refused for an instance with
        deletion protection.
    type: bool
    default: false
  wait:
    description: Wait until the instance is available. A replaced instance is always waited for until it is gone.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait. A later run with the same options waits again without restoring again.
    type: int
    default: 3600
attributes:
  check_mode:
    description: Reads the target, the source and the restorable window, refuses what a run would refuse, and reports the plan.
    support: full
  diff_mode:
    description: Shows the target instance (identifier, origin, replica source, class) before and after.
    support: full
notes:
  - The settings in O(db_instance_class), O(multi_az) and the like apply when the instance is created; an existing
    instance restored from the same source is not modified (use M(amazon.aws.rds_instance) for that).
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Restore orders-db to just before the bad migration, as a new instance
  resilience.dr.rds_restore:
    source: point_in_time
    source_db_instance_identifier: orders-db
    restore_time: "2026-11-23T03:58:00Z"
    db_instance_identifier: orders-db-pitr-0358
    db_subnet_group_name: orders-private
    vpc_security_group_ids: [sg-0123456789abcdef0]
    multi_az: true
    tags:
      incident: INC-4711
  register: restored

- name: Repoint the application at the restored instance
  ansible.builtin.lineinfile:
    path: /etc/orders/database.env
    regexp: '^DATABASE_HOST='
    line: "DATABASE_HOST={{ restored.endpoint }}"

- name: Region failover - bring orders-db up in us-west-2 from the cross-region snapshot
  resilience.dr.rds_restore:
    region: us-west-2
    source: snapshot
    db_snapshot_identifier: orders-db-nightly-20261123
    db_instance_identifier: orders-db
    db_instance_class: db.r6g.large
    db_subnet_group_name: orders-private
    wait_timeout: 5400

- name: Region failover - restore billing-db from the newest copy of its snapshots in us-west-2
  resilience.dr.rds_restore:
    region: us-west-2
    source: snapshot
    snapshot_tags:
      resilience-dr-plan: shopfront
      resilience-dr-component: billing-db
    db_instance_identifier: billing-db
  register: restored

- name: Region failover - restore orders-db in us-west-2 from its automated backups replicated there
  resilience.dr.rds_restore:
    region: us-west-2
    source: automated_backup_replica
    source_db_instance_identifier: "arn:aws:rds:us-east-1:111122223333:db:orders-db"
    use_latest_restorable_time: true
    db_instance_identifier: orders-db
    db_subnet_group_name: orders-private

- name: Promote the cross-region read replica
  resilience.dr.rds_restore:
    region: us-west-2
    source: replica
    db_instance_identifier: orders-db-replica
"""

RETURN = r"""
db_instance_identifier: {description: The restored or promoted instance., returned: always, type: str, sample: orders-db-pitr-0358}
endpoint:
  description: The instance's DNS name; null in check mode before it exists, or when not yet known (O(wait=false)).
  returned: always
  type: str
  sample: orders-db-pitr-0358.abcdefghij.us-east-1.rds.amazonaws.com
port: {description: The instance's port; null when RV(endpoint) is., returned: always, type: int, sample: 5432}
arn:
  description: The instance's ARN; null when it does not exist yet.
  returned: always
  type: str
  sample: "arn:aws:rds:us-east-1:111122223333:db:orders-db-pitr-0358"
status: {description: The instance's status at the end; null when it does not exist yet., returned: always, type: str, sample: available}
action:
  description: What the run did (or would do) - V(restore), V(replace), V(promote) or V(none).
  returned: always
  type: str
  sample: restore
plan: {description: The plan in words., returned: always, type: str, sample: restore DB snapshot orders-db-nightly to new DB instance orders-db}
restored_from:
  description:
    - Where the instance comes from - source (V(snapshot), V(point_in_time), V(automated_backup_replica),
      V(replica)), db_snapshot_identifier,
      source_db_instance_identifier, restore_time (the time asked for, or the latest restorable time read before the
      restore).
  returned: always
  type: dict
  sample: {source: point_in_time, source_db_instance_identifier: orders-db, restore_time: "2026-11-23T03:58:00Z", db_snapshot_identifier: null}
restorable_window:
  description:
    - With O(source=point_in_time) or O(source=automated_backup_replica) when a restore was planned, the earliest
      and latest restorable times (of the replica, its RestoreWindow).
  returned: always
  type: dict
  sample: {earliest: "2026-11-16T04:10:00Z", latest: "2026-11-23T04:05:00Z"}
snapshot:
  description:
    - With O(source=snapshot), the snapshot restored from (or that would be, in check mode), with the keys
      M(resilience.dr.rds_snapshot) returns for a snapshot (db_snapshot_identifier, region, snapshot_create_time,
      original_snapshot_create_time, tags, and the rest) plus age_s, the seconds since its data was taken
      (original_snapshot_create_time for a copy). Null for other sources, or when the snapshot is gone.
  returned: always
  type: dict
  sample: {db_snapshot_identifier: billing-db-20261123t040000z, region: us-west-2, age_s: 5400.0,
           original_snapshot_create_time: "2026-11-23T04:00:00Z", snapshot_create_time: "2026-11-23T04:20:13Z"}
consistency_point:
  description:
    - With O(source=snapshot), when the data restored was taken (C(time), ISO 8601); with
      O(source=automated_backup_replica), the time restored to (C(restore_time) of RV(restored_from)).
  returned: when the snapshot restored from exists, or with O(source=automated_backup_replica)
  type: dict
  sample: {time: "2026-11-23T04:00:00Z"}
final_db_snapshot_identifier:
  description: The final snapshot kept of an instance deleted by O(replace); null otherwise.
  returned: always
  type: str
  sample: orders-db-final-20261123041500
instance:
  description:
    - The instance's facts; null when it does not exist yet. Keys db_instance_identifier, db_instance_arn, region,
      status, engine, engine_version, db_instance_class, endpoint, port, multi_az, db_subnet_group_name,
      vpc_security_group_ids, db_parameter_group_names, storage_encrypted, kms_key_id, latest_restorable_time,
      read_replica_source_db_instance_identifier, tags.
  returned: always
  type: dict
  sample: {db_instance_identifier: orders-db-pitr-0358, status: available, endpoint: orders-db-pitr-0358.abcdefghij.us-east-1.rds.amazonaws.com, port: 5432}
progress:
  description: Each status change seen while waiting, with the seconds since the module started.
  returned: always
  type: list
  elements: dict
  sample: [{resource: DB instance orders-db-pitr-0358 in us-east-1, status: creating, at_s: 2.1},
           {resource: DB instance orders-db-pitr-0358 in us-east-1, status: backing-up, at_s: 611.4},
           {resource: DB instance orders-db-pitr-0358 in us-east-1, status: available, at_s: 902.7}]
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule  # noqa: E402
from ansible_collections.resilience.dr.plugins.module_utils._aws.clients import aws_client  # noqa: E402
from ansible_collections.resilience.dr.plugins.module_utils._module import mask_options, run_module  # noqa: E402
from ansible_collections.resilience.dr.plugins.module_utils._rds.api import Rds  # noqa: E402
from ansible_collections.resilience.dr.plugins.module_utils._rds.restore import IAM_HINT, RestoreRequest, check_options, run  # noqa: E402


def argument_spec() -> dict:
    return dict(
        source=dict(type="str", required=True, choices=["snapshot", "point_in_time", "automated_backup_replica", "replica"]),
        db_instance_identifier=dict(type="str", required=True),
        db_snapshot_identifier=dict(type="str"),
        snapshot_tags=dict(type="dict"),
        source_db_instance_identifier=dict(type="str"),
        restore_time=dict(type="str"),
        use_latest_restorable_time=dict(type="bool", default=False),
        db_instance_class=dict(type="str"),
        db_subnet_group_name=dict(type="str"),
        vpc_security_group_ids=dict(type="list", elements="str"),
        db_parameter_group_name=dict(type="str"),
        multi_az=dict(type="bool"),
        tags=dict(type="dict"),
        replace=dict(type="bool", default=False),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=3600),
    )


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec=argument_spec(),
        supports_check_mode=True,
        required_if=[
            ("source", "snapshot", ("db_snapshot_identifier", "snapshot_tags"), True),
            ("source", "point_in_time", ("source_db_instance_identifier",)),
            ("source", "automated_backup_replica", ("source_db_instance_identifier",)),
        ],
        mutually_exclusive=[("db_snapshot_identifier", "snapshot_tags")],
    )
    mask_options(module, "access_key")  # a secret of the DR plan, like secret_key
    params = module.params

    def work() -> dict:
        check_options(params)
        request = RestoreRequest.from_params(params)
        client = aws_client(module, "rds")
        return run(Rds(client, str(module.region), IAM_HINT), request, check_mode=module.check_mode, diff=module._diff)

    run_module(module, work)


if __name__ == "__main__":
    main()
