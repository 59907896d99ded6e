#!/usr/bin/python
# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: rds_backup_info
short_description: The newest recovery point of an rds component in one region, and how old it is
version_added: 0.1.0
description:
  - Reads, in the region of O(region), the points an rds component of a DR plan can be restored to, as the
    recovery levels use them, and reports the newest with its age in seconds (for the RPO check).
  - The manual snapshots the backup role took of the component or copied into the region, recognised by the tags
    C(resilience-dr-plan=)O(plan) and C(resilience-dr-component=)O(component).
  - With O(db_instance_identifier), when that instance is in the region, also its automated snapshots and its
    latest restorable time when it keeps automated backups (point-in-time recovery).
  - Only available snapshots count; a snapshot's time is when its data was taken (a copy counts from its source).
  - Only reads. See docs/rds.md in the collection for the least-privilege IAM policy.
author: resilience.dr maintainers (@resilience-dr)
options:
  plan:
    description: The name of the DR plan (C(dr_plan.name)), the tag C(resilience-dr-plan) of its snapshots.
    type: str
    required: true
  component:
    description: The rds component, the tag C(resilience-dr-component) of its snapshots.
    type: str
    required: true
  db_instance_identifier:
    description:
      - The DB instance the backup role snapshots (the component's C(restore.source_db_instance_identifier), else
        its C(connection.db_instance_identifier)). Its automated snapshots and latest restorable time count when
        it is in the region; an instance that is not there is not an error.
    type: str
attributes:
  check_mode:
    description: Only reads; runs the same in check mode.
    support: full
  diff_mode:
    description: Nothing changes, so there is no diff.
    support: none
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
seealso:
  - module: resilience.dr.rds_snapshot
  - module: resilience.dr.backup_info
"""

EXAMPLES = r"""
- name: How old is the newest orders-db recovery point in the secondary region
  resilience.dr.rds_backup_info:
    region: us-west-2
    plan: shopfront
    component: orders-db
  register: orders_db_points

- name: Fail when the secondary region holds nothing younger than the 15 minute RPO
  ansible.builtin.assert:
    that: orders_db_points.newest is not none and orders_db_points.newest.age_s <= 900
    fail_msg: "orders-db in us-west-2: {{ orders_db_points.newest | default('no recovery point', true) }}"
"""

RETURN = r"""
region: {description: The region read., returned: always, type: str, sample: us-west-2}
tags:
  description: The tags that make a manual snapshot one of the component's.
  returned: always
  type: dict
  sample: {resilience-dr-plan: shopfront, resilience-dr-component: orders-db}
db_instance_identifier: {description: The instance looked for (lower case); null without O(db_instance_identifier)., returned: always, type: str}
instance_found: {description: Whether O(db_instance_identifier) is in the region., returned: always, type: bool}
snapshots: {description: How many manual snapshots carry the component's tags (in any status)., returned: always, type: int}
available_snapshots: {description: How many of them are available., returned: always, type: int}
newest:
  description:
    - The newest recovery point of all, null when the region has none.
    - C(kind) is C(snapshot) (ours, or our copy), C(automated_snapshot) or C(point_in_time); C(identifier) the
      snapshot or the instance; C(time) when its data was taken; C(age_s) its age in whole seconds.
  returned: always
  type: dict
  sample: {kind: snapshot, identifier: orders-db-20261123t040000z, time: "2026-11-23T04:00:00Z", age_s: 512}
points:
  description: The newest recovery point of each kind (keys C(snapshot), C(automated_snapshot), C(point_in_time)), null where none.
  returned: always
  type: dict
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule  # noqa: E402
from ansible_collections.resilience.dr.plugins.module_utils._aws.clients import aws_client  # noqa: E402
from ansible_collections.resilience.dr.plugins.module_utils._module import mask_options, run_module  # noqa: E402
from ansible_collections.resilience.dr.plugins.module_utils._rds.api import Rds  # noqa: E402
from ansible_collections.resilience.dr.plugins.module_utils._rds.recovery_point import IAM_HINT, recovery_points  # noqa: E402


def argument_spec() -> dict:
    return dict(
        plan=dict(type="str", required=True),
        component=dict(type="str", required=True),
        db_instance_identifier=dict(type="str"),
    )


def main() -> None:
    module = AnsibleAWSModule(argument_spec=argument_spec(), supports_check_mode=True)
    mask_options(module, "access_key")  # a secret of the DR plan, like secret_key
    params = module.params

    def work() -> dict:
        client = aws_client(module, "rds")
        return recovery_points(Rds(client, str(module.region), IAM_HINT), plan=params["plan"],
                               component=params["component"], db_instance_identifier=params["db_instance_identifier"])

    run_module(module, work)


if __name__ == "__main__":
    main()
