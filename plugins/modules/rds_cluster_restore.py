#!/usr/bin/python
# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: rds_cluster_restore
short_description: Restore an Aurora DB cluster to a point in time or from a cluster snapshot, with its instances
version_added: 0.1.0
description:
  - Creates the new Aurora DB cluster O(db_cluster_identifier) from a cluster snapshot (O(source=snapshot)) or from
    the automated backups of O(source_db_cluster_identifier) at O(restore_time) or its latest restorable time
    (O(source=point_in_time)), then the DB instances O(instance_identifiers) in it, since a cluster without an
    instance answers no query. Waits (O(wait)) until the cluster and every instance are available and reports each
    status change in RV(progress).
  - Idempotent on O(db_cluster_identifier). The cluster is tagged C(resilience.dr:restored-from) (and
    C(resilience.dr:restore-time)) in the call that creates it; a later run that finds it restored from the same
    source only creates the instances still missing. A cluster of that name restored from anything else (or not by
    this module) is refused; delete it first (amazon.aws.rds_cluster) or choose another name.
  - Snapshots of a cluster are taken and copied with amazon.aws.rds_cluster_snapshot. amazon.aws.rds_cluster can
    restore a cluster too, but creates no instance, does not check a restore time against the restorable window, and
    records nothing on the cluster that tells a later run where it came from.
  - See docs/rds.md in the collection for incident examples and the IAM permissions.
