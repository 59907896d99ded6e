#!/usr/bin/python
# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: rds_snapshot
short_description: Take a manual RDS snapshot, copy it to another region re-encrypted with that region's KMS key
version_added: 0.1.0
description:
  - With O(state=present), takes a manual snapshot of O(db_instance_identifier) named O(db_snapshot_identifier),
    unless a snapshot of that name exists (then only its tags are brought in line). Taking one before a deploy or a
    schema change gives a restore point that retention never removes (M(resilience.dr.rds_snapshot_prune) deletes
    only snapshots carrying the backup role's tags C(resilience-dr-plan) and C(resilience-dr-component)).
  - With O(copy_to_region), also copies the snapshot to that region as O(target_db_snapshot_identifier),
    re-encrypted with O(kms_key_id), a key of the destination region (required for an encrypted snapshot). An
    existing copy is recognised by its source and key; a snapshot of that name that is not a copy of this one is
    refused.
  - With O(state=absent), deletes the snapshot (and the copy in O(copy_to_region) when given).
  - Waits (O(wait)) until every snapshot is available and reports each status change in RV(progress).
  - See docs/rds.md in the collection for incident examples and the least-privilege IAM policy.
author: resilience.dr maintainers (@resilience-dr)
options:
  db_snapshot_identifier:
    description: The name of the manual snapshot in the region of O(region).
    type: str
    required: true
    aliases: [snapshot_id]
  db_instance_identifier:
    description:
      - The DB instance to snapshot. Needed to create the snapshot; without it the snapshot must exist (for
        example to copy or tag it).
      - An existing snapshot of another instance under O(db_snapshot_identifier) is refused.
    type: str
  state:
    description: Whether the snapshot (and its copy) should exist.
    type: str
    choices: [present, absent]
    default: present
  copy_to_region:
    description: A region to copy the snapshot to, for a region failover (the source region may be down when it is needed).
    type: str
  target_db_snapshot_identifier:
    description: The name of the copy in O(copy_to_region); defaults to O(db_snapshot_identifier).
    type: str
  copy_endpoint_url:
    description:
      - The RDS API endpoint of O(copy_to_region), when O(endpoint_url) names one of the source region (a regional
        or VPC endpoint) or a test server per region. Defaults to O(endpoint_url).
    type: str
  kms_key_id:
    description:
      - The KMS key (ARN, key id or alias) of O(copy_to_region) the copy is encrypted with. Required when the
        snapshot is encrypted, since a KMS key cannot be used outside its region.
      - An existing copy encrypted with another key is refused (an alias is not compared).
    type: str
  tags:
    description:
      - Tags of the snapshot and the copy. Without it, a new snapshot gets none and a copy takes the source's tags.
    type: dict
  purge_tags:
    description: Remove tags not in O(tags) (except C(aws:) tags). Only with O(tags).
    type: bool
    default: false
  wait:
    description:
      - Wait until the snapshot (and the copy) is available, or, with O(state=absent), gone. A copy always waits
        for its source snapshot to be available first.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait.
    type: int
    default: 1800
attributes:
  check_mode:
    description: Reads the snapshots and reports the actions a run would take in RV(actions), changing nothing.
    support: full
  diff_mode:
    description: Shows the snapshot and the copy (identifier, region, key, tags) before and after.
    support: full
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Take a restore point of orders-db before the schema migration
  resilience.dr.rds_snapshot:
    db_instance_identifier: orders-db
    db_snapshot_identifier: "orders-db-before-release-{{ release_version | replace('.', '-') }}"
    tags:
      reason: pre-deploy
      release: "{{ release_version }}"
  register: restore_point

- name: Copy the nightly snapshot to the secondary region, re-encrypted with its key
  resilience.dr.rds_snapshot:
    region: us-east-1
    db_snapshot_identifier: orders-db-nightly-20261123
    copy_to_region: us-west-2
    kms_key_id: arn:aws:kms:us-west-2:111122223333:key/0a1b2c3d-4e5f-6789-abcd-ef0123456789
    wait_timeout: 7200

- name: Remove the restore point once the release is confirmed good
  resilience.dr.rds_snapshot:
    db_snapshot_identifier: "{{ restore_point.db_snapshot_identifier }}"
    state: absent
"""

RETURN = r"""
db_snapshot_identifier: {description: The snapshot's name., returned: always, type: str, sample: orders-db-before-release-4-2}
actions:
  description: What the run did (or would do, in check mode); empty when nothing changed.
  returned: always
  type: list
  elements: str
  sample: ["create orders-db-before-release-4-2 in us-east-1: manual snapshot of DB instance orders-db"]
snapshot:
  description:
    - The snapshot's facts; null when it does not exist (O(state=absent), or not yet in check mode).
    - Keys db_snapshot_identifier, db_snapshot_arn, db_instance_identifier, region, status, snapshot_type,
      snapshot_create_time, original_snapshot_create_time, engine, engine_version, allocated_storage, encrypted,
      kms_key_id, percent_progress, source_db_snapshot_identifier, tags.
  returned: always
  type: dict
  sample: {db_snapshot_identifier: orders-db-before-release-4-2, region: us-east-1, status: available, encrypted: true,
           kms_key_id: "arn:aws:kms:us-east-1:111122223333:key/...", tags: {reason: pre-deploy}}
copy:
  description: The copy's facts (same keys as RV(snapshot)); null without O(copy_to_region) or when it does not exist.
  returned: always
  type: dict
  sample: {db_snapshot_identifier: orders-db-nightly-20261123, region: us-west-2, status: available, encrypted: true}
progress:
  description: Each status change seen while waiting, with the seconds since the module started.
  returned: always
  type: list
  elements: dict
  sample: [{resource: DB snapshot orders-db-nightly-20261123 in us-west-2, status: creating, at_s: 1.2},
           {resource: DB snapshot orders-db-nightly-20261123 in us-west-2, status: available, at_s: 412.9}]
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule  # noqa: E402
from ansible_collections.resilience.dr.plugins.module_utils._aws.clients import aws_client  # noqa: E402
from ansible_collections.resilience.dr.plugins.module_utils._module import mask_options, run_module  # noqa: E402
from ansible_collections.resilience.dr.plugins.module_utils._rds.api import Rds  # noqa: E402
from ansible_collections.resilience.dr.plugins.module_utils._rds.snapshot import IAM_HINT, SnapshotRequest, run  # noqa: E402


def argument_spec() -> dict:
    return dict(
        db_snapshot_identifier=dict(type="str", required=True, aliases=["snapshot_id"]),
        db_instance_identifier=dict(type="str"),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        copy_to_region=dict(type="str"),
        target_db_snapshot_identifier=dict(type="str"),
        copy_endpoint_url=dict(type="str"),
        kms_key_id=dict(type="str", no_log=False),
        tags=dict(type="dict"),
        purge_tags=dict(type="bool", default=False),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=1800),
    )


def main() -> None:
    module = AnsibleAWSModule(argument_spec=argument_spec(), supports_check_mode=True)
    mask_options(module, "access_key")  # a secret of the DR plan, like secret_key
    params = module.params

    def work() -> dict:
        request = SnapshotRequest.from_params(params)
        source = Rds(aws_client(module, "rds"), str(module.region), IAM_HINT)
        destination = None
        if request.copy_to_region:
            endpoint = {"endpoint": params["copy_endpoint_url"]} if params["copy_endpoint_url"] else {}
            client = aws_client(module, "rds", region=request.copy_to_region, **endpoint)
            destination = Rds(client, request.copy_to_region, IAM_HINT)
        return run(source, destination, request, check_mode=module.check_mode, diff=module._diff)

    run_module(module, work)


if __name__ == "__main__":
    main()
