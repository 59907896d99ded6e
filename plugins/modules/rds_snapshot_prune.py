#!/usr/bin/python
# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: rds_snapshot_prune
short_description: Delete the manual RDS snapshots of a component that its retention no longer keeps
version_added: 0.1.0
description:
  - Applies a component's retention (O(keep_last), O(keep_daily), O(keep_weekly), O(keep_monthly),
    O(keep_within)) to the manual DB snapshots of one region that the backup role took or copied for it,
    and deletes the others. The rules are those of M(resilience.dr.backup_prune) for repository backups; a
    snapshot kept by any rule stays.
  - A snapshot is a candidate only when it is a manual snapshot carrying both tags C(resilience-dr-plan=)O(plan)
    and C(resilience-dr-component=)O(component), as the backup role tags the snapshots it takes and copies.
    Automated snapshots, snapshots shared with the account and manual snapshots without these tags (a restore
    point taken with M(resilience.dr.rds_snapshot) before a release) are never deleted.
  - A snapshot's time is when its data was taken (a cross-region copy counts from its source), so a snapshot and
    its copies are kept alike in every region.
  - The newest available snapshot always stays, whatever the rules. Snapshots that are not available (being
    made, copied or deleted) are left alone and not counted.
  - At least one rule is required; an empty policy is refused rather than deleting all but the newest snapshot.
  - Run it once per region (the serving site's and each copy's); the backup role does so after the copies.
  - A separate module rather than a state of M(resilience.dr.rds_snapshot), which manages one named snapshot;
    and not part of M(resilience.dr.backup_prune), whose options are those of the backup repository.
  - See docs/rds.md in the collection for the least-privilege IAM policy.
author: resilience.dr maintainers (@resilience-dr)
options:
  plan:
    description: The name of the DR plan (C(dr_plan.name)) whose snapshots are pruned, the tag C(resilience-dr-plan).
    type: str
    required: true
  component:
    description: The rds component whose snapshots are pruned, the tag C(resilience-dr-component).
    type: str
    required: true
  keep_last:
    description: Keep the newest N snapshots.
    type: int
    default: 0
  keep_daily:
    description: Keep the newest snapshot of each of the newest N days that have snapshots (UTC).
    type: int
    default: 0
  keep_weekly:
    description: Keep the newest snapshot of each of the newest N ISO weeks that have snapshots.
    type: int
    default: 0
  keep_monthly:
    description: Keep the newest snapshot of each of the newest N months that have snapshots.
    type: int
    default: 0
  keep_within:
    description:
      - Keep every snapshot taken within this duration, written like C(36h), C(7d) or C(2w3d), or as a number of
        seconds.
    type: str
attributes:
  check_mode:
    description: Lists exactly what would be deleted and why each kept snapshot stays; deletes nothing.
    support: full
  diff_mode:
    description: The component's snapshot identifiers in the region before and after.
    support: full
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
seealso:
  - module: resilience.dr.rds_snapshot
  - module: resilience.dr.backup_prune
"""

EXAMPLES = r"""
- name: Keep a week of nightly orders-db snapshots plus 6 monthly ones in the primary region
  resilience.dr.rds_snapshot_prune:
    region: us-east-1
    plan: shopfront
    component: orders-db
    keep_daily: 7
    keep_monthly: 6

- name: Show which orders-db copies in the secondary region a stricter policy would delete
  resilience.dr.rds_snapshot_prune:
    region: us-west-2
    plan: shopfront
    component: orders-db
    keep_last: 3
  check_mode: true
  diff: true
  register: rds_prune_plan
"""

RETURN = r"""
region: {description: The region pruned., returned: always, type: str, sample: us-east-1}
tags:
  description: The tags that make a manual snapshot a candidate.
  returned: always
  type: dict
  sample: {resilience-dr-plan: shopfront, resilience-dr-component: orders-db}
kept:
  description: The snapshots kept, newest first, each with the rules keeping it.
  returned: always
  type: list
  elements: dict
  sample:
    - db_snapshot_identifier: orders-db-20261123t040000z
      region: us-east-1
      status: available
      snapshot_time: "2026-11-23T04:00:00Z"
      reasons: [newest backup, last 1, daily 2026-11-23]
deleted:
  description: The snapshots deleted (in check mode, those that would be), newest first, each with the reason.
  returned: always
  type: list
  elements: dict
  sample:
    - db_snapshot_identifier: orders-db-20261001t040000z
      region: us-east-1
      status: available
      snapshot_time: "2026-10-01T04:00:00Z"
      reason: kept by no retention rule (keep_last 3)
left_alone:
  description: Candidates that are not available (being made, copied or deleted), with their status as reason.
  returned: always
  type: list
  elements: dict
  sample: [{db_snapshot_identifier: orders-db-20261123t050000z, region: us-west-2, status: copying, reason: status copying}]
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule  # noqa: E402
from ansible_collections.resilience.dr.plugins.module_utils._aws.clients import aws_client  # noqa: E402
from ansible_collections.resilience.dr.plugins.module_utils._module import mask_options, run_module  # noqa: E402
from ansible_collections.resilience.dr.plugins.module_utils._rds.api import Rds  # noqa: E402
from ansible_collections.resilience.dr.plugins.module_utils._rds.retention import IAM_HINT, run  # noqa: E402
from ansible_collections.resilience.dr.plugins.module_utils._repository.retention import RetentionPolicy  # noqa: E402
from ansible_collections.resilience.dr.plugins.module_utils._timing import parse_duration  # noqa: E402


def argument_spec() -> dict:
    return dict(
        plan=dict(type="str", required=True),
        component=dict(type="str", required=True),
        keep_last=dict(type="int", default=0),
        keep_daily=dict(type="int", default=0),
        keep_weekly=dict(type="int", default=0),
        keep_monthly=dict(type="int", default=0),
        keep_within=dict(type="str"),
    )


def main() -> None:
    module = AnsibleAWSModule(argument_spec=argument_spec(), supports_check_mode=True)
    mask_options(module, "access_key")  # a secret of the DR plan, like secret_key
    params = module.params

    def work() -> dict:
        policy = RetentionPolicy(
            keep_last=params["keep_last"],
            keep_daily=params["keep_daily"],
            keep_weekly=params["keep_weekly"],
            keep_monthly=params["keep_monthly"],
            keep_within=parse_duration(params["keep_within"], "keep_within"),
        )
        client = aws_client(module, "rds")
        return run(Rds(client, str(module.region), IAM_HINT), plan=params["plan"], component=params["component"],
                   policy=policy, check_mode=module.check_mode, diff=module._diff)

    run_module(module, work)


if __name__ == "__main__":
    main()
