#!/usr/bin/python
# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: rds_backup_replication
short_description: Replicate an RDS instance's automated backups into another region, for point-in-time restores there
version_added: 0.1.0
description:
  - With O(state=present), starts replicating the automated backups (snapshots and transaction logs) of the DB
    instance O(db_instance_identifier) of O(region) into O(destination_region), where
    M(resilience.dr.rds_restore) O(resilience.dr.rds_restore#module:source=automated_backup_replica) restores them to
    a point in time when O(region) is lost. An instance already replicated there changes nothing.
  - An encrypted instance needs O(kms_key_id), a key of O(destination_region).
  - With O(state=absent), stops the replication (the replicated backups are kept by RDS for their retention period).
  - The replication starts at once but its first snapshot takes a while to arrive; RV(replication) says its status.
  - Neither amazon.aws nor community.aws has a module for this API.
  - See docs/rds.md in the collection for the least-privilege IAM policy.
author: resilience.dr maintainers (@resilience-dr)
options:
  db_instance_identifier:
    description: The DB instance of O(region) whose automated backups are replicated.
    type: str
    required: true
  destination_region:
    description: The region the automated backups are replicated into (the secondary site's).
    type: str
    required: true
  destination_endpoint_url:
    description: The RDS API endpoint of O(destination_region), when O(endpoint_url) names one of O(region) only.
    type: str
  kms_key_id:
    description: The KMS key of O(destination_region) the replicated backups are encrypted with; required for an encrypted instance.
    type: str
  backup_retention_period:
    description:
      - Days the replicated backups are kept; RDS's default (7) without it. A running replication with another
        retention is left as it is, with a warning (RDS cannot change it without stopping the replication).
    type: int
  state:
    description: Whether the automated backups are replicated into O(destination_region).
    type: str
    choices: [present, absent]
    default: present
attributes:
  check_mode:
    description: Reads the instance and the replicated backups and reports what a run would do.
    support: full
  diff_mode:
    description: Shows the region the backups are replicated into, before and after.
    support: full
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Replicate the automated backups of orders-db into the secondary site's region
  resilience.dr.rds_backup_replication:
    region: us-east-1
    db_instance_identifier: orders-db
    destination_region: us-west-2
    kms_key_id: arn:aws:kms:us-west-2:111122223333:key/0a1b2c3d-4e5f-6789-abcd-ef0123456789
    backup_retention_period: 7
"""

RETURN = r"""
action:
  description: What the run did (or would do) - V(start), V(stop) or V(none).
  returned: always
  type: str
  sample: start
db_instance_identifier: {description: The source instance., returned: always, type: str, sample: orders-db}
source_db_instance_arn:
  description: The source instance's ARN.
  returned: always
  type: str
  sample: "arn:aws:rds:us-east-1:111122223333:db:orders-db"
destination_region: {description: The region the backups are replicated into., returned: always, type: str, sample: us-west-2}
replication:
  description:
    - The replicated automated backups in RV(destination_region) (db_instance_automated_backups_arn,
      source_db_instance_arn, region, status, backup_retention_period, encrypted, kms_key_id, restore_window);
      null when there are none (yet, in check mode).
  returned: always
  type: dict
  sample: {db_instance_automated_backups_arn: "arn:aws:rds:us-west-2:111122223333:auto-backup:ab-xyz", status: pending}
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule  # noqa: E402
from ansible_collections.resilience.dr.plugins.module_utils._aws.clients import aws_client  # noqa: E402
from ansible_collections.resilience.dr.plugins.module_utils._module import mask_options, run_module  # noqa: E402
from ansible_collections.resilience.dr.plugins.module_utils._rds.api import Rds  # noqa: E402
from ansible_collections.resilience.dr.plugins.module_utils._rds.backup_replication import IAM_HINT, ReplicationRequest, run  # noqa: E402


def argument_spec() -> dict:
    return dict(
        db_instance_identifier=dict(type="str", required=True),
        destination_region=dict(type="str", required=True),
        destination_endpoint_url=dict(type="str"),
        kms_key_id=dict(type="str", no_log=False),
        backup_retention_period=dict(type="int"),
        state=dict(type="str", default="present", choices=["present", "absent"]),
    )


def main() -> None:
    module = AnsibleAWSModule(argument_spec=argument_spec(), supports_check_mode=True)
    mask_options(module, "access_key")  # a secret of the DR plan, like secret_key
    params = module.params

    def work() -> dict:
        request = ReplicationRequest.from_params(params)
        source = Rds(aws_client(module, "rds"), str(module.region), IAM_HINT)
        endpoint = {"endpoint": params["destination_endpoint_url"]} if params["destination_endpoint_url"] else {}
        client = aws_client(module, "rds", region=request.destination_region, **endpoint)
        result = run(source, Rds(client, request.destination_region, IAM_HINT), request,
                     check_mode=module.check_mode, diff=module._diff)
        for warning in result.pop("warnings", []):
            module.warn(warning)
        return result

    run_module(module, work)


if __name__ == "__main__":
    main()