author: resilience.dr maintainers (@resilience-dr)
options:
  source:
    description: Where the cluster's data comes from.
    type: str
    required: true
    choices: [snapshot, point_in_time]
  db_cluster_identifier:
    description: The new cluster's name.
    type: str
    required: true
  db_cluster_snapshot_identifier:
    description: With O(source=snapshot), the cluster snapshot (name or ARN) to restore.
    type: str
  snapshot_tags:
    description:
      - With O(source=snapshot), restore the newest available cluster snapshot of the region carrying all of these
        tags (taken at or before O(restore_time) when given), for example the backup role's snapshots of a component.
    type: dict
  source_db_cluster_identifier:
    description: With O(source=point_in_time), the cluster whose automated backups are restored.
    type: str
  restore_time:
    description:
      - With O(source=point_in_time), the time to restore to (ISO 8601 with a zone, e.g. C(2026-11-23T03:58:00Z)); it
        must be inside the source cluster's restorable window. With O(snapshot_tags), the newest snapshot at or before it.
    type: str
  use_latest_restorable_time:
    description: With O(source=point_in_time), restore to the latest restorable time instead of O(restore_time).
    type: bool
    default: false
  db_instance_class:
    description: The class of the cluster's instances (e.g. C(db.r6g.large)). Required unless O(instance_identifiers) is empty.
    type: str
  instance_identifiers:
    description:
      - The DB instances to create in the cluster, the first one becoming the writer. Defaults to one instance named
        after the cluster with C(-1). An empty list restores the cluster alone.
    type: list
    elements: str
  db_subnet_group_name:
    description: The DB subnet group of the new cluster (in the other region's VPC for a region failover).
    type: str
  vpc_security_group_ids:
    description: The VPC security groups of the new cluster.
    type: list
    elements: str
  db_cluster_parameter_group_name:
    description: The cluster parameter group of the new cluster.
    type: str
  kms_key_id:
    description: The KMS key the new cluster is encrypted with (a key of O(region)); defaults to the source's.
    type: str
  tags:
    description: Tags of the new cluster and its instances, besides the ones this module records.
    type: dict
  wait:
    description:
      - Wait until the cluster and its instances are available.
      - Instances are created only in an available cluster, so creating them always waits for the cluster.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for the cluster, then for each instance.
    type: int
    default: 3600
attributes:
  check_mode:
    description: Reads the source, checks the restore time against its window and reports the plan, changing nothing.
    support: full
  diff_mode:
    description: Shows the cluster (origin, instances) before and after.
    support: full
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Restore orders-aurora to 03:58, just before the bad migration, as a new cluster
  resilience.dr.rds_cluster_restore:
    source: point_in_time
    source_db_cluster_identifier: orders-aurora
    restore_time: "2026-11-23T03:58:00Z"
    db_cluster_identifier: orders-aurora-pitr-0358
    db_instance_class: db.r6g.large
  register: restored

- name: Bring orders-aurora up in the secondary region from the newest copied cluster snapshot
  resilience.dr.rds_cluster_restore:
    region: us-west-2
    source: snapshot
    snapshot_tags: {resilience-dr-plan: shop, resilience-dr-component: orders-aurora}
    db_cluster_identifier: orders-aurora
    db_instance_class: db.r6g.large
    instance_identifiers: [orders-aurora-1, orders-aurora-2]
    db_subnet_group_name: orders-west
    wait_timeout: 7200
"""

RETURN = r"""
db_cluster_identifier: {description: The restored cluster's name., returned: always, type: str, sample: orders-aurora-pitr-0358}
action:
  description: C(restore) (a new cluster), C(instances) (the cluster was there, instances were missing) or C(none).
  returned: always
  type: str
  sample: restore
plan: {description: What the run did or would do (in words)., returned: always, type: str,
       sample: restore DB cluster orders-aurora at 2026-11-23T03:58:00Z to new DB cluster orders-aurora-pitr-0358}
restored_from:
  description: The source (source, db_cluster_snapshot_identifier, source_db_cluster_identifier, restore_time).
  returned: always
  type: dict
  sample: {source: point_in_time, source_db_cluster_identifier: orders-aurora, restore_time: "2026-11-23T03:58:00Z"}
restorable_window:
  description: With O(source=point_in_time) and a new cluster, the source's earliest and latest restorable time.
  returned: always
  type: dict
  sample: {earliest: "2026-11-16T04:00:00Z", latest: "2026-11-23T04:05:00Z"}
created_instances: {description: The instances this run created (or would create)., returned: always, type: list,
                    elements: str, sample: [orders-aurora-pitr-0358-1]}
snapshot:
  description: With O(source=snapshot), the cluster snapshot's facts.
  returned: always
  type: dict
  sample: {db_cluster_snapshot_identifier: orders-aurora-20261123t040000z, status: available, region: us-west-2}
consistency_point:
  description: When the data restored was current (C(time), ISO 8601), the snapshot's time or the restore time.
  returned: when known
  type: dict
  sample: {time: "2026-11-23T03:58:00Z"}
cluster:
  description: The cluster's facts (endpoint, reader_endpoint, port, status, members, tags...); null before it exists.
  returned: always
  type: dict
  sample: {db_cluster_identifier: orders-aurora-pitr-0358, status: available, members: [orders-aurora-pitr-0358-1]}
endpoint: {description: The writer endpoint., returned: always, type: str,
           sample: orders-aurora-pitr-0358.cluster-abcdefghij.us-east-1.rds.amazonaws.com}
reader_endpoint: {description: The reader endpoint., returned: always, type: str,
                  sample: orders-aurora-pitr-0358.cluster-ro-abcdefghij.us-east-1.rds.amazonaws.com}
port: {description: The port., returned: always, type: int, sample: 5432}
status: {description: The cluster's status., returned: always, type: str, sample: available}
progress:
  description: Each status change seen while waiting, with the seconds since the module started.
  returned: always
  type: list
  elements: dict
  sample: [{resource: DB cluster orders-aurora-pitr-0358 in us-east-1, status: creating, at_s: 1.4}]
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule  # noqa: E402
from ansible_collections.resilience.dr.plugins.module_utils._aws.clients import aws_client  # noqa: E402
from ansible_collections.resilience.dr.plugins.module_utils._module import mask_options, run_module  # noqa: E402
from ansible_collections.resilience.dr.plugins.module_utils._rds.api import Rds  # noqa: E402
from ansible_collections.resilience.dr.plugins.module_utils._rds.cluster_restore import (  # noqa: E402
    IAM_HINT,
    ClusterRestoreRequest,
    run,
)


def argument_spec() -> dict:
    return dict(
        source=dict(type="str", required=True, choices=["snapshot", "point_in_time"]),
        db_cluster_identifier=dict(type="str", required=True),
        db_cluster_snapshot_identifier=dict(type="str"),
        snapshot_tags=dict(type="dict"),
        source_db_cluster_identifier=dict(type="str"),
        restore_time=dict(type="str"),
        use_latest_restorable_time=dict(type="bool", default=False),
        db_instance_class=dict(type="str"),
        instance_identifiers=dict(type="list", elements="str"),
        db_subnet_group_name=dict(type="str"),
        vpc_security_group_ids=dict(type="list", elements="str"),
        db_cluster_parameter_group_name=dict(type="str"),
        kms_key_id=dict(type="str", no_log=False),
        tags=dict(type="dict"),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=3600),
    )


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec=argument_spec(),
        supports_check_mode=True,
        required_if=[
            ("source", "snapshot", ("db_cluster_snapshot_identifier", "snapshot_tags"), True),
            ("source", "point_in_time", ("source_db_cluster_identifier",)),
        ],
        mutually_exclusive=[("db_cluster_snapshot_identifier", "snapshot_tags"), ("restore_time", "use_latest_restorable_time")],
    )
    mask_options(module, "access_key")  # a secret of the DR plan, like secret_key
    params = module.params

    def work() -> dict:
        request = ClusterRestoreRequest.from_params(params)
        client = aws_client(module, "rds")
        return run(Rds(client, str(module.region), IAM_HINT), request, check_mode=module.check_mode, diff=module._diff)

    run_module(module, work)


if __name__ == "__main__":
    main()
